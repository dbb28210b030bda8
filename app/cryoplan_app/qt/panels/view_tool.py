"""Borrowing the left mouse button of the 2-D views for a panel tool (seed click, brush, line).

While a tool is active, left presses, drags and releases in the axial, sagittal
and coronal views go to the tool as LPS points on the shown plane instead of
moving the crosshair; every other input (wheel, right drag, keys) keeps its
usual meaning, so the user can still scroll to the right slice. One tool is
active at a time: activating one ends the previous one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from PyQt6.QtCore import QEvent, QObject, Qt, pyqtSignal
from PyQt6.QtGui import QMouseEvent
from PyQt6.QtWidgets import QWidget

from cryoplan_app.model.planes import SLICE_VIEWS
from cryoplan_app.model.session import Session
from cryoplan_app.model.view_state import Tool

#: Where a left-button gesture is: pressed, dragged, released.
Stage = Literal["press", "move", "release"]
#: ``callback(stage, lps_mm)``.
ToolCallback = Callable[[Stage, NDArray[np.float64]], None]


class ViewTool(QObject):
    """Routes left-button input of the 2-D views to the active tool's callback.

    Signals: ``changed(str)``, the active tool's name ('' when none).
    """

    changed = pyqtSignal(str)

    def __init__(
        self, session: Session, views: dict[str, QWidget], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._views = {name: views[name] for name in SLICE_VIEWS if name in views}
        self._name = ""
        self._callback: ToolCallback | None = None
        self._pressed = False
        for view in self._views.values():
            view.installEventFilter(self)
        # The views' own probe tool also wants the left button: the last one chosen wins.
        session.view.tool_changed.connect(
            lambda tool: self.deactivate() if tool != Tool.NAVIGATE else None
        )

    @property
    def active(self) -> str:
        """Name of the active tool, '' when the views behave as usual."""
        return self._name

    def activate(self, name: str, callback: ToolCallback) -> None:
        """Send left-button input to ``callback`` until :meth:`deactivate`."""
        self._session.view.set_tool(Tool.NAVIGATE)
        self._name, self._callback, self._pressed = name, callback, False
        cursor = Qt.CursorShape.CrossCursor
        for view in self._views.values():
            view.setCursor(cursor)
        self.changed.emit(name)

    def deactivate(self, name: str | None = None) -> None:
        """End the active tool (only when it is ``name``, if given)."""
        if not self._name or (name is not None and name != self._name):
            return
        self._name, self._callback, self._pressed = "", None, False
        for view in self._views.values():
            view.unsetCursor()
        self.changed.emit("")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if self._callback is None:
            return False
        kind = event.type()
        stage: Stage | None = {
            QEvent.Type.MouseButtonPress: "press",
            QEvent.Type.MouseMove: "move",
            QEvent.Type.MouseButtonRelease: "release",
        }.get(kind)
        if stage is None or not isinstance(event, QMouseEvent):
            return False
        if stage != "move" and event.button() != Qt.MouseButton.LeftButton:
            return False
        if stage == "move" and not self._pressed:
            return False  # hovering: the view reports the point under the mouse as usual
        lps = watched.lps_at(event.position())  # type: ignore[attr-defined]
        if lps is None:
            return False
        self._pressed = stage != "release"
        callback = self._callback
        callback(stage, np.asarray(lps, dtype=np.float64))
        return True
