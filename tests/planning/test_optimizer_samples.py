"""The optimizer on the sample cases: verified coverage, spared organs, safe paths.

Each case is planned once (module-scoped) on its ground-truth labels. The
verification grid is 1.5 mm here to keep the suite within its time budget on
two cores; ``benchmarks/bench_plan.py`` runs the default 1-mm verification.
"""

from __future__ import annotations

import pytest

from planning_core.planning.acceptance import LEAVES_IMAGE_PROBLEM, CheckKind
from planning_core.planning.optimizer import optimize_plan
from planning_core.planning.settings import PlanGoal, PlanSettings

pytestmark = pytest.mark.slow

VERIFY_MM = 1.5
_PLANS: dict[str, object] = {}


def _plan(name: str, **options):
    from cryoplan_samples import ensure_sample_case

    from planning_core.imaging.loader import load_image

    key = f"{name}{sorted(options.items())}"
    if key not in _PLANS:
        case = ensure_sample_case(name)
        volume = load_image(case.image_path)
        labels = case.load_labels(volume.geometry)
        options.setdefault("robustness_samples", 0)
        _PLANS[key] = (
            labels,
            optimize_plan(volume, labels, verify_spacing_mm=VERIFY_MM, **options),
        )
    return _PLANS[key]


@pytest.mark.parametrize("name", ["kidney", "liver", "lung", "breast"])
def test_sample_case_plan_meets_the_goals(name):
    # Issue 5, item 7: >= 99 % of tumor + 5 mm at -40 °C, no organ at risk below 0 °C,
    # no unsafe path, no more probes than the rule of thumb.
    _, result = _plan(name, robustness_samples=4 if name == "lung" else 0)
    metrics = result.plan.metrics
    assert metrics.margin_mm == 5.0 and metrics.lethal_isotherm_c == -40.0
    assert metrics.coverage_at(-40.0).tumor_and_margin_percent >= 99.0
    assert 1 <= len(result.plan.probes) <= result.rule_of_thumb_probes
    assert result.needs_protection == ()
    organs = [oar for oar in metrics.oars if not oar.monitored]
    assert organs, "the case must have organs at risk to spare"
    for oar in organs:
        assert oar.frozen_volume_ml == 0.0 and oar.clear, oar
        assert oar.distance_to_ice_mm is None or oar.distance_to_ice_mm >= oar.clearance_mm
    for path in metrics.paths:
        # Ultrasound volumes rarely hold the skin entry: the only note allowed is that one.
        assert all(LEAVES_IMAGE_PROBLEM in p for p in path.problems), path.problems
    if name == "breast":
        # One liquid-nitrogen probe cannot reach -40 °C 5 mm around this lesion (see
        # test_one_nitrogen_probe_cannot_cover_the_breast_margin); two suffice.
        assert result.plan.probes[0].model_id.startswith("ln2")
        assert len(result.plan.probes) <= 2
    if name == "lung":
        summary = metrics.robustness
        assert summary is not None and summary.samples == 4
        assert 0.0 <= summary.probability <= 1.0


def test_one_nitrogen_probe_cannot_cover_the_breast_margin():
    """A single probe through the lesion centre, longest freeze of the family, misses."""
    import numpy as np
    from cryoplan_samples import ensure_sample_case

    from planning_core.imaging.loader import load_image
    from planning_core.planning.evaluate import evaluate_plan
    from planning_core.planning.optimizer.duration import default_family_name, protocol_family
    from planning_core.planning.optimizer.surrogate import probe_kernel
    from planning_core.planning.plan import Plan, PlannedProbe
    from planning_core.thermal.probes import load_probe_library

    case = ensure_sample_case("breast")
    volume = load_image(case.image_path)
    labels = case.load_labels(volume.geometry)
    model = load_probe_library().get("ln2-10g")
    family = protocol_family(default_family_name(model, "breast_tissue"), max_total_freeze_s=1800.0)
    longest = family[-1]
    deepest, shallowest = probe_kernel(model, longest.code, "soft_tissue").axial_reach_mm(-40.0)
    # Along the chest wall (+x), the lethal length centred on the lesion centre.
    axis = np.array([1.0, 0.0, 0.0])
    tip = np.asarray(case.manifest["tumor"]["center_lps_mm"]) + 0.5 * (deepest + shallowest) * axis
    probe = PlannedProbe(model.id, tuple(tip), tuple(tip - 80.0 * axis), "P1")
    plan = Plan(probes=(probe,), protocol=longest.code)
    metrics = evaluate_plan(plan, volume, labels, spacing_mm=VERIFY_MM).metrics
    coverage = metrics.coverage_at(-40.0)
    assert coverage.tumor_percent >= 99.0  # the lesion itself dies ...
    assert coverage.tumor_and_margin_percent < 95.0  # ... but not its 5-mm margin


def _liver_without_vessel(labels):
    """The liver case with its hepatic vein relabelled as liver (no heat sink)."""
    return labels.with_mask("liver", labels.mask("liver") | labels.mask("hepatic_vein")).without(
        "hepatic_vein"
    )


def test_liver_plan_compensates_for_the_hepatic_vein_heat_sink():
    # The vein (3.9 mm from the tumor) is a monitored structure: ice may reach it, but
    # its warmth costs probes or freeze time, which a plan made without it lacks.
    from cryoplan_samples import ensure_sample_case

    from planning_core.imaging.loader import load_image
    from planning_core.planning.evaluate import evaluate_plan

    labels, with_vessel = _plan("liver")
    case = ensure_sample_case("liver")
    volume = load_image(case.image_path)
    without = optimize_plan(
        volume, _liver_without_vessel(labels), verify_spacing_mm=VERIFY_MM, robustness_samples=0
    )
    covered = with_vessel.plan.metrics.coverage_at(-40.0).tumor_and_margin_percent
    assert covered >= 99.0
    effort_with = (len(with_vessel.plan.probes), with_vessel.plan.metrics.total_freeze_s)
    effort_without = (len(without.plan.probes), without.plan.metrics.total_freeze_s)
    assert effort_with > effort_without
    # The plan made without the vessel falls short once the vessel's heat sink is there.
    check = evaluate_plan(without.plan.with_metrics(None), volume, labels, spacing_mm=VERIFY_MM)
    assert check.metrics.coverage_at(-40.0).tumor_and_margin_percent < covered


@pytest.mark.parametrize("name", ["kidney", "breast"])
def test_visible_ice_sample_plans_take_the_usual_probes_and_freeze(name):
    # Issue 18 goals under visible ice: the kidney sample takes 2-4 probes with at most
    # 20 min of freezing, the breast sample one liquid-nitrogen probe; both keep the 0 °C
    # edge 6 mm beyond the tumor everywhere and -20 °C over the tumor.
    _, result = _plan(name, settings=PlanSettings(goal=PlanGoal.VISIBLE_ICE))
    plan = result.plan
    assert result.acceptance.check(CheckKind.ICE_MARGIN).passed is True
    assert result.acceptance.check(CheckKind.TUMOR_FREEZE).passed is True
    assert plan.metrics.visible_ice.margin.minimum_mm >= 6.0
    assert plan.metrics.total_freeze_s <= 20 * 60.0
    if name == "kidney":
        assert 2 <= len(plan.probes) <= 4
    else:
        assert len(plan.probes) == 1 and plan.probes[0].model_id.startswith("ln2")


def test_a_layout_short_only_of_the_surrogate_headroom_goes_to_the_solver():
    # The cystic kidney tumor: eight probes reach 99.3 % on the surrogate, above the 99 %
    # goal but short of its headroom. The solver, not the surrogate's margin, refuses it,
    # and the message gives the solver's figure.
    from planning_core.errors import InfeasiblePlanError

    with pytest.raises(InfeasiblePlanError) as caught:
        _plan("kidney-cystic")
    text = str(caught.value)
    assert "on the 2-mm solver check (goal 99 %)" in text, text
    assert caught.value.best_partial_plan is not None
