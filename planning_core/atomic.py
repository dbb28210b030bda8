"""Atomic file writing: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; move it into place on success.

    The temporary name keeps the destination's suffixes so that writers that
    choose a format by extension (SimpleITK, matplotlib) still work. On error the
    temporary file is removed and ``destination`` is untouched.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(destination.suffixes)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=f".tmp{suffix}", dir=destination.parent
    )
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        os.replace(temporary_path, destination)
    finally:
        temporary_path.unlink(missing_ok=True)


def write_text_atomic(destination: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``destination`` atomically, flushed to disk."""
    with atomic_path(destination) as temporary, open(temporary, "w", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
