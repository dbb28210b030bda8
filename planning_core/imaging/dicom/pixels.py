"""Decoding the pixel data of one file into grey-level frames.

Three routes, tried in this order:

1. Native (uncompressed) little/big endian pixel data are read straight from
   the offset the header scan recorded: one ``read`` per file, no second parse.
2. Everything else goes through pydicom's ``pixel_array`` and its plugins
   (pylibjpeg, -libjpeg, -openjpeg, -rle: JPEG lossless/baseline/extended,
   JPEG-LS, JPEG 2000, RLE; deflate is built in).
3. What pydicom cannot decode (retired JPEG processes 6/8 and 10/12, 12-bit
   JPEG extended streams libjpeg rejects) is read by SimpleITK's GDCM reader,
   which returns values with the rescale already applied.

Colour images (RGB, YBR, palette) become grey levels by their luminance.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pydicom
import SimpleITK as sitk
from numpy.typing import NDArray
from pydicom.encaps import generate_frames
from pydicom.pixels import apply_color_lut, apply_modality_lut
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, RLELossless

from planning_core.errors import DicomLoadError
from planning_core.imaging.dicom.bounds import require_memory
from planning_core.imaging.dicom.codestream import (
    END_MARKED_SYNTAXES,
    NO_END_MARKER,
    ends_with_end_marker,
    stated_header,
)
from planning_core.imaging.dicom.deflated import DeflateBombError, inflated_copy
from planning_core.imaging.dicom.headers import InstanceHeader
from planning_core.imaging.dicom.library_warnings import collected_as_notes

_INT32 = np.iinfo(np.int32)
#: JPEG lossy processes (baseline to 12-bit extended and the retired 6/8, 10/12)
#: that pydicom's plugins decode only in part; GDCM reads the rest.
_GDCM_FALLBACK_SYNTAXES = frozenset(f"1.2.840.10008.1.2.4.{n}" for n in range(50, 57))
_RLE_MAX_PADDING = 2
_RLE_PADDING = re.compile(r"non-conformant padding - (\d+) vs\. (\d+) bytes expected")
_FLOAT_BYTES = 4
# ITU-R BT.601 luma weights, the grey level DICOM YBR colour spaces are built on.
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True, eq=False)
class DecodedFrames:
    """The frames of one file as ``(frames, rows, columns)`` grey levels.

    ``rescaled`` is True when the values are already modality values (HU for
    CT) because the decoder applied the rescale or modality LUT itself.
    """

    values: NDArray[np.generic]
    rescaled: bool
    notes: tuple[str, ...]


def decode_frames(instance: InstanceHeader, *, name: str) -> DecodedFrames:
    """Decode all frames of ``instance``.

    Parameters
    ----------
    instance : InstanceHeader
        The file, as scanned.
    name : str
        How notes refer to the series.

    Raises
    ------
    DicomLoadError
        When the pixel data are truncated, would not fit in memory, or no
        decoder can read them; the message names the file and the transfer
        syntax. No other exception escapes, whatever the file holds.
    """
    _require_decode_memory(instance)
    if _is_plain_native(instance):
        values, masked = _read_native(instance)
        return DecodedFrames(values, False, _masked_notes(instance, masked))
    library_notes: list[str] = []
    try:
        # Library warnings become notes naming the file, never printed text.
        with collected_as_notes(
            library_notes, where=f"{instance.path.name}: the decoder warned"
        ) as caught:
            decoded = _decode_with_pydicom(instance, name=name)
    except DicomLoadError:
        raise
    except (FileNotFoundError, PermissionError, IsADirectoryError) as error:
        raise DicomLoadError(_unreadable(instance, error)) from None
    except Exception as pydicom_error:  # plugins raise assorted types for unsupported streams
        if instance.transfer_syntax_uid not in _GDCM_FALLBACK_SYNTAXES:
            # GDCM is no safer on a damaged stream (it allocated 1.5 GiB for a truncated
            # JPEG-LS slice), so it only stands in where pydicom has no decoder.
            raise DicomLoadError(
                _undecodable(instance, f"pydicom: {_one_line(pydicom_error)}")
            ) from None
        return _decode_with_simpleitk(instance, pydicom_error=pydicom_error)
    except BaseException as panic:
        # Decoders written in Rust (pylibjpeg-rle) turn a malformed stream into a
        # PanicException, which derives from BaseException; interrupts still pass.
        if isinstance(panic, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        raise DicomLoadError(
            _undecodable(instance, f"the decoder failed: {_one_line(panic)}")
        ) from None
    _reject_oversized_rle(instance, caught)
    return DecodedFrames(decoded.values, decoded.rescaled, decoded.notes + tuple(library_notes))


def modality_values(
    stored: NDArray[np.generic], *, slope: float, intercept: float
) -> NDArray[np.generic]:
    """Apply ``value = stored * slope + intercept`` without float64 copies of a volume.

    Integer results stay integer (int32) when slope and intercept are whole
    numbers and every result fits int32; otherwise float32. The header checks
    bound slope and intercept (:mod:`planning_core.imaging.dicom.bounds`), so
    the int64 arithmetic of one frame cannot overflow and float32 stays finite.
    """
    if stored.dtype.kind in "iu" and float(slope).is_integer() and float(intercept).is_integer():
        if slope == 1 and intercept == 0:
            return stored
        limits = np.iinfo(stored.dtype)
        ends = (limits.min * slope + intercept, limits.max * slope + intercept)
        if min(ends) >= _INT32.min and max(ends) <= _INT32.max:  # 16-bit data, CT rescale
            return stored.astype(np.int32) * np.int32(slope) + np.int32(intercept)
        exact = stored.astype(np.int64) * int(slope) + int(intercept)
        if exact.size == 0 or (exact.min() >= _INT32.min and exact.max() <= _INT32.max):
            return exact.astype(np.int32)
    values = stored.astype(np.float32)
    if slope != 1:
        values *= np.float32(slope)
    if intercept != 0:
        values += np.float32(intercept)
    return values


def _is_plain_native(instance: InstanceHeader) -> bool:
    return (
        instance.pixel_offset is not None
        and instance.samples_per_pixel == 1
        and instance.bits_allocated in (8, 16, 32)
        and instance.photometric in ("MONOCHROME1", "MONOCHROME2")
        and not instance.has_modality_lut
    )


def _reject_oversized_rle(instance: InstanceHeader, caught: list[warnings.WarningMessage]) -> None:
    """Refuse RLE segments longer than Rows×Columns beyond padding: the header is wrong.

    A byte or two of padding is a known encoder quirk that pydicom only warns
    about; more (one row of 511 columns is 0.2 % of a slice) means another shape.
    """
    for warning in caught:
        match = _RLE_PADDING.search(str(warning.message))
        if match and int(match.group(1)) > int(match.group(2)) + _RLE_MAX_PADDING:
            raise DicomLoadError(
                _undecodable(
                    instance,
                    f"an RLE segment holds {match.group(1)} bytes but Rows×Columns is "
                    f"{match.group(2)}",
                )
            )


def _require_decode_memory(instance: InstanceHeader) -> None:
    """Refuse, before any decoder runs, a file whose decoded frames would not fit in memory."""
    frames, rows, columns = instance.number_of_frames, instance.rows, instance.columns
    # Decoders return the stored samples; colour is then converted through float32.
    per_sample = max(instance.bits_allocated // 8, 1) + _FLOAT_BYTES
    require_memory(
        frames * rows * columns * instance.samples_per_pixel * per_sample,
        what="its decoded pixel data",
        name=str(instance.path),
        cause=(
            f"NumberOfFrames {frames} × Rows {rows} × Columns {columns} × SamplesPerPixel "
            f"{instance.samples_per_pixel}"
        ),
    )


def _unreadable(instance: InstanceHeader, error: OSError) -> str:
    return (
        f"{instance.path}: cannot be read ({error.strerror or error}); the file was moved, "
        "removed or locked after the folder was scanned. Check it and load again."
    )


def _undecodable(instance: InstanceHeader, detail: str) -> str:
    syntax = UID(instance.transfer_syntax_uid)
    return (
        f"{instance.path}: pixel data in transfer syntax {syntax.name} ({syntax}) cannot be "
        f"decoded ({detail}). The header (Rows {instance.rows}, Columns {instance.columns}, "
        f"NumberOfFrames {instance.number_of_frames}) may not match the data; convert the file "
        "to an uncompressed syntax (e.g. `gdcmconv --raw` or `dcmdjpeg`) and load it again."
    )


def _as_frames(values: NDArray[np.generic], instance: InstanceHeader) -> NDArray[np.generic]:
    """``values`` as (frames, rows, columns), or an error naming both shapes."""
    shape = (instance.number_of_frames, instance.rows, instance.columns)
    if values.size != shape[0] * shape[1] * shape[2]:
        raise DicomLoadError(
            _undecodable(
                instance,
                f"the decoder returned {values.size} values of shape {values.shape}, not "
                f"NumberOfFrames×Rows×Columns = {shape[0]}×{shape[1]}×{shape[2]}",
            )
        )
    return values.reshape(shape)


def _masked_notes(instance: InstanceHeader, masked: int) -> tuple[str, ...]:
    if not masked:
        return ()
    return (
        f"{instance.path.name}: {masked} stored value(s) had bits set above BitsStored "
        f"{instance.bits_stored} (of BitsAllocated {instance.bits_allocated}); they were "
        "dropped as the standard requires. If the image looks wrong, BitsStored in the header "
        "is damaged.",
    )


def _read_native(instance: InstanceHeader) -> tuple[NDArray[np.generic], int]:
    itemsize = instance.bits_allocated // 8
    endian = ">" if instance.transfer_syntax_uid == ExplicitVRBigEndian else "<"
    kind = "i" if instance.pixel_representation == 1 else "u"
    dtype = np.dtype(f"{endian}{kind}{itemsize}")
    count = instance.number_of_frames * instance.rows * instance.columns
    try:
        with open(instance.path, "rb") as stream:
            stream.seek(instance.pixel_offset or 0)
            buffer = stream.read(count * itemsize)
    except OSError as error:
        raise DicomLoadError(_unreadable(instance, error)) from None
    if len(buffer) < count * itemsize:
        raise DicomLoadError(
            f"{instance.path}: truncated: pixel data end after {len(buffer)} of "
            f"{count * itemsize} bytes (the file changed or was cut after scanning). Copy it again."
        )
    values = _as_frames(np.frombuffer(buffer, dtype=dtype), instance)
    if dtype.byteorder == ">" and sys.byteorder == "little":
        values = values.astype(dtype.newbyteorder("="))
    return _clean_unused_bits(values, instance)


def _clean_unused_bits(
    values: NDArray[np.generic], instance: InstanceHeader
) -> tuple[NDArray[np.generic], int]:
    """Drop bits above BitsStored: mask them (unsigned) or sign-extend from the top stored bit.

    Returns the values and how many of them changed, so that a BitsStored
    smaller than the data is reported instead of silently cutting values.
    """
    unused = instance.bits_allocated - instance.bits_stored
    if unused <= 0 or values.size == 0:
        return values, 0
    signed = instance.pixel_representation == 1
    low = -(1 << (instance.bits_stored - 1)) if signed else 0
    high = (1 << (instance.bits_stored - 1 if signed else instance.bits_stored)) - 1
    if values.min() >= low and values.max() <= high:
        return values, 0  # the usual case: nothing above the stored bits, nothing to change
    if signed:
        cleaned = (values << unused) >> unused
    else:
        cleaned = values & values.dtype.type((1 << instance.bits_stored) - 1)
    return cleaned, int(np.count_nonzero(cleaned != values))


def _open_dataset(instance: InstanceHeader) -> pydicom.Dataset:
    if instance.transfer_syntax_uid == DeflatedExplicitVRLittleEndian:
        # pydicom would inflate without bound; the copy is read as Explicit VR Little Endian.
        try:
            return pydicom.dcmread(inflated_copy(instance.path, _size_values(instance)))
        except DeflateBombError as error:
            raise DicomLoadError(f"{instance.path}: {error}.") from None
    if instance.header_offset:
        with open(instance.path, "rb") as stream:
            stream.seek(instance.header_offset)
            source: object = io.BytesIO(stream.read())
    else:
        source = instance.path
    dataset = pydicom.dcmread(source, force=True)
    if "TransferSyntaxUID" not in dataset.file_meta:
        dataset.file_meta.TransferSyntaxUID = UID(instance.transfer_syntax_uid)
    return dataset


def _size_values(instance: InstanceHeader) -> dict[str, int]:
    """The header values that size a data set, keyed as in the file."""
    return {
        "Rows": instance.rows,
        "Columns": instance.columns,
        "NumberOfFrames": instance.number_of_frames,
        "SamplesPerPixel": instance.samples_per_pixel,
        "BitsAllocated": instance.bits_allocated,
    }


def _check_stream_header(instance: InstanceHeader, dataset: pydicom.Dataset) -> list[str]:
    """Refuse compressed data whose own size disagrees with Rows/Columns; note odd precision.

    Returns a note when the stream's sample precision needs another
    BitsAllocated than the header's: harmless to the values (they are read
    from the stream), but the user should know the header is inconsistent.
    """
    try:
        frames = list(
            generate_frames(dataset.PixelData, number_of_frames=instance.number_of_frames)
        )
    except Exception:  # malformed encapsulation: the decoder reports it below
        return []
    if not frames:
        return []
    if instance.transfer_syntax_uid in END_MARKED_SYNTAXES and not all(
        ends_with_end_marker(frame) for frame in frames
    ):
        # The scan checked the last frame only; decoders fill a cut frame silently.
        raise DicomLoadError(f"{instance.path}: {NO_END_MARKER}.")
    stated = stated_header(frames[0])
    if stated is None:
        return []
    # A JPEG frame may leave its height to a later DNL marker (0 here).
    if stated.columns != instance.columns or stated.rows not in (0, instance.rows):
        raise DicomLoadError(
            f"{instance.path}: the header says Rows {instance.rows} × Columns "
            f"{instance.columns} but the compressed pixel data hold {stated.rows} × "
            f"{stated.columns} pixels; the header and pixel data disagree, re-export the file."
        )
    precision = stated.precision_bits
    allocation = 8 if precision <= 8 else 16 if precision <= 16 else 32
    if allocation != instance.bits_allocated:
        return [
            f"{instance.path.name}: the compressed stream holds {stated.precision_bits}-bit "
            f"samples but BitsAllocated is {instance.bits_allocated}; the values were read from "
            "the stream, check the header."
        ]
    return []


def _decode_with_pydicom(instance: InstanceHeader, *, name: str) -> DecodedFrames:
    dataset = _open_dataset(instance)
    notes = _check_stream_header(instance, dataset)
    if instance.transfer_syntax_uid == RLELossless:
        # pylibjpeg-rle (Rust) panics and prints a backtrace on segments that disagree
        # with Rows/Columns; pydicom's own decoder raises or warns instead, and is
        # about as fast (14 vs 10 ms for a 512×512 CT slice).
        dataset.pixel_array_options(decoding_plugin="pydicom")
    values = dataset.pixel_array
    rescaled = False
    photometric = instance.photometric
    if photometric == "PALETTE COLOR":
        values = apply_color_lut(values, dataset)
    elif instance.has_modality_lut and instance.samples_per_pixel == 1:
        values = apply_modality_lut(values, dataset)
        rescaled = True
        notes.append(f"{name}: the Modality LUT Sequence was applied to the stored values.")
    if values.shape[-1] == 3 and (
        instance.samples_per_pixel == 3 or photometric == "PALETTE COLOR"
    ):
        values = values.astype(np.float32) @ _LUMA_WEIGHTS
        notes.append(f"{name}: colour image ({photometric}) converted to grey levels (luminance).")
    values = _as_frames(values, instance)
    if values.dtype.kind in "iu" and not rescaled:
        values, masked = _clean_unused_bits(values, instance)
        notes.extend(_masked_notes(instance, masked))
    return DecodedFrames(values, rescaled, tuple(notes))


def _decode_with_simpleitk(instance: InstanceHeader, *, pydicom_error: Exception) -> DecodedFrames:
    try:
        reader = sitk.ImageFileReader()
        reader.SetImageIO("GDCMImageIO")
        reader.SetFileName(str(instance.path))
        with _quiet_stderr():
            image = reader.Execute()
        if image.GetNumberOfComponentsPerPixel() != 1:
            raise RuntimeError("colour pixel data")
        values = sitk.GetArrayFromImage(image)
    except RuntimeError as sitk_error:
        raise DicomLoadError(
            _undecodable(
                instance, f"pydicom: {_one_line(pydicom_error)}; GDCM: {_one_line(sitk_error)}"
            )
        ) from None
    values = _as_frames(values, instance)
    if values.dtype == np.float64:
        values = values.astype(np.float32)
    return DecodedFrames(values, True, ())


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence C-level stderr: GDCM's JPEG codec prints notes on streams it still decodes.

    The redirection is process-wide, but only for the milliseconds of one
    fallback decode, which is rare.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return " ".join(lines)[:200] if lines else type(error).__name__
