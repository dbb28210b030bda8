"""Warnings that libraries (pydicom, numpy, SimpleITK's Python layer) raise while reading.

pydicom warns about every odd value and numpy about overflow; printed, their
multi-line text would precede the one clean line a user gets. Reading code runs
inside :func:`collected_as_notes`, which records them instead and hands them on
as ordinary warnings of the catalog or volume, naming where they arose.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

#: Warning classes about the code, not the data read; they are not turned into notes.
_FOR_DEVELOPERS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning, ResourceWarning)


@contextlib.contextmanager
def collected_as_notes(
    notes: list[str], *, where: str
) -> Iterator[list[warnings.WarningMessage]]:
    """Record warnings raised inside the block and append each, once, to ``notes``.

    The block receives the list of recorded warnings, complete once it exits,
    for callers that also judge them (an RLE segment longer than its image).

    Parameters
    ----------
    notes : list of str
        Receives ``"{where}: {first line of the warning}"`` per distinct warning.
    where : str
        The file, folder or series the block reads.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    for warning in caught:
        if issubclass(warning.category, _FOR_DEVELOPERS):
            # Not about the data: back to Python's filters (silent by default for users).
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
            continue
        lines = str(warning.message).strip().splitlines()
        note = f"{where}: {lines[0] if lines else warning.category.__name__}"
        if note not in notes:
            notes.append(note)
