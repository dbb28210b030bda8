"""The CT DICOM writer: geometry round trip, headers, determinism, input validation."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import UID

from planning_core.errors import InvalidParameterError
from planning_core.imaging.dicom_write import DicomIdentity, uid_from_seed, write_ct_series
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.volume import Volume

IDENTITY = DicomIdentity(
    patient_name="TEST^WRITER",
    patient_id="W-1",
    patient_birth_date="19700101",
    patient_sex="O",
    study_description="writer test",
    study_date="20240301",
    study_time="120000",
    accession_number="ACC1",
    referring_physician_name="REF^DOC",
    institution_name="Test lab",
)


def _rotation(angles_deg: tuple[float, float, float]) -> np.ndarray:
    ax, ay, az = np.radians(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _oblique_volume() -> Volume:
    geometry = Geometry(
        (9, 12, 16), (0.7, 0.85, 1.6), (-31.25, 12.5, 48.125), _rotation((17, -24, 38))
    )
    voxels = np.random.default_rng(5).normal(0.0, 300.0, geometry.shape)
    return Volume(voxels, geometry, "CT")


def _series_image(directory: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(directory)))
    return reader.Execute()


def test_oblique_series_reads_back_with_the_same_geometry_and_values(tmp_path):
    volume = _oblique_volume()
    write_ct_series(
        volume, tmp_path / "s", identity=IDENTITY, series_description="oblique", uid_seed="t"
    )
    image = _series_image(tmp_path / "s")
    geometry = volume.geometry
    assert image.GetSize() == geometry.size_ijk
    np.testing.assert_allclose(image.GetOrigin(), geometry.origin_lps_mm, atol=1e-4)
    np.testing.assert_allclose(image.GetSpacing(), geometry.spacing_mm, atol=1e-4)
    np.testing.assert_allclose(
        np.reshape(image.GetDirection(), (3, 3)), geometry.direction, atol=1e-4
    )
    expected = np.clip(np.rint(volume.voxels), -1024, None)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), expected)


def test_headers_follow_the_ct_image_storage_conventions(tmp_path):
    volume = _oblique_volume()
    files = write_ct_series(
        volume,
        tmp_path / "s",
        identity=IDENTITY,
        series_description="oblique",
        series_number=7,
        uid_seed="t",
    )
    assert [f.name for f in files] == [f"IM{k:04d}.dcm" for k in range(1, 10)]
    geometry = volume.geometry
    datasets = [pydicom.dcmread(f) for f in files]
    first = datasets[0]
    assert first.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert first.SOPClassUID == pydicom.uid.CTImageStorage
    assert first.file_meta.MediaStorageSOPInstanceUID == first.SOPInstanceUID
    assert list(first.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert (first.Modality, first.PatientPosition, first.SeriesNumber) == ("CT", "HFS", 7)
    assert (first.Rows, first.Columns) == (12, 16)
    # PixelSpacing is row spacing (j) then column spacing (i).
    np.testing.assert_allclose([float(v) for v in first.PixelSpacing], [0.85, 0.7])
    assert float(first.SliceThickness) == pytest.approx(1.6)
    assert float(first.SpacingBetweenSlices) == pytest.approx(1.6)
    assert (float(first.RescaleSlope), float(first.RescaleIntercept)) == (1.0, -1024.0)
    assert "cryoplanner" in first.SoftwareVersions
    assert first.Manufacturer
    for name in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "ReferringPhysicianName",
        "StudyID",
        "InstitutionName",
        "WindowCenter",
        "WindowWidth",
        "FrameOfReferenceUID",
        "SliceLocation",
        "KVP",
    ):
        assert name in first, name
    shared = {(d.StudyInstanceUID, d.SeriesInstanceUID, d.FrameOfReferenceUID) for d in datasets}
    assert len(shared) == 1
    uids = [*next(iter(shared)), *(d.SOPInstanceUID for d in datasets)]
    assert len(set(uids)) == len(uids)
    assert all(UID(u).is_valid and len(u) <= 64 for u in uids)
    for k, dataset in enumerate(datasets):
        assert dataset.InstanceNumber == k + 1
        expected = geometry.index_to_lps([0, 0, k])
        np.testing.assert_allclose(
            [float(v) for v in dataset.ImagePositionPatient], expected, atol=1e-6
        )
        orientation = np.array([float(v) for v in dataset.ImageOrientationPatient])
        np.testing.assert_allclose(orientation, geometry.direction[:, :2].T.reshape(-1), atol=1e-8)


def test_same_inputs_give_the_same_bytes_and_another_seed_other_uids(tmp_path):
    volume = _oblique_volume()

    def digest(directory: Path, seed: str) -> str:
        files = write_ct_series(
            volume, directory, identity=IDENTITY, series_description="d", uid_seed=seed
        )
        return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()

    assert digest(tmp_path / "a", "seed") == digest(tmp_path / "b", "seed")
    assert digest(tmp_path / "c", "other") != digest(tmp_path / "a2", "seed")
    a = pydicom.dcmread(tmp_path / "a" / "IM0001.dcm")
    c = pydicom.dcmread(tmp_path / "c" / "IM0001.dcm")
    assert a.StudyInstanceUID != c.StudyInstanceUID
    assert a.PixelData == c.PixelData


def test_given_study_and_frame_uids_are_kept(tmp_path):
    identity = DicomIdentity(
        **{
            **IDENTITY.__dict__,
            "study_instance_uid": "1.2.3.4",
            "frame_of_reference_uid": "1.2.3.5",
        }
    )
    files = write_ct_series(
        _oblique_volume(), tmp_path / "s", identity=identity, series_description="d", uid_seed="t"
    )
    dataset = pydicom.dcmread(files[0])
    assert (dataset.StudyInstanceUID, dataset.FrameOfReferenceUID) == ("1.2.3.4", "1.2.3.5")


def test_uid_from_seed_is_a_valid_deterministic_2_25_uid():
    uid = uid_from_seed("abc", "study")
    assert uid == uid_from_seed("abc", "study")
    assert uid != uid_from_seed("abc", "series")
    assert uid.startswith("2.25.") and not uid[5:].startswith("0")
    assert UID(uid).is_valid and len(uid) <= 64


def test_values_are_clipped_to_the_stored_range(tmp_path):
    geometry = Geometry((1, 2, 2), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    voxels = np.array([[[-3000.0, -1024.4], [70000.0, 12.6]]])
    write_ct_series(
        Volume(voxels, geometry, "CT"),
        tmp_path / "s",
        identity=IDENTITY,
        series_description="c",
        uid_seed="t",
    )
    values = sitk.GetArrayFromImage(_series_image(tmp_path / "s"))
    np.testing.assert_array_equal(values.reshape(-1), [-1024, -1024, 64511, 13])


def test_a_non_empty_destination_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "other.dcm").write_bytes(b"x")
    with pytest.raises(InvalidParameterError, match="empty folder"):
        write_ct_series(
            _oblique_volume(),
            tmp_path / "s",
            identity=IDENTITY,
            series_description="d",
            uid_seed="t",
        )
    assert [p.name for p in (tmp_path / "s").iterdir()] == ["other.dcm"]


def test_non_finite_voxels_are_refused_and_nothing_is_written(tmp_path):
    volume = _oblique_volume()
    voxels = volume.voxels.copy()
    voxels[0, 0, 0] = np.nan
    with pytest.raises(InvalidParameterError, match="finite"):
        write_ct_series(
            volume.with_voxels(voxels),
            tmp_path / "s",
            identity=IDENTITY,
            series_description="d",
            uid_seed="t",
        )
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"series_description": ""}, "series_description"),
        ({"series_number": 0}, "series_number"),
        ({"uid_seed": ""}, "uid_seed"),
        ({"body_part_examined": "abdomen"}, "body_part_examined"),
        ({"window_width_hu": 0.0}, "window_width_hu"),
    ],
)
def test_bad_options_name_the_parameter(tmp_path, options, message):
    arguments = {"identity": IDENTITY, "series_description": "d", "uid_seed": "t", **options}
    with pytest.raises(InvalidParameterError, match=message):
        write_ct_series(_oblique_volume(), tmp_path / "s", **arguments)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("study_date", "2024-03-01"),
        ("study_time", "12:00"),
        ("patient_sex", "X"),
        ("patient_id", ""),
        ("study_instance_uid", "1.02.3"),
    ],
)
def test_bad_identity_fields_are_refused(field, value):
    with pytest.raises(InvalidParameterError, match=field):
        DicomIdentity(**{**IDENTITY.__dict__, field: value})
