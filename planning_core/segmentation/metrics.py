"""Size and agreement measures of binary masks, in physical units.

``dice`` and ``mean_surface_distance_mm`` compare a segmentation with a
reference; ``max_diameter_mm``, ``mask_volume_ml`` and ``recist_axes`` describe
one mask.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.segmentation.morphology import Spacing, surface_voxels

# Rows of the pairwise distance matrix computed at once: bounds memory for large hulls.
_PAIR_BLOCK = 512


def _check_pair(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> None:
    if a.shape != b.shape:
        raise InvalidParameterError(
            f"masks must have the same shape to be compared, got {a.shape} and {b.shape}."
        )


def dice(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    """Dice similarity ``2|A∩B| / (|A|+|B|)``; 1.0 when both masks are empty."""
    _check_pair(a, b)
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    if total == 0:
        return 1.0
    return 2.0 * int(np.count_nonzero(a & b)) / total


def surface_distances_mm(
    a: NDArray[np.bool_], b: NDArray[np.bool_], spacing_kji: Spacing
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Distances (mm) from each surface voxel of ``a`` to the surface of ``b``, and back.

    Raises
    ------
    InvalidParameterError
        When either mask is empty (no surface to measure from).
    """
    _check_pair(a, b)
    if not a.any() or not b.any():
        raise InvalidParameterError(
            "surface distances need two non-empty masks; one of them is empty."
        )
    union = a | b
    box = tuple(slice(int(idx.min()), int(idx.max()) + 1) for idx in np.nonzero(union))
    surface_a = surface_voxels(a[box])
    surface_b = surface_voxels(b[box])
    to_b = ndimage.distance_transform_edt(~surface_b, sampling=spacing_kji)
    to_a = ndimage.distance_transform_edt(~surface_a, sampling=spacing_kji)
    return to_b[surface_a], to_a[surface_b]


def mean_surface_distance_mm(
    a: NDArray[np.bool_], b: NDArray[np.bool_], spacing_kji: Spacing
) -> float:
    """Average symmetric surface distance (mm) between the boundaries of two masks."""
    a_to_b, b_to_a = surface_distances_mm(a, b, spacing_kji)
    return float((a_to_b.sum() + b_to_a.sum()) / (a_to_b.size + b_to_a.size))


def hausdorff_95_mm(a: NDArray[np.bool_], b: NDArray[np.bool_], spacing_kji: Spacing) -> float:
    """95th percentile of the symmetric surface distances (mm)."""
    a_to_b, b_to_a = surface_distances_mm(a, b, spacing_kji)
    return float(np.percentile(np.concatenate([a_to_b, b_to_a]), 95.0))


def mask_volume_ml(mask: NDArray[np.bool_], geometry: Geometry) -> float:
    """Volume of ``mask`` in millilitres (voxel count times voxel volume)."""
    return int(np.count_nonzero(mask)) * geometry.voxel_volume_mm3 / 1000.0


def max_diameter_mm(mask: NDArray[np.bool_], geometry: Geometry) -> float:
    """Largest extent of ``mask`` (mm), as a radiologist measures a lesion.

    The two farthest boundary voxel centres are found on their convex hull; the
    voxel's own length along that direction is added, because an object's edge
    lies on average half a voxel beyond its outermost voxel centres at each
    end. Returns 0.0 for an empty mask.
    """
    if mask.shape != geometry.shape:
        raise InvalidParameterError(
            f"mask shape {mask.shape} does not match the geometry {geometry.shape}."
        )
    k, j, i = np.nonzero(surface_voxels(mask))
    if k.size == 0:
        return 0.0
    points = geometry.index_to_lps(np.stack([i, j, k], axis=1).astype(np.float64))
    if points.shape[0] > 4:
        # Joggled input gives a hull also for flat (single-slice) masks; with fewer
        # than four distinct points all of them are measured directly.
        with contextlib.suppress(QhullError):
            points = points[ConvexHull(points, qhull_options="QJ").vertices]
    best_squared, best_pair = -1.0, (0, 0)
    for start in range(0, points.shape[0], _PAIR_BLOCK):
        block = points[start : start + _PAIR_BLOCK]
        squared = ((block[:, np.newaxis, :] - points[np.newaxis, :, :]) ** 2).sum(axis=2)
        row, column = np.unravel_index(int(np.argmax(squared)), squared.shape)
        if squared[row, column] > best_squared:
            best_squared, best_pair = float(squared[row, column]), (start + row, column)
    length = float(np.sqrt(best_squared))
    if length == 0.0:
        return float(geometry.spacing_mm.min())
    direction_lps = (points[best_pair[0]] - points[best_pair[1]]) / length
    unit_ijk = geometry.direction.T @ direction_lps
    return length + float(np.abs(unit_ijk) @ geometry.spacing_mm)


@dataclass(frozen=True)
class RecistAxes:
    """The lesion's RECIST long and short axes, measured on one acquisition slice.

    Attributes
    ----------
    long_mm : float
        Longest in-slice diameter over all slices (RECIST 1.1 target-lesion size).
    short_mm : float
        Longest diameter perpendicular to the long axis on the same slice (the
        size RECIST uses for lymph nodes, and the second WHO diameter).
    slice_index : int
        The slice ``k`` both axes lie on.
    long_end_points_lps_mm, short_end_points_lps_mm : ndarray
        ``(2, 3)`` end points of each axis, LPS mm (voxel centres on the boundary).
    """

    long_mm: float
    short_mm: float
    slice_index: int
    long_end_points_lps_mm: NDArray[np.float64]
    short_end_points_lps_mm: NDArray[np.float64]


def _farthest_pair(points: NDArray[np.float64]) -> tuple[int, int, float]:
    """Indices and distance of the two farthest points (checked on their 2-D hull)."""
    candidates = np.arange(points.shape[0])
    if points.shape[0] > 3:
        with contextlib.suppress(QhullError):
            candidates = ConvexHull(points, qhull_options="QJ").vertices
    hull = points[candidates]
    squared = ((hull[:, np.newaxis, :] - hull[np.newaxis, :, :]) ** 2).sum(axis=2)
    row, column = np.unravel_index(int(np.argmax(squared)), squared.shape)
    return int(candidates[row]), int(candidates[column]), float(np.sqrt(squared[row, column]))


def recist_axes(mask: NDArray[np.bool_], geometry: Geometry) -> RecistAxes | None:
    """RECIST long and short axes of ``mask``, measured in its acquisition slices.

    The long axis is the longest in-slice distance between boundary voxel
    centres over all slices ``k`` (a radiologist measures on the axial slice
    where the lesion is longest). The short axis is the longest chord of the
    same slice perpendicular to it: voxel centres are binned by their position
    along the long axis (one in-plane voxel wide) and the widest bin's extent
    across the axis is taken. Both get one voxel length along their direction,
    as in :func:`max_diameter_mm` (edges lie half a voxel beyond the outermost
    centres). Returns ``None`` for an empty mask.
    """
    if mask.shape != geometry.shape:
        raise InvalidParameterError(
            f"mask shape {mask.shape} does not match the geometry {geometry.shape}."
        )
    slices = np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))
    if slices.size == 0:
        return None
    spacing_i, spacing_j = float(geometry.spacing_mm[0]), float(geometry.spacing_mm[1])

    def in_plane_mm(slice_mask: NDArray[np.bool_]) -> NDArray[np.float64]:
        j, i = np.nonzero(slice_mask)
        return np.stack([i * spacing_i, j * spacing_j], axis=1).astype(np.float64)

    best = (-1.0, 0, np.zeros((2, 2)))
    for k in slices:
        edge_mm = in_plane_mm(surface_voxels(mask[k][np.newaxis])[0])
        first, second, length = _farthest_pair(edge_mm)
        if length > best[0]:
            best = (length, int(k), edge_mm[[first, second]])
    length, k, (start_mm, stop_mm) = best
    plane_mm = in_plane_mm(mask[k])
    along = (stop_mm - start_mm) / length if length > 0.0 else np.array([1.0, 0.0])
    across = np.array([-along[1], along[0]])
    # One voxel length along each direction: the edge lies half a voxel beyond each end.
    voxel = np.array([spacing_i, spacing_j])
    long_mm = length + float(np.abs(along) @ voxel)
    position = (plane_mm - start_mm) @ along
    offset = (plane_mm - start_mm) @ across
    bins = np.floor(position / min(spacing_i, spacing_j)).astype(np.int64)
    order = np.argsort(bins, kind="stable")
    bins, offset, plane_sorted = bins[order], offset[order], plane_mm[order]
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    lows = np.minimum.reduceat(offset, starts)
    highs = np.maximum.reduceat(offset, starts)
    widest = int(np.argmax(highs - lows))
    short_mm = float(highs[widest] - lows[widest]) + float(np.abs(across) @ voxel)
    segment = slice(starts[widest], starts[widest + 1] if widest + 1 < starts.size else None)
    chord_points, chord_offset = plane_sorted[segment], offset[segment]
    short_ends = chord_points[[int(np.argmin(chord_offset)), int(np.argmax(chord_offset))]]

    def to_lps(points_mm: NDArray[np.float64]) -> NDArray[np.float64]:
        ijk = np.column_stack(
            [points_mm[:, 0] / spacing_i, points_mm[:, 1] / spacing_j, np.full(len(points_mm), k)]
        )
        return geometry.index_to_lps(ijk)

    return RecistAxes(
        long_mm=long_mm,
        short_mm=min(short_mm, long_mm),
        slice_index=k,
        long_end_points_lps_mm=to_lps(np.stack([start_mm, stop_mm])),
        short_end_points_lps_mm=to_lps(short_ends),
    )
