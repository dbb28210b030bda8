"""Path checks of the plan's probes, live: the trajectory context and each probe's report.

The path analysis (:class:`~planning_core.planning.trajectory.TrajectoryContext`)
depends on the labels, the plan's settings and its target, not on the probes:
it is prepared once per label map and settings in the background; each probe's
check then takes about 15 ms and is kept per probe position, so during a drag
only the moved probe is checked again. The full evaluation's metrics need the
same analysis: it borrows the prepared one (:meth:`TrajectoryLogic.context_for`)
and hands back one it had to prepare itself (:meth:`TrajectoryLogic.adopt`), so
that the analysis is prepared once per labels and settings, not once per edit.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryoplan_app.logic.runner import Runner, TaskHandle
from cryoplan_app.model.session import Session
from cryoplan_app.model.signals import Signal
from planning_core.errors import PlanningError
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.evaluate import case_body_mask
from planning_core.planning.plan import PlannedProbe
from planning_core.planning.results import PathReport
from planning_core.planning.settings import PlanSettings
from planning_core.planning.trajectory import TrajectoryContext
from planning_core.progress import CancelToken, ProgressCallback

#: Probe positions whose reports are kept; a long drag leaves many behind.
REPORTS_KEPT = 256


def trajectory_context(
    volume: Volume,
    labels: LabelMap,
    settings: PlanSettings,
    *,
    target_label: str,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> TrajectoryContext:
    """The path analysis of ``labels``, as :func:`~planning_core.planning.evaluate.evaluate_plan`
    prepares it (the same body outline and target)."""
    body = case_body_mask(volume, labels)
    return TrajectoryContext(
        labels, settings, body_mask=body, target_label=target_label, volume=volume,
        progress=progress, cancel=cancel,
    )  # fmt: skip


@dataclass(frozen=True, eq=False)
class ContextKey:
    """What a trajectory context is prepared from: a label map object, settings and target."""

    labels: LabelMap
    settings: PlanSettings
    target_label: str

    @classmethod
    def of(cls, context: TrajectoryContext) -> ContextKey:
        """What ``context`` was prepared from."""
        return cls(context.label_map, context.settings, context.target_label)

    def matches(self, labels: LabelMap | None, settings: PlanSettings, target_label: str) -> bool:
        # Label maps are immutable: identity tells whether they changed (== would compare voxels).
        return (
            self.labels is labels
            and self.settings == settings
            and self.target_label == target_label
        )


class TrajectoryLogic:
    """Keeps the path analysis of ``session``'s labels and settings, and each probe's report.

    Signals (:class:`~cryoplan_app.model.signals.Signal`, arguments in brackets):

    * ``changed`` (): the context was dropped, is being prepared, arrived or failed
      (:attr:`note` says which); the probes' reports may differ
    * ``failed`` (error, details): preparing failed for a reason other than the
      case's content (a bug): the window's error dialog should show it
    """

    def __init__(self, session: Session, runner: Runner) -> None:
        self.session = session
        self.runner = runner
        self.changed = Signal()
        self.failed = Signal()
        self.context: TrajectoryContext | None = None
        #: One line on the path checks' state, for the panel.
        self.note = ""
        self._key: ContextKey | None = None
        self._task: TaskHandle | None = None
        self._reports: dict[PlannedProbe, PathReport | None] = {}
        session.case_changed.connect(lambda _case: self.refresh())
        session.document.labels_changed.connect(lambda _labels: self.refresh())
        session.document.plan_changed.connect(lambda _plan: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        """Prepare the context again when the labels or settings changed (in the background)."""
        session = self.session
        case, labels, plan = session.case, session.document.labels, session.document.plan
        settings, target = plan.settings, plan.target_label
        if self._key is not None and self._key.matches(labels, settings, target):
            return
        self.context = None
        self._reports = {}
        if case is None or labels is None:
            self._key = None
            self._set_note("Path checks need a label map (segment or open one).")
            return
        if not session.document.plan.probes:  # prepared when the first probe arrives
            self._key = None
            self._set_note("")
            return
        key = self._key = ContextKey(labels, settings, target)
        volume = case.volume
        self._task = self.runner.submit(
            "Preparing path checks",
            lambda progress, cancel: trajectory_context(
                volume, labels, settings, target_label=target, progress=progress, cancel=cancel
            ),
            on_done=lambda context: self._ready(key, context),
            on_error=lambda error, details: self._failed(key, error, details),
            key="trajectory-context",
        )
        self._set_note("Preparing path checks…")

    def context_for(
        self, labels: LabelMap, settings: PlanSettings, target_label: str
    ) -> TrajectoryContext | None:
        """The prepared analysis of ``labels`` with ``settings`` and target, or None.

        Safe to call from a worker: it reads one reference and checks what that
        context was prepared from.
        """
        context = self.context
        if context is None or not ContextKey.of(context).matches(labels, settings, target_label):
            return None
        return context

    def adopt(self, context: TrajectoryContext) -> None:
        """Take ``context``, prepared elsewhere, when it is the one being waited for.

        The preparation still running for it is cancelled.
        """
        key = self._key
        if self.context is not None or key is None:
            return
        if not ContextKey.of(context).matches(key.labels, key.settings, key.target_label):
            return
        if self._task is not None:
            self._task.cancel()
        self._ready(key, context)

    def report(self, probe: PlannedProbe) -> PathReport | None:
        """The path check of ``probe`` (kept per position); None while no context is ready."""
        if self.context is None:
            return None
        if probe not in self._reports:
            if len(self._reports) > REPORTS_KEPT:
                self._reports.clear()
            try:
                self._reports[probe] = self.context.analyze_probe(probe)
            except PlanningError:
                self._reports[probe] = None
        return self._reports[probe]

    def _ready(self, key: ContextKey, context: TrajectoryContext) -> None:
        if key is not self._key:
            return  # prepared for labels or settings that are gone
        self.context = context
        self._reports = {}
        names = ", ".join(s.name for s in context.structures) or "none"
        self._set_note(f"Paths checked against: {names}.")

    def _failed(self, key: ContextKey, error: BaseException, details: str) -> None:
        if key is not self._key:
            return
        self._set_note(f"Path checks unavailable: {error}")
        if not isinstance(error, PlanningError):
            self.failed.emit(error, details)

    def _set_note(self, note: str) -> None:
        self.note = note
        self.changed.emit()
