"""Scoring: closed-form component arithmetic, and the ordering of simulated plans."""

from __future__ import annotations

import dataclasses

import pytest
from training_phantom import one_probe_plan, phantom_case, synthetic_metrics

from planning_core.errors import InvalidParameterError
from planning_core.planning.acceptance import accept_plan
from planning_core.planning.evaluate import evaluate_plan
from planning_core.planning.results import OarMetrics
from planning_core.planning.settings import PlanSettings
from planning_core.training.scoring import ScoreWeights, score_attempt
from planning_core.training.undertreatment import undertreated_regions


def points(score, name: str) -> float:
    return next(item.points for item in score.components + score.penalties if item.name == name)


def test_reference_against_itself_scores_100_with_praise():
    reference = synthetic_metrics(oars=(OarMetrics("colon", 8.0, 10.0, 0.0, 0.0),))
    score = score_attempt(reference, reference)
    assert score.total == pytest.approx(100.0)
    assert score.penalties == ()
    assert "matches the reference" in score.feedback[0]


def test_matching_a_reference_that_falls_short_is_not_called_reaching_the_goal():
    # Both plans stop at a 4.2 mm margin: full points against the reference, but the
    # feedback must not say the margin was reached, and must name the failed check.
    reference = synthetic_metrics(zone=99.5, margin_mm=4.2)
    acceptance = accept_plan(reference, PlanSettings())
    score = score_attempt(reference, reference, acceptance=acceptance)
    assert score.total == pytest.approx(100.0)
    assert not any("matches the reference" in line for line in score.feedback)
    assert score.feedback[-1].startswith("On the case's goals the plan fails:")
    assert "minimal ablative margin 4.2 mm (goal ≥ 5 mm)" in score.feedback[-1]


def test_coverage_shortfall_is_linear_over_25_points():
    reference = synthetic_metrics(tumor=100.0, zone=95.0)
    score = score_attempt(synthetic_metrics(tumor=90.0, zone=82.5), reference)
    # 10 points short of 100 % -> 25 * (1 - 10/25); 12.5 short of 95 % -> 35 * 0.5.
    assert points(score, "tumor coverage") == pytest.approx(15.0)
    assert points(score, "tumor + margin coverage") == pytest.approx(17.5)
    # Clearance, probe count and freeze time are scaled by the tumor coverage share 0.6.
    assert points(score, "probe count") == pytest.approx(8.0 * 0.6)
    assert score.total == pytest.approx(15.0 + 17.5 + 15.0 + 0.6 * (10.0 + 8.0 + 7.0))


def test_margin_points_fall_to_zero_ten_mm_below_the_goal():
    reference = synthetic_metrics(margin_mm=5.0)

    def margin_points(margin_mm):
        score = score_attempt(synthetic_metrics(margin_mm=margin_mm), reference)
        return points(score, "minimal ablative margin")

    assert margin_points(1.0) == pytest.approx(15.0 * 0.6)
    assert margin_points(-6.0) == 0.0
    assert margin_points(None) == 0.0


def test_the_margin_goal_stays_the_cases_when_the_reference_falls_short():
    # Case goal 5 mm (the settings'); the reference plan reached only 4 mm.
    reference = synthetic_metrics(margin_mm=4.0)
    score = score_attempt(synthetic_metrics(margin_mm=2.0), reference)
    detail = next(i.detail for i in score.components if i.name == "minimal ablative margin")
    assert "goal 5.0 mm" in detail and "reference reaches 4.0 mm" in detail
    (sentence,) = [s for s in score.feedback if "ablative margin" in s]
    assert "goal 5.0 mm" in sentence and "4.0 mm" in sentence
    # Matching what the case allows still earns full points.
    assert points(score_attempt(reference, reference), "minimal ablative margin") == 15.0
    assert points(score, "minimal ablative margin") == pytest.approx(15.0 * 0.8)


def test_coverage_reads_the_same_in_the_breakdown_and_the_feedback():
    reference = synthetic_metrics(tumor=100.0, zone=99.96)
    score = score_attempt(synthetic_metrics(tumor=99.84, zone=60.0), reference)
    details = " ".join(item.detail for item in score.components)
    assert "99.8 % of the tumor" in details and "reference 99.9 %" in details
    (sentence,) = [s for s in score.feedback if "isotherm covers" in s]
    assert "99.8 % of the tumor" in sentence and "99.9 %)" in sentence
    assert "100 %" not in details + sentence


def test_frozen_organ_penalty_counts_only_freezing_beyond_the_reference():
    reference = synthetic_metrics(oars=(OarMetrics("renal_sinus", -3.0, 5.0, 2.0, 1.0),))
    # Within 10 % of the reference's 2 mL (0.2 mL) counts as the same exposure.
    same = synthetic_metrics(oars=(OarMetrics("renal_sinus", -3.0, 5.0, 2.19, 1.0),))
    assert score_attempt(same, reference).penalties == ()
    spared = synthetic_metrics(oars=(OarMetrics("renal_sinus", 4.0, 5.0, 0.0, 0.0),))
    newly = synthetic_metrics(oars=(OarMetrics("renal_sinus", -1.0, 5.0, 0.06, 0.0),))
    assert points(score_attempt(newly, spared), "renal_sinus frozen") == pytest.approx(-20.6)
    worse = synthetic_metrics(oars=(OarMetrics("renal_sinus", -5.0, 5.0, 3.5, 1.0),))
    score = score_attempt(worse, reference)
    assert points(score, "renal_sinus frozen") == pytest.approx(-(20.0 + 10.0 * 1.5))
    assert score.feedback[0] == "1 organ at risk frozen: renal sinus 3.50 mL below 0 °C."
    huge = synthetic_metrics(oars=(OarMetrics("renal_sinus", -9.0, 5.0, 12.0, 1.0),))
    assert points(score_attempt(huge, reference), "renal_sinus frozen") == pytest.approx(-40.0)


def test_monitored_structures_may_freeze_without_penalty():
    reference = synthetic_metrics(oars=(OarMetrics("colon", 12.0, 10.0, 0.0, 0.0),))
    vein = OarMetrics("hepatic_vein", -4.0, 0.0, 1.5, 0.8, monitored=True)
    attempt = synthetic_metrics(oars=(OarMetrics("colon", 12.0, 10.0, 0.0, 0.0), vein))
    score = score_attempt(attempt, reference)
    assert score.penalties == ()
    assert points(score, "organ-at-risk clearance") == pytest.approx(10.0)
    assert not any("vein" in sentence for sentence in score.feedback)


def test_unsafe_path_penalty_and_probe_sentence():
    reference = synthetic_metrics(problems=((), ()))
    attempt = synthetic_metrics(problems=((), ("passes colon at 3.0 mm (clearance 5 mm)",)))
    score = score_attempt(attempt, reference, probe_labels=("P1", "P2"))
    assert points(score, "probe P2 path") == -20.0
    assert score.total == pytest.approx(80.0)
    assert "Probe P2: passes colon at 3.0 mm (clearance 5 mm)." in score.feedback


def test_more_probes_and_longer_freeze_cost_points():
    reference = synthetic_metrics(probes=2, freeze_s=1200.0)
    score = score_attempt(synthetic_metrics(probes=3, freeze_s=1800.0), reference)
    assert points(score, "probe count") == pytest.approx(4.0)
    assert points(score, "total freeze time") == pytest.approx(3.5)
    assert any("3 probes; the reference needs 2" in s for s in score.feedback)


def test_mismatched_settings_are_refused():
    reference = synthetic_metrics()
    other = dataclasses.replace(synthetic_metrics(), margin_mm=2.0)
    with pytest.raises(InvalidParameterError, match="margin_mm"):
        score_attempt(other, reference)


def test_negative_weight_is_refused():
    with pytest.raises(InvalidParameterError, match="unsafe_path"):
        ScoreWeights(unsafe_path=-1.0)


@pytest.fixture(scope="module")
def simulated():
    """Reference (probe through the tumor centre) and three displaced single-probe plans."""
    volume, labels = phantom_case()
    tips = {
        "reference": (0.0, 0.0, 0.0),
        "superior": (0.0, 0.0, 4.0),  # 4 mm toward the head
        "toward_bowel": (4.0, 0.0, 0.0),  # 4 mm toward the bowel (patient's left)
        "away_from_bowel": (-4.0, 0.0, 0.0),  # mirror image: same coverage, no bowel
    }
    results = {}
    for name, tip in tips.items():
        evaluation = evaluate_plan(one_probe_plan(tip), volume, labels, spacing_mm=2.0)
        simulation = evaluation.simulation
        regions = undertreated_regions(
            labels, simulation.min_temperature_c, simulation.geometry, lethal_isotherm_c=-40.0
        )
        results[name] = (evaluation.metrics, regions)
    reference = results["reference"][0]
    return {
        name: score_attempt(m, reference, probe_labels=("P1",), undertreated=regions)
        for name, (m, regions) in results.items()
    }


def test_reference_scores_at_least_as_high_as_a_shifted_plan(simulated):
    assert simulated["reference"].total == pytest.approx(100.0)
    assert simulated["superior"].total < simulated["reference"].total - 20.0


def test_plan_freezing_the_bowel_scores_lower_than_its_mirror_image(simulated):
    toward, away = simulated["toward_bowel"], simulated["away_from_bowel"]
    assert any(item.name == "bowel frozen" for item in toward.penalties)
    assert away.penalties == ()
    assert toward.total < away.total
    assert toward.feedback[0].startswith("1 organ at risk frozen: bowel")


def test_feedback_names_the_undertreated_side(simulated):
    # Probe moved toward the head: the inferior part of the tumor stays warm.
    assert any(s.startswith("The inferior ") and "stay above -40 °C" in s
               for s in simulated["superior"].feedback)  # fmt: skip
    # Moved to the patient's left: the right side stays warm, and vice versa.
    assert any(s.startswith("The right ") for s in simulated["toward_bowel"].feedback)
    assert any(s.startswith("The left ") for s in simulated["away_from_bowel"].feedback)


def test_clearance_is_judged_against_the_reference_within_1_mm():
    reference = synthetic_metrics(
        oars=(
            OarMetrics("ureter", 2.0, 5.0, 0.0, 0.0),
            OarMetrics("colon", 12.0, 10.0, 0.0, 0.0),
            OarMetrics("bowel", 15.0, 10.0, 0.0, 0.0),
        )
    )
    attempt = synthetic_metrics(
        oars=(
            OarMetrics("ureter", 1.2, 5.0, 0.0, 0.0),  # 0.8 mm closer than the reference: kept
            OarMetrics("colon", 6.5, 10.0, 0.0, 0.0),
            OarMetrics("bowel", -0.5, 10.0, 0.03, 0.0),  # below the 0.05 mL frozen tolerance
        )
    )
    score = score_attempt(attempt, reference)
    assert points(score, "organ-at-risk clearance") == pytest.approx(10.0 / 3.0)
    assert "The ice edge comes within 6.5 mm of the colon (clearance 10 mm)." in score.feedback
    assert "Ice reaches 0.5 mm into the bowel (clearance 10 mm)." in score.feedback
    assert score.penalties == ()
