"""Keeps the session's thermal results up to date: a preview during drags, a full evaluation after.

While a probe is dragged, template previews run one after another in a worker,
each on the newest plan (latest wins; a preview is never queued twice); their
templates are built in the background as soon as a plan has probes, so that the
first drag is as fast as the later ones. When
the drag ends, or after any other edit of probes, protocol, settings or
labels, a full evaluation (simulation and metrics) starts after a short pause;
a newer edit cancels the running one. Results arrive on the GUI thread and are
stored with the inputs they were computed for, so a late result of an old
plan is kept as stale, never shown as current.
"""

from __future__ import annotations

from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from cryoplan_app.model.evaluation import (
    DISPLAY_SPACING_MM,
    evaluate_for_display,
    preview_for_display,
    warm_preview,
)
from cryoplan_app.model.plan_state import PlanResults, TemperatureField
from cryoplan_app.model.session import Session
from cryoplan_app.qt.tasks import Task, TaskRunner

# Pause after the last edit before the full evaluation starts (typing a protocol...).
_SETTLE_MS = 400


class PlanRunner(QObject):
    """Runs previews and evaluations for ``session`` on ``runner``.

    ``auto=False`` leaves evaluation to explicit :meth:`evaluate_now` calls
    (tests, benchmarks); previews still follow drags. ``preview_applied``
    signals each preview shown (for latency measurements).
    """

    preview_applied = pyqtSignal(object)
    evaluated = pyqtSignal(object)

    def __init__(
        self,
        session: Session,
        runner: TaskRunner,
        parent: QObject | None = None,
        *,
        auto: bool = True,
        spacing_mm: float = DISPLAY_SPACING_MM,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.runner = runner
        self.auto = auto
        self.spacing_mm = spacing_mm
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.evaluate_now)
        self._preview: Task | None = None
        self._preview_again = False
        self._evaluation: Task | None = None
        # Probe models and protocol whose preview templates were requested.
        self._warmed: set[tuple[str, frozenset[str]]] = set()
        runner.task_finished.connect(self._task_finished)
        session.plan_changed.connect(self._on_inputs)
        session.labels_changed.connect(self._on_inputs)
        session.drag_finished.connect(self._on_drag_finished)
        session.case_changed.connect(self._on_case)

    @property
    def ready(self) -> bool:
        """True when the session has what an evaluation needs: image, labels, probes."""
        session = self.session
        return session.case is not None and session.labels is not None and bool(session.plan.probes)

    @property
    def evaluating(self) -> bool:
        return self._evaluation is not None and not self._evaluation.done

    def _on_case(self, _case: object) -> None:
        self._timer.stop()
        if self._evaluation is not None:
            self._evaluation.cancel()

    def _on_inputs(self, _value: object = None) -> None:
        if not self.ready:
            self._timer.stop()
            self.session.set_preview(None)
            return
        if self.session.dragging:
            self.request_preview()
            return
        self._warm_preview()
        if self.auto and not self.session.results_fresh:
            self._timer.start(_SETTLE_MS)

    def _on_drag_finished(self) -> None:
        if self.auto and self.ready and not self.session.results_fresh:
            self._timer.start(_SETTLE_MS)

    # -- full evaluation ------------------------------------------------------------------
    def evaluate_now(self) -> Task | None:
        """Start a full evaluation of the present plan (cancelling a running one)."""
        self._timer.stop()
        session = self.session
        case, labels, plan = session.case, session.labels, session.plan
        if case is None or labels is None or not plan.probes:
            return None
        inputs = session.current_inputs()
        library = session.probe_library
        spacing_mm = self.spacing_mm

        def work(progress, cancel) -> PlanResults:
            return evaluate_for_display(
                plan,
                case.volume,
                labels,
                inputs=inputs,
                probe_library=library,
                spacing_mm=spacing_mm,
                progress=progress,
                cancel=cancel,
            )

        self._evaluation = self.runner.submit(
            f"Simulating {len(plan.probes)} probe(s), {plan.protocol}",
            work,
            on_done=self._evaluated,
            key="evaluate",
        )
        return self._evaluation

    def _evaluated(self, results: PlanResults) -> None:
        if self.session.case is None:
            return
        self.session.set_results(results)
        self.evaluated.emit(results)

    # -- preview --------------------------------------------------------------------------
    def request_preview(self) -> None:
        """Compute a preview of the newest plan as soon as the worker is free."""
        if self._preview is not None:
            self._preview_again = True
            return
        session = self.session
        case, labels, plan = session.case, session.labels, session.plan
        if case is None or labels is None or not plan.probes:
            return
        library = session.probe_library
        self._preview_again = False
        self._preview = self.runner.submit(
            "Preview",
            lambda progress, cancel: preview_for_display(plan, probe_library=library),
            on_done=self._previewed,
            # A preview is a hint; the full evaluation reports the same problem properly.
            on_error=lambda _error, _details: None,
        )

    def _warm_preview(self) -> None:
        plan, library = self.session.plan, self.session.probe_library
        key = (plan.protocol, frozenset(probe.model_id for probe in plan.probes))
        if key in self._warmed:
            return
        self._warmed.add(key)
        self.runner.submit(
            "Preparing the drag preview",
            lambda progress, cancel: warm_preview(plan, probe_library=library),
            on_done=lambda _result: None,
            # An unusable protocol or model is reported by the full evaluation.
            on_error=lambda _error, _details: None,
        )

    def _previewed(self, field: TemperatureField) -> None:
        session = self.session
        if session.case is not None and (session.dragging or not session.results_fresh):
            session.set_preview(field)
            self.preview_applied.emit(field)

    def _task_finished(self, task: Task) -> None:
        # Also reached when the preview failed or was cancelled: never leave it marked running.
        if task is self._preview:
            self._preview = None
            if self._preview_again:
                self.request_preview()
