"""PS3.15 basic-profile de-identification of single data sets (planning_core.imaging.deidentify)."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from planning_core.imaging.deidentify import Deidentifier, declares_burned_in_annotation

STUDY_UID = "1.2.826.0.1.3680043.8.498.1"
SOP_UID = "1.2.826.0.1.3680043.8.498.2"
SECRET = b"0123456789abcdef0123456789abcdef"


def identified() -> Dataset:
    """A CT header carrying identifiers in top-level, nested, private and overlay elements."""
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.file_meta.MediaStorageSOPInstanceUID = SOP_UID
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta.SourceApplicationEntityTitle = "CT_ROOM_3"
    dataset.SOPClassUID = CTImageStorage
    dataset.SOPInstanceUID = SOP_UID
    dataset.StudyInstanceUID = STUDY_UID
    dataset.PatientName = "DOE^JANE"
    dataset.PatientID = "MRN-123456"
    dataset.PatientBirthDate = "19600203"
    dataset.PatientSex = "F"
    dataset.PatientAge = "054Y"
    dataset.OtherPatientIDs = "OTHER-999"
    dataset.StudyDate = "20140817"
    dataset.AcquisitionDateTime = "20140817101500.5"
    dataset.StudyTime = "101500"
    dataset.AccessionNumber = "ACC987654"
    dataset.InstitutionName = "General Hospital"
    dataset.OperatorsName = "SMITH^OP"
    dataset.SeriesDescription = "ARTERIAL DOE"
    request = Dataset()
    request.RequestedProcedureID = "REQ-1"
    request.ScheduledProcedureStepID = "SPS-1"
    dataset.RequestAttributesSequence = [request]
    reference = Dataset()
    reference.ReferencedSOPClassUID = CTImageStorage
    reference.ReferencedSOPInstanceUID = SOP_UID
    reference.VerifyingObserverName = "WHO^DOCTOR"  # a PN the profile table does not list
    dataset.SourceImageSequence = [reference]
    dataset.add_new(0x00090010, "LO", "ACME")
    dataset.add_new(0x00091001, "LO", "DOE^JANE private copy")
    dataset.add_new(0x60000022, "LO", "overlay of DOE")
    dataset.Manufacturer = "ACME"
    return dataset


def values(dataset: Dataset) -> list[str]:
    """Every element value as text, nested sequences included."""
    found: list[str] = []
    dataset.walk(lambda _, element: found.append(str(element.value)))
    return found


def test_identifiers_are_removed_everywhere():
    dataset = identified()
    Deidentifier.from_secret(SECRET, "case", pseudonym="PSEUDO").apply(dataset)
    text = " ".join(values(dataset))
    for secret in ("DOE", "JANE", "MRN-123456", "19600203", "054Y", "OTHER-999", "20140817",
                   "ACC987654", "General Hospital", "SMITH", "REQ-1", "WHO^DOCTOR", STUDY_UID,
                   SOP_UID):  # fmt: skip
        assert secret not in text, secret
    assert str(dataset.PatientName) == dataset.PatientID == "PSEUDO"
    assert dataset.PatientBirthDate == "" and dataset.PatientSex == ""
    assert "PatientAge" not in dataset and "RequestAttributesSequence" not in dataset
    assert not any(element.tag.is_private for element in dataset)
    assert 0x60000022 not in dataset
    assert dataset.PatientIdentityRemoved == "YES"
    assert dataset.LongitudinalTemporalInformationModified == "MODIFIED"
    codes = [item.CodeValue for item in dataset.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113107"]
    assert "SourceApplicationEntityTitle" not in dataset.file_meta
    assert dataset.Manufacturer == "ACME"  # not identifying: kept


def test_uids_are_mapped_consistently_and_standard_uids_kept():
    deidentifier = Deidentifier.from_secret(SECRET, "case", pseudonym="P")
    dataset = identified()
    deidentifier.apply(dataset)
    assert dataset.SOPClassUID == CTImageStorage
    assert dataset.SourceImageSequence[0].ReferencedSOPClassUID == CTImageStorage
    new_sop = dataset.SOPInstanceUID
    assert new_sop == deidentifier.new_uid(SOP_UID) != SOP_UID
    assert dataset.SourceImageSequence[0].ReferencedSOPInstanceUID == new_sop
    assert dataset.file_meta.MediaStorageSOPInstanceUID == new_sop
    assert new_sop.startswith("2.25.") and len(new_sop) <= 64
    assert pydicom.uid.UID(new_sop).is_valid


def test_dates_move_back_by_the_shift_keeping_times():
    deidentifier = Deidentifier(SECRET, 10, "P")
    dataset = identified()
    deidentifier.apply(dataset)
    assert dataset.StudyDate == "20140807"
    assert dataset.AcquisitionDateTime == "20140807101500.5"
    assert dataset.StudyTime == "101500"
    assert deidentifier.shift_date("2014-08-17") == ""  # unparseable: removed, not kept


def test_keep_spares_only_the_callers_own_top_level_values():
    dataset = identified()
    dataset.SeriesDescription = "cryoplan key images"
    Deidentifier(SECRET, 5, "P").apply(dataset, keep=("SeriesDescription",))
    assert dataset.SeriesDescription == "cryoplan key images"
    assert "InstitutionName" not in dataset


def test_the_secret_and_not_the_case_id_decides_shift_and_uids():
    one = Deidentifier.from_secret(SECRET, "kidney", pseudonym="P")
    again = Deidentifier.from_secret(SECRET, "kidney", pseudonym="P")
    other_secret = Deidentifier.from_secret(b"f" * 32, "kidney", pseudonym="P")
    assert (one.date_shift_days, one.new_uid(SOP_UID)) == (
        again.date_shift_days,
        again.new_uid(SOP_UID),
    )
    assert one.new_uid(SOP_UID) != other_secret.new_uid(SOP_UID)
    shifts = {
        Deidentifier.from_secret(bytes([n]) * 32, "kidney", pseudonym="P").date_shift_days
        for n in range(20)
    }
    assert len(shifts) > 15  # 20 secrets, one case id: the shift follows the secret


def test_random_deidentifiers_differ():
    first, second = Deidentifier.random(), Deidentifier.random()
    assert first.pseudonym != second.pseudonym
    assert first.new_uid(SOP_UID) != second.new_uid(SOP_UID)


@pytest.mark.parametrize(("value", "expected"), [("YES", True), ("NO", False), (None, False)])
def test_burned_in_annotation_is_read_from_the_header(value, expected):
    dataset = Dataset()
    if value is not None:
        dataset.BurnedInAnnotation = value
    assert declares_burned_in_annotation(dataset) is expected


def test_short_keys_are_refused():
    with pytest.raises(ValueError, match="uid_key"):
        Deidentifier(b"short", 5, "P")
    with pytest.raises(ValueError, match="date_shift_days"):
        Deidentifier(SECRET, 0, "P")
