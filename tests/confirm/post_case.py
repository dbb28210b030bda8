"""A small synthetic post-ablation case: planning CT, plan, and a moved post-ablation CT.

The planning CT is a body (muscle) with a spine, an enhancing kidney and a 7 mm
tumor in it; the post-ablation CT shows the same anatomy moved rigidly (known
matrix) with a non-enhancing ellipsoidal zone around the tumor, placed so that
the true minimal margin is known in the planning frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

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

GEOMETRY = Geometry((36, 80, 80), (1.5, 1.5, 2.0), (-59.25, -59.25, -35.0))
IDENTITY = DicomIdentity(
    patient_name="TEST^POST",
    patient_id="P-1",
    patient_birth_date="19500101",
    patient_sex="O",
    study_description="CT ABDOMEN",
    study_date="20260101",
    study_time="120000",
    accession_number="A-1",
    referring_physician_name="",
    institution_name="",
    study_id="S-1",
)
TUMOR_CENTRE = np.array([-10.0, 5.0, 0.0])
TUMOR_RADIUS_MM = 7.0
#: The zone (semi-axes in mm, shift of its centre from the tumor's) in the planning frame:
#: the thinnest margin, 12 - 3 - 7 = 2 mm, lies on the tumor's right side (-L).
ZONE_SEMI_AXES_MM = np.array([12.0, 13.0, 14.0])
ZONE_SHIFT_MM = np.array([3.0, 0.0, 0.0])


@dataclass(frozen=True)
class PostCase:
    plan_path: Path
    post_dir: Path
    matrix: np.ndarray  # planning -> post LPS
    true_zone: np.ndarray  # on the planning grid
    tumor: np.ndarray


def _anatomy(
    lps: np.ndarray,
    zone: bool,
    *,
    tumor_hu: float = 80.0,
    zone_shift_mm: np.ndarray = ZONE_SHIFT_MM,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    x, y, z = lps[..., 0], lps[..., 1], lps[..., 2]
    body = (x / 52.0) ** 2 + (y / 40.0) ** 2 <= 1.0
    spine = np.hypot(x, y - 28.0) <= 8.0
    kidney = ((x + 10.0) / 26.0) ** 2 + ((y - 5.0) / 18.0) ** 2 + (z / 28.0) ** 2 <= 1.0
    tumor = np.linalg.norm(lps - TUMOR_CENTRE, axis=-1) <= TUMOR_RADIUS_MM
    hu = np.where(body, 50.0, -1000.0)
    hu[(np.hypot(x - 25.0, y + 10.0) <= 6.0) & body] = -100.0  # a fat stripe for contrast
    hu[spine] = 700.0
    hu[kidney] = 160.0
    hu[tumor] = tumor_hu
    masks = {"body": body, "kidney": kidney & ~tumor, "tumor": tumor, "bone": spine}
    if zone:
        offset = (lps - TUMOR_CENTRE - zone_shift_mm) / ZONE_SEMI_AXES_MM
        hu[(np.sum(offset**2, axis=-1) <= 1.0) & kidney] = 40.0
    return hu, masks


def grid_lps(geometry: Geometry) -> np.ndarray:
    k, j, i = np.meshgrid(*(np.arange(n) for n in geometry.shape), indexing="ij")
    return geometry.index_to_lps(np.stack([i, j, k], axis=-1).astype(np.float64))


def build_post_case(
    folder: Path,
    *,
    seed: int = 5,
    tumor_hu: float = 80.0,
    zone_shift_mm: np.ndarray = ZONE_SHIFT_MM,
) -> PostCase:
    """The case; ``tumor_hu`` 40 makes a tumor that reads like the zone (cystic), a zone
    shifted by over 5 mm leaves part of the tumor outside it (incomplete)."""
    rng = np.random.default_rng(seed)
    lps = grid_lps(GEOMETRY)
    hu, masks = _anatomy(lps, zone=False, tumor_hu=tumor_hu, zone_shift_mm=zone_shift_mm)
    hu = hu + rng.normal(0.0, 8.0, hu.shape)
    write_ct_series(
        Volume(hu.astype(np.float32), GEOMETRY, "CT"),
        folder / "planning",
        identity=IDENTITY,
        series_description="PLANNING CT",
        uid_seed="post-case-planning",
    )
    volume = load_image(folder / "planning")
    labels = LabelMap.empty(GEOMETRY)
    for name in ("body", "bone", "kidney"):
        labels = labels.with_mask(name, masks[name], role=standard_label(name).role)
    labels = labels.with_mask("tumor", masks["tumor"], role="target")
    tip = TUMOR_CENTRE + np.array([0.0, 0.0, -8.0])
    entry = tip + np.array([0.0, 0.0, 120.0])
    probe = PlannedProbe("argon-2.4", tuple(tip), tuple(entry), "P1")
    plan = Plan(
        probes=(probe,),
        settings=PlanSettings(organ_site="kidney"),
        case=CaseReference.for_volume(volume),
        name="post-ablation test plan",
    )
    evaluation = evaluate_plan(plan, volume, labels, spacing_mm=2.0)
    plan_path = folder / "plan.cryoplan.json"
    saved = write_plan_case_files(
        evaluation.plan,
        plan_path=plan_path,
        label_map=labels,
        simulation=evaluation.simulation,
        image_path=folder / "planning",
    )
    save_plan(saved, plan_path)
    # The patient moved: post = R @ planning + t (2 degrees about S, 4 mm).
    matrix = np.eye(4)
    matrix[:3, :3] = Rotation.from_euler("z", 2.0, degrees=True).as_matrix()
    matrix[:3, 3] = (4.0, -3.0, 2.0)
    post_lps = grid_lps(GEOMETRY)
    planning_lps = (post_lps - matrix[:3, 3]) @ np.linalg.inv(matrix[:3, :3]).T
    post_hu, _ = _anatomy(planning_lps, zone=True, tumor_hu=tumor_hu, zone_shift_mm=zone_shift_mm)
    post_hu = post_hu + rng.normal(0.0, 8.0, post_hu.shape)
    write_ct_series(
        Volume(post_hu.astype(np.float32), GEOMETRY, "CT"),
        folder / "post",
        identity=IDENTITY,
        series_description="POST ABLATION CT",
        series_number=2,
        uid_seed="post-case-post",
    )
    offset = (lps - TUMOR_CENTRE - zone_shift_mm) / ZONE_SEMI_AXES_MM
    true_zone = (np.sum(offset**2, axis=-1) <= 1.0) & (masks["kidney"] | masks["tumor"])
    return PostCase(plan_path, folder / "post", matrix, true_zone, masks["tumor"])
