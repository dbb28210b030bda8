"""Patient position and approach: the table side, the gantry bore, angle limits, insertion order.

A probe enters where the radiologist can reach the skin and where the probe,
once placed, still fits through the CT gantry for the check scans:

* **Patient position.** The planning CT's DICOM Patient Position (0018,5100)
  says which side of the patient lies on the table (``HFS``: the back,
  ``HFP``: the front, ``HFDL``/``HFDR``: the left/right side).
  :func:`read_patient_position` reads it; an absent or unrecognised value is
  *unknown* and said so, never replaced by a guess.
* **Table side.** :func:`find_table` looks for the table plate on the CT: dense
  material outside the body lying beyond the body's lowest point along most
  lines through the body. When found it gives the direction toward the table;
  otherwise :func:`approach_for_case` falls back on the patient position.
  Heights are measured from the body's lowest point toward the table, where
  the skin rests on the mattress (the *table top* here: mattresses and boards
  differ, the patient's resting level does not).
* **Entries.** Skin entries lower than :attr:`ApproachRules.min_entry_height_mm`
  above the table top lie on the mattress or too close to it for the hand and
  the probe: they are refused (:data:`DOWN_SIDE`).
* **Gantry.** The part of the probe outside the patient (the shaft left out of
  the body, when the shaft length is known, plus the handle) must stay inside
  the bore (diameter :attr:`ApproachRules.bore_diameter_mm`, 700 mm by default,
  around an axis parallel to the table through the body's centre, where the
  technologist centres the patient) and above the table top, or the table
  cannot move the patient into the gantry for a check scan (:data:`GANTRY`).
* **Angles.** :data:`POSITION_ANGLE_LIMITS` holds the craniocaudal tilt limit of
  each position group (:data:`CRANIOCAUDAL`); it applies on top of the plan
  settings' ``max_craniocaudal_angle_deg``, so the stricter of the two wins.
* **Insertion order.** :func:`insertion_order` suggests placing the deepest
  probe first, then the most angled one: a placed probe's shaft and its metal
  streaks hide the deeper part of the field on the next check scans, and the
  last probes are the easy ones.
* **Records.** :func:`record_approach` turns an approach (and the candidate
  entries it refused, :func:`refusal_counts`) into the plan's
  :class:`~planning_core.planning.plan_approach.PlanApproach`;
  :func:`probe_approach_checks` and :func:`suggested_insertion_order` judge a
  plan's probes from that record alone, so they follow every probe edit.

Coordinates are LPS mm; arrays are indexed ``[k, j, i]`` like the volume.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from planning_core.errors import InvalidParameterError
from planning_core.imaging.volume import Volume
from planning_core.planning.plan import Plan
from planning_core.planning.plan_approach import (
    POSITION_UNKNOWN_NOTE,
    TABLE_SIDE_NAMES,
    PlanApproach,
    PositionReading,
    TableSource,
)
from planning_core.planning.settings import TABLE_DIRECTION_LPS
from planning_core.planning.trajectory import probe_angles_deg

#: Refusal flags of :meth:`Approach.refusals`, bitwise OR-ed.
DOWN_SIDE = 1
GANTRY = 2
CRANIOCAUDAL = 4
REFUSAL_REASONS: dict[int, str] = {
    DOWN_SIDE: "entry on the side the patient lies on",
    GANTRY: "probe handle outside the gantry bore or below the table top",
    CRANIOCAUDAL: "craniocaudal angle beyond the limit for the patient position",
}

#: Handle length used while the probe model does not give one (mm): grip and hose
#: connector of a cryoprobe stand about this far out of the skin beyond the shaft.
DEFAULT_HANDLE_LENGTH_MM = 100.0
#: Usual bore diameter of a CT gantry (mm).
DEFAULT_BORE_DIAMETER_MM = 700.0


class PositionGroup(enum.Enum):
    """Which side of the trunk rests on the table."""

    SUPINE = "supine"
    PRONE = "prone"
    DECUBITUS = "decubitus"


def position_group(position: str) -> PositionGroup:
    """The group of a DICOM Patient Position code (``HFS`` -> supine, ``FFDL`` -> decubitus)."""
    if position not in TABLE_DIRECTION_LPS:
        raise InvalidParameterError(
            f"patient position {position!r} is not supported; use one of "
            f"{', '.join(TABLE_DIRECTION_LPS)}."
        )
    if position.endswith("S"):
        return PositionGroup.SUPINE
    if position.endswith("P"):
        return PositionGroup.PRONE
    return PositionGroup.DECUBITUS


@dataclass(frozen=True)
class AngleLimits:
    """Angle limits of probe paths for one position group.

    Attributes
    ----------
    max_craniocaudal_deg : float
        Largest tilt out of the axial (gantry) plane.
    """

    max_craniocaudal_deg: float


#: Starting values, to be set per site. Supine and prone: paths are planned in or
#: near the axial plane, where one CT slice shows the whole shaft; 30 degrees
#: reaches under a rib or the pleural recess. Decubitus: the side-lying trunk rolls
#: with breathing and with the push of the probe, so steep tilts are kept smaller.
POSITION_ANGLE_LIMITS: Mapping[PositionGroup, AngleLimits] = {
    PositionGroup.SUPINE: AngleLimits(max_craniocaudal_deg=30.0),
    PositionGroup.PRONE: AngleLimits(max_craniocaudal_deg=30.0),
    PositionGroup.DECUBITUS: AngleLimits(max_craniocaudal_deg=20.0),
}


def read_patient_position(metadata: Mapping[str, object]) -> PositionReading:
    """The patient position stated in a volume's metadata (``metadata["patient_position"]``).

    Parameters
    ----------
    metadata : mapping
        :attr:`Volume.metadata`; DICOM loading stores Patient Position there.

    Returns
    -------
    PositionReading
        ``source="absent"`` when the value is missing or empty,
        ``"unrecognised"`` when it is not a supported code (both with
        ``position=None``); the value is upper-cased and stripped first.
    """
    raw = str(metadata.get("patient_position", "") or "").strip()
    if not raw:
        return PositionReading(None, "absent")
    code = raw.upper()
    if code in TABLE_DIRECTION_LPS:
        return PositionReading(code, "header", raw)
    return PositionReading(None, "unrecognised", raw)


@dataclass(frozen=True)
class TablePlate:
    """The CT table as found on the image.

    Attributes
    ----------
    down_lps : ndarray, shape (3,)
        Unit patient axis (±x or ±y) pointing from the patient toward the table.
    coverage : float
        Share (0-1) of the lines through the body, along ``down_lps``, that meet
        table material beyond the body.
    """

    down_lps: NDArray[np.float64]
    coverage: float


def _in_plane_axes(volume: Volume) -> tuple[tuple[int, NDArray[np.float64]], ...]:
    """The (numpy axis, LPS unit vector) of the grid's j and i axes, snapped to patient axes."""
    axes = []
    for numpy_axis, column in ((1, 1), (2, 0)):
        vector = volume.geometry.direction[:, column]
        snapped = np.zeros(3)
        snapped[int(np.argmax(np.abs(vector)))] = np.sign(vector[np.argmax(np.abs(vector))])
        axes.append((numpy_axis, snapped))
    return tuple(axes)


def find_table(
    volume: Volume,
    *,
    body_mask: NDArray[np.bool_],
    threshold_hu: float = -500.0,
    min_coverage: float = 0.5,
) -> TablePlate | None:
    """Find the CT table plate beside the body.

    For each in-plane direction along the grid's rows and columns, and each
    line of voxels through the body in that direction (one per slice and
    position across), the line counts as covered when it meets material denser
    than ``threshold_hu`` outside the body beyond the body's extreme point of
    that slice in that direction. The table is on the side whose coverage is
    largest, provided it reaches ``min_coverage`` and is at least twice that of
    the other sides (a blanket lying on the patient covers a few lines only,
    a table plate nearly all).

    Parameters
    ----------
    volume : Volume
        A CT in Hounsfield units whose slices are axial (the table lies along
        the slice axis).
    body_mask : ndarray of bool
        ``[k, j, i]`` body outline without the table (for example
        :func:`planning_core.planning.body.body_mask_from_ct`).
    threshold_hu : float
        Material above it counts as table (its plates; the foam core may be lighter).
    min_coverage : float
        Smallest share of covered lines for a table.

    Returns
    -------
    TablePlate or None
        ``None`` when no side qualifies (no table in the field of view, a
        non-CT image, or slices that are not axial).
    """
    if body_mask.shape != volume.shape or body_mask.dtype != np.bool_:
        raise InvalidParameterError(
            f"body_mask must be a boolean array of shape {volume.shape}, "
            f"got {body_mask.dtype} {body_mask.shape}."
        )
    if not 0.0 < min_coverage <= 1.0:
        raise InvalidParameterError(f"min_coverage must be in (0, 1], got {min_coverage}.")
    slice_axis = volume.geometry.direction[:, 2]
    if volume.modality != "CT" or abs(slice_axis[2]) < 0.9 or not body_mask.any():
        return None
    material = (np.asarray(volume.voxels) > threshold_hu) & ~body_mask
    sides: list[tuple[float, NDArray[np.float64]]] = []
    for numpy_axis, vector in _in_plane_axes(volume):
        across = 3 - numpy_axis  # the other in-plane numpy axis
        index = np.arange(volume.shape[numpy_axis])
        shape = [1, 1, 1]
        shape[numpy_axis] = -1
        index = index.reshape(shape)
        body_any = body_mask.any(axis=across)  # (k, n_axis)
        present = body_any.any(axis=1)
        line_in_body = body_mask.any(axis=numpy_axis)  # (k, n_across)
        n = volume.shape[numpy_axis]
        for sign in (1.0, -1.0):
            if sign > 0:
                extreme = np.where(present, n - 1 - np.argmax(body_any[:, ::-1], axis=1), n)
                beyond = index > extreme.reshape(-1, 1, 1)
            else:
                extreme = np.where(present, np.argmax(body_any, axis=1), -1)
                beyond = index < extreme.reshape(-1, 1, 1)
            hits = material & beyond
            covered = hits.any(axis=numpy_axis) & line_in_body
            lines = int(line_in_body.sum())
            coverage = float(covered.sum()) / max(lines, 1)
            sides.append((coverage, sign * vector))
    ranked = sorted(sides, key=lambda side: -side[0])
    best, runner_up = ranked[0], ranked[1]
    if best[0] < min_coverage or best[0] < 2.0 * runner_up[0]:
        return None
    return TablePlate(down_lps=best[1], coverage=best[0])


@dataclass(frozen=True)
class ApproachRules:
    """Settings of the approach rules.

    Attributes
    ----------
    min_entry_height_mm : float
        Smallest height of a skin entry above the table top.
    bore_diameter_mm : float
        Diameter of the CT gantry bore.
    handle_length_mm : float
        Length of the probe handle beyond the shaft (until the probe model gives it).
    shaft_length_mm : float or None
        Shaft length, when known: the part not inserted stands out of the skin too.
    angle_limits : mapping of PositionGroup to AngleLimits
        Craniocaudal limits per position group.
    """

    min_entry_height_mm: float = 40.0
    bore_diameter_mm: float = DEFAULT_BORE_DIAMETER_MM
    handle_length_mm: float = DEFAULT_HANDLE_LENGTH_MM
    shaft_length_mm: float | None = None
    angle_limits: Mapping[PositionGroup, AngleLimits] = field(
        default_factory=lambda: dict(POSITION_ANGLE_LIMITS)
    )

    def __post_init__(self) -> None:
        checks = (
            ("min_entry_height_mm", self.min_entry_height_mm, 0.0, 300.0),
            ("bore_diameter_mm", self.bore_diameter_mm, 300.0, 1500.0),
            ("handle_length_mm", self.handle_length_mm, 0.0, 500.0),
        )
        for name, value, low, high in checks:
            if not (isinstance(value, int | float) and low <= value <= high):
                raise InvalidParameterError(
                    f"{name} must be a number in [{low:g}, {high:g}] mm, got {value!r}."
                )
        for group, limits in self.angle_limits.items():
            if not 0.0 <= limits.max_craniocaudal_deg <= 80.0:
                raise InvalidParameterError(
                    f"the craniocaudal limit of {group.value} positions must be in [0, 80] "
                    f"degrees, got {limits.max_craniocaudal_deg!r}."
                )
        if self.shaft_length_mm is not None and not (0.0 < self.shaft_length_mm <= 1000.0):
            raise InvalidParameterError(
                f"shaft_length_mm must be in (0, 1000] mm, got {self.shaft_length_mm!r}."
            )


@dataclass(frozen=True, eq=False)
class Approach:
    """The approach rules of one case, ready to judge paths.

    Build it with :func:`approach_for_case`.

    Attributes
    ----------
    position : PositionReading
    down_lps : ndarray, shape (3,) or None
        Unit vector toward the table; ``None`` when neither the image nor the
        position tells (then no side, gantry or angle rule is applied and
        :attr:`notes` says so).
    table_top_mm : float
        Where the patient rests, along ``down_lps``: the body's lowest point
        (NaN when ``down_lps`` is None).
    table_source : {"image", "patient position"} or None
    bore_axis_lps_mm : ndarray, shape (3,)
        A point on the bore axis, which runs along the patient's z axis.
    rules : ApproachRules
    notes : tuple of str
        What the user should know (unknown position, disagreement image/header).
    """

    position: PositionReading
    down_lps: NDArray[np.float64] | None
    table_top_mm: float
    table_source: TableSource | None
    bore_axis_lps_mm: NDArray[np.float64]
    rules: ApproachRules
    notes: tuple[str, ...] = ()

    def height_above_table_mm(self, points_lps_mm: ArrayLike) -> NDArray[np.float64]:
        """Height of points ``(..., 3)`` above the table top (NaN when the side is unknown)."""
        points = np.asarray(points_lps_mm, dtype=np.float64)
        if self.down_lps is None:
            return np.full(points.shape[:-1], np.nan)
        return self.table_top_mm - points @ self.down_lps

    def max_craniocaudal_deg(self) -> float | None:
        """Craniocaudal limit for the case's position group (``None`` when unknown)."""
        if self.position.position is None:
            return None
        return self.rules.angle_limits[position_group(self.position.position)].max_craniocaudal_deg

    def outer_ends_lps_mm(
        self, entries_lps_mm: ArrayLike, insertion_lps: ArrayLike, path_length_mm: ArrayLike
    ) -> NDArray[np.float64]:
        """Where each probe's handle ends, outside the patient.

        Parameters
        ----------
        entries_lps_mm : array_like, shape (n, 3)
        insertion_lps : array_like, shape (n, 3)
            Unit vectors from entry to tip.
        path_length_mm : array_like, shape (n,)
            Inserted length (entry to tip).
        """
        entries = np.asarray(entries_lps_mm, dtype=np.float64).reshape(-1, 3)
        insertion = np.asarray(insertion_lps, dtype=np.float64).reshape(-1, 3)
        inserted = np.asarray(path_length_mm, dtype=np.float64).reshape(-1)
        outside = np.full(len(entries), self.rules.handle_length_mm)
        if self.rules.shaft_length_mm is not None:
            outside += np.maximum(self.rules.shaft_length_mm - inserted, 0.0)
        return entries - insertion * outside[:, None]

    def refusals(
        self, entries_lps_mm: ArrayLike, insertion_lps: ArrayLike, path_length_mm: ArrayLike
    ) -> NDArray[np.uint8]:
        """Bitwise OR of :data:`REFUSAL_REASONS` flags per path (0: allowed).

        Paths with a NaN entry (no skin found) get no flag here. Arguments as
        in :meth:`outer_ends_lps_mm`.
        """
        entries = np.asarray(entries_lps_mm, dtype=np.float64).reshape(-1, 3)
        insertion = np.asarray(insertion_lps, dtype=np.float64).reshape(-1, 3)
        flags = np.zeros(len(entries), dtype=np.uint8)
        if self.down_lps is None:
            return flags
        known = np.all(np.isfinite(entries), axis=1)
        height = self.height_above_table_mm(entries)
        flags[known & (height < self.rules.min_entry_height_mm)] |= DOWN_SIDE
        ends = self.outer_ends_lps_mm(entries, insertion, path_length_mm)
        radial = (ends - self.bore_axis_lps_mm)[:, :2]
        outside_bore = np.hypot(radial[:, 0], radial[:, 1]) > self.rules.bore_diameter_mm / 2.0
        below_table = self.height_above_table_mm(ends) < 0.0
        flags[known & (outside_bore | below_table)] |= GANTRY
        limit = self.max_craniocaudal_deg()
        if limit is not None:
            craniocaudal, _, _ = probe_angles_deg(insertion, self.down_lps)
            flags[np.abs(craniocaudal) > limit] |= CRANIOCAUDAL
        return flags

    def probe_refusals(
        self, entries_lps_mm: ArrayLike, tips_lps_mm: ArrayLike
    ) -> NDArray[np.uint8]:
        """:meth:`refusals` of placed probes given by skin entry and tip, shape (n, 3) each."""
        entries = np.asarray(entries_lps_mm, dtype=np.float64).reshape(-1, 3)
        shafts = np.asarray(tips_lps_mm, dtype=np.float64).reshape(-1, 3) - entries
        length = np.linalg.norm(shafts, axis=1)
        if np.any(length == 0):
            raise InvalidParameterError("a probe's entry and tip coincide; move the entry.")
        return self.refusals(entries, shafts / length[:, None], length)

    def describe(self) -> str:
        """One line: position, table side and where it was found."""
        if self.down_lps is None and not self.position.known:
            return POSITION_UNKNOWN_NOTE
        if self.down_lps is None:
            return f"{self.position.describe()}; table side unknown"
        side = TABLE_SIDE_NAMES[tuple(int(v) for v in np.rint(self.down_lps))]
        return f"{self.position.describe()}; table on the patient's {side} ({self.table_source})"


def reasons_for(flags: int) -> tuple[str, ...]:
    """Readable reasons of a :meth:`Approach.refusals` value."""
    return tuple(text for flag, text in REFUSAL_REASONS.items() if flags & flag)


def approach_for_case(
    volume: Volume,
    *,
    body_mask: NDArray[np.bool_],
    position: str | PositionReading | None = None,
    rules: ApproachRules | None = None,
    bore_axis_lps_mm: ArrayLike | None = None,
) -> Approach:
    """Gather the approach rules of a case: position, table side, bore axis.

    Parameters
    ----------
    volume : Volume
        The planning image; its metadata gives the patient position, and on a
        CT the table is looked for (:func:`find_table`).
    body_mask : ndarray of bool
        ``[k, j, i]`` body outline without the table.
    position : str or PositionReading, optional
        A patient position chosen by the user (it overrides the header), or a
        reading made earlier (:func:`read_patient_position`).
    rules : ApproachRules, optional
    bore_axis_lps_mm : array_like, shape (3,), optional
        A point on the bore axis; by default the centre of the body's extent
        in the axial plane (technologists centre the patient in the bore).

    Returns
    -------
    Approach
        The table side comes from the image when the table is found there,
        else from the position; when they disagree, the image wins and a note
        says so. Neither known: ``down_lps`` is None and a note says so.
    """
    rules = rules or ApproachRules()
    if isinstance(position, PositionReading):
        reading = position
    elif position is not None:
        position_group(position)  # validates
        reading = PositionReading(position, "given", position)
    else:
        reading = read_patient_position(volume.metadata)
    notes: list[str] = []
    if not reading.known:
        notes.append(reading.describe())
    plate = find_table(volume, body_mask=body_mask)
    down: NDArray[np.float64] | None = None
    source: TableSource | None = None
    body_points = _body_extent_lps(volume, body_mask)
    if plate is not None:
        down, source = plate.down_lps, "image"
        if reading.position is not None:
            stated = np.asarray(TABLE_DIRECTION_LPS[reading.position])
            if float(stated @ down) < 0.5:
                notes.append(
                    f"the table lies on the patient's {TABLE_SIDE_NAMES[_key(down)]} on the image, "
                    f"which does not fit patient position {reading.position}; the image is used"
                )
    elif reading.position is not None:
        down = np.asarray(TABLE_DIRECTION_LPS[reading.position], dtype=np.float64)
        source = "patient position"
    else:
        notes.append(
            "table side unknown (no table on the image, no patient position): entries are "
            "not checked for the table side, the gantry or the position's angle limits"
        )
    if bore_axis_lps_mm is None:
        low, high = body_points.min(axis=0), body_points.max(axis=0)
        axis_point = (low + high) / 2.0
    else:
        axis_point = np.asarray(bore_axis_lps_mm, dtype=np.float64).reshape(3)
    return Approach(
        position=reading,
        down_lps=down,
        table_top_mm=float("nan") if down is None else float(np.max(body_points @ down)),
        table_source=source,
        bore_axis_lps_mm=axis_point,
        rules=rules,
        notes=tuple(notes),
    )


def _key(vector: NDArray[np.float64]) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.rint(vector))  # type: ignore[return-value]


def _body_extent_lps(volume: Volume, body_mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    """LPS corners of the body's index bounding box (8 points), enough for extremes and centre."""
    if body_mask.shape != volume.shape or not body_mask.any():
        raise InvalidParameterError(
            f"body_mask must be a non-empty boolean array of shape {volume.shape}."
        )
    k, j, i = (np.flatnonzero(body_mask.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1)))
    corners = np.array(
        [[ii, jj, kk] for ii in (i[0], i[-1]) for jj in (j[0], j[-1]) for kk in (k[0], k[-1])],
        dtype=np.float64,
    )
    return volume.geometry.index_to_lps(corners)


@dataclass(frozen=True)
class InsertionStep:
    """One probe in the suggested insertion order.

    Attributes
    ----------
    probe_index : int
        Index of the probe in the caller's list.
    depth_mm : float
        Inserted length, skin to tip.
    craniocaudal_deg : float
        Tilt out of the axial plane (absolute value).
    """

    probe_index: int
    depth_mm: float
    craniocaudal_deg: float


def insertion_order(
    entries_lps_mm: ArrayLike,
    tips_lps_mm: ArrayLike,
    *,
    depth_tie_mm: float = 5.0,
    tilt_step_deg: float = 5.0,
) -> tuple[InsertionStep, ...]:
    """Suggest the order of insertion: deepest first, then the most tilted.

    Depths within ``depth_tie_mm`` of the deepest remaining probe count as
    equal; among them the probe tilted furthest out of the axial plane (the
    harder one to place) goes first, tilts being compared in whole
    ``tilt_step_deg`` steps so that a fraction of a degree does not outrank
    depth. Equal probes keep their given order.

    Parameters
    ----------
    entries_lps_mm, tips_lps_mm : array_like, shape (n, 3)
        Skin entry and tip of each probe.
    depth_tie_mm : float
        Depth difference below which two probes count as equally deep.
    tilt_step_deg : float
        Tilt difference that makes one probe harder to place than another.

    Returns
    -------
    tuple of InsertionStep
        In insertion order.
    """
    entries = np.asarray(entries_lps_mm, dtype=np.float64).reshape(-1, 3)
    tips = np.asarray(tips_lps_mm, dtype=np.float64).reshape(-1, 3)
    if entries.shape != tips.shape or not (
        np.all(np.isfinite(entries)) and np.all(np.isfinite(tips))
    ):
        raise InvalidParameterError(
            "entries and tips must be finite LPS points, one pair per probe "
            f"(got {entries.shape[0]} entries and {tips.shape[0]} tips)."
        )
    if depth_tie_mm < 0 or tilt_step_deg <= 0:
        raise InvalidParameterError(
            f"depth_tie_mm must be >= 0 and tilt_step_deg > 0, got {depth_tie_mm} and "
            f"{tilt_step_deg}."
        )
    shafts = tips - entries
    depth = np.linalg.norm(shafts, axis=1)
    if np.any(depth == 0):
        raise InvalidParameterError("a probe's entry and tip coincide; move the entry.")
    tilt = np.abs(np.degrees(np.arcsin(np.clip(shafts[:, 2] / depth, -1.0, 1.0))))
    tilt_steps = np.floor(tilt / tilt_step_deg)
    # Greedy: take the deepest remaining; among those within the tie, the most tilted.
    remaining = list(range(len(depth)))
    steps: list[InsertionStep] = []
    while remaining:
        deepest = max(depth[index] for index in remaining)
        tied = [index for index in remaining if depth[index] >= deepest - depth_tie_mm]
        chosen = max(tied, key=lambda index: (tilt_steps[index], depth[index], -index))
        steps.append(InsertionStep(chosen, float(depth[chosen]), float(tilt[chosen])))
        remaining.remove(chosen)
    return tuple(steps)


def refusal_counts(
    approach: Approach,
    entries_lps_mm: ArrayLike,
    insertion_lps: ArrayLike,
    path_length_mm: ArrayLike,
    *,
    other_refused: ArrayLike | None = None,
) -> tuple[int, int, dict[str, int]]:
    """How many candidate paths with a skin entry the rules refuse, in all and per reason.

    Arguments as in :meth:`Approach.refusals`; ``other_refused`` (bool per
    path) marks paths the other path checks already refuse: they are left out,
    so that the counts are the entries the approach rules alone take away.

    Returns
    -------
    candidates : int
        Paths with a skin entry (that no other check refuses).
    refused : int
        Of them, those refused for any reason.
    per_reason : dict of str to int
        Refusals per reason of :data:`REFUSAL_REASONS` (reasons with none left out).
    """
    entries = np.asarray(entries_lps_mm, dtype=np.float64).reshape(-1, 3)
    flags = approach.refusals(entries, insertion_lps, path_length_mm)
    known = np.all(np.isfinite(entries), axis=1)
    if other_refused is not None:
        known &= ~np.asarray(other_refused, dtype=bool).reshape(-1)
    per_reason = {
        reason: int(np.count_nonzero(known & ((flags & flag) != 0)))
        for flag, reason in REFUSAL_REASONS.items()
    }
    return (
        int(np.count_nonzero(known)),
        int(np.count_nonzero(known & (flags != 0))),
        {reason: count for reason, count in per_reason.items() if count},
    )


def record_approach(
    approach: Approach,
    *,
    candidate_entries: int = 0,
    refused_total: int = 0,
    refused_entries: Mapping[str, int] | None = None,
) -> PlanApproach:
    """The plan's record of ``approach`` and of the candidate entries it refused."""
    known = approach.down_lps is not None
    notes = approach.notes
    if not approach.position.known and not known:
        notes = (POSITION_UNKNOWN_NOTE, *notes)
    return PlanApproach(
        position=approach.position,
        table_down_lps=None if not known else tuple(approach.down_lps),  # type: ignore[arg-type]
        table_source=approach.table_source,
        table_top_mm=None if not known else approach.table_top_mm,
        bore_axis_lps_mm=tuple(approach.bore_axis_lps_mm),  # type: ignore[arg-type]
        bore_diameter_mm=approach.rules.bore_diameter_mm,
        handle_length_mm=approach.rules.handle_length_mm,
        min_entry_height_mm=approach.rules.min_entry_height_mm,
        max_craniocaudal_deg=approach.max_craniocaudal_deg(),
        candidate_entries=candidate_entries,
        refused_entries=dict(refused_entries or {}),
        refused_total=refused_total,
        notes=notes,
    )


def approach_of_record(record: PlanApproach) -> Approach:
    """The :class:`Approach` a plan's record describes, to judge its probes again."""
    limits = dict(POSITION_ANGLE_LIMITS)
    if record.position.position is not None and record.max_craniocaudal_deg is not None:
        group = position_group(record.position.position)
        limits[group] = AngleLimits(max_craniocaudal_deg=record.max_craniocaudal_deg)
    rules = ApproachRules(
        min_entry_height_mm=record.min_entry_height_mm,
        bore_diameter_mm=record.bore_diameter_mm,
        handle_length_mm=record.handle_length_mm,
        angle_limits=limits,
    )
    down = None if record.table_down_lps is None else np.asarray(record.table_down_lps)
    axis = (0.0, 0.0, 0.0) if record.bore_axis_lps_mm is None else record.bore_axis_lps_mm
    return Approach(
        position=record.position,
        down_lps=down,
        table_top_mm=float("nan") if record.table_top_mm is None else record.table_top_mm,
        table_source=record.table_source,
        bore_axis_lps_mm=np.asarray(axis, dtype=np.float64),
        rules=rules,
        notes=record.notes,
    )


@dataclass(frozen=True)
class ProbeApproachCheck:
    """How one placed probe fares under the plan's approach rules.

    Attributes
    ----------
    probe_index : int
        Index in ``plan.probes``.
    label : str
        The probe's label.
    passed : bool or None
        No rule refuses it; ``None`` when the table side is unknown (not assessed).
    gantry_ok : bool or None
        The handle stays inside the gantry bore and above the table top.
    reasons : tuple of str
        Readable reasons of the refusals (:data:`REFUSAL_REASONS`).
    """

    probe_index: int
    label: str
    passed: bool | None
    gantry_ok: bool | None
    reasons: tuple[str, ...] = ()

    def describe(self) -> str:
        name = self.label or f"probe {self.probe_index + 1}"
        if self.passed is None:
            return f"{name}: gantry not assessed (table side unknown)"
        if self.passed:
            return f"{name}: handle inside the {_BORE_TEXT}"
        return f"{name}: {'; '.join(self.reasons)}"


_BORE_TEXT = "gantry bore, above the table top"


def _skin_entries(plan: Plan) -> NDArray[np.float64]:
    """Each probe's skin entry: from fresh metrics when they have one, else the plan's entry."""
    entries = np.array([probe.entry_lps_mm for probe in plan.probes], dtype=np.float64)
    if plan.metrics is not None and not plan.metrics_stale():
        for index, path in enumerate(plan.metrics.paths):
            if path.skin_entry_lps_mm is not None:
                entries[index] = path.skin_entry_lps_mm
    return entries.reshape(-1, 3)


def probe_approach_checks(plan: Plan) -> tuple[ProbeApproachCheck, ...]:
    """The approach rules applied to each of ``plan``'s probes (empty without a record)."""
    if plan.approach is None or not plan.probes:
        return ()
    tips = np.array([probe.tip_lps_mm for probe in plan.probes], dtype=np.float64)
    if not plan.approach.table_known:
        return tuple(
            ProbeApproachCheck(index, probe.label, None, None)
            for index, probe in enumerate(plan.probes)
        )
    flags = approach_of_record(plan.approach).probe_refusals(_skin_entries(plan), tips)
    return tuple(
        ProbeApproachCheck(
            index,
            probe.label,
            passed=bool(flags[index] == 0),
            gantry_ok=not bool(flags[index] & GANTRY),
            reasons=reasons_for(int(flags[index])),
        )
        for index, probe in enumerate(plan.probes)
    )


def recorded_approach_checks(plan: Plan) -> tuple[ProbeApproachCheck, ...] | None:
    """:func:`probe_approach_checks` for the plan checks; ``None`` when no approach is recorded.

    Plans written before the approach rules, or made without a case, record none:
    :func:`~planning_core.planning.acceptance.accept_plan` then leaves the check out.
    """
    return None if plan.approach is None else probe_approach_checks(plan)


def suggested_insertion_order(plan: Plan) -> tuple[InsertionStep, ...]:
    """:func:`insertion_order` of ``plan``'s probes, skin entries from fresh metrics."""
    if not plan.probes:
        return ()
    tips = np.array([probe.tip_lps_mm for probe in plan.probes], dtype=np.float64)
    return insertion_order(_skin_entries(plan), tips)
