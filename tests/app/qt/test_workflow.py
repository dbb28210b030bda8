"""The whole workflow through the real window on the kidney sample case.

Open the case, segment the tumor with one click, optimize (the real
optimizer, once), accept, drag a probe, see the metrics follow, save, reopen,
undo and redo. Slow: the optimizer and the full evaluations dominate.
"""

from __future__ import annotations

import numpy as np
import pytest
from panel_helpers import click_at, tumor_centroid_lps, wait_idle
from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtTest import QTest
from qt_helpers import dispose_window

from planning_core.planning.plan import Plan
from planning_core.segmentation.metrics import dice

pytestmark = [pytest.mark.gui, pytest.mark.slow]

#: The optimizer on a shared 2-core machine: generous.
OPTIMIZER_TIMEOUT_MS = 540_000


def drag(view, start: QPointF, end: QPointF, steps: int = 5) -> None:
    """Left-drag on ``view`` from ``start`` to ``end`` through ``steps`` moves."""
    QTest.mousePress(view, Qt.MouseButton.LeftButton, pos=start.toPoint())
    for step in range(1, steps + 1):
        point = start + (end - start) * (step / steps)
        QTest.mouseMove(view, point.toPoint())
    QTest.mouseRelease(view, Qt.MouseButton.LeftButton, pos=end.toPoint())


@pytest.fixture
def clinical_window(qapp, tmp_path):
    """The window with the packaged (calibrated) probe library, as a user gets it, no case."""
    from cryoplan_app.qt.main_window import MainWindow

    window = MainWindow(headless=True, autosave_dir=tmp_path / "autosave", simulate=False)
    window.resize(1200, 800)
    window.show()
    qapp.processEvents()
    yield window
    dispose_window(window)  # never asks about unsaved changes; frees the VTK windows now


def test_full_workflow_on_the_kidney_case(clinical_window, qtbot, tmp_path):
    window, session = clinical_window, clinical_window.session
    # 1. Open the sample case through the window (worker thread, as from the File menu).
    window.open_sample("kidney")
    wait_idle(qtbot, window)
    assert session.case is not None and session.case.source.location == "kidney"
    truth = session.document.labels.mask("tumor")
    centre = tumor_centroid_lps(session.document.labels)
    session.document.replace_labels(
        session.document.labels.without("tumor"), "Start without a tumor"
    )

    # 2. Segment the tumor with one click at its centre in the axial view.
    session.view.set_crosshair(centre)
    window.view_area.render_all()
    segmentation = window.panels["segmentation"]
    QTest.mouseClick(segmentation.click_button, Qt.MouseButton.LeftButton)
    click_at(qtbot, window.view_area.views["axial"], centre)
    wait_idle(qtbot, window)
    assert dice(session.document.labels.mask("tumor"), truth) > 0.85
    segmented = session.document.labels

    # 3. Optimize for real and accept the proposal.
    optimizer = window.panels["optimizer"]
    assert optimizer.model_choice.currentText() == "Automatic"
    optimizer.samples_box.setValue(0)  # the robustness analysis is the optimizer's own test
    QTest.mouseClick(optimizer.run_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window, timeout_ms=OPTIMIZER_TIMEOUT_MS)
    proposal = optimizer.proposal
    assert proposal is not None, optimizer.progress_note.text()
    assert proposal.labels_used is segmented
    QTest.mouseClick(optimizer.accept_button, Qt.MouseButton.LeftButton)
    plan = session.document.plan
    assert plan.probes == proposal.plan.probes
    if proposal.shortfall:
        # The closest plan of an infeasible search comes without a simulation; the app
        # evaluates it after the edit (here automatic evaluation is off).
        window.logic.evaluation.evaluate_now()
        wait_idle(qtbot, window, timeout_ms=OPTIMIZER_TIMEOUT_MS)
    assert session.document.results_fresh
    metrics_panel = window.panels["metrics"]
    accepted = session.document.results.metrics
    assert metrics_panel.metrics is accepted and not metrics_panel.stale
    lethal = accepted.coverage_at(accepted.lethal_isotherm_c)
    assert lethal.tumor_percent > 95.0  # the optimizer's goal is full coverage

    # 4. Drag probe 1's tip 8 pixels to the right in the axial view (probe tool).
    session.document.select_probe(0)
    session.view.set_crosshair(plan.probes[0].tip_lps_mm)
    session.view.set_tool("probe")
    axial = window.view_area.views["axial"]
    window.view_area.render_all()
    undo_steps = session.document.history.undo_count
    start = axial.probe_handle_px(0, "tip")
    drag(axial, start, start + QPointF(8.0, 0.0))
    moved = session.document.plan.probes[0]
    assert moved.tip_lps_mm != plan.probes[0].tip_lps_mm
    # Screen right is the patient's left (+x, radiological convention) in the axial view.
    assert moved.tip_lps_mm[0] > plan.probes[0].tip_lps_mm[0]
    assert session.document.history.undo_count == undo_steps + 1  # the whole drag is one step
    assert metrics_panel.stale

    # 5. The metrics follow the new plan once it is evaluated.
    window.logic.evaluation.evaluate_now()
    wait_idle(qtbot, window, timeout_ms=OPTIMIZER_TIMEOUT_MS)
    assert session.document.results_fresh and not metrics_panel.stale
    fresh = session.document.results.metrics
    assert fresh is not accepted
    assert (
        metrics_panel.coverage_table.item(0, 1).text() == f"{fresh.coverage[0].tumor_percent:.1f} %"
    )

    # 6. Undo and redo the drag.
    assert session.document.history.undo()
    assert session.document.plan.probes[0] == plan.probes[0]
    assert session.document.history.redo()
    assert session.document.plan.probes[0] == moved
    session.view.set_tool("navigate")

    # 7. Save, then reopen in the same window.
    path = tmp_path / "kidney-plan.json"
    assert window.save_plan_to(path)
    wait_idle(qtbot, window)  # the plan is written in a worker
    assert not session.document.history.dirty
    saved = session.document.plan
    session.document.set_plan(Plan(), text="Clear plan")
    window.open_plan(path)
    wait_idle(qtbot, window)
    reopened = session.document.plan
    assert reopened.probes == saved.probes and reopened.probes[0] == moved
    assert reopened.protocol == plan.protocol
    np.testing.assert_array_equal(session.document.labels.mask("tumor"), segmented.mask("tumor"))
    assert window.panels["probes"].table.rowCount() == len(reopened.probes)
    assert not session.document.history.dirty
    wait_idle(qtbot, window)  # nothing may outlive the window
