"""The Confirm panel in the window: the kidney plan against its CT taken during the freeze.

One window per module opens the kidney confirmation plan and runs Confirm once
through the panel (the confirmation itself is computed once per process,
``confirm_helpers``); the tests read what the panel shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from confirm_helpers import KIDNEY_ELAPSED_MIN, TEST_SPACING_MM, confirm_intra_once
from qt_helpers import dispose_window

pytestmark = pytest.mark.gui


def wait_until(app, done: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    limit = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > limit:
            raise AssertionError(f"{what} did not happen within {timeout_s:g} s")
        app.processEvents()
        time.sleep(0.02)


@pytest.fixture(scope="module")
def kidney_intra():
    from cryoplan_samples.confirmation import ensure_confirmation_case

    return ensure_confirmation_case("kidney", "intra", variant="complete")


@pytest.fixture(scope="module")
def confirmed_window(qapp, kidney_intra, tmp_path_factory) -> Iterator[object]:
    """A window that opened the kidney confirmation plan and ran Confirm on its intra CT."""
    from cryoplan_app.logic import confirm as confirm_logic
    from cryoplan_app.qt.main_window import MainWindow

    window = MainWindow(
        headless=True, autosave_dir=tmp_path_factory.mktemp("autosave"), simulate=False
    )
    window.resize(1600, 1000)
    window.show()
    errors: list[str] = []
    window.errors.reported.connect(errors.append)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(confirm_logic, "confirm_intra", confirm_intra_once)
        window.open_plan(kidney_intra.plan_path)
        wait_until(qapp, lambda: bool(window.session.document.plan.probes), timeout_s=60,
                   what="opening the plan")  # fmt: skip
        # The path checks and the drag preview are not under test: they would share the CPUs.
        window.runner.cancel_all()
        window.logic.confirm.spacing_mm = TEST_SPACING_MM
        panel = window.panels["confirm"]
        window.panel_docks["confirm"].raise_()
        panel.set_stage("intra")
        panel.series_edit.setText(str(kidney_intra.ct_dir))
        panel.minutes_box.setValue(KIDNEY_ELAPSED_MIN)
        panel.rigid_check.setChecked(True)
        assert panel.run() is not None
        assert not panel.run_button.isEnabled() and panel.cancel_button.isEnabled()
        wait_until(qapp, lambda: not window.logic.confirm.running or errors, timeout_s=300,
                   what="the confirmation")  # fmt: skip
    assert not errors, errors
    yield window
    dispose_window(window)


def texts(table) -> list[list[str]]:
    from cryoplan_app.qt.panels.confirm import table_texts

    return table_texts(table)


def test_the_panel_shows_each_probes_errors_and_the_recommendation(confirmed_window):
    window = confirmed_window
    panel = window.panels["confirm"]
    result = window.logic.confirm.result.result
    assert panel.result_box.isVisible() and panel.run_button.isEnabled()
    assert ["Registration", "rigid"] in texts(panel.registration_table)
    rows = texts(panel.probe_table)
    assert [row[1] for row in rows] == [report.plan_label for report in result.placed]
    for row, report in zip(rows, result.placed, strict=True):
        assert row[2] == f"{report.tip_error_mm:.1f} mm"
        assert row[3] == f"{report.angle_error_deg:.1f}°"
        assert row[4] == f"{report.depth_error_mm:+.1f} mm"
    ice = dict(map(tuple, texts(panel.ice_table)))
    assert ice["Visible ice (0 °C edge)"] == f"{result.visible_ice.volume_ml:.1f} ml"
    assert ice["Elapsed freeze"].startswith(f"{KIDNEY_ELAPSED_MIN:.1f} min")
    assert texts(panel.recommendation_table) == [[result.recommendation.text]]
    options = [row for row in texts(panel.option_table) if row[0]]
    assert len(options) == len(result.recommendation.options)
    # The recommended option is marked, and each states its predicted margin with its unit.
    assert sum(row[0].startswith("▶") for row in options) == (
        result.recommendation.chosen is not None
    )
    assert all(" mm at " in row[1] or " °C zone" in row[1] for row in options)
    assert panel.post_box.isHidden() and not panel.probe_box.isHidden()


def test_clicking_a_shaft_moves_the_crosshair_to_its_detected_tip(confirmed_window):
    window = confirmed_window
    placed = window.logic.confirm.result.result.placed
    assert not np.allclose(window.session.view.crosshair_lps, placed[-1].tip_lps_mm, atol=1.0)
    window.panels["confirm"].probe_table.cellClicked.emit(len(placed) - 1, 0)
    assert np.allclose(window.session.view.crosshair_lps, placed[-1].tip_lps_mm, atol=1.0)


def test_the_placed_probes_are_drawn_on_the_slice_views_while_asked(confirmed_window):
    window = confirmed_window
    panel = window.panels["confirm"]
    assert set(panel.layers) == {"axial", "coronal", "sagittal"}
    assert all(layer.shown for layer in panel.layers.values())
    panel.overlay_check.setChecked(False)
    assert not any(layer.shown for layer in panel.layers.values())
    panel.overlay_check.setChecked(True)
    assert all(layer.shown for layer in panel.layers.values())


def test_the_planning_case_stays_open(confirmed_window, kidney_intra):
    window = confirmed_window
    assert window.session.case.image_path != kidney_intra.ct_dir
    assert window.session.document.path == kidney_intra.plan_path


def test_the_confirmation_pdf_is_saved_from_the_panel(confirmed_window, qapp, tmp_path):
    window = confirmed_window
    out = tmp_path / "confirmation.pdf"
    assert window.panels["confirm"].save_pdf(out) is not None
    wait_until(qapp, out.exists, timeout_s=120, what="writing the PDF")
    assert out.read_bytes().startswith(b"%PDF")


def test_a_practice_disables_the_confirm_step(confirmed_window):
    from cryoplan_app.model.mode import Mode

    window = confirmed_window
    try:
        window.mode.set(Mode.PRACTICE)
        assert not window.panels["confirm"].isEnabled()
    finally:
        window.mode.set(Mode.PLANNING)
    assert window.panels["confirm"].isEnabled()


def test_the_probes_as_placed_become_the_plan_to_correct_and_undo_restores_it(
    confirmed_window,
):
    window = confirmed_window
    panel = window.panels["confirm"]
    document = window.session.document
    planned = document.plan
    placed = window.logic.confirm.result.result.as_placed
    assert panel.edit_placed_button.isEnabled()
    panel.edit_placed_button.click()
    try:
        assert [p.tip_lps_mm for p in document.plan.probes] == [p.tip_lps_mm for p in placed.probes]
        assert "drag" in panel.progress_note.text()
        # A detection corrected by dragging its tip, as any probe is moved.
        tip = np.asarray(placed.probes[0].tip_lps_mm) + np.array([0.0, 0.0, 2.0])
        document.move_probe(0, tip_lps_mm=tip, dragging=True)
        document.end_drag()
        assert np.allclose(document.plan.probes[0].tip_lps_mm, tip)
    finally:
        while document.plan is not planned and document.history.undo():
            pass
    assert document.plan is planned
