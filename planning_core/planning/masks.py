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
