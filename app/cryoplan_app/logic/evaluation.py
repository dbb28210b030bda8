"""Keeps the session's thermal results up to date: a preview during drags, a full evaluation after.

While a probe is dragged, template previews run one after another in the
background, each on the newest plan (latest wins; a preview is never queued
twice); their templates are built as soon as a plan has probes, so that the
first drag is as fast as the later ones. When the drag ends, or after any other
edit of probes, protocol, settings or labels, a full evaluation (simulation and
metrics) is due after a short pause: :class:`EvaluationLogic` asks for it with
``settle_requested`` (the window's timer calls :meth:`EvaluationLogic.evaluate_now`
when the pause is over); a newer evaluation replaces the running one. Results are
kept by the inputs they were computed for (:class:`~cryoplan_app.model.plan_state.InputsKey`):
a late result of an old plan is stored as stale, never shown as current, and
an undo back to evaluated inputs shows their results again without a new
simulation. The plan checks of the results (:func:`planning_core.planning.acceptance.accept_plan`,
the one rule of the report, the command line and the optimizer) are judged here
too, in the worker with the evaluation, so that the panels only show them
(:attr:`EvaluationLogic.acceptance`, :meth:`EvaluationLogic.judge`).

:func:`evaluate_for_display` and :func:`preview_for_display` are the two
computations; :func:`warm_preview` builds the preview's templates ahead of the
first drag.
"""

from __future__ import annotations

from cryoplan_app.logic.runner import Runner, TaskHandle
from cryoplan_app.logic.trajectory import TrajectoryLogic, trajectory_context
from cryoplan_app.model.plan_state import (
    InputsKey,
    PlanResults,
    TemperatureField,
    simulation_results,
)
from cryoplan_app.model.session import Session
from cryoplan_app.model.signals import Signal
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.acceptance import Acceptance, accept_plan, simulated_protection
from planning_core.planning.evaluate import evaluate_plan, placed_probes
from planning_core.planning.plan import Plan
from planning_core.planning.plan_approach import PlannedProtection
from planning_core.planning.results import PlanMetrics
from planning_core.planning.settings import PlanSettings
from planning_core.planning.trajectory import TrajectoryContext
from planning_core.progress import CancelToken, ProgressCallback, sub_progress
from planning_core.thermal.preview import preview_min_field, probe_template
from planning_core.thermal.probes import ProbeLibrary
from planning_core.thermal.protection import shield_preview

#: Grid of the interactive full evaluation; 1 mm is the reporting grid of the core, 2 mm
#: keeps the refresh after a drag within seconds while staying within about a millimetre.
DISPLAY_SPACING_MM = 2.0
#: Grid of the drag preview: the display grid; the templates make it milliseconds.
PREVIEW_SPACING_MM = 2.0
#: Tissue of the preview's homogeneous templates (the solver's default medium).
PREVIEW_MEDIUM = "soft_tissue"
#: Body temperature of the preview templates (°C).
PREVIEW_BODY_TEMPERATURE_C = 37.0
#: Share of an evaluation's progress that preparing its path analysis takes, when it must.
_CONTEXT_SHARE = 0.3
#: Evaluations kept by their inputs: enough for a few undo steps, each holds whole fields.
RESULTS_KEPT = 4
#: Verdicts kept by the metrics and settings they judge: the kept results, the
#: optimizer's current plan and a few settings edits on top.
VERDICTS_KEPT = 8


def evaluate_for_display(
    plan: Plan,
    volume: Volume,
    labels: LabelMap,
    *,
    inputs: InputsKey,
    probe_library: ProbeLibrary,
    spacing_mm: float = DISPLAY_SPACING_MM,
    context: TrajectoryContext | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> PlanResults:
    """Full simulation and metrics of ``plan``, stamped with the ``inputs`` they belong to.

    ``context`` is a prepared path analysis of ``labels`` with the plan's settings
    (:func:`~cryoplan_app.logic.trajectory.trajectory_context`); without it one is
    prepared.
    """
    evaluation = evaluate_plan(
        plan,
        volume,
        labels,
        spacing_mm=spacing_mm,
        probe_library=probe_library,
        context=context,
        progress=progress,
        cancel=cancel,
    )
    return simulation_results(inputs, evaluation.simulation, evaluation.metrics)


def preview_for_display(
    plan: Plan,
    *,
    probe_library: ProbeLibrary,
) -> TemperatureField:
    """An approximate lowest-temperature field of ``plan`` from single-probe templates.

    Tissue classes, vessels and per-probe phases are ignored (homogeneous
    :data:`PREVIEW_MEDIUM`); the first call per probe model and protocol builds
    a template (about half a second), later ones take milliseconds. The plan's
    infused hydrodissection stops the ice
    (:func:`~planning_core.thermal.protection.shield_preview`).
    """
    preview = preview_min_field(
        placed_probes(plan.probes, probe_library),
        plan.parsed_protocol(),
        spacing_mm=PREVIEW_SPACING_MM,
        medium=PREVIEW_MEDIUM,
        body_temperature_c=PREVIEW_BODY_TEMPERATURE_C,
    )
    field = shield_preview(
        preview.min_temperature_c, preview.geometry, [item.measure for item in plan.protection]
    )
    return TemperatureField(field, preview.geometry, approximate=True)


def warm_preview(plan: Plan, *, probe_library: ProbeLibrary) -> None:
    """Build the preview templates of ``plan``'s probe models so that a first drag is fast."""
    protocol = plan.parsed_protocol()
    for probe in placed_probes(plan.probes, probe_library):
        probe_template(probe.model, protocol, PREVIEW_MEDIUM, PREVIEW_BODY_TEMPERATURE_C)


class ResultsCache:
    """The last ``size`` evaluations, found by the inputs they were computed for."""

    def __init__(self, size: int = RESULTS_KEPT) -> None:
        self.size = size
        self._results: list[PlanResults] = []

    def __len__(self) -> int:
        return len(self._results)

    def get(self, inputs: InputsKey) -> PlanResults | None:
        """The results computed for ``inputs``, or None."""
        for results in self._results:
            if results.inputs.matches(inputs):
                return results
        return None

    def put(self, results: PlanResults) -> None:
        """Keep ``results``, replacing older ones of the same inputs; the oldest go first."""
        self._results = [r for r in self._results if not r.inputs.matches(results.inputs)]
        self._results.append(results)
        del self._results[: -self.size]

    def clear(self) -> None:
        self._results = []


class EvaluationLogic:
    """Runs previews and evaluations of ``session``'s plan on ``runner``.

    ``auto_evaluate=False`` leaves evaluation to explicit :meth:`evaluate_now`
    calls (tests, benchmarks); previews still follow drags. ``spacing_mm`` is the
    grid of the full evaluation. ``paths`` lends the evaluation its prepared path
    analysis and takes the one an evaluation had to prepare.

    Signals (:class:`~cryoplan_app.model.signals.Signal`, arguments in brackets):

    * ``settle_requested`` (): an evaluation is due once the edits pause
    * ``settle_cancelled`` (): no evaluation is due any more
    * ``preview_applied`` (TemperatureField): a preview was shown (latency measurements)
    """

    def __init__(
        self,
        session: Session,
        runner: Runner,
        *,
        auto_evaluate: bool = True,
        spacing_mm: float = DISPLAY_SPACING_MM,
        paths: TrajectoryLogic | None = None,
    ) -> None:
        self.session = session
        self.runner = runner
        self.paths = paths
        self.auto_evaluate = auto_evaluate
        self.spacing_mm = spacing_mm
        self.settle_requested = Signal()
        self.settle_cancelled = Signal()
        self.preview_applied = Signal()
        self.cache = ResultsCache()
        # (metrics, settings, verdict), newest last: metrics by identity, settings by value.
        self._verdicts: list[
            tuple[PlanMetrics, PlanSettings, tuple[PlannedProtection, ...], Acceptance]
        ] = []
        self._preview: TaskHandle | None = None
        self._preview_again = False
        self._evaluation: TaskHandle | None = None
        # Probe models and protocol whose preview templates were requested.
        self._warmed: set[tuple[str, frozenset[str]]] = set()
        runner.task_finished.connect(self._task_finished)
        session.document.plan_changed.connect(self._on_inputs)
        session.document.labels_changed.connect(self._on_inputs)
        session.document.drag_finished.connect(self._on_drag_finished)
        session.case_changed.connect(self._on_case)

    @property
    def ready(self) -> bool:
        """True when the session has what an evaluation needs: image, labels, probes."""
        session = self.session
        return (
            session.case is not None
            and session.document.labels is not None
            and bool(session.document.plan.probes)
        )

    # -- plan checks ----------------------------------------------------------------------
    @property
    def acceptance(self) -> Acceptance | None:
        """The plan checks of the session's results against the present plan's settings.

        None while the session holds no evaluated metrics; the checks of stale
        results are those of the metrics shown (the panels grey them).
        """
        results = self.session.document.results
        if results is None or results.metrics is None:
            return None
        plan = self.session.document.plan
        return self.judge(
            results.metrics, plan.settings, protection=simulated_protection(plan, results.metrics)
        )

    def judge(
        self,
        metrics: PlanMetrics,
        settings: PlanSettings,
        *,
        protection: tuple[PlannedProtection, ...] = (),
    ) -> Acceptance:
        """The plan checks of ``metrics`` against the goals and limits of ``settings``.

        Judged once per metrics and settings (an evaluation's are judged in its
        worker); later calls return the kept verdict.
        """
        for kept_metrics, kept_settings, kept_protection, verdict in self._verdicts:
            if (
                kept_metrics is metrics
                and kept_settings == settings
                and kept_protection == protection
            ):
                return verdict
        verdict = accept_plan(metrics, settings, protection=protection)
        self._keep_verdict(metrics, settings, protection, verdict)
        return verdict

    def _keep_verdict(
        self,
        metrics: PlanMetrics,
        settings: PlanSettings,
        protection: tuple[PlannedProtection, ...],
        verdict: Acceptance,
    ) -> None:
        self._verdicts.append((metrics, settings, protection, verdict))
        del self._verdicts[:-VERDICTS_KEPT]

    def _on_case(self, _case: object) -> None:
        self.settle_cancelled.emit()
        self.cache.clear()  # other labels: none of the kept results can match again
        if self._evaluation is not None:
            self._evaluation.cancel()

    def _on_inputs(self, _value: object = None) -> None:
        if not self.ready:
            self.settle_cancelled.emit()
            self.session.document.set_preview(None)
            return
        if self.session.document.dragging:
            self.request_preview()
            return
        if not self.session.document.results_fresh and self._restore():
            return
        self._warm_preview()
        self._settle()

    def _on_drag_finished(self) -> None:
        if self.ready and not self.session.document.results_fresh and not self._restore():
            self._settle()

    def _settle(self) -> None:
        if self.auto_evaluate and not self.session.document.results_fresh:
            self.settle_requested.emit()

    def _restore(self) -> bool:
        """Show kept results of the present inputs (an undo); True when there were some."""
        results = self.cache.get(self.session.document.current_inputs())
        if results is None:
            return False
        self.settle_cancelled.emit()
        self.session.document.set_results(results)
        return True

    # -- full evaluation ------------------------------------------------------------------
    def evaluate_now(self) -> TaskHandle | None:
        """Start a full evaluation of the present plan (replacing a running one)."""
        self.settle_cancelled.emit()
        session = self.session
        case, labels, plan = session.case, session.document.labels, session.document.plan
        if case is None or labels is None or not plan.probes:
            return None
        inputs = session.document.current_inputs()
        library = session.document.probe_library
        spacing_mm, paths = self.spacing_mm, self.paths

        def work(
            progress: ProgressCallback, cancel: CancelToken
        ) -> tuple[PlanResults, TrajectoryContext, Acceptance | None]:
            settings, target = plan.settings, plan.target_label
            context = None if paths is None else paths.context_for(labels, settings, target)
            share = 0.0
            if context is None:  # the path checks' preparation has not finished yet
                share = _CONTEXT_SHARE
                context = trajectory_context(
                    case.volume, labels, settings, target_label=target,
                    progress=sub_progress(progress, 0.0, share), cancel=cancel,
                )  # fmt: skip
            results = evaluate_for_display(
                plan,
                case.volume,
                labels,
                inputs=inputs,
                probe_library=library,
                spacing_mm=spacing_mm,
                context=context,
                progress=sub_progress(progress, share, 1.0),
                cancel=cancel,
            )
            metrics = results.metrics
            # The metrics were simulated with the plan's protection: the organs check says so.
            verdict = (
                None
                if metrics is None
                else accept_plan(metrics, settings, protection=plan.protection)
            )
            return results, context, verdict

        self._evaluation = self.runner.submit(
            f"Simulating {len(plan.probes)} probe(s), {plan.protocol}",
            work,
            on_done=lambda done: self._evaluated(*done, plan.settings, plan.protection),
            key="evaluate",
        )
        return self._evaluation

    def _evaluated(
        self,
        results: PlanResults,
        context: TrajectoryContext,
        verdict: Acceptance | None,
        settings: PlanSettings,
        protection: tuple[PlannedProtection, ...],
    ) -> None:
        if self.session.case is None:
            return
        if self.paths is not None:
            self.paths.adopt(context)
        if results.metrics is not None and verdict is not None:
            self._keep_verdict(results.metrics, settings, protection, verdict)
        self.cache.put(results)
        self.session.document.set_results(results)

    # -- preview --------------------------------------------------------------------------
    def request_preview(self) -> None:
        """Compute a preview of the newest plan as soon as the worker is free."""
        if self._preview is not None:
            self._preview_again = True
            return
        session = self.session
        case, labels, plan = session.case, session.document.labels, session.document.plan
        if case is None or labels is None or not plan.probes:
            return
        library = session.document.probe_library
        self._preview_again = False
        self._preview = self.runner.submit(
            "Preview",
            lambda progress, cancel: preview_for_display(plan, probe_library=library),
            on_done=self._previewed,
            # A preview is a hint; the full evaluation reports the same problem properly.
            on_error=lambda _error, _details: None,
        )

    def _warm_preview(self) -> None:
        plan, library = self.session.document.plan, self.session.document.probe_library
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
        if session.case is not None and (
            session.document.dragging or not session.document.results_fresh
        ):
            session.document.set_preview(field)
            self.preview_applied.emit(field)

    def _task_finished(self, task: TaskHandle) -> None:
        # Also reached when the preview failed or was cancelled: never leave it marked running.
        if task is self._preview:
            self._preview = None
            if self._preview_again:
                self.request_preview()
