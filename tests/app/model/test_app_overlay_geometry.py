"""Overlay geometry against closed forms: isotherm contours, signed margins, probe parts."""

from __future__ import annotations

import numpy as np
import pytest
from cryoplan_app.model.isotherms import plane_contours, signed_margin_mm
from cryoplan_app.model.plan_state import TemperatureField
from cryoplan_app.model.probe_geometry import (
    perpendicular_basis,
    plane_crossing,
    probe_parts,
    project_onto_plane,
)

from planning_core.imaging.geometry import Geometry
from planning_core.planning.plan import PlannedProbe
from planning_core.thermal.probes import ProbeModel

CENTRE = np.array([10.0, -20.0, 30.0])
# T = -100 °C + 5 °C/mm * r: the -40 °C isotherm is the sphere r = 12 mm, 0 °C is r = 20 mm.
SLOPE_C_PER_MM = 5.0


def _radial_field(spacing_mm: float = 1.0, half_size_mm: float = 30.0) -> TemperatureField:
    count = round(2 * half_size_mm / spacing_mm) + 1
    origin = CENTRE - half_size_mm
    geometry = Geometry((count,) * 3, np.full(3, spacing_mm), origin)
    axis = np.arange(count) * spacing_mm - half_size_mm
    k, j, i = np.meshgrid(axis, axis, axis, indexing="ij")
    radius = np.sqrt(i**2 + j**2 + k**2)
    values = (-100.0 + SLOPE_C_PER_MM * radius).astype(np.float32)
    return TemperatureField(values, geometry)


@pytest.mark.parametrize("offset_mm", [0.0, 7.0])
def test_contours_are_the_circles_where_the_plane_cuts_the_spheres(offset_mm) -> None:
    field = _radial_field()
    origin = CENTRE + np.array([0.0, 0.0, offset_mm])  # an axial plane offset_mm above
    contours = plane_contours(
        field, (0.0, -40.0), origin_lps=origin, right_lps=(1, 0, 0), up_lps=(0, -1, 0)
    )
    for level, sphere_radius in ((0.0, 20.0), (-40.0, 12.0)):
        (line,) = contours[level]
        expected = np.sqrt(sphere_radius**2 - offset_mm**2)
        in_plane = np.linalg.norm(line - origin, axis=1)
        # Trilinear sampling of a radial field: error below 0.1 mm at 1 mm spacing.
        np.testing.assert_allclose(in_plane, expected, atol=0.1)
        np.testing.assert_allclose(line[:, 2], origin[2], atol=1e-9)
        np.testing.assert_allclose(line[0], line[-1], atol=1e-9)  # closed


def test_plane_missing_the_field_gives_no_lines() -> None:
    contours = plane_contours(
        _radial_field(),
        (0.0,),
        origin_lps=CENTRE + np.array((0.0, 0.0, 100.0)),
        right_lps=(1, 0, 0),
        up_lps=(0, -1, 0),
    )
    assert contours == {0.0: []}


def test_level_colder_than_the_field_gives_no_lines() -> None:
    contours = plane_contours(
        _radial_field(), (-150.0,), origin_lps=CENTRE, right_lps=(1, 0, 0), up_lps=(0, 0, 1)
    )
    assert contours[-150.0] == []


def test_signed_margin_is_distance_to_the_lethal_sphere() -> None:
    field = _radial_field()
    directions = np.array([[1, 0, 0], [0, 1, 1], [1, -1, 1], [-1, 0, 0.3]], dtype=float)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    for radius in (4.0, 9.0, 15.0, 22.0):
        margins = signed_margin_mm(field, -40.0, CENTRE + radius * directions)
        # Voxelised distance transforms: within one voxel (1 mm) of the exact 12 - r.
        np.testing.assert_allclose(margins, 12.0 - radius, atol=0.75)


def test_margin_sign_tells_inside_from_outside() -> None:
    field = _radial_field()
    inside, outside = signed_margin_mm(
        field, -40.0, [CENTRE + np.array((11.0, 0, 0)), CENTRE + np.array((13.0, 0, 0))]
    )
    assert inside > 0 > outside


MODEL = ProbeModel("m", "m", "argon", diameter_mm=2.0, active_length_mm=30.0, tip_offset_mm=5.0)


def test_probe_parts_follow_the_shaft() -> None:
    probe = PlannedProbe("m", (0.0, 0.0, 0.0), (0.0, 100.0, 0.0), "P1")
    parts = probe_parts(probe, MODEL)
    np.testing.assert_allclose(parts.active_start, (0, 5, 0))
    np.testing.assert_allclose(parts.active_end, (0, 35, 0))
    np.testing.assert_allclose(parts.direction, (0, -1, 0))


def test_projection_and_crossing() -> None:
    projected = project_onto_plane(
        [[1.0, 2.0, 7.0], [0.0, 0.0, -3.0]], origin_lps=(0, 0, 2), normal_lps=(0, 0, 1)
    )
    np.testing.assert_allclose(projected, [[1, 2, 2], [0, 0, 2]])
    crossing = plane_crossing((0, 0, 0), (0, 10, 10), origin_lps=(0, 0, 4), normal_lps=(0, 0, 1))
    np.testing.assert_allclose(crossing, (0, 4, 4))
    assert plane_crossing((0, 0, 0), (0, 0, 3), origin_lps=(0, 0, 4), normal_lps=(0, 0, 1)) is None
    assert plane_crossing((0, 0, 0), (1, 0, 0), origin_lps=(0, 0, 4), normal_lps=(0, 0, 1)) is None


@pytest.mark.parametrize("axis", [(0, 1, 0), (0, 0, 1), (1, 1, 0.2), (0.3, -0.2, 1)])
def test_perpendicular_basis_is_orthonormal(axis) -> None:
    first, second = perpendicular_basis(axis)
    unit = np.asarray(axis, float) / np.linalg.norm(axis)
    matrix = np.stack([first, second, unit])
    np.testing.assert_allclose(matrix @ matrix.T, np.eye(3), atol=1e-12)
