"""Small synthetic volumes with known truth for the segmentation tests.

Each phantom is built from analytic shapes in mm: a voxel belongs to a shape
when its centre lies inside it, which is the ground truth. The image is the
piecewise-constant intensity blurred by a scanner-like point spread function
plus noise, all from a seeded generator so every run sees the same voxels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.imaging.geometry import Geometry
from planning_core.imaging.volume import Volume


@dataclass
class Phantom:
    volume: Volume
    truth: dict[str, NDArray[np.bool_]]
    seed_lps_mm: NDArray[np.float64]
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def tumor(self) -> NDArray[np.bool_]:
        return self.truth["tumor"]


def _grid(shape_kji: tuple[int, int, int], spacing_ijk: tuple[float, float, float]):
    nk, nj, ni = shape_kji
    origin = -0.5 * (np.array([ni, nj, nk]) - 1) * np.asarray(spacing_ijk)
    geometry = Geometry(shape_kji, spacing_ijk, origin)
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    x = origin[0] + i * spacing_ijk[0]
    y = origin[1] + j * spacing_ijk[1]
    z = origin[2] + k * spacing_ijk[2]
    return geometry, x, y, z


def _ellipsoid(x, y, z, center, semi_axes) -> NDArray[np.bool_]:
    return (
        ((x - center[0]) / semi_axes[0]) ** 2
        + ((y - center[1]) / semi_axes[1]) ** 2
        + ((z - center[2]) / semi_axes[2]) ** 2
    ) <= 1.0


def _render(
    labels: list[tuple[NDArray[np.bool_], float]],
    background: float,
    geometry: Geometry,
    *,
    psf_mm: tuple[float, float, float],
    noise: float,
    rng: np.random.Generator,
) -> NDArray[np.float32]:
    image = np.full(geometry.shape, background, dtype=np.float64)
    for mask, value in labels:
        image[mask] = value
    sigma_kji = np.asarray(psf_mm)[::-1] / np.asarray(geometry.spacing_kji_mm)
    image = ndimage.gaussian_filter(image, sigma_kji)
    image += rng.normal(0.0, noise, image.shape)
    return image.astype(np.float32)


def kidney_phantom(*, rng_seed: int = 1, noise_hu: float = 12.0) -> Phantom:
    """An exophytic lobulated renal tumor (45 HU) touching its enhancing kidney
    (160 HU) and a similar-intensity organ (62 HU), in fat (-90 HU)."""
    geometry, x, y, z = _grid((40, 112, 112), (0.8, 0.8, 2.0))
    kidney = _ellipsoid(x, y, z, (-14.0, 0.0, 0.0), (18.0, 14.0, 30.0))
    tumor = _ellipsoid(x, y, z, (6.0, 2.0, 2.0), (11.0, 10.0, 12.0)) | _ellipsoid(
        x, y, z, (10.0, -6.0, 8.0), (7.0, 7.0, 8.0)
    )
    neighbour = (x > 17.5) & (np.abs(z) < 30.0)
    rng = np.random.default_rng(rng_seed)
    labels = [(kidney & ~tumor, 160.0), (neighbour & ~tumor, 62.0), (tumor, 45.0)]
    image = _render(labels, -90.0, geometry, psf_mm=(0.6, 0.6, 1.0), noise=noise_hu, rng=rng)
    return Phantom(
        Volume(image, geometry, "CT"),
        {"tumor": tumor, "kidney": kidney & ~tumor, "neighbour": neighbour & ~tumor},
        np.array([6.0, 2.0, 2.0]),
    )


def lung_phantom(*, rng_seed: int = 2) -> Phantom:
    """A juxtapleural nodule (radius 7 mm, 20 HU) on a chest wall (50 HU) with a
    touching vessel (40 HU), in aerated lung (-850 HU)."""
    geometry, x, y, z = _grid((36, 96, 96), (0.7, 0.7, 1.25))
    nodule = _ellipsoid(x, y, z, (0.0, 0.0, 0.0), (7.0, 7.0, 7.0))
    wall = y > 5.5
    vessel = ((x + 0.0) ** 2 + (y + 7.5) ** 2 <= 1.6**2) & ~nodule
    rng = np.random.default_rng(rng_seed)
    labels = [(wall & ~nodule, 50.0), (vessel, 40.0), (nodule, 20.0)]
    image = _render(labels, -850.0, geometry, psf_mm=(0.5, 0.5, 0.8), noise=20.0, rng=rng)
    return Phantom(
        Volume(image, geometry, "CT"),
        {"tumor": nodule, "wall": wall & ~nodule, "vessel": vessel},
        np.array([0.0, -2.0, 0.0]),
    )


def ultrasound_phantom(*, rng_seed: int = 3) -> Phantom:
    """A hypoechoic lesion (radius 8 x 6 x 7 mm) in speckled breast tissue with
    darker fat lobules, on a 0.5 mm grid."""
    geometry, x, y, z = _grid((64, 72, 72), (0.5, 0.5, 0.5))
    rng = np.random.default_rng(rng_seed)
    lesion = _ellipsoid(x, y, z, (0.0, 0.0, 0.0), (8.0, 6.0, 7.0))
    fat = np.zeros(geometry.shape, bool)
    for center in ((-13.0, 9.0, -6.0), (12.0, -10.0, 7.0), (11.0, 10.0, -8.0)):
        fat |= _ellipsoid(x, y, z, center, (4.0, 3.0, 5.0))
    echo = np.full(geometry.shape, 100.0)
    echo[fat] = 60.0
    echo[lesion] = 32.0
    # Speckle: the magnitude of a correlated complex Gaussian field (Rayleigh statistics).
    sigma = 0.6 / np.asarray(geometry.spacing_kji_mm)
    real = ndimage.gaussian_filter(rng.normal(size=geometry.shape), sigma)
    imaginary = ndimage.gaussian_filter(rng.normal(size=geometry.shape), sigma)
    speckle = np.hypot(real, imaginary)
    speckle /= speckle.mean()
    image = ndimage.gaussian_filter(echo, 0.4 / np.asarray(geometry.spacing_kji_mm)) * speckle
    return Phantom(
        Volume(image.astype(np.float32), geometry, "US"),
        {"tumor": lesion, "fat": fat},
        np.array([1.0, 1.0, 0.0]),
    )


def uniform_organ_phantom(*, rng_seed: int = 4) -> Phantom:
    """A large homogeneous organ (liver-like, 100 HU) filling most of the grid,
    with a small hypodense lesion away from the seed; the seed lies in the organ."""
    geometry, x, y, z = _grid((40, 120, 120), (0.8, 0.8, 2.0))
    organ = _ellipsoid(x, y, z, (0.0, 0.0, 0.0), (46.0, 44.0, 60.0))
    lesion = _ellipsoid(x, y, z, (25.0, 20.0, 0.0), (6.0, 6.0, 6.0))
    rng = np.random.default_rng(rng_seed)
    labels = [(organ & ~lesion, 100.0), (lesion, 40.0)]
    image = _render(labels, -80.0, geometry, psf_mm=(0.6, 0.6, 1.0), noise=10.0, rng=rng)
    return Phantom(
        Volume(image, geometry, "CT"),
        {"tumor": lesion, "organ": organ & ~lesion},
        np.array([-10.0, -5.0, 0.0]),
    )
