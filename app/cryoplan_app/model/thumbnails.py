"""Small grey previews of series and volumes for the study browser (numpy only)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from cryoplan_app.model.planes import oriented_slice, slice_count, slice_frames
from cryoplan_app.model.window_level import WindowLevel, default_window_level
from planning_core.errors import InvalidParameterError, PlanningError
from planning_core.imaging.dicom import DicomCatalog, SeriesInfo
from planning_core.imaging.dicom.pixels import decode_frames, modality_values
from planning_core.imaging.volume import Volume
from planning_core.progress import CancelToken, ProgressCallback

DEFAULT_THUMBNAIL_PX = 72


def windowed_thumbnail(
    plane: NDArray[np.generic],
    *,
    window_level: WindowLevel,
    pixel_aspect: float = 1.0,
    size_px: int = DEFAULT_THUMBNAIL_PX,
) -> NDArray[np.uint8]:
    """A uint8 picture of a 2-D ``plane`` whose longer side is ``size_px``.

    Parameters
    ----------
    plane : ndarray
        Values, rows top to bottom.
    window_level : WindowLevel
        Values at ``low`` and below are black, at ``high`` and above white.
    pixel_aspect : float
        Height of a pixel divided by its width (row spacing / column spacing),
        so that anisotropic pixels keep the anatomy's proportions.
    size_px : int
        Length of the longer side of the result.
    """
    if plane.ndim != 2 or min(plane.shape) < 1:
        raise InvalidParameterError(
            f"plane must be a non-empty 2-D array, got shape {plane.shape}."
        )
    if size_px < 1 or not pixel_aspect > 0:
        raise InvalidParameterError(
            f"size_px must be >= 1 and pixel_aspect > 0, got {size_px} and {pixel_aspect}."
        )
    rows, columns = plane.shape
    height_units, width_units = rows * pixel_aspect, float(columns)
    scale = size_px / max(height_units, width_units)
    out_rows = max(round(height_units * scale), 1)
    out_columns = max(round(width_units * scale), 1)
    # Sample each output pixel at the centre of the input area it covers.
    row_index = np.minimum(((np.arange(out_rows) + 0.5) * rows / out_rows).astype(int), rows - 1)
    column_index = np.minimum(
        ((np.arange(out_columns) + 0.5) * columns / out_columns).astype(int), columns - 1
    )
    sampled = plane[np.ix_(row_index, column_index)].astype(np.float32)
    scaled = (sampled - window_level.low) / window_level.window
    return np.round(np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)


def volume_thumbnail(
    volume: Volume, *, value_range: tuple[float, float], size_px: int = DEFAULT_THUMBNAIL_PX
) -> NDArray[np.uint8]:
    """The middle axial plane of ``volume`` as the axial view shows it."""
    geometry = volume.geometry
    frame = slice_frames(geometry)["axial"]
    plane = oriented_slice(volume.voxels, geometry, frame, slice_count(geometry, frame) // 2)
    spacing = geometry.spacing_mm
    return windowed_thumbnail(
        plane,
        window_level=default_window_level(volume.modality, value_range=value_range),
        pixel_aspect=float(spacing[frame.up_axis] / spacing[frame.right_axis]),
        size_px=size_px,
    )


def series_thumbnail(
    series: SeriesInfo, *, size_px: int = DEFAULT_THUMBNAIL_PX
) -> NDArray[np.uint8]:
    """The middle frame of a DICOM series as stored (rows top to bottom), from one file's pixels.

    Raises
    ------
    DicomLoadError
        When that frame cannot be decoded.
    """
    frames = series.layout.frames if series.layout is not None else series.frames
    middle = frames[len(frames) // 2]
    decoded = decode_frames(middle.instance, name=series.label)
    stored = decoded.values[middle.frame_index]
    plane = middle.plane
    values = (
        stored
        if decoded.rescaled
        else modality_values(stored, slope=plane.rescale_slope, intercept=plane.rescale_intercept)
    )
    spacing = plane.pixel_spacing_mm  # (row spacing, column spacing)
    aspect = float(spacing[0] / spacing[1]) if spacing is not None else 1.0
    low, high = float(np.min(values)), float(np.max(values))
    return windowed_thumbnail(
        values,
        window_level=default_window_level(series.modality, value_range=(low, high)),
        pixel_aspect=aspect,
        size_px=size_px,
    )


def catalog_thumbnails(
    catalog: DicomCatalog,
    *,
    size_px: int = DEFAULT_THUMBNAIL_PX,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, NDArray[np.uint8]]:
    """Thumbnails of the loadable series of ``catalog``, by series key.

    A series whose middle frame cannot be decoded gets none; its problem shows
    when it is opened.
    """
    series_list = [s for s in catalog.series if s.error is None]
    thumbnails = {}
    for done, series in enumerate(series_list):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(done / len(series_list), f"Thumbnails ({done}/{len(series_list)})")
        try:
            thumbnails[series.key] = series_thumbnail(series, size_px=size_px)
        except PlanningError:
            continue
    return thumbnails
