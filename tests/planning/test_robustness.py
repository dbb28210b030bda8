"""Monte-Carlo robustness of a plan to probe placement error."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from planning_phantoms import torso_phantom

from planning_core.errors import InvalidParameterError
from planning_core.planning.evaluate import evaluate_plan
from planning_core.planning.optimizer.robustness import assess_robustness, perturbed_probes
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.settings import PlanGoal, PlanSettings
from planning_core.thermal.probes import ProbeModel

MODEL = ProbeModel(
    id="test-argon", name="test argon", cryogen="argon", diameter_mm=2.4,
    active_length_mm=30.0, tip_offset_mm=5.0,
)  # fmt: skip
MODELS = {MODEL.id: MODEL}


@pytest.fixture(scope="module")
def case():
    labels = torso_phantom(tumor_radius_mm=5.0)
    # One vertical probe from the front, its freezing segment centred on the tumor.
    plan = Plan(
        probes=(PlannedProbe(MODEL.id, (0.0, 20.0, 0.0), (0.0, -60.0, 0.0), "P1"),),
        protocol="F10-T8-F10",
        settings=PlanSettings(margin_mm=2.0),
    )
    return labels, plan


def test_without_error_every_sample_is_the_nominal_plan(case):
    labels, plan = case
    result = assess_robustness(
        plan, None, labels, tip_error_mm=0.0, samples=2, probe_library=MODELS
    )
    np.testing.assert_array_equal(result.coverage_percent, result.nominal_coverage_percent)
    assert result.nominal_coverage_percent > 99.0
    assert result.summary.probability == 1.0
    assert result.summary.margin_p05_mm == pytest.approx(result.margin_mm[0])


def test_fresh_verified_metrics_correct_the_coarse_grid_bias(case):
    labels, plan = case
    verified = evaluate_plan(plan, None, labels, spacing_mm=1.0, probe_library=MODELS).plan
    result = assess_robustness(
        verified, None, labels, tip_error_mm=0.0, samples=1, probe_library=MODELS
    )
    expected = verified.metrics.coverage_at(-40.0).tumor_and_margin_percent
    assert result.coverage_percent[0] == pytest.approx(expected, abs=1e-9)
    assert result.margin_mm[0] == pytest.approx(verified.metrics.margin.minimum_mm, abs=1e-9)
    assert result.coverage_bias_percent == pytest.approx(expected - result.nominal_coverage_percent)


def test_large_error_lowers_coverage_and_the_summary_agrees(case):
    labels, plan = case
    result = assess_robustness(
        plan, None, labels, tip_error_mm=8.0, samples=6, seed=4, probe_library=MODELS
    )
    summary = result.summary
    assert result.coverage_percent.min() < result.nominal_coverage_percent - 1.0
    assert summary.probability == np.mean(result.coverage_percent >= 99.0)
    assert summary.probability < 1.0
    assert summary.coverage_mean_percent == pytest.approx(result.coverage_percent.mean())
    assert summary.margin_p05_mm <= summary.margin_mean_mm
    assert (summary.samples, summary.seed, summary.grid_spacing_mm) == (6, 4, 3.0)


def test_a_visible_ice_plan_is_judged_by_its_0c_edge_not_the_lethal_margin(case):
    """Under the visible-ice goal the samples count tumor + ice margin reached by 0 °C.

    A 10 mm lethal margin is out of reach of one probe, a 6 mm ice margin is not:
    judged by the lethal isotherm every sample would miss.
    """
    labels, plan = case
    settings = PlanSettings(margin_mm=10.0, goal=PlanGoal.VISIBLE_ICE, ice_margin_mm=6.0)
    verified = evaluate_plan(
        dataclasses.replace(plan, settings=settings),
        None,
        labels,
        spacing_mm=1.0,
        probe_library=MODELS,
    ).plan
    assert verified.metrics.coverage_at(-40.0).tumor_and_margin_percent < 90.0
    result = assess_robustness(
        verified, None, labels, tip_error_mm=0.0, samples=1, probe_library=MODELS
    )
    summary = result.summary
    assert (summary.zone_isotherm_c, summary.zone_margin_mm) == (0.0, 6.0)
    assert result.coverage_percent[0] == pytest.approx(
        verified.metrics.visible_ice.coverage_percent, abs=1e-9
    )
    assert result.margin_mm[0] == pytest.approx(
        verified.metrics.visible_ice.margin.minimum_mm, abs=1e-9
    )
    assert summary.probability == 1.0
    assert summary.zone_text() == "tumor + 6 mm with the 0 °C isotherm"


def test_perturbation_has_the_requested_rms_length_and_is_seeded():
    probe = PlannedProbe("m", (0.0, 0.0, 0.0), (0.0, -80.0, 0.0))
    moved = perturbed_probes((probe,) * 4000, np.random.default_rng(1), 3.0)
    tips = np.array([p.tip_lps_mm for p in moved])
    rms = np.sqrt(np.mean(np.sum(tips**2, axis=1)))
    assert rms == pytest.approx(3.0, rel=0.05)
    again = perturbed_probes((probe,) * 3, np.random.default_rng(1), 3.0)
    assert again == moved[:3]


def test_bad_parameters_are_named(case):
    labels, plan = case
    with pytest.raises(InvalidParameterError, match="samples"):
        assess_robustness(plan, None, labels, samples=0, probe_library=MODELS)
    with pytest.raises(InvalidParameterError, match="tip_error_mm"):
        assess_robustness(plan, None, labels, tip_error_mm=-1.0, probe_library=MODELS)
