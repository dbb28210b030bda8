"""Physical pixel size of ultrasound images from the Sequence of Ultrasound Regions.

Ultrasound files rarely carry PixelSpacing; the scanner instead describes
calibrated regions of the image, each with its own physical deltas (in cm for
spatial regions). The largest 2-D tissue region calibrates the image.
"""

from __future__ import annotations

from collections.abc import Sequence

from planning_core.imaging.dicom.bounds import MAX_SPACING_MM, MIN_SPACING_MM, plausible_spacing
from planning_core.imaging.dicom.headers import UltrasoundRegion

#: RegionSpatialFormat of a 2-D (B-mode) tissue region.
_SPATIAL_2D = 1
#: PhysicalUnits code for centimetres.
_UNITS_CM = 3
_MM_PER_CM = 10.0


def ultrasound_pixel_spacing(
    regions: Sequence[UltrasoundRegion], *, name: str
) -> tuple[tuple[float, float] | None, list[str]]:
    """Pixel spacing ``(between rows, between columns)`` in mm, and notes for the user.

    Parameters
    ----------
    regions : sequence of UltrasoundRegion
        The file's calibrated regions.
    name : str
        How notes refer to the series.

    Returns
    -------
    spacing : tuple of float or None
        None when no 2-D region is calibrated in centimetres.
    notes : list of str
        Warnings, e.g. when regions disagree on the pixel size.
    """
    calibrated = [
        r
        for r in regions
        if r.spatial_format == _SPATIAL_2D and r.units_x == _UNITS_CM and r.units_y == _UNITS_CM
    ]
    spatial = [
        r
        for r in calibrated
        if plausible_spacing(r.delta_x * _MM_PER_CM) and plausible_spacing(r.delta_y * _MM_PER_CM)
    ]
    notes = []
    if len(spatial) < len(calibrated):
        odd = next(r for r in calibrated if r not in spatial)
        notes.append(
            f"{name}: {len(calibrated) - len(spatial)} ultrasound region(s) state an implausible "
            f"pixel size (PhysicalDeltaX {odd.delta_x:g} cm, PhysicalDeltaY {odd.delta_y:g} cm; "
            f"plausible: {MIN_SPACING_MM / _MM_PER_CM:g} to {MAX_SPACING_MM / _MM_PER_CM:g} cm) "
            "and were ignored."
        )
    if not spatial:
        return None, notes
    chosen = max(spatial, key=lambda r: r.area_px)
    sizes = {(round(r.delta_x, 9), round(r.delta_y, 9)) for r in spatial}
    if len(sizes) > 1:
        notes.append(
            f"{name}: its {len(spatial)} ultrasound regions have different pixel sizes; the "
            f"largest region (columns {chosen.min_x}-{chosen.max_x}, rows {chosen.min_y}-"
            f"{chosen.max_y}) calibrates the image, distances elsewhere are not physical."
        )
    return (chosen.delta_y * _MM_PER_CM, chosen.delta_x * _MM_PER_CM), notes
