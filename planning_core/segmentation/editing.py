"""Segment-editor operations on a :class:`LabelMap`, each returning a new map.

Every operation is a pure function: the input map is never modified, so undo
keeps the previous map, or stores the compact :class:`Edit` that
:func:`edit_between` computes (changed voxels with old and new values) and
applies or reverts it later. Distances are physical: a brush radius or margin in
mm covers the same tissue whatever the voxel size along each axis.

Operations that add voxels to a label take ``overwrite``: with ``True`` (the
default, as a brush in a segment editor) they take voxels from other labels;
with ``False`` they only fill background.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from planning_core.errors import GeometryMismatchError, InvalidParameterError
from planning_core.imaging.labels import LabelInfo, LabelMap
from planning_core.imaging.volume import Volume
from planning_core.segmentation.morphology import (
    dilate_mm,
    erode_mm,
    fill_holes_3d,
    largest_component,
    remove_small_components,
)

CombineOp = Literal["union", "intersection", "subtract", "xor"]
COMBINE_OPS: tuple[str, ...] = ("union", "intersection", "subtract", "xor")


@dataclass(frozen=True, eq=False)
class Edit:
    """The voxels one edit changed, enough to redo or undo it on a large map.

    Attributes
    ----------
    flat_indices : ndarray of int64
        Raveled ``[k, j, i]`` indices of the changed voxels.
    old_values, new_values : ndarray
        Label values before and after, at those voxels.
    old_table, new_table : tuple of LabelInfo
        The label tables before and after (an edit may add a label).
    """

    flat_indices: NDArray[np.int64]
    old_values: NDArray[np.unsignedinteger]
    new_values: NDArray[np.unsignedinteger]
    old_table: tuple[LabelInfo, ...]
    new_table: tuple[LabelInfo, ...]

    @property
    def changed_voxels(self) -> int:
        return int(self.flat_indices.size)

    def apply(self, label_map: LabelMap) -> LabelMap:
        """Redo: ``label_map`` (the state before) with the edit applied."""
        return self._write(label_map, self.new_values, self.new_table)

    def revert(self, label_map: LabelMap) -> LabelMap:
        """Undo: ``label_map`` (the state after) with the edit taken back."""
        return self._write(label_map, self.old_values, self.old_table)

    def _write(
        self, label_map: LabelMap, values: NDArray[np.unsignedinteger], table: tuple[LabelInfo, ...]
    ) -> LabelMap:
        dtype = np.result_type(label_map.voxels.dtype, values.dtype)
        voxels = label_map.voxels.astype(dtype, copy=True)
        voxels.reshape(-1)[self.flat_indices] = values
        return LabelMap(voxels, label_map.geometry, table)


def edit_between(before: LabelMap, after: LabelMap) -> Edit:
    """The :class:`Edit` that turns ``before`` into ``after`` (same grid)."""
    if not before.geometry.matches(after.geometry):
        raise GeometryMismatchError(
            "edit_between: the two label maps lie on different grids; an edit only relates "
            "two states of one map."
        )
    flat_before = before.voxels.reshape(-1)
    flat_after = after.voxels.reshape(-1)
    changed = np.flatnonzero(flat_before != flat_after)
    return Edit(changed, flat_before[changed], flat_after[changed], before.table, after.table)


# -- helpers -----------------------------------------------------------------------------
def _spacing(label_map: LabelMap) -> tuple[float, float, float]:
    return label_map.geometry.spacing_kji_mm


def _set_label(
    label_map: LabelMap, name: str, mask: NDArray[np.bool_], *, overwrite: bool
) -> LabelMap:
    """``name`` becomes exactly ``mask`` (minus other labels' voxels unless ``overwrite``)."""
    if not overwrite and label_map.has(name):
        # Keep the label's own voxels eligible: with_mask(overwrite=False) sees them as taken.
        own = label_map.mask(name)
        others = (label_map.voxels != 0) & ~own
        return label_map.with_mask(name, mask & ~others)
    return label_map.with_mask(name, mask, overwrite=overwrite)


def _check_positive(value: float, name: str) -> float:
    number = float(value)
    if not np.isfinite(number) or number <= 0:
        raise InvalidParameterError(f"{name} must be a positive number, got {value!r}.")
    return number


# -- brush ---------------------------------------------------------------------------------
def sphere_mask(
    label_map: LabelMap, center_lps_mm: ArrayLike, radius_mm: float
) -> NDArray[np.bool_]:
    """Voxels whose centre lies within ``radius_mm`` of an LPS point."""
    radius = _check_positive(radius_mm, "radius_mm")
    geometry = label_map.geometry
    center_ijk = geometry.lps_to_index(np.asarray(center_lps_mm, dtype=np.float64).reshape(3))
    reach = radius / geometry.spacing_mm
    low = np.maximum(np.floor(center_ijk - reach).astype(int), 0)
    high = np.minimum(np.ceil(center_ijk + reach).astype(int) + 1, np.asarray(geometry.size_ijk))
    mask = np.zeros(geometry.shape, dtype=bool)
    if np.any(high <= low):
        return mask
    i, j, k = (np.arange(a, b) for a, b in zip(low, high, strict=True))
    # The direction matrix is orthonormal, so distances follow from scaled index offsets.
    di = ((i - center_ijk[0]) * geometry.spacing_mm[0]) ** 2
    dj = ((j - center_ijk[1]) * geometry.spacing_mm[1]) ** 2
    dk = ((k - center_ijk[2]) * geometry.spacing_mm[2]) ** 2
    inside = dk[:, None, None] + dj[None, :, None] + di[None, None, :] <= radius * radius
    mask[low[2] : high[2], low[1] : high[1], low[0] : high[0]] = inside
    return mask


def paint_sphere(
    label_map: LabelMap,
    name: str,
    center_lps_mm: ArrayLike,
    *,
    radius_mm: float,
    erase: bool = False,
    overwrite: bool = True,
) -> LabelMap:
    """Paint (or erase) label ``name`` with a spherical brush.

    Parameters
    ----------
    label_map : LabelMap
        The map to edit.
    name : str
        Label to paint; created (standard colour and role for known names) when absent.
    center_lps_mm : array_like
        Brush centre in LPS mm.
    radius_mm : float
        Brush radius in mm.
    erase : bool
        Remove ``name`` inside the sphere instead (other labels are untouched).
    overwrite : bool
        When painting, take voxels from other labels too.
    """
    sphere = sphere_mask(label_map, center_lps_mm, radius_mm)
    if erase:
        if not label_map.has(name):
            return label_map
        return label_map.with_mask(name, label_map.mask(name) & ~sphere)
    current = label_map.mask(name) if label_map.has(name) else np.zeros_like(sphere)
    return _set_label(label_map, name, current | sphere, overwrite=overwrite)


# -- margins -------------------------------------------------------------------------------
def grow(label_map: LabelMap, name: str, *, margin_mm: float, overwrite: bool = True) -> LabelMap:
    """Add every voxel within ``margin_mm`` (Euclidean, in mm) of label ``name``."""
    margin = _check_positive(margin_mm, "margin_mm")
    grown = dilate_mm(label_map.mask(name), margin, _spacing(label_map))
    return _set_label(label_map, name, grown, overwrite=overwrite)


def shrink(label_map: LabelMap, name: str, *, margin_mm: float) -> LabelMap:
    """Remove every voxel of ``name`` within ``margin_mm`` of a voxel outside it.

    The grid border does not count as outside (a structure cut by the scan keeps
    its cut face).
    """
    margin = _check_positive(margin_mm, "margin_mm")
    return label_map.with_mask(name, erode_mm(label_map.mask(name), margin, _spacing(label_map)))


# -- islands and holes ---------------------------------------------------------------------
def keep_largest_island(label_map: LabelMap, name: str) -> LabelMap:
    """Keep only the largest face-connected part of label ``name``."""
    return label_map.with_mask(name, largest_component(label_map.mask(name)))


def remove_small_islands(label_map: LabelMap, name: str, *, min_volume_mm3: float) -> LabelMap:
    """Remove the face-connected parts of ``name`` smaller than ``min_volume_mm3``."""
    minimum = _check_positive(min_volume_mm3, "min_volume_mm3")
    min_voxels = int(np.ceil(minimum / label_map.geometry.voxel_volume_mm3 - 1e-9))
    return label_map.with_mask(name, remove_small_components(label_map.mask(name), min_voxels))


def fill_holes(label_map: LabelMap, name: str, *, overwrite: bool = True) -> LabelMap:
    """Fill the cavities of ``name`` (regions it encloses completely in 3-D)."""
    return _set_label(label_map, name, fill_holes_3d(label_map.mask(name)), overwrite=overwrite)


def smooth(label_map: LabelMap, name: str, *, sigma_mm: float, overwrite: bool = True) -> LabelMap:
    """Smooth the surface of ``name``: Gaussian of its mask, kept where above one half.

    Bumps and dents smaller than about ``sigma_mm`` disappear; the volume of a
    smooth convex shape is kept to within the curvature effect of ``sigma_mm``.
    """
    sigma = _check_positive(sigma_mm, "sigma_mm")
    mask = label_map.mask(name)
    if not mask.any():
        return label_map
    pad = np.ceil(3.0 * sigma / np.asarray(_spacing(label_map))).astype(int) + 1
    box = tuple(
        slice(max(int(idx.min()) - p, 0), int(idx.max()) + 1 + p)
        for idx, p in zip(np.nonzero(mask), pad, strict=True)
    )
    blurred = ndimage.gaussian_filter(
        mask[box].astype(np.float32), sigma / np.asarray(_spacing(label_map)), truncate=3.0
    )
    smoothed = np.zeros_like(mask)
    smoothed[box] = blurred >= 0.5
    return _set_label(label_map, name, smoothed, overwrite=overwrite)


# -- intensity -----------------------------------------------------------------------------
def threshold_within(
    volume: Volume,
    label_map: LabelMap,
    name: str,
    *,
    lower: float,
    upper: float,
    within: str | None = None,
    overwrite: bool = True,
) -> LabelMap:
    """Set ``name`` to the voxels with ``lower <= value <= upper`` (inside label ``within``).

    Parameters
    ----------
    volume : Volume
        The image; must share the label map's grid.
    label_map : LabelMap
        The map to edit.
    name : str
        Label that receives the thresholded voxels (replacing its previous voxels).
    lower, upper : float
        Inclusive intensity range (HU for CT).
    within : str, optional
        Restrict to the voxels of this label; the whole grid when omitted.
    overwrite : bool
        Take voxels from other labels too.
    """
    volume.geometry.require_match(label_map.geometry, what="threshold_within: image vs labels")
    if not (np.isfinite(lower) and np.isfinite(upper)) or lower > upper:
        raise InvalidParameterError(
            f"threshold_within: need finite lower <= upper, got lower={lower}, upper={upper}."
        )
    selected = (volume.voxels >= lower) & (volume.voxels <= upper)
    if within is not None:
        selected &= label_map.mask(within)
    return _set_label(label_map, name, selected, overwrite=overwrite)


# -- logic ---------------------------------------------------------------------------------
def combine(
    a: LabelMap,
    b: LabelMap,
    op: CombineOp,
    *,
    name: str,
    other: str | None = None,
    into: str | None = None,
    overwrite: bool = True,
) -> LabelMap:
    """Logical operation between label ``name`` of ``a`` and label ``other`` of ``b``.

    Parameters
    ----------
    a, b : LabelMap
        Maps on the same grid; ``b`` may be ``a`` itself (to merge two labels).
    op : {"union", "intersection", "subtract", "xor"}
        ``subtract`` is ``a``'s label minus ``b``'s.
    name : str
        Label of ``a``.
    other : str, optional
        Label of ``b``; ``name`` by default.
    into : str, optional
        Label of the returned map that receives the result (``name`` by default);
        created when absent.
    overwrite : bool
        Take voxels from other labels of ``a`` too.

    Returns
    -------
    LabelMap
        A copy of ``a`` in which ``into`` holds the result.

    Notes
    -----
    A label map holds one label per voxel, so two labels of the same map never
    intersect; intersections and differences are meaningful between maps (a
    tumor-plus-margin map and an organ map, two readers' tumors).
    """
    if op not in COMBINE_OPS:
        raise InvalidParameterError(f"op must be one of {', '.join(COMBINE_OPS)}, got {op!r}.")
    a.geometry.require_match(b.geometry, what="combine: the two label maps")
    first, second = a.mask(name), b.mask(other or name)
    result = {
        "union": first | second,
        "intersection": first & second,
        "subtract": first & ~second,
        "xor": first ^ second,
    }[op]
    return _set_label(a, into or name, result, overwrite=overwrite)
