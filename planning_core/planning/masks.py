"""Small helpers on boolean voxel masks."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def bounding_box(mask: NDArray[np.bool_], pad_voxels: ArrayLike = 0) -> tuple[slice, ...] | None:
    """Slices of the smallest box holding ``mask``, grown by ``pad_voxels`` and clipped.

    Parameters
    ----------
    mask : ndarray of bool
        Any-dimensional mask.
    pad_voxels : int or array_like of int
        Growth per axis (one number for all axes).

    Returns
    -------
    tuple of slice or None
        ``None`` when the mask is empty.
    """
    pads = np.broadcast_to(np.asarray(pad_voxels, dtype=np.int64), (mask.ndim,))
    box = []
    for axis, (pad, size) in enumerate(zip(pads, mask.shape, strict=True)):
        # Projections are much faster than np.nonzero on large grids.
        others = tuple(a for a in range(mask.ndim) if a != axis)
        present = np.flatnonzero(np.any(mask, axis=others))
        if len(present) == 0:
            return None
        box.append(slice(max(int(present[0]) - int(pad), 0), min(int(present[-1]) + pad + 1, size)))
    return tuple(box)


def cross_step(
    mask: NDArray[np.bool_],
    *,
    erode: bool,
    axes: tuple[int, ...] = (0, 1, 2),
    border_value: bool = False,
) -> NDArray[np.bool_]:
    """One erosion or dilation of a 3-D ``mask`` by the cross of face neighbours along ``axes``.

    The same as ``scipy.ndimage.binary_erosion`` / ``binary_dilation`` with that
    structure (``border_value``: what lies outside the array, for the erosion), from
    shifted views: scipy's general loop took half a second per pass on a 448 x 448 x 104 CT.
    """
    result = mask.copy()
    combine = np.logical_and if erode else np.logical_or
    for axis in axes:
        ahead = tuple(slice(1, None) if a == axis else slice(None) for a in range(3))
        behind = tuple(slice(None, -1) if a == axis else slice(None) for a in range(3))
        combine(result[ahead], mask[behind], out=result[ahead])
        combine(result[behind], mask[ahead], out=result[behind])
        if erode and not border_value:  # a voxel on the edge has a background neighbour
            for index in (0, -1):
                result[tuple(index if a == axis else slice(None) for a in range(3))] = False
    return result
