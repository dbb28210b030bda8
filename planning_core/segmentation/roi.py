"""Regions of interest: index boxes that let segmentation work on a crop.

Heavy filters run on a box around the seed, never on a whole 512×512×150
study; the result is pasted back onto the full grid. A box is half-open,
``start <= index < stop`` per numpy axis ``k, j, i``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry


@dataclass(frozen=True)
class Roi:
    """An index box ``[start_kji, stop_kji)`` inside a grid of ``grid_shape``."""

    start_kji: tuple[int, int, int]
    stop_kji: tuple[int, int, int]
    grid_shape: tuple[int, int, int]

    def __post_init__(self) -> None:
        for start, stop, size in zip(self.start_kji, self.stop_kji, self.grid_shape, strict=True):
            if not 0 <= start < stop <= size:
                raise InvalidParameterError(
                    f"region of interest {self.start_kji}..{self.stop_kji} does not fit "
                    f"the grid {self.grid_shape}."
                )

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        k, j, i = (slice(a, b) for a, b in zip(self.start_kji, self.stop_kji, strict=True))
        return k, j, i

    @property
    def shape(self) -> tuple[int, int, int]:
        k, j, i = (b - a for a, b in zip(self.start_kji, self.stop_kji, strict=True))
        return k, j, i

    @property
    def is_whole_grid(self) -> bool:
        return self.start_kji == (0, 0, 0) and self.stop_kji == self.grid_shape

    def geometry(self, full: Geometry) -> Geometry:
        """The geometry of the cropped grid."""
        return full.cropped(self.start_kji, self.shape)

    def crop(self, array: NDArray[np.generic]) -> NDArray[np.generic]:
        """A view of ``array`` (on the full grid) inside the box."""
        return array[self.slices]

    def to_local_kji(self, index_kji: tuple[int, int, int]) -> tuple[int, int, int]:
        k, j, i = (int(v) - a for v, a in zip(index_kji, self.start_kji, strict=True))
        return k, j, i

    def paste(self, local_mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """A full-grid mask holding ``local_mask`` inside the box, False elsewhere."""
        full = np.zeros(self.grid_shape, dtype=bool)
        full[self.slices] = local_mask
        return full

    def open_faces_touched(self, local_mask: NDArray[np.bool_]) -> list[str]:
        """Box faces that ``local_mask`` touches where the box could still grow.

        A face that is also the grid border is not reported: there the
        structure is cut by the scan, not by the box.
        """
        touched = []
        for axis, name in enumerate("kji"):
            low = [slice(None)] * 3
            low[axis] = slice(0, 1)
            high = [slice(None)] * 3
            high[axis] = slice(-1, None)
            if self.start_kji[axis] > 0 and local_mask[tuple(low)].any():
                touched.append(f"-{name}")
            if self.stop_kji[axis] < self.grid_shape[axis] and local_mask[tuple(high)].any():
                touched.append(f"+{name}")
        return touched

    def grid_faces_touched(self, local_mask: NDArray[np.bool_]) -> list[str]:
        """Grid border faces (first/last slice, row, column) that ``local_mask`` reaches."""
        touched = []
        for axis, name in enumerate("kji"):
            low = [slice(None)] * 3
            low[axis] = slice(0, 1)
            high = [slice(None)] * 3
            high[axis] = slice(-1, None)
            if self.start_kji[axis] == 0 and local_mask[tuple(low)].any():
                touched.append(f"-{name}")
            if self.stop_kji[axis] == self.grid_shape[axis] and local_mask[tuple(high)].any():
                touched.append(f"+{name}")
        return touched


def roi_around(geometry: Geometry, center_ijk: ArrayLike, half_size_mm: float) -> Roi:
    """The box of half-width ``half_size_mm`` (per axis, in mm) centred on a voxel index.

    Parameters
    ----------
    geometry : Geometry
        The full grid.
    center_ijk : array_like
        Centre as (i, j, k), possibly fractional; must lie inside the grid.
    half_size_mm : float
        Half of the box edge in mm; converted per axis with the voxel size.
    """
    if not np.isfinite(half_size_mm) or half_size_mm <= 0:
        raise InvalidParameterError(f"half_size_mm must be positive, got {half_size_mm!r}.")
    center = np.asarray(center_ijk, dtype=np.float64).reshape(3)
    if not geometry.contains_index(np.rint(center)):
        raise InvalidParameterError(
            f"the box centre (i, j, k) = {np.round(center, 2).tolist()} lies outside the grid "
            f"{geometry.size_ijk}."
        )
    reach_ijk = np.ceil(half_size_mm / geometry.spacing_mm).astype(int)
    size_ijk = np.asarray(geometry.size_ijk)
    rounded = np.rint(center).astype(int)
    start_ijk = np.maximum(rounded - reach_ijk, 0)
    stop_ijk = np.minimum(rounded + reach_ijk + 1, size_ijk)
    return Roi(
        (int(start_ijk[2]), int(start_ijk[1]), int(start_ijk[0])),
        (int(stop_ijk[2]), int(stop_ijk[1]), int(stop_ijk[0])),
        geometry.shape,
    )


def roi_from_corners(
    geometry: Geometry, corner_a_lps_mm: ArrayLike, corner_b_lps_mm: ArrayLike, *, margin_mm: float
) -> Roi:
    """The index box holding two opposite LPS corners, widened by ``margin_mm``.

    Raises
    ------
    InvalidParameterError
        When the box does not overlap the grid.
    """
    corners = np.array([corner_a_lps_mm, corner_b_lps_mm], dtype=np.float64).reshape(2, 3)
    # An oblique grid turns the LPS box into a rotated one: take all eight corners.
    lows, highs = corners.min(axis=0), corners.max(axis=0)
    eight = np.stack(np.meshgrid(*zip(lows, highs, strict=True), indexing="ij"), axis=-1).reshape(
        -1, 3
    )
    ijk = geometry.lps_to_index(eight)
    margin_ijk = margin_mm / geometry.spacing_mm
    start_ijk = np.floor(ijk.min(axis=0) - margin_ijk).astype(int)
    stop_ijk = np.ceil(ijk.max(axis=0) + margin_ijk).astype(int) + 1
    size_ijk = np.asarray(geometry.size_ijk)
    start_ijk = np.maximum(start_ijk, 0)
    stop_ijk = np.minimum(stop_ijk, size_ijk)
    if np.any(stop_ijk <= start_ijk):
        raise InvalidParameterError(
            f"the box {corners.round(1).tolist()} mm (LPS) does not overlap the image."
        )
    return Roi(
        (int(start_ijk[2]), int(start_ijk[1]), int(start_ijk[0])),
        (int(stop_ijk[2]), int(stop_ijk[1]), int(stop_ijk[0])),
        geometry.shape,
    )
