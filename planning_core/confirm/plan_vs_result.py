"""The plan's predicted lethal zone against the ablation zone seen after the procedure.

Dice, the signed distance between the two surfaces (positive where the actual
zone reaches beyond the prediction) and the isotherm whose predicted volume
matches the actual zone best: per-case residuals for calibrating the probe
models against real outcomes (the record :meth:`PlanVersusResult.residuals`
keeps the probe models and protocol they belong to).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from planning_core.confirm.margin import smoothed_outside
from planning_core.imaging.geometry import Geometry
from planning_core.planning.masks import bounding_box
from planning_core.planning.metrics import signed_surface_distances
from planning_core.planning.plan import Plan

#: Isotherms tried for the best volume match (°C).
CANDIDATE_ISOTHERMS_C = (0.0, -10.0, -20.0, -30.0, -40.0, -50.0)


@dataclass(frozen=True)
class PlanVersusResult:
    """How the predicted lethal zone compares with the actual ablation zone.

    Attributes
    ----------
    lethal_isotherm_c : float
        The plan's lethal isotherm, which defines the predicted zone.
    predicted_volume_ml, actual_volume_ml : float
        The two volumes.
    dice : float
        Overlap (0-1).
    mean_surface_distance_mm : float
        Symmetric mean absolute distance between the two surfaces.
    hausdorff95_mm : float
        95th percentile of those distances.
    mean_signed_residual_mm : float
        Mean signed distance of the predicted surface to the actual one:
        positive when the actual zone reaches beyond the prediction.
    best_matching_isotherm_c : float
        The candidate isotherm whose predicted volume comes closest to the actual zone.
    source : str
        Where the predicted field came from (saved fields or a new simulation).
    """

    lethal_isotherm_c: float
    predicted_volume_ml: float
    actual_volume_ml: float
    dice: float
    mean_surface_distance_mm: float
    hausdorff95_mm: float
    mean_signed_residual_mm: float
    best_matching_isotherm_c: float
    source: str

    def to_json(self) -> dict[str, object]:
        return {
            "lethal_isotherm_c": self.lethal_isotherm_c,
            "predicted_volume_ml": round(self.predicted_volume_ml, 3),
            "actual_volume_ml": round(self.actual_volume_ml, 3),
            "dice": round(self.dice, 3),
            "mean_surface_distance_mm": round(self.mean_surface_distance_mm, 2),
            "hausdorff95_mm": round(self.hausdorff95_mm, 2),
            "mean_signed_residual_mm": round(self.mean_signed_residual_mm, 2),
            "best_matching_isotherm_c": self.best_matching_isotherm_c,
            "source": self.source,
        }

    def residuals(self, plan: Plan) -> dict[str, object]:
        """A calibration record: what was predicted with which probes, and what came out."""
        return {
            "probe_models": [probe.model_id for probe in plan.probes],
            "protocol": plan.protocol,
            "lethal_isotherm_c": self.lethal_isotherm_c,
            "volume_residual_ml": round(self.actual_volume_ml - self.predicted_volume_ml, 3),
            "mean_signed_residual_mm": round(self.mean_signed_residual_mm, 2),
            "dice": round(self.dice, 3),
            "best_matching_isotherm_c": self.best_matching_isotherm_c,
        }


def compare_zones(
    min_temperature_c: NDArray[np.floating],
    actual: NDArray[np.bool_],
    geometry: Geometry,
    *,
    lethal_isotherm_c: float,
    source: str,
) -> PlanVersusResult | None:
    """Compare the predicted lethal zone (field on ``geometry``) with the actual zone.

    Returns ``None`` when the field reaches the lethal isotherm nowhere.
    """
    predicted = min_temperature_c <= lethal_isotherm_c
    box = bounding_box(predicted | actual, 6)
    if box is None or not predicted.any() or not actual.any():
        return None
    voxel_ml = geometry.voxel_volume_mm3 / 1000.0
    predicted_ml = float(np.count_nonzero(predicted)) * voxel_ml
    actual_ml = float(np.count_nonzero(actual)) * voxel_ml
    overlap = 2.0 * np.count_nonzero(predicted & actual)
    dice = overlap / (np.count_nonzero(predicted) + np.count_nonzero(actual))
    local = geometry.cropped(tuple(s.start for s in box), predicted[box].shape)
    # Predicted surface to actual surface (signed: inside the actual zone is positive) and back.
    forward = signed_surface_distances(
        smoothed_outside(actual[box], local), predicted[box], local, 0.5
    )
    backward = signed_surface_distances(
        smoothed_outside(predicted[box], local), actual[box], local, 0.5
    )
    if forward is None or backward is None:
        return None
    distances = np.abs(np.concatenate([forward[1], backward[1]]))
    volumes = {
        iso: float(np.count_nonzero(min_temperature_c <= iso)) * voxel_ml
        for iso in CANDIDATE_ISOTHERMS_C
    }
    best = min(volumes, key=lambda iso: abs(volumes[iso] - actual_ml))
    return PlanVersusResult(
        lethal_isotherm_c=float(lethal_isotherm_c),
        predicted_volume_ml=predicted_ml,
        actual_volume_ml=actual_ml,
        dice=float(dice),
        mean_surface_distance_mm=float(distances.mean()),
        hausdorff95_mm=float(np.percentile(distances, 95.0)),
        mean_signed_residual_mm=float(forward[1].mean()),
        best_matching_isotherm_c=best,
        source=source,
    )
