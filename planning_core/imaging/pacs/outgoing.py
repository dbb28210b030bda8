"""Files about to be sent to a node: read once, the unreadable ones named with the reason."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError


def read_outgoing(
    paths: Sequence[Path],
) -> tuple[list[tuple[Path, Dataset]], list[tuple[Path, str]]]:
    """The readable DICOM files of ``paths`` with their datasets, and the others with why.

    Both DIMSE (C-STORE) and DICOMweb (STOW-RS) sending start here, so a file that
    is not DICOM is reported the same way whichever way it would have gone.
    """
    readable: list[tuple[Path, Dataset]] = []
    failures: list[tuple[Path, str]] = []
    for path in paths:
        try:
            readable.append((path, dcmread(path)))
        except (InvalidDicomError, OSError) as error:
            failures.append((path, f"not a readable DICOM file ({error})"))
    return readable, failures
