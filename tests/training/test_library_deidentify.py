"""De-identified imports: the per-library secret behind date shift and UIDs; burned-in text."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from training_phantom import phantom_case

from planning_core.errors import DicomLoadError
from planning_core.imaging.dicom_write import DicomIdentity, write_ct_series
from planning_core.imaging.volume_io import write_label_map
from planning_core.training.database import connect, library_folder
from planning_core.training.deidentify import SECRET_BYTES, case_deidentifier, library_secret
from planning_core.training.library import import_case

STUDY_DATE = "20140817"
IDENTITY = DicomIdentity(
    patient_name="DOE^JANE",
    patient_id="MRN-1",
    patient_birth_date="19600203",
    patient_sex="F",
    study_description="CT",
    study_date=STUDY_DATE,
    study_time="101500",
    accession_number="ACC1",
    referring_physician_name="",
    institution_name="",
)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("secret-study")
    volume, labels = phantom_case()
    write_ct_series(volume, root / "dicom", identity=IDENTITY, series_description="p", uid_seed="s")
    write_label_map(labels, root / "labels.nii.gz")
    return root


def _imported_dates_and_uid(folder, secret, study):
    connection = connect(folder / "library.sqlite3")
    try:
        connection.execute("UPDATE library_secret SET secret = ? WHERE id = 1", (secret,))
        case = import_case(connection, study / "dicom", study / "labels.nii.gz", case_id="kidney")
    finally:
        connection.close()
    first = pydicom.dcmread(sorted(case.image_path.iterdir())[0])
    shift = np.datetime64("2014-08-17") - np.datetime64(
        f"{first.StudyDate[:4]}-{first.StudyDate[4:6]}-{first.StudyDate[6:]}"
    )
    return int(shift.astype(int)), first.StudyInstanceUID


def test_two_libraries_shift_the_same_case_differently(study, tmp_path):
    # Two secrets whose shifts differ, so that the test cannot pass by a 1-in-3650 chance.
    secret_a, secret_b = b"a" * SECRET_BYTES, b"b" * SECRET_BYTES
    expected_a = case_deidentifier(secret_a, "kidney").date_shift_days
    expected_b = case_deidentifier(secret_b, "kidney").date_shift_days
    assert expected_a != expected_b
    shift_a, uid_a = _imported_dates_and_uid(tmp_path / "a", secret_a, study)
    shift_b, uid_b = _imported_dates_and_uid(tmp_path / "b", secret_b, study)
    # Same case id, different libraries: the shift is not a function of the case id alone.
    assert (shift_a, shift_b) == (expected_a, expected_b)
    assert uid_a != uid_b


def test_new_libraries_get_different_random_secrets(tmp_path):
    first, second = connect(tmp_path / "a.sqlite3"), connect(tmp_path / "b.sqlite3")
    try:
        secret = library_secret(first)
        assert len(secret) == SECRET_BYTES and secret != library_secret(second)
        assert library_secret(first) == secret  # stored, not drawn again
    finally:
        first.close()
        second.close()


def test_an_upgraded_library_gets_a_secret(tmp_path):
    path = tmp_path / "old.sqlite3"
    old = connect(path, target_version=3)
    tables = {r[0] for r in old.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "library_secret" not in tables
    old.close()
    upgraded = connect(path)
    try:
        (stored,) = upgraded.execute("SELECT secret FROM library_secret").fetchone()
        assert len(stored) == SECRET_BYTES and library_secret(upgraded) == stored
    finally:
        upgraded.close()


def test_a_library_that_lost_its_secret_gets_a_new_one(tmp_path):
    connection = connect(tmp_path / "library.sqlite3")
    try:
        old = library_secret(connection)
        connection.execute("DELETE FROM library_secret")
        new = library_secret(connection)
        assert len(new) == SECRET_BYTES and new != old
        assert library_secret(connection) == new
    finally:
        connection.close()


def test_a_series_with_burned_in_annotation_is_refused(tmp_path):
    volume, labels = phantom_case()
    files = write_ct_series(
        volume, tmp_path / "dicom", identity=IDENTITY, series_description="p", uid_seed="b"
    )
    for path in files:
        dataset = pydicom.dcmread(path)
        dataset.BurnedInAnnotation = "YES"
        dataset.save_as(path, enforce_file_format=True)
    write_label_map(labels, tmp_path / "labels.nii.gz")
    connection = connect(tmp_path / "lib" / "library.sqlite3")
    try:
        with pytest.raises(DicomLoadError, match="BurnedInAnnotation"):
            import_case(connection, tmp_path / "dicom", tmp_path / "labels.nii.gz", case_id="x")
        assert not list(library_folder(connection).glob("*x*"))
    finally:
        connection.close()
