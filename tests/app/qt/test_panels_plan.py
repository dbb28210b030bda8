"""Optimizer and metrics panels: settings form, a fast stand-in optimizer, accept, compare, cancel.

The real optimizer runs once, in ``test_workflow.py``; here a stand-in
returns a plan evaluated for real (coarse grid), so the numbers the panels
show can be checked against the model's metrics.
"""

from __future__ import annotations

import dataclasses
import math
import time
from types import SimpleNamespace

import numpy as np
import pytest
from cryoplan_app.logic import optimizer as optimizer_module
from cryoplan_app.qt.panels.metrics import coverage_rows
from cryoplan_app.qt.panels.summary import NOT_EVALUATED, lethal_coverage
from panel_helpers import tumor_centroid_lps, wait_idle
from PyQt6.QtCore import Qt
from PyQt6.QtTest import QTest

from planning_core.errors import InfeasiblePlanError
from planning_core.figures import (
    format_coverage_percent,
    format_length_mm,
    format_margin_mm,
    format_volume_ml,
)
from planning_core.planning.acceptance import SETTING_OPTIONS, Acceptance, accept_plan
from planning_core.planning.evaluate import evaluate_plan
from planning_core.planning.metrics import MARGIN_SHELL
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.results import IsothermCoverage
from planning_core.planning.settings import SETTING_RANGES
from planning_core.segmentation.metrics import mask_volume_ml, max_diameter_mm

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def proposal(kidney_case, probe_library):
    """What the stand-in optimizer proposes: one vertical probe through the tumor, evaluated."""
    model = next(iter(probe_library.models.values()))
    centre = tumor_centroid_lps(kidney_case.labels)
    # Tip 15 mm behind the centre: the freezing segment (5 to 35 mm behind the tip) spans it.
    tip = centre + np.array([0.0, 15.0, 0.0])
    probe = PlannedProbe(model.id, tuple(tip), tuple(tip - [0.0, 120.0, 0.0]), "P1")
    plan = Plan(probes=(probe,), protocol="F5-T3-F5")
    evaluation = evaluate_plan(
        plan, kidney_case.volume, kidney_case.labels, spacing_mm=2.0, probe_library=probe_library
    )
    checks = accept_plan(evaluation.metrics, evaluation.plan.settings).checks
    return SimpleNamespace(
        plan=evaluation.plan,
        # A verified result: every check passes (the stand-in's verdict; it judges nothing).
        acceptance=Acceptance(tuple(dataclasses.replace(c, passed=True) for c in checks)),
        simulation=evaluation.simulation,
        runtime_s=1.5,
        log=("tried 1 probe", "verified on a 2-mm grid"),
    )


@pytest.fixture
def window(main_window, kidney_case, qtbot):
    session = main_window.session
    wait_idle(qtbot, main_window)
    if session.document.labels is not kidney_case.labels:
        session.document.replace_labels(kidney_case.labels, "Reset labels")
    session.document.set_plan(Plan(), text="Reset plan")
    session.document.set_results(None)
    yield main_window
    # Work a test left running must not outlive the module's window.
    wait_idle(qtbot, main_window)


def stand_in(result, calls):
    def run(volume, label_map, *, progress, cancel, **options):
        calls.append((volume, label_map, options))
        progress(0.5, "Trying one probe")
        cancel.raise_if_cancelled()
        return result

    return run


def test_every_field_a_plan_check_names_is_a_row_of_the_settings_form(window):
    # Failure messages send the user to these labels: each must exist, spelled as shown.
    from PyQt6.QtWidgets import QFormLayout, QLabel

    panel = window.panels["optimizer"]
    titles = set()
    for form in panel.findChildren(QFormLayout):
        for row in range(form.rowCount()):
            item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            if item is not None and isinstance(item.widget(), QLabel):
                titles.add(item.widget().text())
    for option in SETTING_OPTIONS.values():
        assert option.field in titles, option
    box = panel.setting_boxes["coverage_goal_percent"]
    box.setValue(95.0)
    assert window.session.document.plan.settings.coverage_goal_percent == 95.0
    window.session.document.history.undo()


def test_settings_form_follows_the_declared_ranges_and_edits_the_plan(window):
    session = window.session
    panel = window.panels["optimizer"]
    margin = panel.setting_boxes["margin_mm"]
    declared = SETTING_RANGES["margin_mm"]
    assert (margin.minimum(), margin.maximum()) == (declared.minimum, declared.maximum)
    assert margin.suffix() == " mm"
    margin.setValue(7.0)
    assert session.document.plan.settings.margin_mm == 7.0
    freeze = panel.setting_boxes["max_total_freeze_s"]
    assert freeze.suffix() == " min"
    assert freeze.value() == pytest.approx(session.document.plan.settings.max_total_freeze_s / 60.0)
    freeze.setValue(20.0)
    assert session.document.plan.settings.max_total_freeze_s == pytest.approx(1200.0)
    panel.setting_boxes["max_probes"].setValue(3)
    assert session.document.plan.settings.max_probes == 3
    session.document.history.undo()
    session.document.history.undo()
    session.document.history.undo()
    assert session.document.plan.settings == Plan().settings
    assert margin.value() == Plan().settings.margin_mm


def test_organ_site_field_sets_the_plans_site(window):
    session = window.session
    choice = window.panels["optimizer"].site_choice
    assert choice.currentData() == "" and session.document.plan.settings.organ_site is None
    choice.setCurrentIndex(choice.findData("kidney"))
    assert session.document.plan.settings.organ_site == "kidney"
    session.document.history.undo()
    assert session.document.plan.settings.organ_site is None and choice.currentData() == ""


def test_stand_in_optimizer_run_accept_compare_and_undo(window, proposal, monkeypatch, qtbot):
    session = window.session
    panel = window.panels["optimizer"]
    calls = []
    monkeypatch.setattr(optimizer_module, "run_optimizer", stand_in(proposal, calls))
    messages = []
    window.runner.task_progressed.connect(lambda task: messages.append(task.message))
    panel.setting_boxes["margin_mm"].setValue(4.0)
    QTest.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert "Trying one probe" in messages
    ((_volume, labels, options),) = calls
    assert labels is session.document.labels and options["settings"].margin_mm == 4.0
    assert options["probe_model"] is None and options["target_label"] == "tumor"
    assert options["robustness_samples"] == panel.samples_box.value()
    assert not panel.result_box.isHidden() and panel.result_box.title() == "Proposal"
    rows = {
        panel.summary_table.item(r, 0).text(): panel.summary_table.item(r, 1).text()
        for r in range(panel.summary_table.rowCount())
    }
    metrics = proposal.plan.metrics
    tumor, zone = lethal_coverage(metrics)
    assert rows["Tumor killed (≤ -40 °C)"] == format_coverage_percent(tumor)
    assert rows[f"Tumor + {metrics.margin_mm:g} mm killed"] == format_coverage_percent(zone)
    assert rows["Runtime"] == "1.5 s"
    assert rows["Plan checks"] == "all pass"  # the optimizer's verdict: the panel judges nothing
    assert panel.log.toPlainText() == "tried 1 probe\nverified on a 2-mm grid"

    QTest.mouseClick(panel.compare_button, Qt.MouseButton.LeftButton)
    assert not panel.compare_table.isHidden() and panel.summary_table.isHidden()
    current = {
        panel.compare_table.item(r, 0).text(): panel.compare_table.item(r, 1).text()
        for r in range(panel.compare_table.rowCount())
    }
    assert current["Probes"] == "none"
    assert NOT_EVALUATED in current.values()
    QTest.mouseClick(panel.compare_button, Qt.MouseButton.LeftButton)

    before = session.document.plan
    QTest.mouseClick(panel.accept_button, Qt.MouseButton.LeftButton)
    assert session.document.plan.probes == proposal.plan.probes
    assert session.document.plan.protocol == proposal.plan.protocol
    assert session.document.history.undo_text == "Accept optimized plan"
    assert session.document.results.metrics is metrics and session.document.results_fresh
    assert session.document.history.undo()
    assert session.document.plan == before


def test_cancel_stops_the_optimizer_and_keeps_the_plan(window, monkeypatch, qtbot):
    session = window.session
    panel = window.panels["optimizer"]
    started = []

    def slow(volume, label_map, *, progress, cancel, **options):
        started.append(True)
        while True:  # until cancelled, as a long search would
            cancel.raise_if_cancelled()
            progress(0.1, "Searching")
            time.sleep(0.01)

    monkeypatch.setattr(optimizer_module, "run_optimizer", slow)
    before = session.document.plan
    QTest.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(started), timeout=10_000)
    assert panel.cancel_button.isEnabled() and not panel.run_button.isEnabled()
    QTest.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window, timeout_ms=10_000)
    assert "Cancelled" in panel.progress_note.text()
    assert session.document.plan is before
    assert panel.run_button.isEnabled()


def test_an_infeasible_plan_reaches_the_error_presenter(window, monkeypatch, qtbot):
    panel = window.panels["optimizer"]

    def infeasible(volume, label_map, *, progress, cancel, **options):
        raise InfeasiblePlanError("max_probes 1 cannot cover this tumor; allow more probes.")

    monkeypatch.setattr(optimizer_module, "run_optimizer", infeasible)
    with qtbot.waitSignal(window.errors.reported, timeout=10_000) as signal:
        QTest.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert "max_probes 1" in signal.args[0]
    wait_idle(qtbot, window)
    assert panel.run_button.isEnabled()
    assert panel.progress_note.text().startswith("No plan: max_probes 1")
    assert panel.result_box.isHidden()


def test_a_result_failing_a_check_is_not_offered_as_a_full_proposal(window, proposal, qtbot):
    # The optimizer meets coverage, organs and paths; the minimal ablative margin may
    # still fail. The panel must then say so, naming the check and what to change.
    panel = window.panels["optimizer"]
    metrics = proposal.plan.metrics
    acceptance = accept_plan(metrics, proposal.plan.settings)
    assert acceptance.failed
    failing = SimpleNamespace(**{**vars(proposal), "acceptance": acceptance})
    window.logic.optimizer.optimized(failing, window.session.document.labels)
    assert panel.result_box.title() == "Closest plan (goals not met)"
    first = acceptance.failed[0]
    assert first.name.lower() in panel.progress_note.text().lower()
    assert first.options[0].field in panel.progress_note.text()
    rows = {
        panel.summary_table.item(r, 0).text(): panel.summary_table.item(r, 1).text()
        for r in range(panel.summary_table.rowCount())
    }
    assert rows["Plan checks"].startswith("FAIL: ")


def test_an_infeasible_search_offers_its_closest_plan(window, proposal, monkeypatch, qtbot):
    session = window.session
    panel = window.panels["optimizer"]
    closest = proposal.plan.with_metrics(None)
    reason = "max_probes 1: the lethal isotherm covers at best 62.0 % of tumor + 5 mm."

    def infeasible(volume, label_map, *, progress, cancel, **options):
        raise InfeasiblePlanError(reason, best_partial_plan=closest)

    monkeypatch.setattr(optimizer_module, "run_optimizer", infeasible)
    reported = []
    window.errors.reported.connect(reported.append)
    QTest.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert reported == []  # a result to look at, not an error dialog
    assert panel.result_box.title() == "Closest plan (goals not met)"
    assert reason in panel.progress_note.text()
    rows = {
        panel.summary_table.item(r, 0).text(): panel.summary_table.item(r, 1).text()
        for r in range(panel.summary_table.rowCount())
    }
    assert rows["Probes"] == f"1 × {closest.probes[0].model_id}"
    assert rows["Minimal ablative margin"] == NOT_EVALUATED
    QTest.mouseClick(panel.accept_button, Qt.MouseButton.LeftButton)
    assert session.document.plan.probes == closest.probes
    assert session.document.history.undo_text == "Accept closest plan"
    assert (
        session.document.results is None or not session.document.results_fresh
    )  # evaluated like any edit


def test_metrics_panel_shows_the_models_metrics_and_goes_stale(window, proposal, monkeypatch):
    session = window.session
    panel = window.panels["metrics"]
    assert "No probes" in panel.stale_note.text()
    optimizer = window.panels["optimizer"]
    monkeypatch.setattr(optimizer_module, "run_optimizer", stand_in(proposal, []))
    window.logic.optimizer.optimized(proposal, session.document.labels)  # as if it had just run
    optimizer.accept()
    metrics = session.document.results.metrics
    assert panel.metrics is metrics and not panel.stale
    assert panel.stale_note.isHidden()

    table = panel.coverage_table
    assert table.rowCount() == len(metrics.coverage)
    for row, entry in enumerate(metrics.coverage):
        assert table.item(row, 0).text().startswith(f"{entry.isotherm_c:g} °C")
        assert table.item(row, 1).text() == format_coverage_percent(entry.tumor_percent)
        assert table.item(row, 2).text() == format_coverage_percent(entry.tumor_and_margin_percent)
    oars = panel.oar_table
    # The organs the kidney site lists but the sample lacks follow, "not assessed".
    assert metrics.not_assessed == ("duodenum", "spleen", "pancreas")
    assert [oars.item(r, 0).text() for r in range(oars.rowCount())] == [
        *(o.name for o in metrics.oars),
        *metrics.not_assessed,
    ]
    for row, oar in enumerate(metrics.oars):
        verdict = "monitored" if oar.monitored else "clear" if oar.clear else "TOO CLOSE"
        assert oars.item(row, 5).text() == verdict
    for row in range(len(metrics.oars), oars.rowCount()):
        assert oars.item(row, 5).text() == "not assessed"
    assert "not assessed" in panel.oar_note.text()
    assert panel.path_table.rowCount() == len(metrics.paths) == 1
    assert format_margin_mm(metrics.margin.minimum_mm) in panel.margin_note.text()
    assert ("MET" if metrics.margin.minimum_mm >= metrics.margin_mm else "NOT MET") in (
        panel.margin_note.text()
    )
    # The plot holds exactly the model's histograms, in percent.
    assert set(panel.tvh.curves) == {h.structure for h in metrics.histograms}
    assert MARGIN_SHELL in panel.tvh.curves
    # Organs the ice never reached are named under the plot instead of drawn flat on 0 %.
    assert set(panel.tvh.unfrozen) == {o.name for o in metrics.oars if o.frozen_volume_ml == 0}
    for histogram in metrics.histograms:
        temperatures, percent = panel.tvh.curves[histogram.structure]
        assert temperatures == histogram.temperatures_c
        assert all(
            math.isclose(p, 100.0 * f)
            for p, f in zip(percent, histogram.fraction_at_or_below, strict=True)
        )

    session.document.move_probe(
        0, tip_lps_mm=np.add(session.document.plan.probes[0].tip_lps_mm, [0.0, 0.0, 3.0])
    )
    assert panel.stale and "Out of date" in panel.stale_note.text()
    assert not panel.coverage_table.isEnabled()
    session.document.history.undo()
    assert not panel.stale and panel.coverage_table.isEnabled()


def test_metrics_panel_gives_tumor_size_and_coverage_as_every_screen(window, proposal, monkeypatch):
    session = window.session
    panel = window.panels["metrics"]
    optimizer = window.panels["optimizer"]
    monkeypatch.setattr(optimizer_module, "run_optimizer", stand_in(proposal, []))
    window.logic.optimizer.optimized(proposal, session.document.labels)
    optimizer.accept()
    # Measured on the label's own grid with the one definition the report and the CLI
    # use, not on the (coarser) simulation grid.
    tumor = session.document.labels.mask(session.document.plan.target_label)
    geometry = session.document.labels.geometry
    size = (
        f"Tumor {format_volume_ml(mask_volume_ml(tumor, geometry))}, "
        f"{format_length_mm(max_diameter_mm(tumor, geometry))} across"
    )
    assert size in panel.summary_note.text()
    # 99.96 % leaves tumor untreated: it must not read as full coverage.
    almost = dataclasses.replace(
        session.document.results.metrics, coverage=(IsothermCoverage(-40.0, 99.96, 99.96),)
    )
    ((texts, _),) = coverage_rows(almost)
    assert texts[1:] == ["99.9 %", "99.9 %"]
