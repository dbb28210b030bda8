"""One rule for "does this plan pass": every goal read from the settings, each check named."""

from __future__ import annotations

import dataclasses

import pytest

from planning_core.cli import main
from planning_core.errors import InvalidParameterError
from planning_core.planning.acceptance import (
    BORE_OPTION,
    LEAVES_IMAGE_PROBLEM,
    SETTING_OPTIONS,
    CheckKind,
    accept_plan,
)
from planning_core.planning.results import (
    AblativeMargin,
    IsothermCoverage,
    OarMetrics,
    PathReport,
    PlanMetrics,
    VisibleIce,
)
from planning_core.planning.settings import PlanGoal, PlanSettings


def _path(problems: tuple[str, ...] = ()) -> PathReport:
    return PathReport(
        skin_entry_lps_mm=(0.0, 90.0, 0.0),
        length_in_body_mm=90.0,
        craniocaudal_angle_deg=0.0,
        in_plane_angle_deg=0.0,
        elevation_deg=90.0,
        usable_length_mm=170.0,
        closest_mm={"bowel": 14.0, "skin": 0.0},
        problems=problems,
    )


def _metrics(*, covered: float = 100.0, margin_mm: float | None = 5.2) -> PlanMetrics:
    """A kidney plan's metrics: bowel 12 mm from the ice (clearance 10 mm), one safe path."""
    return PlanMetrics(
        computed_with="test",
        inputs_sha256="",
        lethal_isotherm_c=-40.0,
        margin_mm=5.0,
        tumor_volume_ml=1.0,
        ice_volume_ml=10.0,
        lethal_volume_ml=5.0,
        coverage=(IsothermCoverage(0.0, 100.0, 100.0), IsothermCoverage(-40.0, 100.0, covered)),
        margin=AblativeMargin(margin_mm, margin_mm, None if margin_mm is None else (0.0,) * 3),
        oars=(OarMetrics("bowel", 12.0, 10.0, 0.0, 0.0),),
        probe_count=2,
        total_freeze_s=1200.0,
        min_tip_spacing_mm=12.0,
        paths=(_path(),),
        organ_site="kidney",
    )


def test_a_plan_meeting_every_goal_passes():
    acceptance = accept_plan(_metrics(), PlanSettings())
    assert acceptance.passed and not acceptance.failed and not acceptance.not_assessed
    assert [check.kind for check in acceptance.checks] == [
        CheckKind.COVERAGE,
        CheckKind.MARGIN,
        CheckKind.ORGANS,
        CheckKind.PATHS,
        CheckKind.PROBE_COUNT,
        CheckKind.FREEZE_TIME,
    ]
    assert acceptance.describe_failure() == ""
    assert acceptance.verdict() == "All plan checks pass"


def test_a_margin_short_of_the_goal_fails_even_at_full_coverage():
    # The optimizer's goal (coverage) is met; the margin is not, and the verdict says so.
    acceptance = accept_plan(_metrics(covered=100.0, margin_mm=4.2), PlanSettings())
    assert not acceptance.passed
    assert [check.kind for check in acceptance.failed] == [CheckKind.MARGIN]
    assert acceptance.check(CheckKind.COVERAGE).passed is True
    line = acceptance.describe_failure()
    assert line.startswith("minimal ablative margin: 4.2 mm (goal ≥ 5 mm; change --margin-mm")
    assert "'Safety margin'" in line and "margin_mm" not in line.replace("--margin-mm", "")


def test_the_coverage_goal_is_read_from_the_settings():
    metrics = _metrics(covered=97.0)
    assert accept_plan(metrics, PlanSettings()).check(CheckKind.COVERAGE).passed is False
    relaxed = accept_plan(metrics, PlanSettings(coverage_goal_percent=95.0))
    coverage = relaxed.check(CheckKind.COVERAGE)
    assert (coverage.passed, coverage.value, coverage.goal) == (True, "97.0 %", "≥ 95 %")


def test_the_limits_are_read_from_the_settings():
    metrics = _metrics()
    tight = accept_plan(metrics, PlanSettings(max_probes=1, max_total_freeze_s=600.0))
    assert [check.kind for check in tight.failed] == [
        CheckKind.PROBE_COUNT,
        CheckKind.FREEZE_TIME,
    ]
    assert "--max-probes / 'Max probes'" in tight.describe_failure()
    assert "--max-freeze-min / 'Max total freeze'" in tight.describe_failure()


def test_an_organ_too_close_names_itself_and_the_clearance_field():
    metrics = dataclasses.replace(_metrics(), oars=(OarMetrics("bowel", 7.5, 10.0, 0.0, 0.0),))
    organs = accept_plan(metrics, PlanSettings()).check(CheckKind.ORGANS)
    assert (organs.passed, organs.subjects) == (False, ("bowel",))
    assert "'Organ clearance (default)'" in organs.describe()


def test_what_nothing_supports_is_not_assessed_never_passed():
    metrics = dataclasses.replace(_metrics(), organ_site=None)
    acceptance = accept_plan(metrics, PlanSettings())
    assert not acceptance.passed and not acceptance.failed
    assert [check.kind for check in acceptance.not_assessed] == [CheckKind.ORGANS]
    assert "not everything was assessed" in acceptance.verdict()


def test_a_path_leaving_an_ultrasound_image_is_not_checked_there_rather_than_unsafe():
    problem = f"the path {LEAVES_IMAGE_PROBLEM}"
    metrics = dataclasses.replace(_metrics(), paths=(_path((problem,)),))
    on_ct = accept_plan(metrics, PlanSettings()).check(CheckKind.PATHS)
    assert (on_ct.passed, on_ct.subjects) == (False, ("probe 1",))
    on_us = accept_plan(metrics, PlanSettings(), allow_leaving_image=True).check(CheckKind.PATHS)
    assert on_us.passed is None


def test_every_flag_a_check_names_is_a_flag_of_cryoplan_plan(capsys):
    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    usage = capsys.readouterr().out
    for option in SETTING_OPTIONS.values():
        assert option.setting in PlanSettings.__dataclass_fields__, option
        if option.flag is not None:
            assert f"{option.flag} " in usage, option
    assert f"{BORE_OPTION.flag} " in usage


@pytest.mark.parametrize("goal", [49.0, 100.5])
def test_the_coverage_goal_keeps_its_range(goal):
    with pytest.raises(InvalidParameterError, match="coverage_goal_percent"):
        PlanSettings(coverage_goal_percent=goal)


def test_the_default_coverage_goal_leaves_saved_plans_fresh():
    # Plans saved before the setting existed hash as before: their metrics stay fresh.
    assert "coverage_goal_percent" not in PlanSettings().as_dict()
    assert PlanSettings(coverage_goal_percent=95.0).as_dict()["coverage_goal_percent"] == 95.0


def _visible_ice(*, coverage: float = 99.5, ice_mm: float | None = 6.4) -> VisibleIce:
    location = None if ice_mm is None else (0.0, 0.0, 0.0)
    return VisibleIce(6.0, coverage, AblativeMargin(ice_mm, ice_mm, location))


def test_the_visible_ice_goal_judges_the_ice_edge_and_the_tumor_at_minus_20():
    settings = PlanSettings(goal="visible-ice")
    metrics = dataclasses.replace(
        _metrics(covered=50.0, margin_mm=1.0),  # no lethal margin: not this goal's concern
        coverage=(
            IsothermCoverage(0.0, 100.0, 100.0),
            IsothermCoverage(-20.0, 100.0, 90.0),
            IsothermCoverage(-40.0, 100.0, 50.0),
        ),
        visible_ice=_visible_ice(),
    )
    acceptance = accept_plan(metrics, settings)
    assert acceptance.passed, acceptance.describe_failure()
    assert [check.kind for check in acceptance.checks][:3] == [
        CheckKind.COVERAGE,
        CheckKind.ICE_MARGIN,
        CheckKind.TUMOR_FREEZE,
    ]
    assert acceptance.check(CheckKind.COVERAGE).name == "Tumor + 6 mm margin covered by 0 °C"
    short = accept_plan(
        dataclasses.replace(metrics, visible_ice=_visible_ice(ice_mm=4.9)), settings
    )
    assert [check.kind for check in short.failed] == [CheckKind.ICE_MARGIN]
    assert short.describe_failure().startswith(
        "0 °C ice edge beyond the tumor: 4.9 mm (goal ≥ 6 mm everywhere; change --ice-margin-mm"
    )
    warm = dataclasses.replace(
        metrics, coverage=(IsothermCoverage(0.0, 100.0, 100.0), IsothermCoverage(-20.0, 97.0, 0.0))
    )
    assert [check.kind for check in accept_plan(warm, settings).failed] == [CheckKind.TUMOR_FREEZE]


def test_visible_ice_metrics_of_an_old_evaluation_are_not_assessed():
    acceptance = accept_plan(_metrics(), PlanSettings(goal="visible-ice"))
    assert acceptance.check(CheckKind.COVERAGE).passed is None
    assert acceptance.check(CheckKind.ICE_MARGIN).passed is None
    assert not acceptance.passed


def test_the_goal_is_a_setting_of_its_own_with_a_flag():
    settings = PlanSettings(goal="visible-ice", ice_margin_mm=8.0)
    assert settings.goal is PlanGoal.VISIBLE_ICE
    assert (settings.zone_isotherm_c, settings.zone_margin_mm) == (0.0, 8.0)
    assert -20.0 in settings.metric_isotherms_c()
    assert settings.as_dict()["goal"] == "visible-ice"
    assert "goal" not in PlanSettings().as_dict()  # older plans keep their hash
    with pytest.raises(InvalidParameterError, match="--goal"):
        PlanSettings(goal="frozen")
    with pytest.raises(InvalidParameterError, match="ice_margin_mm"):
        PlanSettings(ice_margin_mm=12.0)


def _prone_plan(*entries_and_tips: tuple[tuple[float, ...], tuple[float, ...]], bore_mm=700.0):
    """A prone plan (table in front, patient resting at y = -100 mm) with the given probes."""
    from planning_core.planning.plan import Plan, PlannedProbe
    from planning_core.planning.plan_approach import PlanApproach, PositionReading

    record = PlanApproach(
        PositionReading("HFP", "header", "HFP"),
        table_down_lps=(0.0, -1.0, 0.0),
        table_source="image",
        table_top_mm=100.0,
        bore_axis_lps_mm=(0.0, 0.0, 0.0),
        bore_diameter_mm=bore_mm,
        max_craniocaudal_deg=30.0,
    )
    probes = tuple(
        PlannedProbe("argon-2.4", tip, entry, f"P{n}")
        for n, (entry, tip) in enumerate(entries_and_tips, start=1)
    )
    return Plan(probes=probes, settings=PlanSettings(patient_position="HFP"), approach=record)


def _approach_verdict(plan):
    from planning_core.planning.approach import recorded_approach_checks

    metrics = dataclasses.replace(
        _metrics(), probe_count=len(plan.probes), paths=(_path(),) * len(plan.probes)
    )
    return accept_plan(metrics, plan.settings, approach=recorded_approach_checks(plan))


def test_probes_from_the_back_of_a_prone_patient_pass_the_approach_check():
    plan = _prone_plan(((0.0, 90.0, 0.0), (0.0, 10.0, 0.0)), ((20.0, 90.0, 0.0), (10.0, 10.0, 0.0)))
    verdict = _approach_verdict(plan)
    assert verdict.check(CheckKind.APPROACH).passed is True
    assert verdict.passed


def test_an_entry_from_the_table_side_fails_and_names_the_patient_position():
    # P2 enters low on the flank of a prone patient, 35 mm above the mattress, nearly
    # level: its handle stays above the table top, its entry is too close to it.
    plan = _prone_plan(
        ((0.0, 90.0, 0.0), (0.0, 10.0, 0.0)), ((150.0, -65.0, 0.0), (10.0, -60.0, 0.0))
    )
    check = _approach_verdict(plan).check(CheckKind.APPROACH)
    assert check.passed is False and check.subjects == ("P2",)
    assert "entry on the side the patient lies on" in check.value
    assert [option.flag for option in check.options] == ["--patient-position"]
    assert "--patient-position / 'Patient position'" in check.describe()


def test_a_handle_outside_the_bore_fails_and_names_the_bore():
    # A flat lateral path: the handle, 100 mm beyond the entry at x = 200 mm, ends 300 mm
    # from the bore axis, inside a 700-mm bore but outside a 500-mm one.
    probes = (((200.0, 50.0, 0.0), (60.0, 50.0, 0.0)),)
    assert _approach_verdict(_prone_plan(*probes)).check(CheckKind.APPROACH).passed is True
    check = _approach_verdict(_prone_plan(*probes, bore_mm=500.0)).check(CheckKind.APPROACH)
    assert check.passed is False and "gantry bore" in check.value
    assert [option.flag for option in check.options] == ["--bore-mm", "--patient-position"]


def test_a_tilt_beyond_the_limit_of_the_position_fails():
    # 45 degrees out of the axial plane, from the back: beyond the prone limit of 30.
    plan = _prone_plan(((0.0, 90.0, 80.0), (0.0, 10.0, 0.0)))
    check = _approach_verdict(plan).check(CheckKind.APPROACH)
    assert check.passed is False and "craniocaudal angle" in check.value
    assert [option.flag for option in check.options] == ["--patient-position"]


def test_an_unknown_table_side_is_not_assessed_and_no_record_leaves_the_check_out():
    import dataclasses as dc

    from planning_core.planning.plan_approach import PlanApproach, PositionReading

    plan = _prone_plan(((0.0, 90.0, 0.0), (0.0, 10.0, 0.0)))
    unknown = dc.replace(plan, approach=PlanApproach(PositionReading(None, "absent")))
    check = _approach_verdict(unknown).check(CheckKind.APPROACH)
    assert check.passed is None and "table side unknown" in check.value
    assert _approach_verdict(dc.replace(plan, approach=None)).find(CheckKind.APPROACH) is None
    assert (
        accept_plan(_metrics(), PlanSettings(), approach=()).check(CheckKind.APPROACH).passed
        is None
    )


def test_the_organs_check_names_the_protection_the_plan_was_simulated_with():
    from planning_core.planning.plan_approach import PlannedProtection
    from planning_core.thermal.protection import HydrodissectionLayer

    layer = HydrodissectionLayer((0.0, 20.0, 0.0), (0.0, 1.0, 0.0), 8.0, 25.0, 37.0)
    shielded = (PlannedProtection("bowel", layer), PlannedProtection("spleen", layer))
    verdict = accept_plan(_metrics(), PlanSettings(), protection=shielded)
    check = verdict.check(CheckKind.ORGANS)
    assert check.passed is True
    # Only organs the metrics measured are named; the bare verdict names none.
    assert check.value == (
        "all clear; with the simulated hydrodissection 8 mm (infused, 37 °C, radius 25 mm) "
        "for the bowel"
    )
    assert accept_plan(_metrics(), PlanSettings()).check(CheckKind.ORGANS).value == "all clear"
