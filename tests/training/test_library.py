"""Case library: de-identified import, difficulty tags, reference plans, export and re-import."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from training_phantom import grid_lps, one_probe_plan, phantom_case

from planning_core.imaging.dicom_write import DicomIdentity, write_ct_series
from planning_core.imaging.volume_io import write_label_map, write_volume
from planning_core.planning.case_reference import volume_content_sha256
from planning_core.training.assessment import evaluate_reference
from planning_core.training.database import LibraryError, connect, library_folder
from planning_core.training.deidentify import case_deidentifier, library_secret
from planning_core.training.difficulty import difficulty_tags
from planning_core.training.library import (
    export_cases,
    get_case,
    import_case,
    import_exported_case,
    list_cases,
    load_case_data,
    load_reference_plan,
)

IDENTITY = DicomIdentity(
    patient_name="DOE^JANE",
    patient_id="MRN-123456",
    patient_birth_date="19600203",
    patient_sex="F",
    study_description="CT ABDOMEN",
    study_date="20240115",
    study_time="101500",
    accession_number="ACC987",
    referring_physician_name="WHO^DR",
    institution_name="General Hospital",
)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The phantom as a DICOM series, as a NIfTI volume, and its label map."""
    root = tmp_path_factory.mktemp("study")
    volume, labels = phantom_case()
    write_ct_series(
        volume, root / "dicom", identity=IDENTITY, series_description="phantom", uid_seed="t"
    )
    write_volume(volume, root / "image.mha")
    write_label_map(labels, root / "labels.nii.gz")
    no_tumor = labels.without("tumor")
    write_label_map(no_tumor, root / "no_tumor.nii.gz")
    return root, volume


@pytest.fixture
def library(tmp_path):
    connection = connect(tmp_path / "lib" / "library.sqlite3")
    yield connection
    connection.close()


def test_dicom_import_is_deidentified_and_keeps_the_voxels(study, library):
    root, volume = study
    case = import_case(library, root / "dicom", root / "labels.nii.gz", case_id="phantom")
    assert case.image_path == library_folder(library) / "phantom" / "dicom"
    originals = [pydicom.dcmread(p) for p in sorted((root / "dicom").iterdir())]
    copies = [pydicom.dcmread(p) for p in sorted(case.image_path.iterdir())]
    assert len(copies) == len(originals) == volume.shape[0]
    shift = case_deidentifier(library_secret(library), "phantom").date_shift_days
    for copy in copies:
        assert str(copy.PatientName) == copy.PatientID == "TRAINING-phantom"
        assert copy.PatientBirthDate == "" and "InstitutionName" not in copy
        assert copy.AccessionNumber == "" and str(copy.ReferringPhysicianName) == ""
        assert copy.PatientIdentityRemoved == "YES"
        assert copy.file_meta.MediaStorageSOPInstanceUID == copy.SOPInstanceUID
    text = b"".join(p.read_bytes() for p in case.image_path.iterdir())
    for secret in (b"DOE^JANE", b"MRN-123456", b"19600203", b"General Hospital", b"ACC987"):
        assert secret not in text
    first, copy = originals[0], copies[0]
    assert copy.SOPClassUID == first.SOPClassUID
    assert copy.StudyInstanceUID != first.StudyInstanceUID
    assert len({c.StudyInstanceUID for c in copies}) == 1
    assert len({c.SOPInstanceUID for c in copies}) == len(copies)
    expected_date = np.datetime64("2024-01-15") - np.timedelta64(shift, "D")
    assert copy.StudyDate == str(expected_date).replace("-", "")
    loaded, labels = load_case_data(case)
    assert volume_content_sha256(loaded) == volume_content_sha256(volume)
    assert labels.voxel_count("tumor") > 0


def test_difficulty_tags_follow_the_geometry(study, library):
    root, _ = study
    case = import_case(library, root / "image.mha", root / "labels.nii.gz", title="Phantom A")
    assert case.id == "phantom-a" and case.image_path.name == "image.mha"
    assert case.modality == "CT"
    tags = case.tags
    # Sphere of radius 6 mm on a 1 mm grid: 13 voxels across.
    assert tags.tumor_diameter_mm == pytest.approx(13.0, abs=0.6)
    assert tags.size_class == "<20 mm"
    # Closest voxel centres on the x axis: tumor x = 6, bowel x = 22 - 7 = 15.
    assert tags.nearest_oar == "bowel" and tags.nearest_oar_mm == pytest.approx(9.0)
    assert tags.difficulty == "beginner"  # size class 0 + 1 point for an organ within 10 mm
    assert tags.organ == "unknown"  # only generic muscle surrounds the tumor
    assert [c.id for c in list_cases(library)] == ["phantom-a"]


def test_bad_imports_are_refused_and_leave_nothing(study, library):
    root, _ = study
    import_case(library, root / "image.mha", root / "labels.nii.gz", case_id="one")
    with pytest.raises(LibraryError, match="already has a case 'one'"):
        import_case(library, root / "image.mha", root / "labels.nii.gz", case_id="one")
    with pytest.raises(LibraryError, match="lowercase"):
        import_case(library, root / "image.mha", root / "labels.nii.gz", case_id="Bad Id")
    with pytest.raises(LibraryError, match="no 'tumor' label"):
        import_case(library, root / "image.mha", root / "no_tumor.nii.gz", case_id="two")
    assert [c.id for c in list_cases(library)] == ["one"]
    assert sorted(p.name for p in library_folder(library).iterdir()) == ["one"]
    with pytest.raises(LibraryError, match="known cases: one"):
        get_case(library, "two")


def test_reference_plan_survives_export_and_reimport(study, library, tmp_path):
    root, _ = study
    import_case(library, root / "image.mha", root / "labels.nii.gz", case_id="ref", organ="kidney")
    with pytest.raises(LibraryError, match="no reference plan"):
        load_reference_plan(get_case(library, "ref"))
    case = evaluate_reference(library, "ref", one_probe_plan(), author="Dr. Attending")
    assert case.reference_author == "Dr. Attending" and case.reference_grid_mm == 2.0
    reference = load_reference_plan(case)
    assert not reference.metrics_stale()
    assert reference.image_path == case.image_path

    (folder,) = export_cases(library, tmp_path / "export")
    assert folder == tmp_path / "export" / "ref" and (folder / "case.json").is_file()
    with pytest.raises(LibraryError, match="already exists"):
        export_cases(library, tmp_path / "export")

    other = connect(tmp_path / "other" / "library.sqlite3")
    copy = import_exported_case(other, folder)
    assert copy.id == "ref" and copy.organ == "kidney"
    assert copy.reference_author == "Dr. Attending" and copy.reference_grid_mm == 2.0
    copied = load_reference_plan(copy)
    assert not copied.metrics_stale()
    assert copied.metrics == reference.metrics
    assert Path(copied.image_path).parent == library_folder(other) / "ref"
    other.close()


def test_a_structure_to_avoid_beside_the_tumor_raises_the_difficulty():
    _, labels = phantom_case()
    labels = labels.without("bowel")  # no organ at risk near: only the sinus counts
    lps = grid_lps(labels.geometry)
    kidney = (np.linalg.norm(lps, axis=-1) <= 15.0) & ~labels.mask("tumor")
    labels = labels.with_mask("kidney", kidney, role="anatomy")
    # Renal sinus (role "avoid": may freeze, no probe through it) against the tumor's right.
    sinus = np.linalg.norm(lps - (-10.0, 0.0, 0.0), axis=-1) <= 3.0
    alone = difficulty_tags(labels)
    assert alone.difficulty == "beginner" and alone.nearest_avoid is None
    assert alone.organ == "kidney"
    beside = difficulty_tags(labels.with_mask("renal_sinus", sinus, role="avoid"))
    assert beside.nearest_avoid == "renal_sinus"
    assert beside.nearest_avoid_mm == pytest.approx(1.0)
    assert beside.difficulty == "intermediate"  # size class 0 + 2 points for abutting
    # The host organ around the tumor is no hazard, even when it is to be avoided (lung).
    lung = labels.mask("muscle") | labels.mask("kidney")
    host = difficulty_tags(labels.with_mask("lung", lung, role="avoid"))
    assert host.organ == "lung" and host.nearest_avoid is None
    assert host.difficulty == "beginner"
