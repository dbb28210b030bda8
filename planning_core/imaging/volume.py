"""An image volume: voxels plus the geometry that places them in the patient."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3-D scalar image on a :class:`Geometry`.

    Parameters
    ----------
    voxels : ndarray
        Values indexed ``[k, j, i]``; CT in Hounsfield units (rescale applied),
        ultrasound as echo intensity.
    geometry : Geometry
        Grid placement; ``geometry.shape`` must equal ``voxels.shape``.
    modality : str
        DICOM modality code (``"CT"``, ``"US"``, ``"MR"``, ``"OT"``).
    metadata : dict
        Identifiers and descriptions (patient, study/series UIDs, description,
        source paths). Never needed for computation.
    warnings : tuple of str
        Tolerable problems found while loading (gaps, resampling, ...).
    """

    voxels: NDArray[np.generic]
    geometry: Geometry
    modality: str = "OT"
    metadata: dict[str, object] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.voxels.ndim != 3:
            raise InvalidParameterError(f"voxels must be 3-D [k, j, i], got {self.voxels.ndim}-D.")
        if tuple(self.voxels.shape) != self.geometry.shape:
            raise InvalidParameterError(
                f"voxels shape {self.voxels.shape} does not match "
                f"geometry shape {self.geometry.shape}."
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.geometry.shape

    @property
    def units(self) -> str:
        return "HU" if self.modality == "CT" else "a.u."

    def value_at_lps(self, lps_mm: NDArray[np.float64] | list[float]) -> float:
        """Nearest-voxel value at an LPS point; raises when the point is outside the grid."""
        ijk = self.geometry.lps_to_nearest_index(lps_mm)
        if not self.geometry.contains_index(ijk):
            raise InvalidParameterError(
                f"point {np.round(lps_mm, 2).tolist()} mm (LPS) lies outside the volume."
            )
        i, j, k = (int(v) for v in ijk)
        return float(self.voxels[k, j, i])

    def values_at_lps(
        self, lps_mm: NDArray[np.float64], *, outside: float = np.nan
    ) -> NDArray[np.float32]:
        """Trilinear values at LPS points ``(n, 3)``; ``outside`` for points beyond the grid."""
        points = np.asarray(lps_mm, dtype=np.float64).reshape(-1, 3)
        kji = self.geometry.lps_to_index(points)[:, ::-1].T
        return ndimage.map_coordinates(
            np.asarray(self.voxels, dtype=np.float32), kji, order=1, mode="constant",
            cval=outside,
        )  # fmt: skip

    def with_voxels(self, voxels: NDArray[np.generic]) -> Volume:
        """A copy of this volume holding other voxels on the same grid."""
        return Volume(voxels, self.geometry, self.modality, dict(self.metadata), self.warnings)
