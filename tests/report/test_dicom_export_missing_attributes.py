"""DICOM export from source series that lack optional attributes or hold malformed ones.

Type 2 patient and study attributes may be empty and Type 3 ones absent in real
files; every exported object (SEG, Encapsulated PDF, Secondary Capture) must
still be written, with the attribute empty or absent, and keep the others.
"""

from __future__ import annotations

import datetime

import numpy as np
import pydicom
import pytest
from tiny_dicom_case import IDENTITY, tiny_ct, tiny_plan_file, write_tiny_series

from planning_core.cli import main
from planning_core.imaging.loader import load_image
from planning_core.report.dicom_export import (
    encapsulated_pdf,
    reference_dataset,
    secondary_capture,
)
from planning_core.report.slices import probe_planes
from planning_core.segmentation.dicom_seg import write_dicom_seg

#: Patient, study, series and equipment attributes a real CT may lack.
OPTIONAL_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
    "SeriesDescription",
    "SeriesNumber",
    "Manufacturer",
    "InstitutionName",
    "SpecificCharacterSet",
)
#: Values real files hold that do not parse as their VR says.
MALFORMED_VALUES = {
    "PatientSex": "UNKNOWN",
    "PatientBirthDate": "1960-02-03",
    "StudyDate": "2014",
    "StudyTime": "10:15",
}
#: Attributes the exported objects carry of their own, whatever the source has.
OWN_KEYWORDS = ("SeriesDescription", "SeriesNumber", "Manufacturer", "SpecificCharacterSet")
NOW = datetime.datetime(2026, 1, 2, 3, 4, 5)


def _export_objects(folder):
    """SEG, Encapsulated PDF and Secondary Capture made from the series in ``folder/ct``."""
    volume = load_image(folder / "ct")
    _, labels = tiny_ct()
    write_dicom_seg(labels.without("muscle"), volume, folder / "seg.dcm")
    reference = reference_dataset(volume)
    plane = probe_planes((0.0, -15.0, 0.0), (0.0, 60.0, 0.0), label="P1", pixel_mm=2.0)[0]
    pixels = np.zeros((8, 8, 3), dtype=np.uint8)
    capture = secondary_capture(pixels, plane, reference, series_uid="1.2.3", number=1, now=NOW)
    capture.save_as(folder / "sc.dcm", enforce_file_format=True)
    pdf = encapsulated_pdf(b"%PDF-1.4\n%%EOF\n", reference, now=NOW)
    pdf.save_as(folder / "pdf.dcm", enforce_file_format=True)
    return [pydicom.dcmread(folder / name) for name in ("seg.dcm", "sc.dcm", "pdf.dcm")]


@pytest.mark.parametrize("keyword", OPTIONAL_KEYWORDS)
def test_objects_are_written_when_the_ct_lacks(keyword, tmp_path):
    write_tiny_series(tmp_path, lambda dataset: delattr(dataset, keyword))
    for exported in _export_objects(tmp_path):
        if keyword not in OWN_KEYWORDS:
            assert not str(exported.get(keyword, "") or "")
        if keyword != "PatientID":
            assert exported.PatientID == IDENTITY.patient_id
        if keyword != "StudyDate":
            assert exported.StudyDate == IDENTITY.study_date


@pytest.mark.filterwarnings("ignore:Invalid value for VR")  # the test writes them on purpose
@pytest.mark.parametrize(("keyword", "value"), MALFORMED_VALUES.items())
def test_malformed_type2_values_are_exported_empty(keyword, value, tmp_path):
    write_tiny_series(tmp_path, lambda dataset: setattr(dataset, keyword, value))
    for exported in _export_objects(tmp_path):
        assert keyword in exported and not str(exported.get(keyword) or "")
        assert exported.PatientID == IDENTITY.patient_id


@pytest.mark.parametrize("value", ["abc", "12.5", "2147483600"])
def test_an_odd_series_number_gives_the_derived_series_their_offsets(value, tmp_path):
    # Written with VR LO: pydicom refuses to hold such a value as IS, real files do not.
    write_tiny_series(tmp_path, lambda dataset: dataset.add_new(0x00200011, "LO", value))
    seg, capture, pdf = _export_objects(tmp_path)
    assert (seg.SeriesNumber, capture.SeriesNumber, pdf.SeriesNumber) == (1000, 901, 900)


def test_cli_exports_a_series_lacking_every_optional_attribute(tmp_path, capsys):
    def strip(dataset):
        for keyword in OPTIONAL_KEYWORDS:
            delattr(dataset, keyword)

    plan_path = tiny_plan_file(tmp_path, strip)
    out = tmp_path / "export"
    assert main(["export", str(plan_path), "--dicom", str(out), "--spacing-mm", "2"]) == 0
    files = sorted(out.iterdir())
    assert [f.name for f in files[:4]] == [
        "REPORT_pdf.dcm",
        "SC_001.dcm",
        "SC_002.dcm",
        "SC_003.dcm",
    ]
    assert {f.name for f in files} >= {"SEG_structures.dcm", "SEG_margin.dcm", "SEG_iceball.dcm"}
    for path in files:
        dataset = pydicom.dcmread(path)
        assert str(dataset.PatientName) == "" and dataset.PatientBirthDate == ""
        assert "StudyDescription" not in dataset
    assert "Traceback" not in capsys.readouterr().err
