"""A fixed two-probe plan on a retrieved planning CT, evaluated on a coarse grid for speed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from planning_core.imaging.loader import load_image
from planning_core.imaging.volume_io import read_label_map
from planning_core.planning.case_files import write_plan_case_files
from planning_core.planning.case_reference import CaseReference
from planning_core.planning.evaluate import evaluate_plan
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.plan_json import save_plan
from planning_core.planning.settings import PlanSettings

#: Tip offsets from the tumor centre (LPS mm); the probes enter from the patient's right.
TIP_OFFSETS_MM = ((0.0, -6.0, 0.0), (0.0, 6.0, 0.0))


def plan_on_folder(
    dicom_dir: Path,
    labels_path: Path,
    tumor_center_lps_mm: tuple[float, float, float],
    out_folder: Path,
    *,
    spacing_mm: float = 3.0,
) -> Path:
    """Evaluate the fixed plan on the CT in ``dicom_dir`` and save it; the plan file's path."""
    volume = load_image(dicom_dir)
    label_map = read_label_map(labels_path, reference=volume.geometry)
    centre = np.asarray(tumor_center_lps_mm)
    probes = tuple(
        PlannedProbe(
            "argon-2.4",
            tuple(centre + offset),
            tuple(centre + offset + (-120.0, 0.0, 0.0)),
            f"P{n + 1}",
        )
        for n, offset in enumerate(TIP_OFFSETS_MM)
    )
    plan = Plan(
        probes=probes,
        protocol="F10-T8-F10",
        settings=PlanSettings(),
        case=CaseReference.for_volume(volume, description="liver case retrieved from a PACS"),
        name="Liver tumor, retrieved from a PACS",
    )
    evaluation = evaluate_plan(plan, volume, label_map, spacing_mm=spacing_mm)
    plan_path = out_folder / "liver.cryoplan.json"
    saved = write_plan_case_files(
        evaluation.plan,
        plan_path=plan_path,
        label_map=label_map,
        simulation=evaluation.simulation,
        image_path=dicom_dir,
    )
    save_plan(saved, plan_path)
    return plan_path
