"""Isotherm contours on a view plane, and the ablative margin at points of the tumor surface.

Both work on a :class:`~cryoplan_app.model.plan_state.TemperatureField` on its
own grid (no resampling of the whole field onto the image): the contours
sample the field on the shown plane only, the margin map computes a signed
distance on the field grid. numpy/scipy/scikit-image only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage
from skimage import measure

from cryoplan_app.model.plan_state import TemperatureField
from planning_core.errors import InvalidParameterError

# Where the field has no data, the tissue is at body temperature (warmer than any isotherm).
_OUTSIDE_C = 37.0


def plane_contours(
    field: TemperatureField,
    levels_c: Sequence[float],
    *,
    origin_lps: ArrayLike,
    right_lps: ArrayLike,
    up_lps: ArrayLike,
    step_mm: float | None = None,
) -> dict[float, list[NDArray[np.float64]]]:
    """Isotherm lines where the plane through ``origin_lps`` cuts the field.

    Parameters
    ----------
    field : TemperatureField
        Lowest-temperature field on its grid.
    levels_c : sequence of float
        Isotherms (°C).
    origin_lps, right_lps, up_lps : array_like
        A point of the plane and two orthonormal in-plane directions (LPS).
    step_mm : float, optional
        Sampling step on the plane; half the field's smallest spacing by default.

    Returns
    -------
    dict
        Per level, a list of polylines, each ``(n, 3)`` LPS points; a closed
        line repeats its first point at its end.
    """
    origin = np.asarray(origin_lps, dtype=np.float64).reshape(3)
    right = np.asarray(right_lps, dtype=np.float64).reshape(3)
    up = np.asarray(up_lps, dtype=np.float64).reshape(3)
    geometry = field.geometry
    step = float(step_mm) if step_mm is not None else 0.5 * float(np.min(geometry.spacing_mm))
    if not step > 0:
        raise InvalidParameterError(f"step_mm must be positive, got {step_mm}.")
    corners = geometry.corners_lps() - origin
    normal = np.cross(right, up)
    depths = corners @ normal
    if depths.min() > 0 or depths.max() < 0:
        return {float(level): [] for level in levels_c}  # the plane misses the field
    along_right, along_up = corners @ right, corners @ up
    # One sample of margin around the box, so lines close where the ice reaches its edge.
    r_values = np.arange(along_right.min() - step, along_right.max() + 2 * step, step)
    u_values = np.arange(along_up.min() - step, along_up.max() + 2 * step, step)
    u_grid, r_grid = np.meshgrid(u_values, r_values, indexing="ij")
    points = origin + r_grid[..., None] * right + u_grid[..., None] * up
    ijk = geometry.lps_to_index(points.reshape(-1, 3))
    sampled = ndimage.map_coordinates(
        field.min_temperature_c,
        ijk[:, ::-1].T,
        order=1,
        mode="constant",
        cval=_OUTSIDE_C,
        output=np.float32,
    ).reshape(r_grid.shape)
    contours: dict[float, list[NDArray[np.float64]]] = {}
    for level in levels_c:
        lines = []
        if sampled.min() <= level:
            for rows_columns in measure.find_contours(sampled, level):
                u = u_values[0] + rows_columns[:, 0] * step
                r = r_values[0] + rows_columns[:, 1] * step
                lines.append(origin + r[:, None] * right + u[:, None] * up)
        contours[float(level)] = lines
    return contours


def signed_margin_mm(
    field: TemperatureField, lethal_c: float, points_lps: ArrayLike
) -> NDArray[np.float64]:
    """Signed distance (mm) from each point to the lethal isotherm surface.

    Positive inside the lethal zone (the margin by which the point is covered),
    negative outside it (how far the zone falls short). Computed with exact
    Euclidean distance transforms on the field grid, so accurate to about half
    a field voxel. Points beyond the field's box get the value at its edge,
    which understates how far they lie outside the zone.

    Parameters
    ----------
    field : TemperatureField
        Lowest-temperature field.
    lethal_c : float
        The lethal isotherm (°C).
    points_lps : array_like, shape (n, 3)
        Points, typically the vertices of the tumor surface.
    """
    points = np.asarray(points_lps, dtype=np.float64).reshape(-1, 3)
    geometry = field.geometry
    lethal = field.min_temperature_c <= lethal_c
    spacing = geometry.spacing_mm[::-1]  # numpy axis order (k, j, i)
    # Pad with live tissue so that the zone's boundary never coincides with the box edge.
    padded = np.pad(lethal, 1)
    inside = ndimage.distance_transform_edt(padded, sampling=spacing)
    outside = ndimage.distance_transform_edt(~padded, sampling=spacing)
    # Each transform measures to the nearest voxel centre of the other class; the
    # isotherm lies between the two centres, half a voxel from each on average.
    half_voxel = 0.5 * float(np.min(geometry.spacing_mm))
    signed = np.where(padded, inside - half_voxel, half_voxel - outside)
    ijk = geometry.lps_to_index(points) + 1.0  # the padding shifted every index by one
    return ndimage.map_coordinates(signed, ijk[:, ::-1].T, order=1, mode="nearest")
