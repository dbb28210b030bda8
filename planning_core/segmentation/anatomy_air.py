"""Air inside the body: lungs and airways versus bowel gas; mottled stool; colon.

Everything here runs on the coarse block grid (about 2 mm) and returns coarse
masks; the caller draws them on the scan grid.

**Lung or bowel gas.** Each connected air region (below ``air_hu``) is judged
by what it is made of and where it lies, never by its median alone:

* Aerated lung is air and tissue mixed: away from its edges (the *core*, one
  coarse voxel in from the air boundary, clear of wall partial volume) it reads
  -700 to -900 HU. Gas in the bowel is pure air, -1000 HU; only its edges mix
  with the wall. A region is *aerated* when the median of its core lies above
  ``lung_core_split_hu`` and the core holds at least ``lung_min_core_ml``
  (a thin gas-filled loop has almost no core and stays bowel).
* Lungs lie in the thorax, the most cranial air of the trunk: an aerated region
  counts as lung only when its top reaches within ``lung_apex_spread_mm`` of the
  top of the largest aerated region. Mottled stool low in the abdomen, which
  can read like lung, does not.
* Airways (trachea, main bronchi) are pure air like bowel gas; they are the air
  regions lying wholly cranial to the middle of the lungs, where no bowel is.

**Mottled stool.** Faeces trap gas as many bubbles of a few millimetres in
soft material; the gas of a loop (a gas-filled lumen, a gas-fluid level)
collects into one pocket of centimetres. Small bubbles read between -200 and
-900 HU through partial volume, so the bubbles are the voxels darker than
``stool_bubble_hu`` (fat, at -100 HU, is not, even with 40 HU of noise) outside
the gas pockets larger than ``stool_bubble_max_ml`` and their partial-volume
rim. Where bubbles take between the ``stool_gas_fraction`` bounds of a window of
``stool_window_mm``, the soft material around them is stool. Solid organs and
fat hold no gas. The window is kept clear of the lungs and of the outside air by
``stool_clearance_mm``.

**Colon.** Stool forms in the colon; the small bowel carries liquid chyme, not
mottled faeces. A bowel region (gas, stool and the wall around them) holding at
least ``colon_min_stool_ml`` of mottled stool is colon, the rest is bowel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.segmentation.anatomy_grid import (
    IN_SLICE_FACES,
    BlockGrid,
    dilate_square,
    erode_square,
)
from planning_core.segmentation.morphology import FACE_CONNECTIVITY


@dataclass(frozen=True)
class AirSettings:
    """Thresholds (HU) and sizes (mm, ml) of the air step; reasons in the module doc."""

    air_hu: float = -400.0
    lung_core_split_hu: float = -950.0
    lung_min_core_ml: float = 5.0
    lung_apex_spread_mm: float = 80.0
    stool_window_mm: float = 12.0
    stool_bubble_hu: float = -200.0
    stool_bubble_max_ml: float = 0.5
    stool_gas_fraction_min: float = 0.04
    stool_gas_fraction_max: float = 0.6
    stool_soft_max_hu: float = 150.0
    stool_clearance_mm: float = 10.0
    bowel_wall_mm: float = 3.0
    colon_min_stool_ml: float = 5.0
    gas_min_volume_ml: float = 0.05


def _ml(count: NDArray[np.generic] | int, grid: BlockGrid) -> NDArray[np.float64]:
    return np.asarray(count, dtype=np.float64) * float(np.prod(grid.coarse_spacing_kji_mm)) / 1000.0


def classify_air(
    hu_coarse: NDArray[np.float32],
    body: NDArray[np.bool_],
    grid: BlockGrid,
    cranial_sign: int,
    settings: AirSettings,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Coarse lung (with airways) and bowel gas inside ``body``.

    ``cranial_sign`` is +1 when the slice index grows toward the head, -1 when
    it grows toward the feet, 0 when the slices are not axial (position rules
    are then skipped).
    """
    air = body & (hu_coarse < settings.air_hu)
    labels, count = ndimage.label(air, structure=FACE_CONNECTIVITY)
    if count == 0:
        return np.zeros_like(air), np.zeros_like(air)
    index = np.arange(count + 1)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    core = ndimage.binary_erosion(air, structure=IN_SLICE_FACES)
    core_labels = np.where(core, labels, 0)
    core_sizes = np.bincount(core_labels.ravel(), minlength=count + 1)
    below = np.bincount(
        core_labels[hu_coarse <= settings.lung_core_split_hu].ravel(), minlength=count + 1
    )
    aerated = (below < 0.5 * core_sizes) & (_ml(core_sizes, grid) >= settings.lung_min_core_ml)
    aerated[0] = False
    small = _ml(sizes, grid) < settings.gas_min_volume_ml
    if not aerated.any():
        return np.zeros_like(air), air & ~small[labels]
    slice_mm = grid.coarse_spacing_kji_mm[0]
    boxes = ndimage.find_objects(labels)
    top = np.zeros(count + 1)
    bottom = np.zeros(count + 1)
    for value in range(1, count + 1):
        extent = boxes[value - 1][0]
        ends = np.array([extent.start, extent.stop - 1], dtype=np.float64) * slice_mm
        ends = ends * (cranial_sign or 1)
        top[value], bottom[value] = ends.max(), ends.min()
    lung = aerated.copy()
    if cranial_sign:
        main = int(index[aerated][np.argmax(sizes[aerated])])
        lung &= top >= top[main] - settings.lung_apex_spread_mm
        lung_top = top[lung].max()
        lung_bottom = bottom[lung].min()
        middle = 0.5 * (lung_top + lung_bottom)
        airway = ~aerated & (bottom > middle)
        airway[0] = False
        lung |= airway
    lung[0] = False
    gas = ~lung & ~small
    gas[0] = False
    return lung[labels], gas[labels]


def gas_pockets(gas: NDArray[np.bool_], grid: BlockGrid, min_ml: float) -> NDArray[np.bool_]:
    """Coarse voxels of gas pockets larger than ``min_ml``, with a one-voxel rim.

    ``gas`` is on the scan grid: a thin gas layer over fluid is one pocket
    there, where the coarse grid would break it into partial-volume voxels.
    """
    labels, count = ndimage.label(gas, structure=FACE_CONNECTIVITY)
    if count == 0:
        return np.zeros(grid.coarse_shape, dtype=bool)
    voxel_ml = float(np.prod(grid.spacing_kji_mm)) / 1000.0
    large = np.bincount(labels[gas], minlength=count + 1) * voxel_ml > min_ml
    large[0] = False
    return ndimage.binary_dilation(grid.any(large[labels]), structure=FACE_CONNECTIVITY)


def mottled_stool(
    hu_coarse: NDArray[np.float32],
    bubbles: NDArray[np.float32],
    body: NDArray[np.bool_],
    lung: NDArray[np.bool_],
    grid: BlockGrid,
    settings: AirSettings,
) -> NDArray[np.bool_]:
    """Coarse voxels of soft material speckled with gas bubbles (faeces).

    ``bubbles`` is the share of gas bubbles (dark voxels outside the large gas
    pockets) in each coarse voxel.
    """
    spacing = grid.coarse_spacing_kji_mm
    size = [max(1, round(settings.stool_window_mm / s)) | 1 for s in spacing]
    local_gas = ndimage.uniform_filter(bubbles * body, size=size, mode="constant")
    local_body = ndimage.uniform_filter(body.astype(np.float32), size=size, mode="constant")
    share = local_gas / np.maximum(local_body, 1e-6)
    mottled = (share >= settings.stool_gas_fraction_min) & (
        share <= settings.stool_gas_fraction_max
    )
    inner = erode_square(body, settings.stool_clearance_mm, spacing)
    near_lung = dilate_square(lung, settings.stool_clearance_mm, spacing)
    soft = hu_coarse <= settings.stool_soft_max_hu
    return mottled & soft & inner & ~near_lung


def bowel_regions(
    gas: NDArray[np.bool_],
    stool: NDArray[np.bool_],
    soft: NDArray[np.bool_],
    grid: BlockGrid,
    settings: AirSettings,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Coarse bowel and colon: gas and stool with the wall around them."""
    spacing = grid.coarse_spacing_kji_mm
    content = gas | stool
    if not content.any():
        return content, np.zeros_like(content)
    wall = dilate_square(content, settings.bowel_wall_mm, spacing)
    bowel = content | (wall & soft)
    labels, count = ndimage.label(bowel, structure=FACE_CONNECTIVITY)
    stool_count = np.bincount(labels[stool], minlength=count + 1)
    is_colon = _ml(stool_count, grid) >= settings.colon_min_stool_ml
    is_colon[0] = False
    colon = is_colon[labels]
    return bowel & ~colon, colon
