"""Where the tumor escapes the lethal isotherm: masks for display and regions for feedback.

A tumor voxel is under-treated when the minimum temperature it reached stays
above the lethal isotherm. Regions are the 26-connected groups of such voxels;
each is described in patient terms by the side of the tumor it lies on (the
direction, in LPS, from the tumor's centroid to the region's centroid) and by
how deep it reaches: the largest distance from one of its voxels to the lethal
zone, i.e. how many millimetres of tumor stay above the lethal isotherm there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.planning.field_resample import resample_field
from planning_core.planning.masks import bounding_box
from planning_core.planning.metrics import BODY_TEMPERATURE_C

#: Lethal zone searched this far around the tumor when measuring the depth of a region.
DEPTH_SEARCH_MM = 30.0
#: A second direction joins the side's name when at least this share of the first.
SECOND_DIRECTION_SHARE = 0.5
#: A region whose centroid lies closer to the tumor's than this share of the tumor's
#: equivalent radius surrounds the tumor rather than lying on one side.
CENTRAL_SHARE = 0.25
_DIRECTIONS = (("right", "left"), ("anterior", "posterior"), ("inferior", "superior"))


@dataclass(frozen=True)
class UndertreatedRegion:
    """One connected part of the tumor that stays above the lethal isotherm.

    Attributes
    ----------
    side : str
        Patient-terms side of the tumor (``"posterior"``, ``"posterior-left"``,
        ``"superior"``...), or ``"all around"`` for a shell around the tumor.
    depth_mm : float or None
        Largest distance from a voxel of the region to the lethal zone; ``None``
        when no voxel near the tumor reaches the lethal isotherm.
    volume_ml : float
        Volume of the region.
    tumor_fraction : float
        Share of the tumor volume it holds (0 to 1).
    centroid_lps_mm : tuple of float
        Its centroid.
    """

    side: str
    depth_mm: float | None
    volume_ml: float
    tumor_fraction: float
    centroid_lps_mm: tuple[float, float, float]


def side_name(offset_lps_mm: NDArray[np.float64], *, central_mm: float) -> str:
    """Patient-terms name of the direction ``offset_lps_mm`` (from tumor to region centroid).

    Parameters
    ----------
    offset_lps_mm : ndarray
        Vector in LPS mm (+x left, +y posterior, +z superior).
    central_mm : float
        Offsets shorter than this are ``"all around"``.
    """
    offset = np.asarray(offset_lps_mm, dtype=np.float64)
    if float(np.linalg.norm(offset)) < central_mm:
        return "all around"
    order = np.argsort(-np.abs(offset))
    names = [_DIRECTIONS[order[0]][int(offset[order[0]] > 0)]]
    if abs(offset[order[1]]) >= SECOND_DIRECTION_SHARE * abs(offset[order[0]]):
        names.append(_DIRECTIONS[order[1]][int(offset[order[1]] > 0)])
    return "-".join(names)


def _tumor_dose(
    label_map: LabelMap,
    min_temperature_c: NDArray[np.floating],
    field_geometry: Geometry,
    target_label: str,
    pad_mm: float,
) -> tuple[tuple[slice, ...], NDArray[np.bool_], NDArray[np.float32]]:
    """The tumor's padded box on the label grid, the tumor in it and the dose sampled on it."""
    geometry = label_map.geometry
    tumor = label_map.mask(target_label)
    spacing = np.asarray(geometry.spacing_kji_mm)
    box = bounding_box(tumor, np.ceil(pad_mm / spacing).astype(int) + 1)
    if box is None:
        raise InvalidParameterError(f"label {target_label!r} is empty; segment the tumor first.")
    start = tuple(s.start for s in box)
    shape = tuple(s.stop - s.start for s in box)
    crop = geometry.cropped(start, shape)  # type: ignore[arg-type]
    dose = resample_field(min_temperature_c, field_geometry, crop, fill_value=BODY_TEMPERATURE_C)
    return box, tumor[box], dose


def undertreated_tumor_mask(
    label_map: LabelMap,
    min_temperature_c: NDArray[np.floating],
    field_geometry: Geometry,
    *,
    lethal_isotherm_c: float,
    target_label: str = "tumor",
    surface_only: bool = False,
) -> NDArray[np.bool_]:
    """Tumor voxels whose minimum temperature stays above the lethal isotherm, on the label grid.

    Parameters
    ----------
    label_map : LabelMap
        Holds the tumor; the mask comes on its grid (the image grid).
    min_temperature_c : ndarray
        Lethal dose (minimum temperature, °C) on ``field_geometry``.
    field_geometry : Geometry
        Grid of the dose (the simulation grid); sampled trilinearly.
    lethal_isotherm_c : float
        Lethal temperature.
    target_label : str
        Name of the tumor label.
    surface_only : bool
        Keep only under-treated voxels on the tumor's surface (6-connected
        boundary), which is what the app paints red over the images.
    """
    box, tumor, dose = _tumor_dose(label_map, min_temperature_c, field_geometry, target_label, 0.0)
    under = tumor & (dose > lethal_isotherm_c)
    if surface_only:
        under &= ~ndimage.binary_erosion(tumor, border_value=0)
    mask = np.zeros(label_map.geometry.shape, dtype=bool)
    mask[box] = under
    return mask


def undertreated_regions(
    label_map: LabelMap,
    min_temperature_c: NDArray[np.floating],
    field_geometry: Geometry,
    *,
    lethal_isotherm_c: float,
    target_label: str = "tumor",
    min_volume_ml: float = 0.01,
) -> tuple[UndertreatedRegion, ...]:
    """The connected under-treated parts of the tumor, largest first.

    Parameters
    ----------
    label_map, min_temperature_c, field_geometry, lethal_isotherm_c, target_label
        As for :func:`undertreated_tumor_mask`.
    min_volume_ml : float
        Smaller regions (a voxel or two at the edge of the grid) are left out.
    """
    if min_volume_ml < 0:
        raise InvalidParameterError(f"min_volume_ml must be >= 0, got {min_volume_ml}.")
    geometry = label_map.geometry
    box, tumor, dose = _tumor_dose(
        label_map, min_temperature_c, field_geometry, target_label, DEPTH_SEARCH_MM
    )
    under = tumor & (dose > lethal_isotherm_c)
    if not under.any():
        return ()
    lethal = dose <= lethal_isotherm_c
    spacing = np.asarray(geometry.spacing_kji_mm)
    to_lethal = ndimage.distance_transform_edt(~lethal, sampling=spacing) if lethal.any() else None
    start = np.array([s.start for s in box], dtype=np.float64)
    voxel_ml = geometry.voxel_volume_mm3 / 1000.0
    tumor_count = int(np.count_nonzero(tumor))
    tumor_centre = geometry.index_to_lps((np.argwhere(tumor).mean(axis=0) + start)[::-1])
    equivalent_radius_mm = (3.0 * tumor_count * geometry.voxel_volume_mm3 / (4.0 * np.pi)) ** (
        1 / 3
    )
    labels, count = ndimage.label(under, structure=np.ones((3, 3, 3), dtype=bool))
    regions = []
    for index in range(1, count + 1):
        region = labels == index
        voxels = int(np.count_nonzero(region))
        if voxels * voxel_ml < min_volume_ml:
            continue
        centre = geometry.index_to_lps((np.argwhere(region).mean(axis=0) + start)[::-1])
        regions.append(
            UndertreatedRegion(
                side=side_name(
                    centre - tumor_centre, central_mm=CENTRAL_SHARE * equivalent_radius_mm
                ),
                depth_mm=None if to_lethal is None else float(to_lethal[region].max()),
                volume_ml=voxels * voxel_ml,
                tumor_fraction=voxels / tumor_count,
                centroid_lps_mm=(float(centre[0]), float(centre[1]), float(centre[2])),
            )
        )
    return tuple(sorted(regions, key=lambda r: -r.volume_ml))
