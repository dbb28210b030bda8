"""Bounded inflation of Deflated Explicit VR Little Endian files (1.2.840.10008.1.2.1.99).

pydicom inflates the whole data set of a deflated file in memory, even to read
its header: a 14 MB file holding gigabytes of zeros in one element (a deflate
bomb) took 6.6 GB to list. The files are therefore inflated here, with a bound,
before pydicom sees them: the header from its first :data:`HEADER_PROBE_BYTES`,
the whole data set only up to the size its Rows, Columns, frames and bit depth
plausibly need plus :data:`HEADER_PROBE_BYTES` for the other elements. pydicom
then reads the inflated copy as Explicit VR Little Endian.
"""

from __future__ import annotations

import io
import math
import zlib
from typing import Any, BinaryIO

from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from planning_core.imaging.dicom.bounds import memory_budget_bytes

#: Inflated bytes the elements before the pixel data must fit in (real headers take kilobytes),
#: and the allowance for elements other than the pixel data in the whole data set.
HEADER_PROBE_BYTES = 16 * 1024**2
#: Inflation step when only the inflated size is needed, so memory stays bounded by it.
_CHUNK_BYTES = 4 * 1024**2
_MIB = 1024**2


class DeflateBombError(Exception):
    """The deflated data set inflates beyond its plausible size; the message says by how much."""


#: Largest file meta group the quick test reads; a larger one takes pydicom's full reading.
_META_PROBE_BYTES = 64 * 1024


def _meta_cannot_be_deflated(stream: BinaryIO) -> bool:
    """True when the raw file meta group does not hold the deflated syntax's UID at all.

    Reading the meta group with pydicom a second time per file cost a sixth of a
    series load; the UID's bytes are searched in the group (its length from the
    (0002,0000) element) instead. Only an absent UID decides: anything unusual
    (no group length, a group over :data:`_META_PROBE_BYTES`) answers False and
    leaves the decision to the full reading.
    """
    stream.seek(0)
    head = stream.read(144)
    if len(head) < 144 or head[128:132] != b"DICM" or head[132:138] != b"\x02\x00\x00\x00UL":
        return False
    group_bytes = int.from_bytes(head[140:144], "little")
    if group_bytes > _META_PROBE_BYTES:
        return False
    return DeflatedExplicitVRLittleEndian.encode("ascii") not in stream.read(group_bytes)


def is_deflated(stream: BinaryIO) -> bool:
    """True when the file's meta information names the deflated transfer syntax.

    Leaves the stream at its start.
    """
    try:
        if _meta_cannot_be_deflated(stream):
            return False
        stream.seek(0)
        if read_preamble(stream, False) is None:
            return False
        meta = _read_file_meta_info(stream)
        return str(meta.get("TransferSyntaxUID", "")) == DeflatedExplicitVRLittleEndian
    except Exception:  # not DICOM or a damaged meta: the ordinary reader reports it
        return False
    finally:
        stream.seek(0)


def header_copy(stream: BinaryIO) -> io.BytesIO:
    """The file with its data set inflated up to :data:`HEADER_PROBE_BYTES`, as explicit VR.

    Enough for ``pydicom.dcmread(..., stop_before_pixels=True)``; the
    pixel data themselves may be cut.
    """
    meta, body = _split(stream)
    inflated = zlib.decompressobj(-zlib.MAX_WBITS).decompress(body, HEADER_PROBE_BYTES)
    return _explicit_file(meta, inflated)


def check_inflated_size(stream: BinaryIO, dataset: Any) -> None:
    """Refuse a data set inflating beyond :func:`plausible_inflated_bytes`, keeping no output.

    Raises
    ------
    DeflateBombError
        When it does; the message states the limit.
    """
    limit = plausible_inflated_bytes(dataset)
    _meta, body = _split(stream)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = len(inflater.decompress(body, _CHUNK_BYTES))
    while inflater.unconsumed_tail and total <= limit:
        total += len(inflater.decompress(inflater.unconsumed_tail, _CHUNK_BYTES))
    if total > limit:
        raise DeflateBombError(_too_large(limit))


def inflated_copy(path: Any, dataset: Any) -> io.BytesIO:
    """The whole file with its data set inflated (at most its plausible size), as explicit VR.

    Raises
    ------
    DeflateBombError
        When the data set inflates beyond :func:`plausible_inflated_bytes`.
    """
    with open(path, "rb") as stream:
        meta, body = _split(stream)
    limit = plausible_inflated_bytes(dataset)
    inflated = zlib.decompressobj(-zlib.MAX_WBITS).decompress(body, limit + 1)
    if len(inflated) > limit:
        raise DeflateBombError(_too_large(limit))
    return _explicit_file(meta, inflated)


def plausible_inflated_bytes(dataset: Any) -> int:
    """Bytes a data set may inflate to: its pixel data plus the header allowance.

    The pixel data size follows from Rows, Columns, NumberOfFrames,
    SamplesPerPixel and BitsAllocated; the result is at most the memory one
    volume may take (:func:`bounds.memory_budget_bytes`).
    ``dataset`` is a pydicom dataset or a mapping of those keywords to values.
    """
    sizes = [
        _positive_int(dataset, "Rows"),
        _positive_int(dataset, "Columns"),
        _positive_int(dataset, "NumberOfFrames"),
        _positive_int(dataset, "SamplesPerPixel"),
    ]
    pixel_bytes = math.prod(sizes) * math.ceil(_positive_int(dataset, "BitsAllocated", 16) / 8)
    return min(HEADER_PROBE_BYTES + pixel_bytes, memory_budget_bytes())


def _positive_int(dataset: Any, keyword: str, default: int = 1) -> int:
    try:
        value = int(dataset.get(keyword, default) or default)
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default


def _split(stream: BinaryIO) -> tuple[FileMetaDataset, bytes]:
    """The file meta information and the deflated bytes after it."""
    stream.seek(0)
    read_preamble(stream, False)
    meta = _read_file_meta_info(stream)
    return meta, stream.read()


def _explicit_file(meta: FileMetaDataset, inflated: bytes) -> io.BytesIO:
    """Preamble, meta naming Explicit VR Little Endian, then the inflated data set."""
    explicit = FileMetaDataset(meta)
    explicit.TransferSyntaxUID = ExplicitVRLittleEndian
    head = DicomBytesIO()
    head.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(head, explicit, enforce_standard=True)
    return io.BytesIO(head.getvalue() + inflated)


def _too_large(limit: int) -> str:
    return (
        f"the deflated data set inflates to more than {math.ceil(limit / _MIB)} MiB, "
        "far beyond what its Rows, Columns and frames need (a damaged or hostile deflated "
        "file); export it again uncompressed"
    )
