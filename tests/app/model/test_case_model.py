"""The viewer's cases come through the core's case-source registry (no display needed)."""

from __future__ import annotations

import numpy as np
import pytest
from cryoplan_app.model.case import CaseSource, ImageCase, load_case, sample_case_names

from planning_core.errors import InvalidParameterError
from planning_core.imaging.case_sources import resolve_case
from planning_core.imaging.dicom_write import DicomIdentity, write_ct_series
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.volume import Volume

IDENTITY = DicomIdentity(
    patient_name="DOE^JANE",
    patient_id="MRN-1",
    patient_birth_date="19600203",
    patient_sex="F",
    study_description="CT",
    study_date="20140817",
    study_time="101500",
    accession_number="ACC1",
    referring_physician_name="WHO^DOCTOR",
    institution_name="General Hospital",
)


def test_a_folder_with_two_series_opens_the_largest(tmp_path):
    for name, slices in (("small", 3), ("large", 6)):
        geometry = Geometry((slices, 8, 8), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0))
        volume = Volume(np.zeros(geometry.shape, np.int16), geometry, "CT")
        write_ct_series(
            volume, tmp_path / name, identity=IDENTITY, series_description=name, uid_seed=name
        )

    case = load_case(resolve_case(str(tmp_path)))

    assert case.volume.metadata["series_description"] == "large"
    assert case.image_path == tmp_path.resolve() and case.labels is None


def test_the_sample_case_brings_its_labels_and_its_name(kidney_case: ImageCase):
    assert "kidney" in sample_case_names()
    assert kidney_case.source == CaseSource("sample", "kidney")
    assert kidney_case.labels is not None and kidney_case.labels.has("tumor")
    assert kidney_case.reference is not None and kidney_case.reference.description == "kidney"
    assert kidney_case.image_path is not None and kidney_case.image_path.is_dir()


def test_an_unknown_case_argument_names_the_option():
    with pytest.raises(InvalidParameterError, match=r"^CASE spleen: .*not a sample case \(kidney"):
        resolve_case("spleen")
