"""Candidate insertion directions from the feasible entry map, best first.

Directions come from the feasible entry map (:mod:`planning_core.planning.entry_map`)
of the zone centre: a Fibonacci sphere plus the axial (gantry) plane, where
radiologists prefer to work because the CT shows the whole shaft. A feasible
direction is ranked by

    path length + ``ANGLE_COST_MM_PER_DEG`` * |craniocaudal angle|
    + ``WIDTH_COST`` * target half-width across the direction
    - ``ROOM_REWARD_MM`` * share of feasible directions within ``ROOM_DEG``
    + ``ICE_COST`` * depth of protected organ zones inside the shaft's ice

so short, in-plane paths deep inside the feasible region (room for parallel
probes beside the centre path and for placement error) come first, and, as
iceballs are long along the probe, paths along an elongated target's long axis
(fewer probes) beat paths across it. The iceball also grows back along the
shaft: a path that climbs steeply toward a nearby organ (the skin above a
breast lesion) freezes it however the tips are laid out, whereas a path
parallel to it does not; the last term ranks such paths after those that keep
the ice off the organs. Picks are at least ``min_separation_deg`` apart, so
alternatives really differ.

Two rules beyond the entry map's: the freezing segment must lie under the skin
(a path at least ``min_path_mm`` long, so the probe does not freeze the skin
and the air), and on a 3-D ultrasound volume, whose small field of view rarely
holds the skin entry of an in-plane path, a path that leaves the image through
tissue is accepted (its entry is where it leaves the image; the path report
says so and the radiologist picks the skin entry under ultrasound).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from planning_core.planning.approach import Approach
from planning_core.planning.entry_map import LEAVES_IMAGE, EntryMap, feasible_entries
from planning_core.planning.trajectory import TrajectoryContext, directions_from_angles_deg
from planning_core.sphere import fibonacci_directions

ANGLE_COST_MM_PER_DEG = 0.5
ROOM_REWARD_MM = 40.0
#: Cost per mm of the target's half-width across a direction (one more probe ring costs
#: roughly what 50 mm of extra path does).
WIDTH_COST = 8.0
ROOM_DEG = 12.0
#: Cost per mm that a protected organ's guard zone reaches into the ice around the shaft.
ICE_COST = 20.0
SPHERE_DIRECTIONS = 600
AXIAL_STEP_DEG = 5.0


@dataclass(frozen=True)
class CandidateDirection:
    """One insertion direction and what it costs.

    Attributes
    ----------
    insertion_lps : ndarray, shape (3,)
        Unit vector from the entry toward the tip.
    path_length_mm : float
        Skin to zone centre.
    craniocaudal_deg : float
    room : float
        Share (0-1) of feasible directions among those within ``ROOM_DEG``.
    score_mm : float
        The ranking cost (lower is better).
    """

    insertion_lps: NDArray[np.float64]
    path_length_mm: float
    craniocaudal_deg: float
    room: float
    score_mm: float


def direction_set(context: TrajectoryContext) -> NDArray[np.float64]:
    """Outward directions: a Fibonacci sphere plus the axial plane every 5 degrees."""
    in_plane = np.arange(-180.0, 180.0, AXIAL_STEP_DEG)
    axial = -directions_from_angles_deg(0.0, in_plane, context.settings.table_direction_lps())
    return np.vstack((fibonacci_directions(SPHERE_DIRECTIONS), axial))


def usable_paths(
    context: TrajectoryContext,
    entry_map: EntryMap,
    *,
    min_path_mm: float,
    allow_leaving_image: bool,
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64]]:
    """Which paths of an entry map are usable (module docstring), their lengths and entries.

    Returns
    -------
    usable : ndarray of bool, shape (n,)
    length_mm : ndarray, shape (n,)
        Skin (or image edge) to target; NaN where unknown.
    entries_lps_mm : ndarray, shape (n, 3)
    """
    length = entry_map.path_length_mm.copy()
    entries = entry_map.entries_lps_mm.copy()
    usable = entry_map.reasons == 0
    if allow_leaving_image:
        leaving = np.flatnonzero(entry_map.reasons == LEAVES_IMAGE)
        if len(leaving):
            edge = _image_exit_mm(
                context, entry_map.target_lps_mm, entry_map.directions_lps[leaving]
            )
            length[leaving] = edge
            entries[leaving] = (
                entry_map.target_lps_mm + entry_map.directions_lps[leaving] * edge[:, None]
            )
            usable[leaving] = True
    usable &= np.nan_to_num(length, nan=0.0) >= min_path_mm
    return usable, length, entries


def _image_exit_mm(
    context: TrajectoryContext, start: NDArray[np.float64], directions: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Distance from ``start`` along each direction to the last sample inside the image."""
    step = 0.5
    t = np.arange(step, float(np.linalg.norm(context.geometry.extent_mm)) + step, step)
    _, inside = context.flat_indices(start + directions[:, None, :] * t[None, :, None])
    first_out = np.where(inside.all(axis=1), len(t), np.argmin(inside, axis=1))
    return np.where(first_out > 0, t[np.maximum(first_out - 1, 0)], 0.0)


@dataclass(frozen=True, eq=False)
class ShaftIce:
    """The ice a layout grows around its shafts, seen from the target centre.

    A capsule: the segment from the target centre outward along the shaft for
    ``reach_mm``, widened by ``radius_mm``; ``guard_points_lps_mm`` must stay
    outside it (the points near protected organs, :class:`.problem.OarGuard`).
    """

    reach_mm: float
    radius_mm: float
    guard_points_lps_mm: NDArray[np.float64]

    def intrusion_mm(
        self, target_lps_mm: NDArray[np.float64], outward_lps: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Per outward direction, how deep the guard points reach into the capsule (>= 0)."""
        points = self.guard_points_lps_mm
        if len(points) == 0:
            return np.zeros(len(outward_lps))
        offsets = points - np.asarray(target_lps_mm)
        projection = offsets @ outward_lps.T
        along = np.clip(projection, 0.0, self.reach_mm)
        squared = np.sum(offsets**2, axis=1)[:, None] - 2.0 * along * projection + along**2
        distance = np.sqrt(np.maximum(squared, 0.0)).min(axis=0)
        return np.maximum(self.radius_mm - distance, 0.0)


def candidate_directions(
    context: TrajectoryContext,
    target_lps_mm: NDArray[np.float64],
    *,
    count: int = 3,
    min_separation_deg: float = 20.0,
    min_path_mm: float = 0.0,
    allow_leaving_image: bool = False,
    target_points_lps_mm: NDArray[np.float64] | None = None,
    shaft_ice: ShaftIce | None = None,
    approach: Approach | None = None,
) -> tuple[tuple[CandidateDirection, ...], EntryMap]:
    """The ``count`` best usable insertion directions to ``target_lps_mm`` and the map.

    ``target_points_lps_mm`` (points of tumor + margin) lets the ranking prefer
    directions along the target's long axis; ``shaft_ice`` ranks paths whose
    ice would reach protected organs after the others; ``approach`` adds the
    case's approach rules (table side, gantry bore, the position's angle limits)
    to the entry map's.

    An empty tuple means no straight path is usable; the map tells why
    (:meth:`EntryMap.reasons_for`).
    """
    entry_map = feasible_entries(
        context, target_lps_mm, directions_lps=direction_set(context), approach=approach
    )
    feasible, length, _ = usable_paths(
        context, entry_map, min_path_mm=min_path_mm, allow_leaving_image=allow_leaving_image
    )
    directions = entry_map.directions_lps
    cosine = np.cos(np.radians(ROOM_DEG))
    near = directions @ directions.T >= cosine
    room = (near & feasible[None, :]).sum(axis=1) / near.sum(axis=1)
    width = np.zeros(len(directions))
    if target_points_lps_mm is not None and len(target_points_lps_mm):
        offsets = target_points_lps_mm - np.asarray(target_lps_mm)
        along = offsets @ directions.T
        squared = np.sum(offsets**2, axis=1)[:, None] - along**2
        width = np.sqrt(np.maximum(squared, 0.0)).max(axis=0)
    intrusion = (
        np.zeros(len(directions))
        if shaft_ice is None
        else shaft_ice.intrusion_mm(np.asarray(target_lps_mm), directions)
    )
    score = (
        WIDTH_COST * width
        + np.nan_to_num(length, nan=1e9)
        + ANGLE_COST_MM_PER_DEG * np.abs(entry_map.craniocaudal_deg)
        - ROOM_REWARD_MM * room
        + ICE_COST * intrusion
    )
    chosen: list[CandidateDirection] = []
    separation = np.cos(np.radians(min_separation_deg))
    for index in np.argsort(score):
        if not feasible[index] or len(chosen) >= count:
            continue
        outward = directions[index]
        if any(float(-c.insertion_lps @ outward) > separation for c in chosen):
            continue
        chosen.append(
            CandidateDirection(
                insertion_lps=-outward,
                path_length_mm=float(length[index]),
                craniocaudal_deg=float(entry_map.craniocaudal_deg[index]),
                room=float(room[index]),
                score_mm=float(score[index]),
            )
        )
    return tuple(chosen), entry_map


def blocking_summary(entry_map: EntryMap) -> str:
    """The most common reasons why directions were rejected, for error messages."""
    counts: dict[str, int] = {}
    for index in range(len(entry_map.reasons)):
        for reason in entry_map.reasons_for(index):
            counts[reason] = counts.get(reason, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: -item[1])[:3]
    total = len(entry_map.reasons)
    return "; ".join(f"{reason} ({100.0 * n / total:.0f} % of directions)" for reason, n in ranked)
