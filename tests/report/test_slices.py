"""Reslice planes: radiological orientation, probe planes, sampling against closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.report.slices import (
    DoseField,
    direction_letter,
    oriented_plane,
    probe_planes,
    sample_at_indices,
    standard_planes,
)


def test_standard_planes_follow_radiological_convention():
    axial, coronal, sagittal = standard_planes((0.0, 0.0, 0.0), half_size_mm=10, pixel_mm=1)
    # left, right, top, bottom edges of the screen
    assert axial.edge_letters() == ("R", "L", "A", "P")
    assert coronal.edge_letters() == ("R", "L", "S", "I")
    assert sagittal.edge_letters() == ("A", "P", "S", "I")


def test_direction_letter_takes_the_dominant_component():
    assert direction_letter((0.2, -0.9, 0.1)) == "A"
    assert direction_letter((-0.7, 0.1, 0.6)) == "R"
    assert direction_letter((0.0, 0.3, -0.95)) == "I"


def test_oblique_plane_is_orthonormal_and_reads_like_its_nearest_standard_plane():
    plane = oriented_plane(
        (1, 2, 3), (0.3, 0.2, 0.93), half_width_mm=5, half_height_mm=5, pixel_mm=0.5
    )
    basis = np.array([plane.u_lps, plane.v_lps])
    np.testing.assert_allclose(basis @ basis.T, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(
        abs(plane.normal_lps @ np.array([0.3, 0.2, 0.93])),
        np.linalg.norm([0.3, 0.2, 0.93]),
        rtol=1e-12,
    )
    assert plane.edge_letters() == ("R", "L", "A", "P")


def test_probe_planes_contain_the_probe_axis():
    tip, entry = np.array([10.0, 5.0, -3.0]), np.array([40.0, 90.0, 20.0])
    for plane in probe_planes(tip, entry, pixel_mm=0.5):
        in_plane, distance = plane.project([tip, entry, 0.5 * (tip + entry)])
        np.testing.assert_allclose(distance, 0.0, atol=1e-9)
        assert np.all(np.abs(in_plane) <= plane.half_width_mm)
    first, second = probe_planes(tip, entry, pixel_mm=0.5)
    assert abs(first.normal_lps @ second.normal_lps) < 1e-12


def test_probe_views_show_the_ice_beyond_the_tip():
    # A long freeze puts the ice edge 20-30 mm past the tip; the view must not cut it off.
    tip, entry = np.array([0.0, 0.0, 0.0]), np.array([-100.0, 0.0, 0.0])
    beyond = tip + np.array([30.0, 0.0, 0.0])
    for plane in probe_planes(tip, entry, pixel_mm=0.5):
        (point,), _ = plane.project([beyond])
        assert np.all(np.abs(point) < [plane.half_width_mm, plane.half_height_mm])


def test_probe_planes_refuse_a_zero_length_probe():
    with pytest.raises(InvalidParameterError, match="coincide"):
        probe_planes((1, 1, 1), (1, 1, 1), pixel_mm=1)


def test_plane_indices_match_the_pixel_centres_on_an_oblique_grid():
    rotation = np.linalg.qr(np.array([[1.0, 0.2, 0.1], [0.1, 1.0, 0.3], [0.0, 0.2, 1.0]]))[0]
    geometry = Geometry((20, 30, 40), (0.7, 0.8, 1.5), (-5.0, 3.0, 7.0), rotation)
    plane = oriented_plane(
        (2, 4, 9), (0.1, 0.9, 0.2), half_width_mm=6, half_height_mm=4, pixel_mm=0.5
    )
    np.testing.assert_allclose(
        plane.indices(geometry), geometry.lps_to_index(plane.points_lps()), atol=1e-9
    )
    assert plane.points_lps().shape == (16, 24, 3)


def test_trilinear_sampling_is_exact_for_a_linear_field():
    geometry = Geometry((6, 7, 8), (1.0, 2.0, 3.0), (0.0, 0.0, 0.0), np.eye(3))
    k, j, i = np.meshgrid(np.arange(6), np.arange(7), np.arange(8), indexing="ij")
    values = (2.0 * i - 3.0 * j + 0.5 * k).astype(np.float32)
    ijk = np.array([[1.25, 2.5, 3.75], [6.5, 0.0, 4.9]])
    expected = 2.0 * ijk[:, 0] - 3.0 * ijk[:, 1] + 0.5 * ijk[:, 2]
    np.testing.assert_allclose(
        sample_at_indices(values, ijk, order=1, outside=99.0), expected, rtol=1e-6
    )
    field = DoseField(values, geometry, body_temperature_c=37.0)
    assert field.sample(np.array([[100.0, 0.0, 0.0]]))[0] == pytest.approx(37.0)


def test_nearest_sampling_rounds_and_fills_outside():
    values = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    ijk = np.array([[0.4, 0.6, 0.0], [3.0, 2.0, 1.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    sampled = sample_at_indices(values, ijk, order=0, outside=-1.0)
    np.testing.assert_array_equal(sampled, [values[0, 1, 0], values[1, 2, 3], -1.0, -1.0])


def test_dose_field_refuses_a_mismatched_grid():
    geometry = Geometry((2, 2, 2), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    with pytest.raises(InvalidParameterError, match="does not match"):
        DoseField(np.zeros((2, 2, 3), dtype=np.float32), geometry)
