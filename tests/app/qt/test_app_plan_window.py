"""Planning in the real window: probes drawn and dragged, undo, plan files, autosave, closing."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from cryoplan_app.model.autosave import Autosaver
from cryoplan_app.qt.main_window import MainWindow
from cryoplan_app.render.plan_overlays import SELECTED_COLOR, isotherm_color
from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtWidgets import QMessageBox
from qt_helpers import dispose_window, send_mouse, view_pixel

from planning_core.planning.plan_json import load_plan

pytestmark = pytest.mark.gui


@pytest.fixture
def window(main_window, qapp, kidney_case, kidney_tumor_lps, qtbot):
    """The module's window with one probe through the tumor, crosshair on its tip."""
    session = main_window.session
    qtbot.waitUntil(lambda: not main_window.runner.busy, timeout=60000)
    if session.case is not kidney_case:
        session.open_case(kidney_case)
    session.view.set_layout("4up")
    session.view.set_tool("navigate")
    # In the axial plane, from the patient's right side (screen left), horizontal.
    session.document.add_probe(
        "test-2.4", kidney_tumor_lps, kidney_tumor_lps + np.array((-90.0, 0, 0))
    )
    session.view.set_crosshair(kidney_tumor_lps)
    qapp.processEvents()
    yield main_window
    qtbot.waitUntil(lambda: not main_window.runner.busy, timeout=60000)
    session.open_case(kidney_case)  # a clean plan for the next test


def _near(rgb_image, x: float, y: float, color, *, radius: int = 2, tolerance: int = 40) -> bool:
    """True when a pixel within ``radius`` of display point (x, y) has ``color`` (0..1 floats)."""
    row = rgb_image.shape[0] - 1 - round(y)
    column = round(x)
    patch = rgb_image[row - radius : row + radius + 1, column - radius : column + radius + 1]
    target = np.asarray(color) * 255.0
    return bool(np.any(np.all(np.abs(patch.astype(float) - target) <= tolerance, axis=-1)))


def test_probe_is_drawn_at_its_projected_place(window, kidney_tumor_lps) -> None:
    axial = window.view_area.views["axial"]
    probe = window.session.document.plan.probes[0]
    # A point of the shaft between the freezing segment and the entry: selected colour.
    shaft_point = np.add(probe.tip_lps_mm, (-60.0, 0.0, 0.0))
    rgb = axial.capture_rgb()
    assert _near(rgb, *axial.scene.lps_to_display(shaft_point), SELECTED_COLOR)
    # Away from the probe (30 mm posterior, clear of its name) no probe colour.
    beside = shaft_point + np.array((0.0, 30.0, 0.0))
    assert not _near(rgb, *axial.scene.lps_to_display(beside), SELECTED_COLOR)


def test_dragging_the_tip_moves_it_as_one_undo_step(window, qapp) -> None:
    session, axial = window.session, window.view_area.views["axial"]
    session.view.set_tool("probe")
    start_tip = np.array(session.document.plan.probes[0].tip_lps_mm)
    undo_before = session.document.history.undo_count
    handle = axial.probe_handle_px(0, "tip")
    send_mouse(axial, "press", handle)
    for step in range(1, 6):
        send_mouse(axial, "move", handle + QPointF(4.0 * step, 0.0))
    send_mouse(axial, "release", handle + QPointF(20.0, 0.0))
    moved_tip = np.array(session.document.plan.probes[0].tip_lps_mm)
    frame = session.view.frame("axial")
    mm_per_px = axial.scene.mm_per_pixel * axial.devicePixelRatioF()
    # 20 px to the screen's right, nothing across the plane.
    np.testing.assert_allclose(moved_tip - start_tip, 20.0 * mm_per_px * frame.right_lps, atol=1e-6)
    assert session.document.history.undo_count == undo_before + 1
    assert session.document.history.undo_text.startswith("Move probe")
    window.undo_action.trigger()
    np.testing.assert_allclose(session.document.plan.probes[0].tip_lps_mm, start_tip)
    window.redo_action.trigger()
    np.testing.assert_allclose(session.document.plan.probes[0].tip_lps_mm, moved_tip)


def test_ctrl_drag_on_the_shaft_moves_the_whole_probe(window) -> None:
    session, axial = window.session, window.view_area.views["axial"]
    session.view.set_tool("probe")
    before = session.document.plan.probes[0]
    tip, entry = axial.probe_handle_px(0, "tip"), axial.probe_handle_px(0, "entry")
    middle = (tip + entry) / 2.0
    ctrl = Qt.KeyboardModifier.ControlModifier
    send_mouse(axial, "press", middle, modifiers=ctrl)
    send_mouse(axial, "move", middle + QPointF(0.0, 10.0), modifiers=ctrl)
    send_mouse(axial, "release", middle + QPointF(0.0, 10.0), modifiers=ctrl)
    after = session.document.plan.probes[0]
    shift_tip = np.subtract(after.tip_lps_mm, before.tip_lps_mm)
    shift_entry = np.subtract(after.entry_lps_mm, before.entry_lps_mm)
    np.testing.assert_allclose(shift_tip, shift_entry, atol=1e-9)
    assert shift_tip[1] > 0  # 10 px down the axial screen: towards P


def test_isotherms_are_drawn_after_simulation(window, qtbot, kidney_tumor_lps) -> None:
    runner = window.logic.evaluation
    runner.spacing_mm = 4.0  # coarse: the test checks drawing, not the physics
    runner.evaluate_now()
    qtbot.waitUntil(lambda: window.session.document.results_fresh, timeout=120000)
    results = window.session.document.results
    assert results.metrics is not None
    axial = window.view_area.views["axial"]
    contours = axial.overlay._isotherms
    assert set(contours) == set(window.session.document.isotherms_c)
    # Every 0 °C line point shows the 0 °C colour in the rendered view.
    line = contours[0.0].GetMapper().GetInput()
    points = np.array([line.GetPoint(i) for i in range(line.GetNumberOfPoints())])
    assert len(points) > 10
    rgb = axial.capture_rgb()
    hits = [_near(rgb, *axial.scene.lps_to_display(p), isotherm_color(0.0)) for p in points[::5]]
    assert np.mean(hits) > 0.9


def test_save_and_open_plan_round_trip(window, qtbot, tmp_path, kidney_tumor_lps) -> None:
    session = window.session
    session.document.set_protocol("F8-T5-F8")
    assert window.save_plan_to(tmp_path / "plan.json")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=60000)
    assert not session.document.history.dirty
    saved = session.document.plan
    session.document.remove_probe(0)
    assert session.document.history.dirty
    window.panel_docks["probes"].raise_()
    window.open_plan(tmp_path / "plan.json")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=60000)
    # An opened plan is shown with its checks in front.
    assert not window.panel_docks["metrics"].visibleRegion().isEmpty()
    assert window.panel_docks["probes"].visibleRegion().isEmpty()
    assert (
        session.document.plan.probes == saved.probes
        and session.document.plan.protocol == "F8-T5-F8"
    )
    assert not session.document.history.dirty and session.document.path == tmp_path / "plan.json"
    assert "plan.json" in window.windowTitle()


def test_saving_runs_in_a_worker_and_keeps_later_edits_unsaved(window, qtbot, tmp_path) -> None:
    session = window.session
    session.document.set_protocol("F8-T5-F8")
    path = tmp_path / "plan.json"
    assert window.save_plan_to(path)
    assert any(task.title.startswith("Saving plan") for task in window.runner.tasks)
    session.document.set_protocol("F6-T4-F6")  # while the worker writes
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=60000)
    assert load_plan(path).protocol == "F8-T5-F8"  # the plan as it was when saving began
    assert session.document.path == path and session.document.history.dirty
    assert session.document.history.undo() and not session.document.history.dirty


def test_saving_before_going_on_finishes_first(window, qtbot, tmp_path, monkeypatch) -> None:
    session = window.session
    path = tmp_path / "plan.json"
    assert window.save_plan_to(path)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=60000)
    session.document.set_protocol("F6-T4-F6")
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Save)
    headless, window.headless = window.headless, False  # headless windows never ask
    try:
        assert window.confirm_discard("opening another plan")
    finally:
        window.headless = headless
    # Written before confirm_discard returned: what follows may replace the plan at once.
    assert load_plan(path).protocol == "F6-T4-F6" and not session.document.history.dirty


def test_autosave_and_recovery_restore_the_plan(window, qtbot, tmp_path) -> None:
    session = window.session
    session.document.set_protocol("F6-T4-F6")
    task = window.autosave_now()  # written in a worker: the window does not wait for it
    folder = window.autosave.session_folder
    qtbot.waitUntil(lambda: task.done, timeout=10000)
    assert (folder / "plan.json").is_file() and (folder / "session.json").is_file()
    expected = session.document.plan
    # Pretend a crashed process left it: move it to a folder named after a dead process.
    crashed = window.autosave.folder / "session-999999999"
    shutil.copytree(folder, crashed)
    (record,) = Autosaver(window.autosave.folder).recoverable()
    session.open_case(session.case)  # the work is gone...
    assert session.document.plan.probes == ()
    window.recover(record)  # ...and comes back, as unsaved changes
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=60000)
    assert (
        session.document.plan.probes == expected.probes
        and session.document.plan.protocol == "F6-T4-F6"
    )
    assert session.document.history.dirty and not crashed.exists()


def test_close_with_unsaved_changes_asks(qapp, tmp_path, probe_library, monkeypatch) -> None:
    other = MainWindow(autosave_dir=tmp_path, probe_library=probe_library, simulate=False)
    other.show()
    other.session.document.set_protocol("F5-T5-F5")  # an edit: unsaved
    asked = []

    def answer(choice):
        def question(*args, **kwargs):
            asked.append(args[1])
            return choice

        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    assert not other.close() and other.isVisible()
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Discard))
    assert other.close()
    assert asked == ["Unsaved changes", "Unsaved changes"]
    dispose_window(other)


def test_label_overlay_still_shows_with_a_plan(window, kidney_tumor_lps) -> None:
    coronal = window.view_area.views["coronal"]
    window.session.view.set_label_filled("tumor", True)
    red, green, _ = view_pixel(coronal, kidney_tumor_lps + np.array((0.0, 0.0, 8.0)))
    window.session.view.set_label_filled("tumor", False)
    assert red > green + 30
