"""Where a planned probe's parts lie, and how they appear on a view plane (numpy only).

A probe runs from its tip to its entry point; its freezing (active) segment
starts ``tip_offset_mm`` behind the tip and is ``active_length_mm`` long
(:class:`~planning_core.thermal.probes.ProbeModel`). The 2-D views draw the
probe projected onto the shown plane and mark where the shaft crosses it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from planning_core.planning.plan import PlannedProbe
from planning_core.thermal.probes import ProbeModel


@dataclass(frozen=True, eq=False)
class ProbeParts:
    """LPS points of one probe: tip, entry and the ends of its freezing segment."""

    label: str
    tip: NDArray[np.float64]
    entry: NDArray[np.float64]
    active_start: NDArray[np.float64]
    active_end: NDArray[np.float64]
    diameter_mm: float

    @property
    def direction(self) -> NDArray[np.float64]:
        """Unit vector from the entry to the tip (the insertion direction)."""
        vector = self.tip - self.entry
        return vector / np.linalg.norm(vector)


def probe_parts(probe: PlannedProbe, model: ProbeModel) -> ProbeParts:
    """The parts of ``probe`` given its model's freezing segment."""
    tip = np.asarray(probe.tip_lps_mm, dtype=np.float64)
    entry = np.asarray(probe.entry_lps_mm, dtype=np.float64)
    back = (entry - tip) / np.linalg.norm(entry - tip)
    start = tip + back * model.tip_offset_mm
    return ProbeParts(
        probe.label,
        tip,
        entry,
        start,
        start + back * model.active_length_mm,
        model.diameter_mm,
    )


def project_onto_plane(
    points_lps: ArrayLike, *, origin_lps: ArrayLike, normal_lps: ArrayLike
) -> NDArray[np.float64]:
    """Points moved along the (unit) plane normal onto the plane through ``origin_lps``."""
    points = np.asarray(points_lps, dtype=np.float64)
    normal = np.asarray(normal_lps, dtype=np.float64)
    depth = (points - np.asarray(origin_lps, dtype=np.float64)) @ normal
    return points - np.multiply.outer(depth, normal)


def plane_crossing(
    start_lps: ArrayLike,
    stop_lps: ArrayLike,
    *,
    origin_lps: ArrayLike,
    normal_lps: ArrayLike,
) -> NDArray[np.float64] | None:
    """Where the segment from ``start_lps`` to ``stop_lps`` crosses the plane; ``None`` if not."""
    start = np.asarray(start_lps, dtype=np.float64)
    stop = np.asarray(stop_lps, dtype=np.float64)
    normal = np.asarray(normal_lps, dtype=np.float64)
    origin = np.asarray(origin_lps, dtype=np.float64)
    a = float((start - origin) @ normal)
    b = float((stop - origin) @ normal)
    if a == b:
        return None  # parallel to the plane (in it or beside it)
    fraction = a / (a - b)
    if not 0.0 <= fraction <= 1.0:
        return None
    return start + fraction * (stop - start)


def perpendicular_basis(axis: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two unit vectors orthogonal to ``axis`` and to each other.

    The first lies as close to the patient's superior direction as the axis
    allows (or anterior for a craniocaudal axis), so that views resliced
    along a probe keep the head up where possible.
    """
    unit = np.asarray(axis, dtype=np.float64)
    unit = unit / np.linalg.norm(unit)
    for wanted in ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0)):
        candidate = np.asarray(wanted) - (np.asarray(wanted) @ unit) * unit
        if np.linalg.norm(candidate) > 0.2:
            first = candidate / np.linalg.norm(candidate)
            break
    second = np.cross(unit, first)
    return first, second / np.linalg.norm(second)
