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
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pydicom
import SimpleITK as sitk
from numpy.typing import NDArray
from pydicom.pixels import apply_color_lut, apply_modality_lut
from pydicom.uid import UID, ExplicitVRBigEndian

from planning_core.errors import DicomLoadError
from planning_core.imaging.dicom.headers import InstanceHeader

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
        When the pixel data are truncated or no decoder can read them; the
        message names the file and the transfer syntax.
    """
    if _is_plain_native(instance):
        return DecodedFrames(_read_native(instance), False, ())
    try:
        with warnings.catch_warnings():
            # pydicom warns about tolerable oddities (e.g. BitsStored vs. the JPEG
            # precision); real problems raise and are reported below.
            warnings.simplefilter("ignore")
            return _decode_with_pydicom(instance, name=name)
    except DicomLoadError:
        raise
    except Exception as pydicom_error:  # plugins raise assorted types for unsupported streams
        return _decode_with_simpleitk(instance, pydicom_error=pydicom_error)


def modality_values(
    stored: NDArray[np.generic], *, slope: float, intercept: float
) -> NDArray[np.generic]:
    """Apply ``value = stored * slope + intercept`` without float64 copies.

    Integer results stay integer (int32) when slope and intercept are whole
    numbers; otherwise float32.
    """
    if stored.dtype.kind in "iu" and float(slope).is_integer() and float(intercept).is_integer():
        if slope == 1 and intercept == 0:
            return stored
        return stored.astype(np.int32) * np.int32(slope) + np.int32(intercept)
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


def _read_native(instance: InstanceHeader) -> NDArray[np.generic]:
    itemsize = instance.bits_allocated // 8
    endian = ">" if instance.transfer_syntax_uid == ExplicitVRBigEndian else "<"
    kind = "i" if instance.pixel_representation == 1 else "u"
    dtype = np.dtype(f"{endian}{kind}{itemsize}")
    count = instance.number_of_frames * instance.rows * instance.columns
    with open(instance.path, "rb") as stream:
        stream.seek(instance.pixel_offset or 0)
        buffer = stream.read(count * itemsize)
    if len(buffer) < count * itemsize:
        raise DicomLoadError(
            f"{instance.path}: truncated: pixel data end after {len(buffer)} of "
            f"{count * itemsize} bytes (the file changed or was cut after scanning). Copy it again."
        )
    values = np.frombuffer(buffer, dtype=dtype).reshape(
        instance.number_of_frames, instance.rows, instance.columns
    )
    if dtype.byteorder == ">" and sys.byteorder == "little":
        values = values.astype(dtype.newbyteorder("="))
    return _clean_unused_bits(values, instance)


def _clean_unused_bits(
    values: NDArray[np.generic], instance: InstanceHeader
) -> NDArray[np.generic]:
    """Drop bits above BitsStored: mask them (unsigned) or sign-extend from the top stored bit."""
    unused = instance.bits_allocated - instance.bits_stored
    if unused <= 0:
        return values
    if instance.pixel_representation == 1:
        return (values << unused) >> unused
    return values & values.dtype.type((1 << instance.bits_stored) - 1)


def _open_dataset(instance: InstanceHeader) -> pydicom.Dataset:
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


def _decode_with_pydicom(instance: InstanceHeader, *, name: str) -> DecodedFrames:
    dataset = _open_dataset(instance)
    values = dataset.pixel_array
    notes: list[str] = []
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
    values = values.reshape(instance.number_of_frames, instance.rows, instance.columns)
    if values.dtype.kind in "iu" and not rescaled:
        values = _clean_unused_bits(values, instance)
    return DecodedFrames(values, rescaled, tuple(notes))


def _decode_with_simpleitk(instance: InstanceHeader, *, pydicom_error: Exception) -> DecodedFrames:
    syntax = UID(instance.transfer_syntax_uid)
    try:
        reader = sitk.ImageFileReader()
        reader.SetImageIO("GDCMImageIO")
        reader.SetFileName(str(instance.path))
        with _quiet_stderr():
            image = reader.Execute()
        if image.GetNumberOfComponentsPerPixel() != 1:
            raise RuntimeError("colour pixel data")
        values = sitk.GetArrayFromImage(image)
        values = values.reshape(instance.number_of_frames, instance.rows, instance.columns)
    except RuntimeError as sitk_error:
        raise DicomLoadError(
            f"{instance.path}: pixel data in transfer syntax {syntax.name} ({syntax}) cannot be "
            f"decoded (pydicom: {_one_line(pydicom_error)}; GDCM: {_one_line(sitk_error)}). "
            "Convert the file to an uncompressed syntax (e.g. `gdcmconv --raw` or `dcmdjpeg`) "
            "and load it again."
        ) from None
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
