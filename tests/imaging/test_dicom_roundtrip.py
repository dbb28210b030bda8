"""Geometry round trips: volumes of known placement written as DICOM and loaded back."""

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from dicom_factory import rotation, write_stack
from pydicom.uid import ImplicitVRLittleEndian

from planning_core.imaging.dicom import load_series, scan_dicom
from planning_core.imaging.loader import load_image

TOLERANCE_MM = 1e-4


def _stored(shape, seed=0):
    rng = np.random.default_rng(seed)
    # Stored 0..3999 read as -1024..2975 HU: values a CT can hold, so no damage warning.
    return rng.integers(0, 4000, size=shape).astype(np.int16)


@pytest.mark.parametrize(
    ("angles_deg", "spacing_ijk"),
    [
        ((0.0, 0.0, 0.0), (0.7, 0.7, 2.5)),
        ((20.0, -35.0, 10.0), (0.6, 0.8, 1.25)),
        ((90.0, 0.0, 90.0), (1.0, 1.5, 3.0)),
    ],
)
def test_oblique_volume_round_trips_to_a_tenth_of_a_micrometre(tmp_path, angles_deg, spacing_ijk):
    direction = rotation(*angles_deg)
    origin = np.array([-100.25, 50.5, 30.125])
    stored = _stored((6, 9, 7))
    write_stack(tmp_path, stored, spacing_ijk=spacing_ijk, origin=origin, direction=direction)

    volume = load_image(tmp_path)

    assert volume.geometry.shape == stored.shape
    np.testing.assert_allclose(volume.geometry.origin_lps_mm, origin, atol=TOLERANCE_MM)
    np.testing.assert_allclose(volume.geometry.spacing_mm, spacing_ijk, atol=TOLERANCE_MM)
    np.testing.assert_allclose(volume.geometry.direction, direction, atol=TOLERANCE_MM)
    np.testing.assert_array_equal(volume.voxels, stored.astype(np.int32) - 1024)
    assert volume.voxels.dtype == np.int16
    assert volume.warnings == ()


def test_geometry_agrees_with_simpleitk_series_reader(tmp_path):
    direction = rotation(-15.0, 25.0, 5.0)
    write_stack(
        tmp_path,
        _stored((5, 8, 6)),
        spacing_ijk=(0.9, 0.75, 2.0),
        origin=(10, -20, 30),
        direction=direction,
    )
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path)))
    reference = reader.Execute()

    geometry = load_image(tmp_path).geometry

    np.testing.assert_allclose(geometry.origin_lps_mm, reference.GetOrigin(), atol=TOLERANCE_MM)
    np.testing.assert_allclose(geometry.spacing_mm, reference.GetSpacing(), atol=TOLERANCE_MM)
    np.testing.assert_allclose(
        geometry.direction, np.reshape(reference.GetDirection(), (3, 3)), atol=TOLERANCE_MM
    )


def test_order_comes_from_positions_not_file_names_or_instance_numbers(tmp_path):
    rng = np.random.default_rng(7)
    count = 8
    stored = _stored((count, 4, 5), seed=3)
    names = [f"{rng.integers(10**8)}_{k}.img" for k in rng.permutation(count)]
    instance_numbers = [int(n) for n in rng.permutation(count) + 1]
    direction = rotation(0.0, 0.0, 180.0)  # slices run towards the feet
    write_stack(
        tmp_path / "nested" / "deeper",
        stored,
        spacing_ijk=(1, 1, 2),
        origin=(0, 0, 50),
        direction=direction,
        names=names,
        instance_numbers=instance_numbers,
    )

    volume = load_image(tmp_path)

    np.testing.assert_array_equal(volume.voxels, stored.astype(np.int32) - 1024)
    np.testing.assert_allclose(volume.geometry.origin_lps_mm, (0, 0, 50), atol=TOLERANCE_MM)
    np.testing.assert_allclose(volume.geometry.direction[:, 2], direction[:, 2], atol=TOLERANCE_MM)
    assert [Path(p).name for p in volume.metadata["source_files"]] == names


def test_implicit_vr_and_metadata_for_exports(tmp_path):
    stored = _stored((3, 4, 4))
    paths = write_stack(
        tmp_path, stored, spacing_ijk=(1, 1, 1), transfer_syntax=ImplicitVRLittleEndian
    )

    series = scan_dicom(tmp_path).select()
    volume = load_series(series)

    metadata = volume.metadata
    for key in (
        "patient_name",
        "patient_id",
        "study_instance_uid",
        "series_instance_uid",
        "frame_of_reference_uid",
        "series_description",
        "study_date",
        "modality",
        "sop_class_uid",
        "patient_position",
        "transfer_syntax_uid",
    ):
        assert metadata[key], key
    assert metadata["source_files"] == [str(p) for p in paths]
    assert len(set(metadata["sop_instance_uids"])) == 3
    assert metadata["rescale"] == {"slope": 1.0, "intercept": -1024.0, "type": "HU"}
    assert metadata["transfer_syntax_uid"] == ImplicitVRLittleEndian
    assert volume.modality == "CT"


def test_fractional_rescale_gives_float32_values(tmp_path):
    stored = _stored((2, 3, 3)).clip(0, None)
    write_stack(tmp_path, stored, spacing_ijk=(1, 1, 1), rescale=(0.5, -1000.25))

    volume = load_image(tmp_path)

    assert volume.voxels.dtype == np.float32
    np.testing.assert_allclose(volume.voxels, stored * 0.5 - 1000.25, atol=1e-3)


def test_values_beyond_int16_switch_to_float32_without_losing_any(tmp_path):
    stored = np.full((2, 2, 2), 30000, dtype=np.uint16)
    stored[1] = 65000
    write_stack(tmp_path, stored, spacing_ijk=(1, 1, 1), rescale=(1.0, 0.0))

    volume = load_image(tmp_path)

    assert volume.voxels.dtype == np.float32
    np.testing.assert_array_equal(volume.voxels, stored)


def test_unused_high_bits_are_masked_as_the_standard_requires(tmp_path):
    stored = np.full((2, 2, 2), 0x0FFF, dtype=np.uint16) | np.uint16(0xF000)

    def twelve_bits(ds, _):
        ds.BitsStored, ds.HighBit = 12, 11

    write_stack(tmp_path, stored, spacing_ijk=(1, 1, 1), rescale=(1.0, 0.0), edit=twelve_bits)

    np.testing.assert_array_equal(load_image(tmp_path).voxels, np.full((2, 2, 2), 4095))
