"""The optimizer's shortcuts give the answers of the plain computations they replace.

``surrogate_temperature_c`` composes the probes' drops in compiled code, and
the layout search scores zone and organ guards from one call on all their
points; both must give what the kernel's own table look-up
(``ProbeKernel.temperature_drop_c``, scipy's bilinear interpolation) composes.
A tip whose common path is blocked looks for the nearest safe direction of its
cone in batches, nearest first; it must find the path a look-up of the whole
cone at once finds.
"""

from __future__ import annotations

import numpy as np
import pytest
from planning_phantoms import grid_lps, torso_phantom, with_label

from planning_core.planning.entry_map import feasible_entries
from planning_core.planning.optimizer.candidates import usable_paths
from planning_core.planning.optimizer.problem import prepare_problem
from planning_core.planning.optimizer.search import (
    CONE_DIRECTIONS,
    INDIVIDUAL_CONE_DEG,
    LayoutSearch,
)
from planning_core.planning.optimizer.surrogate import (
    SUPERPOSITION_POWER,
    probe_kernel,
    surrogate_temperature_c,
)
from planning_core.planning.settings import PlanSettings
from planning_core.planning.trajectory import TrajectoryContext
from planning_core.sphere import fibonacci_directions
from planning_core.thermal.probes import ProbeModel

ARGON = ProbeModel(
    id="test-argon", name="test argon", cryogen="argon", diameter_mm=2.4,
    active_length_mm=30.0, tip_offset_mm=5.0,
)  # fmt: skip


@pytest.fixture(scope="module")
def kernel():
    return probe_kernel(ARGON, "F6-T8-F6", "soft_tissue").scaled(0.9)


def _by_table(kernel, tips, axes, points):
    """The composition written with the kernel's table look-up, one probe at a time."""
    axes = np.broadcast_to(axes, np.shape(tips))
    total = np.zeros(len(points))
    for tip, axis in zip(tips, axes, strict=True):
        offset = points - tip
        axial = offset @ axis
        radial = np.linalg.norm(offset - axial[:, None] * axis, axis=1)
        total += kernel.temperature_drop_c(axial, radial) ** SUPERPOSITION_POWER
    composed = kernel.body_temperature_c - total ** (1.0 / SUPERPOSITION_POWER)
    return np.maximum(composed, float(kernel.min_temperature_c.min()))


def test_compiled_composition_matches_the_table_look_up(kernel):
    rng = np.random.default_rng(7)
    for count in (1, 3, 6):
        tips = rng.normal(0.0, 8.0, (count, 3))
        axes = rng.normal(size=(count, 3))
        axes /= np.linalg.norm(axes, axis=1, keepdims=True)
        # Points inside the table, across its edges and beyond it (body temperature).
        points = rng.normal(0.0, 30.0, (4000, 3))
        got = surrogate_temperature_c(kernel, tips, axes, points)
        expected = _by_table(kernel, tips, axes, points)
        np.testing.assert_allclose(got, expected, rtol=0.0, atol=1e-9)
        assert got.min() < -40.0 and np.any(got == kernel.body_temperature_c)
    # One shared axis broadcast over the probes.
    tips = rng.normal(0.0, 8.0, (2, 3))
    axis = np.array([0.0, 0.6, 0.8])
    np.testing.assert_allclose(
        surrogate_temperature_c(kernel, tips, axis, points),
        _by_table(kernel, tips, axis, points),
        rtol=0.0,
        atol=1e-9,
    )


def test_layout_scores_zone_and_each_guard_from_their_own_points(kernel):
    labels = torso_phantom(tumor_radius_mm=6.0)
    lps = grid_lps(labels.geometry)
    # A colon 2 mm from the tumor (a soft guard: it needs protection) and a stomach far
    # enough to be spared (a hard guard), on either side of the tumor along z.
    labels = with_label(labels, "colon", np.linalg.norm(lps - [0.0, 0.0, 13.0], axis=-1) <= 5.0)
    labels = with_label(labels, "stomach", np.linalg.norm(lps - [0.0, 0.0, -31.0], axis=-1) <= 6.0)
    settings = PlanSettings(margin_mm=3.0)
    problem = prepare_problem(labels, settings, ice_gap_mm=5.0)
    assert sorted(g.needs_protection for g in problem.guards) == [False, True]
    context = TrajectoryContext(labels, settings)
    search = LayoutSearch(problem, context, goal=1.0)
    insertion = np.array([0.0, 1.0, 0.0])  # from the front, as the phantom's body allows
    layout = search.coarse_layout(2, insertion, kernel)
    assert layout is not None
    axes = -layout.insertions_lps
    zone = _by_table(kernel, layout.tips_lps_mm, axes, problem.sample_points_lps_mm)
    assert layout.coverage == pytest.approx(np.mean(zone <= settings.zone_isotherm_c), abs=1e-12)
    frozen = {
        guard.name: int(np.count_nonzero(
            _by_table(kernel, layout.tips_lps_mm, axes, guard.points_lps_mm) <= 0.0
        ))
        for guard in problem.guards
    }  # fmt: skip
    assert set(layout.frozen_organs) == {
        g.name for g in problem.guards if frozen[g.name] and not g.needs_protection
    }
    for soft in (False, True):
        guards = [g for g in problem.guards if g.needs_protection == soft]
        expected = sum(frozen[g.name] for g in guards) / sum(len(g.points_lps_mm) for g in guards)
        got = layout.soft_violation if soft else layout.hard_violation
        assert got == pytest.approx(expected, abs=1e-12)
    # The colon beside the tumor freezes and the stomach does not, so a mix-up of the
    # two guards' points would show.
    assert layout.soft_violation > 0.1 and layout.hard_violation == 0.0


def _whole_cone_path(context, tip, insertion):
    """The nearest safe direction of the whole cone, looked up at once."""
    outward = -insertion
    sphere = fibonacci_directions(CONE_DIRECTIONS)
    cap = sphere[sphere @ outward >= np.cos(np.radians(INDIVIDUAL_CONE_DEG))]
    directions = np.vstack((outward[None, :], cap))
    entry_map = feasible_entries(context, tip, directions_lps=directions)
    usable, _, entries = usable_paths(
        context, entry_map, min_path_mm=0.0, allow_leaving_image=False
    )
    if not usable.any():
        return None
    best = int(np.argmax(np.where(usable, directions @ outward, -np.inf)))
    return -entry_map.directions_lps[best], entries[best]


def test_batched_cone_finds_the_path_of_the_whole_cone():
    # Tips behind the phantom's rib (a bone rod at x=20, y=-30) seen from the front:
    # the straight path of many is blocked, and the nearest safe one differs per tip.
    labels = torso_phantom(tumor_radius_mm=5.0)
    settings = PlanSettings(margin_mm=3.0)
    context = TrajectoryContext(labels, settings)
    problem = prepare_problem(labels, settings, ice_gap_mm=5.0)
    search = LayoutSearch(problem, context, goal=1.0)
    insertion = np.array([0.0, 0.96, 0.28])
    insertion /= np.linalg.norm(insertion)
    found = {"straight": 0, "angled": 0, "none": 0}
    for x in np.arange(8.0, 33.0, 3.0):
        for z in (-6.0, 0.0, 7.0):
            tip = np.array([x, -12.0, z])
            got = search.safe_path(tip, insertion)
            expected = _whole_cone_path(context, tip, insertion)
            if expected is None:
                assert got is None
                found["none"] += 1
                continue
            assert got is not None
            np.testing.assert_array_equal(got[0], expected[0])
            np.testing.assert_array_equal(got[1], expected[1])
            found["straight" if np.allclose(got[0], insertion) else "angled"] += 1
    # The tips really exercise each case: straight paths, angled ones, and none.
    assert found["straight"] and found["angled"], found
