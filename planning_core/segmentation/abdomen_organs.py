"""Liver, spleen and kidneys on the coarse grid: intensity window, bridges cut, priors.

Each organ is a window of HU estimated from the image, cleaned of what cannot
be the organ (bone, lung, other organs), then opened with a growing radius
until the organ's component separates from its neighbours (liver from the
right kidney or heart, spleen from the stomach wall, kidney from the spleen):
at the smallest radius where a component satisfies the organ's size and
position, that component is grown back into the window by the same radius.
Axes are ``(z, y, x)`` toward head, back and the patient's left; positions in mm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from skimage.morphology import convex_hull_image

from planning_core.segmentation.abdomen_landmarks import histogram_mode_hu
from planning_core.segmentation.morphology import FACE_CONNECTIVITY, ball_offsets, padded_box

Spacing = tuple[float, float, float]

#: Opening radii tried in turn: bridges between abdominal organs are fat planes
#: collapsed to a few millimetres, partial-volumed on a 2.5 mm grid.
OPENING_RADII_MM = (3.0, 5.0, 7.0, 9.0)

#: Blood volume of the heart's chambers (together well over 200 ml; one ventricle
#: cut by the scan's edge still over 50 ml), against vessels in the liver.
HEART_MIN_BLOOD_ML = 50.0

#: Myocardium and diaphragm between the heart's blood and the liver (8-12 mm of
#: ventricular wall plus a few mm of diaphragm).
HEART_WALL_MM = 15.0

#: A kidney made solid is 5-7 cm thick: it survives openings that cut the
#: contact with the spleen's or liver's surface.
KIDNEY_OPENING_RADII_MM = (3.0, 5.0, 7.0, 9.0, 11.0)

#: The liver is thick (10-20 cm): it survives a wider opening, which removes the
#: abdominal wall muscles (about 1 cm thick) and the diaphragm lying against it.
LIVER_OPENING_RADII_MM = (6.0, 8.0, 10.0, 12.0)


def ball(radius_mm: float, spacing: Spacing) -> NDArray[np.bool_]:
    """Ellipsoidal structuring element of ``radius_mm`` on the coarse grid."""
    offsets = ball_offsets(radius_mm, spacing)
    reach = np.abs(offsets).max(axis=0)
    element = np.zeros(tuple(2 * reach + 1), dtype=bool)
    element[tuple((offsets + reach).T)] = True
    return element


def _in_box(
    mask: NDArray[np.bool_], radius_mm: float, spacing: Spacing
) -> tuple[tuple[slice, slice, slice], NDArray[np.bool_]] | None:
    pad = np.ceil(radius_mm / np.asarray(spacing)).astype(np.int64) + 1
    box = padded_box(mask, pad)
    return None if box is None else (box, mask[box])


def erode(mask: NDArray[np.bool_], radius_mm: float, spacing: Spacing) -> NDArray[np.bool_]:
    """Erosion by a ball; beyond the grid is unknown, so the border does not erode."""
    return ndimage.binary_erosion(mask, ball(radius_mm, spacing), border_value=1)


def dilate(mask: NDArray[np.bool_], radius_mm: float, spacing: Spacing) -> NDArray[np.bool_]:
    """Dilation by a ball, computed on the mask's padded bounding box."""
    out = np.zeros_like(mask)
    found = _in_box(mask, radius_mm, spacing)
    if found is not None:
        box, part = found
        out[box] = ndimage.binary_dilation(part, ball(radius_mm, spacing))
    return out


def open_(mask: NDArray[np.bool_], radius_mm: float, spacing: Spacing) -> NDArray[np.bool_]:
    """Opening by a ball: removes parts and bridges thinner than the ball."""
    return dilate(erode(mask, radius_mm, spacing), radius_mm, spacing) & mask


def close(mask: NDArray[np.bool_], radius_mm: float, spacing: Spacing) -> NDArray[np.bool_]:
    """Closing by a ball, on the padded bounding box (a mask at the border stays put)."""
    out = mask.copy()
    found = _in_box(mask, 2.0 * radius_mm, spacing)
    if found is not None:
        box, part = found
        element = ball(radius_mm, spacing)
        dilated = ndimage.binary_dilation(part, element)
        closed = ndimage.binary_erosion(dilated, element, border_value=1)
        out[box] |= closed
    return out


def fill_slices(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Fill holes in each axial slice, on the mask's bounding box only."""
    out = mask.copy()
    box = padded_box(mask, np.array([0, 1, 1]))
    if box is None:
        return out
    for z in range(box[0].start, box[0].stop):
        out[z, box[1], box[2]] = ndimage.binary_fill_holes(mask[z, box[1], box[2]])
    return out


@dataclass(frozen=True)
class Component:
    """Size and position of one connected candidate (mm, ml)."""

    label: int
    volume_ml: float
    centre_zyx_mm: NDArray[np.float64]
    low_zyx_mm: NDArray[np.float64]
    high_zyx_mm: NDArray[np.float64]

    @property
    def extent_zyx_mm(self) -> NDArray[np.float64]:
        return self.high_zyx_mm - self.low_zyx_mm


#: Scores a component; ``None`` rejects it, otherwise larger is better.
Scorer = Callable[[Component], "float | None"]


def components(
    mask: NDArray[np.bool_], spacing: Spacing, origin: tuple[int, int, int] = (0, 0, 0)
) -> tuple[NDArray, list[Component]]:
    """Face-connected components of ``mask`` with their size and position.

    ``origin`` is the grid index of ``mask[0, 0, 0]`` when ``mask`` is a crop:
    positions are reported on the whole grid.
    """
    labels, count = ndimage.label(mask, structure=FACE_CONNECTIVITY)
    if count == 0:
        return labels, []
    voxel_ml = float(np.prod(spacing)) / 1000.0
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    where = np.nonzero(labels)
    owner = labels[where]
    centres = (
        np.stack(
            [np.bincount(owner, weights=axis, minlength=count + 1)[1:] for axis in where], axis=1
        )
        / np.maximum(sizes, 1)[:, np.newaxis]
    )
    boxes = ndimage.find_objects(labels)
    scale = np.asarray(spacing)
    shift = np.asarray(origin, dtype=np.float64)
    found = []
    for n, box in enumerate(boxes):
        if box is None:
            continue
        low = (np.array([s.start for s in box], dtype=np.float64) + shift) * scale
        high = (np.array([s.stop for s in box], dtype=np.float64) + shift) * scale
        centre = (centres[n] + shift) * scale
        found.append(Component(n + 1, sizes[n] * voxel_ml, centre, low, high))
    return labels, found


def pick_component(
    candidate: NDArray[np.bool_],
    spacing: Spacing,
    score: Scorer,
    radii_mm: tuple[float, ...] = OPENING_RADII_MM,
) -> NDArray[np.bool_] | None:
    """The best component by ``score`` after the smallest opening that yields one.

    Each is grown back into ``candidate`` by the opening radius, so the opening
    only cuts bridges and does not shave the organ's surface.
    """
    full_shape = candidate.shape
    found_box = _in_box(candidate, 0.0, spacing)
    if found_box is None:
        return None
    box, candidate = found_box
    for radius in radii_mm:
        opened = open_(candidate, radius, spacing)
        labels, found = components(opened, spacing, (box[0].start, box[1].start, box[2].start))
        scored = [(s, c) for c in found if (s := score(c)) is not None]
        if not scored:
            continue
        chosen = max(scored, key=lambda pair: pair[0])[1]
        core = labels == chosen.label
        grown = np.zeros(full_shape, dtype=bool)
        grown[box] = dilate(core, radius + 0.5 * min(spacing), spacing) & candidate
        return grown
    return None


def smooth_organ(mask: NDArray[np.bool_], radius_mm: float, spacing: Spacing) -> NDArray[np.bool_]:
    """Close small notches and fill enclosed vessels and lesions slice by slice."""
    return fill_slices(close(mask, radius_mm, spacing))


def _kidney_cortex(
    hu: NDArray[np.float32],
    zone: NDArray[np.bool_],
    side_x: NDArray,
    sign: float,
    z_mm_centre_below: Callable[[float], float],
    spine_x_mm: NDArray[np.float32],
    spacing: Spacing,
    cortex_low_hu: float,
) -> NDArray[np.bool_] | None:
    """The enhancing cortex of the kidney on one side (``sign`` -1 right, +1 left)."""

    def score(c: Component) -> float | None:
        z = min(round(c.centre_zyx_mm[0] / spacing[0]), len(spine_x_mm) - 1)
        lateral = sign * (c.centre_zyx_mm[2] - float(spine_x_mm[z]))
        # A kidney: 50-450 ml (a small adult kidney to a large one, sinus
        # included), centred 3-11 cm from the midline.
        if not 50.0 <= c.volume_ml <= 450.0 or not 30.0 <= lateral <= 110.0:
            return None
        # Length at most 17 cm, axial section at most 8.5 cm wide (a kidney merged
        # with the spleen or liver is wider).
        extent = c.extent_zyx_mm
        if extent[0] > 170.0 or max(extent[1], extent[2]) > 85.0:
            return None
        # Its centre lies about 4-12 cm below the lung base (L1-L2), the spleen's
        # and liver's at the base; and about 6-7 cm from the midline, the
        # spleen's farther out.
        below = z_mm_centre_below(c.centre_zyx_mm[0])
        if not 0.0 <= below <= 200.0:  # not beside the lungs, not in the pelvis
            return None
        prior = np.exp(-0.5 * ((below - 80.0) / 40.0) ** 2)
        prior *= np.exp(-0.5 * ((lateral - 65.0) / 25.0) ** 2)
        return c.volume_ml * prior

    side_mask = zone & (hu >= cortex_low_hu) & ((sign * side_x) > 0)
    # The cortex is a shell 5-8 mm thick that an opening wide enough to cut the
    # kidney from the spleen or liver would erase: open the kidney made solid
    # (shell closed and filled slice by slice) instead.
    solid = fill_slices(close(side_mask, 4.0, spacing)) & zone
    picked = pick_component(solid, spacing, score, KIDNEY_OPENING_RADII_MM)
    return None if picked is None else picked & side_mask


def kidney_masks(
    hu: NDArray[np.float32],
    allowed: NDArray[np.bool_],
    positions: tuple[NDArray, NDArray, NDArray],
    spine_x_mm: NDArray[np.float32],
    spine_front_y_mm: NDArray[np.float32],
    spacing: Spacing,
    *,
    cortex_low_hu: float,
    parenchyma_low_hu: float,
    lung_base_z_mm: dict[str, float],
) -> dict[str, NDArray[np.bool_]]:
    """Right and left kidney parenchyma and the renal sinus between them.

    The enhancing cortex (above ``cortex_low_hu``) finds each kidney beside the
    spine; the slice-wise convex hull of the kidney gives its outline including
    the hilum. Inside the hull, tissue above ``parenchyma_low_hu`` (medulla,
    which enhances later than the cortex) is kidney; the rest (sinus fat,
    collecting system, hilar vessels) is renal sinus.

    A kidney not separable from a touching spleen or liver at ``cortex_low_hu``
    is searched again above the midpoint between that threshold and the cortex
    HU measured on the other kidney (or, with none found, on the brightest peak
    beside the spine): kidney cortex enhances more than spleen and liver in
    every contrast phase.
    """
    _, y_mm, x_mm = positions
    side_x = x_mm - spine_x_mm[:, np.newaxis, np.newaxis]
    front = spine_front_y_mm[:, np.newaxis, np.newaxis]
    # Kidneys lie 2 to 13 cm from the midline, from the vertebral body's front
    # (minus a few cm for a rotated or low kidney) backward.
    zone = allowed & (np.abs(side_x) >= 20.0) & (np.abs(side_x) <= 130.0) & (y_mm >= front - 40.0)
    signs = {"right": -1.0, "left": 1.0}

    def find(side: str, threshold_hu: float) -> NDArray[np.bool_] | None:
        base = lung_base_z_mm[side]
        return _kidney_cortex(
            hu, zone, side_x, signs[side], lambda z: base - z, spine_x_mm, spacing, threshold_hu
        )

    cortex = {side: find(side, cortex_low_hu) for side in signs}
    found = [mask for mask in cortex.values() if mask is not None]
    if len(found) < 2:
        values = hu[found[0]] if found else hu[zone & (hu >= cortex_low_hu)]
        peak = histogram_mode_hu(values, cortex_low_hu + 20.0, cortex_low_hu + 400.0)
        if peak is not None:
            raised = 0.5 * (cortex_low_hu + peak[0])
            for side in signs:
                if cortex[side] is None:
                    cortex[side] = find(side, raised)
    result: dict[str, NDArray[np.bool_]] = {}
    for side, shell in cortex.items():
        if shell is None:
            continue
        hull = np.zeros_like(shell)
        for z in np.flatnonzero(shell.any(axis=(1, 2))):
            hull[z] = convex_hull_image(shell[z]) if shell[z].sum() >= 3 else shell[z]
        hull &= allowed
        kidney = open_(hull & (hu >= parenchyma_low_hu), 2.0, spacing) | shell
        result[f"kidney_{side}"] = kidney
        result[f"sinus_{side}"] = hull & ~kidney
    return result


def liver_mask(
    hu: NDArray[np.float32],
    allowed: NDArray[np.bool_],
    positions: tuple[NDArray, NDArray, NDArray],
    spine_x_mm: NDArray[np.float32],
    spacing: Spacing,
    *,
    window_hu: tuple[float, float],
    blood_above_hu: float,
    lung_base_z_mm: float,
) -> NDArray[np.bool_] | None:
    """The liver: the largest parenchyma in its window on the right under the lung base.

    ``blood_above_hu`` is the HU above which the heart's blood is told from liver.
    """
    z_mm = positions[0]
    candidate = allowed & (hu >= window_hu[0]) & (hu <= window_hu[1])

    def score(c: Component) -> float | None:
        z = round(c.centre_zyx_mm[0] / spacing[0])
        right_of_spine = float(spine_x_mm[z]) - c.centre_zyx_mm[2]
        # Liver: up to 4500 ml (hepatomegaly); at least 300 ml, a third of a small
        # adult liver, so that a scan cutting through it still finds it. Its
        # centre on the right, below the dome of the right lung, at most 20 cm under.
        if not 300.0 <= c.volume_ml <= 4500.0 or right_of_spine < 10.0:
            return None
        below_base = lung_base_z_mm - c.centre_zyx_mm[0]
        if not -40.0 <= below_base <= 200.0:
            return None
        return c.volume_ml

    # The heart lies on the diaphragm over the liver's dome, its wall as dense as
    # liver: its chambers (blood brighter than most liver, at least
    # HEART_MIN_BLOOD_ML once vessels thinner than 12 mm are opened away) above
    # the right lung base's level, and a wall's thickness around them, are not liver.
    blood = allowed & (hu > blood_above_hu) & (z_mm > lung_base_z_mm - 20.0)
    chambers = open_(blood, 6.0, spacing)
    _, found = components(chambers, spacing)
    labels, _ = ndimage.label(chambers, structure=FACE_CONNECTIVITY)
    heart = np.isin(labels, [c.label for c in found if c.volume_ml >= HEART_MIN_BLOOD_ML])
    if heart.any():
        lowest_mm = float(np.flatnonzero(heart.any(axis=(1, 2)))[0] * spacing[0])
        wall = dilate(heart, HEART_WALL_MM, spacing) & (z_mm >= lowest_mm - HEART_WALL_MM)
        candidate &= ~wall
    picked = pick_component(candidate, spacing, score, LIVER_OPENING_RADII_MM)
    if picked is None:
        return None
    return smooth_organ(picked, 5.0, spacing) & allowed


def spleen_mask(
    hu: NDArray[np.float32],
    allowed: NDArray[np.bool_],
    positions: tuple[NDArray, NDArray, NDArray],
    spine_x_mm: NDArray[np.float32],
    spine_front_y_mm: NDArray[np.float32],
    spacing: Spacing,
    *,
    window_hu: tuple[float, float],
    lung_base_z_mm: float,
) -> NDArray[np.bool_] | None:
    """The spleen: a compact parenchyma left, posterolateral, under the left lung base."""
    candidate = allowed & (hu >= window_hu[0]) & (hu <= window_hu[1])

    def score(c: Component) -> float | None:
        z = round(c.centre_zyx_mm[0] / spacing[0])
        left_of_spine = c.centre_zyx_mm[2] - float(spine_x_mm[z])
        behind_front = c.centre_zyx_mm[1] - float(spine_front_y_mm[z])
        # Spleen: 40-1500 ml (small to splenomegaly), 5-16 cm from the midline,
        # its centre behind the vertebral body's front or at most 2 cm ahead of it
        # (bowel loops and the stomach lie farther forward).
        if not 40.0 <= c.volume_ml <= 1500.0 or not 50.0 <= left_of_spine <= 160.0:
            return None
        if behind_front < -20.0:
            return None
        below_base = lung_base_z_mm - c.centre_zyx_mm[0]
        if not -50.0 <= below_base <= 160.0:
            return None
        # Prefer the lateral, posterior, high component over bowel or stomach.
        return c.volume_ml * (1.0 + behind_front / 100.0)

    picked = pick_component(candidate, spacing, score)
    if picked is None:
        return None
    return smooth_organ(picked, 4.0, spacing) & allowed
