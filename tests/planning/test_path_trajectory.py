"""Straight probe paths on a phantom with closed-form distances, lengths and angles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from planning_phantoms import grid_lps, torso_phantom, with_label
from scipy import ndimage

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.body import body_mask_from_ct, body_mask_from_labels
from planning_core.planning.plan import PlannedProbe
from planning_core.planning.settings import PlanSettings
from planning_core.planning.trajectory import (
    TrajectoryContext,
    directions_from_angles_deg,
    probe_angles_deg,
)

# The skin is found by nearest-voxel look-ups every 0.5 mm: within half a voxel plus a step.
SKIN_TOLERANCE_MM = 0.5 + 0.5


@pytest.fixture(scope="module")
def phantom() -> LabelMap:
    return torso_phantom()


@pytest.fixture(scope="module")
def context(phantom) -> TrajectoryContext:
    return TrajectoryContext(phantom, PlanSettings())


def test_vertical_anterior_path(context):
    report = context.analyze_path((0.0, 0.0, 0.0), (0.0, -80.0, 0.0))
    # Skin at y = -50 mm (the voxel face lies at -50.5).
    assert report.length_in_body_mm == pytest.approx(50.5, abs=SKIN_TOLERANCE_MM)
    assert report.skin_entry_lps_mm == pytest.approx((0.0, -report.length_in_body_mm, 0.0))
    assert (report.craniocaudal_angle_deg, report.in_plane_angle_deg) == (0.0, 0.0)
    assert report.elevation_deg == pytest.approx(90.0)
    # Nearest rib voxel centre: (17, -30) from the shaft x = 0, y in [-50, 0].
    assert report.closest_mm["bone"] == pytest.approx(17.0, abs=1e-9)
    # The aorta rod (centre (-30, 15), radius 8) is nearest to the tip (0, 0).
    assert report.closest_mm["aorta"] == pytest.approx(math.hypot(30, 15) - 8.0, abs=0.5)
    assert report.closest_by_group_mm() == {
        "bone": report.closest_mm["bone"],
        "large_vessels": report.closest_mm["aorta"],
    }
    assert report.acceptable and report.fits_usable_length


def test_entry_inside_the_body_extends_to_the_skin(context):
    report = context.analyze_path((0.0, 0.0, 0.0), (0.0, -20.0, 0.0))
    assert report.length_in_body_mm == pytest.approx(50.5, abs=SKIN_TOLERANCE_MM)


def test_oblique_path_angles_and_length(context):
    # Tip toward the patient's left of the entry (+x), entry 30 mm right and 40 mm anterior.
    report = context.analyze_path((0.0, 0.0, 0.0), (-30.0, -40.0, 0.0))
    assert report.in_plane_angle_deg == pytest.approx(math.degrees(math.atan2(3, 4)))
    assert report.elevation_deg == pytest.approx(math.degrees(math.atan2(4, 3)))
    # Ray (-0.6, -0.8) t meets x²/70² + y²/50² = 1 at t = 1/sqrt(0.36/4900 + 0.64/2500).
    skin = 1.0 / math.sqrt(0.36 / 70**2 + 0.64 / 50**2)
    assert report.length_in_body_mm == pytest.approx(skin, abs=SKIN_TOLERANCE_MM)


def test_craniocaudal_tilt_sign_and_limit(context):
    # Entry superior of the tip: the tip lies toward the feet, so the angle is negative.
    tilted = context.analyze_path((0.0, 0.0, 0.0), (0.0, -40.0, 30.0))
    assert tilted.craniocaudal_angle_deg == pytest.approx(-math.degrees(math.atan2(30, 40)))
    assert any("craniocaudal angle -37°" in p for p in tilted.problems)
    cranial = context.analyze_path((0.0, 0.0, 0.0), (0.0, -40.0, -10.0))
    assert cranial.craniocaudal_angle_deg == pytest.approx(math.degrees(math.atan2(10, 40)))
    assert cranial.acceptable


def test_path_through_the_rib_is_refused_and_counted(context):
    report = context.analyze_path((20.0, -10.0, 0.0), (20.0, -80.0, 0.0))
    assert report.closest_mm["bone"] == 0.0
    assert report.crossings == {"bone": 1}
    assert report.problems == ("passes bone at 0.0 mm (clearance 2 mm)",)


def test_path_grazing_the_rib_within_its_clearance_is_refused(context):
    # Shaft at x = 24.5: 1.5 mm from the nearest rib voxel centre (23, -30), clearance 2 mm.
    report = context.analyze_path((24.5, -10.0, 0.0), (24.5, -80.0, 0.0))
    assert report.closest_mm["bone"] == pytest.approx(1.5)
    assert "bone" not in report.crossings
    assert any(p.startswith("passes bone") for p in report.problems)


def test_path_longer_than_the_usable_shaft(context):
    report = context.analyze_path((0.0, 0.0, 0.0), (0.0, -80.0, 0.0), usable_length_mm=40.0)
    assert not report.fits_usable_length
    assert report.problems == ("needs 51 mm inside the body; the usable shaft length is 40 mm",)


def test_entry_from_the_table_side_is_refused(context):
    report = context.analyze_path((0.0, 0.0, 0.0), (0.0, 80.0, 0.0))
    assert report.elevation_deg == pytest.approx(-90.0)
    assert any("table side" in p for p in report.problems)


def test_prone_patient_is_entered_from_the_back(phantom):
    prone = TrajectoryContext(phantom, PlanSettings(patient_position="HFP"))
    assert any("table side" in p for p in prone.analyze_path((0, 0, 0), (0, -80, 0)).problems)
    assert prone.analyze_path((0.0, 0.0, 0.0), (0.0, 80.0, 0.0)).acceptable


def test_tip_outside_the_body(context):
    report = context.analyze_path((69.0, 49.0, 0.0), (69.0, -80.0, 0.0))
    assert report.skin_entry_lps_mm is None
    assert report.problems[0] == "the tip lies outside the body"


def test_path_leaving_the_field_of_view_is_flagged(context):
    report = context.analyze_path((0.0, 0.0, 0.0), (0.0, -5.0, 60.0), usable_length_mm=300.0)
    assert "the path leaves the image before reaching the skin" in report.problems


def _with_lung(phantom: LabelMap) -> LabelMap:
    """``phantom`` with a lung cylinder of radius 15 mm around (45, 0) in a 2 mm pleura."""
    lps = grid_lps(phantom.geometry)
    radius = np.hypot(lps[..., 0] - 45.0, lps[..., 1])
    free = body_mask_from_labels(phantom) & ~phantom.mask("tumor") & (lps[..., 0] > 35.0)
    lung = with_label(phantom, "lung", free & (radius < 15.0))
    return with_label(lung, "pleura", free & (radius >= 15.0) & (radius < 17.0))


def test_lung_tumor_may_be_reached_through_lung_and_pleura():
    labels = _with_lung(torso_phantom(tumor_center_lps_mm=(45.0, 0.0, 0.0), tumor_radius_mm=8.0))
    context = TrajectoryContext(labels, PlanSettings())
    # The tip at the tumor centre lies 8 mm from the lung, beyond its 2 mm clearance: the lung
    # is exempt because it hosts the tumor, and its pleura with it.
    report = context.analyze_path((45.0, 0.0, 0.0), (45.0, -80.0, 0.0))
    assert report.exempt == ("lung", "pleura")
    assert report.crossings == {"lung": 1, "pleura": 1}
    assert report.acceptable


def test_target_beside_the_lung_may_not_be_reached_through_it(phantom):
    context = TrajectoryContext(_with_lung(phantom), PlanSettings())
    # A target behind the lung (5 mm from the pleura) may not be reached through it.
    assert context.analyze_path((0.0, 0.0, 0.0), (0.0, -80.0, 0.0)).exempt == ()
    through_lung = context.analyze_path((45.0, 20.0, 0.0), (45.0, -80.0, 0.0))
    assert not through_lung.exempt
    assert [p.split(" at ")[0] for p in through_lung.problems] == [
        "passes lung",
        "passes pleura",
    ]


def test_analyze_probe_matches_analyze_path(context):
    probe = PlannedProbe("argon-2.4", (0.0, 0.0, 0.0), (-30.0, -40.0, 0.0))
    assert context.analyze_probe(probe) == context.analyze_path((0, 0, 0), (-30, -40, 0))


@pytest.mark.parametrize("position", ["HFS", "HFP", "HFDL", "FFDR"])
def test_angles_round_trip_through_directions(position):
    down = PlanSettings(patient_position=position).table_direction_lps()
    cc = np.array([-25.0, 0.0, 10.0, 30.0])
    alpha = np.array([-60.0, 0.0, 45.0, 170.0])
    directions = directions_from_angles_deg(cc, alpha, down)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=-1), 1.0)
    back_cc, back_alpha, elevation = probe_angles_deg(directions, down)
    np.testing.assert_allclose(back_cc, cc, atol=1e-9)
    np.testing.assert_allclose(back_alpha, alpha, atol=1e-9)
    np.testing.assert_allclose(
        elevation, np.degrees(np.arcsin(np.cos(np.radians(cc)) * np.cos(np.radians(alpha))))
    )


def test_context_without_body_needs_a_body_mask():
    labels = LabelMap.empty(Geometry((4, 4, 4), (1, 1, 1), (0, 0, 0)))
    with pytest.raises(InvalidParameterError, match="no 'body' label"):
        TrajectoryContext(labels, PlanSettings())


def test_body_mask_of_the_wrong_shape_is_refused(phantom):
    with pytest.raises(InvalidParameterError, match="body_mask must be a boolean array"):
        TrajectoryContext(phantom, PlanSettings(), body_mask=np.ones((2, 2, 2), dtype=bool))


def test_body_from_ct_fills_the_lungs_and_drops_the_table():
    geometry = Geometry((20, 60, 80), (1.0, 1.0, 1.0), (-40.0, -30.0, -10.0))
    lps = grid_lps(geometry)
    x, y = lps[..., 0], lps[..., 1]
    hu = np.full(geometry.shape, -1000.0)
    body = (x / 30) ** 2 + (y / 20) ** 2 <= 1.0
    hu[body] = 40.0
    hu[body & ((x - 12) ** 2 + y**2 <= 36)] = -850.0  # a lung
    table = (y >= 20) & (y <= 22)  # 3 mm thick, touching the back at x = 0
    hu[table] = 100.0
    mask = body_mask_from_ct(Volume(hu, geometry, "CT"))
    assert mask[body].all()  # every slice, lung included
    # Where the table touches, the radius-2 opening keeps up to 2 voxels of it and the
    # restoration 2 more; nothing farther from the patient belongs to the body.
    steps_from_body = ndimage.distance_transform_cdt(~body, metric="taxicab")
    assert steps_from_body[mask].max() <= 2 + 2
    assert not mask[table & (np.abs(x) > 15)].any()


def test_holes_of_each_slice_are_filled_as_binary_fill_holes_does():
    # The body outline fills the holes of every axial slice in one labelling; it must
    # give what a fill per slice gives, whatever the shapes (random masks).
    from planning_core.planning.body import _fill_holes_per_slice

    rng = np.random.default_rng(0)
    for _ in range(30):
        shape = tuple(int(n) for n in rng.integers(1, 30, 3))
        mask = rng.random(shape) < rng.uniform(0.2, 0.8)
        expected = np.stack([ndimage.binary_fill_holes(plane) for plane in mask])
        np.testing.assert_array_equal(_fill_holes_per_slice(mask), expected)


def test_cross_step_is_scipys_erosion_and_dilation():
    # The body outline's opening and the organ surfaces of path planning replaced scipy's
    # binary morphology with shifted views: the same masks on random shapes, thin ones,
    # in-plane and 3-D crosses and both borders included.
    from planning_core.planning.masks import cross_step

    rng = np.random.default_rng(3)
    for axes in ((1, 2), (0, 1, 2)):
        cross = np.zeros((3, 3, 3), dtype=bool)
        cross[1, 1, 1] = True
        for axis in axes:
            cross[tuple(slice(None) if a == axis else 1 for a in range(3))] = True
        for _ in range(30):
            shape = tuple(int(n) for n in rng.integers(1, 25, 3))
            mask = rng.random(shape) < rng.uniform(0.3, 0.95)
            for border in (False, True):
                np.testing.assert_array_equal(
                    cross_step(mask, erode=True, axes=axes, border_value=border),
                    ndimage.binary_erosion(mask, structure=cross, border_value=border),
                )
            np.testing.assert_array_equal(
                cross_step(mask, erode=False, axes=axes),
                ndimage.binary_dilation(mask, structure=cross),
            )


def test_flat_indices_are_numpys_nearest_voxels_on_an_oblique_grid():
    # The compiled look-up must give the voxels of the numpy formula it replaced, points
    # on exact half-voxel steps and outside the grid included.
    from planning_core.planning.trajectory import _flat_indices

    rng = np.random.default_rng(7)
    angle = np.radians(11.0)
    direction = np.array(
        [[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0, 0, 1.0]]
    )
    geometry = Geometry((30, 40, 50), (0.78125, 0.78125, 2.5), (-20.3, -18.7, 5.25), direction)
    lps_to_ijk = geometry.direction / geometry.spacing_mm[np.newaxis, :]
    size = np.asarray(geometry.size_ijk, dtype=np.int64)
    for trial in range(50):
        points = np.asarray(geometry.origin_lps_mm) + rng.uniform(-10.0, 90.0, (500, 3))
        if trial % 2:
            points = np.round(points * 2.0) / 2.0
        flat, inside = _flat_indices(points, np.asarray(geometry.origin_lps_mm), lps_to_ijk, size)
        ijk = np.rint((points - geometry.origin_lps_mm) @ lps_to_ijk).astype(np.int64)
        expected_inside = np.all((ijk >= 0) & (ijk < size), axis=-1)
        ijk = np.where(expected_inside[:, None], ijk, 0)
        expected = (ijk[:, 2] * size[1] + ijk[:, 1]) * size[0] + ijk[:, 0]
        np.testing.assert_array_equal(inside, expected_inside)
        np.testing.assert_array_equal(flat, expected)


def test_leaving_stretches_are_freed_as_the_accumulated_rule_says():
    # Compiled rule against its numpy statement: on each row, a hazard's flag is cleared
    # from the tip while the path stays in the hazard's zone, except inside the hazard.
    from planning_core.planning.trajectory import _free_leaving_stretches

    rng = np.random.default_rng(11)
    for dtype in (np.uint8, np.uint16, np.uint64):
        zone = rng.integers(0, 16, (40, 25)).astype(dtype)
        zone[:, :3] |= dtype(0b0110)  # long stretches from the tip
        core = (rng.integers(0, 16, zone.shape) & rng.integers(0, 16, zone.shape)).astype(dtype)
        flags = np.array([0b0010, 0b0100], dtype=dtype)
        expected = zone.copy()
        for flag in flags:
            leaving = np.logical_and.accumulate((zone & flag) != 0, axis=-1)
            expected[leaving & ((core & flag) == 0)] &= dtype(~flag)
        bits = zone.copy()
        _free_leaving_stretches(bits, zone, core, flags)
        np.testing.assert_array_equal(bits, expected)
