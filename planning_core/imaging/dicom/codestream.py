"""What a compressed frame states about itself: image size, precision and its end.

JPEG (all processes, and JPEG-LS) and JPEG 2000 streams carry their own width
and height. Comparing them with Rows and Columns before decoding finds a header
that disagrees with its pixel data, which decoders otherwise crop or pad in
silence (a 512×512 slice under Rows 128 decodes as its top quarter).

The same streams end in an end marker (JPEG EOI and JPEG 2000 EOC are both
FF D9). The decoders return a full-size image for a stream cut short, its
missing part constant or garbage, so a frame without its end marker is refused
before decoding.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# JPEG start-of-frame markers (baseline to lossless, arithmetic variants) and JPEG-LS SOF55.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xF7}
_JPEG_STANDALONE = frozenset(range(0xD0, 0xDA)) | {0x01}  # RSTn, SOI, EOI, TEM
_J2K_START = b"\xff\x4f\xff\x51"  # SOC followed by SIZ
_END_MARKER = b"\xff\xd9"  # JPEG / JPEG-LS EOI, JPEG 2000 EOC
#: Bytes an encoder may append after the end marker to make the frame's length even.
_PAD_BYTES = (0x00, 0xFF)
#: JPEG (processes 1-14, retired ones included), JPEG-LS, JPEG 2000 and HTJ2K: every
#: frame ends in FF D9. RLE has no end marker; JPIP and video syntaxes hold no frames.
END_MARKED_SYNTAXES = frozenset(
    [f"1.2.840.10008.1.2.4.{n}" for n in range(50, 71)]
    + [f"1.2.840.10008.1.2.4.{n}" for n in (80, 81, 90, 91, 92, 93, 201, 202, 203)]
)
#: Why a frame without its end marker is refused, at scan and when decoding.
NO_END_MARKER = (
    "pixel data are truncated (the JPEG frame has no end-of-image marker); "
    "copy or export the file again"
)


@dataclass(frozen=True)
class StreamHeader:
    """Size and sample precision (bits) a compressed frame states about itself."""

    rows: int
    columns: int
    precision_bits: int


def stated_header(frame: bytes) -> StreamHeader | None:
    """What a JPEG, JPEG-LS or JPEG 2000 frame states about itself; None when not found."""
    if frame.startswith(b"\xff\xd8"):
        return _jpeg_header(frame)
    if frame.startswith(_J2K_START) and len(frame) >= 43:
        # SIZ: Lsiz Rsiz Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz XTOsiz YTOsiz Csiz, Ssiz per component
        width, height, x_offset, y_offset = struct.unpack(">IIII", frame[8:24])
        precision = (frame[42] & 0x7F) + 1
        return StreamHeader(height - y_offset, width - x_offset, precision)
    return None


def _jpeg_header(frame: bytes) -> StreamHeader | None:
    position = 2
    while position + 4 <= len(frame):
        if frame[position] != 0xFF:
            return None  # not at a marker: stop rather than guess
        marker = frame[position + 1]
        if marker == 0xFF:
            position += 1  # fill byte
            continue
        if marker in _JPEG_STANDALONE:
            position += 2
            continue
        (length,) = struct.unpack(">H", frame[position + 2 : position + 4])
        if marker in _JPEG_SOF:
            if position + 9 > len(frame):
                return None
            precision = frame[position + 4]
            height, width = struct.unpack(">HH", frame[position + 5 : position + 9])
            return StreamHeader(height, width, precision)
        if marker == 0xDA:
            return None  # scan data before any frame header
        position += 2 + length
    return None


def ends_with_end_marker(frame_tail: bytes) -> bool:
    """True when a frame (or its last bytes, at least 3) ends in FF D9, then at most one pad byte.

    A frame cut short lacks the marker; DICOM pads odd-length frames with one
    byte after it (00, or FF written by some encoders).
    """
    if frame_tail.endswith(_END_MARKER):
        return True
    return frame_tail[-3:-1] == _END_MARKER and frame_tail[-1] in _PAD_BYTES
