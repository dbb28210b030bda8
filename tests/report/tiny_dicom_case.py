"""A tiny CT series with a one-probe plan for DICOM export tests (seconds, not minutes).

The CT is 12 slices of 40 x 40 voxels at 2 mm: a water cylinder with a 6 mm
tumor at the origin and bowel 20 mm to the patient's left. Its identifiers are
written by :func:`write_ct_series`; tests then remove attributes from, or add
identifying attributes to, every file before the plan is made on the series.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from planning_core.imaging.dicom_write import DicomIdentity, write_ct_series
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap, standard_label
from planning_core.imaging.loader import load_image
from planning_core.imaging.volume import Volume
from planning_core.planning.case_files import write_plan_case_files
from planning_core.planning.case_reference import CaseReference
from planning_core.planning.evaluate import evaluate_plan
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.plan_json import save_plan
from planning_core.planning.settings import PlanSettings

IDENTITY = DicomIdentity(
    patient_name="DOE^JANE",
    patient_id="MRN-123456",
    patient_birth_date="19600203",
    patient_sex="F",
    study_description="CT ABDOMEN JANE DOE",
    study_date="20140817",
    study_time="101500",
    accession_number="ACC987654",
    referring_physician_name="WHO^DOCTOR",
    institution_name="General Hospital Springfield",
    study_id="STUDY-4711",
)
SERIES_DESCRIPTION = "ARTERIAL PHASE DOE"


def tiny_ct() -> tuple[Volume, LabelMap]:
    """The tiny CT volume and its labels (tumor, bowel, muscle)."""
    geometry = Geometry((12, 40, 40), (2.0, 2.0, 2.0), (-40.0, -40.0, -12.0))
    k, j, i = np.meshgrid(*(np.arange(n) for n in geometry.shape), indexing="ij")
    lps = geometry.index_to_lps(np.stack([i, j, k], axis=-1).astype(np.float64))
    body = np.hypot(lps[..., 0], lps[..., 1]) <= 36.0
    tumor = np.linalg.norm(lps, axis=-1) <= 6.0
    bowel = np.linalg.norm(lps - (20.0, 0.0, 0.0), axis=-1) <= 6.0
    hu = np.where(body, 40.0, -1000.0)
    hu[tumor] = 60.0
    labels = (
        LabelMap.empty(geometry)
        .with_mask("muscle", body, role="anatomy")
        .with_mask("bowel", bowel, role=standard_label("bowel").role)
        .with_mask("tumor", tumor, role="target")
    )
    return Volume(hu, geometry, "CT"), labels


def write_tiny_series(folder: Path, change: Callable[[Dataset], None] | None = None) -> Path:
    """Write the tiny CT into ``folder/ct``, applying ``change`` to every file's header."""
    volume, _ = tiny_ct()
    files = write_ct_series(
        volume,
        folder / "ct",
        identity=IDENTITY,
        series_description=SERIES_DESCRIPTION,
        uid_seed=f"tiny-{folder.name}",
    )
    if change is not None:
        for path in files:
            dataset = pydicom.dcmread(path)
            change(dataset)
            dataset.save_as(path, enforce_file_format=True)
    return folder / "ct"


def tiny_plan_file(folder: Path, change: Callable[[Dataset], None] | None = None) -> Path:
    """The tiny series (changed by ``change``) and an evaluated one-probe plan saved on it."""
    series = write_tiny_series(folder, change)
    volume = load_image(series)
    _, labels = tiny_ct()
    probe = PlannedProbe("argon-2.4", (0.0, -15.0, 0.0), (0.0, 60.0, 0.0), "P1")
    plan = Plan(
        probes=(probe,),
        protocol="F10-T8-F10",
        settings=PlanSettings(margin_mm=3.0),
        case=CaseReference.for_volume(volume),
        name="tiny plan",
    )
    evaluation = evaluate_plan(plan, volume, labels, spacing_mm=2.0)
    plan_path = folder / "tiny.cryoplan.json"
    saved = write_plan_case_files(
        evaluation.plan,
        plan_path=plan_path,
        label_map=labels,
        simulation=evaluation.simulation,
        image_path=series,
    )
    save_plan(saved, plan_path)
    return plan_path
