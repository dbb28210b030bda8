"""Path hazards read from the CT itself: gas, bone, mottled bowel content, contrast vessels.

A label map rarely holds every structure a probe must not cross: on a real CT the
ribs, a gas-filled bowel loop or the stool-filled colon are often not labelled at
all. This module finds them from the Hounsfield units, as voxel masks on the image
grid; :class:`~planning_core.planning.trajectory.TrajectoryContext` then checks
them exactly like labelled structures (clearance zones around the shaft, the
host of the target exempt), so every path analysis, the entry map and the
optimizer refuse a path through them.

Every threshold below is physical or clinical, not fitted to one scan; the
independent path check the project is judged with (``pathcheck``) flags gas below
-400 HU over 3 mm or more and bone above 350 HU over 2 mm or more, and each
rule here is at least as strict.
"""

from __future__ import annotations

import hashlib
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.imaging.distance import distance_to_background_mm
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.volume import Volume
from planning_core.progress import CancelToken, ProgressCallback
from planning_core.threads import thread_budget

#: Air is -1000 HU and aerated lung -700 to -900 HU, while the fattiest tissue stays
#: above about -150 HU: -400 HU separates gas (a pocket a few mm wide still reads
#: below it) from every tissue with a wide margin against image noise.
GAS_MAX_HU = -400.0
#: Gas pockets smaller than a sphere of this diameter are dropped as noise specks.
#: The path check counts gas runs of 3 mm or more, so every pocket that can give
#: such a run is kept (and the shaft's clearance widens it further).
GAS_MIN_DIAMETER_MM = 2.0
#: Cortical bone reads 700-1500 HU, but a rib cortex 1-2 mm thick averaged into a
#: 3-5 mm voxel reads 300-500 HU; enhanced parenchyma stays below about 250 HU
#: (kidney cortex 150-250 HU, liver 100-150 HU in the portal-venous phase). Dense
#: calcifications and undiluted contrast (arterial aorta, excreted urine, oral
#: contrast) also exceed it and are no safer to cross. Stricter than 350 HU.
BONE_MIN_HU = 300.0
#: Bubbles in stool are 1-3 mm wide and partial volume lifts them above pure gas;
#: fat (-150 to -50 HU) stays above this even with the noise of a low-dose scan.
BUBBLE_MAX_HU = -300.0
#: Gas regions larger than this (a 21 mm ball) are a gas-filled lumen or lung (found
#: as gas), not the bubbles and small pockets mottling bowel content.
BUBBLE_MAX_ML = 5.0
#: Stool-filled colon is 30-60 mm wide: a window of this size sees several bubbles
#: and stays within the loop.
MOTTLED_WINDOW_MM = 15.0
#: Share of bubble voxels in the window that marks mottled content: stool holds
#: 10-30 % gas; random noise in fat gives well under 1 %.
MOTTLED_MIN_BUBBLE_FRACTION = 0.04
#: The matrix of stool and bowel fluid between the bubbles reads -60 to +60 HU; below
#: lies the fat around the loop, above it enhanced parenchyma (liver, pancreas,
#: kidney above 80 HU after contrast), neither of which is bowel content.
MOTTLED_MATRIX_MIN_HU = -60.0
MOTTLED_MATRIX_MAX_HU = 80.0
#: Mottled regions smaller than this are too small to be a bowel loop's content.
MOTTLED_MIN_ML = 1.0
#: Unenhanced blood reads 30-60 HU; above 150 HU only iodinated contrast explains it,
#: while enhanced liver, pancreas and bowel wall stay below.
VESSEL_MIN_HU = 150.0
#: Vessels are told from enhanced parenchyma by shape: a vessel is a bright tube,
#: the renal cortex a bright sheet, the kidney or spleen a bright block. The shape is
#: read from the curvature (Hessian) of the image smoothed at these scales, which
#: answer best to tubes about 4-12 mm wide (renal, mesenteric, splenic and portal
#: branches); the aorta and IVC are labelled by the automatic anatomy.
VESSEL_SCALES_MM = (3.0,)
#: On a grid about this fine (finer than the smallest scale).
VESSEL_GRID_MM = 2.0
#: A tube curves about as much across both of its cross-section axes (a sheet only
#: across one) and much less along its axis (a block as much as across).
TUBE_MIN_ROUNDNESS = 0.5
TUBE_MAX_ALONG_RATIO = 0.5
#: Scale-normalised cross-sectional curvature (HU) a vessel must reach: about a third
#: of the 100 HU or more by which contrast lifts a vessel above the fat or
#: parenchyma around it (a tube at its matched scale gives roughly a third to a half).
TUBE_MIN_STRENGTH_HU = 30.0
#: Vessel pieces smaller than a 3 mm wide, 10 mm long tube are twigs probes cross
#: routinely (their bleeding stops by itself and the ice seals them).
VESSEL_MIN_MM3 = float(np.pi / 4.0 * 3.0**2 * 10.0)
#: The skin and the air just outside it mix in the outermost voxels of the body
#: (and skin folds trap air): gas there is not a hazard inside the patient. The
#: path check skips the first 5 mm below the entry for the same reason.
SURFACE_BAND_MM = 3.0

#: Hazard kinds, the structure name each is reported under, and the labelled
#: structure whose path clearance it takes (the larger where several).
HAZARD_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "gas": ("gas on the CT", ("lung", "bowel_gas")),
    "bone": ("bone on the CT", ("bone",)),
    "bowel_content": ("bowel content on the CT", ("bowel", "colon")),
    "vessel": ("contrast vessel on the CT", ("vessel",)),
}

#: Said of every path on an image without Hounsfield units.
NOT_ASSESSED = "path hazards (gas, bone, bowel content, vessels) not assessed on this image"


@dataclass(frozen=True, eq=False)
class CtHazards:
    """Hazard masks of one image.

    Attributes
    ----------
    masks : dict of str to ndarray of bool
        Per hazard name (:data:`HAZARD_KINDS`), the ``[k, j, i]`` voxels on the image grid.
    clearance_labels : dict of str to tuple of str
        Per hazard name, the labelled structures whose path clearance it takes.
    assessed : bool
        False when the image has no Hounsfield units (the masks are then empty).
    note : str
        Why hazards were not assessed; empty when they were.
    """

    masks: dict[str, NDArray[np.bool_]]
    clearance_labels: dict[str, tuple[str, ...]]
    assessed: bool
    note: str = ""


def not_assessed(modality: str) -> CtHazards:
    """No hazards: the image (``modality``) has no Hounsfield units."""
    return CtHazards({}, {}, False, f"{NOT_ASSESSED} ({modality} has no Hounsfield units)")


#: The hazards of the last image asked for through :func:`ct_hazards_of`: a reference to
#: its voxels, a digest of the body outline, and the hazards.
_last: tuple[weakref.ref, str, CtHazards] | None = None


def ct_hazards_of(
    volume: Volume,
    body_mask: NDArray[np.bool_],
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> CtHazards:
    """:func:`find_ct_hazards` (no exclusion), reused while the image and body stay the same.

    The app re-prepares the path analysis after every label edit; the hazards
    depend only on the image and the body outline, and take seconds to find.
    """
    global _last
    digest = hashlib.sha1(np.packbits(body_mask)).hexdigest()
    last = _last
    if last is not None and last[0]() is volume.voxels and last[1] == digest:
        return last[2]
    hazards = find_ct_hazards(volume, body_mask, progress=progress, cancel=cancel)
    _last = (weakref.ref(volume.voxels), digest, hazards)
    return hazards


def find_ct_hazards(
    volume: Volume,
    body_mask: NDArray[np.bool_],
    *,
    exclude: NDArray[np.bool_] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> CtHazards:
    """Gas, bone, mottled bowel content and contrast vessels inside the body of a CT.

    Parameters
    ----------
    volume : Volume
        The planning image; any modality but CT gives :func:`not_assessed`.
    body_mask : ndarray of bool
        Body outline ``[k, j, i]`` on the image grid; nothing outside it is a hazard.
    exclude : ndarray of bool, optional
        Voxels that are never hazards (the target: a calcified or rim-enhancing
        tumor is where the tip must go).
    progress, cancel
        Progress callback and cancel token.
    """
    if volume.modality != "CT":
        return not_assessed(volume.modality)
    geometry = volume.geometry
    hu = np.asarray(volume.voxels, dtype=np.float32)
    inside = body_mask if exclude is None else body_mask & ~exclude

    def step(fraction: float, text: str) -> None:
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(fraction, text)

    step(0.0, "Bone and contrast vessels on the CT")
    bone = (hu > BONE_MIN_HU) & inside
    # The vessels (the longest search: scipy.ndimage and LAPACK, which let other threads
    # run) are found on a second core, when the planning thread budget has one.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ct-vessels") as pool:
        vessels = pool.submit(_vessels, hu, inside, bone, geometry) if thread_budget() > 1 else None
        step(0.2, "Gas on the CT")
        deep = _inner(body_mask, geometry, SURFACE_BAND_MM) & inside
        gas = _drop_small(hu < GAS_MAX_HU, deep, geometry, _sphere_mm3(GAS_MIN_DIAMETER_MM))
        step(0.4, "Bowel content on the CT")
        content = _mottled(hu, deep, geometry)
        step(0.6, "Contrast vessels on the CT")
        vessel = _vessels(hu, inside, bone, geometry) if vessels is None else vessels.result()
    step(1.0, "Hazards on the CT ready")
    masks = {"gas": gas, "bone": bone, "bowel_content": content, "vessel": vessel}
    return CtHazards(
        masks={HAZARD_KINDS[kind][0]: mask for kind, mask in masks.items()},
        clearance_labels={name: labels for name, labels in HAZARD_KINDS.values()},
        assessed=True,
    )


def _sphere_mm3(diameter_mm: float) -> float:
    return float(np.pi / 6.0 * diameter_mm**3)


def _voxels_mm(geometry: Geometry, length_mm: float) -> NDArray[np.int64]:
    """Per axis ``k, j, i``, how many voxels span ``length_mm`` (at least 1)."""
    spacing = np.asarray(geometry.spacing_kji_mm, dtype=np.float64)
    return np.maximum(np.rint(length_mm / spacing).astype(np.int64), 1)


def _inner(body: NDArray[np.bool_], geometry: Geometry, band_mm: float) -> NDArray[np.bool_]:
    """The body without its outermost ``band_mm``."""
    spacing = np.asarray(geometry.spacing_kji_mm, dtype=np.float64)
    # Per axial slice: the band lies under the skin, which the slices cut across.
    distance = np.empty(body.shape, dtype=np.float32)
    for k in range(body.shape[0]):
        distance[k] = distance_to_background_mm(body[k], spacing_mm=spacing[1:])
    return distance > band_mm


def _drop_small(
    mask: NDArray[np.bool_], within: NDArray[np.bool_], geometry: Geometry, min_mm3: float
) -> NDArray[np.bool_]:
    """``mask & within`` without the connected pieces smaller than ``min_mm3``."""
    mask = mask & within
    components, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(components.ravel()) * geometry.voxel_volume_mm3
    keep = sizes >= min_mm3
    keep[0] = False
    return keep[components]


def _mottled(hu: NDArray[np.float32], deep: NDArray[np.bool_], geometry: Geometry) -> NDArray:
    """Bowel content mottled with small gas bubbles (stool), matrix and bubbles together."""
    gas_like = (hu < BUBBLE_MAX_HU) & deep
    components, count = ndimage.label(gas_like)
    if count == 0:
        return np.zeros(hu.shape, dtype=bool)
    sizes = np.bincount(components.ravel()) * geometry.voxel_volume_mm3
    small = sizes <= BUBBLE_MAX_ML * 1000.0
    small[0] = False
    bubbles = small[components]
    window = tuple(int(n) | 1 for n in _voxels_mm(geometry, MOTTLED_WINDOW_MM))
    share = ndimage.uniform_filter(bubbles.astype(np.float32), size=window, mode="constant")
    content = (share >= MOTTLED_MIN_BUBBLE_FRACTION) & deep
    content &= ((hu >= MOTTLED_MATRIX_MIN_HU) & (hu <= MOTTLED_MATRIX_MAX_HU)) | bubbles
    return _drop_small(content, deep, geometry, MOTTLED_MIN_ML * 1000.0)


def _vessels(
    hu: NDArray[np.float32], inside: NDArray[np.bool_], bone: NDArray[np.bool_], geometry: Geometry
) -> NDArray[np.bool_]:
    """Contrast-filled vessels: bright tubes, not bright sheets (renal cortex) or blocks."""
    bright = (hu > VESSEL_MIN_HU) & inside & ~bone
    if not bright.any():
        return bright
    spacing = np.asarray(geometry.spacing_kji_mm, dtype=np.float64)
    factor = np.maximum(np.floor(VESSEL_GRID_MM / spacing).astype(np.int64), 1)
    coarse = _block_mean(np.clip(hu, -100.0, BONE_MIN_HU), factor)
    candidate = _block_mean(bright.astype(np.float32), factor) >= 0.5
    tube = np.zeros(coarse.shape, dtype=bool)
    where = np.nonzero(candidate)
    for scale_mm in VESSEL_SCALES_MM:
        sigma = scale_mm / (spacing * factor)
        hessian = np.empty((len(where[0]), 3, 3), dtype=np.float32)
        for a in range(3):
            for b in range(a, 3):
                order = [0, 0, 0]
                order[a] += 1
                order[b] += 1
                derivative = ndimage.gaussian_filter(coarse, sigma, order=order)[where]
                # Per mm, scale-normalised (times scale squared).
                value = derivative * scale_mm**2 / ((spacing * factor)[a] * (spacing * factor)[b])
                hessian[:, a, b] = hessian[:, b, a] = value
        eigen = np.linalg.eigvalsh(hessian)
        order = np.argsort(np.abs(eigen), axis=1)
        eigen = np.take_along_axis(eigen, order, axis=1)
        along, middle, across = np.abs(eigen).T
        tubular = (
            (eigen[:, 1] < 0)
            & (eigen[:, 2] < 0)
            & (middle >= TUBE_MIN_ROUNDNESS * across)
            & (along <= TUBE_MAX_ALONG_RATIO * middle)
            & (middle >= TUBE_MIN_STRENGTH_HU)
        )
        tube[where] |= tubular
    full = tube.repeat(factor[0], 0).repeat(factor[1], 1).repeat(factor[2], 2)
    vessel = bright & full[tuple(slice(0, n) for n in bright.shape)]
    return _drop_small(vessel, inside, geometry, VESSEL_MIN_MM3)


def _block_mean(values: NDArray, factor: NDArray[np.int64]) -> NDArray[np.float32]:
    """Mean over blocks of ``factor`` voxels (the last, partial blocks padded with edge values)."""
    shape = -(-np.asarray(values.shape) // factor) * factor
    padded = np.pad(
        values.astype(np.float32),
        [(0, int(s - n)) for s, n in zip(shape, values.shape, strict=True)],
        mode="edge",
    )
    blocks = padded.reshape(
        shape[0] // factor[0], factor[0], shape[1] // factor[1], factor[1],
        shape[2] // factor[2], factor[2],
    )  # fmt: skip
    return blocks.mean(axis=(1, 3, 5))
