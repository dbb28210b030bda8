"""Atomic file writing: a reader sees the old file or the new one, never half of one.

Each write goes to a temporary file beside the destination, named
``.<name>.<8 random characters>.tmp<suffixes>``, which is renamed over the
destination when complete. A writer killed mid-write leaves such a file
behind; the next write into the same folder removes those older than
:data:`STALE_TEMPORARY_AGE_S`.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

#: Temporary files of ours older than this are leftovers of a killed writer.
STALE_TEMPORARY_AGE_S = 600.0

# tempfile.mkstemp draws 8 characters from this alphabet; only our own names match.
_TEMPORARY_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp(\..+)?$")
_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:  # os.umask can only be read by setting it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _new_file_mode(destination: Path) -> int:
    """The destination's current permissions, or those a new file gets under the umask."""
    try:
        return stat.S_IMODE(os.stat(destination).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def remove_stale_temporaries(
    folder: str | os.PathLike[str], *, older_than_s: float = STALE_TEMPORARY_AGE_S
) -> list[Path]:
    """Remove our temporary files in ``folder`` left by writers killed mid-write.

    Only names of the form :func:`atomic_path` creates, and only regular files
    last modified more than ``older_than_s`` ago (a concurrent writer's file is
    younger), are removed.

    Returns
    -------
    list of Path
        The files removed.
    """
    removed = []
    limit = time.time() - older_than_s
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not _TEMPORARY_NAME.match(entry.name):
            continue
        try:
            status = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(status.st_mode) and status.st_mtime < limit:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # gone already, or not ours to remove
            continue
    return removed


@contextlib.contextmanager
def staging_path(destination: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a new, empty temporary file beside ``destination``; remove it on exit if still there.

    The caller decides where the file goes (:func:`atomic_path` moves it over
    ``destination``). The name keeps the destination's suffixes so that writers
    that choose a format by extension (SimpleITK, matplotlib) still work; the
    file gets the destination's permissions when it exists, else those the
    umask gives a new file (``mkstemp`` alone would give 0600). Stale temporary
    files of earlier, killed writes in the folder are removed first.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(destination.parent)
    suffix = "".join(destination.suffixes)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=f".tmp{suffix}", dir=destination.parent
    )
    temporary_path = Path(temporary)
    try:
        try:
            os.fchmod(handle, _new_file_mode(destination))
        finally:
            os.close(handle)
        yield temporary_path
    finally:
        temporary_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; move it into place on success.

    See :func:`staging_path` for the temporary file's name and permissions. On
    error the temporary file is removed and ``destination`` is untouched.
    """
    with staging_path(destination) as temporary:
        yield temporary
        os.replace(temporary, destination)


def write_text_atomic(destination: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``destination`` atomically, flushed to disk."""
    with atomic_path(destination) as temporary, open(temporary, "w", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
