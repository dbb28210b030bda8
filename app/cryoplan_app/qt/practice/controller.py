"""Practice mode in the window: opens the case, locks what would give the answer away,
submits the attempt to a worker, paints the under-treated tumor red, reveals and ends.

The state lives in :class:`~cryoplan_app.model.practice.PracticeSession`; this
object only connects it to the window (session, task runner, views, panels).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QMessageBox

from cryoplan_app.model.case import CaseSource, ImageCase, load_case
from cryoplan_app.model.planes import SLICE_VIEWS, in_plane_bounds_mm
from cryoplan_app.model.practice import (
    PracticeResult,
    PracticeSession,
    assessment_work,
    label_centre_lps,
    miss_view_direction,
)
from cryoplan_app.qt.tasks import Task
from cryoplan_app.render.undertreated import UndertreatedSliceLayer, UndertreatedSurface
from planning_core.errors import PlanningError
from planning_core.imaging.volume_io import is_volume_file
from planning_core.planning.plan import Plan
from planning_core.progress import CancelToken, ProgressCallback
from planning_core.training.database import open_library
from planning_core.training.library import LibraryCase, get_case, load_reference_plan, utc_now
from planning_core.training.users import ensure_trainee

if TYPE_CHECKING:
    from cryoplan_app.qt.main_window import MainWindow
    from cryoplan_app.qt.practice.reveal import RevealWindow

#: Width of the 2-D views while placing: the tumor and the paths to the skin (mm).
PLACING_FIELD_MM = 180.0
#: Width of the 2-D views after the assessment: the tumor and its red surface (mm).
ASSESSED_FIELD_MM = 90.0
#: Width of the 3-D view looking at the under-treated side of the tumor (mm).
MISS_FIELD_MM = 80.0
#: Panels that would plan for the trainee or change what is scored (locked while practising).
_ANSWER_PANELS = ("optimizer", "segmentation")
#: Panels that edit the attempt (locked once it is submitted).
_EDIT_PANELS = ("probes", "protocol")


class PracticeController(QObject):
    """Runs practice mode in ``window``; ``library_path`` None means the default library.

    Signals, for tests and scripts: ``started`` (), ``assessed`` (PracticeResult)
    and ``revealed`` (RevealWindow); the model's ``state_changed`` tells the rest.
    """

    started = pyqtSignal()
    assessed = pyqtSignal(object)
    revealed = pyqtSignal(object)

    def __init__(self, window: MainWindow, *, library_path: Path | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.library_path = library_path
        self.practice = PracticeSession()
        self.assessment_task: Task | None = None
        self.reveal_window: RevealWindow | None = None
        self._practice_case: ImageCase | None = None
        self._slice_layers: dict[str, UndertreatedSliceLayer] = {}
        self._surface: UndertreatedSurface | None = None
        window.runner.task_finished.connect(self._task_finished)
        window.session.case_changed.connect(self._on_case_changed)
        window.session.crosshair_changed.connect(self._follow_slices)

    # -- start ----------------------------------------------------------------------------
    def start(self, trainee: str, case_id: str) -> Task | None:
        """Open library case ``case_id`` for ``trainee`` in a worker, then start placing.

        Refused (None) when the window's own unsaved plan should not be dropped.
        """
        if self.practice.active and not self.end(ask=True):
            return None
        if not self.window.confirm_discard("starting a practice"):
            return None
        library_path = self.library_path

        def work(progress: ProgressCallback, cancel: CancelToken):
            with open_library(library_path) as connection:
                case = get_case(connection, case_id)
                ensure_trainee(connection, trainee, created_at=utc_now())  # new on first use
            reference = load_reference_plan(case)
            kind = "volume" if is_volume_file(case.image_path) else "dicom"
            source = CaseSource(kind, str(case.image_path), labels_path=str(case.labels_path))
            image = load_case(source, progress=progress, cancel=cancel)
            return case, reference, image

        return self.window.runner.submit(
            f"Opening practice case {case_id}",
            work,
            on_done=lambda result: self._opened(trainee, *result),
            key="load",
        )

    def _opened(self, trainee: str, case: LibraryCase, reference: Plan, image: ImageCase) -> None:
        window, session = self.window, self.window.session
        self._practice_case = image
        session.open_case(image)
        self.practice.start(trainee=trainee, case=case, reference=reference)
        session.set_plan(self.practice.starting_plan(session.plan), text="Practice settings")
        session.history.clear()  # the starting plan is where undo stops
        self._lock(editing=True)
        self.frame_views(PLACING_FIELD_MM)
        window.statusBar().showMessage(
            f"Practice on {case.title} for {trainee}: place the probes, choose the protocol, "
            "then Submit attempt.",
            15_000,
        )
        self.started.emit()

    # -- submit ---------------------------------------------------------------------------
    def submit(self) -> Task | None:
        """Submit the window's plan as the attempt; the assessment runs in a worker."""
        window, session = self.window, self.window.session
        try:
            attempt = self.practice.submit(session.plan)
        except PlanningError as error:
            window.errors.show_error(error)
            return None
        # The case's own labels: the attempt is scored on them, whatever the views show.
        case, image = self.practice.case, self._practice_case
        assert case is not None and image is not None and image.labels is not None
        labels = image.labels
        session.end_drag()
        session.set_tool("navigate")
        self._lock(editing=False)
        work = assessment_work(
            attempt, case, volume=image.volume, label_map=labels,
            probe_library=session.probe_library, library_path=self.library_path,
        )  # fmt: skip
        self.assessment_task = window.runner.submit(
            f"Assessing the attempt ({len(attempt.plan.probes)} probe(s), {attempt.plan.protocol})",
            work,
            on_done=self._assessed,
            on_error=self._assessment_failed,
            key="practice",
        )
        return self.assessment_task

    def cancel_assessment(self) -> None:
        if self.assessment_task is not None and not self.assessment_task.done:
            self.assessment_task.cancel()

    def _assessed(self, result: PracticeResult) -> None:
        if self.practice.state != "assessing":
            return
        self.practice.assessed(result)
        self.frame_views(ASSESSED_FIELD_MM)
        session = self.window.session
        regions = result.assessment.undertreated
        if regions:  # the slice through the largest miss
            session.set_crosshair(regions[0].centroid_lps_mm)
        self.show_undertreated(result)
        self.look_at_miss(result)
        session.history.clear()  # the submitted plan is final
        self.assessed.emit(result)

    def _assessment_failed(self, error: BaseException, details: str) -> None:
        self.practice.submission_failed()
        self._lock(editing=True)
        self.window.errors.show_error(error, details)

    def _task_finished(self, task: Task) -> None:
        # A cancelled assessment reports neither a result nor an error.
        if task is self.assessment_task and self.practice.state == "assessing":
            self.practice.submission_failed()
            self._lock(editing=True)
            self.window.statusBar().showMessage("Assessment cancelled; the attempt is open.", 8000)

    # -- the red under-treated tumor ------------------------------------------------------
    def show_undertreated(self, result: PracticeResult | None) -> None:
        """Paint the attempt's under-treated tumor in every 2-D view and the 3-D view."""
        views = self.window.view_area.views
        session = self.window.session
        image = session.case
        if result is None or image is None:
            for layer in self._slice_layers.values():
                layer.hide()
            if self._surface is not None:
                self._surface.hide()
        else:
            # Red alone marks the tumor that escaped; the lethal contour shows the rest.
            session.set_label_visible(result.assessment.reference.target_label, False)
            geometry = image.volume.geometry
            for view in SLICE_VIEWS:
                layer = self._slice_layers.get(view)
                if layer is None:
                    frame = session.frame(view)
                    layer = UndertreatedSliceLayer(
                        views[view].scene.renderer,
                        view_direction_lps=frame.view_direction_lps,
                        normal_axis=frame.normal_axis,
                    )
                    self._slice_layers[view] = layer
                layer.show(
                    result.assessment.undertreated_surface, geometry, session.slice_index(view)
                )
            if self._surface is None:
                self._surface = UndertreatedSurface(views["3d"].scene.renderer)
            self._surface.show(result.undertreated_mask, geometry)
        for view in (*SLICE_VIEWS, "3d"):
            views[view].request_render()

    def frame_views(self, field_mm: float) -> None:
        """Centre the 2-D views on the tumor, ``field_mm`` across (the whole body is too far)."""
        session = self.window.session
        image, labels = session.case, session.labels
        if image is None or labels is None or not labels.has(session.plan.target_label):
            return
        centre = label_centre_lps(labels, session.plan.target_label)
        session.set_crosshair(centre)
        for view in SLICE_VIEWS:
            frame = session.frame(view)
            right_min, right_max, up_min, up_max = in_plane_bounds_mm(image.volume.geometry, frame)
            session.reset_view(view)
            session.zoom_view(view, max(right_max - right_min, up_max - up_min) / field_mm)
            session.pan_view(
                view,
                right_mm=0.5 * (right_min + right_max) - float(centre @ frame.right_lps),
                up_mm=0.5 * (up_min + up_max) - float(centre @ frame.up_lps),
            )

    def look_at_miss(self, result: PracticeResult) -> None:
        """Turn the 3-D view to the side of the tumor that stayed above the lethal isotherm.

        Seen from the probes' side alone the red part would often hide behind the iceball.
        """
        view = self.window.view_area.views["3d"]
        session = self.window.session
        labels = session.labels
        regions = result.assessment.undertreated
        direction = None
        if labels is not None and regions:
            centre = label_centre_lps(labels, session.plan.target_label)
            entry_side = -np.mean([part.direction for part in session.probe_parts()], axis=0)
            direction = miss_view_direction(regions[0].centroid_lps_mm - centre, entry_side)
        if direction is None:
            view.look_at_plan()
            return
        view.scene.look_at(centre, from_direction_lps=direction, field_mm=MISS_FIELD_MM)
        view.request_render()

    def _follow_slices(self, _lps: object = None) -> None:
        session = self.window.session
        if session.case is None:
            return
        for view, layer in self._slice_layers.items():
            if layer.shown:
                layer.show_slice(session.slice_index(view))

    # -- reveal and end -------------------------------------------------------------------
    def reveal(self) -> RevealWindow | None:
        """Show the attempt and the reference side by side (after the assessment)."""
        from cryoplan_app.qt.practice.reveal import RevealWindow

        result = self.practice.result
        image = self._practice_case
        author = self.practice.case.reference_author if self.practice.case else None
        try:
            reference = self.practice.reveal()
        except PlanningError as error:
            self.window.errors.show_error(error)
            return None
        if self.reveal_window is None and result is not None and image is not None:
            self.reveal_window = RevealWindow(
                self.window, image, result, reference, author=author or "library reference"
            )
        if self.reveal_window is not None:
            self.reveal_window.show()
            self.reveal_window.raise_()
            self.revealed.emit(self.reveal_window)
        return self.reveal_window

    def end(self, *, ask: bool = True) -> bool:
        """Leave practice mode and close the practice case; True when it ended.

        With ``ask`` the trainee confirms when the attempt is not submitted yet
        (a headless window never asks).
        """
        if not self.practice.active:
            return True
        window = self.window
        if ask and self.practice.unsubmitted and not window.headless:
            answer = QMessageBox.question(
                window,
                "End practice",
                "The attempt is not assessed yet. End the practice without a score?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
        self.cancel_assessment()
        self._leave()
        if window.session.case is not None:
            window.session.history.mark_saved()  # a practice plan is kept in the library
            window.session.close_case()
        window.statusBar().showMessage("Practice ended: back to planning mode.", 8000)
        return True

    def _leave(self) -> None:
        self.show_undertreated(None)
        for layer in self._slice_layers.values():
            layer.remove()
        if self._surface is not None:
            self._surface.remove()
        self._slice_layers, self._surface = {}, None
        if self.reveal_window is not None:
            self.reveal_window.close()
            self.reveal_window.release()
            self.reveal_window.deleteLater()
            self.reveal_window = None
        self._practice_case = None
        self.practice.end()
        self._unlock()

    def _on_case_changed(self, case: ImageCase | None) -> None:
        # Another case opened (or the case closed) under a practice: the practice is over.
        if self.practice.active and case is not self._practice_case:
            self.cancel_assessment()
            self._leave()

    # -- what the trainee may use ---------------------------------------------------------
    def _lock(self, *, editing: bool) -> None:
        window = self.window
        panels = getattr(window, "panels", {})
        for name in _ANSWER_PANELS:
            if name in panels:
                panels[name].setEnabled(False)
        for name in _EDIT_PANELS:
            if name in panels:
                panels[name].setEnabled(editing)
        for action in _answer_actions(window):
            action.setEnabled(False)
        for action in _edit_actions(window):
            action.setEnabled(editing)

    def _unlock(self) -> None:
        window = self.window
        for panel in getattr(window, "panels", {}).values():
            panel.setEnabled(True)
        has_case = window.session.case is not None
        for action in (*_answer_actions(window), *_edit_actions(window)):
            action.setEnabled(has_case)


def _answer_actions(window: MainWindow) -> tuple[QAction, ...]:
    """Menu actions that would reveal or replace the answer: off during a practice."""
    return (
        window.open_plan_action,
        window.open_labels_action,
        window.save_plan_action,
        window.save_plan_as_action,
        window.report_action,
    )


def _edit_actions(window: MainWindow) -> tuple[QAction, ...]:
    """Probe-placing actions: on while the trainee places probes."""
    return (window.probe_tool_action, window.add_probe_action, window.remove_probe_action)
