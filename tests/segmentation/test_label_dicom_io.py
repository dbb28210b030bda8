"""DICOM SEG export/import and RTSTRUCT import of label maps."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from planning_core.errors import InvalidParameterError, VolumeFormatError
from planning_core.imaging.dicom_write import DicomIdentity, write_ct_series
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.loader import load_image
from planning_core.imaging.volume import Volume
from planning_core.segmentation.dicom_seg import read_dicom_seg, write_dicom_seg
from planning_core.segmentation.rtstruct import RTSTRUCT_SOP_CLASS, read_rtstruct

IDENTITY = DicomIdentity(
    patient_name="TEST^SEG",
    patient_id="SEG-1",
    patient_birth_date="19700101",
    patient_sex="O",
    study_description="segmentation io test",
    study_date="20240101",
    study_time="120000",
    accession_number="A1",
    referring_physician_name="",
    institution_name="test",
)


@pytest.fixture(scope="module")
def small_ct(tmp_path_factory) -> Volume:
    """A 12-slice CT series written to disk and loaded back (so it has DICOM metadata)."""
    geometry = Geometry((12, 40, 48), (0.8, 0.8, 2.0), (-20.0, -16.0, 10.0))
    voxels = np.full(geometry.shape, 40.0, dtype=np.float32)
    folder = tmp_path_factory.mktemp("ct")
    write_ct_series(
        Volume(voxels, geometry, "CT"),
        folder,
        identity=IDENTITY,
        series_description="io test",
        uid_seed="segmentation-io-test",
    )
    return load_image(folder)


def _labels(geometry: Geometry) -> LabelMap:
    k, j, i = np.meshgrid(*(np.arange(n) for n in geometry.shape), indexing="ij")
    tumor = (np.abs(k - 5) <= 2) & (np.abs(j - 20) <= 6) & (np.abs(i - 24) <= 8)
    kidney = (k >= 3) & (k <= 9) & (j < 8)
    return LabelMap.empty(geometry).with_mask("tumor", tumor).with_mask("kidney", kidney)


def test_seg_round_trip_on_generated_series(small_ct, tmp_path):
    labels = _labels(small_ct.geometry)
    path = write_dicom_seg(labels, small_ct, tmp_path / "labels.dcm")
    seg = pydicom.dcmread(path)
    assert seg.Modality == "SEG"
    assert {item.SegmentLabel for item in seg.SegmentSequence} == {"tumor", "kidney"}
    imported = read_dicom_seg(path, small_ct)
    assert imported.warnings == ()
    for name in ("tumor", "kidney"):
        np.testing.assert_array_equal(imported.label_map.mask(name), labels.mask(name))
        assert imported.label_map.info(name).color_rgb == labels.info(name).color_rgb


def test_seg_round_trip_on_sample_ct(sample_case, tmp_path):
    case = sample_case("kidney")
    labels = case.labels
    names = ("tumor", "kidney", "aorta")
    path = write_dicom_seg(labels, case.volume, tmp_path / "kidney_seg.dcm", names=names)
    imported = read_dicom_seg(path, case.volume)
    assert imported.label_map.names == names
    for name in names:
        np.testing.assert_array_equal(imported.label_map.mask(name), labels.mask(name))


def test_seg_export_needs_dicom_source(small_ct, tmp_path):
    plain = Volume(small_ct.voxels, small_ct.geometry, "CT")
    with pytest.raises(InvalidParameterError, match="source DICOM"):
        write_dicom_seg(_labels(small_ct.geometry), plain, tmp_path / "x.dcm")


def test_seg_export_of_empty_map_names_the_parameter(small_ct, tmp_path):
    with pytest.raises(InvalidParameterError, match="names"):
        write_dicom_seg(LabelMap.empty(small_ct.geometry), small_ct, tmp_path / "x.dcm")


@pytest.mark.shared_dicom
def test_reads_dcmqi_liver_seg_onto_its_ct(shared_dicom):
    folder = shared_dicom / "dcmqi" / "data" / "segmentations"
    ct = load_image(folder / "ct-3slice")
    imported = read_dicom_seg(folder / "liver.dcm", ct)
    assert imported.label_map.names == ("liver",)
    liver = imported.label_map.mask("liver")
    # Independent check: the SEG's own frames, matched to slices through pydicom.
    seg = pydicom.dcmread(folder / "liver.dcm")
    frames = seg.pixel_array.reshape(-1, ct.shape[1], ct.shape[2])
    uids = [str(uid) for uid in ct.metadata["sop_instance_uids"]]
    expected = np.zeros(ct.shape, dtype=bool)
    for frame, item in zip(frames, seg.PerFrameFunctionalGroupsSequence, strict=True):
        source = item.DerivationImageSequence[0].SourceImageSequence[0]
        expected[uids.index(str(source.ReferencedSOPInstanceUID))] |= frame > 0
    np.testing.assert_array_equal(liver, expected)
    assert liver.sum() > 1000


@pytest.mark.shared_dicom
def test_overlapping_segments_warn(shared_dicom):
    folder = shared_dicom / "dcmqi" / "data" / "segmentations"
    ct = load_image(folder / "ct-3slice")
    imported = read_dicom_seg(folder / "partial_overlaps.dcm", ct)
    assert len(imported.label_map.names) == 5
    assert any("overlaps" in warning for warning in imported.warnings)


@pytest.mark.shared_dicom
def test_seg_of_another_series_is_refused(shared_dicom, small_ct):
    folder = shared_dicom / "dcmqi" / "data" / "segmentations"
    with pytest.raises(VolumeFormatError, match="references none"):
        read_dicom_seg(folder / "liver.dcm", small_ct)


def _rtstruct(reference: Volume, contours: dict[str, list[np.ndarray]], path) -> None:
    """A minimal RT Structure Set with closed planar contours (LPS mm points)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RTSTRUCT_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = RTSTRUCT_SOP_CLASS
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    frame = Dataset()
    frame.FrameOfReferenceUID = reference.metadata["frame_of_reference_uid"]
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame])
    rois, roi_contours = [], []
    for number, (name, polygons) in enumerate(contours.items(), start=1):
        roi = Dataset()
        roi.ROINumber = number
        roi.ROIName = name
        rois.append(roi)
        item = Dataset()
        item.ReferencedROINumber = number
        item.ROIDisplayColor = [10 * number, 200, 30]
        sequence = []
        for polygon in polygons:
            contour = Dataset()
            contour.ContourGeometricType = "CLOSED_PLANAR"
            contour.NumberOfContourPoints = len(polygon)
            contour.ContourData = [f"{v:.4f}" for v in polygon.reshape(-1)]
            sequence.append(contour)
        item.ContourSequence = Sequence(sequence)
        roi_contours.append(item)
    ds.StructureSetROISequence = Sequence(rois)
    ds.ROIContourSequence = Sequence(roi_contours)
    ds.save_as(path, enforce_file_format=True)


def _circle(geometry: Geometry, center_ijk, radius_mm: float, k: int) -> np.ndarray:
    angles = np.linspace(0.0, 2.0 * np.pi, 720, endpoint=False)
    center = geometry.index_to_lps([center_ijk[0], center_ijk[1], k])
    return center + radius_mm * np.stack([np.cos(angles), np.sin(angles), 0 * angles], axis=1)


def test_rtstruct_contours_fill_voxel_centres_inside(small_ct, tmp_path):
    geometry = small_ct.geometry
    radius, inner = 9.0, 3.0
    center_ijk = (24.3, 19.6)
    polygons = [_circle(geometry, center_ijk, radius, k) for k in range(3, 8)]
    # A nested contour on slice 5 is a hole (even-odd rule).
    polygons.append(_circle(geometry, center_ijk, inner, 5))
    path = tmp_path / "rs.dcm"
    _rtstruct(small_ct, {"Tumor": polygons, "Empty": []}, path)
    imported = read_rtstruct(path, small_ct)
    assert imported.label_map.names == ("tumor",)
    assert any("Empty" in warning for warning in imported.warnings)
    k, j, i = np.meshgrid(*(np.arange(n) for n in geometry.shape), indexing="ij")
    distance = np.hypot((i - center_ijk[0]) * 0.8, (j - center_ijk[1]) * 0.8)
    expected = (distance < radius) & (k >= 3) & (k <= 7)
    expected &= ~((distance < inner) & (k == 5))
    tumor = imported.label_map.mask("tumor")
    # The 720-gon deviates from the circle by < 0.001 mm; voxels that close to it may go
    # either way, all others must match exactly.
    ambiguous = np.abs(distance - radius) < 0.01
    ambiguous |= (np.abs(distance - inner) < 0.01) & (k == 5)
    np.testing.assert_array_equal(tumor[~ambiguous], expected[~ambiguous])
    assert imported.label_map.info("tumor").color_rgb == (10, 200, 30)


def test_rtstruct_of_another_frame_of_reference_is_refused(small_ct, tmp_path):
    other = Volume(
        small_ct.voxels,
        small_ct.geometry,
        "CT",
        {**small_ct.metadata, "frame_of_reference_uid": generate_uid()},
    )
    path = tmp_path / "rs.dcm"
    _rtstruct(other, {"Tumor": [_circle(small_ct.geometry, (24, 20), 5.0, 4)]}, path)
    with pytest.raises(VolumeFormatError, match="frame of reference"):
        read_rtstruct(path, small_ct)


def test_rtstruct_reader_refuses_other_objects(small_ct, tmp_path):
    with pytest.raises(VolumeFormatError, match="not an RT Structure Set"):
        read_rtstruct(small_ct.metadata["source_files"][0], small_ct)


@pytest.mark.shared_dicom
def test_shared_rtstruct_on_unrelated_series_is_refused_or_empty(shared_dicom, small_ct):
    try:
        imported = read_rtstruct(shared_dicom / "pydicom" / "rtstruct.dcm", small_ct)
    except VolumeFormatError as error:
        assert "frame of reference" in str(error)
    else:
        assert imported.warnings
