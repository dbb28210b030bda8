"""Trilinear resampling of a scalar field (a temperature map) from its grid onto another grid."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry


def resample_field(
    values: NDArray[np.floating],
    source: Geometry,
    target: Geometry,
    *,
    fill_value: float,
) -> NDArray[np.float32]:
    """Values of a field on ``source`` at the voxel centres of ``target``, trilinearly.

    Only the part of ``target`` that overlaps ``source`` is interpolated; the rest
    takes ``fill_value`` (for a temperature field around probes: body temperature).

    Parameters
    ----------
    values : ndarray
        ``[k, j, i]`` field on ``source``.
    source, target : Geometry
        The field's grid and the grid to sample it on (any orientation).
    fill_value : float
        Value outside ``source``.

    Returns
    -------
    ndarray of float32
        ``[k, j, i]`` on ``target``.
    """
    if values.shape != source.shape:
        raise InvalidParameterError(
            f"field shape {values.shape} does not match its geometry {source.shape}."
        )
    if target.matches(source):
        return np.asarray(values, dtype=np.float32).copy()
    result = np.full(target.shape, fill_value, dtype=np.float32)
    # Corners of the source box (voxel centres widened by half a voxel), in target indices.
    ni, nj, nk = source.size_ijk
    corners = np.array(
        [[i, j, k] for i in (-0.5, ni - 0.5) for j in (-0.5, nj - 0.5) for k in (-0.5, nk - 0.5)]
    )
    in_target = target.lps_to_index(source.index_to_lps(corners))
    lower = np.maximum(np.floor(in_target.min(axis=0)).astype(int), 0)
    upper = np.minimum(np.ceil(in_target.max(axis=0)).astype(int) + 1, target.size_ijk)
    if np.any(upper <= lower):
        return result
    source_values = np.asarray(values, dtype=np.float32)
    i, j = np.meshgrid(np.arange(lower[0], upper[0]), np.arange(lower[1], upper[1]), indexing="xy")
    for k in range(lower[2], upper[2]):
        ijk = np.stack([i, j, np.full_like(i, k)], axis=-1).astype(np.float64)
        source_ijk = source.lps_to_index(target.index_to_lps(ijk))
        sampled = ndimage.map_coordinates(
            source_values,
            [source_ijk[..., 2], source_ijk[..., 1], source_ijk[..., 0]],
            order=1,
            mode="nearest",
        )
        # Within half a voxel of the outermost centres the edge value holds; beyond, the
        # field is unknown and takes the fill value.
        outside = np.any(
            (source_ijk < -0.5) | (source_ijk > np.asarray(source.size_ijk) - 0.5), axis=-1
        )
        sampled[outside] = fill_value
        result[k, lower[1] : upper[1], lower[0] : upper[0]] = sampled
    return result
