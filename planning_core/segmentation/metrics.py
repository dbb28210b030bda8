"""Size and agreement measures of binary masks, in physical units.

``dice`` and ``mean_surface_distance_mm`` compare a segmentation with a
reference; ``max_diameter_mm`` and ``mask_volume_ml`` describe one mask.
"""

from __future__ import annotations

import contextlib

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
