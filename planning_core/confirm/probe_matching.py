"""Detected probes against the plan's: which placed probe is which, and how far off it is.

Detected shafts are first mapped into the planning CT's frame (through the
registration), then paired with the plan's probes by the assignment that
minimises the summed cost ``tip distance + ANGLE_COST_MM_PER_DEG * angle``
(Hungarian method); a pair costing more than :data:`MAX_MATCH_COST_MM` is no
match (a probe placed elsewhere, or one of another procedure).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from planning_core.planning.plan import Plan, PlannedProbe

#: Weight of the angle between shafts in the matching cost (mm per degree).
ANGLE_COST_MM_PER_DEG = 0.5
#: A detected probe farther than this from every planned one (in cost) matches none.
MAX_MATCH_COST_MM = 40.0


@dataclass(frozen=True)
class PlacedProbeReport:
    """One detected probe in the planning CT's frame and its error against the plan.

    Attributes
    ----------
    tip_lps_mm, entry_lps_mm : tuple of float
        Detected tip and entry mapped into the planning frame (LPS mm).
    entry_on_skin : bool
        True when the entry is the skin crossing seen on the image (else the
        shaft's outer end inside the image).
    matched_plan_probe : int or None
        Index of the plan's probe it is (0-based), ``None`` when it matches none.
    plan_label : str
        That probe's label (empty when unmatched).
    tip_error_mm : float or None
        Distance between detected and planned tips.
    angle_error_deg : float or None
        Angle between detected and planned shafts.
    depth_error_mm : float or None
        Signed distance of the detected tip along the planned direction: positive
        when the probe went deeper than planned.
    lateral_error_mm : float or None
        Distance of the detected tip from the planned shaft's line.
    """

    tip_lps_mm: tuple[float, float, float]
    entry_lps_mm: tuple[float, float, float]
    entry_on_skin: bool
    matched_plan_probe: int | None
    plan_label: str
    tip_error_mm: float | None
    angle_error_deg: float | None
    depth_error_mm: float | None
    lateral_error_mm: float | None

    @property
    def direction_lps(self) -> NDArray[np.float64]:
        """Unit vector from the entry toward the tip."""
        vector = np.subtract(self.tip_lps_mm, self.entry_lps_mm)
        return vector / np.linalg.norm(vector)

    def to_json(self) -> dict[str, object]:
        return {
            "tip_lps_mm": list(self.tip_lps_mm),
            "entry_lps_mm": list(self.entry_lps_mm),
            "entry_on_skin": self.entry_on_skin,
            "matched_plan_probe": self.plan_label or None,
            "matched_plan_probe_index": self.matched_plan_probe,
            "tip_error_mm": self.tip_error_mm,
            "angle_error_deg": self.angle_error_deg,
            "depth_error_mm": self.depth_error_mm,
            "lateral_error_mm": self.lateral_error_mm,
        }


def angle_between_deg(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Angle between two directions (degrees, 0-180)."""
    cosine = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    return math.degrees(math.acos(min(1.0, max(-1.0, cosine))))


def probe_errors(
    planned: PlannedProbe, tip_lps_mm: NDArray[np.float64], direction_lps: NDArray[np.float64]
) -> tuple[float, float, float, float]:
    """Tip, angle, depth and lateral error of a placed probe against a planned one."""
    offset = np.asarray(tip_lps_mm) - np.asarray(planned.tip_lps_mm)
    depth = float(offset @ planned.direction_lps)
    lateral = float(np.linalg.norm(offset - depth * planned.direction_lps))
    return (
        float(np.linalg.norm(offset)),
        angle_between_deg(direction_lps, planned.direction_lps),
        depth,
        lateral,
    )


def match_placed_probes(
    plan: Plan,
    tips_lps_mm: Sequence[NDArray[np.float64]],
    entries_lps_mm: Sequence[NDArray[np.float64]],
    entries_on_skin: Sequence[bool],
) -> tuple[PlacedProbeReport, ...]:
    """Pair detected probes (planning frame) with the plan's probes and measure their errors.

    Parameters
    ----------
    plan : Plan
        The plan whose probes were placed.
    tips_lps_mm, entries_lps_mm : sequences of ndarray (3,)
        Detected tips and entries in the planning frame, one per detected probe.
    entries_on_skin : sequence of bool
        Whether each entry is a skin crossing.

    Returns
    -------
    tuple of PlacedProbeReport
        One per detected probe, in the order given.
    """
    tips = [np.asarray(t, dtype=float) for t in tips_lps_mm]
    directions = [
        (t - np.asarray(e)) / np.linalg.norm(t - np.asarray(e))
        for t, e in zip(tips, entries_lps_mm, strict=True)
    ]
    cost = np.full((len(tips), len(plan.probes)), np.inf)
    for d, (tip, direction) in enumerate(zip(tips, directions, strict=True)):
        for p, planned in enumerate(plan.probes):
            tip_mm, angle_deg, _, _ = probe_errors(planned, tip, direction)
            cost[d, p] = tip_mm + ANGLE_COST_MM_PER_DEG * angle_deg
    pairs: dict[int, int] = {}
    if cost.size:
        rows, columns = linear_sum_assignment(np.minimum(cost, 1e9))
        pairs = {
            int(r): int(c)
            for r, c in zip(rows, columns, strict=True)
            if cost[r, c] <= MAX_MATCH_COST_MM
        }
    reports = []
    for d, (tip, entry) in enumerate(zip(tips, entries_lps_mm, strict=True)):
        index = pairs.get(d)
        errors: tuple[float | None, ...] = (None, None, None, None)
        label = ""
        if index is not None:
            errors = probe_errors(plan.probes[index], tip, directions[d])
            label = plan.probes[index].label or f"probe {index + 1}"
        reports.append(
            PlacedProbeReport(
                tip_lps_mm=(float(tip[0]), float(tip[1]), float(tip[2])),
                entry_lps_mm=tuple(float(v) for v in entry),  # type: ignore[arg-type]
                entry_on_skin=bool(entries_on_skin[d]),
                matched_plan_probe=index,
                plan_label=label,
                tip_error_mm=errors[0],
                angle_error_deg=errors[1],
                depth_error_mm=errors[2],
                lateral_error_mm=errors[3],
            )
        )
    return tuple(reports)
