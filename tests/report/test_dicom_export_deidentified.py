"""``cryoplan export --deidentify``: no identifier of the source in any exported object.

The source series carries identifiers in the usual places and in some unusual
ones (nested sequences, a private element, free-text descriptions); every
exported file, read back with pydicom, must hold none of them, nor any of the
source's UIDs, while the SEGs still reference the de-identified CT written
beside them.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from report_tools import require_tool
from tiny_dicom_case import IDENTITY, tiny_ct, tiny_plan_file

from planning_core.cli import main
from planning_core.imaging.loader import load_image
from planning_core.segmentation.dicom_seg import read_dicom_seg

#: Values that identify the patient (or the study) in the source series.
IDENTIFYING_VALUES = (
    "DOE",
    "JANE",
    IDENTITY.patient_id,
    IDENTITY.patient_birth_date,
    IDENTITY.accession_number,
    IDENTITY.study_date,
    IDENTITY.study_id,
    "General Hospital",
    "Springfield",
    "WHO^DOCTOR",
    "SMITH^OPERATOR",
    "CT-ROOM-3",
    "SN-55555",
    "OTHER-999",
    "054Y",
    "REQ-4711",
)


def add_identifiers(dataset: Dataset) -> None:
    """Identifiers beyond those :class:`DicomIdentity` writes."""
    dataset.OperatorsName = "SMITH^OPERATOR"
    dataset.StationName = "CT-ROOM-3"
    dataset.DeviceSerialNumber = "SN-55555"
    dataset.OtherPatientIDs = "OTHER-999"
    dataset.PatientAge = "054Y"
    dataset.InstitutionAddress = "1 Main Street, Springfield"
    dataset.SeriesDate = dataset.AcquisitionDate = dataset.ContentDate = IDENTITY.study_date
    request = Dataset()
    request.RequestedProcedureID = "REQ-4711"
    request.ScheduledProcedureStepDescription = "CT for JANE DOE"
    dataset.RequestAttributesSequence = [request]
    dataset.add_new(0x00290010, "LO", "ACME")
    dataset.add_new(0x00291001, "LO", "DOE^JANE")


@pytest.fixture(scope="module")
def deidentified(tmp_path_factory):
    """The source series, and the output folder and JSON summary of a de-identified export."""
    root = tmp_path_factory.mktemp("deidentified-export")
    plan_path = tiny_plan_file(root, add_identifiers)
    out = root / "export"
    argv = ["export", str(plan_path), "--dicom", str(out), "--deidentify", "--json"]
    argv += ["--pdf", str(root / "report.pdf"), "--spacing-mm", "2"]
    return root / "ct", out, root / "report.pdf", argv


@pytest.fixture(scope="module")
def summary(deidentified):
    *_, argv = deidentified
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(argv) == 0
    return json.loads(buffer.getvalue())


def _texts(dataset: Dataset) -> list[str]:
    found: list[str] = []

    def visit(_: Dataset, element) -> None:
        if element.VR not in ("OB", "OW", "OF", "OD", "OL", "OV", "UN", "SQ"):
            found.append(str(element.value))

    dataset.walk(visit)
    found += [str(element.value) for element in dataset.file_meta]
    return found


def _source_uids(series) -> set[str]:
    uids: set[str] = set()
    for path in series.iterdir():
        header = pydicom.dcmread(path, stop_before_pixels=True)
        uids |= {
            header.StudyInstanceUID,
            header.SeriesInstanceUID,
            header.SOPInstanceUID,
            header.FrameOfReferenceUID,
        }
    return uids


def test_no_exported_object_holds_an_identifier(deidentified, summary):
    series, out, *_ = deidentified
    files = sorted(p for p in out.rglob("*") if p.is_file())
    kinds = [o["kind"] for o in summary["objects"]]
    assert summary["deidentified"] and len(files) == len(kinds)
    assert kinds.count("CT") == len(list(series.iterdir())) and kinds.count("SEG") == 3
    forbidden = (*IDENTIFYING_VALUES, *_source_uids(series))
    for path in files:
        dataset = pydicom.dcmread(path)
        text = "\n".join(_texts(dataset))
        leaked = [value for value in forbidden if value in text]
        assert not leaked, (path.name, leaked)
        assert not any(element.tag.is_private for element in dataset)
        assert dataset.PatientIdentityRemoved == "YES"
        codes = [i.CodeValue for i in dataset.DeidentificationMethodCodeSequence]
        assert "113100" in codes
        raw = path.read_bytes()
        assert b"DOE^JANE" not in raw and IDENTITY.patient_id.encode() not in raw


def test_objects_share_one_pseudonymous_study_with_shifted_dates(deidentified, summary):
    headers = [pydicom.dcmread(o["path"], stop_before_pixels=True) for o in summary["objects"]]
    assert {h.StudyInstanceUID for h in headers} == {summary["study_instance_uid"]}
    assert len({(str(h.PatientName), h.PatientID) for h in headers}) == 1
    assert headers[0].PatientID.startswith("ANON-")
    study_dates = {h.StudyDate for h in headers}
    assert len(study_dates) == 1 and study_dates != {""} and study_dates != {IDENTITY.study_date}


def test_segmentations_reference_the_deidentified_ct(deidentified, summary):
    _, out, *_ = deidentified
    ct = load_image(out / "CT")
    assert ct.metadata["series_instance_uid"] == summary["referenced_series_instance_uid"]
    slices = set(ct.metadata["sop_instance_uids"])
    _, labels = tiny_ct()
    np.testing.assert_array_equal(ct.voxels, load_image(deidentified[0]).voxels)
    for item in (o for o in summary["objects"] if o["kind"] == "SEG"):
        seg = pydicom.dcmread(item["path"])
        referenced = seg.ReferencedSeriesSequence[0]
        assert referenced.SeriesInstanceUID == ct.metadata["series_instance_uid"]
        assert {r.ReferencedSOPInstanceUID for r in referenced.ReferencedInstanceSequence} <= slices
        assert seg.FrameOfReferenceUID == ct.metadata["frame_of_reference_uid"]
    structures = read_dicom_seg(out / "SEG_structures.dcm", ct).label_map
    np.testing.assert_array_equal(structures.mask("tumor"), labels.mask("tumor"))


def test_the_encapsulated_pdf_is_the_deidentified_report(deidentified, summary):
    report = deidentified[2]
    pdf = report.read_bytes()
    (item,) = [o for o in summary["objects"] if o["kind"] == "PDF"]
    encapsulated = pydicom.dcmread(item["path"])
    assert encapsulated.EncapsulatedDocument[: len(pdf)] == pdf
    pdftotext = require_tool("pdftotext")
    text = subprocess.run(
        [pdftotext, str(report), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "DE-IDENTIFIED" in text
    for value in ("JANE", IDENTITY.patient_id, IDENTITY.accession_number, "1960", "2014-08-17"):
        assert value not in text, value


def test_a_second_export_into_the_same_folder_is_refused(deidentified, summary, capsys):
    *_, argv = deidentified
    assert main(argv) == 2
    assert "choose a new or empty --dicom folder" in capsys.readouterr().err
