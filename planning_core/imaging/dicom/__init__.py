"""DICOM reading: scan files into a catalog of series, then load one series as a Volume.

Typical use::

    catalog = scan_dicom(folder)          # headers only, fast
    series = catalog.select(series_uid)   # or the only series
    volume = load_series(series)          # pixels, HU, geometry, warnings

:func:`planning_core.imaging.loader.load_image` wraps both steps and also reads
NIfTI/NRRD/MetaImage files.
"""

from planning_core.imaging.dicom.catalog import DicomCatalog, SeriesInfo, StudyInfo, scan_dicom
from planning_core.imaging.dicom.headers import InstanceHeader, SkippedFile
from planning_core.imaging.dicom.load import load_series
from planning_core.imaging.dicom.stack import FrameRef, StackLayout

__all__ = [
    "DicomCatalog",
    "FrameRef",
    "InstanceHeader",
    "SeriesInfo",
    "SkippedFile",
    "StackLayout",
    "StudyInfo",
    "load_series",
    "scan_dicom",
]
