"""File ▸ Export report (PDF)…: the window writes the plan report of planning_core.report."""

from __future__ import annotations

import numpy as np
import pytest
from cryoplan_app.qt.report_action import export_report
from qt_helpers import dispose_window

from planning_core.errors import ReportError


@pytest.fixture()
def report_window(qapp, kidney_case, tmp_path):
    """A window with the packaged probe library (the report names real probe models)."""
    from cryoplan_app.qt.main_window import MainWindow

    window = MainWindow(headless=True, autosave_dir=tmp_path / "autosave", simulate=False)
    window.resize(1200, 800)
    window.show()
    window.session.open_case(kidney_case)
    qapp.processEvents()
    yield window
    window.runner.wait(60_000)
    dispose_window(window)


@pytest.mark.gui
def test_a_plan_without_probes_is_refused_with_the_reason(report_window, tmp_path):
    assert report_window.report_action.isEnabled()
    with pytest.raises(ReportError, match="no probes"):
        report_window.logic.report.report_work(tmp_path / "r.pdf")


@pytest.mark.gui
@pytest.mark.slow
def test_the_report_of_the_window_plan_is_written(report_window, kidney_tumor_lps, qtbot, tmp_path):
    session = report_window.session
    tip = np.asarray(kidney_tumor_lps) + np.array([0.0, 0.0, -15.0])
    session.document.add_probe("argon-2.4", tip, tip + np.array([0.0, 0.0, 110.0]))
    out = tmp_path / "window-report.pdf"
    export_report(report_window.context, out)
    qtbot.waitUntil(lambda: not report_window.runner.busy, timeout=180_000)
    assert out.read_bytes()[:5] == b"%PDF-"
    assert "Report written" in report_window.statusBar().currentMessage()
