"""Is this a CT the automatic anatomy can read? Warnings that name what may be missing.

Each check measures the image and compares it with a physical expectation:

* **Hounsfield scale**: outside air reads about -1000 HU on every CT. When the
  darkest percent of the image lies above ``-900`` HU the values are not
  Hounsfield units (or there is no air in the field), and every threshold below
  means nothing.
* **Contrast**: unenhanced blood and soft tissue stay below about 70 HU;
  iodinated contrast lifts blood above 150 HU in every phase, so the brightest
  half percent of soft tissue away from bone exceeds ``contrast_min_hu`` only
  on a contrast CT.
* **Noise**: routine abdominal CT has 10 to 20 HU of noise; above
  ``noise_max_hu`` (low-dose CT) thin rib cortex, small gas bubbles and organ
  edges drown in it. The noise is estimated from differences of neighbouring
  voxels in soft tissue (median absolute deviation, robust to edges).
* **Field of view**: a body cut by the image's side edge in many slices has its
  skin and whatever lay beyond the edge missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class CheckSettings:
    """Limits of the image checks; reasons in the module doc."""

    air_max_hu: float = -900.0
    contrast_min_hu: float = 120.0
    noise_max_hu: float = 30.0
    cut_slice_fraction: float = 0.1


def hounsfield_warning(hu_coarse: NDArray[np.float32], settings: CheckSettings) -> str | None:
    # Every 7th coarse voxel is plenty for a percentile of the whole image.
    darkest = float(np.percentile(hu_coarse.ravel()[::7], 1.0))
    if darkest <= settings.air_max_hu:
        return None
    return (
        f"the darkest voxels read {darkest:.0f}, not about -1000 as air does on CT: the values "
        "may not be Hounsfield units, so body, bone, lung and bowel below may be wrong."
    )


def noise_hu(hu: NDArray[np.generic], body: NDArray[np.bool_], step: int = 4) -> float:
    """Noise (HU, one standard deviation) from neighbour differences in soft tissue.

    Every ``step``-th slice is enough for a global figure.
    """
    sample = hu[::step].astype(np.float32)
    inside = body[::step]
    difference = sample[:, :, 1:] - sample[:, :, :-1]
    soft = (np.abs(sample) < 150.0) & inside
    valid = soft[:, :, 1:] & soft[:, :, :-1]
    values = difference[valid]
    if values.size < 100:
        return 0.0
    mad = float(np.median(np.abs(values - np.median(values))))
    # MAD of a difference of two independent noisy voxels: sqrt(2) * 0.6745 * sigma.
    return mad / (0.6745 * np.sqrt(2.0))


def image_warnings(
    hu: NDArray[np.generic],
    hu_coarse: NDArray[np.float32],
    body: NDArray[np.bool_],
    body_coarse: NDArray[np.bool_],
    soft_coarse: NDArray[np.bool_],
    settings: CheckSettings,
) -> list[str]:
    """Warnings about contrast, noise and the field of view.

    ``soft_coarse`` marks coarse body voxels clear of bone and air, where the
    contrast level is read.
    """
    warnings: list[str] = []
    soft_values = hu_coarse[soft_coarse]
    if soft_values.size:
        brightest = float(np.percentile(soft_values, 99.5))
        if brightest < settings.contrast_min_hu:
            warnings.append(
                f"no contrast enhancement found (brightest soft tissue {brightest:.0f} HU): "
                "vessels and organs that need contrast to be seen may be missing."
            )
    noise = noise_hu(hu, body)
    if noise > settings.noise_max_hu:
        warnings.append(
            f"noisy image (about {noise:.0f} HU of noise, low-dose CT?): thin bone, small gas "
            "bubbles and organ edges may be missed or ragged."
        )
    sides = (
        body_coarse[:, 0, :].any(axis=1)
        | body_coarse[:, -1, :].any(axis=1)
        | body_coarse[:, :, 0].any(axis=1)
        | body_coarse[:, :, -1].any(axis=1)
    )
    occupied = body_coarse.any(axis=(1, 2))
    cut = int(np.count_nonzero(sides & occupied))
    if cut > settings.cut_slice_fraction * max(int(np.count_nonzero(occupied)), 1):
        warnings.append(
            f"the image's side edge cuts the body in {cut} of {int(np.count_nonzero(occupied))} "
            "slices: the skin there is the image edge, and anatomy beyond it is missing."
        )
    return warnings
