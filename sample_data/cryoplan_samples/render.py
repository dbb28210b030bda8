"""Turning a painted tissue grid into a CT image: texture, partial-volume blur, noise."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from cryoplan_samples.tissues import TissueTable
from planning_core.imaging.geometry import Geometry

#: Internal inhomogeneity of tissues varies over about this length.
TEXTURE_SIGMA_MM = 1.6
#: Partial-volume blur of the scanner's point spread function (Gaussian sigma).
BLUR_SIGMA_MM = 0.6
#: Quantum noise, with a little spatial correlation as reconstruction kernels give it.
NOISE_SD_HU = 12.0
_NOISE_SIGMA_MM = 0.35


def smooth_unit_field(
    rng: np.random.Generator, shape: tuple[int, int, int], sigma_kji_vox: tuple[float, ...]
) -> NDArray[np.float32]:
    """Gaussian-filtered white noise rescaled to zero mean and unit standard deviation."""
    field = ndimage.gaussian_filter(
        rng.standard_normal(shape, dtype=np.float32), sigma_kji_vox, truncate=3.0
    )
    field -= field.mean(dtype=np.float64)
    field /= max(float(field.std(dtype=np.float64)), 1e-12)
    return field


def render_ct(
    tissue: NDArray[np.uint8],
    geometry: Geometry,
    table: TissueTable,
    rng: np.random.Generator,
    *,
    noise_sd_hu: float = NOISE_SD_HU,
    blur_sigma_mm: float = BLUR_SIGMA_MM,
    table_side_y: float = 1.0,
) -> NDArray[np.float32]:
    """HU image of a tissue grid: class means plus smooth texture, blurred, plus noise.

    ``table_side_y`` (+1 supine, -1 prone) is the sign of y toward the table:
    tissues with a ``dependent_per_mm`` gradient grow denser toward it.
    """
    spacing = np.asarray(geometry.spacing_kji_mm)
    hu = table.lookup("mean")[tissue]
    dependent = table.lookup("dependent_per_mm")
    if np.any(dependent):
        # Synthetic grids are axis aligned, so j alone gives the posterior coordinate y.
        y_mm = geometry.origin_lps_mm[1] + geometry.spacing_mm[1] * np.arange(tissue.shape[1])
        y_mm = y_mm * table_side_y
        hu += dependent[tissue] * y_mm.astype(np.float32)[np.newaxis, :, np.newaxis]
    texture = smooth_unit_field(rng, tissue.shape, tuple(TEXTURE_SIGMA_MM / spacing))
    texture *= table.lookup("texture")[tissue]
    hu += texture
    del texture
    hu = ndimage.gaussian_filter(hu, tuple(blur_sigma_mm / spacing), truncate=3.0)
    noise = smooth_unit_field(rng, tissue.shape, tuple(_NOISE_SIGMA_MM / spacing))
    noise *= np.float32(noise_sd_hu)
    hu += noise
    return hu
