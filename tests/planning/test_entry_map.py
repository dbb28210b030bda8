"""Feasible entry map: rejected directions and their reasons against closed-form geometry."""

from __future__ import annotations

import numpy as np
import pytest
from planning_phantoms import BODY_HALF_X_MM, BODY_HALF_Y_MM, torso_phantom

from planning_core.errors import InvalidParameterError
from planning_core.imaging.volume import Volume
from planning_core.planning.approach import ApproachRules, approach_for_case
from planning_core.planning.entry_map import (
    BLOCKED,
    CRANIOCAUDAL_ANGLE,
    ENTRY_DOWN_SIDE,
    GANTRY,
    LEAVES_IMAGE,
    TABLE_SIDE,
    TOO_LONG,
    feasible_entries,
)
from planning_core.planning.optimizer.candidates import candidate_directions
from planning_core.planning.settings import PlanSettings
from planning_core.planning.trajectory import TrajectoryContext, directions_from_angles_deg

TARGET = (0.0, 0.0, 0.0)


@pytest.fixture(scope="module")
def context() -> TrajectoryContext:
    return TrajectoryContext(torso_phantom(), PlanSettings())


@pytest.fixture(scope="module")
def entry_map(context):
    return feasible_entries(context, TARGET, direction_count=2000)


def test_angle_flags_follow_the_settings_exactly(entry_map):
    table = (entry_map.reasons & TABLE_SIDE) != 0
    np.testing.assert_array_equal(table, entry_map.directions_lps[:, 1] > 0)  # posterior
    tilted = (entry_map.reasons & CRANIOCAUDAL_ANGLE) != 0
    np.testing.assert_array_equal(tilted, np.abs(entry_map.craniocaudal_deg) > 30.0)


def test_skin_entries_lie_on_the_elliptic_cylinder(entry_map):
    in_plane_skin = ~np.isnan(entry_map.path_length_mm) & (
        np.abs(entry_map.craniocaudal_deg) < 20.0
    )
    u = entry_map.directions_lps[in_plane_skin]
    # A ray from the axis meets x²/a² + y²/b² = 1 after this distance (the z extent is larger).
    analytic = 1.0 / np.hypot(u[:, 0] / BODY_HALF_X_MM, u[:, 1] / BODY_HALF_Y_MM)
    np.testing.assert_allclose(entry_map.path_length_mm[in_plane_skin], analytic, atol=1.5)
    np.testing.assert_allclose(
        entry_map.entries_lps_mm[in_plane_skin],
        np.asarray(TARGET) + u * entry_map.path_length_mm[in_plane_skin, None],
    )


def test_steep_rays_leave_the_image_through_its_top_and_bottom(entry_map):
    # Half the grid height (40 mm) is reached before the skin when |u_z| / |u_xy| > 40 / 70.
    leaves = (entry_map.reasons & LEAVES_IMAGE) != 0
    u = entry_map.directions_lps
    steep = np.abs(u[:, 2]) > np.hypot(u[:, 0], u[:, 1]) * (40.5 / 50.0)
    assert leaves[steep].all()
    assert np.isnan(entry_map.path_length_mm[leaves]).all()


def test_blocked_directions_cross_the_rib_clearance_zone(context, entry_map):
    blocked = np.flatnonzero(entry_map.reasons & BLOCKED)
    assert {entry_map.blocking_structure[i] for i in blocked} == {"bone", "aorta"}
    # The aorta lies behind the target, so only table-side directions meet it.
    aorta = [i for i in blocked if entry_map.blocking_structure[i] == "aorta"]
    assert (entry_map.reasons[aorta] & TABLE_SIDE).all()
    only_rib = int(np.flatnonzero(entry_map.reasons == BLOCKED)[0])
    assert entry_map.reasons_for(only_rib) == ("crosses the clearance zone of bone",)
    assert entry_map.reasons_for(int(np.flatnonzero(entry_map.feasible)[0])) == ()
    # The rib (radius 3 + clearance 2 around (20, -30)) subtends atan(5 / 36.06) each side.
    u = entry_map.directions_lps
    horizontal = np.hypot(u[:, 0], u[:, 1])
    toward_rib = np.array([20.0, -30.0]) / np.hypot(20.0, -30.0)
    off_axis = np.degrees(np.arccos(np.clip((u[:, :2] @ toward_rib) / horizontal, -1, 1)))
    half_width = np.degrees(np.arctan2(5.0, np.hypot(20.0, 30.0)))
    level = np.abs(entry_map.craniocaudal_deg) < 30.0
    by_rib = np.array([name == "bone" for name in entry_map.blocking_structure])
    assert by_rib[level & (off_axis < half_width - 1.5)].all()
    assert not by_rib[level & (off_axis > half_width + 1.5)].any()


def test_every_feasible_direction_passes_the_single_path_check(context, entry_map):
    feasible = np.flatnonzero(entry_map.feasible)
    assert len(feasible) > 200
    for index in feasible[:: len(feasible) // 25]:
        report = context.analyze_path(TARGET, entry_map.entries_lps_mm[index])
        assert report.acceptable, report.problems
        assert report.length_in_body_mm == pytest.approx(entry_map.path_length_mm[index], abs=0.6)


def test_blocked_directions_fail_the_single_path_check(context, entry_map):
    for index in np.flatnonzero(entry_map.reasons == BLOCKED)[:10]:
        report = context.analyze_path(TARGET, entry_map.entries_lps_mm[index])
        assert any(p.startswith("passes bone") for p in report.problems)


def test_short_usable_length_rejects_far_skin(context):
    directions = directions_from_angles_deg(
        0.0, np.array([0.0, 60.0]), context.settings.table_direction_lps()
    )
    result = feasible_entries(context, TARGET, directions_lps=-directions, usable_length_mm=55.0)
    # Straight up the skin is 50.5 mm away; at 60° toward the right it is about 62 mm.
    assert result.reasons.tolist() == [0, TOO_LONG]
    assert result.path_length_mm[1] > 55.0


def test_structures_around_the_target_are_exempt(context):
    # A target 1 mm from the rib's nearest voxel lies in its 2 mm clearance zone.
    result = feasible_entries(context, (20.0, -26.0, 0.0), direction_count=200)
    assert result.exempt == ("bone",)
    assert "bone" not in result.blocking_structure
    straight_through = feasible_entries(context, (20.0, -26.0, 0.0), directions_lps=[[0, -1, 0]])
    assert straight_through.feasible.tolist() == [True]


def test_target_outside_the_body_is_refused(context):
    with pytest.raises(InvalidParameterError, match="outside the body"):
        feasible_entries(context, (75.0, 55.0, 0.0))


def test_zero_direction_is_refused(context):
    with pytest.raises(InvalidParameterError, match="non-zero"):
        feasible_entries(context, TARGET, directions_lps=[[0.0, 0.0, 0.0]])


def _approach(context: TrajectoryContext, position: str, **rules: float):
    """The phantom as a CT without a table, its header stating ``position``."""
    body = context.body_mask
    hu = np.where(body, 20.0, -1000.0).astype(np.float32)
    volume = Volume(hu, context.geometry, "CT", {"patient_position": position})
    return approach_for_case(volume, body_mask=body, rules=ApproachRules(**rules))


def test_without_approach_rules_no_entry_is_refused_for_them(entry_map):
    assert not np.any(entry_map.reasons & (ENTRY_DOWN_SIDE | GANTRY))


def test_entries_near_the_table_are_refused_with_the_approach_rules(context):
    approach = _approach(context, "HFS")
    result = feasible_entries(context, TARGET, direction_count=2000, approach=approach)
    found = ~np.isnan(result.path_length_mm)
    # The back (y = +50 mm) rests on the table: entries below 40 mm above it, y > 10 mm.
    down_side = (result.reasons & ENTRY_DOWN_SIDE) != 0
    np.testing.assert_array_equal(down_side, found & (result.entries_lps_mm[:, 1] > 10.0))
    assert "entry on the side the patient lies on" in result.reasons_for(
        int(np.flatnonzero(down_side)[0])
    )


def test_handles_outside_the_bore_are_refused(context):
    approach = _approach(context, "HFS", bore_diameter_mm=320.0, min_entry_height_mm=0.0)
    directions = -directions_from_angles_deg(
        0.0, np.array([0.0, 90.0]), context.settings.table_direction_lps()
    )
    result = feasible_entries(context, TARGET, directions_lps=directions, approach=approach)
    # Straight down from the front: handle end at y = -150 mm, inside the 160 mm radius;
    # horizontal from the right flank: x = -170 mm, outside.
    assert result.reasons.tolist() == [0, GANTRY]


def test_prone_candidates_keep_their_entries_off_the_table(context):
    prone = TrajectoryContext(context.label_map, PlanSettings(patient_position="HFP"))
    target = np.array([0.0, -25.0, 0.0])
    without, _ = candidate_directions(prone, target, count=12, min_separation_deg=5.0)
    chosen, _ = candidate_directions(
        prone, target, count=12, min_separation_deg=5.0, approach=_approach(context, "HFP")
    )

    # The front (y = -50 mm) rests on the table: entries must lie at y >= -10 mm.
    def entry_y(candidates):
        lengths = np.array([c.path_length_mm for c in candidates])
        points = target - np.array([c.insertion_lps for c in candidates]) * lengths[:, None]
        return points[:, 1]

    assert entry_y(without).min() < -10.0  # the settings alone allow them
    assert len(chosen) > 0 and entry_y(chosen).min() >= -10.0
