"""Optimizer parts: rule of thumb, patterns, protocol families, surrogate against the solver."""

from __future__ import annotations

import math

import numpy as np
import pytest
from planning_phantoms import torso_phantom

from planning_core.errors import InvalidParameterError
from planning_core.planning.metrics import margin_zone_mask
from planning_core.planning.optimizer.candidates import ShaftIce
from planning_core.planning.optimizer.duration import (
    default_family_name,
    protocol_family,
    reference_protocol,
)
from planning_core.planning.optimizer.layout import (
    DISK_COVERING_RATIOS,
    pattern_offsets,
    plane_basis,
    ring_radius_for_spacing,
    rule_of_thumb_probe_count,
    spacing_ok,
)
from planning_core.planning.optimizer.optimize import (
    freeze_cap_notes,
    planned_freeze_limit_s,
    solver_rounds_message,
)
from planning_core.planning.optimizer.problem import prepare_problem
from planning_core.planning.optimizer.surrogate import probe_kernel, surrogate_temperature_c
from planning_core.planning.settings import PlanGoal, PlanSettings
from planning_core.thermal.probes import PlacedProbe, ProbeModel
from planning_core.thermal.protocol import parse_protocol
from planning_core.thermal.setup import build_setup
from planning_core.thermal.solver import simulate

ARGON = ProbeModel(
    id="test-argon", name="test argon", cryogen="argon", diameter_mm=2.4,
    active_length_mm=30.0, tip_offset_mm=5.0,
)  # fmt: skip
NITROGEN = ProbeModel(
    id="test-ln2", name="test ln2", cryogen="liquid_nitrogen", diameter_mm=3.4,
    active_length_mm=20.0, tip_offset_mm=4.0, plateau_c=-170.0, time_constant_s=60.0,
)  # fmt: skip


# -- ice along the shaft of a candidate direction ------------------------------------------
def test_shaft_ice_measures_how_deep_guard_points_reach_into_the_capsule():
    # A guard point 20 mm above the target (-y): a path rising straight toward it has it
    # on its axis; a level path passes it at 20 mm; a 45-degree path at 20 / sqrt(2) mm.
    ice = ShaftIce(reach_mm=25.0, radius_mm=18.0, guard_points_lps_mm=np.array([[0, -20.0, 0]]))
    level, rising, steep = np.array(
        [[1.0, 0, 0], [math.sqrt(0.5), -math.sqrt(0.5), 0], [0, -1.0, 0]]
    )
    intrusion = ice.intrusion_mm(np.zeros(3), np.vstack([level, rising, steep]))
    np.testing.assert_allclose(intrusion, [0.0, 18.0 - 20.0 / math.sqrt(2.0), 18.0], atol=1e-9)
    # Behind the entry direction the capsule ends at the target: the distance is 20 mm.
    assert ice.intrusion_mm(np.zeros(3), -steep[None, :])[0] == 0.0
    short = ShaftIce(reach_mm=5.0, radius_mm=18.0, guard_points_lps_mm=ice.guard_points_lps_mm)
    assert short.intrusion_mm(np.zeros(3), steep[None, :])[0] == pytest.approx(3.0)
    empty = ShaftIce(reach_mm=5.0, radius_mm=18.0, guard_points_lps_mm=np.zeros((0, 3)))
    assert empty.intrusion_mm(np.zeros(3), steep[None, :]).tolist() == [0.0]


# -- rule of thumb and patterns ------------------------------------------------------------
def test_one_probe_when_its_lethal_zone_spans_the_target():
    assert rule_of_thumb_probe_count(20.0, 10.0) == 1
    assert rule_of_thumb_probe_count(20.0, 9.99) == 3  # two disks never beat one


def test_rule_of_thumb_follows_the_disk_covering_numbers():
    for count, ratio in enumerate(DISK_COVERING_RATIOS, start=1):
        if count == 2:
            continue
        assert rule_of_thumb_probe_count(2.0, ratio) == count
        assert rule_of_thumb_probe_count(2.0, ratio - 0.002) > count


def test_three_disks_at_the_covering_ratio_cover_the_disk():
    # Independent check of the n = 3 value: disks of radius sqrt(3)/2 centred at
    # radius 1/2 (120° apart) cover every point of the unit disk.
    r = DISK_COVERING_RATIOS[2]
    thirds = np.array([0.0, 2.0, 4.0]) * np.pi / 3.0
    centres = 0.5 * np.column_stack([np.cos(thirds), np.sin(thirds)])
    angle, radius = np.meshgrid(np.linspace(0, 2 * np.pi, 360), np.linspace(0, 1, 50))
    points = np.column_stack([(radius * np.cos(angle)).ravel(), (radius * np.sin(angle)).ravel()])
    nearest = np.min(np.linalg.norm(points[:, None] - centres[None], axis=-1), axis=1)
    assert nearest.max() <= r + 1e-6


def test_large_targets_use_the_hexagonal_covering_and_keep_growing():
    counts = [rule_of_thumb_probe_count(d, 5.0) for d in (40.0, 60.0, 80.0)]
    assert counts[0] > len(DISK_COVERING_RATIOS)
    assert counts[0] < counts[1] < counts[2]


def test_rule_of_thumb_needs_a_lethal_zone():
    with pytest.raises(InvalidParameterError, match="no lethal temperature"):
        rule_of_thumb_probe_count(20.0, 0.0)


@pytest.mark.parametrize("count", [2, 3, 4, 5, 6, 7])
def test_ring_radius_gives_the_requested_neighbour_spacing(count):
    offsets = pattern_offsets(count, ring_radius_for_spacing(count, 15.0), 0.3)
    distance = np.linalg.norm(offsets[:, None] - offsets[None], axis=-1)
    np.fill_diagonal(distance, np.inf)
    assert distance.min() == pytest.approx(15.0, abs=1e-9)


def test_patterns_from_six_probes_have_a_centre_probe():
    assert np.allclose(pattern_offsets(6, 12.0, 0.0)[0], 0.0)
    assert not np.any(np.all(np.isclose(pattern_offsets(5, 12.0, 0.0), 0.0), axis=1))
    assert pattern_offsets(1, 12.0, 0.0).shape == (1, 2)


def test_plane_basis_is_orthonormal():
    axis = np.array([0.3, -0.5, 0.81])
    axis /= np.linalg.norm(axis)
    u, v = plane_basis(axis)
    frame = np.vstack([u, v, axis])
    np.testing.assert_allclose(frame @ frame.T, np.eye(3), atol=1e-12)


def test_spacing_limits():
    tips = np.array([[0.0, 0, 0], [12.0, 0, 0], [24.0, 0, 0]])
    assert spacing_ok(tips, min_spacing_mm=10.0, max_spacing_mm=20.0)
    assert not spacing_ok(tips, min_spacing_mm=13.0, max_spacing_mm=20.0)
    assert not spacing_ok(tips * 2.0, min_spacing_mm=10.0, max_spacing_mm=20.0)


# -- protocol families -----------------------------------------------------------------------
def test_family_is_sorted_and_limited_by_the_longest_freeze():
    family = protocol_family("double-freeze", max_total_freeze_s=1200.0)
    freezes = [p.freeze_time_s for p in family]
    assert freezes == sorted(freezes)
    assert max(freezes) == 1200.0
    assert reference_protocol(family).code == "F10-T8-F10"


def test_family_defaults_follow_cryogen_and_organ():
    assert default_family_name(NITROGEN, "breast_tissue") == "liquid-nitrogen"
    assert default_family_name(ARGON, "lung") == "lung-triple-freeze"
    assert default_family_name(ARGON, "kidney") == "double-freeze"
    lung = protocol_family("lung-triple-freeze", max_total_freeze_s=1800.0)
    assert reference_protocol(lung).code == parse_protocol("lung-3-7-10").code


def test_unknown_family_and_too_short_limit_are_refused():
    with pytest.raises(InvalidParameterError, match="unknown protocol family"):
        protocol_family("triple", max_total_freeze_s=1800.0)
    # The user-facing option, never the setting's internal name (issue 17).
    with pytest.raises(InvalidParameterError, match=r"5 min .*--max-freeze-min / 'Max total") as e:
        protocol_family("double-freeze", max_total_freeze_s=300.0)
    assert "max_total_freeze_s" not in str(e.value)


# -- surrogate against the solver --------------------------------------------------------------
def _solver_field(tips, axis, code="F10-T8-F10"):
    length = ARGON.tip_offset_mm + ARGON.active_length_mm + 60.0
    probes = [PlacedProbe(ARGON, tip, np.add(tip, np.multiply(axis, length))) for tip in tips]
    setup = build_setup(probes, medium="soft_tissue", spacing_mm=2.0, margin_mm=40.0)
    return simulate(setup, parse_protocol(code), isotherms_c=())


@pytest.fixture(scope="module")
def kernel():
    return probe_kernel(ARGON, "F10-T8-F10", "soft_tissue")


def test_kernel_reproduces_an_obliquely_placed_probe(kernel):
    axis = np.array([1.0, 1.0, 0.5]) / 1.5
    tip = np.array([3.0, -2.0, 1.0])
    result = _solver_field([tip], axis)
    rng = np.random.default_rng(3)
    centre = tip + axis * kernel.active_center_mm
    points = centre + rng.uniform(-20.0, 20.0, (400, 3))
    expected = result.temperature_at(points)
    got = surrogate_temperature_c(kernel, tip[None], axis, points)
    # Both sample 2-mm grids, differently oriented: a few degrees of interpolation error.
    assert np.median(np.abs(got - expected)) < 3.0
    lethal_radius = kernel.radius_mm(-40.0)
    assert 5.0 < lethal_radius < kernel.radius_mm(0.0)


def test_superposition_matches_the_solver_for_a_three_probe_cluster(kernel):
    axis = np.array([0.0, 0.0, 1.0])
    angles = np.array([0.0, 2.0, 4.0]) * np.pi / 3.0
    tips = np.column_stack([8.0 * np.cos(angles), 8.0 * np.sin(angles), np.zeros(3)])
    result = _solver_field(tips, axis)
    geometry = result.geometry
    nk, nj, ni = geometry.shape
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    points = geometry.index_to_lps(np.column_stack([i.ravel(), j.ravel(), k.ravel()]).astype(float))
    solver = np.count_nonzero(result.min_temperature_c <= -40.0)
    surrogate = np.count_nonzero(surrogate_temperature_c(kernel, tips, axis, points) <= -40.0)
    union = np.count_nonzero(
        np.min([surrogate_temperature_c(kernel, t[None], axis, points) for t in tips], axis=0)
        <= -40.0
    )
    assert surrogate == pytest.approx(solver, rel=0.25)
    assert union < 0.8 * solver  # the synergy the superposition captures


def test_scaled_kernel_scales_isotherm_radii(kernel):
    scaled = kernel.scaled(0.8)
    assert scaled.radius_mm(-40.0) == pytest.approx(0.8 * kernel.radius_mm(-40.0), rel=1e-9)
    deep, shallow = kernel.axial_reach_mm(-40.0)
    deep_s, shallow_s = scaled.axial_reach_mm(-40.0)
    assert shallow_s - deep_s == pytest.approx(0.8 * (shallow - deep), rel=1e-9)
    assert math.isclose(kernel.scale, 1.0)


def test_solver_rounds_message_names_what_the_best_plan_failed():
    # A real-CT kidney plan covered 99.7 % yet failed: the ice came 9.7 mm from the bowel.
    text = solver_rounds_message(99.7, 5.0, 99.0, ["ice edge 9.7 mm from bowel (clearance 10 mm)"])
    assert "the best covers 99.7 % of tumor + 5 mm (goal 99 %) but fails: ice edge 9.7" in text
    # The user-facing names of what to change, never the settings' internal names.
    assert "--max-probes" in text and "'Organ clearance (default)'" in text
    assert "oar_clearances_mm" not in text and "max_total_freeze_s" not in text
    assert "fails" not in solver_rounds_message(80.0, 5.0, 99.0, [])


def test_visible_ice_plans_freeze_at_most_the_standard_protocol():
    # Issue 18: teams planning by the visible ice run at most two 10-min freezes.
    assert planned_freeze_limit_s(PlanSettings(goal=PlanGoal.VISIBLE_ICE)) == 20 * 60.0
    assert planned_freeze_limit_s(PlanSettings(goal="visible-ice", max_total_freeze_s=600)) == 600
    assert planned_freeze_limit_s(PlanSettings()) == PlanSettings().max_total_freeze_s
    (note,) = freeze_cap_notes(PlanSettings(goal=PlanGoal.VISIBLE_ICE))
    assert "at most 20 min" in note and "--max-freeze-min" in note
    assert freeze_cap_notes(PlanSettings(goal="visible-ice", max_total_freeze_s=600)) == ()
    assert freeze_cap_notes(PlanSettings()) == ()


def test_the_zone_reaches_the_margin_beyond_the_tumor_surface():
    # The minimal margin is measured from the tumor's surface, half a voxel beyond its
    # outermost voxel centres: the zone the search covers reaches that much farther.
    labels = torso_phantom(tumor_radius_mm=5.0)
    settings = PlanSettings(margin_mm=3.0)
    problem = prepare_problem(labels, settings, ice_gap_mm=5.0)
    spacing_mm = float(np.max(problem.crop.spacing_mm))
    grown = margin_zone_mask(problem.tumor, problem.crop, 3.0 + 0.5 * spacing_mm)
    assert np.array_equal(problem.zone, grown)
    assert problem.zone.sum() > margin_zone_mask(problem.tumor, problem.crop, 3.0).sum()


# -- the coarse check's prediction of the verification's organ clearance -------------------
def _bowel_problem():
    from planning_phantoms import grid_lps, with_label

    labels = torso_phantom(tumor_radius_mm=8.0)
    lps = grid_lps(labels.geometry)
    # A bowel loop 30 mm beside the tumor centre: 22 mm from its surface.
    bowel = np.linalg.norm(lps - np.array([30.0 + 6.0, 0.0, 0.0]), axis=-1) <= 6.0
    labels = with_label(labels, "bowel", bowel)
    return prepare_problem(labels, PlanSettings(margin_mm=5.0), ice_gap_mm=5.0)


def test_every_guard_voxel_is_kept_for_the_coarse_check_with_its_distance():
    problem = _bowel_problem()
    guard = next(g for g in problem.guards if g.name == "bowel")
    assert len(guard.check_points_lps_mm) == len(guard.check_distances_mm)
    assert len(guard.check_points_lps_mm) > len(guard.points_lps_mm)
    # The surrogate's points are a subsample of them.
    every = {tuple(p) for p in np.round(guard.check_points_lps_mm, 6)}
    assert all(tuple(p) in every for p in np.round(guard.points_lps_mm, 6))
    # The distance is to the nearest organ voxel centre (a sphere of radius 6 mm around
    # x = 36: its outermost centres lie 6 mm from the centre on the grid axes).
    centre_distance = np.linalg.norm(guard.check_points_lps_mm - [36.0, 0.0, 0.0], axis=1)
    outside = guard.check_distances_mm > 0
    assert np.all(guard.check_distances_mm[outside] >= centre_distance[outside] - 6.0 - 1e-9)
    assert np.all(guard.check_distances_mm <= guard.guard_mm + 1e-9)


def test_a_clearance_miss_is_predicted_only_from_a_measured_offset():
    from types import SimpleNamespace

    from planning_core.planning.optimizer.verify import CheckResult, reach_offsets_mm
    from planning_core.planning.results import OarMetrics

    problem = _bowel_problem()
    clearance = next(g for g in problem.guards if g.name == "bowel").clearance_mm
    first = CheckResult(99.5, (), {"bowel": clearance + 0.6}, simulation=None)
    # Nothing measured yet: no prediction, the plan is verified.
    assert first.predicted_misses(problem, {}) == {}
    # The verification of that plan measured the ice 0.8 mm nearer than the coarse grid.
    metrics = SimpleNamespace(
        oars=(
            OarMetrics("bowel", clearance - 0.2, clearance, 0.0, 0.0),
            OarMetrics("skin", None, 5.0, 0.0, 0.0),
        )
    )
    offsets = reach_offsets_mm(first, metrics)
    assert offsets == pytest.approx({"bowel": 0.8})
    later = CheckResult(99.5, (), {"bowel": clearance + 0.7}, simulation=None)
    assert later.predicted_misses(problem, offsets) == pytest.approx({"bowel": clearance - 0.1})
    # Farther ice, or no frozen guard voxel at all, predicts no miss.
    farther = CheckResult(99.5, (), {"bowel": clearance + 0.9}, simulation=None)
    assert farther.predicted_misses(problem, offsets) == {}
    assert CheckResult(99.5, (), {}, simulation=None).predicted_misses(problem, offsets) == {}


def test_infeasibility_cites_the_solver_figure_once_the_solver_ran():
    # The surrogate's estimate may sit above the goal (short of its headroom only) while
    # the solver measured less: the message must not read "99.3 % (goal 99 %)".
    from types import SimpleNamespace

    from planning_core.planning.optimizer.optimize import _infeasible
    from planning_core.planning.optimizer.search import Layout

    settings = PlanSettings()
    layout = Layout(
        count=8, parameters=np.zeros(0), tips_lps_mm=np.zeros((8, 3)),
        insertions_lps=np.zeros((8, 3)), entries_lps_mm=np.zeros((8, 3)), coverage=0.993,
        hard_violation=0.0, soft_violation=0.0, score=0.993,
    )  # fmt: skip
    run = SimpleNamespace(
        partial_plan=lambda: None, frozen_at_refusal=(), search=SimpleNamespace(goal=0.995),
        family=[parse_protocol("F15-T8-F15")], goal_percent=99.0, best_partial=None,
        heat_sink_note=lambda: "",
    )  # fmt: skip
    assert "at best 99.3 % of tumor + 5 mm on the fast estimate" in str(
        _infeasible(run, layout, settings)
    )
    run.best_partial = (1, 98.9, None)
    text = str(_infeasible(run, layout, settings))
    assert "at best 98.9 % of tumor + 5 mm on the 2-mm solver check (goal 99 %)" in text
    assert "--max-probes" in text
