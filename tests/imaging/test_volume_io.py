"""NIfTI / NRRD / MetaImage volumes and label maps through SimpleITK."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from planning_core.errors import GeometryMismatchError, VolumeFormatError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import (
    label_table_path,
    read_label_map,
    read_volume,
    write_label_map,
    write_volume,
)


@pytest.fixture
def oblique_volume() -> Volume:
    direction = Rotation.from_euler("zyx", [20.0, 5.0, -10.0], degrees=True).as_matrix()
    geometry = Geometry((6, 7, 8), (0.75, 0.8, 1.5), (-50.0, 20.5, -300.25), direction)
    voxels = np.arange(np.prod(geometry.shape), dtype=np.int16).reshape(geometry.shape) - 1000
    return Volume(voxels, geometry, "CT")


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_volume_round_trip(tmp_path, oblique_volume, suffix):
    path = tmp_path / f"ct{suffix}"
    write_volume(oblique_volume, path)
    loaded = read_volume(path)
    # NIfTI stores the affine in float32; 1e-4 mm is the project's geometry tolerance.
    assert loaded.geometry.matches(oblique_volume.geometry, tolerance_mm=1e-4)
    np.testing.assert_array_equal(loaded.voxels, oblique_volume.voxels)


@pytest.mark.parametrize("suffix", [".nrrd", ".mha"])
def test_modality_survives(tmp_path, oblique_volume, suffix):
    ultrasound = Volume(oblique_volume.voxels, oblique_volume.geometry, "US")
    write_volume(ultrasound, tmp_path / f"us{suffix}")
    assert read_volume(tmp_path / f"us{suffix}").modality == "US"


def test_label_map_round_trip_keeps_table(tmp_path, oblique_volume):
    geometry = oblique_volume.geometry
    mask = np.zeros(geometry.shape, bool)
    mask[2:4, 2:5, 3:6] = True
    label_map = LabelMap.empty(geometry).with_mask("tumor", mask).with_mask("my_nerve", ~mask)
    path = tmp_path / "labels.nii.gz"
    write_label_map(label_map, path)
    assert label_table_path(path).name == "labels.labels.json"
    loaded = read_label_map(path, reference=geometry)
    assert loaded.table == label_map.table
    np.testing.assert_array_equal(loaded.voxels, label_map.voxels)


def test_label_map_without_sidecar_uses_standard_names(tmp_path, oblique_volume):
    geometry = oblique_volume.geometry
    voxels = np.zeros(geometry.shape, np.uint8)
    voxels[0, 0, 0] = 1
    voxels[1, 1, 1] = 200
    path = tmp_path / "plain.nrrd"
    write_label_map(LabelMap(voxels, geometry), path)
    label_table_path(path).unlink()
    loaded = read_label_map(path)
    assert loaded.names == ("tumor", "label_200")


def test_label_map_on_other_grid_is_refused(tmp_path, oblique_volume):
    geometry = oblique_volume.geometry
    path = tmp_path / "labels.nii.gz"
    write_label_map(LabelMap.empty(geometry), path)
    shifted = Geometry(
        geometry.shape, geometry.spacing_mm, geometry.origin_lps_mm + 1.0, geometry.direction
    )
    with pytest.raises(GeometryMismatchError, match=r"labels\.nii\.gz"):
        read_label_map(path, reference=shifted)


def test_missing_file_names_path(tmp_path):
    with pytest.raises(VolumeFormatError, match="no such file"):
        read_volume(tmp_path / "absent.nii.gz")


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(VolumeFormatError, match="unsupported volume format"):
        read_volume(path)


def test_truncated_file_gives_clear_error(tmp_path, oblique_volume):
    path = tmp_path / "ct.nrrd"
    write_volume(oblique_volume, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(VolumeFormatError, match="cannot be read as a volume"):
        read_volume(path)


def test_fractional_label_values_refused(tmp_path, oblique_volume):
    path = tmp_path / "probabilities.nrrd"
    write_volume(oblique_volume.with_voxels(np.full(oblique_volume.shape, 0.5, np.float32)), path)
    with pytest.raises(VolumeFormatError, match="fractional"):
        read_label_map(path)


def test_failed_write_leaves_previous_file(tmp_path, oblique_volume):
    path = tmp_path / "ct.nrrd"
    write_volume(oblique_volume, path)
    before = path.read_bytes()
    with pytest.raises(VolumeFormatError, match="suffix"):
        write_volume(oblique_volume, tmp_path / "ct.txt")
    assert path.read_bytes() == before


def test_non_finite_voxels_are_replaced_with_a_warning(tmp_path, oblique_volume):
    voxels = oblique_volume.voxels.astype(np.float32)
    voxels[0, 0, 0] = np.nan
    path = tmp_path / "ct.nrrd"
    write_volume(oblique_volume.with_voxels(voxels), path)
    loaded = read_volume(path)
    assert np.isfinite(loaded.voxels).all()
    assert loaded.voxels[0, 0, 0] == np.nanmin(voxels)
    assert any("non-finite" in w for w in loaded.warnings)
