"""Report facts: pass/fail checks, diameters, surroundings, refusal of stale metrics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from planning_core.errors import ReportError
from planning_core.figures import format_length_mm
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.results import (
    AblativeMargin,
    IsothermCoverage,
    OarMetrics,
    PathReport,
    PlanMetrics,
)
from planning_core.planning.settings import PlanSettings
from planning_core.report.content import (
    collect_report_content,
    plan_checks,
    slice_number,
    surroundings,
)
from planning_core.segmentation.metrics import mask_volume_ml, max_diameter_mm


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
        paths=(_path(closest_mm={"bowel": 14.0, "skin": 0.0}),),
        organ_site="kidney",
    )


def _path(*, closest_mm: dict[str, float], problems: tuple[str, ...] = ()) -> PathReport:
    return PathReport(
        skin_entry_lps_mm=(0.0, 90.0, 0.0),
        length_in_body_mm=90.0,
        craniocaudal_angle_deg=0.0,
        in_plane_angle_deg=0.0,
        elevation_deg=90.0,
        usable_length_mm=170.0,
        closest_mm=closest_mm,
        problems=problems,
    )


@pytest.fixture()
def plan() -> Plan:
    probe = PlannedProbe("argon-2.4", (0.0, 0.0, 0.0), (0.0, 100.0, 0.0), "P1")
    return Plan(probes=(probe,), settings=PlanSettings(max_total_freeze_s=1800.0))


def test_checks_pass_when_every_goal_is_met(plan):
    checks = plan_checks(plan, _metrics(plan, covered=99.5, margin=5.2, ice_mm=12.0))
    assert [c.passed for c in checks] == [True] * 6


def test_safety_checks_are_not_assessed_when_nothing_is_labelled(plan):
    # A real CT opened with a tumor label only: no organ and no structure along the
    # paths is known, so "all clear" / "acceptable" would be a PASS nothing supports.
    metrics = dataclasses.replace(
        _metrics(plan, covered=99.5, margin=5.2, ice_mm=12.0),
        oars=(),
        paths=(_path(closest_mm={"skin": 0.0, "body": 0.0}),),
    )
    evaluated = plan.with_metrics(metrics)
    by_name = {c.name: c for c in plan_checks(evaluated, metrics)}
    oars, paths = by_name["Organs at risk clear of the 0 °C edge"], by_name["Probe paths"]
    assert (oars.passed, oars.status) == (None, "NOT ASSESSED")
    assert "no organ at risk is labelled" in oars.value
    assert (paths.passed, paths.status) == (None, "NOT ASSESSED")
    geometry = Geometry((3, 7, 9), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0), np.eye(3))
    tumor = np.zeros(geometry.shape, dtype=bool)
    tumor[1, 2:5, 2:7] = True
    labels = LabelMap.empty(geometry).with_mask("tumor", tumor, role="target")
    volume = Volume(np.zeros(geometry.shape, dtype=np.float32), geometry, "CT")
    content = collect_report_content(evaluated, volume, labels)
    assert [row.path_passed for row in content.probes] == [None]
    assert content.probes[0].closest_structure == "none labelled"
    assert not content.passed and not content.failed
    assert "not everything was assessed" in content.verdict
    assert "organs at risk" in content.verdict


def test_organs_at_risk_are_never_clear_while_one_is_not_assessed(plan):
    # The right-kidney lesion on a real CT: bowel measured and clear, but the duodenum
    # and the ureter the kidney site lists are not in the label map.
    metrics = dataclasses.replace(
        _metrics(plan, covered=99.5, margin=5.2, ice_mm=12.0), not_assessed=("duodenum", "ureter")
    )
    oars = plan_checks(plan, metrics)[2]
    assert (oars.passed, oars.status) == (None, "NOT ASSESSED")
    assert "duodenum, ureter" in oars.value
    too_close = dataclasses.replace(metrics, oars=(OarMetrics("bowel", 3.0, 10.0, 0.0, 0.0),))
    oars = plan_checks(plan, too_close)[2]
    assert oars.passed is False
    assert "bowel" in oars.value and "duodenum" in oars.value


def test_an_unknown_organ_site_leaves_organs_at_risk_not_assessed(plan):
    # Metrics of old plan files, and plans whose tumor lies in no known host organ.
    metrics = dataclasses.replace(
        _metrics(plan, covered=99.5, margin=5.2, ice_mm=12.0), organ_site=None
    )
    evaluated = plan.with_metrics(metrics)
    oars = plan_checks(evaluated, metrics)[2]
    assert (oars.passed, oars.value) == (None, "not assessed: organ site unknown")
    geometry = Geometry((3, 7, 9), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0), np.eye(3))
    tumor = np.zeros(geometry.shape, dtype=bool)
    tumor[1, 2:5, 2:7] = True
    labels = LabelMap.empty(geometry).with_mask("tumor", tumor, role="target")
    volume = Volume(np.zeros(geometry.shape, dtype=np.float32), geometry, "CT")
    content = collect_report_content(evaluated, volume, labels)
    assert "All plan checks pass" not in content.verdict
    assert any("organ site unknown" in warning.lower() for warning in content.warnings)


def test_a_path_problem_fails_even_without_labelled_organs(plan):
    metrics = dataclasses.replace(
        _metrics(plan, covered=99.5, margin=5.2, ice_mm=12.0),
        oars=(),
        paths=(_path(closest_mm={}, problems=("longer than the probe",)),),
    )
    paths = next(c for c in plan_checks(plan, metrics) if c.name == "Probe paths")
    assert (paths.passed, paths.status) == (False, "FAIL")


def test_each_failed_goal_fails_its_own_check(plan):
    below = plan.settings.coverage_goal_percent - 0.1
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


def test_a_coverage_just_short_of_full_never_reads_100_percent(plan):
    checks = plan_checks(plan, _metrics(plan, covered=99.96, margin=5.2, ice_mm=12.0))
    assert checks[0].value == "99.9 %"


def test_target_size_uses_the_one_diameter_and_volume_definition(plan):
    # A 5 x 3 x 1 voxel block at 2 mm: 10 mm end to end along i, as a ruler would
    # measure it; between voxel centres it would read 8 mm.
    geometry = Geometry((3, 7, 9), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0), np.eye(3))
    tumor = np.zeros(geometry.shape, dtype=bool)
    tumor[1, 2:5, 2:7] = True
    labels = LabelMap.empty(geometry).with_mask("tumor", tumor, role="target")
    volume = Volume(np.zeros(geometry.shape, dtype=np.float32), geometry, "CT")
    evaluated = plan.with_metrics(_metrics(plan, covered=99.5, margin=5.2, ice_mm=12.0))
    target = collect_report_content(evaluated, volume, labels).target
    assert target.max_diameter_mm == pytest.approx(max_diameter_mm(tumor, geometry))
    assert target.volume_ml == pytest.approx(mask_volume_ml(tumor, geometry)) == 0.12
    assert format_length_mm(target.max_diameter_mm) == format_length_mm(
        max_diameter_mm(tumor, geometry)
    )


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


@pytest.mark.parametrize(
    "name",
    [
        "/work/shared/dicom/tcia-pancreas-ct cryoablation plan",  # what `cryoplan plan` wrote
        "C:\\studies\\ct-17",
        "",
    ],
)
def test_the_report_title_names_the_image_never_a_path(kidney_inputs, name):
    plan = dataclasses.replace(kidney_inputs.plan, name=name)
    content = collect_report_content(plan, kidney_inputs.volume, kidney_inputs.label_map)
    series = kidney_inputs.volume.metadata["series_description"]
    assert content.header.plan_name == series


def test_a_plan_name_without_a_path_is_kept(kidney_inputs):
    plan = dataclasses.replace(kidney_inputs.plan, name="Right renal tumor, L/R approach")
    content = collect_report_content(plan, kidney_inputs.volume, kidney_inputs.label_map)
    assert content.header.plan_name == "Right renal tumor, L/R approach"
