"""The patient's body and skin on CT, without the table and without outside air.

* The body is tissue denser than ``body_threshold_hu`` (-500 HU lies halfway
  between air at -1000 HU and fat at -100 HU, so the threshold sits on the skin
  surface whatever the partial volume).
* The CT table and the thin lines of mattresses, blankets and cables are plates
  or shells a few millimetres to 2 cm thick. An in-slice opening by
  ``table_detach_mm`` parts them from the patient where they touch; of the
  parts left, the largest is the trunk and any other part is kept only when it
  is large and at least ``limb_min_radius_mm`` thick at its thickest, as an arm
  or a leg is (a table plate never is).
* Lungs and bowel gas are holes of the body in every axial slice and are
  filled. Air between an arm and the trunk is also enclosed in some slices, but
  it opens into the outside air in the slices above or below: holes with more
  than ``open_air_contact_fraction`` of their voxels facing outside air along
  the slice axis are outside air and stay out.
* The opening removes thin rims of the patient too; what it removed stays out
  only when it forms a part of at least ``table_min_ml`` (a table plate or a
  mattress runs along the whole scan), so that the table is cut off even where
  it touches the skin, or when its mean is below ``tissue_min_hu`` (-200 HU: a
  positioning pad, sheet or foam cover at -200 to -500 HU, while a rim of skin
  and fat, partial volume with air included, stays above it). Pads lying
  against the skin are taken out before the opening: no tissue reads -200 to
  -500 HU over more than the one-voxel partial-volume layer of the skin.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.segmentation.anatomy_grid import (
    BlockGrid,
    dilate_square,
    erode_square,
    fill_holes_in_slices,
)
from planning_core.segmentation.morphology import FACE_CONNECTIVITY, ball_offsets

Box = tuple[slice, slice, slice]


def _parts_to_keep(
    opened: NDArray[np.bool_],
    min_radius_mm: float,
    spacing: tuple[float, float, float],
    min_fraction: float,
) -> tuple[NDArray[np.int32], NDArray[np.bool_]]:
    """Component labels of the patient: the largest part and large, thick others."""
    labels, count = ndimage.label(opened, structure=FACE_CONNECTIVITY)
    if count == 0:
        return labels, np.zeros(1, dtype=bool)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    keep = np.zeros(count + 1, dtype=bool)
    largest = int(np.argmax(sizes))
    keep[largest] = True
    boxes = ndimage.find_objects(labels)
    for value in np.flatnonzero(sizes >= min_fraction * sizes[largest]):
        if value == largest:
            continue
        box = boxes[value - 1]
        part = np.pad(labels[box] == value, ((0, 0), (1, 1), (1, 1)))
        # An in-slice erosion by the minimum radius leaves a core only in parts at
        # least that thick: limbs have one, table plates do not.
        keep[value] = bool(erode_square(part, min_radius_mm, spacing).any())
    return labels, keep


def coarse_body(
    hu_coarse: NDArray[np.float32],
    grid: BlockGrid,
    *,
    threshold_hu: float,
    table_detach_mm: float,
    limb_min_radius_mm: float,
    table_min_ml: float,
    tissue_min_hu: float,
    open_air_contact_fraction: float,
) -> NDArray[np.bool_]:
    """The body on the coarse grid: patient parts, their enclosed air filled."""
    spacing = grid.coarse_spacing_kji_mm
    dense = hu_coarse > threshold_hu
    # Positioning pads, sheets and foam covers (-200 to -500 HU) are denser than
    # air; at the skin only a one-voxel partial-volume layer reads like them, so
    # a layer at least two coarse voxels thick in both in-slice directions is a
    # pad lying against the patient, not the patient.
    padding = dense & (hu_coarse < tissue_min_hu)
    dense &= ~ndimage.binary_opening(padding, structure=np.ones((1, 2, 2), dtype=bool))
    opened = dilate_square(erode_square(dense, table_detach_mm, spacing), table_detach_mm, spacing)
    labels, keep = _parts_to_keep(opened & dense, limb_min_radius_mm, spacing, min_fraction=0.05)
    patient = keep[labels]
    # What the opening removed is either a thin rim, wall or protrusion of the
    # patient (a small part) or a plate of the table, a mattress or a sheet (a
    # large part, running along the scan): the latter stays out even where it
    # touches the skin, the former returns where it touches the patient.
    removed, count = ndimage.label(dense & ~patient, structure=FACE_CONNECTIVITY)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    voxels = np.bincount(removed.ravel(), minlength=count + 1)
    mean_hu = np.bincount(removed.ravel(), weights=hu_coarse.ravel(), minlength=count + 1)
    mean_hu /= np.maximum(voxels, 1)
    # Sheets and foam covers read -400 to -500 HU, far lighter than any tissue
    # (fat, the lightest, is -100 HU): such a part does not return either.
    returns = (voxels * voxel_ml < table_min_ml) & (mean_hu >= tissue_min_hu)
    touching = np.zeros(count + 1, dtype=bool)
    touching[np.unique(removed[dilate_square(patient, max(spacing[1:]), spacing)])] = True
    returns &= touching
    returns[0] = False
    body = patient | returns[removed]
    holes, _ = fill_holes_in_slices(body)
    enclosed = holes > 0
    body |= enclosed
    return body & ~_open_to_outside(body, enclosed, open_air_contact_fraction)


def _open_to_outside(
    body: NDArray[np.bool_], enclosed: NDArray[np.bool_], contact_fraction: float
) -> NDArray[np.bool_]:
    """Enclosed holes that face outside air in the neighbouring slices."""
    labels, count = ndimage.label(enclosed, structure=FACE_CONNECTIVITY)
    if count == 0:
        return np.zeros_like(enclosed)
    outside = ~body
    facing = np.zeros_like(enclosed)
    facing[1:] |= outside[:-1]
    facing[:-1] |= outside[1:]
    facing &= enclosed
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    contacts = np.bincount(labels[facing], minlength=count + 1)
    is_open = contacts > contact_fraction * np.maximum(sizes, 1)
    is_open[0] = False
    return is_open[labels]


def body_box(body: NDArray[np.bool_]) -> Box:
    """Bounding box of the body (the whole grid for an empty mask)."""
    found = ndimage.find_objects(body.view(np.uint8))
    if not found or found[0] is None:
        return tuple(slice(0, n) for n in body.shape)  # type: ignore[return-value]
    return found[0]


def skin_mask(
    body: NDArray[np.bool_], thickness_mm: float, spacing_kji_mm: tuple[float, float, float]
) -> NDArray[np.bool_]:
    """The body's outer ``thickness_mm`` layer.

    Voxels beyond the grid count as body: a slice that cuts the patient is no
    skin. The erosion uses the exact set of voxel offsets within the thickness,
    so on slices thicker than the skin it stays within the slice.
    """
    offsets = ball_offsets(thickness_mm, spacing_kji_mm)
    reach = np.abs(offsets).max(axis=0)
    structure = np.zeros(tuple(2 * r + 1 for r in reach), dtype=bool)
    structure[tuple((offsets + reach).T)] = True
    box_shaped = bool(structure.all()) and reach[0] == 0
    # Crop to the body grown by the reach: the crop's faces are then grid faces or
    # background, so the border value only speaks for voxels beyond the grid.
    box = tuple(
        slice(max(b.start - r, 0), min(b.stop + r, n))
        for b, r, n in zip(body_box(body), reach, body.shape, strict=True)
    )
    inner = np.zeros_like(body)
    if box_shaped:
        # The ball is a square within the slice: two fast 1-D passes do it.
        inner[box] = erode_square(body[box], thickness_mm, spacing_kji_mm)
    else:
        inner[box] = ndimage.binary_erosion(body[box], structure=structure, border_value=1)
    return body & ~inner
