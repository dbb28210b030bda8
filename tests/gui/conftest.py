"""Fixtures of the desktop application tests.

Model tests need no display. Tests marked ``gui`` drive the real window under
Xvfb (pytest-xvfb starts it); ``main_window`` is one window per test module,
opened on the kidney sample case, so that modules do not share state.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import numpy as np
import pytest
from cryoplan_app.model.case import CaseSource, ImageCase, load_case

from planning_core.thermal.probes import ProbeLibrary, ProbeModel

#: A probe model for tests, independent of the packaged library's contents.
TEST_PROBE = ProbeModel(
    id="test-2.4",
    name="Test probe 2.4 mm",
    cryogen="argon",
    diameter_mm=2.4,
    active_length_mm=30.0,
    tip_offset_mm=5.0,
    plateau_c=-140.0,
    time_constant_s=30.0,
)


@pytest.fixture(scope="session")
def probe_library() -> ProbeLibrary:
    return ProbeLibrary("test", {TEST_PROBE.id: TEST_PROBE})


@pytest.fixture(scope="session")
def kidney_case() -> ImageCase:
    """The kidney sample case, loaded once (generated on first use)."""
    return load_case(CaseSource("sample", "kidney"))


@pytest.fixture(scope="session")
def kidney_tumor_lps(kidney_case: ImageCase) -> np.ndarray:
    """Centroid of the kidney case's tumor label, LPS mm."""
    labels = kidney_case.labels
    assert labels is not None
    indices = np.argwhere(labels.mask("tumor"))[:, ::-1]
    return labels.geometry.index_to_lps(indices.mean(axis=0))


@pytest.fixture(scope="module")
def main_window(
    qapp, kidney_case: ImageCase, probe_library: ProbeLibrary, tmp_path_factory
) -> Iterator[object]:
    """A shown 1600×1000 main window with the kidney case open, closed after the module.

    Its autosave folder is a fresh temporary folder; no dialog ever blocks.
    """
    from cryoplan_app.qt.main_window import MainWindow

    autosave = tmp_path_factory.mktemp("autosave")
    window = MainWindow(
        headless=True, autosave_dir=autosave, probe_library=probe_library, simulate=False
    )
    window.resize(1600, 1000)
    window.show()
    window.session.open_case(kidney_case)
    qapp.processEvents()
    window.view_area.render_all()
    yield window
    dispose_window(window)


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


@pytest.fixture(scope="session", autouse=True)
def _free_vtk_windows_before_xvfb_stops() -> Iterator[None]:
    """Collect closed windows at the end of the session, before Xvfb stops.

    Views and the session reference each other (signals hold bound methods), so
    only the cycle collector frees their VTK render windows and X connections.
    """
    yield
    gc.collect()


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
