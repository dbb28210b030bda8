"""Feasible entry map: from which skin points a target point can be reached safely."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from planning_core.errors import InvalidParameterError
from planning_core.planning import approach as approach_rules
from planning_core.planning.approach import Approach
from planning_core.planning.trajectory import DEFAULT_STEP_MM, TrajectoryContext, probe_angles_deg
from planning_core.sphere import fibonacci_directions

#: Reason flags of rejected directions, in the order of :data:`REJECTION_REASONS`.
TABLE_SIDE = 1
CRANIOCAUDAL_ANGLE = 2
BLOCKED = 4
TOO_LONG = 8
LEAVES_IMAGE = 16
ENTRY_DOWN_SIDE = 32
GANTRY = 64
REJECTION_REASONS: dict[int, str] = {
    TABLE_SIDE: "entry on the table side",
    CRANIOCAUDAL_ANGLE: "craniocaudal angle beyond the limit",
    BLOCKED: "crosses a structure's clearance zone",
    TOO_LONG: "longer than the usable shaft length",
    LEAVES_IMAGE: "leaves the image before reaching the skin",
    ENTRY_DOWN_SIDE: approach_rules.REFUSAL_REASONS[approach_rules.DOWN_SIDE],
    GANTRY: approach_rules.REFUSAL_REASONS[approach_rules.GANTRY],
}
#: Where the approach rules' refusals (:meth:`Approach.refusals`) go in the map's flags.
_APPROACH_FLAGS = (
    (approach_rules.DOWN_SIDE, ENTRY_DOWN_SIDE),
    (approach_rules.GANTRY, GANTRY),
    (approach_rules.CRANIOCAUDAL, CRANIOCAUDAL_ANGLE),
)


@dataclass(frozen=True, eq=False)
class EntryMap:
    """Candidate straight paths to one target, outward directions first.

    Attributes
    ----------
    target_lps_mm : ndarray, shape (3,)
    directions_lps : ndarray, shape (n, 3)
        Unit vectors from the target toward the entry.
    entries_lps_mm : ndarray, shape (n, 3)
        Skin entry points; NaN where the ray leaves the image first or no skin
        is found within the search length.
    path_length_mm : ndarray, shape (n,)
        Distance from the skin entry to the target (NaN like ``entries_lps_mm``).
    craniocaudal_deg, in_plane_deg, elevation_deg : ndarray, shape (n,)
        Probe angles (:func:`probe_angles_deg`) of each path.
    reasons : ndarray of uint8, shape (n,)
        Bitwise OR of the rejection flags; 0 for a feasible path.
    blocking_structure : tuple of str
        Per direction, the first structure whose clearance zone it crosses walking
        out from the target, or ``""``.
    exempt : tuple of str
        Structures the target lies in or near, which paths may cross.
    """

    target_lps_mm: NDArray[np.float64]
    directions_lps: NDArray[np.float64]
    entries_lps_mm: NDArray[np.float64]
    path_length_mm: NDArray[np.float64]
    craniocaudal_deg: NDArray[np.float64]
    in_plane_deg: NDArray[np.float64]
    elevation_deg: NDArray[np.float64]
    reasons: NDArray[np.uint8]
    blocking_structure: tuple[str, ...]
    exempt: tuple[str, ...]

    @property
    def feasible(self) -> NDArray[np.bool_]:
        return self.reasons == 0

    def reasons_for(self, index: int) -> tuple[str, ...]:
        """Readable reasons why direction ``index`` was rejected (empty when feasible)."""
        flags = int(self.reasons[index])
        texts = []
        for flag, text in REJECTION_REASONS.items():
            if flags & flag:
                if flag == BLOCKED and self.blocking_structure[index]:
                    text = f"crosses the clearance zone of {self.blocking_structure[index]}"
                texts.append(text)
        return tuple(texts)


def feasible_entries(
    context: TrajectoryContext,
    target_lps_mm: ArrayLike,
    *,
    directions_lps: ArrayLike | None = None,
    direction_count: int = 2000,
    usable_length_mm: float | None = None,
    search_margin_mm: float = 50.0,
    step_mm: float = DEFAULT_STEP_MM,
    approach: Approach | None = None,
) -> EntryMap:
    """Evaluate straight paths to ``target_lps_mm`` along many directions at once.

    A direction is feasible when its skin entry is not on the table side, its
    craniocaudal angle is within the limit, it crosses no clearance zone of a
    checked structure, labelled or found on the CT (structures the target lies
    in or near are exempt, see :meth:`TrajectoryContext.exempt_bits` and
    :meth:`TrajectoryContext.blocking_bits`) and the skin lies within the usable
    shaft length.

    Parameters
    ----------
    context : TrajectoryContext
        The prepared case (its settings give limits and patient position).
    target_lps_mm : array_like
        The point the tip must reach, inside the body.
    directions_lps : array_like, shape (n, 3), optional
        Directions from the target toward the entry (normalised here); by
        default ``direction_count`` Fibonacci directions over the whole sphere.
    usable_length_mm : float, optional
        Usable shaft length; ``settings.usable_length_mm`` by default.
    search_margin_mm : float
        How far beyond the usable length the skin is searched for, so that
        too-long paths still show where they would enter.
    step_mm : float
        Sampling distance along each ray.
    approach : Approach, optional
        The case's approach rules (:mod:`planning_core.planning.approach`):
        entries on the side the patient lies on, handles outside the gantry
        bore and tilts beyond the position's limit are rejected too. Without
        it (the default) only the settings' rules apply.

    Raises
    ------
    InvalidParameterError
        When the target is outside the body or a parameter is invalid.
    """
    settings = context.settings
    usable = settings.usable_length_mm if usable_length_mm is None else float(usable_length_mm)
    if step_mm <= 0 or search_margin_mm < 0 or usable <= 0:
        raise InvalidParameterError(
            "step_mm and usable_length_mm must be positive and search_margin_mm >= 0; got "
            f"{step_mm}, {usable}, {search_margin_mm}."
        )
    target = np.asarray(target_lps_mm, dtype=np.float64).reshape(3)
    flat, inside = context.flat_indices(target)
    if not (bool(inside) and context.body_mask.ravel()[flat]):
        raise InvalidParameterError(
            f"target {np.round(target, 1).tolist()} mm (LPS) lies outside the body; "
            "pick a point inside the patient."
        )
    if directions_lps is None:
        directions = fibonacci_directions(direction_count)
    else:
        directions = np.asarray(directions_lps, dtype=np.float64).reshape(-1, 3)
        norms = np.linalg.norm(directions, axis=1, keepdims=True)
        if np.any(norms == 0) or not np.all(np.isfinite(directions)):
            raise InvalidParameterError("directions_lps must be finite non-zero vectors.")
        directions = directions / norms

    craniocaudal, in_plane, elevation = probe_angles_deg(
        -directions, settings.table_direction_lps()
    )
    reasons = np.zeros(len(directions), dtype=np.uint8)
    reasons[elevation < settings.min_shaft_elevation_deg] |= TABLE_SIDE
    reasons[np.abs(craniocaudal) > settings.max_craniocaudal_angle_deg] |= CRANIOCAUDAL_ANGLE

    t = np.arange(step_mm, usable + search_margin_mm + step_mm, step_mm)
    points = target + directions[:, None, :] * t[None, :, None]
    flat, in_grid = context.flat_indices(points)
    in_body = in_grid & context.body_mask.ravel()[flat]
    leaves_body = ~in_body
    found = leaves_body.any(axis=1)
    first_out = np.where(found, np.argmax(leaves_body, axis=1), len(t))
    rows = np.arange(len(directions))
    exits_image = found & ~in_grid[rows, np.minimum(first_out, len(t) - 1)]
    reasons[exits_image] |= LEAVES_IMAGE
    skin_found = found & ~exits_image
    length = np.where(
        skin_found, t[np.maximum(first_out - 1, 0)] + step_mm / 2.0, np.nan
    )  # fmt: skip
    length = np.where(skin_found & (first_out == 0), step_mm / 2.0, length)
    reasons[~found | (skin_found & (length > usable))] |= TOO_LONG

    exempt_mask, exempt = context.exempt_bits(target)
    within = np.arange(len(t))[None, :] < first_out[:, None]
    blocking = context.blocking_bits(flat, within, exempt_mask)
    blocked_samples = blocking != 0
    blocked = blocked_samples.any(axis=1)
    reasons[blocked] |= BLOCKED
    first_blocked = np.argmax(blocked_samples, axis=1)
    blocking_bits = blocking[rows, first_blocked]
    names = tuple(
        _lowest_structure(context, int(bits)) if hit else ""
        for bits, hit in zip(blocking_bits, blocked, strict=True)
    )
    entries = target + directions * length[:, None]
    if approach is not None:
        refused = approach.refusals(entries, -directions, length)
        for flag, map_flag in _APPROACH_FLAGS:
            reasons[(refused & flag) != 0] |= map_flag
    return EntryMap(
        target_lps_mm=target,
        directions_lps=directions,
        entries_lps_mm=entries,
        path_length_mm=length,
        craniocaudal_deg=craniocaudal,
        in_plane_deg=in_plane,
        elevation_deg=elevation,
        reasons=reasons,
        blocking_structure=names,
        exempt=exempt,
    )


def _lowest_structure(context: TrajectoryContext, bits: int) -> str:
    for structure in context.structures:
        if bits >> structure.bit & 1:
            return structure.name
    return ""
