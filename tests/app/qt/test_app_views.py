"""The viewer in the real window: scrolling, window/level, linked crosshair, overlays."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import QPointF, Qt
from qt_helpers import send_mouse, send_wheel, view_pixel

pytestmark = pytest.mark.gui


@pytest.fixture
def window(main_window, qapp):
    session = main_window.session
    session.view.set_layout("4up")
    session.view.apply_preset("abdomen")
    qapp.processEvents()
    return main_window


def test_wheel_and_keys_scroll_one_slice(window, qtbot) -> None:
    session, axial = window.session, window.view_area.views["axial"]
    start = session.view.slice_index("axial")
    send_wheel(axial, 1)
    assert session.view.slice_index("axial") == start + 1  # towards S: the image's k grows
    send_wheel(axial, -2)
    assert session.view.slice_index("axial") == start - 1
    qtbot.keyClick(axial, Qt.Key.Key_Up)
    assert session.view.slice_index("axial") == start
    qtbot.keyClick(axial, Qt.Key.Key_PageDown)
    assert session.view.slice_index("axial") == start - 10


def test_right_drag_changes_window_and_presets_restore(window) -> None:
    session, axial = window.session, window.view_area.views["axial"]
    before = session.view.window_level
    centre = QPointF(axial.width() / 2, axial.height() / 2)
    right = Qt.MouseButton.RightButton
    send_mouse(axial, "press", centre, button=right)
    send_mouse(axial, "move", centre + QPointF(100, -50), button=right)
    send_mouse(axial, "release", centre + QPointF(100, -50), button=right)
    after = session.view.window_level
    # 100 px right widens the window by e^(100/200); 50 px up raises the level by W/4.
    assert after.window == pytest.approx(before.window * np.exp(0.5))
    assert after.level == pytest.approx(before.level + 0.25 * before.window)
    window.preset_actions["lung"].trigger()
    assert (session.view.window_level.window, session.view.window_level.level) == (1500.0, -600.0)


def test_click_moves_the_linked_crosshair(window, qapp) -> None:
    session, axial = window.session, window.view_area.views["axial"]
    target = QPointF(axial.width() * 0.4, axial.height() * 0.45)
    expected = axial.lps_at(target)
    send_mouse(axial, "press", target)
    send_mouse(axial, "release", target)
    geometry = session.case.volume.geometry
    np.testing.assert_allclose(session.view.crosshair_lps[:2], expected[:2], atol=1e-6)
    ijk = geometry.lps_to_nearest_index(session.view.crosshair_lps)
    # The sagittal view steps through i and the coronal through j: both follow the click.
    assert session.view.slice_index("sagittal") == ijk[0]
    assert session.view.slice_index("coronal") == ijk[1]
    qapp.processEvents()
    sagittal = window.view_area.views["sagittal"]
    assert sagittal.scene._index == ijk[0]


def test_screenshot_is_not_blank(window, tmp_path) -> None:
    path = tmp_path / "window.png"
    window.save_screenshot(path)
    from PyQt6.QtGui import QImage

    image = QImage(str(path))
    assert image.width() == window.width() and image.height() == window.height()
    axial = window.view_area.views["axial"].capture_rgb()
    assert axial.std() > 20.0  # an abdomen, not a flat fill


def test_tumor_label_is_drawn_where_the_tumor_is(window, qapp, kidney_tumor_lps) -> None:
    session, axial = window.session, window.view_area.views["axial"]
    session.view.set_crosshair(kidney_tumor_lps)
    session.view.set_label_visible("tumor", True)
    session.view.set_label_filled("tumor", True)  # outlined by default: the centre would be grey
    qapp.processEvents()
    red, green, blue = view_pixel(axial, kidney_tumor_lps)
    session.view.set_label_visible("tumor", False)
    qapp.processEvents()
    grey = view_pixel(axial, kidney_tumor_lps)
    session.view.set_label_visible("tumor", True)
    session.view.set_label_filled("tumor", False)
    assert red > green + 40 and red > blue + 40  # tumor red over grey tissue
    assert max(grey) - min(grey) < 10  # without the label: plain grey


@pytest.mark.parametrize("view_name", ["axial", "sagittal", "coronal"])
def test_crosshair_between_two_slices_stays_in_front_of_the_image(
    window, qapp, kidney_tumor_lps, view_name
) -> None:
    """A crosshair off the voxel centres (a centroid, a probe tip) is drawn on the shown plane.

    Drawn at its own depth, it would lie up to half a slice behind the image in the
    views that look along a negative axis, hidden by the image.
    """
    session, view = window.session, window.view_area.views[view_name]
    geometry = session.case.volume.geometry
    centre = geometry.index_to_lps(np.rint(geometry.lps_to_index(kidney_tumor_lps)))
    frame = session.view.frame(view_name)
    # Four tenths of a slice off the shown plane, on the side away from the viewer.
    spacing = float(geometry.spacing_mm[frame.normal_axis])
    crosshair = centre + 0.4 * spacing * frame.view_direction_lps
    shown = session.view.visible_labels
    for name in shown:
        session.view.set_label_visible(name, False)
    session.view.set_crosshair(crosshair)
    qapp.processEvents()
    view.render_now()
    line_point = crosshair + 40.0 * frame.right_lps  # on the horizontal crosshair line
    red, green, blue = view_pixel(view, line_point)
    for name in shown:
        session.view.set_label_visible(name, True)
    assert max(red, green, blue) - min(red, green, blue) > 60  # a coloured line, not grey tissue
