"""DICOM export: SEG, Encapsulated PDF and Secondary Capture join the planning CT's study."""

from __future__ import annotations

import subprocess

import numpy as np
import pydicom
import pytest
from pydicom.uid import EncapsulatedPDFStorage, SecondaryCaptureImageStorage, SegmentationStorage
from report_tools import require_tool

from planning_core.errors import ReportError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.volume import Volume
from planning_core.planning.metrics import margin_zone_mask
from planning_core.report.dicom_export import export_plan_dicom, reference_dataset
from planning_core.segmentation.dicom_seg import read_dicom_seg


@pytest.fixture(scope="module")
def exported(kidney_inputs, kidney_report, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dicom")
    return export_plan_dicom(
        kidney_inputs.plan,
        kidney_inputs.volume,
        kidney_inputs.label_map,
        kidney_inputs.dose,
        kidney_report,
        folder,
    )


def test_every_object_is_in_the_source_study(exported, kidney_inputs):
    metadata = kidney_inputs.volume.metadata
    assert exported.study_instance_uid == metadata["study_instance_uid"]
    kinds = [o.kind for o in exported.objects]
    views = 4 + 2 * len(kidney_inputs.plan.probes)
    assert kinds == ["SEG"] * 3 + ["PDF"] + ["SC"] * views
    for item in exported.objects:
        dataset = pydicom.dcmread(item.path)
        assert dataset.StudyInstanceUID == metadata["study_instance_uid"]
        assert dataset.PatientID == metadata["patient_id"]
        assert str(dataset.PatientName) == metadata["patient_name"]
        assert dataset.SeriesInstanceUID != metadata["series_instance_uid"]
        assert dataset.SOPInstanceUID == item.sop_instance_uid
    series = {o.kind: set() for o in exported.objects}
    for item in exported.objects:
        series[item.kind].add(item.series_instance_uid)
    assert len(series["SEG"]) == 3 and len(series["SC"]) == 1
    assert not series["SEG"] & series["SC"] and not series["PDF"] & series["SC"]


def test_segmentations_reference_the_source_series(exported, kidney_inputs):
    metadata = kidney_inputs.volume.metadata
    names = {}
    for item in (o for o in exported.objects if o.kind == "SEG"):
        seg = pydicom.dcmread(item.path)
        assert seg.SOPClassUID == SegmentationStorage
        assert seg.FrameOfReferenceUID == metadata["frame_of_reference_uid"]
        referenced = seg.ReferencedSeriesSequence[0]
        assert referenced.SeriesInstanceUID == metadata["series_instance_uid"]
        referenced_sops = {
            r.ReferencedSOPInstanceUID for r in referenced.ReferencedInstanceSequence
        }
        assert referenced_sops <= set(metadata["sop_instance_uids"])
        names[item.path.stem] = [s.SegmentLabel for s in seg.SegmentSequence]
    assert names["SEG_structures"][0] == "tumor"
    assert set(names["SEG_structures"][1:]) <= {o.name for o in kidney_inputs.plan.metrics.oars}
    assert names["SEG_margin"] == ["margin_shell"]
    assert names["SEG_iceball"] == ["ice 0 to -20 C", "ice -20 to -40 C", "ice at or below -40 C"]


def test_segments_read_back_onto_the_ct_grid(exported, kidney_inputs):
    plan, labels = kidney_inputs.plan, kidney_inputs.label_map
    folder = exported.folder
    structures = read_dicom_seg(folder / "SEG_structures.dcm", kidney_inputs.volume).label_map
    np.testing.assert_array_equal(structures.mask("tumor"), labels.mask("tumor"))
    margin = read_dicom_seg(folder / "SEG_margin.dcm", kidney_inputs.volume).label_map
    tumor = labels.mask("tumor")
    expected = margin_zone_mask(tumor, labels.geometry, plan.settings.margin_mm) & ~tumor
    np.testing.assert_array_equal(margin.mask("margin_shell"), expected)
    ice = read_dicom_seg(folder / "SEG_iceball.dcm", kidney_inputs.volume).label_map
    voxel_ml = labels.geometry.voxel_volume_mm3 / 1000.0
    lethal_ml = ice.voxel_count(ice.names[-1]) * voxel_ml
    assert lethal_ml == pytest.approx(plan.metrics.lethal_volume_ml, rel=1e-6)
    frozen_ml = sum(ice.voxel_count(name) for name in ice.names) * voxel_ml
    assert frozen_ml == pytest.approx(plan.metrics.ice_volume_ml, rel=1e-6)


def test_report_is_encapsulated_unchanged(exported, kidney_report):
    (item,) = [o for o in exported.objects if o.kind == "PDF"]
    dataset = pydicom.dcmread(item.path)
    assert dataset.SOPClassUID == EncapsulatedPDFStorage
    assert dataset.Modality == "DOC"
    assert dataset.MIMETypeOfEncapsulatedDocument == "application/pdf"
    pdf = kidney_report.path.read_bytes()
    assert dataset.EncapsulatedDocumentLength == len(pdf)
    assert dataset.EncapsulatedDocument[: len(pdf)] == pdf


def test_key_images_are_oriented_rgb_secondary_captures(exported):
    captures = [pydicom.dcmread(o.path) for o in exported.objects if o.kind == "SC"]
    axial, coronal, sagittal = captures[:3]
    assert [list(c.PatientOrientation) for c in (axial, coronal, sagittal)] == [
        ["L", "P"],
        ["L", "F"],
        ["P", "F"],
    ]
    for capture in captures:
        assert capture.SOPClassUID == SecondaryCaptureImageStorage
        assert (capture.SamplesPerPixel, capture.PhotometricInterpretation) == (3, "RGB")
        pixels = capture.pixel_array
        assert pixels.shape == (capture.Rows, capture.Columns, 3) and pixels.std() > 20
    assert [c.InstanceNumber for c in captures] == list(range(1, len(captures) + 1))


def test_dcmdump_parses_every_object(exported):
    dcmdump = require_tool("dcmdump")
    for item in exported.objects:
        result = subprocess.run(
            [dcmdump, "-q", "+E", str(item.path)], capture_output=True, text=True
        )
        assert result.returncode == 0, (item.path.name, result.stderr[-500:])
        assert "E:" not in result.stderr, result.stderr[-500:]


def test_images_from_volume_files_are_refused():
    geometry = Geometry((2, 2, 2), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    volume = Volume(np.zeros(geometry.shape, dtype=np.float32), geometry, "US")
    with pytest.raises(ReportError, match="loaded from a DICOM series"):
        reference_dataset(volume)
