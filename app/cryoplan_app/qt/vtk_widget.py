"""The Qt widget that hosts a VTK render window, with render coalescing and capture.

Importing this module selects PyQt6 for VTK's Qt bridge; every other module of
the app imports ``RenderWidget`` from here, never the bridge itself.
"""

from __future__ import annotations

import time

import numpy as np
import vtkmodules.qt
from numpy.typing import NDArray

vtkmodules.qt.PyQtImpl = "PyQt6"

# The bridge reads PyQtImpl at import time, hence the late imports.
import vtkmodules.vtkInteractionStyle  # noqa: E402  (default interactor styles)
import vtkmodules.vtkRenderingFreeType  # noqa: E402  (text rendering)
import vtkmodules.vtkRenderingOpenGL2  # noqa: E402  (the OpenGL back end)
from PyQt6.QtCore import QTimer, pyqtSignal  # noqa: E402
from PyQt6.QtGui import QImage, QWheelEvent  # noqa: E402
from PyQt6.QtWidgets import QWidget  # noqa: E402
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor  # noqa: E402
from vtkmodules.util import numpy_support  # noqa: E402
from vtkmodules.vtkRenderingCore import vtkRenderer, vtkWindowToImageFilter  # noqa: E402

from cryoplan_app.qt.images import rgb_to_qimage  # noqa: E402

#: While requests keep coming, a throttled widget spends at most this share of the time
#: rendering: a slow 3-D render (software OpenGL) then waits longer than ``throttle_ms``.
THROTTLED_RENDER_SHARE = 0.125


#: One notch of a mouse wheel, in Qt's eighths of a degree.
WHEEL_NOTCH = 120


class RenderWidget(QVTKRenderWindowInteractor):
    """A VTK render window in a Qt widget that renders at most once per event-loop pass.

    Views call :meth:`request_render` after each model change; the changes of
    one user action then cost one render. With ``throttle_ms`` the widget also
    renders at most once per that interval while requests keep coming (longer
    when its renders are slow, see :data:`THROTTLED_RENDER_SHARE`), which keeps
    an expensive view (3-D) from slowing the others during scrolling; the last
    request is always rendered.
    """

    rendered = pyqtSignal()

    def __init__(self, parent: QWidget | None = None, *, throttle_ms: int = 0) -> None:
        super().__init__(parent)
        # Software OpenGL (Xvfb, remote desktops) renders 3× slower with multisampling.
        self.GetRenderWindow().SetMultiSamples(0)
        self._throttle_s = throttle_ms / 1000.0
        self._last_render_s = 0.0
        self._render_cost_s = 0.0  # duration of the last render
        self._initialized = False
        self._released = False
        self._wheel_remainder = 0
        self.render_count = 0
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.timeout.connect(self.render_now)

    def add_renderer(self, renderer: vtkRenderer) -> None:
        self.GetRenderWindow().AddRenderer(renderer)

    @property
    def render_pending(self) -> bool:
        return self._render_timer.isActive()

    def wheel_notches(self, event: QWheelEvent) -> int:
        """Whole wheel notches in ``event``, counted towards the view's top (up) as positive.

        High-resolution wheels and touchpads send fractions of a notch; they are
        added up until a whole notch is reached.
        """
        self._wheel_remainder += event.angleDelta().y()
        notches = int(self._wheel_remainder / WHEEL_NOTCH)
        self._wheel_remainder -= notches * WHEEL_NOTCH
        return notches

    def request_render(self) -> None:
        """Render soon; several requests before then cost one render."""
        if self._render_timer.isActive():
            return
        delay_s = 0.0
        if self._throttle_s:
            interval_s = max(self._throttle_s, self._render_cost_s / THROTTLED_RENDER_SHARE)
            delay_s = max(interval_s - (time.monotonic() - self._last_render_s), 0.0)
        self._render_timer.start(int(delay_s * 1000))

    def render_now(self) -> None:
        """Render immediately when the widget is on screen; otherwise when it is shown."""
        self._render_timer.stop()
        if not self.isVisible() or self._released:
            return
        if not self._initialized:
            self.Initialize()
            self._initialized = True
        start_s = time.monotonic()
        self.GetRenderWindow().Render()
        self._last_render_s = time.monotonic()
        self._render_cost_s = self._last_render_s - start_s
        self.render_count += 1
        self.rendered.emit()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self.request_render()

    def viewport_px(self) -> tuple[int, int]:
        """Size of the render window in device pixels."""
        width, height = (0, 0) if self._released else self.GetRenderWindow().GetSize()
        if width <= 0 or height <= 0:
            ratio = self.devicePixelRatioF()
            return max(round(self.width() * ratio), 1), max(round(self.height() * ratio), 1)
        return width, height

    def capture_rgb(self) -> NDArray[np.uint8]:
        """The rendered picture as ``(height, width, 3)`` uint8, row 0 at the top."""
        self.render_now()
        grabber = vtkWindowToImageFilter()
        grabber.SetInput(self.GetRenderWindow())
        grabber.SetInputBufferTypeToRGB()
        grabber.ReadFrontBufferOff()
        grabber.Update()
        image = grabber.GetOutput()
        width, height, _ = image.GetDimensions()
        pixels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())
        return np.ascontiguousarray(pixels.reshape(height, width, 3)[::-1])

    def capture(self) -> QImage:
        return rgb_to_qimage(self.capture_rgb())

    def release(self) -> None:
        """Give the OpenGL context and VTK's own X display connection back, for good.

        Called when the window closes: a connection left open past the X
        server's end (Xvfb stopping after the tests) would abort the process.
        """
        self._render_timer.stop()
        self.setVisible(False)
        # Also for windows never shown: VTK opened its display connection on creation.
        self.Finalize()
        self._initialized = False
        # Python wrappers may outlive the widget (reference cycles through the session's
        # signals); dropping every reference to the render window destroys it now.
        self._Iren.SetRenderWindow(None)
        self._RenderWindow = None
        self._released = True

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self._render_timer.stop()
        if self._released:
            QWidget.closeEvent(self, event)  # the VTK base would finalize a window now gone
            return
        super().closeEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if not self._released:
            super().resizeEvent(event)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if not self._released:
            super().paintEvent(event)
