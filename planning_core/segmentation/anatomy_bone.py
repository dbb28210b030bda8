"""Bone on contrast CT: cortex seeds, their enclosed marrow, a partial-volume rim.

Physical reasons for each step:

* **Cortex seeds** are voxels above ``cortex_hu`` (450 HU). Compact bone reads
  1000 to 1900 HU; a 1 mm rib cortex blurred over a 1 mm pixel and a 3 mm slice
  still exceeds 450 HU, while enhanced blood and renal cortex stay below it in
  portal-venous and nephrographic phases (150 to 300 HU) and mostly in the
  arterial phase (250 to 400 HU). A 200/300 HU hysteresis, by contrast, grows
  from one bright voxel through the whole enhanced kidney or aorta.
* **Dense contrast is solid, bone is a shell.** Undiluted contrast in the
  injected vein, a CT-angiography aorta, an excreting collecting system or the
  bladder exceeds 450 HU *throughout* a lumen over a centimetre wide. Bone above
  450 HU is a cortex a few millimetres thick around marrow (a rib is at most
  8 mm thick, a femoral cortex 7 mm). Seeds deeper than
  ``contrast_core_radius_mm`` inside the seed mask, measured on the 2 mm grid
  from the boundary voxels (a solid lumen of 12 mm or more), are taken as
  contrast, and the seeds around them within that reach go with them.
* **Marrow** is what the cortex encloses in an axial slice (after a closing
  with a square of ``cortex_gap_mm`` / 2 half-size, one pixel on most scans,
  bridges the gaps of a thin or osteoporotic cortex), when it is no larger
  than ``max_marrow_area_mm2``
  (a femoral head, the largest section of marrow, is about 20 cm^2; the pelvic
  ring and the rib cage enclose far more) and reads like marrow: red marrow with
  its trabecular bone above ``red_marrow_min_hu`` or fatty marrow below
  ``fatty_marrow_max_hu``. Cerebrospinal fluid and cord (0 to 40 HU) fall in
  between, so the spinal canal that the vertebral arch encloses is not bone.
* **Trabecular bone** of young adults (250 to 400 HU) fills vertebral bodies
  whose thin cortex never reaches 450 HU all round, so they enclose nothing.
  It joins the bone where it is brighter than the brightest enhanced blood of
  this scan by ``trabecular_margin_hu`` (three to four noise deviations: no
  blood or enhanced organ reaches it) and touches the cortex. Older, fatty
  marrow is darker than blood; it is found as enclosed marrow or not at all.
  The thin anterior cortex of a vertebral body or the plates of the sacrum
  leave gaps of a centimetre or more below 450 HU: across gaps up to
  ``enclosure_gap_mm``, voxels the bone encloses (within the same area limit)
  that are as dense as trabecular bone (``trabecular_min_hu``, 150 HU) are
  bone too. Blood and organs are never enclosed by bone; the fluid of the
  spinal canal is far lighter.
* **Rim**: the one-voxel partial-volume edge of the bone above ``edge_hu``
  (200 HU, the bone window's usual lower bound) joins it, no more, so that
  enhanced tissue touching a bone does not become bone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.segmentation.anatomy_grid import (
    BlockGrid,
    dilate_square,
    erode_square,
    fill_holes_in_slices,
)
from planning_core.segmentation.morphology import FACE_CONNECTIVITY

Spacing = tuple[float, float, float]


@dataclass(frozen=True)
class BoneSettings:
    """Thresholds (HU) and sizes (mm, ml) of the bone step; reasons in the module doc."""

    cortex_hu: float = 450.0
    edge_hu: float = 200.0
    contrast_core_radius_mm: float = 4.0
    cortex_gap_mm: float = 2.5
    enclosure_gap_mm: float = 20.0
    trabecular_min_hu: float = 150.0
    max_marrow_area_mm2: float = 2500.0
    red_marrow_min_hu: float = 90.0
    fatty_marrow_max_hu: float = -30.0
    trabecular_margin_hu: float = 60.0
    seed_min_volume_ml: float = 0.02
    min_volume_ml: float = 0.5


def contrast_cores(
    seeds: NDArray[np.bool_], spacing: Spacing, core_radius_mm: float
) -> NDArray[np.bool_]:
    """Seed voxels belonging to solid bright lumens (dense contrast), not to bone shells."""
    grid = BlockGrid.for_scan(seeds.shape, spacing)
    # A coarse voxel is solid when its whole block is bright.
    solid = grid.fraction(seeds) > 0.999
    if not solid.any():
        return np.zeros_like(seeds)
    depth = sitk.GetArrayFromImage(
        sitk.SignedMaurerDistanceMap(
            _image(solid, grid), insideIsPositive=True, squaredDistance=False, useImageSpacing=True
        )
    )
    cores = depth >= core_radius_mm
    if not cores.any():
        return np.zeros_like(seeds)
    reach = sitk.GetArrayFromImage(
        sitk.SignedMaurerDistanceMap(
            _image(cores, grid),
            insideIsPositive=False,
            squaredDistance=False,
            useImageSpacing=True,
        )
    )
    # A core lies at least its depth inside the lumen and the lumen's wall at most
    # about as far again: twice the depth and a coarse voxel reach the wall.
    near = reach <= 2.0 * core_radius_mm + max(grid.coarse_spacing_kji_mm)
    return seeds & grid.upsample(near)


def _image(mask: NDArray[np.bool_], grid: BlockGrid) -> sitk.Image:
    image = sitk.GetImageFromArray(mask.view(np.uint8))
    image.SetSpacing(tuple(float(s) for s in reversed(grid.coarse_spacing_kji_mm)))
    return image


def _drop_small_parts(
    mask: NDArray[np.bool_], min_volume_ml: float, spacing: Spacing
) -> NDArray[np.bool_]:
    """``mask`` without parts under ``min_volume_ml``, parts judged on the coarse grid.

    Parts closer than a coarse voxel count as one, which suits bone: the pieces
    of one bone that a threshold splits lie that close.
    """
    grid = BlockGrid.for_scan(mask.shape, spacing)
    counts = grid.fraction(mask) * float(np.prod(grid.factors))
    labels, count = ndimage.label(counts > 0, structure=FACE_CONNECTIVITY)
    if count == 0:
        return mask
    volume_ml = np.bincount(labels.ravel(), weights=counts.ravel(), minlength=count + 1)
    volume_ml *= float(np.prod(spacing)) / 1000.0
    keep = volume_ml >= min_volume_ml
    keep[0] = False
    return mask & grid.upsample(keep[labels])


def trabecular_bone(
    hu: NDArray[np.generic],
    cortex: NDArray[np.bool_],
    body: NDArray[np.bool_],
    spacing: Spacing,
    threshold_hu: float,
) -> NDArray[np.bool_]:
    """Voxels above ``threshold_hu`` connected to the cortex (judged on the coarse grid)."""
    grid = BlockGrid.for_scan(hu.shape, spacing)
    bright = (grid.mean(hu) >= threshold_hu) & (grid.fraction(body) > 0.5)
    labels, count = ndimage.label(bright, structure=FACE_CONNECTIVITY)
    if count == 0:
        return np.zeros_like(cortex)
    touching = np.zeros(count + 1, dtype=bool)
    touching[np.unique(labels[grid.any(cortex) & bright])] = True
    touching[0] = False
    region = dilate_square(
        touching[labels], max(grid.coarse_spacing_kji_mm[1:]), grid.coarse_spacing_kji_mm
    )
    return grid.upsample(region) & (hu >= threshold_hu) & body


def bone_mask(
    hu: NDArray[np.generic],
    body: NDArray[np.bool_],
    spacing: Spacing,
    settings: BoneSettings,
    blood_hu: float,
) -> tuple[NDArray[np.bool_], float]:
    """Bone inside ``body`` and the volume (ml) of dense contrast left out.

    ``hu`` and ``body`` are the scan (or a crop of it) on its own grid;
    ``blood_hu`` is the brightest enhanced blood of the scan.
    """
    seeds = (hu >= settings.cortex_hu) & body
    seeds = _drop_small_parts(seeds, settings.seed_min_volume_ml, spacing)
    contrast = contrast_cores(seeds, spacing, settings.contrast_core_radius_mm)
    contrast_ml = float(np.count_nonzero(contrast)) * float(np.prod(spacing)) / 1000.0
    cortex = seeds & ~contrast
    # Closing with a square bridges gaps in the cortex up to twice its half-size.
    gap_mm = 0.5 * settings.cortex_gap_mm
    trabecular_hu = max(settings.edge_hu, blood_hu + settings.trabecular_margin_hu)
    cortex = cortex | (trabecular_bone(hu, cortex, body, spacing, trabecular_hu) & ~contrast)
    bridged = erode_square(dilate_square(cortex, gap_mm, spacing), gap_mm, spacing) | cortex
    # Whether the cortex encloses marrow is judged across wider gaps: the thin
    # anterior cortex of a vertebral body or the plates of the sacrum and ilium
    # leave gaps of several millimetres below 450 HU.
    span_mm = 0.5 * settings.enclosure_gap_mm
    enclosure = erode_square(dilate_square(bridged, span_mm, spacing), span_mm, spacing) | bridged
    holes, count = fill_holes_in_slices(enclosure)
    enclosed = holes > 0
    if count:
        area_mm2 = np.bincount(holes[enclosed], minlength=count + 1) * spacing[1] * spacing[2]
        small = area_mm2 <= settings.max_marrow_area_mm2
        small[0] = False
        enclosed &= small[holes]
    # Enclosed and as dense as trabecular bone: marrow voxel by voxel (blood and
    # organs are never enclosed by bone; the canal's fluid is far lighter).
    bone = bridged | ((enclosure | enclosed) & (hu >= settings.trabecular_min_hu))
    holes, count = fill_holes_in_slices(bridged)
    if count:
        where = holes > 0
        flat = holes[where]
        pixels = np.bincount(flat, minlength=count + 1)
        area_mm2 = pixels * spacing[1] * spacing[2]
        total_hu = np.bincount(flat, weights=hu[where], minlength=count + 1)
        mean_hu = total_hu / np.maximum(pixels, 1)
        marrow = (area_mm2 <= settings.max_marrow_area_mm2) & (
            (mean_hu >= settings.red_marrow_min_hu) | (mean_hu <= settings.fatty_marrow_max_hu)
        )
        marrow[0] = False
        bone = bone | marrow[holes]
    rim = dilate_square(bone, min(spacing[1:]), spacing)
    bone = (bone | (rim & (hu >= settings.edge_hu))) & body & ~contrast
    bone = _drop_small_parts(bone, settings.min_volume_ml, spacing)
    return bone, contrast_ml
