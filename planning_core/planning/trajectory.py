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

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage
from scipy.spatial import cKDTree

from planning_core.errors import InvalidParameterError
from planning_core.imaging.labels import LabelMap
from planning_core.planning.body import body_mask_from_labels
from planning_core.planning.masks import bounding_box
from planning_core.planning.plan import PlannedProbe
from planning_core.planning.results import PathReport
from planning_core.planning.settings import PlanSettings
from planning_core.progress import CancelToken, ProgressCallback

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
    """A structure probe paths keep clear of, and its bit in the zone map."""

    name: str
    value: int
    clearance_mm: float
    bit: int


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
    holds the tip, and the envelopes of these (:data:`ENVELOPES`).
    """

    def __init__(
        self,
        label_map: LabelMap,
        settings: PlanSettings,
        *,
        body_mask: NDArray[np.bool_] | None = None,
        target_label: str = "tumor",
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
        self.structures: tuple[CheckedStructure, ...] = tuple(
            CheckedStructure(info.name, info.value, settings.path_clearance_mm(info.name), bit)
            for bit, info in enumerate(infos)
        )
        self._lps_to_ijk = geometry.direction / geometry.spacing_mm[np.newaxis, :]
        self._ni_nj_nk = np.asarray(geometry.size_ijk, dtype=np.int64)
        self.zone_bits = self._zone_bits(progress, cancel)
        self.host_bits = self._host_bits()
        self._trees: dict[str, cKDTree | None] = {}

    # -- preparation -----------------------------------------------------------------------
    def _zone_bits(
        self, progress: ProgressCallback | None, cancel: CancelToken | None
    ) -> NDArray[np.unsignedinteger]:
        dtype = _bit_dtype(len(self.structures))
        bits = np.zeros(self.geometry.shape, dtype=dtype)
        spacing_kji = np.asarray(self.geometry.spacing_kji_mm)
        for number, structure in enumerate(self.structures):
            if cancel is not None:
                cancel.raise_if_cancelled()
            if progress is not None:
                progress(number / len(self.structures), f"Clearance zone of {structure.name}")
            mask = self.label_map.voxels == structure.value
            if not mask.any():
                continue
            flag = dtype(1 << structure.bit)
            if structure.clearance_mm <= 0.0:
                bits[mask] |= flag
                continue
            pad = np.ceil(structure.clearance_mm / spacing_kji).astype(int) + 1
            box = bounding_box(mask, pad)
            distance = ndimage.distance_transform_edt(~mask[box], sampling=spacing_kji)
            bits[box][distance < structure.clearance_mm] |= flag
        if progress is not None:
            progress(1.0, "Clearance zones ready")
        return bits

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
            inside = np.count_nonzero(zone & zone.dtype.type(1 << structure.bit))
            if inside >= HOST_FRACTION * zone.size:
                hosts |= 1 << structure.bit
        return hosts

    def _tree(self, structure: CheckedStructure) -> cKDTree | None:
        if structure.name not in self._trees:
            mask = self.label_map.voxels == structure.value
            box = bounding_box(mask, 1)
            tree = None
            if box is not None:
                crop = mask[box]
                # Nothing lies beyond the grid, so its border is no surface.
                surface = crop & ~ndimage.binary_erosion(crop, border_value=1)
                kji = np.argwhere(surface) + [s.start for s in box]
                tree = cKDTree(self.geometry.index_to_lps(kji[:, ::-1]))
            self._trees[structure.name] = tree
        return self._trees[structure.name]

    # -- look-ups --------------------------------------------------------------------------
    def flat_indices(self, points_lps: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        """Nearest-voxel flat indices of LPS points ``(..., 3)`` and which lie in the grid."""
        ijk = np.rint((points_lps - self.geometry.origin_lps_mm) @ self._lps_to_ijk).astype(
            np.int64
        )
        inside = np.all((ijk >= 0) & (ijk < self._ni_nj_nk), axis=-1)
        ijk = np.where(inside[..., None], ijk, 0)
        ni, nj, _ = self._ni_nj_nk
        return (ijk[..., 2] * nj + ijk[..., 1]) * ni + ijk[..., 0], inside

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
        bits = self.host_bits | (int(self.zone_bits.ravel()[flat]) if bool(inside) else 0)
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
        within = inside & (self.label_map.voxels.ravel()[flat] == structure.value)
        return np.where(within, 0.0, distance)

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
        labels = self.label_map.voxels.ravel()[shaft_flat]
        closest: dict[str, float] = {}
        clearance: dict[str, float] = {}
        crossings: dict[str, int] = {}
        for structure in self.structures:
            distance = float(self.distance_mm(structure.name, shaft).min())
            if not np.isfinite(distance):
                continue
            closest[structure.name] = distance
            clearance[structure.name] = structure.clearance_mm
            entered = labels == structure.value
            runs = int(entered[0]) + int(np.count_nonzero(entered[1:] & ~entered[:-1]))
            if runs:
                crossings[structure.name] = runs
            violates = bool(np.any(zone & zone.dtype.type(1 << structure.bit)))
            if violates and not exempt_mask >> structure.bit & 1:
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
            exempt=exempt,
            problems=tuple(problems),
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
