"""Practice mode in the window: opens the case, submits the attempt to a worker, paints the
under-treated tumor red, reveals and ends.

The state lives in :class:`~cryoplan_app.model.practice.PracticeSession`; this
object only connects it to the application (session, task runner, views) and
sets the window's :class:`~cryoplan_app.model.mode.Mode` from the practice's
state, which locks what would give the answer away.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QMessageBox

from cryoplan_app.logic.library import PracticeCase
from cryoplan_app.logic.runner import TaskHandle
from cryoplan_app.model.case import ImageCase
from cryoplan_app.model.mode import PRACTICE_MODES
from cryoplan_app.model.planes import SLICE_VIEWS, in_plane_bounds_mm
from cryoplan_app.model.practice import (
    PracticeResult,
    PracticeSession,
    PracticeState,
    label_centre_lps,
    miss_view_direction,
)
from cryoplan_app.model.view_state import Tool
from cryoplan_app.qt.context import AppContext
from cryoplan_app.render.undertreated import UndertreatedSliceLayer, UndertreatedSurface
from planning_core.errors import PlanningError

if TYPE_CHECKING:
    from cryoplan_app.qt.practice.reveal import RevealWindow

#: Width of the 2-D views while placing: the tumor and the paths to the skin (mm).
PLACING_FIELD_MM = 180.0
#: Width of the 2-D views after the assessment: the tumor and its red surface (mm).
ASSESSED_FIELD_MM = 90.0
#: Width of the 3-D view looking at the under-treated side of the tumor (mm).
MISS_FIELD_MM = 80.0


class PracticeController(QObject):
    """Runs practice mode with ``context``; ``library_path`` None means the default library.

    Signals, for tests and scripts: ``started`` (), ``assessed`` (PracticeResult)
    and ``revealed`` (RevealWindow); the model's ``state_changed`` tells the rest.
    """

    started = pyqtSignal()
    assessed = pyqtSignal(object)
    revealed = pyqtSignal(object)

    def __init__(
        self,
        context: AppContext,
        *,
        library_path: Path | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.library_path = library_path
        self.practice = PracticeSession()
        self.reveal_window: RevealWindow | None = None
        self._practice_case: ImageCase | None = None
        self._slice_layers: dict[str, UndertreatedSliceLayer] = {}
        self._surface: UndertreatedSurface | None = None
        self.practice.state_changed.connect(lambda state: context.mode.set(PRACTICE_MODES[state]))
        context.logic.practice.finished.connect(self._assessment_ended)
        context.session.case_changed.connect(self._on_case_changed)
        context.session.view.crosshair_changed.connect(self._follow_slices)

    # -- start ----------------------------------------------------------------------------
    def start(self, trainee: str, case_id: str) -> TaskHandle | None:
        """Open library case ``case_id`` for ``trainee`` in a worker, then start placing.

        Refused (None) when the window's own unsaved plan should not be dropped.
        """
        if self.practice.active and not self.end(ask=True):
            return None
        if not self.context.confirm_discard("starting a practice"):
            return None
        return self.context.logic.library.open_practice(
            self.library_path,
            trainee,
            case_id,
            on_done=lambda opened: self._opened(trainee, opened),
        )

    def _opened(self, trainee: str, opened: PracticeCase) -> None:
        case, reference, image = opened.case, opened.reference, opened.image
        session = self.context.session
        self._practice_case = image
        session.open_case(image)
        self.practice.start(trainee=trainee, case=case, reference=reference)
        session.document.set_plan(
            self.practice.starting_plan(session.document.plan), text="Practice settings"
        )
        session.document.history.clear()  # the starting plan is where undo stops
        self.frame_views(PLACING_FIELD_MM)
        self.context.status_bar.showMessage(
            f"Practice on {case.title} for {trainee}: place the probes, choose the protocol, "
            "then Submit attempt.",
            15_000,
        )
        self.started.emit()

    # -- submit ---------------------------------------------------------------------------
    def submit(self) -> TaskHandle | None:
        """Submit the window's plan as the attempt; the assessment runs in a worker."""
        context, session = self.context, self.context.session
        try:
            attempt = self.practice.submit(session.document.plan)
        except PlanningError as error:
            context.errors.show_error(error)
            return None
        # The case's own labels: the attempt is scored on them, whatever the views show.
        case, image = self.practice.case, self._practice_case
        assert case is not None and image is not None and image.labels is not None
        labels = image.labels
        session.document.end_drag()
        session.view.set_tool(Tool.NAVIGATE)
        return context.logic.practice.assess(
            attempt, case, volume=image.volume, label_map=labels, library_path=self.library_path,
            on_done=self._assessed, on_error=self._assessment_failed,
        )  # fmt: skip

    @property
    def assessment_task(self) -> TaskHandle | None:
        """The assessment of the submitted attempt, while and after it runs."""
        return self.context.logic.practice.task

    def cancel_assessment(self) -> None:
        self.context.logic.practice.cancel()

    def _assessed(self, result: PracticeResult) -> None:
        if self.practice.state != PracticeState.ASSESSING:
            return
        self.practice.assessed(result)
        self.frame_views(ASSESSED_FIELD_MM)
        session = self.context.session
        regions = result.assessment.undertreated
        if regions:  # the slice through the largest miss
            session.view.set_crosshair(regions[0].centroid_lps_mm)
        self.show_undertreated(result)
        self.look_at_miss(result)
        session.document.history.clear()  # the submitted plan is final
        self.assessed.emit(result)

    def _assessment_failed(self, error: BaseException, details: str) -> None:
        self.practice.submission_failed()
        self.context.errors.show_error(error, details)

    def _assessment_ended(self) -> None:
        # A cancelled assessment reports neither a result nor an error.
        if self.practice.state == PracticeState.ASSESSING:
            self.practice.submission_failed()
            self.context.status_bar.showMessage("Assessment cancelled; the attempt is open.", 8000)

    # -- the red under-treated tumor ------------------------------------------------------
    @property
    def undertreated_shown(self) -> bool:
        """True while the attempt's under-treated tumor is painted red in the 3-D view."""
        return self._surface is not None and self._surface.shown

    def show_undertreated(self, result: PracticeResult | None) -> None:
        """Paint the attempt's under-treated tumor in every 2-D view and the 3-D view."""
        views = self.context.views
        session = self.context.session
        image = session.case
        if result is None or image is None:
            for layer in self._slice_layers.values():
                layer.hide()
            if self._surface is not None:
                self._surface.hide()
        else:
            # Red alone marks the tumor that escaped; the lethal contour shows the rest.
            session.view.set_label_visible(result.assessment.reference.target_label, False)
            geometry = image.volume.geometry
            for view in SLICE_VIEWS:
                layer = self._slice_layers.get(view)
                if layer is None:
                    frame = session.view.frame(view)
                    layer = UndertreatedSliceLayer(
                        views[view].scene.renderer,
                        view_direction_lps=frame.view_direction_lps,
                        normal_axis=frame.normal_axis,
                    )
                    self._slice_layers[view] = layer
                layer.show(
                    result.assessment.undertreated_surface, geometry, session.view.slice_index(view)
                )
            if self._surface is None:
                self._surface = UndertreatedSurface(views["3d"].scene.renderer)
            self._surface.show(result.undertreated_mask, geometry)
        for view in (*SLICE_VIEWS, "3d"):
            views[view].request_render()

    def frame_views(self, field_mm: float) -> None:
        """Centre the 2-D views on the tumor, ``field_mm`` across (the whole body is too far)."""
        session = self.context.session
        image, labels = session.case, session.document.labels
        if image is None or labels is None or not labels.has(session.document.plan.target_label):
            return
        centre = label_centre_lps(labels, session.document.plan.target_label)
        session.view.set_crosshair(centre)
        for view in SLICE_VIEWS:
            frame = session.view.frame(view)
            right_min, right_max, up_min, up_max = in_plane_bounds_mm(image.volume.geometry, frame)
            session.view.reset_view(view)
            session.view.zoom_view(view, max(right_max - right_min, up_max - up_min) / field_mm)
            session.view.pan_view(
                view,
                right_mm=0.5 * (right_min + right_max) - float(centre @ frame.right_lps),
                up_mm=0.5 * (up_min + up_max) - float(centre @ frame.up_lps),
            )

    def look_at_miss(self, result: PracticeResult) -> None:
        """Turn the 3-D view to the side of the tumor that stayed above the lethal isotherm.

        Seen from the probes' side alone the red part would often hide behind the iceball.
        """
        view = self.context.views["3d"]
        session = self.context.session
        labels = session.document.labels
        regions = result.assessment.undertreated
        direction = None
        if labels is not None and regions:
            centre = label_centre_lps(labels, session.document.plan.target_label)
            entry_side = -np.mean(
                [part.direction for part in session.document.probe_parts()], axis=0
            )
            direction = miss_view_direction(regions[0].centroid_lps_mm - centre, entry_side)
        if direction is None:
            view.look_at_plan()
            return
        view.scene.look_at(centre, from_direction_lps=direction, field_mm=MISS_FIELD_MM)
        view.request_render()

    def _follow_slices(self, _lps: object = None) -> None:
        session = self.context.session
        if session.case is None:
            return
        for view, layer in self._slice_layers.items():
            if layer.shown:
                layer.show_slice(session.view.slice_index(view))

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
            self.context.errors.show_error(error)
            return None
        if self.reveal_window is None and result is not None and image is not None:
            self.reveal_window = RevealWindow(
                self.context, image, result, reference, author=author or "library reference"
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
        context = self.context
        if ask and self.practice.unsubmitted and not context.headless:
            answer = QMessageBox.question(
                context.dialog_parent,
                "End practice",
                "The attempt is not assessed yet. End the practice without a score?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
        self.cancel_assessment()
        self._leave()
        if context.session.case is not None:
            context.session.document.history.mark_saved()  # a practice plan is kept in the library
            context.session.close_case()
        context.status_bar.showMessage("Practice ended: back to planning mode.", 8000)
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

    def _on_case_changed(self, case: ImageCase | None) -> None:
        # Another case opened (or the case closed) under a practice: the practice is over.
        if self.practice.active and case is not self._practice_case:
            self.cancel_assessment()
            self._leave()
