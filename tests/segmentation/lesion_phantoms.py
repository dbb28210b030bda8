"""Small heterogeneous lesion phantoms for the diameter-line, stroke and one-click tests.

A liver-like host (105 HU) holds a lesion made as real metastases are: a necrotic
core (25 HU), a viable layer (75 HU), an enhancing rim (130 HU), a calcification
(600 HU). A muscle-like slab (60 HU, the level of viable tumor) lies beyond the
lesion, and optionally a contrast-filled vessel touches it. Blurred by a scanner
point spread function and with noise from a seeded generator, so every run sees
the same voxels. The truth is the lesion's analytic extent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.imaging.geometry import Geometry
from planning_core.imaging.volume import Volume

HOST_HU, CORE_HU, VIABLE_HU, RIM_HU, CALCIFICATION_HU, MUSCLE_HU, VESSEL_HU = (
    105.0,
    25.0,
    75.0,
    130.0,
    600.0,
    60.0,
    180.0,
)


@dataclass
class LesionPhantom:
    volume: Volume
    truth: NDArray[np.bool_]
    line_start_lps_mm: NDArray[np.float64]
    line_end_lps_mm: NDArray[np.float64]
    core_lps_mm: NDArray[np.float64]
    vessel: NDArray[np.bool_]


def lesion_phantom(
    *,
    semi_axes_mm: tuple[float, float, float] = (20.0, 15.0, 14.0),
    iso_rim_mm: float = 0.0,
    vessel: bool = False,
    rim: bool = True,
    noise_hu: float = 8.0,
    rng_seed: int = 7,
) -> LesionPhantom:
    """A heterogeneous lesion (long axis along x) in a 100 x 100 x 100 mm host.

    ``iso_rim_mm`` > 0 gives the lesion an outer layer at the host's level (an
    iso-dense margin that only the drawn length reveals); ``vessel`` adds a
    contrast-filled vessel (4 mm radius) along z touching the lesion; ``rim=False``
    leaves out the enhancing rim (core, viable layer, host: a graded lesion).
    """
    spacing_ijk = (1.0, 1.0, 2.5)
    shape_kji = (40, 100, 100)
    origin = -0.5 * (np.array(shape_kji[::-1]) - 1) * np.asarray(spacing_ijk)
    geometry = Geometry(shape_kji, np.asarray(spacing_ijk), origin)
    k, j, i = np.meshgrid(*[np.arange(n) for n in shape_kji], indexing="ij")
    x, y, z = (origin[0] + i * spacing_ijk[0], origin[1] + j * spacing_ijk[1], origin[2] + k * 2.5)
    a, b, c = semi_axes_mm
    rho = np.sqrt((x / a) ** 2 + (y / b) ** 2 + (z / c) ** 2)
    truth = rho <= 1.0
    # Depth below the surface, approximately: (1 - rho) times the local semi-axis.
    depth_mm = (1.0 - rho) * min(semi_axes_mm)
    image = np.full(shape_kji, HOST_HU, dtype=np.float64)
    image[y > 38.0] = MUSCLE_HU  # a muscle slab well beyond the lesion
    image[truth] = VIABLE_HU
    if rim:
        image[truth & (depth_mm <= 2.5 + iso_rim_mm)] = RIM_HU
    image[truth & (depth_mm <= iso_rim_mm)] = HOST_HU
    image[truth & (rho <= 0.5)] = CORE_HU
    calcification = (x - 4.0) ** 2 + (y + 3.0) ** 2 + (z - 2.5) ** 2 <= 2.5**2
    image[calcification & truth] = CALCIFICATION_HU
    vessel_mask = np.zeros(shape_kji, dtype=bool)
    if vessel:
        vessel_mask = ((x - 0.0) ** 2 + (y - (b + 3.0)) ** 2 <= 4.0**2) & ~truth
        image[vessel_mask] = VESSEL_HU
    rng = np.random.default_rng(rng_seed)
    sigma = np.array([0.8 / 2.5, 0.8, 0.8])
    image = ndimage.gaussian_filter(image, sigma) + rng.normal(0.0, noise_hu, shape_kji)
    volume = Volume(np.rint(image).astype(np.int16), geometry, "CT")
    return LesionPhantom(
        volume,
        truth,
        np.array([-a, 0.0, 0.0]),
        np.array([a, 0.0, 0.0]),
        np.zeros(3),
        vessel_mask,
    )
