"""Automatic CT anatomy for planning: body, skin, bone, aerated lung and bowel gas.

These structures decide where a probe may enter and what it must not cross,
and they need no click: Hounsfield units separate them.

* **body**: voxels above ``body_threshold_hu`` forming thick connected parts
  (the patient, not the thin table shell, which foam or air separates from the
  patient), with every axial slice's enclosed cavities (lungs, bowel gas) filled.
* **skin**: the body's outer layer ``skin_thickness_mm`` deep, the entry region
  of percutaneous probes. The first and last slice are cuts through the
  patient, not skin.
* **bone**: hysteresis thresholding: voxels above ``bone_low_hu`` connected to
  voxels above ``bone_high_hu`` (cortex), with marrow enclosed in a slice
  filled. Enhanced blood (150 to 200 HU) stays out unless it touches cortex
  through a continuous bright path.
* **lung** and **bowel_gas**: air below ``air_threshold_hu`` inside the body.
  Aerated lung is tissue and air mixed (about -850 HU); gas in the bowel is
  pure air (-1000 HU), so each connected air region whose median lies above
  ``lung_gas_split_hu`` is lung, the others are bowel gas. Lung keeps its small
  vessels through a closing of ``lung_closing_mm``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from skimage.filters import apply_hysteresis_threshold

from planning_core.errors import InvalidParameterError, SegmentationError
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.progress import CancelToken, ProgressCallback, no_progress
from planning_core.segmentation.morphology import (
    FACE_CONNECTIVITY,
    close_mm,
    erode_mm,
    fill_holes_per_slice,
    remove_small_components,
)

#: Labels this module writes, in painting order (later ones cover earlier ones).
ANATOMY_LABELS: tuple[str, ...] = ("body", "skin", "bone", "lung", "bowel_gas")


@dataclass(frozen=True)
class AnatomySettings:
    """Thresholds (HU) and sizes (mm, ml) of the automatic anatomy."""

    body_threshold_hu: float = -500.0
    body_min_thickness_mm: float = 4.0
    skin_thickness_mm: float = 2.0
    bone_high_hu: float = 300.0
    bone_low_hu: float = 200.0
    bone_min_volume_ml: float = 0.5
    air_threshold_hu: float = -400.0
    lung_gas_split_hu: float = -950.0
    lung_closing_mm: float = 3.0
    gas_min_volume_ml: float = 0.05


@dataclass(frozen=True, eq=False)
class AnatomyResult:
    """The anatomy labels and what went wrong tolerably."""

    label_map: LabelMap
    warnings: tuple[str, ...]

    def volumes_ml(self) -> dict[str, float]:
        return {name: self.label_map.volume_ml(name) for name in self.label_map.names}


def _min_voxels(volume_ml: float, voxel_volume_mm3: float) -> int:
    return max(int(np.ceil(volume_ml * 1000.0 / voxel_volume_mm3)), 1)


def body_mask(
    hu: NDArray[np.generic], spacing_kji: tuple[float, float, float], settings: AnatomySettings
) -> NDArray[np.bool_]:
    """The patient: thick parts above the body threshold, slice cavities filled."""
    dense = hu > settings.body_threshold_hu
    labels, count = ndimage.label(dense, structure=FACE_CONNECTIVITY)
    if count == 0:
        return dense
    # Keep parts that have a core deeper than the minimum thickness: the table shell has none.
    core = erode_mm(dense, 0.5 * settings.body_min_thickness_mm, spacing_kji)
    thick = np.unique(labels[core])
    thick = thick[thick > 0]
    if thick.size == 0:
        return np.zeros_like(dense)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    largest = int(sizes[thick].max())
    # Arms lying apart from the trunk stay; specks and thin shells do not.
    keep = np.zeros(count + 1, dtype=bool)
    keep[thick[sizes[thick] >= 0.05 * largest]] = True
    return fill_holes_per_slice(keep[labels])


def segment_anatomy(
    volume: Volume,
    *,
    settings: AnatomySettings | None = None,
    into: LabelMap | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> AnatomyResult:
    """Body, skin, bone, aerated lung and bowel gas of a CT volume.

    Parameters
    ----------
    volume : Volume
        A CT volume in Hounsfield units.
    settings : AnatomySettings, optional
        Thresholds and sizes; the defaults suit contrast-enhanced abdominal CT.
    into : LabelMap, optional
        An existing map on the same grid; its labels (tumor, organs) are kept
        and the anatomy only fills its background.
    progress, cancel
        Progress callback and cancel token.

    Raises
    ------
    InvalidParameterError
        For a volume that is not CT.
    SegmentationError
        When no body is found (an empty or non-HU image).
    """
    if volume.modality != "CT":
        raise InvalidParameterError(
            f"automatic anatomy needs a CT in Hounsfield units; this volume is {volume.modality}."
        )
    settings = settings or AnatomySettings()
    report = progress or no_progress
    spacing = volume.geometry.spacing_kji_mm
    voxel_mm3 = volume.geometry.voxel_volume_mm3
    hu = volume.voxels
    warnings: list[str] = []

    def step(fraction: float, message: str) -> None:
        if cancel is not None:
            cancel.raise_if_cancelled()
        report(fraction, message)

    step(0.0, "Body outline")
    body = body_mask(hu, spacing, settings)
    if not body.any():
        raise SegmentationError(
            f"no body found above {settings.body_threshold_hu:.0f} HU: the image holds no "
            "patient, or its values are not Hounsfield units."
        )
    step(0.3, "Skin")
    skin = body & ~erode_mm(body, settings.skin_thickness_mm, spacing)
    step(0.45, "Bone")
    bone = apply_hysteresis_threshold(hu, settings.bone_low_hu, settings.bone_high_hu) & body
    bone = fill_holes_per_slice(bone)
    bone = remove_small_components(bone, _min_voxels(settings.bone_min_volume_ml, voxel_mm3))
    step(0.65, "Lung and bowel gas")
    air = body & (hu < settings.air_threshold_hu)
    air = remove_small_components(air, _min_voxels(settings.gas_min_volume_ml, voxel_mm3))
    labels, count = ndimage.label(air, structure=FACE_CONNECTIVITY)
    lung = np.zeros_like(air)
    if count:
        # A region's median lies above the split when less than half of it is below:
        # two label sums instead of a per-region sort.
        index = np.arange(1, count + 1)
        below = ndimage.sum(hu <= settings.lung_gas_split_hu, labels, index=index)
        sizes = ndimage.sum(air, labels, index=index)
        is_lung = np.concatenate([[False], np.asarray(below) < 0.5 * np.asarray(sizes)])
        lung = is_lung[labels]
    gas = air & ~lung
    if lung.any():
        lung = close_mm(lung, settings.lung_closing_mm, spacing) & body & ~bone
    step(0.9, "Assembling labels")
    anatomy = LabelMap.empty(volume.geometry)
    for name, mask in zip(ANATOMY_LABELS, (body, skin, bone, lung, gas), strict=True):
        anatomy = anatomy.with_mask(name, mask)
    for name in ANATOMY_LABELS[2:]:
        if not anatomy.voxel_count(name):
            warnings.append(f"no {name.replace('_', ' ')} found in this scan.")
    if into is not None:
        into.geometry.require_match(volume.geometry, what="segment_anatomy: labels vs image")
        merged = into
        for name in ANATOMY_LABELS:
            merged = merged.with_mask(name, anatomy.mask(name), overwrite=False)
        anatomy = merged
    report(1.0, "Anatomy done")
    return AnatomyResult(anatomy, tuple(warnings))
