"""Helpers of the Qt tests: closing windows while Xvfb runs, sending mouse and wheel
events, reading back a view's pixels."""

from __future__ import annotations


def dispose_window(window) -> None:
    """Close ``window`` and delete it now, while the X server still runs.

    VTK's render windows hold their own X display connection; destroyed only at
    interpreter exit, after pytest-xvfb stopped Xvfb, they would abort the run.
    """
    from PyQt6.QtCore import QEvent
    from PyQt6.QtWidgets import QApplication

    window.session.document.history.mark_saved()  # never ask about unsaved changes
    window.runner.cancel_all()
    window.runner.wait(30000)
    QApplication.processEvents()  # deliver what finished workers queued, while all lives
    window.close()
    window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)


def send_mouse(widget, kind: str, position, *, button=None, modifiers=None) -> None:
    """Send a mouse press, move or release to ``widget`` at ``position`` (logical pixels).

    pytest-qt's ``mouseMove`` cannot hold a button down, so drags are built here.
    """
    from PyQt6.QtCore import QEvent, QPointF, Qt
    from PyQt6.QtGui import QMouseEvent
    from PyQt6.QtWidgets import QApplication

    button = button or Qt.MouseButton.LeftButton
    types = {
        "press": QEvent.Type.MouseButtonPress,
        "move": QEvent.Type.MouseMove,
        "release": QEvent.Type.MouseButtonRelease,
    }
    local = QPointF(position)
    held = Qt.MouseButton.NoButton if kind == "release" else button
    event = QMouseEvent(
        types[kind],
        local,
        QPointF(widget.mapToGlobal(local)),
        Qt.MouseButton.NoButton if kind == "move" else button,
        held,
        modifiers or Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, event)


def send_wheel(widget, notches: int, *, modifiers=None) -> None:
    """Turn the mouse wheel over the middle of ``widget`` by ``notches`` (positive: away)."""
    from PyQt6.QtCore import QPoint, QPointF, Qt
    from PyQt6.QtGui import QWheelEvent
    from PyQt6.QtWidgets import QApplication

    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        centre,
        QPointF(widget.mapToGlobal(centre)),
        QPoint(0, 0),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        modifiers or Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def view_pixel(view, lps) -> tuple[int, int, int]:
    """The RGB a 2-D view shows at an LPS point (read back from its own rendering)."""
    rgb = view.capture_rgb()
    x, y = view.scene.lps_to_display(lps)
    row = rgb.shape[0] - 1 - round(y)
    return tuple(int(c) for c in rgb[row, round(x)])
