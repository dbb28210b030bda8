"""The reveal: the trainee's attempt (left) and the reference plan (right), side by side.

Each side is a session of its own on the same image, with an axial view above
a 3-D view, its probes and its lethal isotherm; the crosshair is shared with
the main window (scrolling one axial view scrolls all), and the two 3-D views
look at the tumor from the same side. The attempt side keeps the under-treated tumor in red. A
table below compares the numbers the score weighs.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QPoint, QRect, Qt
from PyQt6.QtGui import QImage, QPainter
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cryoplan_app.model.case import ImageCase
from cryoplan_app.model.plan_state import PlanResults, TemperatureField
from cryoplan_app.model.practice import (
    PracticeResult,
    comparison_rows,
    label_centre_lps,
    miss_view_direction,
)
from cryoplan_app.model.session import Session
from cryoplan_app.qt.context import AppContext
from cryoplan_app.qt.slice_view import QtSliceView
from cryoplan_app.qt.tasks import TaskRunner
from cryoplan_app.qt.volume_view import QtVolumeView
from cryoplan_app.render.undertreated import UndertreatedSliceLayer, UndertreatedSurface
from planning_core.figures import format_score
from planning_core.planning.plan import Plan
from planning_core.planning.results import PlanMetrics

REVEAL_SIZE_PX = (1500, 940)
#: Width of the 3-D views around the tumor (mm).
REVEAL_3D_FIELD_MM = 90.0
_TITLE_STYLE = "color: #f0f0f0; font-size: 13pt; font-weight: bold; padding: 3px;"


def _side_session(
    main: Session, image: ImageCase, plan: Plan, field: TemperatureField, metrics: PlanMetrics
) -> Session:
    """A session on ``image`` showing ``plan`` with its field, ``main``'s look and slice."""
    session = Session(probe_library=main.document.probe_library)
    session.open_case(image)
    session.document.set_plan(plan, text="Practice")
    session.document.history.clear()
    session.document.set_results(
        PlanResults(session.document.current_inputs(), field, metrics=metrics)
    )
    session.view.set_window_level(main.view.window_level)
    session.view.set_crosshair(main.view.crosshair_lps)
    camera = main.view.camera("axial")  # the main window's zoom and pan
    session.view.zoom_view("axial", camera.zoom)
    session.view.pan_view("axial", right_mm=camera.pan_mm[0], up_mm=camera.pan_mm[1])
    return session


class RevealWindow(QWidget):
    """Attempt and reference side by side; a separate window over ``context.dialog_parent``.

    ``author`` is who made the reference (``"optimizer"`` or an attending).
    """

    def __init__(
        self,
        context: AppContext,
        image: ImageCase,
        result: PracticeResult,
        reference: Plan,
        *,
        author: str,
    ) -> None:
        super().__init__(context.dialog_parent, Qt.WindowType.Window)
        main = context.session
        self.setWindowTitle("Practice: your attempt and the reference plan")
        self.setStyleSheet("background-color: #202020;")
        assessment = result.assessment
        attempt_plan = assessment.evaluation.plan
        reference_metrics = reference.metrics
        assert reference_metrics is not None  # assess_plan refuses references without metrics
        self.attempt_session = _side_session(
            main, image, attempt_plan, result.attempt_field, assessment.evaluation.metrics
        )
        self.reference_session = _side_session(
            main, image, reference, result.reference_field, reference_metrics
        )
        self.sessions = (self.attempt_session, self.reference_session)
        # A runner per side: the 3-D views build their surfaces under one task key.
        self.runners = tuple(
            TaskRunner(self, on_error=context.errors.show_error, max_threads=1)
            for _ in self.sessions
        )
        self.slice_views = tuple(QtSliceView(s, "axial", self) for s in self.sessions)
        self.volume_views = tuple(
            QtVolumeView(s, r, self) for s, r in zip(self.sessions, self.runners, strict=True)
        )

        score = assessment.score.total
        titles = (
            f"Your attempt · {len(attempt_plan.probes)} probe(s), {attempt_plan.protocol} · "
            f"score {format_score(score)}",
            f"Reference ({author}) · {len(reference.probes)} probe(s), {reference.protocol}",
        )
        grid = QGridLayout()
        grid.setSpacing(3)
        for column, title in enumerate(titles):
            label = QLabel(title)
            label.setStyleSheet(_TITLE_STYLE)
            grid.addWidget(label, 0, column)
            grid.addWidget(self.slice_views[column], 1, column)
            grid.addWidget(self.volume_views[column], 2, column)
        grid.setRowStretch(1, 3)
        grid.setRowStretch(2, 2)

        rows = comparison_rows(assessment.evaluation.metrics, reference_metrics)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(("", "Your attempt", "Reference"))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setStyleSheet("background-color: #fafafa; color: #111;")
        for row, texts in enumerate(rows):
            for column, text in enumerate(texts):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, column, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for column in (1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        self.table.resizeRowsToContents()
        height = header.height() + 4 + sum(self.table.rowHeight(r) for r in range(len(rows)))
        self.table.setFixedHeight(height)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(grid, 1)
        layout.addWidget(self.table)
        self.resize(*REVEAL_SIZE_PX)

        # The attempt side keeps its red under-treated tumor.
        labels = image.labels
        assert labels is not None  # a practice case always has its labels
        regions = assessment.undertreated
        geometry = image.volume.geometry
        frame = self.attempt_session.view.frame("axial")
        self._red = UndertreatedSliceLayer(
            self.slice_views[0].scene.renderer,
            view_direction_lps=frame.view_direction_lps,
            normal_axis=frame.normal_axis,
        )
        self._red.show(
            assessment.undertreated_surface,
            geometry,
            self.attempt_session.view.slice_index("axial"),
        )
        self.attempt_session.view.set_label_visible(attempt_plan.target_label, False)
        self._red_surface = UndertreatedSurface(self.volume_views[0].scene.renderer)
        self._red_surface.show(result.undertreated_mask, geometry)

        # One crosshair for the main window and both sides: the same slice everywhere.
        self._linked = (main, *self.sessions)
        for session in self._linked:
            session.view.crosshair_changed.connect(self._share_crosshair)
        centre = label_centre_lps(labels, attempt_plan.target_label)
        self._share_crosshair(np.asarray(regions[0].centroid_lps_mm) if regions else centre)
        # Both sides seen alike: the attempt's miss, from its probes' side.
        parts = self.attempt_session.document.probe_parts()
        direction = None
        if regions:
            entry_side = -np.mean([part.direction for part in parts], axis=0)
            direction = miss_view_direction(regions[0].centroid_lps_mm - centre, entry_side)
        if direction is None:
            direction = -np.mean([part.direction for part in parts], axis=0)
        for view in self.volume_views:
            view.scene.look_at(centre, from_direction_lps=direction, field_mm=REVEAL_3D_FIELD_MM)

    def _share_crosshair(self, lps: object) -> None:
        for session in self._linked:
            if session.case is not None:
                session.view.set_crosshair(np.asarray(lps))
        self._red.show_slice(self.attempt_session.view.slice_index("axial"))
        self.slice_views[0].request_render()

    @property
    def views(self) -> tuple[QtSliceView | QtVolumeView, ...]:
        return (*self.slice_views, *self.volume_views)

    def grab_image(self) -> QImage:
        """The window as shown, with each view's OpenGL picture painted over its place."""
        for view in self.views:
            view.render_now()
        image = self.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
        painter = QPainter(image)
        for view in self.views:
            painter.drawImage(QRect(view.mapTo(self, QPoint(0, 0)), view.size()), view.capture())
        painter.end()
        return image

    def release(self) -> None:
        """Unlink from the main window and give the views' OpenGL resources back."""
        for session in self._linked:
            session.view.crosshair_changed.disconnect(self._share_crosshair)
        for runner in self.runners:
            runner.cancel_all()
            runner.wait(30_000)
        for view in self.views:
            view.release()
