"""The segmentation panel's lesion tools as a user drives them: diameter line and strokes.

One window (the module's ``main_window``, kidney sample case). The line is
dragged along the tumor's RECIST long axis on the axial view; strokes follow
(lesion; then not lesion and lesion again while the first update still runs);
each result is one undo step, and undoing a stroke's step takes the stroke back.
"""

from __future__ import annotations

import numpy as np
import pytest
from cryoplan_app.model import lesion_tools
from cryoplan_app.model.lesion_tools import (
    StrokeTool,
    in_app_words,
    lesion_figures,
    segment_line,
)
from cryoplan_app.model.sketch import Sketch, Stroke, new_line, new_stroke
from cryoplan_app.render.sketch_overlay import on_plane_runs
from panel_helpers import wait_idle, widget_point
from PyQt6.QtCore import Qt
from PyQt6.QtTest import QTest
from qt_helpers import send_mouse

from planning_core.errors import InvalidParameterError, SegmentationError
from planning_core.figures import format_length_mm

# -- the model, without a display -----------------------------------------------------------


def test_a_fast_drag_is_filled_in_and_small_moves_add_nothing():
    stroke = new_stroke(True, [0.0, 0.0, 0.0])
    assert stroke.extended([0.4, 0.0, 0.0], step_mm=1.0) is stroke
    longer = stroke.extended([5.0, 0.0, 0.0], step_mm=1.0)
    steps = np.linalg.norm(np.diff(longer.points_lps_mm, axis=0), axis=1)
    assert steps.max() <= 1.0 + 1e-9
    np.testing.assert_allclose(longer.points_lps_mm[-1], [5.0, 0.0, 0.0])


def test_only_the_parts_of_a_stroke_on_the_shown_plane_are_drawn():
    points = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 5], [3, 0, 0.2]], dtype=float)
    stroke = Stroke(True, points)
    runs = on_plane_runs(stroke, origin=np.zeros(3), normal=np.array([0, 0, 1.0]), half_mm=0.5)
    assert [len(run) for run in runs] == [2, 2]  # the lone last point drawn as a dot
    np.testing.assert_allclose(runs[1], points[[3, 3]])


def test_strokes_follow_the_label_maps_their_steps_showed(kidney_case):
    tool = StrokeTool(kidney_case.volume)
    start = kidney_case.labels
    first, second = start.without("tumor"), start.without("kidney")
    lesion, background = new_stroke(True, [0.0, 0.0, 0.0]), new_stroke(False, [9.0, 0.0, 0.0])
    tool.paint(lesion)
    assert tool.pending
    tool.record_step(start, first, (lesion,))
    tool.paint(background)
    tool.record_step(first, second, (lesion, background))
    assert not tool.pending and tool.counts() == (1, 1)
    # Undo to the first result: the stroke painted after it goes; to the start: all go.
    assert tool.follow(first) and tool.strokes == (lesion,)
    assert tool.follow(start) and tool.strokes == ()
    assert tool.follow(second) and tool.strokes == (lesion, background)
    # A map no lesion step showed (a brush edit) keeps the strokes.
    assert not tool.follow(start.without("liver")) and tool.strokes == (lesion, background)


def test_a_click_or_a_line_across_the_slices_is_refused_naming_the_tool(kidney_case):
    spacing_k = float(kidney_case.volume.geometry.spacing_mm[2])
    for end in ([2.0, 0.0, 0.0], [0.0, 0.0, 10.0 * spacing_k]):  # a click; along S only
        with pytest.raises(InvalidParameterError, match=r"Diameter line: .* axial view"):
            segment_line(kidney_case.volume, new_line([0.0, 0.0, 0.0], end))


def test_core_messages_name_the_tools_not_the_command_line_options():
    error = in_app_words(
        SegmentationError(
            "nothing lesion-like was found along --diameter: check that the line spans the "
            "lesion's longest axis, or paint strokes (--seed/--background)."
        )
    )
    assert isinstance(error, SegmentationError) and "--" not in str(error)
    assert "along the diameter line" in str(error)
    assert "(Lesion strokes / Not lesion strokes)" in str(error)


# -- the panel under Xvfb ---------------------------------------------------------------------
@pytest.fixture
def panel_window(main_window, kidney_case, qtbot, monkeypatch):
    """The module's window without a tumor label, the crosshair on the tumor's centre."""
    # A 60 mm stroke region holds the 30 mm kidney tumor and keeps each update quick.
    monkeypatch.setattr(lesion_tools, "STROKE_REGION_HALF_MM", 30.0)
    session = main_window.session
    wait_idle(qtbot, main_window)
    main_window.view_tool.deactivate()
    session.view.set_layout("4up")
    session.document.replace_labels(kidney_case.labels.without("tumor"), "Remove tumor")
    figures = lesion_figures(kidney_case.labels)
    assert figures is not None and figures.recist is not None
    session.view.set_crosshair(figures.recist.long_end_points_lps_mm.mean(axis=0))
    main_window.view_area.render_all()
    yield main_window, figures.recist
    wait_idle(qtbot, main_window)


def inside(labels, lps_mm) -> bool:
    """True when the tumor label holds the voxel at ``lps_mm``."""
    i, j, k = labels.geometry.lps_to_nearest_index(lps_mm)
    return bool(labels.mask("tumor")[k, j, i])


def drag(qtbot, view, points_lps) -> None:
    """Press at the first point, move through the others, release at the last."""
    positions = [widget_point(view, p) for p in points_lps]
    send_mouse(view, "press", positions[0])
    for position in positions[1:]:
        send_mouse(view, "move", position)
    send_mouse(view, "release", positions[-1])
    qtbot.wait(10)


@pytest.mark.gui
def test_line_then_strokes_segment_the_lesion_and_undo_takes_them_back(panel_window, qtbot):
    window, recist = panel_window
    reported: list[str] = []
    window.errors.reported.connect(reported.append)
    session = window.session
    panel = window.panels["segmentation"]
    axial = window.view_area.views["axial"]
    without_tumor = session.document.labels
    start, end = recist.long_end_points_lps_mm

    # The line, dragged along the tumor's long axis: its length shows while dragging.
    QTest.mouseClick(panel.line_button, Qt.MouseButton.LeftButton)
    assert window.view_tool.active == "diameter line"
    send_mouse(axial, "press", widget_point(axial, start))
    send_mouse(axial, "move", widget_point(axial, end))
    line = panel.sketch.line
    assert line is not None
    text = axial.sketch_overlay.length_text
    assert text.GetVisibility() and text.GetInput() == format_length_mm(line.length_mm)
    pixel_mm = axial.scene.mm_per_pixel
    assert line.length_mm == pytest.approx(np.linalg.norm(end - start), abs=3.0 * pixel_mm)
    send_mouse(axial, "release", widget_point(axial, end))
    wait_idle(qtbot, window)
    assert window.view_tool.active == ""
    after_line = session.document.labels
    assert inside(after_line, 0.5 * (start + end))  # seeded at the line's midpoint
    assert session.document.history.undo_text == "Diameter line"
    figures = lesion_figures(after_line)
    assert figures is not None and figures.recist is not None
    assert panel.figures_note.text() == figures.text() and panel.figures_note.isVisible()
    assert "RECIST long axis" in panel.figures_note.text()
    assert panel.result_note.text().startswith("Tumor: ")

    # A lesion stroke across the centre: its result is one undo step.
    centre = 0.5 * (start + end)
    across = np.cross(end - start, [0.0, 0.0, 1.0])
    across *= 0.2 * recist.short_mm / np.linalg.norm(across)
    QTest.mouseClick(panel.lesion_stroke_button, Qt.MouseButton.LeftButton)
    assert window.view_tool.active == "lesion strokes"
    drag(qtbot, axial, [centre - across, centre, centre + across])
    assert len(panel.sketch.strokes) == 1  # shown at once, before the result
    wait_idle(qtbot, window)
    after_first = session.document.labels
    assert after_first is not after_line and inside(after_first, centre + across)
    assert session.document.history.undo_text == "Lesion stroke"
    # A not-lesion stroke, and at once another lesion stroke while that update runs: the
    # newest strokes win, in one step.
    QTest.mouseClick(panel.background_stroke_button, Qt.MouseButton.LeftButton)
    outside = centre + 4.0 * across * recist.long_mm / recist.short_mm
    drag(qtbot, axial, [outside, outside + 0.5 * (end - start)])
    QTest.mouseClick(panel.lesion_stroke_button, Qt.MouseButton.LeftButton)
    drag(qtbot, axial, [centre, centre + 0.2 * (end - start)])
    assert window.runner.busy  # the first update still runs
    wait_idle(qtbot, window)
    after_second = session.document.labels
    assert after_second is not after_first
    assert panel.stroke_note.text().startswith("Strokes: 2 lesion, 1 not lesion")
    assert panel.strokes.applied == panel.strokes.strokes
    assert session.document.history.undo_text == "Lesion stroke"
    assert panel.figures_note.text() == lesion_figures(after_second).text()
    assert reported == []

    # Undo: the last two strokes go, then the first one, then the line's lesion.
    assert session.document.history.undo()
    assert session.document.labels is after_first
    assert [s.lesion for s in panel.strokes.strokes] == [True]
    assert [s.lesion for s in panel.sketch.strokes] == [True]
    assert session.document.history.undo()
    assert session.document.labels is after_line and panel.strokes.strokes == ()
    assert session.document.history.undo()
    assert session.document.labels is without_tumor
    assert panel.figures_note.text() == "" and not panel.figures_note.isVisible()
    # Redo brings the strokes back with their result.
    assert session.document.history.redo() and session.document.history.redo()
    assert session.document.labels is after_first and len(panel.strokes.strokes) == 1
    QTest.mouseClick(panel.lesion_stroke_button, Qt.MouseButton.LeftButton)
    assert window.view_tool.active == ""


def test_sketch_changes_are_announced():
    sketch = Sketch()
    seen = []
    sketch.changed.connect(lambda: seen.append(sketch.line))
    sketch.set_line(new_line([0, 0, 0], [3, 4, 0]))
    assert seen[-1].length_mm == pytest.approx(5.0)
    sketch.clear()
    assert seen[-1] is None and sketch.shown_strokes == ()
