"""Growth replay and path checks without widgets: kept by their inputs, dropped when stale."""

from __future__ import annotations

import numpy as np
import pytest

from planning_core.errors import PlanningError, ReportError
from planning_core.planning.results import PathReport


def _move_first_probe(document, offset_mm: float = 3.0) -> None:
    tip = np.add(document.plan.probes[0].tip_lps_mm, offset_mm)
    document.move_probe(0, tip_lps_mm=tip)


def test_the_replay_is_kept_for_its_inputs_and_a_late_one_is_dropped(logic, runner, tumor_lps):
    document, growth = logic.session.document, logic.growth
    assert growth.compute() is None  # no probes: nothing to replay
    document.add_probe_at(tumor_lps)
    arrived = []
    growth.arrived.connect(arrived.append)
    assert growth.compute() is not None and growth.running
    assert growth.compute() is None  # one replay at a time
    runner.run_pending()
    assert not growth.running and growth.result is arrived[0]
    time_s, field = growth.field_at(140.0)
    assert time_s == 120.0 and field.approximate  # the nearest recorded minute
    np.testing.assert_array_equal(field.min_temperature_c, growth.result.snapshots_c[120.0])
    _move_first_probe(document)
    assert growth.result is None  # the plan changed: the replay is out of date
    with pytest.raises(PlanningError, match="not been simulated"):
        growth.field_at(0.0)
    document.history.undo()
    assert growth.result is arrived[0]  # kept with its inputs
    growth.compute()
    _move_first_probe(document)  # while the replay runs
    runner.run_pending()
    assert growth.result is None and len(arrived) == 1  # a replay of an old plan is dropped


def test_path_checks_follow_labels_and_settings_and_keep_reports_per_probe(
    logic, runner, tumor_lps
):
    document, paths = logic.session.document, logic.trajectory
    assert paths.context is None and paths.note == ""  # prepared when the first probe arrives
    document.add_probe_at(tumor_lps)
    assert paths.note.startswith("Preparing")
    runner.run_pending()
    context = paths.context
    assert context is not None and paths.note.startswith("Paths checked against")
    probe = document.plan.probes[0]
    report = paths.report(probe)
    assert isinstance(report, PathReport) and paths.report(probe) is report
    _move_first_probe(document)
    assert paths.context is context  # probes do not change the analysis
    assert paths.report(document.plan.probes[0]) is not report
    document.set_settings(margin_mm=document.plan.settings.margin_mm + 1.0)
    assert paths.context is None and paths.note.startswith("Preparing")
    document.history.undo()  # the old settings again: their analysis is prepared anew
    runner.run_pending()
    assert paths.context is not None and paths.context is not context
    assert paths.context.settings == document.plan.settings


def test_an_evaluation_hands_its_path_analysis_to_the_path_checks(logic, runner, tumor_lps):
    document, paths = logic.session.document, logic.trajectory
    document.add_probe_at(tumor_lps)
    preparation = runner.pending.pop(0)  # the path checks' own preparation is slow
    assert preparation.title == "Preparing path checks"
    logic.evaluation.evaluate_now()
    runner.run_pending()
    assert document.results_fresh
    assert paths.context is not None and preparation.token.cancelled
    assert paths.context_for(document.labels, document.plan.settings, "tumor") is paths.context
    assert paths.context_for(document.labels, document.plan.settings, "other") is None


def test_a_report_of_a_plan_without_probes_is_refused_at_once(logic, runner, tmp_path):
    with pytest.raises(ReportError, match="no probes"):
        logic.report.export_report(tmp_path / "r.pdf", on_done=lambda output: None)
    assert not runner.pending
