"""Organs at risk from one click: kidney, liver, bowel loop, large vessels, ureter.

Each organ is grown from its seed by the region engine of
:mod:`planning_core.segmentation.region`, with a search box and leak-cut
sizes suited to the organ. Organs are large, so when the box holds more than
``max_voxels`` voxels the image is first averaged over blocks of voxels (a
coarser grid, still in mm) and the mask brought back to the full grid; the
boundary is then accurate to about one coarse voxel, which is ample for a
clearance of several millimetres.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from planning_core.errors import InvalidParameterError, SegmentationError
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.progress import CancelToken, ProgressCallback, no_progress
from planning_core.segmentation.metrics import mask_volume_ml
from planning_core.segmentation.region import RegionSettings, grow_from_seed
from planning_core.segmentation.roi import roi_around
from planning_core.segmentation.tumor import seed_index_kji


@dataclass(frozen=True)
class OrganProfile:
    """How one organ is searched: box half-width (mm) and region settings."""

    half_size_mm: float
    region: RegionSettings


_ORGAN_REGION = RegionSettings(
    fill_holes=False, flood_sigmas=0.0, max_opening_mm=4.0, merge_neck_ratio=0.0
)

#: Organs that :func:`segment_organ` knows, with their canonical label names.
ORGAN_PROFILES: dict[str, OrganProfile] = {
    "kidney": OrganProfile(
        90.0, replace(_ORGAN_REGION, seed_radius_mm=8.0, window_sigmas=3.5, max_opening_mm=2.5)
    ),
    "liver": OrganProfile(160.0, replace(_ORGAN_REGION, fill_holes=True, max_opening_mm=6.0)),
    "bowel": OrganProfile(60.0, replace(_ORGAN_REGION, seed_radius_mm=6.0, window_sigmas=3.5)),
    "aorta": OrganProfile(150.0, _ORGAN_REGION),
    "ivc": OrganProfile(150.0, _ORGAN_REGION),
    "vessel": OrganProfile(80.0, _ORGAN_REGION),
    "ureter": OrganProfile(
        120.0, replace(_ORGAN_REGION, smoothing_mm=0.6, seed_radius_mm=1.5, max_opening_mm=0.0)
    ),
}


#: Label roles whose voxels a seeded organ never takes: the tumor and the organs at risk
#: are what the plan protects or treats. Every other label ("anatomy": body, fat, muscle
#: and the organs automatic anatomy paints; "avoid": bone, lung, vessels, whose automatic
#: outlines may be wrong where the grown organ has the organ's own intensity) yields.
PROTECTED_ROLES = ("target", "oar")
_ROLE_WORDS = {"target": "the target", "oar": "an organ at risk"}


def protected_voxels(label_map: LabelMap, name: str) -> NDArray[np.bool_]:
    """Voxels organ ``name`` may not take: target and organ-at-risk labels other than its own."""
    values = [
        info.value for info in label_map.table
        if info.role in PROTECTED_ROLES and info.name != name
    ]  # fmt: skip
    return np.isin(label_map.voxels, values)


@dataclass(frozen=True, eq=False)
class OrganSegmentation:
    """An organ grown from a seed, on the volume's grid.

    Attributes
    ----------
    label_map : LabelMap
        The input map (or an empty one) with the organ added under its name.
    name : str
        The organ's label name.
    volume_ml : float
        Volume of the organ's label.
    warnings : tuple of str
        Tolerable problems (organ cut by the search box).
    """

    label_map: LabelMap
    name: str
    volume_ml: float
    warnings: tuple[str, ...]

    @property
    def mask(self) -> NDArray[np.bool_]:
        return self.label_map.mask(self.name)


def _block_factors(shape: tuple[int, int, int], max_voxels: int) -> tuple[int, int, int]:
    """Integer block sizes (k, j, i): in-plane first, so thick slices stay whole."""
    factors = [1, 1, 1]
    while np.prod(shape) / np.prod(factors) > max_voxels:
        axis = 1 if factors[1] <= factors[0] else 0
        if factors[1] >= 2 * factors[0] or factors[1] > 4:
            axis = 0
        factors[axis] += 1
        if axis == 1:
            factors[2] += 1
    return factors[0], factors[1], factors[2]


def _block_mean(image: NDArray[np.generic], factors: tuple[int, int, int]) -> NDArray[np.float32]:
    fk, fj, fi = factors
    nk, nj, ni = (n // f for n, f in zip(image.shape, factors, strict=True))
    trimmed = np.asarray(image[: nk * fk, : nj * fj, : ni * fi], dtype=np.float32)
    return trimmed.reshape(nk, fk, nj, fj, ni, fi).mean(axis=(1, 3, 5))


def _block_expand(
    mask: NDArray[np.bool_], factors: tuple[int, int, int], shape: tuple[int, int, int]
) -> NDArray[np.bool_]:
    expanded = mask
    for axis, factor in enumerate(factors):
        expanded = np.repeat(expanded, factor, axis=axis)
    full = np.zeros(shape, dtype=bool)
    nk, nj, ni = expanded.shape
    full[:nk, :nj, :ni] = expanded
    return full


def segment_organ(
    volume: Volume,
    name: str,
    seed_lps_mm: ArrayLike,
    *,
    label_map: LabelMap | None = None,
    max_voxels: int = 2_000_000,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> OrganSegmentation:
    """Grow organ ``name`` from a seed inside it.

    Parameters
    ----------
    volume : Volume
        A CT volume (contrast-enhanced for vessels and kidney).
    name : str
        One of :data:`ORGAN_PROFILES` (canonical label names).
    seed_lps_mm : array_like
        A point inside the organ, LPS mm.
    label_map : LabelMap, optional
        Existing labels on the volume's grid. Target and organ-at-risk voxels
        (:data:`PROTECTED_ROLES`) are never taken and kept in the result; the
        organ takes the voxels of other labels it grows into (body, fat,
        muscle, automatic anatomy), so it can be clicked after automatic anatomy.
    max_voxels : int
        Largest search box processed at full resolution; larger boxes are
        averaged over voxel blocks first.
    progress, cancel
        Progress callback and cancel token.

    Raises
    ------
    InvalidParameterError
        For an unknown organ name or a seed outside the image.
    SegmentationError
        When nothing grows from the seed, or the seed lies in a target or
        organ-at-risk label (the message says how to proceed).
    """
    if name not in ORGAN_PROFILES:
        raise InvalidParameterError(
            f"name must be one of {', '.join(ORGAN_PROFILES)} for a seeded organ, got {name!r}."
        )
    if max_voxels < 1000:
        raise InvalidParameterError(f"max_voxels must be at least 1000, got {max_voxels!r}.")
    report = progress or no_progress
    geometry = volume.geometry
    if label_map is not None:
        label_map.geometry.require_match(geometry, what="segment_organ: labels vs image")
    base = label_map if label_map is not None else LabelMap.empty(geometry)
    seed = seed_index_kji(geometry, seed_lps_mm, name="seed_lps_mm")
    profile = ORGAN_PROFILES[name]
    roi = roi_around(geometry, np.asarray(seed[::-1], dtype=np.float64), profile.half_size_mm)
    report(0.1, f"Growing the {name}")
    taken = protected_voxels(base, name)
    if taken[seed]:
        info = next(i for i in base.table if i.value == base.voxels[seed])
        raise SegmentationError(
            f"the {name} seed lies in the '{info.name}' label ({_ROLE_WORDS[info.role]}), "
            f"which a seeded organ never takes; click inside the {name} away from it, or "
            f"erase '{info.name}' there first if it is wrong."
        )
    allowed = ~roi.crop(taken)
    factors = _block_factors(roi.shape, max_voxels)
    image = roi.crop(volume.voxels)
    spacing = np.asarray(geometry.spacing_kji_mm)
    local_seed = np.asarray(roi.to_local_kji(seed))
    if factors != (1, 1, 1):
        image = _block_mean(image, factors)
        allowed = _block_mean(allowed, factors) >= 0.5
        spacing = spacing * np.asarray(factors)
        local_seed = np.minimum(local_seed // np.asarray(factors), np.asarray(image.shape) - 1)
    if not allowed[tuple(local_seed)]:
        raise SegmentationError(
            f"the {name} seed lies at the edge of a target or organ-at-risk label, which a "
            f"seeded organ never takes; click deeper inside the {name}."
        )
    grown = grow_from_seed(
        image,
        (int(local_seed[0]), int(local_seed[1]), int(local_seed[2])),
        (float(spacing[0]), float(spacing[1]), float(spacing[2])),
        profile.region,
        allowed=allowed,
        cancel=cancel,
    )
    mask = grown.mask
    if factors != (1, 1, 1):
        mask = _block_expand(mask, factors, roi.shape)
    mask &= ~roi.crop(taken)
    warnings = []
    faces = roi.open_faces_touched(mask)
    if faces:
        warnings.append(
            f"the {name} reaches the search box ({2 * profile.half_size_mm:.0f} mm) on side(s) "
            f"{', '.join(faces)}: it is cut there or leaked into a neighbour; check it."
        )
    full = roi.paste(mask)
    if not full.any():
        raise SegmentationError(f"nothing grew from the {name} seed; click inside the organ.")
    # ``full`` holds no protected voxel: the organ replaces only labels that yield.
    result = base.with_mask(name, full)
    report(1.0, f"{name} segmented")
    return OrganSegmentation(
        result, name, mask_volume_ml(result.mask(name), geometry), tuple(warnings)
    )
