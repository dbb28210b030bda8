"""Workflow panels driving the model: segmentation, probes, protocol, freeze timeline.

One window per module (the ``main_window`` fixture, kidney sample case); each
test sets up the state it needs through the session first.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from cryoplan_app.logic.growth import record_times_s
from cryoplan_app.qt.panels.probes import COLUMNS, PATH_COLUMN
from cryoplan_app.qt.panels.timeline import PHASE_WORDS, phase_at
from cryoplan_app.qt.panels.widgets import format_lps
from panel_helpers import click_at, tumor_centroid_lps, wait_idle, widget_point
from PyQt6.QtCore import Qt
from PyQt6.QtTest import QTest

from planning_core.figures import format_length_mm, format_volume_ml
from planning_core.planning.plan import Plan
from planning_core.planning.trajectory import probe_angles_deg
from planning_core.segmentation.editing import paint_sphere
from planning_core.segmentation.organs import segment_organ
from planning_core.segmentation.tumor import segment_tumor
from planning_core.thermal.protocol import parse_protocol

pytestmark = pytest.mark.gui


@pytest.fixture
def window(main_window, kidney_case, qtbot):
    """The module's window with the case's own labels and an empty plan."""
    session = main_window.session
    wait_idle(qtbot, main_window)
    if session.document.labels is not kidney_case.labels:
        session.document.replace_labels(kidney_case.labels, "Reset labels")
    if session.document.plan.probes or session.document.plan.protocol != Plan().protocol:
        session.document.set_plan(Plan(), text="Reset plan")
    main_window.view_tool.deactivate()
    session.view.set_layout("4up")
    wait_idle(qtbot, main_window)
    yield main_window
    # Work a test left running must not outlive the module's window.
    wait_idle(qtbot, main_window)


def test_the_window_docks_every_panel(window):
    assert set(window.panels) == {
        "segmentation", "probes", "protocol", "optimizer", "metrics", "confirm", "timeline",
    }  # fmt: skip
    for name, dock in window.panel_docks.items():
        assert dock.widget() is not None, name


# -- segmentation ---------------------------------------------------------------------------
def test_seed_click_segments_the_tumor_and_undo_restores(window, kidney_case, qtbot):
    session = window.session
    centre = tumor_centroid_lps(kidney_case.labels)
    session.document.replace_labels(kidney_case.labels.without("tumor"), "Remove tumor")
    without_tumor = session.document.labels
    session.view.set_crosshair(centre)
    window.view_area.render_all()
    panel = window.panels["segmentation"]
    QTest.mouseClick(panel.click_button, Qt.MouseButton.LeftButton)
    assert window.view_tool.active == "tumor seed"
    axial = window.view_area.views["axial"]
    click_at(qtbot, axial, centre)
    wait_idle(qtbot, window)

    assert window.view_tool.active == ""  # one click, then the views behave as usual
    # The click landed within a pixel of the tumor centre, on the shown plane.
    assert np.linalg.norm(panel.seed_lps_mm - centre) < 2.0 * axial.scene.mm_per_pixel + 1e-6
    labels = session.document.labels
    # Exactly what the core segments from that seed, merged into the other labels unchanged.
    expected = segment_tumor(kidney_case.volume, panel.seed_lps_mm)
    np.testing.assert_array_equal(labels.mask("tumor"), expected.mask)
    for name in without_tumor.names:
        np.testing.assert_array_equal(labels.mask(name), without_tumor.mask(name) & ~expected.mask)
    size = f"{format_volume_ml(expected.volume_ml)}, largest diameter "
    assert size + format_length_mm(expected.max_diameter_mm) in panel.result_note.text()
    assert f"confidence {expected.confidence:.0%}" in panel.result_note.text()
    assert session.document.history.undo()
    assert session.document.labels is without_tumor


def test_brush_paints_a_sphere_and_erase_and_undo(window, kidney_case, qtbot):
    session = window.session
    panel = window.panels["segmentation"]
    geometry = session.document.labels.geometry
    before = session.document.labels
    panel.label_choice.setCurrentText("tumor")
    panel.radius_box.setValue(4.0)
    # 40 mm to the patient's left of the tumor: no tumor there to hide the new paint.
    session.view.set_crosshair(tumor_centroid_lps(kidney_case.labels) + np.array([40.0, 0.0, 0.0]))
    point = session.view.crosshair_lps
    assert not before.mask("tumor")[tuple(geometry.lps_to_nearest_index(point)[::-1])]
    window.view_area.render_all()
    QTest.mouseClick(panel.brush_button, Qt.MouseButton.LeftButton)
    assert window.view_tool.active == "brush"
    axial = window.view_area.views["axial"]
    click_at(qtbot, axial, point)
    painted = session.document.labels.mask("tumor") & ~before.mask("tumor")
    # A 4-mm ball, voxelised: within 25 % of 4/3 pi r^3 on this grid.
    expected = 4.0 / 3.0 * math.pi * 4.0**3 / geometry.voxel_volume_mm3
    assert painted.sum() == pytest.approx(expected, rel=0.25)
    assert session.document.history.undo_text.startswith("Paint tumor")
    QTest.mouseClick(panel.erase_button, Qt.MouseButton.LeftButton)
    assert window.view_tool.active == "erase"
    click_at(qtbot, axial, point)
    erased = session.document.labels.mask("tumor")
    ijk = geometry.lps_to_nearest_index(widget_lps(axial, point))
    assert not erased[ijk[2], ijk[1], ijk[0]]
    assert session.document.history.undo() and session.document.history.undo()
    assert session.document.labels is before
    QTest.mouseClick(panel.erase_button, Qt.MouseButton.LeftButton)
    assert window.view_tool.active == ""


def widget_lps(view, lps_mm):
    """The LPS point a click aimed at ``lps_mm`` actually hits (the pixel's centre)."""
    position = widget_point(view, lps_mm)
    return view.lps_at(position.toPointF())


def test_clean_up_keeps_the_largest_part(window, kidney_case, qtbot):
    session = window.session
    panel = window.panels["segmentation"]
    tumor = kidney_case.labels.mask("tumor")
    # A stray 3-mm blob well away from the tumor, then "keep largest part" removes it.
    blob_centre = tumor_centroid_lps(kidney_case.labels) + np.array([60.0, 0.0, 0.0])
    session.document.replace_labels(
        paint_sphere(session.document.labels, "tumor", blob_centre, radius_mm=3.0), "Stray blob"
    )
    assert session.document.labels.mask("tumor").sum() > tumor.sum()
    panel.label_choice.setCurrentText("tumor")
    QTest.mouseClick(panel.largest_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    np.testing.assert_array_equal(session.document.labels.mask("tumor"), tumor)
    assert session.document.history.undo_text == "Keep largest part (tumor)"


def test_organ_click_grows_the_chosen_organ(window, kidney_case, qtbot):
    session = window.session
    panel = window.panels["segmentation"]
    without_liver = kidney_case.labels.without("liver")
    session.document.replace_labels(without_liver, "Remove liver")
    liver = kidney_case.labels.mask("liver")
    # The liver voxel nearest the liver's centroid: a seed surely inside it.
    voxels = np.argwhere(liver)
    inside = voxels[np.argmin(((voxels - voxels.mean(axis=0)) ** 2).sum(axis=1))]
    seed = kidney_case.labels.geometry.index_to_lps(inside[::-1].astype(float))
    session.view.set_crosshair(seed)
    window.view_area.render_all()
    panel.organ_choice.setCurrentText("liver")
    QTest.mouseClick(panel.organ_button, Qt.MouseButton.LeftButton)
    assert window.view_tool.active == "organ seed"
    click_at(qtbot, window.view_area.views["axial"], seed)
    wait_idle(qtbot, window)
    assert window.view_tool.active == ""
    clicked = widget_lps(window.view_area.views["axial"], seed)
    expected = segment_organ(kidney_case.volume, "liver", clicked, label_map=without_liver)
    np.testing.assert_array_equal(session.document.labels.voxels, expected.label_map.voxels)
    assert session.document.history.undo_text == "Segment liver"
    assert f"liver: {format_volume_ml(expected.volume_ml)}" in panel.anatomy_note.text()


# -- probes ---------------------------------------------------------------------------------
def test_add_probe_fills_a_row_with_numbers_and_path_check(window, kidney_case, qtbot):
    session = window.session
    panel = window.panels["probes"]
    centre = tumor_centroid_lps(kidney_case.labels)
    session.view.set_crosshair(centre)
    QTest.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert panel.table.rowCount() == 1
    probe = session.document.plan.probes[0]
    np.testing.assert_allclose(probe.tip_lps_mm, session.view.crosshair_lps)
    text = {name: panel.table.item(0, c).text() for c, name in enumerate(COLUMNS)}
    assert text["Tip LPS (mm)"] == format_lps(probe.tip_lps_mm)
    assert text["Model"] == panel.model_choice.currentData()
    # Straight down from above (HFP: into the back): no craniocaudal tilt, no in-plane angle.
    assert float(text["CC angle (°)"]) == pytest.approx(0.0, abs=0.05)
    assert float(text["In-plane (°)"]) == pytest.approx(0.0, abs=0.05)
    report = panel.reports[0]
    assert report is not None
    assert float(text["In body (mm)"]) == pytest.approx(report.length_in_body_mm, abs=0.051)
    assert panel.table.item(0, PATH_COLUMN).text().startswith(("OK", "⚠"))
    assert session.document.selected_probe == 0


def test_numeric_edits_move_the_probe_undoably(window, kidney_case, qtbot):
    session = window.session
    panel = window.panels["probes"]
    centre = tumor_centroid_lps(kidney_case.labels)
    session.view.set_crosshair(centre)
    QTest.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    original = session.document.plan.probes[0]

    panel.tip_boxes[2].setValue(original.tip_lps_mm[2] + 5.0)
    moved = session.document.plan.probes[0]
    # The box shows 0.1 mm; the coordinates not typed keep their exact values.
    assert moved.tip_lps_mm[2] == pytest.approx(original.tip_lps_mm[2] + 5.0, abs=0.05)
    assert moved.tip_lps_mm[:2] == original.tip_lps_mm[:2]
    assert moved.entry_lps_mm == original.entry_lps_mm

    panel.depth_box.setValue(90.0)
    deeper = session.document.plan.probes[0]
    assert deeper.entry_lps_mm == moved.entry_lps_mm
    assert math.dist(deeper.tip_lps_mm, deeper.entry_lps_mm) == pytest.approx(90.0, abs=1e-6)

    panel.cc_box.setValue(20.0)
    tilted = session.document.plan.probes[0]
    assert tilted.tip_lps_mm == deeper.tip_lps_mm
    direction = np.subtract(tilted.tip_lps_mm, tilted.entry_lps_mm) / 90.0
    # Independent: the tilt out of the axial plane is asin of the S component.
    assert math.degrees(math.asin(direction[2])) == pytest.approx(20.0, abs=1e-6)
    cc, _, _ = probe_angles_deg(direction, session.document.plan.settings.table_direction_lps())
    assert float(panel.table.item(0, COLUMNS.index("CC angle (°)")).text()) == pytest.approx(
        float(cc), abs=0.05
    )
    for _ in range(3):
        assert session.document.history.undo()
    assert session.document.plan.probes[0] == original
    assert panel.tip_boxes[2].value() == pytest.approx(original.tip_lps_mm[2], abs=0.05)


def test_remove_probe(window, kidney_case):
    session = window.session
    panel = window.panels["probes"]
    session.view.set_crosshair(tumor_centroid_lps(kidney_case.labels))
    panel.add_probe()
    panel.add_probe()
    assert panel.table.rowCount() == 2
    session.document.select_probe(0)
    QTest.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert len(session.document.plan.probes) == 1 and panel.table.rowCount() == 1


# -- protocol -------------------------------------------------------------------------------
def test_protocol_preset_goes_to_the_plan(window):
    session = window.session
    panel = window.panels["protocol"]
    panel.preset_choice.setCurrentText("lung-3-7-10")
    assert session.document.plan.protocol == "lung-3-7-10"
    assert panel.table.rowCount() == 5
    assert panel.code_field.text() == "F3-T3-F7-T7-F10"
    assert "freezing 20 min" in panel.summary_note.text()
    session.document.history.undo()
    assert session.document.plan.protocol == Plan().protocol
    assert panel.table.rowCount() == len(parse_protocol(Plan().protocol).phases)


def test_invalid_code_shows_the_problem_inline(window, qtbot):
    session = window.session
    panel = window.panels["protocol"]
    shown = window.errors.shown
    panel.code_field.clear()
    qtbot.keyClicks(panel.code_field, "F10-X3-F10")
    assert "F10-X3-F10" in panel.error_note.text()
    assert not panel.apply_button.isEnabled()
    QTest.keyClick(panel.code_field, Qt.Key.Key_Return)
    assert session.document.plan.protocol == Plan().protocol
    assert window.errors.shown == shown  # inline, no dialog
    panel.code_field.clear()
    qtbot.keyClicks(panel.code_field, "F12-T6-F12")
    assert panel.error_note.text() == ""
    QTest.keyClick(panel.code_field, Qt.Key.Key_Return)
    assert session.document.plan.protocol == "F12-T6-F12"


def test_phase_table_edits_the_protocol(window):
    session = window.session
    panel = window.panels["protocol"]
    panel.table.cellWidget(0, 1).setValue(12.0)
    assert session.document.plan.protocol == "F12-T8-F10"
    kind = panel.table.cellWidget(1, 0)
    kind.setCurrentIndex(kind.findData("active_thaw"))
    assert session.document.plan.protocol == "F12-A8-F10"
    QTest.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
    assert session.document.plan.protocol == "F12-A8-F10-T10"
    QTest.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert session.document.plan.protocol == "F12-A8-F10"


def test_phase_power_column_edits_the_duty_cycle(window):
    session = window.session
    panel = window.panels["protocol"]
    panel.preset_choice.setCurrentText("10-8-10")
    assert "Usual for kidney" in panel.preset_note.text()
    panel.table.cellWidget(0, 2).setValue(50.0)
    assert session.document.plan.protocol == "F10@50-T8-F10"
    assert not panel.table.cellWidget(1, 2).isEnabled()  # probes are off in a passive thaw
    assert panel.set_code("F10@100/50-T8-F10")
    assert panel.table.cellWidget(0, 2).text() == "100/50 %"
    panel.table.cellWidget(2, 1).setValue(12.0)
    assert session.document.plan.protocol == "F10@100/50-T8-F12"


# -- freeze timeline ------------------------------------------------------------------------
def test_record_times_cover_the_protocol_and_its_phase_boundaries():
    protocol = parse_protocol("F10-T8-F10")
    times = record_times_s(protocol, step_s=240.0)
    assert times[0] == 0.0 and times[-1] == protocol.duration_s
    assert {600.0, 1080.0} <= set(times)
    assert all(b - a <= 240.0 for a, b in itertools.pairwise(times))
    assert phase_at(protocol, 599.0)[0] == 0 and phase_at(protocol, 600.0)[0] == 1
    assert phase_at(protocol, protocol.duration_s)[0] == 2


def test_timeline_slider_replays_the_ice_in_the_views(window, kidney_case, qtbot):
    session = window.session
    panel = window.panels["timeline"]
    session.document.set_protocol("F3-T1-F2")
    session.view.set_crosshair(tumor_centroid_lps(kidney_case.labels))
    window.panels["probes"].add_probe()
    assert panel.growth is None and panel.displayed_time_s is None
    panel.slider.setValue(140)  # the first move starts the replay simulation
    wait_idle(qtbot, window)
    assert panel.growth is not None
    assert panel.displayed_time_s == 120.0  # the nearest recorded field
    shown = session.document.temperature_field
    np.testing.assert_array_equal(shown.min_temperature_c, panel.growth.snapshots_c[120.0])
    assert "freeze" in panel.time_note.text()
    panel.slider.setValue(200)
    assert panel.displayed_time_s == 180.0
    assert PHASE_WORDS["passive_thaw"].lower() in panel.time_note.text()
    tip = panel.growth.probes[0].active_center_lps_mm
    # Colder at the end of the first freeze than at its start.
    assert (
        panel.growth.temperature_at(tip, which=180.0)[0]
        < panel.growth.temperature_at(tip, which=0.0)[0]
    )
    QTest.mouseClick(panel.lowest_button, Qt.MouseButton.LeftButton)
    assert panel.displayed_time_s is None and session.document.temperature_field is not shown
    session.document.move_probe(
        0, tip_lps_mm=np.add(session.document.plan.probes[0].tip_lps_mm, 2.0)
    )
    assert panel.growth is None  # the plan changed: the replay is out of date
