"""Binary morphology measured in millimetres on anisotropic voxel grids.

Every radius here is a physical distance: a voxel belongs to the dilation of a
mask by ``r`` mm when the Euclidean distance between its centre and the centre
of the nearest mask voxel is at most ``r``, with each axis scaled by its voxel
size. Distances come from exact Euclidean distance transforms computed on the
bounding box of the mask padded by the radius, so the cost follows the
structure, not the whole volume. SimpleITK's Maurer transform does the work: for
a voxel outside a mask the nearest mask voxel is a boundary voxel, so its
outside distances are the exact Euclidean ones, and it is several times faster
than scipy's on whole-body grids.

Voxels outside the grid are *unknown*, not background: eroding a mask that
touches the grid border does not peel it from that border (a body cut by the
first slice of a scan is not skin there).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.errors import InvalidParameterError

Spacing = tuple[float, float, float]

#: Distances are single precision inside SimpleITK: a voxel exactly at the radius
#: (2.0 mm from a 1 mm grid) must not fall out by rounding.
DISTANCE_TOLERANCE_MM = 1e-4

#: Face connectivity (6 neighbours): a diagonal contact is not a connection, which
#: keeps leaks through single voxels apart.
FACE_CONNECTIVITY = ndimage.generate_binary_structure(3, 1)


def _check_radius(radius_mm: float, name: str) -> float:
    radius = float(radius_mm)
    if not np.isfinite(radius) or radius < 0.0:
        raise InvalidParameterError(f"{name} must be a finite distance >= 0 mm, got {radius_mm!r}.")
    return radius


def padded_box(
    mask: NDArray[np.bool_], pad_voxels: NDArray[np.int64]
) -> tuple[slice, slice, slice] | None:
    """Bounding box of ``mask`` grown by ``pad_voxels`` per axis and clipped to the grid.

    ``None`` for an empty mask.
    """
    if not mask.any():
        return None
    box = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        present = np.flatnonzero(mask.any(axis=other))
        start = max(int(present[0]) - int(pad_voxels[axis]), 0)
        stop = min(int(present[-1]) + 1 + int(pad_voxels[axis]), mask.shape[axis])
        box.append(slice(start, stop))
    return box[0], box[1], box[2]


def _pad_for(radius_mm: float, spacing_kji: Spacing) -> NDArray[np.int64]:
    return np.ceil(radius_mm / np.asarray(spacing_kji)).astype(np.int64) + 1


def _outside_distance(mask: NDArray[np.bool_], spacing_kji: Spacing) -> NDArray[np.float64]:
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    image.SetSpacing(tuple(float(s) for s in reversed(spacing_kji)))
    distance = sitk.SignedMaurerDistanceMap(
        image, insideIsPositive=False, squaredDistance=False, useImageSpacing=True
    )
    return np.maximum(sitk.GetArrayFromImage(distance).astype(np.float64), 0.0)


def distance_to_mask_mm(
    mask: NDArray[np.bool_], spacing_kji: Spacing, *, within_mm: float
) -> NDArray[np.float64]:
    """Distance (mm) from each voxel centre to the nearest voxel of ``mask``.

    Only distances up to ``within_mm`` are exact; farther voxels get ``inf``.
    """
    within = _check_radius(within_mm, "within_mm")
    distance = np.full(mask.shape, np.inf)
    box = padded_box(mask, _pad_for(within, spacing_kji))
    if box is None:
        return distance
    local = _outside_distance(mask[box], spacing_kji)
    local[local > within + DISTANCE_TOLERANCE_MM] = np.inf
    distance[box] = local
    return distance


def dilate_mm(mask: NDArray[np.bool_], radius_mm: float, spacing_kji: Spacing) -> NDArray[np.bool_]:
    """Voxels within ``radius_mm`` of ``mask`` (exact Euclidean dilation)."""
    radius = _check_radius(radius_mm, "radius_mm")
    if radius == 0.0:
        return mask.copy()
    distance = distance_to_mask_mm(mask, spacing_kji, within_mm=radius)
    return distance <= radius + DISTANCE_TOLERANCE_MM


def erode_mm(mask: NDArray[np.bool_], radius_mm: float, spacing_kji: Spacing) -> NDArray[np.bool_]:
    """Voxels of ``mask`` farther than ``radius_mm`` from any background voxel in the grid."""
    radius = _check_radius(radius_mm, "radius_mm")
    if radius == 0.0:
        return mask.copy()
    background = ~mask
    if not background.any():
        return mask.copy()
    distance = distance_to_mask_mm(background, spacing_kji, within_mm=radius)
    return mask & (distance > radius + DISTANCE_TOLERANCE_MM)


def open_mm(mask: NDArray[np.bool_], radius_mm: float, spacing_kji: Spacing) -> NDArray[np.bool_]:
    """Morphological opening: removes parts thinner than ``2 * radius_mm``."""
    return dilate_mm(erode_mm(mask, radius_mm, spacing_kji), radius_mm, spacing_kji) & mask


def close_mm(mask: NDArray[np.bool_], radius_mm: float, spacing_kji: Spacing) -> NDArray[np.bool_]:
    """Morphological closing: bridges gaps narrower than ``2 * radius_mm``."""
    return erode_mm(dilate_mm(mask, radius_mm, spacing_kji), radius_mm, spacing_kji) | mask


def inside_distance_mm(mask: NDArray[np.bool_], spacing_kji: Spacing) -> NDArray[np.float64]:
    """Distance (mm) from each mask voxel to the nearest background voxel; 0 outside.

    When ``mask`` has no background voxel in the grid, the distance to the
    grid border is used, so the result stays finite.
    """
    if mask.all():
        padded = np.pad(mask, 1, constant_values=False)
        return ndimage.distance_transform_edt(padded, sampling=spacing_kji)[1:-1, 1:-1, 1:-1]
    return ndimage.distance_transform_edt(mask, sampling=spacing_kji)


def ball_offsets(radius_mm: float, spacing_kji: Spacing) -> NDArray[np.int64]:
    """Integer ``(dk, dj, di)`` offsets of the voxels within ``radius_mm`` of a centre voxel."""
    radius = _check_radius(radius_mm, "radius_mm")
    reach = np.floor(radius / np.asarray(spacing_kji)).astype(int)
    grids = np.meshgrid(*(np.arange(-r, r + 1) for r in reach), indexing="ij")
    offsets = np.stack([g.reshape(-1) for g in grids], axis=1)
    squared_mm = ((offsets * np.asarray(spacing_kji)) ** 2).sum(axis=1)
    return offsets[squared_mm <= radius * radius + 1e-9]


def component_containing(
    mask: NDArray[np.bool_], index_kji: tuple[int, int, int]
) -> NDArray[np.bool_]:
    """The face-connected component of ``mask`` holding ``index_kji`` (empty if none)."""
    if not mask[index_kji]:
        return np.zeros_like(mask)
    labels, _ = ndimage.label(mask, structure=FACE_CONNECTIVITY)
    return labels == labels[index_kji]


def largest_component(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The largest face-connected component of ``mask`` (empty for an empty mask)."""
    labels, count = ndimage.label(mask, structure=FACE_CONNECTIVITY)
    if count == 0:
        return np.zeros_like(mask)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def remove_small_components(mask: NDArray[np.bool_], min_voxels: int) -> NDArray[np.bool_]:
    """``mask`` without the face-connected components smaller than ``min_voxels``."""
    labels, count = ndimage.label(mask, structure=FACE_CONNECTIVITY)
    if count == 0:
        return np.zeros_like(mask)
    sizes = np.bincount(labels.ravel())
    keep = sizes >= int(min_voxels)
    keep[0] = False
    return keep[labels]


def fill_holes_3d(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Fill cavities that no face-connected path links to the grid border."""
    return ndimage.binary_fill_holes(mask, structure=FACE_CONNECTIVITY)


def fill_holes_per_slice(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Fill holes in each axial ``k`` slice separately.

    Lungs and bowel gas reach the scan's first or last slice, so they are not
    3-D holes of the body; in every axial slice they are enclosed.
    """
    filled = np.empty_like(mask)
    for k in range(mask.shape[0]):
        filled[k] = ndimage.binary_fill_holes(mask[k])
    return filled


def surface_voxels(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Mask voxels with at least one face neighbour outside the mask (or the grid)."""
    padded = np.pad(mask, 1, constant_values=False)
    interior = ndimage.binary_erosion(padded, structure=FACE_CONNECTIVITY)[1:-1, 1:-1, 1:-1]
    return mask & ~interior
