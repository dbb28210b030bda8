"""Geometry: index <-> LPS transforms, validation and comparison."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from planning_core.errors import GeometryMismatchError, InvalidParameterError
from planning_core.imaging.geometry import Geometry


def oblique_geometry() -> Geometry:
    direction = Rotation.from_euler("xyz", [12.0, -7.0, 25.0], degrees=True).as_matrix()
    return Geometry((20, 30, 40), (0.7, 0.8, 2.5), (-120.5, 33.25, 410.0), direction)


def test_round_trip_index_lps_oblique():
    geometry = oblique_geometry()
    rng = np.random.default_rng(3)
    ijk = rng.uniform(-5, 45, size=(100, 3))
    back = geometry.lps_to_index(geometry.index_to_lps(ijk))
    np.testing.assert_allclose(back, ijk, atol=1e-9)


def test_index_to_lps_matches_dicom_definition():
    geometry = oblique_geometry()
    i, j, k = 3, 5, 7
    expected = (
        geometry.origin_lps_mm
        + geometry.direction[:, 0] * geometry.spacing_mm[0] * i
        + geometry.direction[:, 1] * geometry.spacing_mm[1] * j
        + geometry.direction[:, 2] * geometry.spacing_mm[2] * k
    )
    np.testing.assert_allclose(geometry.index_to_lps([i, j, k]), expected, atol=1e-12)
    homogeneous = geometry.index_to_lps_matrix @ np.array([i, j, k, 1.0])
    np.testing.assert_allclose(homogeneous[:3], expected, atol=1e-12)


def test_spacing_orders_and_voxel_volume():
    geometry = Geometry((10, 20, 30), (0.5, 0.75, 2.0), (0, 0, 0))
    assert geometry.size_ijk == (30, 20, 10)
    assert geometry.spacing_kji_mm == (2.0, 0.75, 0.5)
    assert geometry.voxel_volume_mm3 == pytest.approx(0.75)
    assert geometry.is_axis_aligned
    assert not oblique_geometry().is_axis_aligned


def test_contains_index_edges():
    geometry = Geometry((2, 3, 4), (1, 1, 1), (0, 0, 0))
    assert geometry.contains_index([3, 2, 1])
    assert not geometry.contains_index([4, 0, 0])
    assert not geometry.contains_index([0, 0, -1])


def test_cropped_geometry_places_voxels_identically():
    geometry = oblique_geometry()
    crop = geometry.cropped((2, 4, 6), (5, 5, 5))
    np.testing.assert_allclose(crop.index_to_lps([0, 0, 0]), geometry.index_to_lps([6, 4, 2]))
    np.testing.assert_allclose(crop.index_to_lps([1, 2, 3]), geometry.index_to_lps([7, 6, 5]))


def test_matches_within_tolerance_only():
    geometry = oblique_geometry()
    nudged = Geometry(
        geometry.shape, geometry.spacing_mm, geometry.origin_lps_mm + 5e-5, geometry.direction
    )
    moved = Geometry(
        geometry.shape, geometry.spacing_mm, geometry.origin_lps_mm + 0.01, geometry.direction
    )
    assert geometry.matches(nudged)
    assert not geometry.matches(moved)
    with pytest.raises(GeometryMismatchError, match="label map"):
        geometry.require_match(moved, what="label map")


def test_rejects_bad_shape():
    with pytest.raises(InvalidParameterError, match="shape"):
        Geometry((0, 3, 3), (1, 1, 1), (0, 0, 0))


def test_rejects_non_positive_spacing():
    with pytest.raises(InvalidParameterError, match="spacing_mm"):
        Geometry((3, 3, 3), (1, 0, 1), (0, 0, 0))


def test_rejects_nan_origin():
    with pytest.raises(InvalidParameterError, match="origin_lps_mm"):
        Geometry((3, 3, 3), (1, 1, 1), (0, np.nan, 0))


def test_rejects_sheared_direction():
    sheared = np.array([[1, 0, 0], [0, 1, 0.3], [0, 0, 1.0]])
    with pytest.raises(InvalidParameterError, match="orthonormal"):
        Geometry((3, 3, 3), (1, 1, 1), (0, 0, 0), sheared)


def test_arrays_are_read_only():
    geometry = oblique_geometry()
    with pytest.raises(ValueError, match="read-only"):
        geometry.origin_lps_mm[0] = 1.0
