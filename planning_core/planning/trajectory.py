"""Straight probe paths: skin entry, length in the body, angles, distances to structures.

A :class:`TrajectoryContext` prepares a case once (body outline, the clearance
zone of every structure a path must avoid, lazily built search trees for exact
distances) so that the optimizer can analyse thousands of paths cheaply.

Angle conventions (also in ``docs/plan-format.md``), with ``d`` the unit vector
from entry to tip and ``down`` the LPS direction toward the table (from the
patient position):

* craniocaudal angle = ``asin(d_z)``: tilt out of the axial (gantry) plane,
  positive when the tip lies toward the head (superior) of the entry;
* elevation = ``asin(d . down)``: angle between the shaft and the table plane,
  positive when the entry lies above the tip (90° = vertical);
* in-plane angle = ``atan2(d . lateral, d . down)`` of the shaft projected on
  the axial plane: 0 for a vertical shaft, positive when the tip lies toward
  ``lateral`` of the entry, where ``lateral`` is the patient's left (+x) for
  supine and prone positions and posterior (+y) for decubitus positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage
from scipy.spatial import cKDTree

from planning_core.errors import InvalidParameterError
from planning_core.imaging.distance import distance_to_background_mm
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.body import body_mask_from_labels
from planning_core.planning.ct_hazards import CtHazards, ct_hazards_of
from planning_core.planning.masks import bounding_box, cross_step
from planning_core.planning.plan import PlannedProbe
from planning_core.planning.results import PathHazard, PathReport
from planning_core.planning.settings import PlanSettings
from planning_core.progress import CancelToken, ProgressCallback
from planning_core.threads import thread_budget

#: Label roles whose structures probe paths must keep clear of.
PATH_CHECKED_ROLES = ("avoid", "oar")
#: The shaft always crosses the skin, so it is never a path obstacle.
NEVER_PATH_CHECKED = ("skin",)
#: Reaching a structure's inside means crossing its envelope: exempting the first
#: (the target lies in it) exempts the second.
ENVELOPES: dict[str, tuple[str, ...]] = {"lung": ("pleura",)}
#: Distance between samples along a path.
DEFAULT_STEP_MM = 0.5
#: A structure whose clearance zone holds at least this share of the voxels bordering the
#: target hosts it (a lung around a lung tumor): paths to the target may cross it.
HOST_FRACTION = 0.5


def lateral_direction_lps(table_direction_lps: ArrayLike) -> NDArray[np.float64]:
    """The horizontal axis of the axial plane used for the sign of in-plane angles."""
    down = np.asarray(table_direction_lps, dtype=np.float64)
    return np.array([0.0, 1.0, 0.0]) if abs(down[0]) > 0.5 else np.array([1.0, 0.0, 0.0])


def probe_angles_deg(
    insertion_direction_lps: ArrayLike, table_direction_lps: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Craniocaudal, in-plane and elevation angles of insertion directions.

    Parameters
    ----------
    insertion_direction_lps : array_like, shape (..., 3)
        Unit vectors from entry to tip.
    table_direction_lps : array_like, shape (3,)
        Unit vector toward the table (:meth:`PlanSettings.table_direction_lps`).

    Returns
    -------
    craniocaudal_deg, in_plane_deg, elevation_deg : ndarray
        See the module docstring for definitions and signs.
    """
    d = np.asarray(insertion_direction_lps, dtype=np.float64)
    down = np.asarray(table_direction_lps, dtype=np.float64)
    lateral = lateral_direction_lps(down)
    craniocaudal = np.degrees(np.arcsin(np.clip(d[..., 2], -1.0, 1.0)))
    vertical = d @ down
    elevation = np.degrees(np.arcsin(np.clip(vertical, -1.0, 1.0)))
    in_plane = np.degrees(np.arctan2(d @ lateral, vertical))
    return craniocaudal, in_plane, elevation


def directions_from_angles_deg(
    craniocaudal_deg: ArrayLike, in_plane_deg: ArrayLike, table_direction_lps: ArrayLike
) -> NDArray[np.float64]:
    """Insertion directions (entry to tip) with given angles; inverse of :func:`probe_angles_deg`.

    The inputs broadcast against each other; the result has their shape plus (3,).
    """
    down = np.asarray(table_direction_lps, dtype=np.float64)
    lateral = lateral_direction_lps(down)
    cc = np.radians(np.asarray(craniocaudal_deg, dtype=np.float64))
    alpha = np.radians(np.asarray(in_plane_deg, dtype=np.float64))
    cc, alpha = np.broadcast_arrays(cc, alpha)
    axial = np.cos(cc)[..., None]
    return axial * (np.cos(alpha)[..., None] * down + np.sin(alpha)[..., None] * lateral) + np.sin(
        cc
    )[..., None] * np.array([0.0, 0.0, 1.0])


@dataclass(frozen=True)
class CheckedStructure:
    """A structure probe paths keep clear of, and its bit in the zone map.

    ``value`` is its label value, or 0 for a hazard found on the CT (``hazard``).
    """

    name: str
    value: int
    clearance_mm: float
    bit: int
    hazard: bool = False


def _bit_dtype(count: int) -> type[np.unsignedinteger]:
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        if count <= np.iinfo(dtype).bits:
            return dtype
    raise InvalidParameterError(
        f"{count} structures to keep clear of exceed the supported 64; merge some labels."
    )


class TrajectoryContext:
    """Per-case data for fast analysis of straight probe paths.

    Parameters
    ----------
    label_map : LabelMap
        Anatomy, tumor and organs at risk on the image grid.
    settings : PlanSettings
        Path clearances, usable length, angle limits and patient position.
    body_mask : ndarray of bool, optional
        Body outline ``[k, j, i]`` on the label grid; by default every labelled
        voxel when the map has a ``body`` label (:func:`body_mask_from_labels`).
    target_label : str
        The tumor label, never a path obstacle.
    volume : Volume, optional
        The planning image: on a CT, gas, bone, mottled bowel content and contrast
        vessels found from its Hounsfield units (:mod:`.ct_hazards`) are checked
        structures too, whether labelled or not; on other images they are "not
        assessed" (:attr:`hazards`).
    progress, cancel
        Progress callback and cancel token for the one-time preparation.

    Notes
    -----
    Checked structures are the labels with role ``"avoid"`` or ``"oar"`` (except
    the skin and the target) plus any label named in
    ``settings.path_clearances_mm``. A structure's clearance zone holds the
    voxels whose centre lies closer than its clearance to a voxel centre of the
    structure (the structure itself when the clearance is 0). Path points are
    looked up at their nearest voxel. Reported distances are exact distances from
    path samples to the nearest structure voxel centre.

    Paths may cross structures they cannot avoid (:meth:`exempt_bits`): those
    hosting the target (see :data:`HOST_FRACTION`), those whose clearance zone
    holds the tip, and the envelopes of these (:data:`ENVELOPES`). A hazard found
    on the CT is one mask of many pieces (every rib, every gas pocket), so the
    same rules apply to its pieces: a piece hosting the target (the aerated lung
    around a lung nodule) is left out, and a path may leave the tip through a
    hazard's clearance zone but never through the hazard itself
    (:meth:`blocking_bits`, the one rule the path analysis and the entry map share).
    """

    def __init__(
        self,
        label_map: LabelMap,
        settings: PlanSettings,
        *,
        body_mask: NDArray[np.bool_] | None = None,
        target_label: str = "tumor",
        volume: Volume | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> None:
        geometry = label_map.geometry
        if body_mask is None:
            body_mask = body_mask_from_labels(label_map)
        elif body_mask.shape != geometry.shape or body_mask.dtype != np.bool_:
            raise InvalidParameterError(
                f"body_mask must be a boolean array of shape {geometry.shape} (the label grid), "
                f"got {body_mask.dtype} {body_mask.shape}."
            )
        self.label_map = label_map
        self.settings = settings
        self.geometry = geometry
        self.body_mask = body_mask
        self.target_label = target_label
        names = {
            info.name
            for info in label_map.table
            if info.role in PATH_CHECKED_ROLES or info.name in settings.path_clearances_mm
        }
        names -= {target_label, *NEVER_PATH_CHECKED}
        infos = sorted((label_map.info(n) for n in names), key=lambda info: info.value)
        structures = [
            CheckedStructure(info.name, info.value, settings.path_clearance_mm(info.name), bit)
            for bit, info in enumerate(infos)
        ]
        self._lps_to_ijk = geometry.direction / geometry.spacing_mm[np.newaxis, :]
        self._ni_nj_nk = np.asarray(geometry.size_ijk, dtype=np.int64)
        #: Hazards found on the CT; ``None`` without an image (not assessed).
        self.hazards: CtHazards | None = None
        self._hazard_masks: dict[str, NDArray[np.bool_]] = {}
        #: Names of hazard pieces left out because they host the target.
        self.hazard_hosts: tuple[str, ...] = ()
        if volume is not None:
            volume.geometry.require_match(geometry, what="image and label map")
            target = label_map.mask(target_label) if label_map.has(target_label) else None
            self.hazards = ct_hazards_of(
                volume, body_mask,
                progress=None if progress is None else _scaled(progress, 0.0, 0.5),
                cancel=cancel,
            )  # fmt: skip
            hosts = []
            for name, mask in self.hazards.masks.items():
                clearance = max(
                    settings.path_clearance_mm(n) for n in self.hazards.clearance_labels[name]
                )
                kept = mask
                if target is not None:
                    # The target is where the tip must go (a calcified or enhancing tumor).
                    outside = mask & ~target
                    kept = self._without_hosts(outside, target, clearance)
                    if kept is not outside:
                        hosts.append(f"{name} around the target")
                self._hazard_masks[name] = kept
                structures.append(
                    CheckedStructure(name, 0, clearance, len(structures), hazard=True)
                )
            self.hazard_hosts = tuple(hosts)
        self.structures: tuple[CheckedStructure, ...] = tuple(structures)
        #: Bits of the hazards found on the CT.
        self.hazard_bits = sum(1 << s.bit for s in self.structures if s.hazard)
        zone_progress = None if progress is None or volume is None else _scaled(progress, 0.5, 1.0)
        self.zone_bits = self._zone_bits(zone_progress or progress, cancel)
        #: Bits of the hazards where their voxels themselves (no clearance) lie.
        self.core_bits = np.zeros_like(self.zone_bits)
        for structure in self.structures:
            if structure.hazard:
                self.core_bits[self._hazard_masks[structure.name]] |= self.core_bits.dtype.type(
                    1 << structure.bit
                )
        self.host_bits = self._host_bits()
        self._trees: dict[str, cKDTree | None] = {}

    # -- preparation -----------------------------------------------------------------------
    def _zone_bits(
        self, progress: ProgressCallback | None, cancel: CancelToken | None
    ) -> NDArray[np.unsignedinteger]:
        dtype = _bit_dtype(len(self.structures))
        bits = np.zeros(self.geometry.shape, dtype=dtype)
        spacing_kji = np.asarray(self.geometry.spacing_kji_mm)
        # The planning thread budget: a second core halves the large transforms.
        threads = thread_budget()
        for number, structure in enumerate(self.structures):
            if cancel is not None:
                cancel.raise_if_cancelled()
            if progress is not None:
                progress(number / len(self.structures), f"Clearance zone of {structure.name}")
            mask = self._mask(structure)
            if not mask.any():
                continue
            flag = dtype(1 << structure.bit)
            if structure.clearance_mm <= 0.0:
                bits[mask] |= flag
                continue
            pad = np.ceil(structure.clearance_mm / spacing_kji).astype(int) + 1
            box = bounding_box(mask, pad)
            distance = distance_to_background_mm(
                ~mask[box], spacing_mm=spacing_kji, threads=threads
            )
            bits[box][distance < structure.clearance_mm] |= flag
        if progress is not None:
            progress(1.0, "Clearance zones ready")
        return bits

    def _mask(self, structure: CheckedStructure) -> NDArray[np.bool_]:
        if structure.hazard:
            return self._hazard_masks[structure.name]
        return self.label_map.voxels == structure.value

    def _inside(self, structure: CheckedStructure, flat: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Whether the voxels at flat indices ``flat`` belong to ``structure``: the same as
        ``self._mask(structure).ravel()[flat]`` without building the whole mask."""
        if structure.hazard:
            return self._hazard_masks[structure.name].ravel()[flat]
        return self.label_map.voxels.ravel()[flat] == structure.value

    def _without_hosts(
        self, mask: NDArray[np.bool_], target: NDArray[np.bool_], clearance_mm: float
    ) -> NDArray[np.bool_]:
        """``mask`` without its pieces whose clearance zone holds most of the target's border.

        Returns ``mask`` itself when no piece hosts the target.
        """
        spacing = np.asarray(self.geometry.spacing_kji_mm)
        pad = np.ceil(clearance_mm / spacing).astype(int) + 2
        box = bounding_box(target, pad)
        if box is None or not mask[box].any():
            return mask
        crop = target[box]
        border = ndimage.binary_dilation(crop) & ~crop
        distance, nearest = ndimage.distance_transform_edt(
            ~mask[box], sampling=spacing, return_indices=True
        )
        # As in the clearance zones: closer than the clearance, or inside when it is 0.
        near = border & ((distance < clearance_mm) | (distance == 0.0))
        if np.count_nonzero(near) < HOST_FRACTION * np.count_nonzero(border):
            return mask
        pieces, _ = ndimage.label(mask)
        at = tuple(index[near] + s.start for index, s in zip(nearest, box, strict=True))
        ids, counts = np.unique(pieces[at], return_counts=True)
        hosts = ids[counts >= HOST_FRACTION * np.count_nonzero(border)]
        if len(hosts) == 0:
            return mask
        return mask & ~np.isin(pieces, hosts)

    def _host_bits(self) -> int:
        if not self.label_map.has(self.target_label):
            return 0
        target = self.label_map.mask(self.target_label)
        box = bounding_box(target, 1)
        if box is None:
            return 0
        crop = target[box]
        border = ndimage.binary_dilation(crop) & ~crop
        zone = self.zone_bits[box][border]
        hosts = 0
        for structure in self.structures:
            if structure.hazard:  # Hazard pieces hosting the target are left out instead.
                continue
            inside = np.count_nonzero(zone & zone.dtype.type(1 << structure.bit))
            if inside >= HOST_FRACTION * zone.size:
                hosts |= 1 << structure.bit
        return hosts

    def _tree(self, structure: CheckedStructure) -> cKDTree | None:
        if structure.name not in self._trees:
            mask = self._mask(structure)
            box = bounding_box(mask, 1)
            tree = None
            if box is not None:
                crop = mask[box]
                # Nothing lies beyond the grid, so its border is no surface.
                surface = crop & ~cross_step(crop, erode=True, border_value=True)
                kji = np.argwhere(surface) + [s.start for s in box]
                tree = cKDTree(self.geometry.index_to_lps(kji[:, ::-1]))
            self._trees[structure.name] = tree
        return self._trees[structure.name]

    # -- look-ups --------------------------------------------------------------------------
    def flat_indices(self, points_lps: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        """Nearest-voxel flat indices of LPS points ``(..., 3)`` and which lie in the grid
        (0 for those outside)."""
        points = np.asarray(points_lps, dtype=np.float64)
        flat, inside = _flat_indices(
            np.ascontiguousarray(points.reshape(-1, 3)),
            np.asarray(self.geometry.origin_lps_mm, dtype=np.float64),
            self._lps_to_ijk,
            self._ni_nj_nk,
        )
        return flat.reshape(points.shape[:-1]), inside.reshape(points.shape[:-1])

    def structure(self, name: str) -> CheckedStructure:
        for structure in self.structures:
            if structure.name == name:
                return structure
        raise InvalidParameterError(
            f"{name!r} is not a checked structure; checked: "
            f"{', '.join(s.name for s in self.structures) or 'none'}."
        )

    def exempt_bits(self, target_lps_mm: ArrayLike) -> tuple[int, tuple[str, ...]]:
        """Zone bits of the structures a path to ``target_lps_mm`` cannot avoid, and their names."""
        flat, inside = self.flat_indices(np.asarray(target_lps_mm, dtype=np.float64))
        at_tip = int(self.zone_bits.ravel()[flat]) if bool(inside) else 0
        # Hazards are never exempt as a whole: see blocking_bits.
        bits = self.host_bits | (at_tip & ~self.hazard_bits)
        names = {s.name for s in self.structures if bits >> s.bit & 1}
        for outer, enveloping in ENVELOPES.items():
            if outer in names:
                names.update(n for n in enveloping if any(s.name == n for s in self.structures))
        exempt = tuple(s.name for s in self.structures if s.name in names)
        mask = sum(1 << self.structure(name).bit for name in exempt)
        return mask, exempt

    def distance_mm(self, name: str, points_lps: NDArray[np.float64]) -> NDArray[np.float64]:
        """Distance from LPS points ``(n, 3)`` to structure ``name`` (0 inside); inf when empty."""
        structure = self.structure(name)
        tree = self._tree(structure)
        if tree is None:
            return np.full(len(points_lps), np.inf)
        distance, _ = tree.query(points_lps)
        flat, inside = self.flat_indices(points_lps)
        within = inside & self._inside(structure, flat)
        return np.where(within, 0.0, distance)

    def blocking_bits(
        self, flat: NDArray[np.int64], within: NDArray[np.bool_], exempt_mask: int
    ) -> NDArray[np.unsignedinteger]:
        """Per path sample, the bits of the structures whose presence there forbids the path.

        Parameters
        ----------
        flat : ndarray of int, shape (..., n)
            Flat voxel indices of samples walking out from the tip (last axis).
        within : ndarray of bool, shape (..., n)
            Which samples lie on the shaft (in the body, before the skin).
        exempt_mask : int
            Bits of the structures the path may cross (:meth:`exempt_bits`).

        Notes
        -----
        A labelled structure blocks wherever the shaft is in its clearance zone
        unless exempt. A hazard found on the CT blocks wherever the shaft is inside
        it, and in its clearance zone except on the stretch from the tip up to the
        first sample outside that zone (a tip beside a rib may leave along it,
        never through it).
        """
        zone = self.zone_bits.ravel()[flat]
        dtype = zone.dtype.type
        bits = zone & dtype(~exempt_mask & ((1 << np.iinfo(zone.dtype).bits) - 1))
        if self.hazard_bits:
            core = self.core_bits.ravel()[flat]
            flags = np.array([1 << s.bit for s in self.structures if s.hazard], dtype=zone.dtype)
            rows = zone.shape[-1] if zone.ndim else 1
            _free_leaving_stretches(
                bits.reshape(-1, rows), zone.reshape(-1, rows), core.reshape(-1, rows), flags
            )
        bits[~within] = 0
        return bits

    # -- analysis --------------------------------------------------------------------------
    def analyze_probe(
        self, probe: PlannedProbe, *, usable_length_mm: float | None = None
    ) -> PathReport:
        """:meth:`analyze_path` for a planned probe."""
        return self.analyze_path(
            probe.tip_lps_mm, probe.entry_lps_mm, usable_length_mm=usable_length_mm
        )

    def analyze_path(
        self,
        tip_lps_mm: ArrayLike,
        entry_lps_mm: ArrayLike,
        *,
        usable_length_mm: float | None = None,
        step_mm: float = DEFAULT_STEP_MM,
    ) -> PathReport:
        """Check the straight path through ``entry_lps_mm`` to ``tip_lps_mm``.

        The skin entry is where the line from the tip back through the entry
        (and beyond it, if the entry lies inside the body) leaves the body.

        Parameters
        ----------
        tip_lps_mm, entry_lps_mm : array_like
            Tip and a second point on the shaft, LPS mm.
        usable_length_mm : float, optional
            The probe's usable shaft length; ``settings.usable_length_mm`` by default.
        step_mm : float
            Sampling distance along the path.

        Returns
        -------
        PathReport
            Length, angles, per-structure distances and the list of problems.
        """
        if step_mm <= 0:
            raise InvalidParameterError(f"step_mm must be positive, got {step_mm}.")
        settings = self.settings
        usable = settings.usable_length_mm if usable_length_mm is None else usable_length_mm
        tip = np.asarray(tip_lps_mm, dtype=np.float64)
        toward_entry = np.asarray(entry_lps_mm, dtype=np.float64) - tip
        span = float(np.linalg.norm(toward_entry))
        if not span > 0.0:
            raise InvalidParameterError("entry_lps_mm must differ from tip_lps_mm.")
        toward_entry /= span
        craniocaudal, in_plane, elevation = (
            float(a) + 0.0  # no -0.0 in reports
            for a in probe_angles_deg(-toward_entry, settings.table_direction_lps())
        )
        problems = self._angle_problems(craniocaudal, elevation)
        reach = float(np.linalg.norm(self.geometry.extent_mm)) + step_mm
        t = np.arange(0.0, reach, step_mm)
        points = tip + t[:, None] * toward_entry
        flat, in_grid = self.flat_indices(points)
        in_body = in_grid & self.body_mask.ravel()[flat]
        if not in_body[0]:
            return PathReport(
                None, 0.0, craniocaudal, in_plane, elevation, usable,
                problems=("the tip lies outside the body", *problems),
            )  # fmt: skip
        outside = np.flatnonzero(~in_body)
        if len(outside) == 0 or not in_grid[outside[0]]:
            problems.append("the path leaves the image before reaching the skin")
        exit_index = int(outside[0]) if len(outside) else len(t)
        length = max(float(t[exit_index - 1]) + step_mm / 2.0, 0.0)
        x, y, z = (float(v) for v in tip + length * toward_entry)
        if length > usable:
            problems.append(
                f"needs {length:.0f} mm inside the body; the usable shaft length is {usable:g} mm"
            )
        shaft = points[:exit_index]
        shaft_flat = flat[:exit_index]
        exempt_mask, exempt = self.exempt_bits(tip)
        zone = self.zone_bits.ravel()[shaft_flat]
        blocking = self.blocking_bits(shaft_flat, np.ones(len(shaft_flat), dtype=bool), exempt_mask)
        depth = length - t[:exit_index]
        closest: dict[str, float] = {}
        clearance: dict[str, float] = {}
        crossings: dict[str, int] = {}
        hazards: list[PathHazard] = []
        for structure in self.structures:
            distances = self.distance_mm(structure.name, shaft)
            distance = float(distances.min()) if len(distances) else np.inf
            if not np.isfinite(distance):
                continue
            closest[structure.name] = distance
            clearance[structure.name] = structure.clearance_mm
            flag = zone.dtype.type(1 << structure.bit)
            entered = self._inside(structure, shaft_flat)
            runs = int(entered[0]) + int(np.count_nonzero(entered[1:] & ~entered[:-1]))
            if runs:
                crossings[structure.name] = runs
            if structure.hazard:
                in_zone, forbidden = (zone & flag) != 0, (blocking & flag) != 0
                found = _hazard_stretches(
                    structure, in_zone, entered, forbidden, distances, depth, step_mm
                )
                hazards += found
                problems += [_hazard_problem(h, structure) for h in found if h.forbidden]
            elif np.any(blocking & flag):
                problems.append(
                    f"passes {structure.name} at {distance:.1f} mm "
                    f"(clearance {structure.clearance_mm:g} mm)"
                )
        return PathReport(
            skin_entry_lps_mm=(x, y, z),
            length_in_body_mm=length,
            craniocaudal_angle_deg=craniocaudal,
            in_plane_angle_deg=in_plane,
            elevation_deg=elevation,
            usable_length_mm=float(usable),
            closest_mm=closest,
            clearance_mm=clearance,
            crossings=crossings,
            exempt=exempt + self.hazard_hosts,
            problems=tuple(problems),
            hazards=tuple(sorted(hazards, key=lambda h: h.depth_mm)),
            hazards_assessed=self.hazards is not None and self.hazards.assessed,
        )

    def _angle_problems(self, craniocaudal_deg: float, elevation_deg: float) -> list[str]:
        settings = self.settings
        problems = []
        if elevation_deg < settings.min_shaft_elevation_deg:
            problems.append(
                f"enters from the table side (shaft elevation {elevation_deg:.0f}°, "
                f"minimum {settings.min_shaft_elevation_deg:g}°)"
            )
        if abs(craniocaudal_deg) > settings.max_craniocaudal_angle_deg:
            problems.append(
                f"craniocaudal angle {craniocaudal_deg:.0f}° exceeds the "
                f"{settings.max_craniocaudal_angle_deg:g}° limit"
            )
        return problems


@numba.njit(cache=True, nogil=True)
def _free_leaving_stretches(
    bits: NDArray[np.unsignedinteger],
    zone: NDArray[np.unsignedinteger],
    core: NDArray[np.unsignedinteger],
    flags: NDArray[np.unsignedinteger],
) -> None:
    """Clear each hazard's flag in ``bits`` (rows of path samples from the tip out) on the
    stretch from the tip while the path stays in the hazard's zone, except where it is in
    the hazard itself (:meth:`TrajectoryContext.blocking_bits`)."""
    for row in range(bits.shape[0]):
        for flag in flags:
            for n in range(bits.shape[1]):
                if zone[row, n] & flag == 0:
                    break
                if core[row, n] & flag == 0:
                    bits[row, n] &= ~flag


@numba.njit(cache=True, nogil=True)
def _flat_indices(
    points_lps: NDArray[np.float64],
    origin_lps_mm: NDArray[np.float64],
    lps_to_ijk: NDArray[np.float64],
    ni_nj_nk: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    # The layout search looks up a few points at a time, thousands of times: numpy's
    # fixed cost per call (about 60 us) was a quarter of the search. Same arithmetic
    # order as ``(p - origin) @ lps_to_ijk``, so the same voxels.
    count = points_lps.shape[0]
    flat = np.zeros(count, np.int64)
    inside = np.zeros(count, np.bool_)
    for n in range(count):
        d0 = points_lps[n, 0] - origin_lps_mm[0]
        d1 = points_lps[n, 1] - origin_lps_mm[1]
        d2 = points_lps[n, 2] - origin_lps_mm[2]
        i = np.int64(np.rint(d0 * lps_to_ijk[0, 0] + d1 * lps_to_ijk[1, 0] + d2 * lps_to_ijk[2, 0]))
        j = np.int64(np.rint(d0 * lps_to_ijk[0, 1] + d1 * lps_to_ijk[1, 1] + d2 * lps_to_ijk[2, 1]))
        k = np.int64(np.rint(d0 * lps_to_ijk[0, 2] + d1 * lps_to_ijk[1, 2] + d2 * lps_to_ijk[2, 2]))
        if 0 <= i < ni_nj_nk[0] and 0 <= j < ni_nj_nk[1] and 0 <= k < ni_nj_nk[2]:
            inside[n] = True
            flat[n] = (k * ni_nj_nk[1] + j) * ni_nj_nk[0] + i
    return flat, inside


def _scaled(progress: ProgressCallback, start: float, stop: float) -> ProgressCallback:
    return lambda fraction, text: progress(start + (stop - start) * fraction, text)


def _hazard_stretches(
    structure: CheckedStructure,
    in_zone: NDArray[np.bool_],
    inside: NDArray[np.bool_],
    blocked: NDArray[np.bool_],
    distances_mm: NDArray[np.float64],
    depth_mm: NDArray[np.float64],
    step_mm: float,
) -> list[PathHazard]:
    """The stretches of a shaft (samples from the tip out) in a hazard's clearance zone."""
    edges = np.diff(np.concatenate(([0], in_zone.astype(np.int8), [0])))
    stretches = []
    for first, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        part = slice(first, stop)
        crossed = np.flatnonzero(inside[part]) + first
        if len(crossed):
            # Where the shaft enters it coming from the skin: its sample nearest the skin.
            at_depth = float(depth_mm[crossed[-1]])
        else:
            at_depth = float(depth_mm[first + int(np.argmin(distances_mm[part]))])
        stretches.append(
            PathHazard(
                name=structure.name,
                depth_mm=max(at_depth, 0.0),
                length_mm=float(len(crossed) * step_mm),
                closest_mm=float(distances_mm[part].min()),
                forbidden=bool(blocked[part].any()),
            )
        )
    return stretches


def _hazard_problem(hazard: PathHazard, structure: CheckedStructure) -> str:
    if hazard.length_mm > 0.0:
        return (
            f"crosses {hazard.name} {hazard.depth_mm:.0f} mm below the skin "
            f"({hazard.length_mm:.1f} mm of the path)"
        )
    return (
        f"passes {hazard.name} at {hazard.closest_mm:.1f} mm, {hazard.depth_mm:.0f} mm below "
        f"the skin (clearance {structure.clearance_mm:g} mm)"
    )
