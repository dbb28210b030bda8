"""Automatic solid organs of a contrast CT: liver, spleen, kidneys, renal sinus, aorta, IVC.

Classical and quick (a few seconds): everything is found on a coarse grid of
about 2.5 mm (:mod:`abdomen_grid`) turned to the patient, relative to the spine
and the lung bases (:mod:`abdomen_landmarks`), with intensity windows read from
this image's own histograms, so that arterial, portal-venous and nephrographic
phases all work:

* **muscle** (paraspinal, behind the spine) is the unenhanced soft-tissue
  reference, about 50 HU in every phase;
* the **aorta** is traced first (:mod:`abdomen_vessels`); a lumen no brighter
  than muscle + 60 HU means there is no contrast, and the organs are not
  attempted (an unenhanced liver, spleen and kidney differ from muscle by less
  than the noise);
* the **liver** window is the mode of the right upper quadrant's histogram;
  the heart on its dome (chambers brighter than the window, and a wall's
  thickness around them) is kept out;
* **kidney** cortex is brighter than the liver in every contrast phase; a
  kidney that cannot be parted from the spleen is searched again above the
  midpoint to the other kidney's cortex HU;
* the **spleen** window is the mode of the left posterolateral region once
  the kidney and liver are taken out;
* organs are separated from touching neighbours by opening and picked by their
  size and position (:mod:`abdomen_organs`), then brought back to the scan grid
  with smooth boundaries.

What was not found, or what the scan cuts, is said in ``warnings``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.progress import CancelToken
from planning_core.segmentation.abdomen_grid import CoarseGrid
from planning_core.segmentation.abdomen_landmarks import (
    Landmarks,
    find_landmarks,
    histogram_mode_hu,
)
from planning_core.segmentation.abdomen_organs import (
    kidney_masks,
    liver_mask,
    spleen_mask,
)
from planning_core.segmentation.abdomen_vessels import trace_vessel
from planning_core.segmentation.morphology import erode_mm

#: Labels this module may return, in painting order.
ABDOMEN_LABELS: tuple[str, ...] = ("liver", "spleen", "kidney", "renal_sinus", "aorta", "ivc")

#: Enhanced blood is at least this much brighter than muscle: unenhanced blood is
#: 40-50 HU (muscle 50-60); the weakest useful enhancement (late nephrographic
#: aorta) is 130 HU or more.
MIN_ENHANCEMENT_HU = 60.0

#: Smallest half-width of an organ window: the spread of an organ's voxels on the
#: coarse grid is noise (about 10 HU) plus true heterogeneity; a narrower window
#: from a sharp histogram peak would cut the organ into pieces.
MIN_HALF_WINDOW_HU = 25.0

#: Half-width of an organ window in units of its histogram peak's sigma (98 %).
WINDOW_SIGMAS = 2.5


@dataclass(frozen=True, eq=False)
class AbdomenResult:
    """Solid-organ masks on the scan grid and what could not be found."""

    masks: dict[str, NDArray[np.bool_]]
    warnings: tuple[str, ...]


def _window(mode: float, sigma: float, muscle_hu: float) -> tuple[float, float]:
    """HU window of an organ whose histogram peaks at ``mode``.

    The window never reaches past the midpoint to muscle: where the organ
    touches the diaphragm or the abdominal wall, a voxel nearer muscle than
    organ belongs to the muscle. An enhanced organ lies above muscle; a fatty
    liver may lie below it.
    """
    half = max(WINDOW_SIGMAS * sigma, MIN_HALF_WINDOW_HU)
    midpoint = 0.5 * (mode + muscle_hu)
    if mode >= muscle_hu:
        return max(mode - half, midpoint), mode + half
    return mode - half, min(mode + half, midpoint)


def _muscle_hu(
    hu: NDArray[np.float32],
    tissue: NDArray[np.bool_],
    positions: tuple[NDArray, NDArray, NDArray],
    landmarks: Landmarks,
) -> float | None:
    """Mode of the paraspinal muscles behind the vertebral bodies."""
    _, y_mm, x_mm = positions
    side = np.abs(x_mm - landmarks.spine_x_mm[:, None, None])
    region = tissue & (side >= 15.0) & (side <= 70.0)
    region &= y_mm >= landmarks.spine_front_y_mm[:, None, None] + 45.0
    found = histogram_mode_hu(hu[region], -20.0, 150.0)
    return None if found is None else found[0]


def _cut_warnings(name: str, mask: NDArray[np.bool_]) -> list[str]:
    """Say when an organ reaches the first or last slice: the scan cuts through it."""
    warnings = []
    if mask[0].any():
        warnings.append(f"{name} reaches the scan's lowest slice: it is cut there (cropped CT).")
    if mask[-1].any():
        warnings.append(f"{name} reaches the scan's highest slice: it is cut there (cropped CT).")
    return warnings


def segment_abdomen(
    hu: NDArray[np.generic],
    geometry: Geometry,
    *,
    body: NDArray[np.bool_],
    bone: NDArray[np.bool_],
    lung: NDArray[np.bool_],
    cancel: CancelToken | None = None,
) -> AbdomenResult:
    """Liver, spleen, kidneys, renal sinus, aorta and IVC of a contrast CT.

    Parameters
    ----------
    hu : ndarray
        CT values in Hounsfield units, array axes ``(k, j, i)`` of ``geometry``.
    geometry : Geometry
        The scan grid (must be axis-aligned; oblique grids give a warning).
    body, bone, lung : ndarray of bool
        The patient, bone and aerated lung from the HU anatomy, same shape.
    cancel : CancelToken, optional
        Polled between organs.

    Returns
    -------
    AbdomenResult
        Masks (keys among ``ABDOMEN_LABELS``) for the organs found, and one
        warning for each organ not found or cut by the scan's edge.

    Raises
    ------
    InvalidParameterError
        When an array's shape differs from the geometry.
    """
    for name, array in (("CT values", hu), ("body", body), ("bone", bone), ("lung", lung)):
        if array.shape != geometry.shape:
            raise InvalidParameterError(
                f"segment_abdomen: {name} has shape {array.shape}, the image {geometry.shape}."
            )

    def checkpoint() -> None:
        if cancel is not None:
            cancel.raise_if_cancelled()

    masks: dict[str, NDArray[np.bool_]] = {}
    warnings: list[str] = []
    grid = CoarseGrid.for_scan(geometry, body)
    if grid is None:
        reason = "the image is tilted against the patient axes" if body.any() else "no body"
        return AbdomenResult(masks, (f"no solid organs segmented: {reason}.",))
    spacing = grid.spacing_mm
    # A 3x3 in-slice median on top of the block mean: low-dose noise falls to a
    # third while organ edges stay put (a mean filter would blur them into the
    # windows of their neighbours).
    coarse = ndimage.median_filter(grid.mean(hu), size=(1, 3, 3))
    body_c = grid.fraction(body) >= 0.5
    bone_c = grid.fraction(bone) >= 0.3
    lung_c = grid.fraction(lung) >= 0.3
    landmarks = find_landmarks(coarse, body_c, bone_c, lung_c, spacing)
    checkpoint()
    if not landmarks.spine_found.any():
        return AbdomenResult(
            masks,
            (
                "no solid organs segmented: no spine found to place them by "
                "(the scan holds no vertebra, or bone was not found).",
            ),
        )
    positions = grid.position_mm(coarse.shape)
    z_mm, y_mm, x_mm = positions
    # Organs lie inside the body, under the abdominal wall muscles (about 1 cm).
    tissue = erode_mm(body_c, 8.0, spacing) & ~bone_c & ~lung_c
    muscle_hu = _muscle_hu(coarse, tissue, positions, landmarks)
    if muscle_hu is None:
        return AbdomenResult(
            masks, ("no solid organs segmented: no soft tissue found beside the spine.",)
        )
    aorta = trace_vessel(
        "aorta",
        coarse,
        body_c & ~bone_c & ~lung_c,
        landmarks,
        spacing,
        min_lumen_hu=muscle_hu + MIN_ENHANCEMENT_HU,
        background_hu=muscle_hu,
        z_range=(0, coarse.shape[0]),
    )
    checkpoint()
    if aorta is None:
        return AbdomenResult(
            masks,
            (
                "no contrast enhancement found (no aorta brighter than "
                f"{muscle_hu + MIN_ENHANCEMENT_HU:.0f} HU in front of the spine): liver, "
                "spleen, kidneys, renal sinus, aorta and IVC were not segmented; draw them "
                "by hand or use a contrast-enhanced CT.",
            ),
        )
    coarse_masks: dict[str, NDArray[np.bool_]] = {"aorta": aorta.mask}
    taken = aorta.mask.copy()

    right_base = landmarks.right_lung_base_z_mm
    left_base = landmarks.left_lung_base_z_mm
    top_mm = float((coarse.shape[0] - 1) * spacing[0])
    if right_base is None and left_base is None:
        warnings.append(
            "no lung bases in this scan: liver and spleen are searched below its top slice."
        )
    right_base = top_mm if right_base is None else right_base
    left_base = right_base if left_base is None else left_base

    # Liver intensity: the right upper quadrant below the right lung base.
    spine_x = landmarks.spine_x_mm[:, None, None]
    # Behind the vertebral front and within 7 cm of the midline lie the back
    # muscles, not liver. From 30 HU below muscle: a fatty liver reads lower than
    # muscle (a liver 10 HU below the spleen is steatotic; 40 HU is common).
    upper_right = tissue & (x_mm < spine_x - 20.0)
    upper_right &= (z_mm > right_base - 120.0) & (z_mm < right_base + 30.0)
    upper_right &= ~(
        (y_mm > landmarks.spine_front_y_mm[:, None, None] + 20.0) & (x_mm > spine_x - 70.0)
    )
    liver_peak = histogram_mode_hu(coarse[upper_right], muscle_hu - 30.0, aorta.lumen_hu)
    liver_window = None if liver_peak is None else _window(*liver_peak, muscle_hu)

    # Kidneys: cortex brighter than the liver's window (and than muscle + the
    # enhancement minimum where no liver was measured).
    cortex_low = muscle_hu + MIN_ENHANCEMENT_HU
    if liver_window is not None:
        cortex_low = max(cortex_low, liver_window[1])
    kidneys = kidney_masks(
        coarse,
        tissue & ~taken,
        positions,
        landmarks.spine_x_mm,
        landmarks.spine_front_y_mm,
        spacing,
        cortex_low_hu=cortex_low,
        parenchyma_low_hu=muscle_hu + 10.0,
        lung_base_z_mm={"right": right_base, "left": left_base},
    )
    checkpoint()
    kidney = np.zeros_like(body_c)
    sinus = np.zeros_like(body_c)
    for side in ("right", "left"):
        if f"kidney_{side}" in kidneys:
            kidney |= kidneys[f"kidney_{side}"]
            sinus |= kidneys[f"sinus_{side}"] & ~kidney
        else:
            warnings.append(
                f"no {side} kidney found: no enhancing bean-shaped organ beside the spine "
                "(absent, atrophic, or outside the scan)."
            )
    if kidney.any():
        coarse_masks["kidney"] = kidney
        coarse_masks["renal_sinus"] = sinus
        taken |= kidney | sinus

    ivc = trace_vessel(
        "ivc",
        coarse,
        body_c & ~bone_c & ~lung_c,
        landmarks,
        spacing,
        min_lumen_hu=muscle_hu + 0.5 * MIN_ENHANCEMENT_HU,
        background_hu=muscle_hu,
        z_range=(0, coarse.shape[0]),
        aorta=aorta,
        exclude=taken,
    )
    checkpoint()
    if ivc is not None:
        coarse_masks["ivc"] = ivc.mask
        taken |= ivc.mask
    else:
        warnings.append("no IVC found: no enhanced vein right of the aorta.")

    liver = None
    if liver_peak is not None and liver_window is not None:
        liver = liver_mask(
            coarse,
            tissue & ~taken,
            positions,
            landmarks.spine_x_mm,
            spacing,
            window_hu=liver_window,
            # Brighter than 97.5 % of the liver (its mode + 2 sigma, at least 20 HU
            # over it): the heart's blood even where unopacified blood still mixes
            # in the right atrium; liver vessels are thinner than the chambers.
            blood_above_hu=liver_peak[0] + max(2.0 * liver_peak[1], 20.0),
            lung_base_z_mm=right_base,
        )
    checkpoint()
    if liver is None:
        warnings.append(
            "no liver found: no large enhancing organ on the right below the lung base "
            "(outside the scan, or not enhanced)."
        )
    else:
        coarse_masks["liver"] = liver
        taken |= liver

    # Spleen intensity: behind the vertebral bodies' front on the left, under the
    # left lung base (where bowel loops, in front, rarely reach).
    upper_left = tissue & ~taken & (x_mm > spine_x + 50.0)
    upper_left &= y_mm > landmarks.spine_front_y_mm[:, None, None] - 10.0
    upper_left &= (z_mm > left_base - 100.0) & (z_mm < left_base + 40.0)
    low = muscle_hu + 20.0 if liver_peak is None else liver_peak[0] - MIN_HALF_WINDOW_HU
    spleen_peak = histogram_mode_hu(coarse[upper_left], low, aorta.lumen_hu)
    spleen = None
    if spleen_peak is not None:
        spleen = spleen_mask(
            coarse,
            tissue & ~taken,
            positions,
            landmarks.spine_x_mm,
            landmarks.spine_front_y_mm,
            spacing,
            window_hu=_window(*spleen_peak, muscle_hu),
            lung_base_z_mm=left_base,
        )
    if spleen is None:
        warnings.append(
            "no spleen found: no enhancing organ left and posterolateral below the lung base "
            "(splenectomy, outside the scan, or not enhanced)."
        )
    else:
        coarse_masks["spleen"] = spleen
    checkpoint()

    claimed = np.zeros(geometry.shape, dtype=bool)
    # Vessels first, then kidneys, liver, spleen: each full-grid voxel goes to the
    # first organ that claims it, as on the coarse grid.
    for name in ("aorta", "kidney", "renal_sinus", "ivc", "liver", "spleen"):
        if name not in coarse_masks:
            continue
        if name in ("liver", "spleen", "kidney"):
            # Vessels always run out of a scan; organs should lie wholly inside.
            warnings.extend(_cut_warnings(name, coarse_masks[name]))
        full, box = grid.to_scan(coarse_masks[name], geometry.shape)
        if box is None:
            continue
        full[box] &= body[box] & ~bone[box] & ~lung[box] & ~claimed[box]
        if full[box].any():
            masks[name] = full
            claimed[box] |= full[box]
    return AbdomenResult({n: masks[n] for n in ABDOMEN_LABELS if n in masks}, tuple(warnings))
