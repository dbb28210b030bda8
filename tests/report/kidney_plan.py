"""A small kidney sample plan with saved image, labels and fields (tests and the benchmark).

Three argon probes enter from the back (patient prone) around the tumor of the
``kidney`` sample case; the plan is evaluated on a coarse grid for speed and
saved with its label map and simulation fields beside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from cryoplan_samples import ensure_sample_case

from planning_core.imaging.loader import load_image
from planning_core.planning.case_files import write_plan_case_files
from planning_core.planning.case_reference import CaseReference
from planning_core.planning.evaluate import PlanEvaluation, evaluate_plan
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.plan_json import save_plan
from planning_core.planning.settings import PlanSettings

#: Tip offsets from the tumor centre (LPS mm): a triangle below the tumor's anterior edge.
TIP_OFFSETS_MM = ((-7.0, -16.0, -5.0), (7.0, -16.0, -5.0), (0.0, -16.0, 7.0))


def kidney_plan_file(
    folder: Path, *, spacing_mm: float = 2.0, name: str = "kidney"
) -> tuple[Path, PlanEvaluation]:
    """Evaluate the kidney sample plan and save it (with labels and fields) in ``folder``."""
    case = ensure_sample_case("kidney")
    volume = load_image(case.image_path)
    label_map = case.load_labels(volume.geometry)
    centre = np.asarray(case.manifest["tumor"]["center_lps_mm"])
    probes = tuple(
        PlannedProbe(
            "argon-2.4",
            tuple(centre + offset),
            tuple(centre + offset + (0.0, 140.0, 0.0)),
            f"P{n + 1}",
        )
        for n, offset in enumerate(TIP_OFFSETS_MM)
    )
    plan = Plan(
        probes=probes,
        protocol="F10-T8-F10",
        settings=PlanSettings(patient_position="HFP"),
        case=CaseReference.for_volume(volume, description="kidney sample case"),
        name="Right renal tumor, posterior approach",
    )
    evaluation = evaluate_plan(plan, volume, label_map, spacing_mm=spacing_mm)
    plan_path = folder / f"{name}.cryoplan.json"
    saved = write_plan_case_files(
        evaluation.plan,
        plan_path=plan_path,
        label_map=label_map,
        simulation=evaluation.simulation,
        image_path=case.image_path,
    )
    save_plan(saved, plan_path)
    return plan_path, evaluation
