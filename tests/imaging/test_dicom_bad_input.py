"""Awkward and broken DICOM input: each gives a clear warning or error naming what and where."""

import numpy as np
import pytest
from dicom_factory import (
    header_bytes_before_pixels,
    image_dataset,
    rotation,
    save,
    truncate,
    write_stack,
)
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit, RTStructureSetStorage, SegmentationStorage

from planning_core.errors import DicomLoadError, OperationCancelledError
from planning_core.imaging.dicom import load_series, scan_dicom
from planning_core.imaging.loader import load_image
from planning_core.planning.approach import read_patient_position
from planning_core.progress import CancelToken

GRADIENT = np.array([0.5, -0.8, 1.2])  # HU per mm along L, P, S
SLOPE = 0.1  # fine rescale so stored rounding stays below 0.05 HU


def _linear_series(
    directory, positions, *, rows=24, columns=20, orientation_matrix=None, spacing=(1.0, 1.0)
):
    """Slices holding the linear function GRADIENT . lps, which linear interpolation keeps exact."""
    direction = np.eye(3) if orientation_matrix is None else orientation_matrix
    j, i = np.mgrid[0:rows, 0:columns]
    stored = []
    for position in positions:
        lps = (
            np.asarray(position)[None, None, :]
            + i[..., None] * spacing[0] * direction[:, 0]
            + j[..., None] * spacing[1] * direction[:, 1]
        )
        stored.append(np.rint((lps @ GRADIENT + 500.0) / SLOPE).astype(np.int16))
    return write_stack(
        directory,
        np.array(stored),
        spacing_ijk=(spacing[0], spacing[1], 1.0),
        direction=direction,
        positions=positions,
        rescale=(SLOPE, -500.0),
    )


def _inside_all_slices(volume, positions, direction, rows, columns):
    """Voxels whose LPS point projects inside every acquired slice, one pixel in from its edge."""
    nk, nj, ni = volume.shape
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    lps = volume.geometry.index_to_lps(np.stack([i, j, k], axis=-1))
    inside = np.ones(volume.shape, dtype=bool)
    for position in positions:
        offset = lps - np.asarray(position)
        column, row = offset @ direction[:, 0], offset @ direction[:, 1]
        inside &= (column >= 1) & (column <= columns - 2) & (row >= 1) & (row <= rows - 2)
    return inside, lps


# -- gantry tilt
def _tilted_positions(tilt_deg, count=6, step_mm=2.0):
    """Axial-ish slices tilted about L (like the GE scan): origins move along +S only."""
    tilt = np.radians(tilt_deg)
    direction = np.column_stack(
        [(1, 0, 0), (0, np.cos(tilt), -np.sin(tilt)), (0, np.sin(tilt), np.cos(tilt))]
    )
    positions = [np.array([-10.0, -12.0, 5.0 + step_mm * k]) for k in range(count)]
    return positions, direction


def test_gantry_tilt_is_resampled_onto_an_orthogonal_grid_with_exact_placement(tmp_path):
    positions, direction = _tilted_positions(15.0)
    _linear_series(tmp_path, positions, orientation_matrix=direction)

    volume = load_image(tmp_path)

    assert any("gantry tilt" in w and "15.00°" in w for w in volume.warnings)
    assert volume.geometry.shape[1] > 24  # widened to keep every slice's pixels
    np.testing.assert_allclose(volume.geometry.direction, direction, atol=1e-9)
    inside, lps = _inside_all_slices(volume, positions, direction, rows=24, columns=20)
    assert inside.sum() > 500
    np.testing.assert_allclose(volume.voxels[inside], lps[inside] @ GRADIENT, atol=0.06)


def test_gantry_tilt_is_refused_in_strict_mode(tmp_path):
    positions, direction = _tilted_positions(15.0)
    _linear_series(tmp_path, positions, orientation_matrix=direction)

    with pytest.raises(DicomLoadError, match=r"strict mode.*gantry tilt.*15\.00°"):
        load_image(tmp_path, strict=True)


# -- missing slices and irregular spacing
def test_missing_slice_is_named_and_bridged_keeping_acquired_slices(tmp_path):
    positions = [np.array([0.0, 0.0, 3.0 * k]) for k in range(8) if k != 4]
    paths = _linear_series(tmp_path, positions)

    volume = load_image(tmp_path)

    (warning,) = [w for w in volume.warnings if "not uniform" in w]
    assert "6.000 mm between instance 4 (slice003.dcm) and instance 5 (slice004.dcm)" in warning
    assert "about 1 missing slice" in warning
    assert volume.geometry.shape[0] == 8
    assert volume.geometry.spacing_mm[2] == pytest.approx(3.0, abs=1e-9)
    inside, lps = _inside_all_slices(volume, positions, np.eye(3), rows=24, columns=20)
    np.testing.assert_allclose(volume.voxels[inside], lps[inside] @ GRADIENT, atol=0.06)
    assert volume.metadata["source_slice_k"] == pytest.approx([0, 1, 2, 3, 5, 6, 7])
    assert len(paths) == 7


def test_missing_slice_is_refused_in_strict_mode(tmp_path):
    _linear_series(tmp_path, [np.array([0.0, 0.0, 3.0 * k]) for k in (0, 1, 2, 4)])

    with pytest.raises(DicomLoadError, match=r"strict mode.*6\.000 mm between instance 3"):
        load_image(tmp_path, strict=True)


def test_mixed_increments_resample_to_the_finer_regular_spacing(tmp_path):
    distances = [0.0, 2.0, 4.0, 6.0, 11.0, 16.0, 21.0]
    _linear_series(tmp_path, [np.array([0.0, 0.0, d]) for d in distances])

    volume = load_image(tmp_path)

    assert volume.geometry.shape[0] == 12  # 21 mm in steps no coarser than 2 mm
    assert volume.geometry.spacing_mm[2] == pytest.approx(21.0 / 11.0, abs=1e-9)
    assert any("2.000 mm × 3" in w and "5.000 mm × 3" in w for w in volume.warnings)
    positions = [np.array([0.0, 0.0, d]) for d in distances]
    inside, lps = _inside_all_slices(volume, positions, np.eye(3), rows=24, columns=20)
    np.testing.assert_allclose(volume.voxels[inside], lps[inside] @ GRADIENT, atol=0.06)


def test_gap_too_wide_to_interpolate_is_an_error(tmp_path):
    _linear_series(tmp_path, [np.array([0.0, 0.0, d]) for d in (0.0, 1.0, 2.0, 30.0, 31.0)])

    with pytest.raises(DicomLoadError, match=r"gap of 28\.00 mm between instance 3 .* too wide"):
        load_image(tmp_path)


def test_slices_sharing_a_position_are_an_error(tmp_path):
    write_stack(
        tmp_path,
        np.zeros((3, 4, 4), np.int16),
        spacing_ijk=(1, 1, 1),
        positions=[(0, 0, 0), (0, 0, 1), (0, 0, 1)],
        instance_numbers=[1, 2, 3],
    )

    with pytest.raises(DicomLoadError, match=r"share a slice position.*instance 2.*instance 3"):
        load_image(tmp_path)


def test_repeated_acquisitions_at_the_same_positions_become_sub_series(tmp_path):
    def phase(ds, k):
        ds.AcquisitionNumber = 1 + k // 3

    stored = np.arange(6 * 16, dtype=np.int16).reshape(6, 4, 4)
    positions = [(0, 0, k % 3) for k in range(6)]
    write_stack(tmp_path, stored, spacing_ijk=(1, 1, 1), positions=positions, edit=phase)

    catalog = scan_dicom(tmp_path)

    assert [s.frame_count for s in catalog.series] == [3, 3]
    np.testing.assert_array_equal(load_series(catalog.series[1]).voxels, stored[3:] - 1024)


# -- mixed series, sub-series, localizers
def test_mixed_series_are_kept_apart_and_a_choice_is_required(tmp_path):
    first = write_stack(
        tmp_path, np.zeros((3, 4, 4), np.int16), spacing_ijk=(1, 1, 1), series_uid="1.2.3.1"
    )
    write_stack(
        tmp_path,
        np.ones((2, 5, 5), np.int16),
        spacing_ijk=(1, 1, 2),
        series_uid="1.2.3.2",
        names=["other0.dcm", "other1.dcm"],
    )

    with pytest.raises(
        DicomLoadError, match=r"holds 2 image series.*1\.2\.3\.1.*1\.2\.3\.2.*cryoplan info"
    ):
        load_image(tmp_path)
    volume = load_image(tmp_path, series_uid="1.2.3.2")
    assert volume.shape == (2, 5, 5)
    assert len(first) == 3


def test_unknown_series_uid_lists_what_exists(tmp_path):
    write_stack(
        tmp_path, np.zeros((2, 4, 4), np.int16), spacing_ijk=(1, 1, 1), series_uid="1.2.3.1"
    )

    with pytest.raises(DicomLoadError, match=r"no image series '9\.9'.*1\.2\.3\.1"):
        load_image(tmp_path, series_uid="9.9")


def test_one_uid_with_two_orientations_is_split_into_sub_series(tmp_path):
    write_stack(
        tmp_path / "axial",
        np.zeros((3, 4, 4), np.int16),
        spacing_ijk=(1, 1, 1),
        series_uid="1.2.3.7",
    )
    write_stack(
        tmp_path / "coronal",
        np.ones((2, 4, 4), np.int16),
        spacing_ijk=(1, 1, 1),
        series_uid="1.2.3.7",
        direction=rotation(0, 0, 90),
        names=["c0.dcm", "c1.dcm"],
    )

    catalog = scan_dicom(tmp_path)

    assert sorted(s.key for s in catalog.series) == ["1.2.3.7#1", "1.2.3.7#2"]
    assert all("kept apart" in " ".join(s.warnings) for s in catalog.series)
    with pytest.raises(DicomLoadError, match=r"split into sub-series.*1\.2\.3\.7#1, 1\.2\.3\.7#2"):
        load_image(tmp_path, series_uid="1.2.3.7")
    assert load_image(tmp_path, series_uid="1.2.3.7#2").shape[0] in (2, 3)


def test_localizers_are_excluded_with_a_reason(tmp_path):
    def scout(ds, k):
        if k == 0:
            ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]

    write_stack(
        tmp_path,
        np.zeros((4, 4, 4), np.int16),
        spacing_ijk=(1, 1, 1),
        series_uid="1.2.3.9",
        edit=scout,
    )
    lone = image_dataset(
        np.zeros((4, 4), np.int16),
        series_uid="1.2.3.9",
        instance_number=9,
        position=(0, 0, 0),
        orientation=(1, 0, 0, 0, 0, -1),
        pixel_spacing=(1, 1),
        image_type=("ORIGINAL", "PRIMARY", "OTHER"),
    )
    save(lone, tmp_path / "lone.dcm")

    catalog = scan_dicom(tmp_path)

    reasons = {s.path.name: s.reason for s in catalog.skipped}
    assert "LOCALIZER" in reasons["slice000.dcm"]
    assert "orientation differs" in reasons["lone.dcm"]
    (series,) = catalog.series
    assert series.frame_count == 3
    assert "2 file(s) of this series were left out" in " ".join(series.warnings)


# -- damaged and non-image files
def test_non_dicom_and_non_image_files_are_listed_with_reasons(tmp_path):
    write_stack(tmp_path, np.zeros((2, 4, 4), np.int16), spacing_ijk=(1, 1, 1))
    (tmp_path / "notes.txt").write_text("patient was scanned twice\n")
    (tmp_path / "empty").write_bytes(b"")
    structure = image_dataset(
        np.zeros((2, 2), np.int16), sop_class=RTStructureSetStorage, modality="RTSTRUCT"
    )
    del structure.PixelData
    save(structure, tmp_path / "rtstruct.dcm")
    save(
        image_dataset(np.zeros((2, 2, 2), np.uint8), sop_class=SegmentationStorage, modality="SEG"),
        tmp_path / "seg.dcm",
    )

    catalog = scan_dicom(tmp_path)

    reasons = {s.path.name: s.reason for s in catalog.skipped}
    assert reasons["notes.txt"] == "not a DICOM file"
    assert reasons["empty"] == "not a DICOM file"
    assert "RT Structure Set Storage has no pixel data" in reasons["rtstruct.dcm"]
    assert "segmentation" in reasons["seg.dcm"]
    assert len(catalog.series) == 1


def test_image_without_pixel_data_is_skipped_and_named_in_its_series(tmp_path):
    def strip(ds, k):
        if k == 1:
            del ds.PixelData

    write_stack(tmp_path, np.zeros((4, 4, 4), np.int16), spacing_ijk=(1, 1, 1), edit=strip)

    catalog = scan_dicom(tmp_path)

    reasons = {s.path.name: s.reason for s in catalog.skipped}
    assert "CT Image Storage without pixel data" in reasons["slice001.dcm"]
    (series,) = catalog.series
    assert "slice001.dcm" in " ".join(series.warnings)
    assert any("2.000 mm between" in w for w in series.warnings)  # the hole it leaves is named too


def test_truncated_pixel_data_is_skipped_with_the_byte_counts(tmp_path):
    paths = write_stack(tmp_path, np.zeros((3, 8, 8), np.int16), spacing_ijk=(1, 1, 1))
    truncate(paths[2], keep_bytes=header_bytes_before_pixels(paths[2]) + 40)

    catalog = scan_dicom(tmp_path)

    (skipped,) = catalog.skipped
    assert skipped.path == paths[2]
    assert skipped.reason.startswith("truncated: pixel data need 128 bytes")
    assert catalog.series[0].frame_count == 2


def test_truncated_header_is_skipped(tmp_path):
    paths = write_stack(tmp_path, np.zeros((2, 4, 4), np.int16), spacing_ijk=(1, 1, 1))
    truncate(paths[1], keep_bytes=300)

    catalog = scan_dicom(tmp_path)

    reasons = {s.path.name: s.reason for s in catalog.skipped}
    assert reasons["slice001.dcm"].startswith(
        ("damaged or truncated DICOM header", "CT Image Storage without pixel data")
    )


def test_rows_and_columns_disagreeing_with_pixel_data_are_reported(tmp_path):
    def wrong_size(ds, k):
        if k == 0:
            ds.Rows = 16

    write_stack(tmp_path, np.zeros((2, 8, 8), np.int16), spacing_ijk=(1, 1, 1), edit=wrong_size)

    catalog = scan_dicom(tmp_path)

    reasons = {s.path.name: s.reason for s in catalog.skipped}
    assert "header and pixel data disagree" in reasons["slice000.dcm"]
    assert "16×8×1×1" in reasons["slice000.dcm"]


def test_slices_of_another_size_in_a_series_are_kept_apart(tmp_path):
    write_stack(
        tmp_path, np.zeros((3, 8, 8), np.int16), spacing_ijk=(1, 1, 1), series_uid="1.2.3.5"
    )
    write_stack(
        tmp_path,
        np.zeros((2, 4, 4), np.int16),
        spacing_ijk=(2, 2, 1),
        series_uid="1.2.3.5",
        names=["s0.dcm", "s1.dcm"],
    )

    catalog = scan_dicom(tmp_path)

    assert sorted((s.rows, s.frame_count) for s in catalog.series) == [(4, 2), (8, 3)]


def test_undecodable_pixel_data_name_the_file_and_syntax(tmp_path):
    ds = image_dataset(
        np.zeros((8, 8), np.int16),
        position=(0, 0, 0),
        orientation=(1, 0, 0, 0, 1, 0),
        pixel_spacing=(1, 1),
    )
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([b"\xff\xd8not a jpeg stream\xff\xd9"])
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "broken.dcm", enforce_file_format=True)

    with pytest.raises(
        DicomLoadError, match=r"broken\.dcm: pixel data in transfer syntax JPEG Baseline"
    ):
        load_image(tmp_path)


def test_slices_without_positions_in_a_placed_series_are_an_error(tmp_path):
    def unplace(ds, k):
        if k == 1:
            del ds.ImagePositionPatient

    write_stack(tmp_path, np.zeros((3, 4, 4), np.int16), spacing_ijk=(1, 1, 1), edit=unplace)

    with pytest.raises(
        DicomLoadError, match=r"1 of 3 frames lack ImagePositionPatient.*instance 2"
    ):
        load_image(tmp_path)


def test_missing_pixel_spacing_is_assumed_with_a_warning_and_refused_when_strict(tmp_path):
    def no_spacing(ds, k):
        del ds.PixelSpacing

    write_stack(tmp_path, np.zeros((2, 4, 4), np.int16), spacing_ijk=(1, 1, 1), edit=no_spacing)

    assert any("1 mm pixels were assumed" in w for w in load_image(tmp_path).warnings)
    with pytest.raises(DicomLoadError, match="1 mm pixels were assumed"):
        load_image(tmp_path, strict=True)


def test_empty_folder_and_missing_path_are_clear_errors(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")

    with pytest.raises(
        DicomLoadError, match=r"no loadable image series found.*1 × not a DICOM file"
    ):
        load_image(tmp_path)
    with pytest.raises(DicomLoadError, match="no such file or folder"):
        load_image(tmp_path / "absent")


def test_loading_can_be_cancelled(tmp_path):
    write_stack(tmp_path, np.zeros((3, 4, 4), np.int16), spacing_ijk=(1, 1, 1))
    token = CancelToken()
    token.cancel()

    with pytest.raises(OperationCancelledError):
        load_image(tmp_path, cancel=token)


def test_duplicate_copies_of_an_instance_are_used_once(tmp_path):
    paths = write_stack(tmp_path, np.zeros((2, 4, 4), np.int16), spacing_ijk=(1, 1, 1))
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "again.dcm").write_bytes(paths[0].read_bytes())

    catalog = scan_dicom(tmp_path)

    reasons = {s.path.name: s.reason for s in catalog.skipped}
    assert "another copy of slice000.dcm" in reasons["again.dcm"]
    assert catalog.series[0].frame_count == 2


def test_a_ct_without_patient_position_says_the_table_side_is_unknown(tmp_path):
    def drop_position(ds, k):
        del ds.PatientPosition

    stored = np.full((3, 6, 5), 1024, dtype=np.uint16)
    write_stack(tmp_path / "none", stored, spacing_ijk=(1.0, 1.0, 2.0), edit=drop_position)
    volume = load_image(tmp_path / "none")
    assert any("no Patient Position (0018,5100)" in w for w in volume.warnings)
    assert read_patient_position(volume.metadata).source == "absent"

    def prone(ds, k):
        ds.PatientPosition = "HFP"

    write_stack(tmp_path / "prone", stored, spacing_ijk=(1.0, 1.0, 2.0), edit=prone)
    volume = load_image(tmp_path / "prone")
    assert not any("Patient Position" in w for w in volume.warnings)
    assert read_patient_position(volume.metadata).position == "HFP"
