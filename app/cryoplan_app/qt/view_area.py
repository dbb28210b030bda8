"""The view area: the views in a 4-up grid, one of them alone, or the probe-guidance layout.

The probe layout shows the views resliced along the selected probe (in-plane
and across its tip) above the axial and 3-D views. A header line above the
views names the patient and the study date of the open image, as far as its
header tells them.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from cryoplan_app.model.case import ImageCase
from cryoplan_app.model.planes import SLICE_VIEWS
from cryoplan_app.model.session import Session
from cryoplan_app.model.view_state import Layout
from cryoplan_app.qt.probe_view import QtProbeView
from cryoplan_app.qt.slice_view import QtSliceView
from cryoplan_app.qt.tasks import TaskRunner
from cryoplan_app.qt.volume_view import QtVolumeView
from cryoplan_app.qt.vtk_widget import RenderWidget

# Grid cell of each view in the multi-view layouts.
_CELLS = {
    Layout.FOUR_UP: {"axial": (0, 0), "sagittal": (0, 1), "coronal": (1, 0), "3d": (1, 1)},
    Layout.PROBE: {"probe_inplane": (0, 0), "probe_across": (0, 1), "axial": (1, 0), "3d": (1, 1)},
}


class QtViewArea(QWidget):
    """Hosts the views and shows those the session's layout asks for."""

    def __init__(self, session: Session, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setStyleSheet("background-color: #202020;")
        self.views: dict[str, RenderWidget] = {
            view: QtSliceView(session, view, self) for view in SLICE_VIEWS
        }
        self.views["3d"] = QtVolumeView(session, runner, self)
        self.views["probe_inplane"] = QtProbeView(session, "inplane", self)
        self.views["probe_across"] = QtProbeView(session, "across", self)
        self.header = QLabel()
        self.header.setStyleSheet("color: #f0f0f0; padding: 2px 6px; font-weight: bold;")
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._grid = QGridLayout()
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(2)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.header)
        outer.addLayout(self._grid, 1)
        session.view.layout_changed.connect(self._on_layout)
        session.case_changed.connect(self._show_patient)
        self._on_layout(session.view.layout)
        self._show_patient(session.case)

    def _show_patient(self, case: ImageCase | None) -> None:
        if case is not None:
            self.header.setText(case.patient_line or "No patient name, ID or date in the image")
        self.header.setVisible(case is not None)

    def _on_layout(self, layout: Layout) -> None:
        cells = _CELLS.get(layout, {layout: (0, 0)})
        for widget in self.views.values():
            self._grid.removeWidget(widget)
        for name, widget in self.views.items():
            if name in cells:
                self._grid.addWidget(widget, *cells[name])
            widget.setVisible(name in cells)
        # Rows and columns that the new layout leaves empty must not keep space.
        for index in range(2):
            used_rows = {row for row, _ in cells.values()}
            used_columns = {column for _, column in cells.values()}
            self._grid.setRowStretch(index, 1 if index in used_rows else 0)
            self._grid.setColumnStretch(index, 1 if index in used_columns else 0)

    @property
    def visible_views(self) -> dict[str, RenderWidget]:
        return {name: view for name, view in self.views.items() if view.isVisible()}

    def render_all(self) -> None:
        """Render every visible view now (before a screenshot)."""
        for view in self.visible_views.values():
            view.render_now()
