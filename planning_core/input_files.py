"""Guards for reading files whose path or content a user controls.

A plan file, a label table or a library manifest may name ``/dev/zero``, a
FIFO, a folder or a huge file, or hold JSON nested deeper than Python's parser
can follow. Every reader of such input checks it here first, so that a hostile
or damaged file ends in one clear message instead of a hang, a memory blow-up
or a traceback.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import stat
import zlib
from typing import Any

import numpy as np

from planning_core.errors import PlanningError

#: Largest JSON document read (plan files are a few hundred kB).
MAX_JSON_BYTES = 16 * 1024 * 1024
#: Deepest nesting of JSON arrays and objects accepted (the plan format uses 5).
MAX_JSON_DEPTH = 64
#: Largest image, label map or simulation-fields file read.
MAX_DATA_FILE_BYTES = 16 * 1024**3

# A JSON string literal; brackets inside strings do not nest.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OPENING = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSING = np.frombuffer(b"]}", dtype=np.uint8)


def _size_text(size_bytes: int) -> str:
    if size_bytes >= 1024**3:
        return f"{size_bytes / 1024**3:.1f} GiB"
    if size_bytes >= 1024**2:
        return f"{size_bytes / 1024**2:.1f} MiB"
    return f"{size_bytes} bytes"


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def require_regular_file(
    path: str | os.PathLike[str],
    *,
    what: str,
    max_bytes: int,
    error: type[PlanningError] = PlanningError,
    hint: str = "",
) -> int:
    """Check that ``path`` is a regular file of at most ``max_bytes``; return its size.

    Symbolic links are followed (their target must be a regular file). Nothing
    is opened, so a FIFO or a device cannot block or feed endless bytes.

    Parameters
    ----------
    path : path
        The file.
    what : str
        What the file is, for messages (``"label map"``: "no such label map").
    max_bytes : int
        Largest size accepted.
    error : type
        The :class:`PlanningError` subclass to raise.
    hint : str
        What the user can do, appended to the message.

    Raises
    ------
    PlanningError
        Of type ``error``: missing, not a regular file, or too large.
    """
    suffix = f" {hint}" if hint else ""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: no such {what}.{suffix}") from None
    except OSError as failure:
        reason = failure.strerror or failure
        raise error(f"{path}: cannot read the {what} ({reason}).{suffix}") from None
    if not stat.S_ISREG(status.st_mode):
        raise error(f"{path}: the {what} is {_kind_of(status.st_mode)}, not a file.{suffix}")
    if status.st_size > max_bytes:
        raise error(
            f"{path}: the {what} is {_size_text(status.st_size)}, more than the "
            f"{_size_text(max_bytes)} accepted; it cannot be this file.{suffix}"
        )
    return status.st_size


def read_bytes_bounded(
    path: str | os.PathLike[str],
    *,
    what: str,
    max_bytes: int,
    error: type[PlanningError] = PlanningError,
    hint: str = "",
) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (checked before and while reading)."""
    require_regular_file(path, what=what, max_bytes=max_bytes, error=error, hint=hint)
    try:
        # O_NONBLOCK: a file swapped for a FIFO after the check must not block the open.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                raise error(f"{path}: the {what} is not a regular file.")
            data = stream.read(max_bytes + 1)
    except OSError as failure:
        raise error(f"{path}: cannot read the {what} ({failure.strerror or failure}).") from None
    if len(data) > max_bytes:
        raise error(f"{path}: the {what} grew beyond {_size_text(max_bytes)} while being read.")
    return data


def json_nesting_depth(text: str) -> int:
    """Deepest nesting of arrays and objects in JSON ``text`` (brackets in strings ignored)."""
    skeleton = _JSON_STRING.sub('""', text).encode("utf-8", "surrogatepass")
    codes = np.frombuffer(skeleton, dtype=np.uint8)
    steps = np.isin(codes, _OPENING).astype(np.int32) - np.isin(codes, _CLOSING)
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


def parse_json_text(
    text: str,
    *,
    source: str,
    error: type[PlanningError] = PlanningError,
    max_depth: int = MAX_JSON_DEPTH,
    hint: str = "",
) -> Any:
    """Parse JSON ``text`` whose nesting is at most ``max_depth`` deep.

    Raises
    ------
    PlanningError
        Of type ``error``, naming ``source``: too deeply nested or not valid JSON
        (with line and column).
    """
    suffix = f" {hint}" if hint else ""
    depth = json_nesting_depth(text)
    if depth > max_depth:
        raise error(
            f"{source}: JSON nested {depth} levels deep, more than the {max_depth} accepted; "
            f"the file is damaged or not what it should be.{suffix}"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as failure:
        raise error(
            f"{source}: not valid JSON (line {failure.lineno}, column {failure.colno}: "
            f"{failure.msg}).{suffix}"
        ) from None
    except RecursionError:  # only reachable when max_depth exceeds the interpreter's limit
        raise error(f"{source}: JSON nested too deeply.{suffix}") from None


def read_json_file(
    path: str | os.PathLike[str],
    *,
    what: str,
    error: type[PlanningError] = PlanningError,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
    hint: str = "",
) -> Any:
    """Read a UTF-8 JSON file: a regular file of bounded size and nesting depth.

    Raises
    ------
    PlanningError
        Of type ``error``, naming the file: missing, not a regular file, too
        large, not UTF-8, too deeply nested or not valid JSON.
    """
    data = read_bytes_bounded(path, what=what, max_bytes=max_bytes, error=error, hint=hint)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as failure:
        suffix = f" {hint}" if hint else ""
        raise error(
            f"{path}: the {what} is not UTF-8 text (byte {failure.start}).{suffix}"
        ) from None
    return parse_json_text(text, source=str(path), error=error, max_depth=max_depth, hint=hint)


def check_folder_size(
    path: str | os.PathLike[str],
    *,
    what: str,
    max_files: int,
    error: type[PlanningError] = PlanningError,
    hint: str = "",
) -> None:
    """Check that a folder holds at most ``max_files`` files (counted without following links).

    The count stops at the limit, so a plan naming ``/`` is refused at once
    instead of reading the whole disk as DICOM.
    """
    suffix = f" {hint}" if hint else ""
    count = 0
    for _directory, _subdirectories, names in os.walk(path):
        count += len(names)
        if count > max_files:
            raise error(
                f"{path}: the {what} holds more than {max_files} files; it cannot be one "
                f"image series.{suffix}"
            )


def require_complete_gzip(
    path: str | os.PathLike[str],
    *,
    what: str,
    error: type[PlanningError] = PlanningError,
    max_bytes: int = MAX_DATA_FILE_BYTES,
) -> None:
    """Check that a gzip file decompresses to its end, within ``max_bytes``.

    SimpleITK reads a truncated ``.nii.gz`` without complaint and fills the
    missing voxels with zeros, so a damaged label map would lose labels silently.
    """
    total_bytes = 0
    try:
        with gzip.open(path, "rb") as stream:
            while block := stream.read(1 << 22):
                total_bytes += len(block)
                if total_bytes > max_bytes:
                    raise error(
                        f"{path}: the {what} decompresses to more than {_size_text(max_bytes)}."
                    )
    except (OSError, EOFError, zlib.error) as failure:
        raise error(
            f"{path}: the {what} is damaged or truncated ({failure}); re-export it."
        ) from None
