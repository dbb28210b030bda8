"""Carrying out a :class:`StackLayout` that needs interpolation (tilt, irregular spacing).

Each acquired slice is first moved onto the output grid's in-plane lattice (a
pure translation for a sheared stack, linear interpolation), then every output
plane is interpolated linearly between the two acquired slices around it.
Linear interpolation keeps values within the range of their neighbours, so no
new extremes appear.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.imaging.dicom.stack import StackLayout
from planning_core.progress import CancelToken

#: Interpolation weights closer than this to 0 or 1 copy the slice unchanged.
_WEIGHT_EPSILON = 1e-6


def resample_stack(
    slices: NDArray[np.float32],
    layout: StackLayout,
    *,
    cancel: CancelToken | None = None,
) -> NDArray[np.float32]:
    """Interpolate acquired slices onto ``layout.geometry``.

    Parameters
    ----------
    slices : ndarray, shape (n, rows, columns)
        Modality values of the acquired frames, in ``layout.frames`` order.
    layout : StackLayout
        The plan from :func:`planning_core.imaging.dicom.stack.plan_stack`.
    cancel : CancelToken, optional
        Checked between output planes.

    Returns
    -------
    ndarray, float32, shape ``layout.geometry.shape``
        Pixels outside every acquired slice (the widened margin of a tilted
        stack) hold the lowest value of ``slices``.
    """
    planes, rows, columns = layout.geometry.shape
    fill = float(np.min(slices))
    source_k = layout.source_k
    placed: dict[int, NDArray[np.float32]] = {}

    def on_grid(index: int) -> NDArray[np.float32]:
        if index not in placed:
            if len(placed) > 2:
                placed.pop(min(placed))
            placed[index] = (
                _shift_into_grid(
                    slices[index], layout.source_offset_ij[index], (rows, columns), fill
                )
                if layout.needs_shift
                else slices[index]
            )
        return placed[index]

    result = np.empty((planes, rows, columns), dtype=np.float32)
    last = len(source_k) - 2
    for k in range(planes):
        if cancel is not None:
            cancel.raise_if_cancelled()
        below = min(max(int(np.searchsorted(source_k, k, side="right")) - 1, 0), last)
        weight = (k - source_k[below]) / (source_k[below + 1] - source_k[below])
        if weight <= _WEIGHT_EPSILON:
            result[k] = on_grid(below)
        elif weight >= 1.0 - _WEIGHT_EPSILON:
            result[k] = on_grid(below + 1)
        else:
            result[k] = (1.0 - weight) * on_grid(below) + weight * on_grid(below + 1)
    return result


def _shift_into_grid(
    image: NDArray[np.float32], offset_ij: NDArray[np.float64], shape: tuple[int, int], fill: float
) -> NDArray[np.float32]:
    """Place ``image`` whose first pixel sits at continuous grid index ``offset_ij``."""
    offset_i, offset_j = float(offset_ij[0]), float(offset_ij[1])
    return ndimage.affine_transform(
        image,
        np.ones(2),
        offset=(-offset_j, -offset_i),
        output_shape=shape,
        order=1,
        mode="constant",
        cval=fill,
    ).astype(np.float32, copy=False)
