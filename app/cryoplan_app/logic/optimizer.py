"""The optimizer run in the background, and its proposal until the user accepts it.

:class:`OptimizerLogic` runs :func:`planning_core.planning.optimizer.optimize_plan`
on the open case's image and labels with the plan's settings. Its result is a
:class:`Proposal`, kept with the label map it was computed on: it replaces the
plan only on :meth:`OptimizerLogic.accept` (one undo step, with its verified
simulation as the plan's results), and only while those labels are the
session's. An infeasible search's closest plan is a proposal too, marked with
what it misses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cryoplan_app.logic.runner import Runner, TaskHandle
from cryoplan_app.model.plan_state import PlanResults, TemperatureField, inputs_key
from cryoplan_app.model.session import Session
from cryoplan_app.model.signals import Signal
from planning_core.errors import InfeasiblePlanError, PlanningError
from planning_core.imaging.labels import LabelMap
from planning_core.planning.acceptance import Acceptance, accept_plan
from planning_core.planning.plan import Plan
from planning_core.thermal.result import SimulationResult


def run_optimizer(volume, label_map, *, progress, cancel, **options):
    """:func:`planning_core.planning.optimizer.optimize_plan` (a seam tests can replace).

    ``options`` are its keywords: settings, probe_model, probe_library,
    target_label, robustness_samples, robustness_tip_error_mm.
    """
    from planning_core.planning.optimizer import optimize_plan

    return optimize_plan(volume, label_map, progress=progress, cancel=cancel, **options)


@dataclass(frozen=True, eq=False)
class Proposal:
    """What the optimizer proposes, and the label map it was computed on.

    ``simulation`` is the verification run (``None`` for the closest plan of an
    infeasible search, which the session then evaluates like any edit);
    ``shortfall`` says which goal that closest plan misses ('' for a full plan);
    ``acceptance`` holds the plan checks of the plan's metrics (None when it has
    no fresh metrics), for the panel to show.
    """

    plan: Plan
    simulation: SimulationResult | None
    runtime_s: float
    log: tuple[str, ...]
    labels_used: LabelMap
    shortfall: str = ""
    acceptance: Acceptance | None = None


class OptimizerLogic:
    """Runs the optimizer for ``session`` on ``runner`` and keeps its proposal.

    Signals (:class:`~cryoplan_app.model.signals.Signal`, arguments in brackets):

    * ``changed`` (): the proposal, :attr:`note` or whether a run is going on changed
    * ``failed`` (error, details): the run failed without a plan to offer; the
      window's error dialog should explain
    """

    def __init__(self, session: Session, runner: Runner) -> None:
        self.session = session
        self.runner = runner
        self.changed = Signal()
        self.failed = Signal()
        self.proposal: Proposal | None = None
        self.task: TaskHandle | None = None
        #: One line on the last run, for the panel.
        self.note = ""
        self._started_s = 0.0
        self._cancelled = False
        runner.task_finished.connect(self._task_finished)
        session.case_changed.connect(lambda _case: self._forget())

    @property
    def running(self) -> bool:
        return self.task is not None

    @property
    def acceptable(self) -> bool:
        """True when there is a proposal computed on the session's present labels."""
        proposal = self.proposal
        return proposal is not None and proposal.labels_used is self.session.document.labels

    def run(
        self,
        *,
        probe_model_id: str | None = None,
        robustness_samples: int,
        robustness_tip_error_mm: float,
    ) -> TaskHandle | None:
        """Start the optimizer on the open case with the plan's settings (None without a case).

        ``probe_model_id`` None lets the optimizer choose the model.

        Raises
        ------
        PlanningError
            At once, when there is no tumor label to plan for.
        """
        session, document = self.session, self.session.document
        case, labels, plan = session.case, document.labels, document.plan
        if case is None:
            return None
        if labels is None or not labels.has(plan.target_label):
            raise PlanningError("There is no tumor label to plan for: segment the tumor first.")
        library = document.probe_library
        probe_model = None if probe_model_id is None else library.get(probe_model_id)
        volume, settings, target = case.volume, plan.settings, plan.target_label
        self._started_s, self._cancelled = time.monotonic(), False
        self.task = self.runner.submit(
            "Optimizing the plan",
            lambda progress, cancel: run_optimizer(
                volume,
                labels,
                progress=progress,
                cancel=cancel,
                settings=settings,
                probe_model=probe_model,
                probe_library=library,
                target_label=target,
                robustness_samples=robustness_samples,
                robustness_tip_error_mm=robustness_tip_error_mm,
            ),
            on_done=lambda result: self.optimized(result, labels),
            on_error=lambda error, details: self._failed(error, details, labels),
            key="optimizer",
        )
        self._set_note("Optimizing…")
        return self.task

    def cancel(self) -> None:
        """Stop the running optimizer; the plan stays as it is."""
        if self.task is not None:
            self.task.cancel()
            self._cancelled = True  # a cancelled task delivers neither result nor error
            self._set_note("Cancelling…")

    def optimized(self, result: Any, labels: LabelMap) -> None:
        """Keep an ``OptimizationResult`` computed on ``labels`` as the proposal."""
        # A check the search cannot act on (the minimal ablative margin, an organ needing
        # protection) may still fail: the proposal then does not pass, and says why.
        failed = result.acceptance.describe_failure()
        self.proposal = Proposal(
            result.plan, result.simulation, result.runtime_s, tuple(result.log), labels,
            shortfall=failed,
            # The optimizer judged its own plan: the panel shows that verdict.
            acceptance=None if result.plan.metrics_stale() else result.acceptance,
        )  # fmt: skip
        self._set_note(
            f"Done in {result.runtime_s:.0f} s."
            + (f" The plan does not pass: {failed}." if failed else "")
        )

    def accept(self) -> bool:
        """Make the proposal the plan (one undo step) and show its verified simulation.

        False when there is no proposal for the present labels.
        """
        proposal, document = self.proposal, self.session.document
        if proposal is None or not self.acceptable:
            return False
        text = "Accept closest plan" if proposal.shortfall else "Accept optimized plan"
        document.set_plan(proposal.plan, text=text)
        simulation, metrics = proposal.simulation, proposal.plan.metrics
        if simulation is not None and metrics is not None:
            document.set_results(
                PlanResults(
                    inputs_key(document.plan, document.labels),
                    TemperatureField(simulation.min_temperature_c, simulation.geometry),
                    simulation=simulation,
                    metrics=metrics,
                )
            )
        return True

    def _failed(self, error: BaseException, details: str, labels: LabelMap) -> None:
        partial = error.best_partial_plan if isinstance(error, InfeasiblePlanError) else None
        if isinstance(partial, Plan) and partial.probes:
            # Not a failure to hide: the closest plan is a starting point to adjust by hand.
            self.proposal = Proposal(
                partial, None, time.monotonic() - self._started_s, (str(error),), labels,
                shortfall=str(error),
                acceptance=(
                    None if partial.metrics is None or partial.metrics_stale()
                    else accept_plan(partial.metrics, partial.settings)
                ),
            )  # fmt: skip
            self._set_note(f"No plan meets every goal: {error} The closest plan is shown below.")
            return
        # The dialog explains; the note keeps the reason in view after it is closed.
        self.proposal = None
        self._set_note(f"No plan: {error}" if isinstance(error, PlanningError) else "")
        self.failed.emit(error, details)

    def _task_finished(self, task: TaskHandle) -> None:
        if task is not self.task:
            return
        self.task = None
        if self._cancelled:
            self._set_note("Cancelled; the plan is unchanged.")
        else:
            self.changed.emit()

    def _forget(self) -> None:
        self.proposal = None
        self._set_note("")

    def _set_note(self, note: str) -> None:
        self.note = note
        self.changed.emit()
