"""One entry point that loads any supported image: DICOM file or folder, or a volume file."""

from __future__ import annotations

from pathlib import Path

from planning_core.errors import DicomLoadError
from planning_core.imaging.dicom import load_series, scan_dicom
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import is_volume_file, read_volume
from planning_core.progress import CancelToken, ProgressCallback, sub_progress


def load_image(
    path: str | Path,
    *,
    series_uid: str | None = None,
    strict: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Volume:
    """Load an image volume from ``path``.

    Parameters
    ----------
    path : str or Path
        A NIfTI/NRRD/MetaImage file, a DICOM file, a DICOMDIR, or a folder of
        DICOM files (searched recursively, any file names).
    series_uid : str, optional
        Which DICOM series to load (a SeriesInstanceUID, or a sub-series key
        ``UID#n`` as ``cryoplan info`` lists them). Needed when the folder
        holds several image series; not used for volume files.
    strict : bool
        Refuse gantry-tilted, irregularly spaced or incompletely described
        DICOM series (values assumed, damaged files left out) instead of
        loading them with a warning; not used for volume files, whose grid is
        regular by construction.
    progress, cancel
        Progress callback ``(fraction, message)`` and cancel token.

    Raises
    ------
    DicomLoadError
        For unreadable DICOM input, or a folder with several series and no
        ``series_uid``; the message lists the series.
    VolumeFormatError
        For unreadable volume files.
    """
    path = Path(path)
    if not path.exists():
        raise DicomLoadError(f"{path}: no such file or folder. Check the path.")
    if path.is_file() and is_volume_file(path):
        volume = read_volume(path)
        if progress is not None:
            progress(1.0, f"Loaded {path.name}")
        return volume
    catalog = scan_dicom(path, progress=sub_progress(progress, 0.0, 0.2), cancel=cancel)
    series = catalog.select(series_uid)
    return load_series(
        series, strict=strict, progress=sub_progress(progress, 0.2, 1.0), cancel=cancel
    )
