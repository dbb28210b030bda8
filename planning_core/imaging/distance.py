"""Euclidean distance transforms in millimetres, for the transforms planning runs on whole CTs.

The clearance zones of the organs and the hazards found on the CT are distance
transforms over boxes of up to ten million voxels (a 0.8 mm abdomen). The ``edt``
library computes them about five times faster than ``scipy.ndimage`` (9 M
voxels: 0.36 s against 1.9 s on one core) with the same distances to float32
precision. scipy stays where the nearest voxel itself is wanted
(``return_indices``, which ``edt`` does not give) and where a threshold on the
distance decides the plan's figures (the tumor + margin zone of the metrics and
the optimizer): at the margin's edge float32 rounding moves single voxels in or
out, and the optimizer's search, sensitive to them, then took another path on
the breast sample (a plan 0.1 mm short of margin there instead of passing).
"""

from __future__ import annotations

import edt
import numpy as np
from numpy.typing import NDArray


def distance_to_background_mm(
    foreground: NDArray[np.bool_],
    *,
    spacing_mm: tuple[float, ...] | NDArray[np.float64],
    threads: int = 1,
) -> NDArray[np.float32]:
    """Distance (mm) from each foreground voxel centre to the nearest background voxel centre.

    Parameters
    ----------
    foreground : ndarray of bool, 2-D or 3-D
        Voxels whose distance is measured; background voxels get 0.
    spacing_mm : sequence of float
        Voxel spacing per array axis (``k, j, i`` order for a volume).
    threads : int
        Threads the transform may use (its passes along an axis split between them).

    Returns
    -------
    ndarray of float32
        Same shape as ``foreground``. The array's edge is not background: with no
        background voxel at all, every distance is infinite.
    """
    spacing = tuple(float(s) for s in spacing_mm)
    if len(spacing) != foreground.ndim:
        raise ValueError(f"spacing_mm has {len(spacing)} values for a {foreground.ndim}-D mask")
    mask = np.ascontiguousarray(foreground, dtype=np.uint8)
    return edt.edt(mask, anisotropy=spacing, black_border=False, parallel=max(1, int(threads)))
