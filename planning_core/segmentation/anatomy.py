"""Automatic CT anatomy for planning: body, skin, bone, lung, bowel, colon and organs.

These structures decide where a probe may enter and what it must not cross,
and they need no click. Each step lives in its own module, which gives the
physical reason for every threshold:

* :mod:`.anatomy_body`: the body (never the table, never outside air) and skin;
* :mod:`.anatomy_bone`: bone, thin rib cortex in, enhanced organs and dense
  contrast out;
* :mod:`.anatomy_air`: lungs with their airways versus bowel gas, mottled stool,
  bowel and colon;
* :mod:`.anatomy_chest_wall`: the pectoral muscle under the breast, where
  the scan shows the anterior chest;
* :mod:`.abdomen`: liver, spleen, kidneys with the renal sinus, aorta and IVC
  (``AnatomySettings.organs`` turns it off);
* :mod:`.anatomy_checks`: warnings for images the thresholds do not suit
  (not Hounsfield units, no contrast, noisy, cut by the field of view).

Whole-body decisions run on a grid of about 2 mm (:mod:`.anatomy_grid`);
edges are drawn on the scan's own grid. The label ``bowel_gas`` is no longer
written: gas is part of the bowel or colon it fills.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.errors import InvalidParameterError, SegmentationError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelInfo, LabelMap, standard_label
from planning_core.imaging.volume import Volume
from planning_core.progress import CancelToken, ProgressCallback, no_progress
from planning_core.segmentation.abdomen import segment_abdomen
from planning_core.segmentation.anatomy_air import (
    AirSettings,
    bowel_regions,
    classify_air,
    gas_pockets,
    mottled_stool,
)
from planning_core.segmentation.anatomy_body import coarse_body, skin_mask
from planning_core.segmentation.anatomy_bone import BoneSettings, bone_mask
from planning_core.segmentation.anatomy_checks import (
    CheckSettings,
    hounsfield_warning,
    image_warnings,
)
from planning_core.segmentation.anatomy_chest_wall import (
    PECTORAL_NOT_FOUND,
    ChestWallSettings,
    anterior_sign,
    pectoral_muscle,
)
from planning_core.segmentation.anatomy_grid import (
    IN_SLICE_FACES,
    BlockGrid,
    dilate_square,
    disk_structure,
    erode_square,
    fill_holes_in_slices,
)

#: Labels the HU steps write.
ANATOMY_LABELS: tuple[str, ...] = (
    "body",
    "skin",
    "bone",
    "lung",
    "bowel",
    "colon",
    "pectoral_muscle",
)

#: Solid organs the abdominal step may add.
ORGAN_LABELS: tuple[str, ...] = ("liver", "spleen", "kidney", "renal_sinus", "aorta", "ivc")

#: Painting order: later labels cover earlier ones where masks overlap. Bone and
#: lung are drawn from their own HU and win over the coarser bowel and organs;
#: skin, the entry surface, is drawn last.
PAINT_ORDER: tuple[str, ...] = (
    "body",
    "bowel",
    "colon",
    *ORGAN_LABELS,
    "pectoral_muscle",
    "lung",
    "bone",
    "skin",
)


@dataclass(frozen=True)
class AnatomySettings:
    """Thresholds (HU) and sizes (mm, ml) of the automatic anatomy.

    ``body_threshold_hu`` (-500) lies halfway between air and fat; the table
    and open-air rules are explained in :mod:`.anatomy_body`. Air closer than
    ``surface_air_mm`` to the body's surface is no gas: skin, subcutaneous fat
    and muscle of the trunk's wall are thicker than that, and such air lies
    between the skin and a mattress, a sheet or a skin fold. ``tissue_min_hu``
    (-200) and ``seam_hu`` (-120) tell pads and the air trapped under them from
    tissue: fat, the lightest tissue, reads -100 HU. ``organs`` runs the
    abdominal organ step (liver, spleen, kidneys, renal sinus, aorta, IVC).
    The lung keeps the vessels and bronchi it encloses in a slice up to
    ``lung_max_hole_mm2`` (700 mm², a 30 mm disc: intrapulmonary vessels are at
    most about 15 mm across, the central ones join the mediastinum and are no
    holes); larger islands are organs seen through the lung, such as the liver
    dome or the heart's apex, which must not become lung.
    """

    body_threshold_hu: float = -500.0
    table_detach_mm: float = 6.0
    limb_min_radius_mm: float = 15.0
    table_min_ml: float = 50.0
    tissue_min_hu: float = -200.0
    seam_hu: float = -120.0
    open_air_contact_fraction: float = 0.02
    skin_thickness_mm: float = 2.0
    surface_air_mm: float = 6.0
    lung_closing_mm: float = 3.0
    lung_max_hole_mm2: float = 700.0
    bone: BoneSettings = field(default_factory=BoneSettings)
    air: AirSettings = field(default_factory=AirSettings)
    checks: CheckSettings = field(default_factory=CheckSettings)
    chest_wall: ChestWallSettings = field(default_factory=ChestWallSettings)
    organs: bool = True


@dataclass(frozen=True, eq=False)
class AnatomyResult:
    """The anatomy labels and what went wrong tolerably."""

    label_map: LabelMap
    warnings: tuple[str, ...]

    def volumes_ml(self) -> dict[str, float]:
        return {name: self.label_map.volume_ml(name) for name in self.label_map.names}


def cranial_sign(geometry: Geometry) -> int:
    """+1 when slice index k grows toward the head, -1 toward the feet, 0 if not axial."""
    along_z = float(geometry.direction[2, 2])
    if abs(along_z) < 0.7:
        return 0
    return 1 if along_z > 0 else -1


def _lung_on_scan(
    lung_coarse: NDArray[np.bool_],
    air: NDArray[np.bool_],
    grid: BlockGrid,
    closing_mm: float,
    max_hole_mm2: float,
) -> NDArray[np.bool_]:
    """Lung on the scan grid with its vessels: closed, small holes filled, edges from HU."""
    if not lung_coarse.any():
        return np.zeros(grid.shape, dtype=bool)
    spacing = grid.coarse_spacing_kji_mm
    disk = disk_structure(closing_mm, spacing)
    closed = ndimage.binary_closing(lung_coarse, structure=disk) | lung_coarse
    holes, count = fill_holes_in_slices(closed)
    areas_mm2 = np.bincount(holes.ravel(), minlength=count + 1) * spacing[1] * spacing[2]
    small = areas_mm2 <= max_hole_mm2
    small[0] = False
    # One coarse voxel more, so the lung's partial-volume edge comes from the fine air.
    region = dilate_square(closed | small[holes], max(spacing[1:]), spacing)
    return grid.refine(region, air)


def _attached(
    body: NDArray[np.bool_],
    hu: NDArray[np.generic],
    body_coarse: NDArray[np.bool_],
    grid: BlockGrid,
    seam_hu: float,
) -> NDArray[np.bool_]:
    """The scan-grid body without plates that lie against the skin across a seam.

    A shoulder bracket or a pad's cover resting on the back touches the skin
    through a seam of trapped air and foam darker than ``seam_hu``; no tissue of
    the body's outer centimetres is (fat, the lightest, reads -100 HU). Cut at
    such seams in the outer band (four coarse voxels, about 8 mm: the coarse
    outline may reach over the plate), parts with no voxel deeper in the body go;
    the seam voxels touching the patient (its partial-volume skin edge) stay.
    """
    spacing = grid.coarse_spacing_kji_mm
    band = grid.upsample(body_coarse & ~erode_square(body_coarse, 4 * max(spacing[1:]), spacing))
    seam = body & band & (hu < seam_hu)
    # Slice by slice: a plate touching the skin in one slice must not hang on to
    # the patient through that contact in all the others.
    labels, count = ndimage.label(body & ~seam, structure=IN_SLICE_FACES)
    if count == 0:
        return body
    keep = np.zeros(count + 1, dtype=bool)
    keep[np.unique(labels[body & ~band])] = True
    keep[0] = False
    patient = keep[labels]
    # Seam voxels touching the patient are its partial-volume skin edge, unless
    # they also touch the plate cut off: then they are the trapped air between.
    fine = grid.spacing_kji_mm
    step_mm = max(fine[1:])
    plate = body & ~seam & ~patient
    edge = seam & dilate_square(patient, step_mm, fine) & ~dilate_square(plate, step_mm, fine)
    return patient | edge


def brightest_blood_hu(
    hu_coarse: NDArray[np.float32], body_coarse: NDArray[np.bool_], grid: BlockGrid
) -> float:
    """The brightest enhanced blood of the scan (HU): the 99.5th percentile of soft tissue.

    Soft tissue here is body above water density and clear (by two coarse voxels)
    of anything above 300 HU, so bone and its partial volume do not count; the
    brightest half percent of it is the contrast-filled aorta, heart and
    renal cortex on a contrast CT, the liver or muscle on a plain one.
    """
    spacing = grid.coarse_spacing_kji_mm
    dense = dilate_square(hu_coarse >= 300.0, 2 * max(spacing[1:]), spacing)
    values = hu_coarse[body_coarse & ~dense & (hu_coarse > 0.0)]
    return float(np.percentile(values, 99.5)) if values.size else 0.0


def _organ_masks(
    volume: Volume,
    box: tuple[slice, slice, slice],
    masks: dict[str, NDArray[np.bool_]],
    cancel: CancelToken | None,
) -> tuple[dict[str, NDArray[np.bool_]], list[str]]:
    """Liver, spleen, kidneys, renal sinus, aorta and IVC from the abdominal step.

    It runs on the box around the body, as the other steps do.
    """
    start = tuple(axis.start for axis in box)
    geometry = volume.geometry.cropped(start, masks["body"].shape)
    result = segment_abdomen(
        volume.voxels[box],
        geometry,
        body=masks["body"],
        bone=masks["bone"],
        lung=masks["lung"],
        cancel=cancel,
    )
    organs = {name: mask for name, mask in result.masks.items() if name in ORGAN_LABELS}
    return organs, list(result.warnings)


def _paint(
    geometry: Geometry, box: tuple[slice, slice, slice], masks: dict[str, NDArray[np.bool_]]
) -> LabelMap:
    """One label map of the whole grid from the masks of the box around the body."""
    voxels = np.zeros(geometry.shape, dtype=np.uint8)
    inside = voxels[box]
    table: list[LabelInfo] = []
    for name in PAINT_ORDER:
        mask = masks.get(name)
        if mask is None or not mask.any():
            continue
        info = standard_label(name)
        inside[mask] = info.value
        table.append(info)
    present = set(np.unique(voxels).tolist())
    return LabelMap(voxels, geometry, tuple(info for info in table if info.value in present))


def _merge(into: LabelMap, anatomy: LabelMap) -> LabelMap:
    """``into`` with the anatomy filling its background (its own labels are kept).

    An anatomy label already in ``into`` is replaced, as ``with_mask`` would.
    """
    voxels = into.voxels.copy()
    # A one-voxel stand-in gets the label table ``with_mask`` would build,
    # without copying the whole grid once per label.
    stub = LabelMap(
        np.zeros((1, 1, 1), dtype=voxels.dtype), into.geometry.with_shape((1, 1, 1)), into.table
    )
    lookup = np.zeros(256, dtype=np.uint16)
    for info in anatomy.table:
        if stub.has(info.name):
            voxels[voxels == stub.info(info.name).value] = 0
        stub = stub.with_mask(info.name, np.zeros((1, 1, 1), dtype=bool))
        lookup[info.value] = stub.info(info.name).value
    if lookup.max() > np.iinfo(voxels.dtype).max:
        voxels = voxels.astype(np.uint16)
    free = (voxels == 0) & (anatomy.voxels > 0)
    voxels[free] = lookup[anatomy.voxels[free]]
    return LabelMap(voxels, into.geometry, stub.table)


def segment_anatomy(
    volume: Volume,
    *,
    settings: AnatomySettings | None = None,
    into: LabelMap | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> AnatomyResult:
    """Body, skin, bone, lung, bowel, colon, pectoral muscle and abdominal organs of a CT.

    Parameters
    ----------
    volume : Volume
        A CT volume in Hounsfield units.
    settings : AnatomySettings, optional
        Thresholds and sizes; the defaults suit contrast-enhanced CT of the trunk.
    into : LabelMap, optional
        An existing map on the same grid; its labels (tumor, organs) are kept
        and the anatomy only fills its background.
    progress, cancel
        Progress callback and cancel token.

    Returns
    -------
    AnatomyResult
        The label map and warnings naming what was not found or may be wrong.

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
    if into is not None:
        into.geometry.require_match(volume.geometry, what="segment_anatomy: labels vs image")
    settings = settings or AnatomySettings()
    report = progress or no_progress
    geometry = volume.geometry
    spacing = geometry.spacing_kji_mm
    hu = volume.voxels
    warnings: list[str] = []

    def step(fraction: float, message: str) -> None:
        if cancel is not None:
            cancel.raise_if_cancelled()
        report(fraction, message)

    step(0.0, "Body outline")
    full_grid = BlockGrid.for_scan(volume.voxels.shape, spacing)
    full_coarse = full_grid.mean(volume.voxels)
    scale = hounsfield_warning(full_coarse, settings.checks)
    if scale:
        warnings.append(scale)
    full_body_coarse = coarse_body(
        full_coarse,
        full_grid,
        threshold_hu=settings.body_threshold_hu,
        table_detach_mm=settings.table_detach_mm,
        limb_min_radius_mm=settings.limb_min_radius_mm,
        table_min_ml=settings.table_min_ml,
        tissue_min_hu=settings.tissue_min_hu,
        open_air_contact_fraction=settings.open_air_contact_fraction,
    )
    if not full_body_coarse.any():
        raise SegmentationError(
            f"no body found above {settings.body_threshold_hu:.0f} HU: the image holds no "
            "patient, or its values are not Hounsfield units."
        )
    # From here on everything works on the box around the body (the table and
    # the air around the patient are half of a typical field of view).
    grid, coarse_box, box = full_grid.crop(full_body_coarse)
    hu_coarse, body_coarse = full_coarse[coarse_box], full_body_coarse[coarse_box]
    hu = volume.voxels[box]
    # On the scan grid too, a pad against the skin (-200 to -500 HU, two voxels or
    # more thick) is no body; the skin's own partial-volume layer is one voxel.
    dense = hu > settings.body_threshold_hu
    pad = dense & (hu < settings.tissue_min_hu)
    dense &= ~ndimage.binary_opening(pad, structure=np.ones((1, 2, 2), dtype=bool))
    body = grid.refine(body_coarse, dense)
    body = _attached(body, hu, body_coarse, grid, settings.seam_hu)
    masks: dict[str, NDArray[np.bool_]] = {"body": body}
    step(0.15, "Skin")
    masks["skin"] = skin_mask(body, settings.skin_thickness_mm, spacing)
    step(0.25, "Bone")
    blood_hu = brightest_blood_hu(hu_coarse, body_coarse, grid)
    bone, contrast_ml = bone_mask(hu, body, spacing, settings.bone, blood_hu)
    masks["bone"] = bone
    if contrast_ml >= 1.0:
        warnings.append(
            f"{contrast_ml:.0f} ml of dense contrast (above {settings.bone.cortex_hu:.0f} HU in "
            "lumens over a centimetre wide) was left out of bone."
        )
    step(0.45, "Lung and bowel")
    masks.update(
        _air_masks(hu, hu_coarse, masks, body_coarse, grid, cranial_sign(geometry), settings)
    )
    # The pectoral muscle under the breast, where the scan shows the anterior chest.
    pectoral, chest_in_scan = pectoral_muscle(
        hu,
        body,
        masks["lung"],
        bone,
        masks["skin"],
        grid,
        anterior_sign(geometry.direction),
        settings.chest_wall,
    )
    masks["pectoral_muscle"] = pectoral
    if chest_in_scan and not pectoral.any():
        warnings.append(PECTORAL_NOT_FOUND)
    step(0.6, "Abdominal organs")
    if settings.organs:
        organs, organ_warnings = _organ_masks(volume, box, masks, cancel)
        air = masks["lung"] | (body & (hu < settings.air.air_hu))
        for name, mask in organs.items():
            masks[name] = mask & body & ~air & ~bone
        warnings.extend(organ_warnings)
    step(0.9, "Checking the image")
    near_bone = ndimage.binary_dilation(grid.any(bone))
    soft_coarse = body_coarse & ~near_bone & (hu_coarse > settings.air.air_hu)
    warnings.extend(
        image_warnings(hu, hu_coarse, body, full_body_coarse, soft_coarse, settings.checks)
    )
    anatomy = _paint(geometry, box, masks)
    warnings.extend(_not_found(anatomy, settings))
    if into is not None:
        anatomy = _merge(into, anatomy)
    report(1.0, "Anatomy done")
    return AnatomyResult(anatomy, tuple(warnings))


def _air_masks(
    hu: NDArray[np.generic],
    hu_coarse: NDArray[np.float32],
    masks: dict[str, NDArray[np.bool_]],
    body_coarse: NDArray[np.bool_],
    grid: BlockGrid,
    cranial: int,
    settings: AnatomySettings,
) -> dict[str, NDArray[np.bool_]]:
    """Lung, bowel and colon on the scan grid (crop).

    Every gas voxel inside the body that is not lung belongs to the bowel or
    colon: a bubble too small for the coarse grid still is bowel gas.
    """
    body, bone = masks["body"], masks["bone"]
    spacing = grid.coarse_spacing_kji_mm
    # Gas lies inside the trunk's wall; air within `surface_air_mm` of the body's
    # surface is trapped between the skin and a mattress, sheet or skin fold.
    deep_coarse = erode_square(body_coarse, settings.surface_air_mm, grid.coarse_spacing_kji_mm)
    air = body & (hu < settings.air.air_hu) & grid.upsample(deep_coarse)
    lung_coarse, gas_coarse = classify_air(hu_coarse, deep_coarse, grid, cranial, settings.air)
    lung = (
        _lung_on_scan(
            lung_coarse, air, grid, settings.lung_closing_mm, settings.lung_max_hole_mm2
        )
        & body
        & ~bone
    )
    gas = air & ~lung
    gas_fraction = grid.fraction(gas)
    pockets = gas_pockets(gas, grid, settings.air.stool_bubble_max_ml)
    # Bubbles count only clear of the lung and of the body's surface, whose
    # partial-volume edges (and pads against the skin) read like them.
    clearance_mm = settings.air.stool_clearance_mm
    clear = erode_square(body_coarse, clearance_mm, spacing) & ~pockets
    clear &= ~dilate_square(lung_coarse, clearance_mm, spacing)
    dark = (hu < settings.air.stool_bubble_hu) & grid.upsample(clear) & ~lung
    bubbles = grid.fraction(dark)
    stool = mottled_stool(hu_coarse, bubbles, body_coarse, lung_coarse, grid, settings.air)
    # Bowel wall: enhancing mucosa and muscle, from water to enhanced tissue.
    soft = (hu_coarse > -50.0) & (hu_coarse < 200.0)
    bowel_coarse, colon_coarse = bowel_regions(
        gas_coarse | (gas_fraction > 0), stool, soft, grid, settings.air
    )
    inside = body & ~lung & ~bone
    colon_region = grid.upsample(colon_coarse)
    colon = (colon_region & inside) | (gas & colon_region)
    bowel = ((grid.upsample(bowel_coarse) & inside) | gas) & ~colon
    return {"lung": lung, "bowel": bowel, "colon": colon}


def _not_found(anatomy: LabelMap, settings: AnatomySettings) -> list[str]:
    """One warning per expected structure the scan did not yield."""
    reasons = {
        "bone": f"no bone found in this scan (no cortex above {settings.bone.cortex_hu:.0f} HU).",
        "lung": "no lung found in this scan (it does not reach the thorax, or no aerated "
        "lung was recognised).",
        "bowel": "no bowel found: neither bowel gas nor mottled stool in this scan.",
        "colon": "no colon told apart (no mottled stool content found); colon gas, where "
        "present, is labelled bowel.",
    }
    warnings = [text for name, text in reasons.items() if not anatomy.has(name)]
    warnings.append(
        "bowel loops filled only with fluid cannot be told from other soft tissue by density "
        "and are not labelled bowel."
    )
    return warnings
