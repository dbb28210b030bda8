"""Report facts: pass/fail checks, diameters, surroundings, refusal of stale metrics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from planning_core.errors import ReportError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.results import AblativeMargin, IsothermCoverage, OarMetrics, PlanMetrics
from planning_core.planning.settings import PlanSettings
from planning_core.report.content import (
    REQUIRED_MARGIN_COVERAGE_PERCENT,
    collect_report_content,
    max_diameter_mm,
    plan_checks,
    slice_number,
    surroundings,
)


def _metrics(plan: Plan, *, covered: float, margin: float | None, ice_mm: float) -> PlanMetrics:
    return PlanMetrics(
        computed_with="test",
        inputs_sha256=plan.inputs_sha256(),
        lethal_isotherm_c=-40.0,
        margin_mm=5.0,
        tumor_volume_ml=1.0,
        ice_volume_ml=10.0,
        lethal_volume_ml=5.0,
        coverage=(IsothermCoverage(0.0, 100.0, 100.0), IsothermCoverage(-40.0, 100.0, covered)),
        margin=AblativeMargin(margin, margin, None if margin is None else (0.0, 0.0, 0.0)),
        oars=(OarMetrics("bowel", ice_mm, 10.0, 0.0, 0.0),),
        probe_count=len(plan.probes),
        total_freeze_s=1200.0,
        min_tip_spacing_mm=None,
    )


@pytest.fixture()
def plan() -> Plan:
    probe = PlannedProbe("argon-2.4", (0.0, 0.0, 0.0), (0.0, 100.0, 0.0), "P1")
    return Plan(probes=(probe,), settings=PlanSettings(max_total_freeze_s=1800.0))


def test_checks_pass_when_every_goal_is_met(plan):
    checks = plan_checks(plan, _metrics(plan, covered=99.5, margin=5.2, ice_mm=12.0))
    assert [c.passed for c in checks] == [True] * 6


def test_each_failed_goal_fails_its_own_check(plan):
    below = REQUIRED_MARGIN_COVERAGE_PERCENT - 0.1
    checks = plan_checks(plan, _metrics(plan, covered=below, margin=4.9, ice_mm=9.9))
    by_name = {c.name: c for c in checks}
    assert not by_name["Tumor + 5 mm margin covered by -40 °C"].passed
    assert not by_name["Minimal ablative margin"].passed
    assert not by_name["Organs at risk clear of the 0 °C edge"].passed
    assert "bowel" in by_name["Organs at risk clear of the 0 °C edge"].value
    assert by_name["Total freeze time"].passed


def test_no_lethal_zone_fails_the_margin_check(plan):
    checks = plan_checks(plan, _metrics(plan, covered=0.0, margin=None, ice_mm=20.0))
    margin = next(c for c in checks if c.name == "Minimal ablative margin")
    assert (margin.value, margin.passed) == ("no lethal zone", False)


def test_freeze_time_over_the_limit_fails(plan):
    long_plan = dataclasses.replace(plan, protocol="F20-T8-F20")
    metrics = dataclasses.replace(
        _metrics(long_plan, covered=100.0, margin=6.0, ice_mm=20.0), total_freeze_s=2400.0
    )
    freeze = plan_checks(long_plan, metrics)[-1]
    assert (freeze.value, freeze.passed) == ("40 min", False)


def test_max_diameter_of_known_point_sets():
    rng = np.random.default_rng(3)
    directions = rng.normal(size=(400, 3))
    sphere = 7.5 * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    ends = np.array([[7.5, 0, 0], [-7.5, 0, 0]])
    assert max_diameter_mm(np.vstack([sphere, ends])) == pytest.approx(15.0, abs=1e-9)
    assert max_diameter_mm(np.array([[0.0, 0, 0], [3.0, 4.0, 0.0]])) == pytest.approx(5.0)
    assert max_diameter_mm(np.zeros((1, 3))) == 0.0


def test_slice_number_counts_from_one():
    geometry = Geometry((10, 4, 4), (1.0, 1.0, 2.5), (0.0, 0.0, -10.0), np.eye(3))
    assert slice_number(geometry, (0.0, 0.0, -10.0)) == 1
    assert slice_number(geometry, (0.0, 0.0, -4.0)) == 3  # k = 2.4 rounds to 2


def test_surroundings_lists_shares_of_the_tumor_border():
    geometry = Geometry((5, 5, 5), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    tumor = np.zeros(geometry.shape, dtype=bool)
    tumor[2, 2, 2] = True
    kidney = np.zeros_like(tumor)
    kidney[:, :, :2] = True  # holds 1 of the 6 face neighbours
    labels = LabelMap.empty(geometry).with_mask("tumor", tumor).with_mask("kidney", kidney)
    text = surroundings(tumor, labels)
    assert text.startswith("unlabelled 83 %, kidney 17 %")


def test_content_refuses_missing_and_stale_metrics(plan):
    geometry = Geometry((3, 3, 3), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    volume = Volume(np.zeros(geometry.shape, dtype=np.int16), geometry, "CT")
    labels = LabelMap.empty(geometry).with_mask("tumor", np.ones(geometry.shape, dtype=bool))
    with pytest.raises(ReportError, match="no metrics"):
        collect_report_content(plan, volume, labels)
    metrics = _metrics(plan, covered=100.0, margin=6.0, ice_mm=20.0)
    moved = plan.with_metrics(metrics).with_probes(
        (PlannedProbe("argon-2.4", (1.0, 0.0, 0.0), (1.0, 100.0, 0.0), "P1"),)
    )
    with pytest.raises(ReportError, match="stale"):
        collect_report_content(moved, volume, labels)
