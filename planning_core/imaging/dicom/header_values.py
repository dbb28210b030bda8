"""Checked reading of the header values that decide how pixels are read and where they lie.

Every value here changes the meaning of the image when it is wrong: the size
and bit layout of the stored pixels, the rescale to modality values (HU), the
position, orientation and spacing of the frames. A value that is absent where
the standard allows a default reads as absent; a value that is present but
malformed, non-finite, out of its plausible range (see
:mod:`planning_core.imaging.dicom.bounds`) or inconsistent with another raises
:class:`DamagedHeaderError`, whose message names the attribute and its value, so the
file is skipped with that reason instead of being read with a wrong meaning.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from planning_core.imaging.dicom.bounds import (
    CT_SLOPE_RANGE,
    MAX_ABS_COORDINATE_MM,
    MAX_ABS_CT_INTERCEPT_HU,
    MAX_ABS_INTERCEPT,
    MAX_ABS_SLOPE,
    MAX_FRAMES,
    MAX_IMAGE_SIDE,
    MAX_SPACING_MM,
    MIN_ABS_SLOPE,
    MIN_SPACING_MM,
    plausible_spacing,
)

#: Samples per pixel each supported PhotometricInterpretation implies.
PHOTOMETRIC_SAMPLES = {
    "MONOCHROME1": 1,
    "MONOCHROME2": 1,
    "PALETTE COLOR": 1,
    "RGB": 3,
    "YBR_FULL": 3,
    "YBR_FULL_422": 3,
    "YBR_PARTIAL_422": 3,
    "YBR_PARTIAL_420": 3,
    "YBR_ICT": 3,
    "YBR_RCT": 3,
}
_BITS_ALLOCATED = (1, 8, 16, 32)
#: Fewest stored bits of a grey-level sample: no modality planned on stores fewer,
#: and masking real values down to fewer bits would destroy them silently.
MIN_BITS_STORED = 8
#: ImageOrientationPatient cosines must be unit length and perpendicular within this.
ORIENTATION_UNIT_TOLERANCE = 0.01


class DamagedHeaderError(Exception):
    """A header value that makes the file unusable; the message names attribute and value."""


@dataclass(frozen=True)
class PixelDescription:
    """Checked Image Pixel module values of one file."""

    rows: int
    columns: int
    frames: int
    samples: int
    photometric: str
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    assumptions: tuple[str, ...]


def describe_pixels(dataset: Dataset) -> PixelDescription | None:
    """The pixel layout of ``dataset``; None when Rows or Columns is absent.

    Raises
    ------
    DamagedHeaderError
        When a value is malformed, out of range or inconsistent with another.
    """
    rows = ranged_int(dataset, "Rows", 1, MAX_IMAGE_SIDE, "an image size from 1 to 65535")
    columns = ranged_int(dataset, "Columns", 1, MAX_IMAGE_SIDE, "an image size from 1 to 65535")
    if rows is None or columns is None:
        return None
    frames = ranged_int(
        dataset, "NumberOfFrames", 1, MAX_FRAMES, f"a frame count from 1 to {MAX_FRAMES}"
    )
    photometric = (text(dataset, "PhotometricInterpretation") or "MONOCHROME2").upper()
    if photometric not in PHOTOMETRIC_SAMPLES:
        raise DamagedHeaderError(
            f"PhotometricInterpretation {photometric!r} is not a colour model this reader can "
            "turn into grey levels"
        )
    expected_samples = PHOTOMETRIC_SAMPLES[photometric]
    samples = ranged_int(dataset, "SamplesPerPixel", 1, 4, "1 or 3")
    if samples is not None and samples != expected_samples:
        raise DamagedHeaderError(
            f"SamplesPerPixel {samples} disagrees with PhotometricInterpretation {photometric} "
            f"(which has {expected_samples})"
        )
    bits_allocated = ranged_int(dataset, "BitsAllocated", 1, 64, "1, 8, 16 or 32")
    if bits_allocated is None:
        raise DamagedHeaderError("BitsAllocated is missing, so the stored pixel size is unknown")
    if bits_allocated not in _BITS_ALLOCATED:
        raise DamagedHeaderError(f"BitsAllocated {bits_allocated} is not 1, 8, 16 or 32")
    lowest = 1 if bits_allocated == 1 else MIN_BITS_STORED
    bits_stored = ranged_int(
        dataset, "BitsStored", 1, 64, f"a bit count from {lowest} to BitsAllocated"
    )
    assumptions = []
    if bits_stored is None:
        bits_stored = bits_allocated
        assumptions.append(
            f"BitsStored is missing; all {bits_allocated} allocated bits were taken as stored"
        )
    elif not lowest <= bits_stored <= bits_allocated:
        raise DamagedHeaderError(
            f"BitsStored {bits_stored} is not between {lowest} and BitsAllocated {bits_allocated}"
        )
    high_bit = ranged_int(dataset, "HighBit", 0, 63, "a bit index")
    if high_bit is not None and high_bit != bits_stored - 1:
        raise DamagedHeaderError(
            f"HighBit {high_bit} disagrees with BitsStored {bits_stored} (expected "
            f"{bits_stored - 1})"
        )
    representation = ranged_int(dataset, "PixelRepresentation", 0, 1, "0 (unsigned) or 1 (signed)")
    if representation is None:
        if expected_samples == 1 and photometric != "PALETTE COLOR":
            raise DamagedHeaderError(
                "PixelRepresentation is missing, so it is unknown whether stored values are "
                "signed; the image values (HU for CT) cannot be established"
            )
        representation = 0  # colour samples and palette indices are unsigned by definition
    return PixelDescription(
        rows=rows,
        columns=columns,
        frames=frames or 1,
        samples=expected_samples,
        photometric=photometric,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        pixel_representation=representation,
        assumptions=tuple(assumptions),
    )


@dataclass(frozen=True)
class Rescale:
    """RescaleSlope and RescaleIntercept with the names of those that were absent."""

    slope: float | None
    intercept: float | None

    @property
    def missing(self) -> tuple[str, ...]:
        names = []
        if self.slope is None:
            names.append("RescaleSlope")
        if self.intercept is None:
            names.append("RescaleIntercept")
        return tuple(names)


def rescale(source: Dataset, *, modality: str) -> Rescale:
    """Checked rescale of ``source`` (a dataset or a Pixel Value Transformation item).

    Raises
    ------
    DamagedHeaderError
        For a malformed, non-finite or implausible slope or intercept.
    """
    slope = checked_numbers(source, "RescaleSlope", 1)
    intercept = checked_numbers(source, "RescaleIntercept", 1)
    result = Rescale(
        None if slope is None else slope[0], None if intercept is None else intercept[0]
    )
    if modality == "CT":
        low, high = CT_SLOPE_RANGE
        slope_ok = result.slope is None or low <= result.slope <= high
        intercept_ok = result.intercept is None or abs(result.intercept) <= MAX_ABS_CT_INTERCEPT_HU
        where = f"a CT (slope {low:g} to {high:g}, intercept within ±{MAX_ABS_CT_INTERCEPT_HU:g})"
    else:
        slope_ok = result.slope is None or MIN_ABS_SLOPE <= abs(result.slope) <= MAX_ABS_SLOPE
        intercept_ok = result.intercept is None or abs(result.intercept) <= MAX_ABS_INTERCEPT
        where = "any image"
    if not slope_ok:
        raise DamagedHeaderError(f"RescaleSlope {result.slope:g} is implausible for {where}")
    if not intercept_ok:
        raise DamagedHeaderError(
            f"RescaleIntercept {result.intercept:g} is implausible for {where}"
        )
    return result


def check_modality_lut(dataset: Dataset) -> None:
    """Check that a Modality LUT, when present, holds the entries its descriptor states.

    The LUT replaces the rescale, so a damaged one must not be silently skipped
    for the rescale (or applied with missing entries).

    Raises
    ------
    DamagedHeaderError
        When LUTDescriptor is malformed or disagrees with LUTData.
    """
    items = dataset.get("ModalityLUTSequence")
    if not items:
        return
    item = items[0]
    descriptor = checked_numbers(item, "LUTDescriptor", 3)
    if descriptor is None:
        raise DamagedHeaderError("ModalityLUTSequence has no LUTDescriptor")
    entries = int(descriptor[0]) or 65536  # 0 stands for 2**16 entries
    bits = int(descriptor[2])
    data = item.get("LUTData")
    if data is None or bits not in (8, 16):
        raise DamagedHeaderError(
            f"ModalityLUTSequence LUTDescriptor {[int(v) for v in descriptor]} states "
            f"{bits}-bit entries (8 or 16 expected) or LUTData is missing"
        )
    if isinstance(data, bytes):
        counts = {len(data) // 2, len(data)} if bits == 8 else {len(data) // 2}
    else:
        counts = {len(data) if hasattr(data, "__len__") else 1}
    if entries not in counts:
        raise DamagedHeaderError(
            f"ModalityLUTSequence LUTDescriptor states {entries} entries but LUTData holds "
            f"{min(counts)}"
        )


def position(source: Dataset, keyword: str) -> tuple[float, float, float] | None:
    """A frame position in mm, None when absent; damaged when beyond ±1e5 mm."""
    values = checked_numbers(source, keyword, 3)
    if values is not None and max(abs(v) for v in values) > MAX_ABS_COORDINATE_MM:
        raise DamagedHeaderError(
            f"{keyword} {list(values)} lies beyond ±{MAX_ABS_COORDINATE_MM:g} mm of the origin"
        )
    return values  # type: ignore[return-value]


def orientation(
    source: Dataset, keyword: str
) -> tuple[float, float, float, float, float, float] | None:
    """Direction cosines, None when absent; damaged unless two perpendicular unit vectors."""
    values = checked_numbers(source, keyword, 6)
    if values is None:
        return None
    row, column = np.array(values[:3]), np.array(values[3:])
    if (
        abs(float(np.linalg.norm(row)) - 1) > ORIENTATION_UNIT_TOLERANCE
        or abs(float(np.linalg.norm(column)) - 1) > ORIENTATION_UNIT_TOLERANCE
        or abs(float(row @ column)) > ORIENTATION_UNIT_TOLERANCE
    ):
        raise DamagedHeaderError(
            f"{keyword} {[round(v, 4) for v in values]} is not two perpendicular unit vectors"
        )
    return values  # type: ignore[return-value]


def spacing_pair(source: Dataset, keyword: str) -> tuple[float, float] | None:
    """A pixel spacing pair in mm, None when absent; damaged outside [1e-3, 1e2] mm."""
    values = checked_numbers(source, keyword, 2)
    if values is not None and not all(plausible_spacing(v) for v in values):
        raise DamagedHeaderError(
            f"{keyword} {list(values)} mm is outside the plausible {MIN_SPACING_MM:g} to "
            f"{MAX_SPACING_MM:g} mm"
        )
    return values  # type: ignore[return-value]


# -- primitive accessors: each looks the element up once (header scans read thousands)
def _element(source: Dataset, keyword: str) -> DataElement | None:
    """The element ``keyword`` holding a value, None when absent or empty.

    Raises
    ------
    DamagedHeaderError
        When its value cannot be decoded.
    """
    tag = tag_for_keyword(keyword)
    if tag is None or tag not in source:
        return None
    try:
        element = source[tag]
        value = element.value
    except Exception:  # pydicom raises assorted types on undecodable values
        raise DamagedHeaderError(f"{keyword} {shown(source, keyword)} cannot be decoded") from None
    if value is None or value == "" or value == b"":
        return None
    return element


def is_present(source: Dataset, keyword: str) -> bool:
    """True when ``keyword`` holds a value (an empty element counts as absent)."""
    try:
        return _element(source, keyword) is not None
    except DamagedHeaderError:
        return True  # an undecodable value is present, and damaged


def shown(source: Dataset, keyword: str) -> str:
    """The raw value of ``keyword`` for a message, at most 40 characters."""
    try:
        value = source[keyword].value
    except Exception:  # undecodable: show the bytes
        try:
            value = source.get_item(keyword).value
        except Exception:  # nothing readable at all
            return "(unreadable)"
    text_value = repr(value)
    return text_value if len(text_value) <= 40 else text_value[:37] + "..."


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


def checked_numbers(source: Dataset, keyword: str, count: int) -> tuple[float, ...] | None:
    """``count`` finite numbers, or None when absent.

    Raises
    ------
    DamagedHeaderError
        When present but stored with another VR than the standard's, or not
        ``count`` finite numbers.
    """
    element = _element(source, keyword)
    if element is None:
        return None
    _check_vr(element, keyword, source)
    try:
        numbers = tuple(float(v) for v in _as_list(element.value))
    except (TypeError, ValueError, OverflowError):
        numbers = ()
    if len(numbers) != count or not all(math.isfinite(v) for v in numbers):
        expected = "a finite number" if count == 1 else f"{count} finite numbers"
        raise DamagedHeaderError(f"{keyword} {shown(source, keyword)} is not {expected}")
    return numbers


def _check_vr(element: DataElement, keyword: str, source: Dataset) -> None:
    """Refuse a value stored with another VR than the standard's (FD bytes read as a DS, say)."""
    expected = _DICTIONARY_VRS.get(keyword)
    if expected is None:
        expected = _DICTIONARY_VRS[keyword] = tuple(dictionary_VR(keyword).split(" or "))
    if element.VR not in expected:
        raise DamagedHeaderError(
            f"{keyword} {shown(source, keyword)} is stored with VR {element.VR} instead of "
            f"{' or '.join(expected)}"
        )


_DICTIONARY_VRS: dict[str, tuple[str, ...]] = {}


def ranged_int(source: Dataset, keyword: str, low: int, high: int, expected: str) -> int | None:
    """An integer in [low, high], or None when absent; damaged otherwise."""
    element = _element(source, keyword)
    if element is None:
        return None
    _check_vr(element, keyword, source)
    try:
        numbers = checked_numbers(source, keyword, 1)
    except DamagedHeaderError:
        numbers = None
    value = None if numbers is None else numbers[0]
    if value is None or value != int(value) or not low <= value <= high:
        raise DamagedHeaderError(f"{keyword} {shown(source, keyword)} is not {expected}")
    return int(value)


def text(source: Dataset, keyword: str) -> str | None:
    """The first value of ``keyword`` as stripped text, None when absent."""
    element = _element(source, keyword)
    return None if element is None else str(_as_list(element.value)[0]).strip()


def optional(reader: Callable[[Dataset, str], Any], source: Dataset, keyword: str) -> Any:
    """``reader``'s value, or None when the value is damaged (for informative values only)."""
    try:
        return reader(source, keyword)
    except DamagedHeaderError:
        return None
