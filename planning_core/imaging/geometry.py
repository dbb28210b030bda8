"""Voxel grid geometry in patient LPS millimetres.

Conventions (as in DICOM and ITK):

* ``ijk`` is a voxel index, ``i`` along columns (fastest), ``k`` along slices.
  numpy arrays are indexed ``[k, j, i]``; ``shape`` is therefore ``(nk, nj, ni)``.
* ``lps`` is a patient coordinate in mm: +x Left, +y Posterior, +z Superior.
* ``direction`` is a 3x3 matrix whose *columns* are the unit vectors of the
  i, j and k axes in LPS, so ``lps = origin + direction @ (spacing * ijk)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from planning_core.errors import GeometryMismatchError, InvalidParameterError

#: Two geometries closer than this (mm, and unitless for direction cosines) are equal.
GEOMETRY_TOLERANCE_MM = 1e-4


def _as_vector3(value: ArrayLike, name: str) -> NDArray[np.float64]:
    vector = np.asarray(value, dtype=np.float64).reshape(-1)
    if vector.shape != (3,) or not np.all(np.isfinite(vector)):
        raise InvalidParameterError(f"{name} must be three finite numbers, got {value!r}.")
    return vector


@dataclass(frozen=True, eq=False)
class Geometry:
    """Placement of a ``[k, j, i]`` voxel grid in patient space.

    Parameters
    ----------
    shape : tuple of int
        Grid size as numpy sees it, ``(nk, nj, ni)``.
    spacing_mm : array_like
        Voxel size along i, j, k in mm.
    origin_lps_mm : array_like
        LPS position of the centre of voxel ``(0, 0, 0)``.
    direction : array_like, optional
        3x3 matrix whose columns are the i, j, k axis directions in LPS.
        Identity by default. Must be orthonormal.
    """

    shape: tuple[int, int, int]
    spacing_mm: NDArray[np.float64]
    origin_lps_mm: NDArray[np.float64]
    direction: NDArray[np.float64] = field(default_factory=lambda: np.eye(3))

    def __post_init__(self) -> None:
        shape = tuple(int(n) for n in self.shape)
        if len(shape) != 3 or min(shape) < 1:
            raise InvalidParameterError(
                f"shape must be three positive sizes (k, j, i), got {self.shape!r}."
            )
        spacing = _as_vector3(self.spacing_mm, "spacing_mm")
        if np.any(spacing <= 0):
            raise InvalidParameterError(f"spacing_mm must be positive, got {spacing.tolist()}.")
        origin = _as_vector3(self.origin_lps_mm, "origin_lps_mm")
        direction = np.asarray(self.direction, dtype=np.float64)
        if direction.shape != (3, 3):
            raise InvalidParameterError(
                f"direction must be a 3x3 matrix, got shape {direction.shape}."
            )
        if not np.allclose(direction.T @ direction, np.eye(3), atol=1e-4):
            raise InvalidParameterError(
                "direction must be orthonormal (columns are unit axis vectors); "
                f"got {direction.round(6).tolist()}. Sheared grids (gantry tilt) must be "
                "resampled before they become a Geometry."
            )
        for name, value in (
            ("shape", shape),
            ("spacing_mm", spacing),
            ("origin_lps_mm", origin),
            ("direction", direction),
        ):
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
            object.__setattr__(self, name, value)

    # -- transforms -------------------------------------------------------------------
    @property
    def index_to_lps_matrix(self) -> NDArray[np.float64]:
        """4x4 affine mapping homogeneous ``ijk`` to LPS mm."""
        affine = np.eye(4)
        affine[:3, :3] = self.direction * self.spacing_mm[np.newaxis, :]
        affine[:3, 3] = self.origin_lps_mm
        return affine

    def index_to_lps(self, ijk: ArrayLike) -> NDArray[np.float64]:
        """Convert (possibly fractional) indices ``(..., 3)`` in i, j, k order to LPS mm."""
        ijk_array = np.asarray(ijk, dtype=np.float64)
        return ijk_array @ (self.direction * self.spacing_mm[np.newaxis, :]).T + self.origin_lps_mm

    def lps_to_index(self, lps_mm: ArrayLike) -> NDArray[np.float64]:
        """Convert LPS points ``(..., 3)`` to continuous i, j, k indices."""
        lps_array = np.asarray(lps_mm, dtype=np.float64)
        return ((lps_array - self.origin_lps_mm) @ self.direction) / self.spacing_mm

    def lps_to_nearest_index(self, lps_mm: ArrayLike) -> NDArray[np.int64]:
        """Nearest voxel index (i, j, k) of LPS points; may lie outside the grid."""
        return np.rint(self.lps_to_index(lps_mm)).astype(np.int64)

    def contains_index(self, ijk: ArrayLike) -> bool:
        """True when an integer index (i, j, k) lies inside the grid."""
        i, j, k = (int(v) for v in np.asarray(ijk).reshape(3))
        nk, nj, ni = self.shape
        return 0 <= i < ni and 0 <= j < nj and 0 <= k < nk

    # -- derived quantities -------------------------------------------------------------
    @property
    def size_ijk(self) -> tuple[int, int, int]:
        nk, nj, ni = self.shape
        return ni, nj, nk

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing_mm))

    @property
    def spacing_kji_mm(self) -> tuple[float, float, float]:
        """Spacing in numpy axis order, for scipy/skimage ``sampling=``/``spacing=``."""
        return float(self.spacing_mm[2]), float(self.spacing_mm[1]), float(self.spacing_mm[0])

    @property
    def is_axis_aligned(self) -> bool:
        """True when each grid axis is parallel to a patient axis."""
        return bool(
            np.allclose(np.abs(self.direction), np.round(np.abs(self.direction)), atol=1e-6)
        )

    @property
    def extent_mm(self) -> NDArray[np.float64]:
        """Physical length of the grid along i, j, k (centre of first to last voxel + one voxel)."""
        return np.asarray(self.size_ijk, dtype=np.float64) * self.spacing_mm

    def corners_lps(self) -> NDArray[np.float64]:
        """LPS coordinates of the 8 corner voxel centres, shape (8, 3)."""
        ni, nj, nk = self.size_ijk
        corners = np.array(
            [[i, j, k] for i in (0, ni - 1) for j in (0, nj - 1) for k in (0, nk - 1)], dtype=float
        )
        return self.index_to_lps(corners)

    def center_lps(self) -> NDArray[np.float64]:
        """LPS coordinate of the grid centre."""
        return self.index_to_lps((np.asarray(self.size_ijk, dtype=float) - 1.0) / 2.0)

    # -- comparison -----------------------------------------------------------------------
    def matches(self, other: Geometry, *, tolerance_mm: float = GEOMETRY_TOLERANCE_MM) -> bool:
        """True when both grids have the same shape and place voxels within ``tolerance_mm``."""
        return (
            self.shape == other.shape
            and bool(np.allclose(self.spacing_mm, other.spacing_mm, atol=tolerance_mm))
            and bool(np.allclose(self.origin_lps_mm, other.origin_lps_mm, atol=tolerance_mm))
            and bool(np.allclose(self.direction, other.direction, atol=tolerance_mm))
        )

    def require_match(self, other: Geometry, *, what: str) -> None:
        """Raise :class:`GeometryMismatchError` naming ``what`` when grids differ."""
        if not self.matches(other):
            raise GeometryMismatchError(
                f"{what}: grids differ (shape {self.shape} vs {other.shape}, spacing "
                f"{self.spacing_mm.round(4).tolist()} vs {other.spacing_mm.round(4).tolist()} mm, "
                f"origin {self.origin_lps_mm.round(3).tolist()} vs "
                f"{other.origin_lps_mm.round(3).tolist()} mm). Resample one onto the other first."
            )

    def with_shape(self, shape: tuple[int, int, int]) -> Geometry:
        return Geometry(shape, self.spacing_mm, self.origin_lps_mm, self.direction)

    def cropped(self, start_kji: tuple[int, int, int], shape: tuple[int, int, int]) -> Geometry:
        """Geometry of the sub-grid starting at index ``start_kji`` with ``shape``."""
        k, j, i = start_kji
        return Geometry(shape, self.spacing_mm, self.index_to_lps([i, j, k]), self.direction)

    def __repr__(self) -> str:
        return (
            f"Geometry(shape={self.shape}, spacing_mm={self.spacing_mm.round(4).tolist()}, "
            f"origin_lps_mm={self.origin_lps_mm.round(3).tolist()}, "
            f"direction={self.direction.round(5).tolist()})"
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "shape_kji": list(self.shape),
            "spacing_mm": self.spacing_mm.tolist(),
            "origin_lps_mm": self.origin_lps_mm.tolist(),
            "direction": self.direction.tolist(),
        }
