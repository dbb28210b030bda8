"""DICOM Segmentation (SEG) export and import of label maps, through highdicom.

Export writes one binary SEG instance whose segments are the labels of a
:class:`LabelMap` (canonical name as segment label, SNOMED CT property type
where one exists, the label's colour as display colour), referencing the CT
series the label map was drawn on, so PACS and other viewers show it on that
series. Import places each segment on the grid of the referenced image
volume, matching frames to the image's slices by SOP Instance UID.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from highdicom.sr.coding import CodedConcept
from pydicom.sr.codedict import codes

from planning_core import __version__
from planning_core.atomic import atomic_path
from planning_core.errors import InvalidParameterError, VolumeFormatError
from planning_core.imaging.dicom_study import complete_patient_study, derived_series_number
from planning_core.imaging.labels import STANDARD_LABELS, LabelInfo, LabelMap
from planning_core.imaging.volume import Volume

#: SNOMED CT concepts for canonical names whose CamelCase is not a pydicom code name.
_PROPERTY_OVERRIDES = {
    "ivc": "InferiorVenaCava",
    "bowel_gas": "Gas",
    "body": "AnatomicalStructure",
    "vessel": "BloodVessel",
    "bowel": "Intestine",
    "renal_sinus": "RenalSinus",
    "breast_tissue": "Breast",
    "pectoral_muscle": "PectoralisMajorMuscle",
}


@dataclass(frozen=True, eq=False)
class ImportedLabels:
    """Labels read from a DICOM object, on the reference image's grid."""

    label_map: LabelMap
    warnings: tuple[str, ...]


def _property_type(name: str) -> CodedConcept:
    key = _PROPERTY_OVERRIDES.get(name, "".join(part.title() for part in name.split("_")))
    try:
        code = getattr(codes.SCT, key)
    except AttributeError:
        code = codes.SCT.Tissue
    return CodedConcept(code.value, code.scheme_designator, code.meaning)


def _segment_description(number: int, info: LabelInfo) -> hd.seg.SegmentDescription:
    category = (
        codes.SCT.MorphologicallyAbnormalStructure if info.role == "target" else codes.SCT.Tissue
    )
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=info.name,
        segmented_property_category=category,
        segmented_property_type=_property_type(info.name),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name="cryoplan", family=codes.cid7162.ArtificialIntelligence, version=__version__
        ),
        display_color=hd.color.CIELabColor.from_rgb(*info.color_rgb),
    )


def check_seg_source(volume: Volume) -> list[str]:
    """The source files a DICOM SEG of ``volume`` would reference, one per slice.

    Raises
    ------
    InvalidParameterError
        When the volume was not loaded slice by slice from DICOM.
    """
    files = volume.metadata.get("source_files")
    if not files:
        raise InvalidParameterError(
            "volume has no source DICOM files: a DICOM SEG must reference the CT series it "
            "was drawn on. Load the image from its DICOM folder, or save the labels as NIfTI."
        )
    if volume.metadata.get("resampled"):
        raise InvalidParameterError(
            "volume was resampled while loading (gantry tilt or uneven slices), so its voxels "
            "are not the source slices a DICOM SEG must reference; save the labels as NIfTI."
        )
    if len(files) != volume.shape[0] or len(set(files)) != len(files):
        raise InvalidParameterError(
            f"volume has {volume.shape[0]} slices but {len(set(files))} source files "
            "(multi-frame or incomplete series): DICOM SEG export needs one file per slice."
        )
    return [str(path) for path in files]


def write_dicom_seg(
    label_map: LabelMap,
    volume: Volume,
    path: str | Path,
    *,
    names: tuple[str, ...] | None = None,
    series_description: str = "cryoplan segmentation",
) -> Path:
    """Write labels as a binary DICOM SEG referencing ``volume``'s source series.

    Parameters
    ----------
    label_map : LabelMap
        Labels on ``volume``'s grid.
    volume : Volume
        The CT loaded from DICOM (its metadata lists the source files).
    path : str or Path
        Output file (written atomically).
    names : tuple of str, optional
        Labels to export; every non-empty label by default.
    series_description : str
        Series description of the SEG.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    InvalidParameterError
        When the volume has no DICOM source, a name is unknown, or nothing is to export.
    GeometryMismatchError
        When the label map is not on the volume's grid.
    """
    label_map.geometry.require_match(volume.geometry, what="write_dicom_seg: labels vs image")
    chosen = names if names is not None else label_map.names
    infos = [label_map.info(name) for name in chosen]
    infos = [info for info in infos if np.any(label_map.voxels == info.value)]
    if not infos:
        raise InvalidParameterError("names: no non-empty label to export; segment something first.")
    # Absent or malformed Type 2 patient/study attributes would stop highdicom's copy.
    sources = [complete_patient_study(pydicom.dcmread(path)) for path in check_seg_source(volume)]
    segments = np.zeros(label_map.voxels.shape, dtype=np.uint16)
    for number, info in enumerate(infos, start=1):
        segments[label_map.voxels == info.value] = number
    dtype = np.uint8 if len(infos) < 256 else np.uint16
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=segments.astype(dtype),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[
            _segment_description(number, info) for number, info in enumerate(infos, start=1)
        ],
        series_instance_uid=hd.UID(),
        series_number=derived_series_number(volume.metadata.get("series_number"), 1000),
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="cryoplan",
        manufacturer_model_name="cryoplan",
        software_versions=__version__,
        device_serial_number="0",
        series_description=series_description,
    )
    target = Path(path)
    with atomic_path(target) as temporary:
        seg.save_as(temporary)
    return target


def _label_name(segment_label: str) -> str:
    canonical = segment_label.strip().lower().replace(" ", "_").replace("-", "_")
    return canonical if canonical in STANDARD_LABELS else segment_label.strip()


def read_dicom_seg(path: str | Path, reference: Volume) -> ImportedLabels:
    """Read a DICOM SEG onto the grid of the image series it references.

    Parameters
    ----------
    path : str or Path
        The SEG file.
    reference : Volume
        The referenced image, loaded from DICOM (its metadata lists the slices'
        SOP Instance UIDs).

    Returns
    -------
    ImportedLabels
        One label per segment (canonical names where the segment label is one);
        where segments overlap, the later segment wins and a warning says so.

    Raises
    ------
    VolumeFormatError
        When the file is not a readable SEG or references none of the
        reference volume's slices.
    """
    source = Path(path)
    try:
        seg = hd.seg.segread(str(source))
    except Exception as error:  # pydicom and highdicom raise many types for bad files
        raise VolumeFormatError(f"{source}: not a readable DICOM SEG ({error}).") from None
    uids = [str(uid) for uid in reference.metadata.get("sop_instance_uids") or ()]
    if len(uids) != reference.shape[0]:
        raise VolumeFormatError(
            f"{source}: the reference volume has no per-slice SOP Instance UIDs; load the "
            "referenced series from its DICOM folder."
        )
    referenced = {str(item[2]) for item in seg.get_source_image_uids()}
    if not referenced & set(uids):
        raise VolumeFormatError(
            f"{source}: the SEG references none of the {len(uids)} slices of the reference "
            f"series {reference.metadata.get('series_instance_uid', '?')}; load the series "
            "it was drawn on."
        )
    present = [uid for uid in uids if uid in referenced]
    warnings: list[str] = []
    try:
        pixels = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=present, assert_missing_frames_are_empty=True, dtype=np.uint8
        )
    except RuntimeError:
        # Writers such as older dcmqi omit SpatialLocationsPreserved; the frames still
        # name their source slice, which is what matching by UID relies on.
        pixels = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=present,
            assert_missing_frames_are_empty=True,
            ignore_spatial_locations=True,
            dtype=np.uint8,
        )
        warnings.append(
            "the SEG does not state that it preserves the slices' spatial locations; its "
            "frames were placed on the slices they reference by SOP Instance UID."
        )
    slice_of = {uid: k for k, uid in enumerate(uids)}
    slices = np.array([slice_of[uid] for uid in present])
    label_map = LabelMap.empty(reference.geometry)
    occupied = np.zeros(reference.shape, dtype=bool)
    for position, number in enumerate(seg.segment_numbers):
        description = seg.get_segment_description(number)
        name = _label_name(str(description.segment_label))
        if label_map.has(name):
            name = f"{name}_{number}"
        mask = np.zeros(reference.shape, dtype=bool)
        mask[slices] = pixels[..., position] > 0
        if np.any(mask & occupied):
            warnings.append(
                f"segment {number} ({name}) overlaps earlier segments; the overlap is "
                f"labelled {name} (a label map holds one label per voxel)."
            )
        occupied |= mask
        label_map = label_map.with_mask(name, mask)
    return ImportedLabels(label_map, tuple(warnings))
