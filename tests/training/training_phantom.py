"""Synthetic inputs of the training tests: a small case (tumor, bowel to its left), metrics."""

from __future__ import annotations

import numpy as np

from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap, standard_label
from planning_core.imaging.volume import Volume
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.results import (
    AblativeMargin,
    IsothermCoverage,
    OarMetrics,
    PathReport,
    PlanMetrics,
)
from planning_core.planning.settings import PlanSettings

TUMOR_RADIUS_MM = 6.0
BOWEL_CENTER_LPS_MM = (22.0, 0.0, 0.0)
BOWEL_RADIUS_MM = 7.0
BODY_RADIUS_MM = 45.0
PROBE_MODEL = "argon-2.4"
#: Shaft direction from the tip to the entry: straight anterior (-y), away from the table.
ENTRY_DIRECTION_LPS = np.array([0.0, -1.0, 0.0])


def grid_lps(geometry: Geometry) -> np.ndarray:
    nk, nj, ni = geometry.shape
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    return geometry.index_to_lps(np.stack([i, j, k], axis=-1).astype(np.float64))


def phantom_case() -> tuple[Volume, LabelMap]:
    """CT-like volume and labels on a 1 mm grid whose voxel centres are whole mm.

    Body: cylinder along z of radius 45 mm (muscle, 40 HU), air outside.
    Tumor: sphere of radius 6 mm at the origin. Bowel (organ at risk): sphere of
    radius 7 mm at x = +22 mm (the patient's left), 9 mm from the tumor surface.
    """
    geometry = Geometry((41, 101, 101), (1.0, 1.0, 1.0), (-50.0, -50.0, -20.0))
    lps = grid_lps(geometry)
    radial = np.hypot(lps[..., 0], lps[..., 1])
    body = radial <= BODY_RADIUS_MM
    labels = LabelMap.empty(geometry).with_mask("muscle", body, role=standard_label("muscle").role)
    bowel = np.linalg.norm(lps - BOWEL_CENTER_LPS_MM, axis=-1) <= BOWEL_RADIUS_MM
    labels = labels.with_mask("bowel", bowel, role=standard_label("bowel").role)
    tumor = np.linalg.norm(lps, axis=-1) <= TUMOR_RADIUS_MM
    labels = labels.with_mask("tumor", tumor, role="target")
    hu = np.where(body, 40.0, -1000.0).astype(np.int16)
    hu[tumor] = 60
    volume = Volume(hu, geometry, "CT", {"series_description": "training phantom"})
    return volume, labels


def one_probe_plan(
    tip_lps_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    *,
    protocol: str = "F10-T8-F10",
    entry_direction=ENTRY_DIRECTION_LPS,
    label: str = "P1",
) -> Plan:
    """One probe whose freezing segment is centred near ``tip_lps_mm``'s depth.

    The tip lies 15 mm beyond the point so that the 30 mm active segment
    (starting 5 mm behind the tip) spans it.
    """
    direction = np.asarray(entry_direction, dtype=float)
    direction /= np.linalg.norm(direction)
    tip = np.asarray(tip_lps_mm, dtype=float) - direction * 15.0
    probe = PlannedProbe(PROBE_MODEL, tuple(tip), tuple(tip + direction * 60.0), label)
    return Plan(probes=(probe,), protocol=protocol, settings=PlanSettings(margin_mm=3.0))


def synthetic_metrics(
    *,
    tumor: float = 100.0,
    zone: float = 95.0,
    margin_mm: float | None = 5.0,
    oars: tuple[OarMetrics, ...] = (),
    probes: int = 2,
    freeze_s: float = 1200.0,
    problems: tuple[tuple[str, ...], ...] = (),
) -> PlanMetrics:
    """Plan metrics of a hypothetical plan (lethal isotherm -40 °C, margin 5 mm)."""
    paths = tuple(PathReport(None, 100.0, 0.0, 0.0, 60.0, 175.0, problems=p) for p in problems)
    return PlanMetrics(
        computed_with="test",
        inputs_sha256="0" * 64,
        lethal_isotherm_c=-40.0,
        margin_mm=5.0,
        tumor_volume_ml=10.0,
        ice_volume_ml=50.0,
        lethal_volume_ml=20.0,
        coverage=(IsothermCoverage(-40.0, tumor, zone),),
        margin=AblativeMargin(margin_mm, margin_mm, None if margin_mm is None else (0, 0, 0)),
        oars=oars,
        probe_count=probes,
        total_freeze_s=freeze_s,
        min_tip_spacing_mm=None,
        paths=paths,
    )
