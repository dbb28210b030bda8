"""Plausible ranges of the header values that size arrays or place voxels, and the memory check.

A hostile or damaged header can state any number. Every value that decides how
much memory is allocated or where a voxel lies is therefore checked against the
bounds below before it is used, and every large allocation against the
machine's memory, so that a bad file ends in one clear message instead of an
overflow, a multi-terabyte allocation or an image that is silently wrong.

Bounds and why they are safe for real images:

* Image sides (Rows, Columns) are DICOM US values, so at most 65535; a grid
  axis of the loaded volume gets the same limit (a 65535-plane stack at the
  finest plausible spacing is still far beyond any scanner).
* NumberOfFrames: at most 65535 frames per file (cine loops hold hundreds to a
  few thousand).
* Coordinates (ImagePositionPatient): at most 1e5 mm (100 m) from the origin;
  scanner coordinates stay within a few metres of the isocentre.
* Spacings (PixelSpacing, slice increments, ultrasound deltas): between
  1e-3 mm (1 µm, below any clinical or pre-clinical CT, MR or ultrasound) and
  1e2 mm (10 cm per pixel, coarser than any image worth planning on).
* Rescale: slope magnitude in [1e-9, 1e6] and intercept magnitude at most 1e7
  keep every stored value (at most 32 bits) finite in float32; a CT must map
  to Hounsfield units, so its slope lies in [1e-3, 1e3] and its intercept
  within ±1e5 HU (real CTs use -1024, -1000, -8192 or -32768 with slope 1).
* Memory: one volume (with its working copies) may take at most half of the
  physical memory, read with :func:`os.sysconf`.
"""

from __future__ import annotations

import math
import os

from planning_core.errors import DicomLoadError

MAX_IMAGE_SIDE = 65535
MAX_FRAMES = 65535
MAX_GRID_AXIS = 65535
MAX_ABS_COORDINATE_MM = 1e5
MIN_SPACING_MM = 1e-3
MAX_SPACING_MM = 1e2
MIN_ABS_SLOPE = 1e-9
MAX_ABS_SLOPE = 1e6
MAX_ABS_INTERCEPT = 1e7
CT_SLOPE_RANGE = (1e-3, 1e3)
MAX_ABS_CT_INTERCEPT_HU = 1e5
#: Fraction of physical memory one loaded volume and its working copies may take.
MEMORY_FRACTION = 0.5
_GIB = 1024**3


def plausible_spacing(value_mm: float) -> bool:
    """True for a finite spacing within [MIN_SPACING_MM, MAX_SPACING_MM]."""
    return math.isfinite(value_mm) and MIN_SPACING_MM <= value_mm <= MAX_SPACING_MM


def memory_budget_bytes() -> int:
    """Bytes one volume may take: :data:`MEMORY_FRACTION` of the physical memory.

    Falls back to 8 GiB where the platform does not report its memory.
    """
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        total = 16 * _GIB
    return int(total * MEMORY_FRACTION)


def require_memory(needed_bytes: int, *, what: str, name: str, cause: str) -> None:
    """Refuse an allocation larger than :func:`memory_budget_bytes`, before it happens.

    Parameters
    ----------
    needed_bytes : int
        Size of the planned allocation(s).
    what : str
        What would be allocated (e.g. "the decoded frames").
    name : str
        The file or series, as messages name it.
    cause : str
        The header values that ask for this size, e.g. "Rows 512 × Columns 1000000000".

    Raises
    ------
    DicomLoadError
        When the allocation does not fit.
    """
    budget = memory_budget_bytes()
    if needed_bytes > budget:
        raise DicomLoadError(
            f"{name}: {what} would need {needed_bytes / _GIB:.1f} GiB ({cause}), more than the "
            f"{budget / _GIB:.1f} GiB this machine allows one volume; the header is implausible "
            "or the series too large. Check the file or load a smaller series."
        )
