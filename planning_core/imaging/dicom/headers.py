"""Reading one DICOM file's header, never its pixel data.

:func:`read_header` opens a file once, lets pydicom parse the elements up to the
pixel data, and records where the pixel data start and how long they are, so
that the loader can later read native (uncompressed) pixels straight from that
offset without parsing the header again. Files that are not images to plan on
come back as :class:`SkippedFile` with the reason.
"""

from __future__ import annotations

import io
import math
import os
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from planning_core.imaging.dicom.bounds import MAX_SPACING_MM, MIN_SPACING_MM
from planning_core.imaging.dicom.codestream import (
    END_MARKED_SYNTAXES,
    NO_END_MARKER,
    ends_with_end_marker,
)
from planning_core.imaging.dicom.deflated import (
    DeflateBombError,
    check_inflated_size,
    header_copy,
    is_deflated,
)
from planning_core.imaging.dicom.header_values import (
    DamagedHeaderError,
    check_modality_lut,
    checked_numbers,
    describe_pixels,
    is_present,
    optional,
    orientation,
    position,
    rescale,
    shown,
    spacing_pair,
)

MEDIA_STORAGE_DIRECTORY_STORAGE = "1.2.840.10008.1.3.10"
ENHANCED_US_VOLUME_STORAGE = "1.2.840.10008.5.1.4.1.1.6.2"

#: Transfer syntaxes whose pixel data are plain arrays at a known offset.
NATIVE_TRANSFER_SYNTAXES = frozenset(
    {ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian}
)

#: Lossy transfer syntaxes, for the "values are approximate" warning.
LOSSY_TRANSFER_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.53",
        "1.2.840.10008.1.2.4.55",
        "1.2.840.10008.1.2.4.81",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.4.201",
        "1.2.840.10008.1.2.4.203",
    }
)

# SOP classes that hold pixel data but are not images a plan is drawn on.
_NON_IMAGE_CLASSES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.66.4": (
        "DICOM SEG segmentation, not an image; import it as a label map"
    ),
    "1.2.840.10008.5.1.4.1.1.481.2": "RT Dose grid, not an anatomical image",
    "1.2.840.10008.5.1.4.1.1.30": "parametric map (derived values), not an anatomical image",
    "1.2.840.10008.5.1.4.1.1.104.1": "encapsulated PDF, not an image",
}

# Modalities whose objects never hold an image to plan on, whatever their SOP class.
_NON_IMAGE_MODALITIES: dict[str, str] = {
    "SEG": "a segmentation, not an image; import it as a label map",
    "RTDOSE": "a dose grid, not an anatomical image",
    "RTSTRUCT": "contours, not an image",
    "RTPLAN": "a treatment plan, not an image",
    "SR": "a structured report, not an image",
    "PR": "a presentation state, not an image",
    "KO": "a key-object selection, not an image",
    "REG": "a registration, not an image",
}

_PIXEL_TAGS = {(0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009)}
# Explicit-VR elements whose length field takes 4 bytes after 2 reserved bytes.
_LONG_LENGTH_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN", b"SQ", b"UT", b"UC", b"UR"}


@dataclass(frozen=True)
class FramePlane:
    """Where one 2-D frame lies and how its stored values become modality values.

    ``orientation`` is DICOM ImageOrientationPatient: the row direction cosine
    (direction of increasing column index i) followed by the column direction
    cosine (increasing row index j). ``pixel_spacing_mm`` is DICOM PixelSpacing
    order: (between rows = along j, between columns = along i).
    """

    position_lps_mm: tuple[float, float, float] | None
    orientation: tuple[float, float, float, float, float, float] | None
    pixel_spacing_mm: tuple[float, float] | None
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    stack_id: str | None = None
    temporal_index: int | None = None
    rescale_missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class UltrasoundRegion:
    """One item of the Sequence of Ultrasound Regions (deltas in the stated units)."""

    spatial_format: int
    data_type: int
    units_x: int
    units_y: int
    delta_x: float
    delta_y: float
    min_x: int
    min_y: int
    max_x: int
    max_y: int

    @property
    def area_px(self) -> int:
        return max(self.max_x - self.min_x + 1, 0) * max(self.max_y - self.min_y + 1, 0)


@dataclass(frozen=True, eq=False)
class InstanceHeader:
    """What the loader needs from one image file, read without its pixel data."""

    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    study_uid: str
    series_uid: str
    modality: str
    instance_number: int | None
    image_type: tuple[str, ...]
    rows: int
    columns: int
    samples_per_pixel: int
    photometric: str
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    number_of_frames: int
    is_multiframe: bool
    transfer_syntax_uid: str
    pixel_offset: int | None
    pixel_length: int | None
    header_offset: int
    frames: tuple[FramePlane, ...]
    slice_thickness_mm: float | None
    spacing_between_slices_mm: float | None
    imager_pixel_spacing_mm: tuple[float, float] | None
    ultrasound_regions: tuple[UltrasoundRegion, ...]
    acquisition_number: int | None
    echo_number: int | None
    temporal_position: int | None
    has_modality_lut: bool
    lossy_compressed: bool
    positions_in_volume_frame: bool
    gantry_tilt_deg: float | None
    identity: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """Short name for messages: the file name and, when known, the instance number."""
        if self.instance_number is None:
            return self.path.name
        return f"instance {self.instance_number} ({self.path.name})"

    @property
    def is_localizer(self) -> bool:
        return "LOCALIZER" in self.image_type


@dataclass(frozen=True)
class SkippedFile:
    """A file that is not part of any loadable series, and why.

    ``damaged`` is True when the file was meant as a slice but its header or
    pixel data are unusable (as opposed to a localizer, a copy or a non-image).
    """

    path: Path
    reason: str
    series_uid: str | None = None
    damaged: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "reason": self.reason,
            "series_uid": self.series_uid,
            "damaged": self.damaged,
        }


def read_header(path: Path) -> InstanceHeader | SkippedFile:
    """Read the header of one file.

    Parameters
    ----------
    path : Path
        Any file; non-DICOM files are reported, not raised.

    Returns
    -------
    InstanceHeader or SkippedFile
        The header of an image instance, or the reason the file cannot be one.
    """
    if not path.is_file():
        # Opening a named pipe would block the scan forever; devices never hold DICOM.
        return SkippedFile(path, "not a regular file (a pipe, socket or device)")
    try:
        with open(path, "rb") as stream, warnings.catch_warnings():
            # pydicom warns about every slightly malformed value; problems that
            # matter surface as clear messages below instead.
            warnings.simplefilter("ignore")
            return _read_open_file(path, stream)
    except OSError as error:
        return SkippedFile(path, f"cannot be opened ({error.strerror or error}); check permissions")


def _read_open_file(path: Path, stream: Any) -> InstanceHeader | SkippedFile:
    notes: list[str] = []
    base = 0
    source = stream
    deflated = is_deflated(stream)
    try:
        # A deflated data set is read from a bounded inflated copy of its start.
        readable = header_copy(stream) if deflated else stream
        dataset = pydicom.dcmread(_ZeroFillGuard(readable), stop_before_pixels=True)
        if deflated:
            dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
            check_inflated_size(stream, dataset)
    except DeflateBombError as error:
        return SkippedFile(path, str(error), damaged=True)
    except ZeroFilledError:
        return SkippedFile(path, "zero-filled where DICOM elements should be (a damaged file)")
    except InvalidDicomError:
        found = _read_without_preamble(stream)
        if found is None:
            return SkippedFile(path, "not a DICOM file")
        dataset, base, source = found
        skipped = f" after {base} stray leading byte(s)" if base else ""
        notes.append(
            f"{path.name}: has no DICOM file header (preamble and meta information); "
            f"its elements were read leniently{skipped}"
        )
    except Exception as error:  # pydicom raises many types on damaged headers
        return SkippedFile(path, f"damaged or truncated DICOM header ({_first_line(error)})")
    try:
        pixel_tag, pixel_offset, pixel_length = _pixel_element(source, dataset)
    except (struct.error, ValueError):
        pixel_tag, pixel_offset, pixel_length = None, None, None
    if pixel_offset is not None and pixel_length is None:
        problem = _encapsulation_problem(source, _transfer_syntax(dataset))
        if problem is not None:
            return SkippedFile(
                path, problem, str(dataset.get("SeriesInstanceUID", "")) or None, damaged=True
            )
    if pixel_offset is not None:
        pixel_offset += base
    try:
        return _classify(path, dataset, pixel_tag, pixel_offset, pixel_length, base, notes)
    except Exception as error:  # values are decoded lazily; a malformed one fails here
        return SkippedFile(path, f"damaged DICOM header ({_first_line(error)})")


class ZeroFilledError(Exception):
    """The header parser met a run of zero bytes where elements should be."""


class _ZeroFillGuard:
    """A read-only stream proxy that stops pydicom parsing a run of zeros as elements.

    Zeros read as endless empty (0000,0000) elements at about 1 µs per byte, so
    a zero-filled or sparse file of gigabytes would hold the scan for minutes.
    pydicom reads each element header as one 8-byte read; real files never
    hold two such headers of zeros in a row (tag (0000,0000) is not a dataset
    element), so a short run of them ends the read.
    """

    _MAX_ZERO_HEADERS = 16

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._zero_reads = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if len(data) == 8 and not any(data):
            self._zero_reads += 1
            if self._zero_reads > self._MAX_ZERO_HEADERS:
                raise ZeroFilledError
        elif data:
            self._zero_reads = 0
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


#: How far into a file without preamble the lenient reader looks for the first element.
_LENIENT_SEARCH_BYTES = 1024
#: Largest file without preamble the lenient reader loads into memory.
_LENIENT_MAX_BYTES = 1024**3


def _read_without_preamble(stream: Any) -> tuple[Dataset, int, Any] | None:
    """Lenient read of a file lacking the DICM preamble.

    Tries each place in the first kilobyte where a group 0008 element plausibly
    begins: the file start, or later when a file cut out of a larger stream
    keeps stray bytes in front. Returns the dataset, the offset it starts at and
    the stream it was read from, or None when nothing there is DICOM.
    """
    stream.seek(0)
    head = stream.read(_LENIENT_SEARCH_BYTES)
    starts = [i for i in range(len(head) - 8) if _plausible_first_element(head[i : i + 8])]
    if not starts:
        return None  # text, images and archives stop here without being read whole
    stream.seek(0, io.SEEK_END)
    if stream.tell() > _LENIENT_MAX_BYTES:
        return None  # read whole below; no image file without a preamble is this large
    stream.seek(0)
    content = stream.read()
    for start in starts[:16]:
        source = io.BytesIO(content[start:])
        try:
            dataset = pydicom.dcmread(_ZeroFillGuard(source), force=True, stop_before_pixels=True)
            sop_class = str(dataset.get("SOPClassUID", ""))
            looks_dicom = _is_uid(sop_class) or ("Modality" in dataset and "Rows" in dataset)
        except Exception:  # garbage parsed as elements fails in arbitrary ways
            continue
        if looks_dicom:
            return dataset, start, source
    return None


def _plausible_first_element(head: bytes) -> bool:
    """True when 8 bytes can open a little-endian dataset: a group 0008 tag, then a VR or length."""
    group, element = struct.unpack("<HH", head[:4])
    if group != 0x0008 or element > 0x1200:
        return False
    if head[4:6].isalpha() and head[4:6].isupper():
        return True  # explicit VR
    (length,) = struct.unpack("<L", head[4:8])
    return length < 1024  # implicit VR: a short value follows


def _is_uid(text: str) -> bool:
    return (
        bool(text)
        and len(text) <= 64
        and all(c.isdigit() or c == "." for c in text)
        and "." in text
    )


def _transfer_syntax(dataset: Dataset) -> str:
    meta = getattr(dataset, "file_meta", None)
    uid = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if uid:
        return uid
    implicit, little = dataset.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def _pixel_element(
    stream: Any, dataset: Dataset
) -> tuple[tuple[int, int] | None, int | None, int | None]:
    """Tag, value offset and length of the pixel data element the reader stopped at.

    pydicom leaves the stream at the start of the pixel data element when it
    stops before pixels. Deflated files are read from an inflated copy, so their
    offsets mean nothing in the file.
    """
    if _transfer_syntax(dataset) == DeflatedExplicitVRLittleEndian:
        return (
            ((0x7FE0, 0x0010), None, None) if _deflated_has_pixels(dataset) else (None, None, None)
        )
    implicit, little = dataset.original_encoding
    endian = "<" if little else ">"
    head = stream.read(8)
    if len(head) < 8:
        return None, None, None
    group, element = struct.unpack(endian + "HH", head[:4])
    if (group, element) not in _PIXEL_TAGS:
        return None, None, None
    if implicit:
        (length,) = struct.unpack(endian + "L", head[4:8])
    elif head[4:6] in _LONG_LENGTH_VRS:
        extra = stream.read(4)
        (length,) = struct.unpack(endian + "L", extra)
    else:
        (length,) = struct.unpack(endian + "H", head[6:8])
    offset = stream.tell()
    return (group, element), offset, (None if length == 0xFFFFFFFF else length)


def _encapsulation_problem(stream: Any, transfer_syntax: str) -> str | None:
    """Why encapsulated pixel data, read from the stream's position, are truncated; None if whole.

    Walks the items (one 8-byte header, a seek and a 3-byte read each), so a
    truncated compressed file is found at scan time instead of being handed to
    a decoder: the items must end in a sequence delimiter and, for JPEG-family
    syntaxes, the last fragment (the end of the last frame) in its end-of-image
    marker, since decoders fill a frame cut short with constant or garbage
    values in silence. :func:`pixels.decode_frames` checks every frame.
    """
    last_tail = b""
    fragments = 0
    while True:
        head = stream.read(8)
        if len(head) < 8:
            return _TRUNCATED_ITEMS
        group, element, length = struct.unpack("<HHL", head)
        if (group, element) == (0xFFFE, 0xE0DD):
            break
        if (group, element) != (0xFFFE, 0xE000) or length == 0xFFFFFFFF:
            return _TRUNCATED_ITEMS
        start = stream.tell()
        stream.seek(max(start, start + length - 3))
        tail = stream.read(min(length, 3))
        if len(tail) < min(length, 3):
            return _TRUNCATED_ITEMS  # the item claims bytes beyond the end of the file
        fragments += 1
        if fragments > 1:  # the first item is the Basic Offset Table
            last_tail = tail
        stream.seek(start + length)
    marked = fragments > 1 and transfer_syntax in END_MARKED_SYNTAXES
    return NO_END_MARKER if marked and not ends_with_end_marker(last_tail) else None


_TRUNCATED_ITEMS = (
    "truncated: the compressed pixel data end before their closing delimiter; "
    "copy or export the file again"
)


def _deflated_has_pixels(dataset: Dataset) -> bool:
    # A deflated stream cannot be probed cheaply; image headers always precede pixels.
    return "Rows" in dataset and "Columns" in dataset


def _classify(
    path: Path,
    dataset: Dataset,
    pixel_tag: tuple[int, int] | None,
    pixel_offset: int | None,
    pixel_length: int | None,
    header_offset: int,
    notes: list[str],
) -> InstanceHeader | SkippedFile:
    meta = getattr(dataset, "file_meta", None)
    media_class = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    sop_class = str(dataset.get("SOPClassUID", "")) or media_class
    series_uid = str(dataset.get("SeriesInstanceUID", "")) or None
    if media_class == MEDIA_STORAGE_DIRECTORY_STORAGE or "DirectoryRecordSequence" in dataset:
        return SkippedFile(path, "DICOMDIR index file (the image files it lists are read directly)")
    class_name = _class_name(sop_class)
    if pixel_tag is None:
        if "Image Storage" in class_name:
            reason = (
                f"{class_name} without pixel data: the file is incomplete; "
                "re-export the series from the scanner or PACS"
            )
        else:
            reason = f"{class_name} has no pixel data (not an image)"
        return SkippedFile(path, reason, series_uid)
    if sop_class in _NON_IMAGE_CLASSES:
        return SkippedFile(path, _NON_IMAGE_CLASSES[sop_class], series_uid)
    modality = str(dataset.get("Modality", "")).strip().upper()
    if modality in _NON_IMAGE_MODALITIES:
        return SkippedFile(
            path,
            f"{class_name} (modality {modality}): {_NON_IMAGE_MODALITIES[modality]}",
            series_uid,
        )
    if pixel_tag != (0x7FE0, 0x0010):
        return SkippedFile(
            path, f"{class_name} holds floating-point pixel data, not an image", series_uid
        )
    try:
        pixels = describe_pixels(dataset)
        check_modality_lut(dataset)
        if pixels is not None:
            frames, in_volume_frame = _frame_planes(dataset, pixels.frames, modality or "OT")
    except DamagedHeaderError as damage:
        return SkippedFile(path, f"damaged header: {damage}", series_uid, damaged=True)
    if pixels is None:
        return SkippedFile(
            path,
            f"{class_name} has pixel data but no Rows/Columns; the file is damaged",
            series_uid,
            damaged=True,
        )
    rows, columns, frames_count = pixels.rows, pixels.columns, pixels.frames
    transfer_syntax = _transfer_syntax(dataset)
    if pixel_length is not None and pixel_offset is not None:
        # Native YBR_FULL_422 stores two samples per pixel (chroma shared by pixel pairs).
        stored_samples = 2 if pixels.photometric == "YBR_FULL_422" else pixels.samples
        problem = _pixel_length_problem(
            path,
            rows,
            columns,
            frames_count,
            stored_samples,
            pixels.bits_allocated,
            pixel_offset,
            pixel_length,
        )
        if problem:
            return SkippedFile(path, problem, series_uid, damaged=True)
    slice_thickness_mm, thickness_note = _slice_extent(dataset, "SliceThickness")
    spacing_between_mm, spacing_note = _slice_extent(dataset, "SpacingBetweenSlices")
    notes.extend(f"{path.name}: {n}" for n in (thickness_note, spacing_note) if n)
    return InstanceHeader(
        path=path,
        sop_class_uid=sop_class,
        sop_instance_uid=str(dataset.get("SOPInstanceUID", "")),
        study_uid=str(dataset.get("StudyInstanceUID", "")),
        series_uid=series_uid or "",
        modality=modality or "OT",
        instance_number=_int(dataset, "InstanceNumber"),
        image_type=tuple(str(v).upper() for v in _values(dataset, "ImageType")),
        rows=rows,
        columns=columns,
        samples_per_pixel=pixels.samples,
        photometric=pixels.photometric,
        bits_allocated=pixels.bits_allocated,
        bits_stored=pixels.bits_stored,
        pixel_representation=pixels.pixel_representation,
        number_of_frames=frames_count,
        is_multiframe="NumberOfFrames" in dataset or "PerFrameFunctionalGroupsSequence" in dataset,
        transfer_syntax_uid=transfer_syntax,
        pixel_offset=pixel_offset if transfer_syntax in NATIVE_TRANSFER_SYNTAXES else None,
        pixel_length=pixel_length,
        header_offset=header_offset,
        frames=frames,
        slice_thickness_mm=slice_thickness_mm,
        spacing_between_slices_mm=spacing_between_mm,
        imager_pixel_spacing_mm=optional(spacing_pair, dataset, "ImagerPixelSpacing"),
        ultrasound_regions=_ultrasound_regions(dataset),
        acquisition_number=_int(dataset, "AcquisitionNumber"),
        echo_number=_int(dataset, "EchoNumbers"),
        temporal_position=_int(dataset, "TemporalPositionIdentifier"),
        has_modality_lut="ModalityLUTSequence" in dataset,
        lossy_compressed=(
            transfer_syntax in LOSSY_TRANSFER_SYNTAXES
            or str(dataset.get("LossyImageCompression", "")).strip() == "01"
        ),
        positions_in_volume_frame=in_volume_frame,
        gantry_tilt_deg=_tilt(dataset),
        identity=_identity(dataset),
        notes=tuple(notes),
        assumptions=tuple(f"{path.name}: {a}" for a in pixels.assumptions),
    )


def _pixel_length_problem(
    path: Path,
    rows: int,
    columns: int,
    frames: int,
    samples: int,
    bits_allocated: int,
    offset: int,
    length: int,
) -> str | None:
    needed = math.ceil(rows * columns * frames * samples * bits_allocated / 8)
    # Values are padded to an even length; anything beyond means another shape.
    if length < needed or length > needed + needed % 2:
        return (
            f"pixel data hold {length} bytes but Rows×Columns×frames×samples = "
            f"{rows}×{columns}×{frames}×{samples} at {bits_allocated} bits need {needed}; "
            "the header and pixel data disagree (Rows, Columns, NumberOfFrames or "
            "BitsAllocated is wrong), re-export the file"
        )
    size = os.path.getsize(path)
    if offset + length > size:
        return (
            f"truncated: pixel data need {length} bytes from offset {offset} but the file "
            f"ends after {size} bytes; copy or export it again"
        )
    return None


def _frame_planes(
    dataset: Dataset, frames_count: int, modality: str
) -> tuple[tuple[FramePlane, ...], bool]:
    """Plane geometry and rescale of every frame, from functional groups or top-level elements.

    Raises
    ------
    DamagedHeaderError
        When a position, orientation, spacing or rescale value is malformed or
        implausible, or the per-frame groups do not match NumberOfFrames.
    """
    top_rescale = rescale(dataset, modality=modality)
    top = FramePlane(
        position_lps_mm=position(dataset, "ImagePositionPatient"),
        orientation=orientation(dataset, "ImageOrientationPatient"),
        pixel_spacing_mm=spacing_pair(dataset, "PixelSpacing"),
        rescale_slope=1.0 if top_rescale.slope is None else top_rescale.slope,
        rescale_intercept=0.0 if top_rescale.intercept is None else top_rescale.intercept,
        rescale_missing=() if "ModalityLUTSequence" in dataset else top_rescale.missing,
    )
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence")
    shared_items = dataset.get("SharedFunctionalGroupsSequence")
    if per_frame is None and shared_items is None:
        return (top,) * frames_count, False
    if per_frame is not None and len(per_frame) not in (0, frames_count):
        raise DamagedHeaderError(
            f"PerFrameFunctionalGroupsSequence holds {len(per_frame)} items but NumberOfFrames "
            f"is {frames_count}"
        )
    shared = shared_items[0] if shared_items else None
    in_volume_frame = False
    planes = []
    for index in range(frames_count):
        item = per_frame[index] if per_frame else None
        try:
            plane, in_volume = _functional_plane(item, shared, top, modality)
        except DamagedHeaderError as damage:
            raise DamagedHeaderError(f"frame {index + 1}: {damage}") from None
        in_volume_frame = in_volume_frame or in_volume
        planes.append(plane)
    return tuple(planes), in_volume_frame


def _functional_plane(
    item: Dataset | None, shared: Dataset | None, top: FramePlane, modality: str
) -> tuple[FramePlane, bool]:
    """One frame's plane from its functional groups, falling back to the top-level plane."""
    position_mm = _macro_value(
        item, shared, "PlanePositionSequence", "ImagePositionPatient", position
    )
    cosines = _macro_value(
        item, shared, "PlaneOrientationSequence", "ImageOrientationPatient", orientation
    )
    in_volume = False
    if position_mm is None and cosines is None:
        position_mm = _macro_value(
            item, shared, "PlanePositionVolumeSequence", "ImagePositionVolume", position
        )
        cosines = _macro_value(
            item, shared, "PlaneOrientationVolumeSequence", "ImageOrientationVolume", orientation
        )
        in_volume = position_mm is not None
    spacing = _macro_value(item, shared, "PixelMeasuresSequence", "PixelSpacing", spacing_pair)
    transform = _macro_item(item, shared, "PixelValueTransformationSequence")
    if transform is None:
        slope = top.rescale_slope
        intercept = top.rescale_intercept
        missing = top.rescale_missing
    else:
        found = rescale(transform, modality=modality)
        slope = top.rescale_slope if found.slope is None else found.slope
        intercept = top.rescale_intercept if found.intercept is None else found.intercept
        missing = found.missing
    plane = FramePlane(
        position_lps_mm=position_mm or top.position_lps_mm,
        orientation=cosines or top.orientation,
        pixel_spacing_mm=spacing or top.pixel_spacing_mm,
        rescale_slope=slope,
        rescale_intercept=intercept,
        stack_id=_macro_value(item, shared, "FrameContentSequence", "StackID", _text),
        temporal_index=_macro_value(
            item, shared, "FrameContentSequence", "TemporalPositionIndex", _int
        ),
        rescale_missing=missing,
    )
    return plane, in_volume


def _macro_item(item: Dataset | None, shared: Dataset | None, sequence: str) -> Dataset | None:
    """The first item of ``sequence`` in the frame's groups, else in the shared groups."""
    for source in (item, shared):
        if source is not None and sequence in source and source[sequence].value:
            return source[sequence].value[0]
    return None


def _macro_value(
    item: Dataset | None, shared: Dataset | None, sequence: str, keyword: str, convert: Any
) -> Any:
    for source in (item, shared):
        if source is None or sequence not in source:
            continue
        entries = source[sequence].value
        if entries:
            value = convert(entries[0], keyword)
            if value is not None:
                return value
    return None


def _slice_extent(dataset: Dataset, keyword: str) -> tuple[float | None, str | None]:
    """SliceThickness or SpacingBetweenSlices in mm, with a note when present but unusable.

    These only stand in for the slice spacing of single images and unplaced
    frames, so an implausible value is dropped with a note rather than
    refusing the file. Zero and negative values (common, meaningless here) are
    dropped silently.
    """
    value = optional(lambda source, name: checked_numbers(source, name, 1), dataset, keyword)
    if value is None:
        if is_present(dataset, keyword):
            return None, f"{keyword} {shown(dataset, keyword)} is not a number and was ignored"
        return None, None
    number = value[0]
    if number <= 0:
        return None, None
    if not MIN_SPACING_MM <= number <= MAX_SPACING_MM:
        return None, (
            f"{keyword} {number:g} mm is outside the plausible {MIN_SPACING_MM:g} to "
            f"{MAX_SPACING_MM:g} mm and was ignored"
        )
    return number, None


def _tilt(dataset: Dataset) -> float | None:
    """GantryDetectorTilt in degrees; only quoted in messages, so absurd values read as absent."""
    value = _float(dataset, "GantryDetectorTilt")
    return value if value is not None and abs(value) <= 90 else None


def _ultrasound_regions(dataset: Dataset) -> tuple[UltrasoundRegion, ...]:
    regions = []
    for item in dataset.get("SequenceOfUltrasoundRegions", []) or []:
        try:
            regions.append(
                UltrasoundRegion(
                    spatial_format=_int(item, "RegionSpatialFormat") or 0,
                    data_type=_int(item, "RegionDataType") or 0,
                    units_x=_int(item, "PhysicalUnitsXDirection") or 0,
                    units_y=_int(item, "PhysicalUnitsYDirection") or 0,
                    delta_x=float(item.PhysicalDeltaX),
                    delta_y=float(item.PhysicalDeltaY),
                    min_x=int(item.RegionLocationMinX0),
                    min_y=int(item.RegionLocationMinY0),
                    max_x=int(item.RegionLocationMaxX1),
                    max_y=int(item.RegionLocationMaxY1),
                )
            )
        except (AttributeError, TypeError, ValueError):
            continue  # an incomplete region cannot calibrate anything
    return tuple(regions)


_IDENTITY_KEYWORDS = {
    "patient_name": "PatientName",
    "patient_id": "PatientID",
    "study_instance_uid": "StudyInstanceUID",
    "series_instance_uid": "SeriesInstanceUID",
    "frame_of_reference_uid": "FrameOfReferenceUID",
    "series_description": "SeriesDescription",
    "study_description": "StudyDescription",
    "study_date": "StudyDate",
    "series_time": "SeriesTime",
    "acquisition_time": "AcquisitionTime",
    "series_number": "SeriesNumber",
    "patient_position": "PatientPosition",
    "manufacturer": "Manufacturer",
    "body_part_examined": "BodyPartExamined",
}


def _identity(dataset: Dataset) -> dict[str, str]:
    identity = {}
    for name, keyword in _IDENTITY_KEYWORDS.items():
        try:
            value = dataset.get(keyword)
        except Exception:  # an undecodable value is as good as absent here
            value = None
        identity[name] = "" if value is None else str(value).strip()
    return identity


# -- tolerant element accessors: a malformed value reads as absent
def _values(dataset: Dataset, keyword: str) -> list[Any]:
    try:
        value = dataset.get(keyword)
    except Exception:  # malformed value
        return []
    if value is None or value == "":
        return []
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


def _numbers(dataset: Dataset, keyword: str, count: int) -> tuple[float, ...] | None:
    try:
        numbers = tuple(float(v) for v in _values(dataset, keyword))
    except (TypeError, ValueError):
        return None
    if len(numbers) != count or not all(math.isfinite(v) for v in numbers):
        return None
    return numbers


def _float(dataset: Dataset, keyword: str) -> float | None:
    numbers = _numbers(dataset, keyword, 1)
    return numbers[0] if numbers else None


def _int(dataset: Dataset, keyword: str) -> int | None:
    value = _float(dataset, keyword)
    return int(value) if value is not None and value == int(value) else None


def _text(dataset: Dataset, keyword: str) -> str | None:
    values = _values(dataset, keyword)
    return str(values[0]).strip() if values else None


def _class_name(sop_class: str) -> str:
    if not sop_class:
        return "object of unknown SOP class"
    name = UID(sop_class).name
    return name if name != sop_class else f"object of SOP class {sop_class}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
