"""Small DICOM files built with pydicom for the loader tests.

Regular, oblique, gantry-tilted and gapped stacks, Enhanced (per-frame
functional group) multi-frame objects, ultrasound with calibrated regions, and
damaged files. UIDs are derived from the arguments so builds are repeatable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pydicom
from numpy.typing import ArrayLike, NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    CTImageStorage,
    EnhancedCTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

ENHANCED_US_VOLUME_STORAGE = "1.2.840.10008.5.1.4.1.1.6.2"
UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)


def make_uid(*parts: object) -> str:
    """A repeatable UID derived from ``parts``."""
    return generate_uid(entropy_srcs=[repr(p) for p in parts])


def decimal(value: float) -> str:
    """A DS string at the 16-character limit, so positions survive to ~1e-10 mm."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return text if len(text) <= 16 else f"{value:.9g}"


def image_dataset(
    pixels: NDArray[np.generic],
    *,
    sop_class: str = CTImageStorage,
    modality: str = "CT",
    study_uid: str = "1.2.826.0.1.3680043.8.498.1",
    series_uid: str = "1.2.826.0.1.3680043.8.498.2",
    sop_uid: str | None = None,
    instance_number: int | None = None,
    position: ArrayLike | None = None,
    orientation: ArrayLike | None = None,
    pixel_spacing: ArrayLike | None = None,
    rescale: tuple[float, float] | None = (1.0, -1024.0),
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    series_description: str = "factory series",
    photometric: str | None = None,
    bits_stored: int | None = None,
) -> Dataset:
    """One image instance holding ``pixels``: (rows, cols), (frames, rows, cols) or RGB (..., 3)."""
    pixels = np.ascontiguousarray(pixels)
    colour = pixels.ndim >= 3 and pixels.shape[-1] == 3 and pixels.dtype == np.uint8
    plane_shape = pixels.shape[-3:-1] if colour else pixels.shape[-2:]
    frames = pixels.shape[0] if pixels.ndim == (4 if colour else 3) else None
    sop_uid = sop_uid or make_uid(
        series_uid, instance_number, position, orientation, pixels.tobytes()
    )

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = "1.2.826.0.1.3680043.8.498.100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = make_uid(study_uid, "frame of reference")
    ds.Modality = modality
    ds.PatientName = "Factory^Test"
    ds.PatientID = "FACTORY-1"
    ds.StudyDate = "20240102"
    ds.StudyDescription = "factory study"
    ds.SeriesDescription = series_description
    ds.SeriesNumber = 3
    ds.PatientPosition = "HFS"
    ds.ImageType = list(image_type)
    if instance_number is not None:
        ds.InstanceNumber = instance_number
    if position is not None:
        ds.ImagePositionPatient = [decimal(v) for v in np.asarray(position, dtype=float)]
    if orientation is not None:
        ds.ImageOrientationPatient = [decimal(v) for v in np.asarray(orientation, dtype=float)]
    if pixel_spacing is not None:
        ds.PixelSpacing = [decimal(v) for v in np.asarray(pixel_spacing, dtype=float)]
        ds.SliceThickness = "1"
    if rescale is not None:
        ds.RescaleSlope = decimal(rescale[0])
        ds.RescaleIntercept = decimal(rescale[1])
    ds.Rows, ds.Columns = (int(v) for v in plane_shape)
    if frames is not None:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = photometric or ("RGB" if colour else "MONOCHROME2")
    if colour:
        ds.PlanarConfiguration = 0
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated = bits
    ds.BitsStored = bits_stored or bits
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    ds.PixelData = pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()
    return ds


def save(ds: Dataset, path: Path, *, transfer_syntax: str = ExplicitVRLittleEndian) -> Path:
    """Write ``ds`` as a DICOM file, compressing it when ``transfer_syntax`` asks for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if transfer_syntax in UNCOMPRESSED:
        ds.file_meta.TransferSyntaxUID = transfer_syntax
        ds.save_as(
            path, enforce_file_format=True, implicit_vr=transfer_syntax == ImplicitVRLittleEndian
        )
    else:
        ds.compress(transfer_syntax)
        ds.save_as(path, enforce_file_format=True)
    return path


def rotation(z_deg: float, y_deg: float, x_deg: float) -> NDArray[np.float64]:
    """A proper rotation matrix from three Euler angles (degrees)."""
    a, b, c = np.radians([z_deg, y_deg, x_deg])
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rx = np.array([[1, 0, 0], [0, np.cos(c), -np.sin(c)], [0, np.sin(c), np.cos(c)]])
    return rz @ ry @ rx


def write_stack(
    directory: Path,
    stored: NDArray[np.generic],
    *,
    spacing_ijk: ArrayLike,
    origin: ArrayLike = (0.0, 0.0, 0.0),
    direction: ArrayLike | None = None,
    positions: ArrayLike | None = None,
    names: Sequence[str] | None = None,
    instance_numbers: Sequence[int] | None = None,
    series_uid: str | None = None,
    study_uid: str = "1.2.826.0.1.3680043.8.498.1",
    rescale: tuple[float, float] | None = (1.0, -1024.0),
    transfer_syntax: str = ExplicitVRLittleEndian,
    modality: str = "CT",
    edit: Callable[[Dataset, int], None] | None = None,
) -> list[Path]:
    """Write ``stored[k]`` as one file per slice; returns paths in k order.

    Slice k sits at ``positions[k]`` when given, else at
    ``origin + k * spacing_k * direction[:, 2]``.
    """
    spacing = np.asarray(spacing_ijk, dtype=float)
    direction = np.eye(3) if direction is None else np.asarray(direction, dtype=float)
    origin = np.asarray(origin, dtype=float)
    count = stored.shape[0]
    if positions is None:
        positions = [origin + k * spacing[2] * direction[:, 2] for k in range(count)]
    positions = np.asarray(positions, dtype=float)
    series_uid = series_uid or make_uid(directory.name, "series", stored.shape)
    names = names or [f"slice{k:03d}.dcm" for k in range(count)]
    instance_numbers = instance_numbers or list(range(1, count + 1))
    orientation = np.concatenate([direction[:, 0], direction[:, 1]])
    paths = []
    for k in range(count):
        ds = image_dataset(
            stored[k],
            modality=modality,
            study_uid=study_uid,
            series_uid=series_uid,
            instance_number=instance_numbers[k],
            position=positions[k],
            orientation=orientation,
            pixel_spacing=(spacing[1], spacing[0]),
            rescale=rescale,
        )
        if edit is not None:
            edit(ds, k)
        paths.append(save(ds, directory / names[k], transfer_syntax=transfer_syntax))
    return paths


def _item(**elements: object) -> Dataset:
    item = Dataset()
    for keyword, value in elements.items():
        setattr(item, keyword, value)
    return item


def enhanced_dataset(
    stored: NDArray[np.generic],
    *,
    positions: ArrayLike,
    orientation: ArrayLike,
    pixel_spacing: ArrayLike,
    rescales: Sequence[tuple[float, float]] | None = None,
    sop_class: str = EnhancedCTImageStorage,
    modality: str = "CT",
    volume_frame: bool = False,
    temporal_indices: Sequence[int] | None = None,
    series_uid: str = "1.2.826.0.1.3680043.8.498.77",
) -> Dataset:
    """A multi-frame object with per-frame Plane Position and shared orientation/spacing.

    With ``volume_frame`` the planes use the Enhanced US Volume macros
    (ImagePositionVolume / ImageOrientationVolume) instead of patient ones.
    """
    ds = image_dataset(
        stored,
        sop_class=sop_class,
        modality=modality,
        series_uid=series_uid,
        rescale=None,
        image_type=("ORIGINAL", "PRIMARY", "VOLUME", "NONE"),
    )
    position_sequence, position_keyword = (
        ("PlanePositionVolumeSequence", "ImagePositionVolume")
        if volume_frame
        else ("PlanePositionSequence", "ImagePositionPatient")
    )
    orientation_sequence, orientation_keyword = (
        ("PlaneOrientationVolumeSequence", "ImageOrientationVolume")
        if volume_frame
        else ("PlaneOrientationSequence", "ImageOrientationPatient")
    )
    # Patient planes are DS (decimal strings); volume planes are FD (binary doubles).
    encode = (
        (lambda values: [float(v) for v in values])
        if volume_frame
        else (lambda values: [decimal(v) for v in values])
    )
    shared = Dataset()
    setattr(
        shared,
        orientation_sequence,
        DicomSequence([_item(**{orientation_keyword: encode(orientation)})]),
    )
    shared.PixelMeasuresSequence = DicomSequence(
        [_item(PixelSpacing=[decimal(v) for v in pixel_spacing], SliceThickness="1")]
    )
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    per_frame = []
    for index, position in enumerate(np.asarray(positions, dtype=float)):
        frame = Dataset()
        setattr(
            frame, position_sequence, DicomSequence([_item(**{position_keyword: encode(position)})])
        )
        content = _item(StackID="1", InStackPositionNumber=index + 1)
        if temporal_indices is not None:
            content.TemporalPositionIndex = temporal_indices[index]
        frame.FrameContentSequence = DicomSequence([content])
        if rescales is not None:
            slope, intercept = rescales[index]
            frame.PixelValueTransformationSequence = DicomSequence(
                [
                    _item(
                        RescaleSlope=decimal(slope),
                        RescaleIntercept=decimal(intercept),
                        RescaleType="HU",
                    )
                ]
            )
        per_frame.append(frame)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    return ds


def ultrasound_dataset(
    pixels: NDArray[np.generic],
    *,
    regions: Sequence[dict[str, float]] = (),
    series_uid: str = "1.2.826.0.1.3680043.8.498.88",
    photometric: str | None = None,
) -> Dataset:
    """A single- or multi-frame ultrasound image with calibrated regions.

    Each region dict gives ``delta_x_cm``, ``delta_y_cm`` and the box
    ``x0, y0, x1, y1`` in pixels.
    """
    colour = pixels.shape[-1] == 3 and pixels.dtype == np.uint8
    multi = pixels.ndim == (4 if colour else 3)
    ds = image_dataset(
        pixels,
        sop_class=UltrasoundMultiFrameImageStorage if multi else UltrasoundImageStorage,
        modality="US",
        series_uid=series_uid,
        rescale=None,
        image_type=("ORIGINAL", "PRIMARY", "ABDOMINAL"),
        photometric=photometric,
    )
    items = []
    for region in regions:
        items.append(
            _item(
                RegionSpatialFormat=1,
                RegionDataType=1,
                RegionFlags=0,
                RegionLocationMinX0=int(region["x0"]),
                RegionLocationMinY0=int(region["y0"]),
                RegionLocationMaxX1=int(region["x1"]),
                RegionLocationMaxY1=int(region["y1"]),
                PhysicalUnitsXDirection=3,
                PhysicalUnitsYDirection=3,
                PhysicalDeltaX=float(region["delta_x_cm"]),
                PhysicalDeltaY=float(region["delta_y_cm"]),
            )
        )
    if items:
        ds.SequenceOfUltrasoundRegions = DicomSequence(items)
    if multi:
        ds.FrameTime = "33.3"
    return ds


def truncate(path: Path, *, keep_bytes: int) -> Path:
    """Cut a file to its first ``keep_bytes`` bytes (a broken copy)."""
    data = path.read_bytes()
    path.write_bytes(data[:keep_bytes])
    return path


def header_bytes_before_pixels(path: Path) -> int:
    """Offset of the pixel data element, to cut a file inside or before its pixels."""
    with open(path, "rb") as stream:
        pydicom.dcmread(stream, stop_before_pixels=True)
        return stream.tell()
