"""The growth replay: the plan simulated again with whole fields kept every minute.

The plan evaluation keeps only the lowest temperature reached; watching the ice
grow needs whole temperature fields at many times. :func:`simulate_growth`
records them every :data:`RECORD_STEP_S` seconds on a coarser grid
(:data:`GROWTH_SPACING_MM`, for speed: it is for watching, not for the reported
numbers). :class:`GrowthLogic` runs it in the background and keeps the result
with the plan-and-labels inputs it belongs to: it is handed out only while those
inputs are the session's.
"""

from __future__ import annotations

import numpy as np

from cryoplan_app.logic.runner import Runner, TaskHandle
from cryoplan_app.model.plan_state import InputsKey, TemperatureField
from cryoplan_app.model.session import Session
from cryoplan_app.model.signals import Signal
from planning_core.errors import InvalidParameterError, PlanningError
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.evaluate import placed_probes
from planning_core.planning.plan import Plan
from planning_core.progress import CancelToken, ProgressCallback
from planning_core.thermal.probes import ProbeLibrary
from planning_core.thermal.protection import apply_protection
from planning_core.thermal.protocol import Protocol
from planning_core.thermal.result import SimulationResult
from planning_core.thermal.setup import build_setup
from planning_core.thermal.solver import simulate

#: Time between recorded fields of the replay.
RECORD_STEP_S = 60.0
#: Grid spacing of the replay simulation.
GROWTH_SPACING_MM = 2.0


def record_times_s(protocol: Protocol, *, step_s: float = RECORD_STEP_S) -> tuple[float, ...]:
    """Every ``step_s`` from 0 to the protocol's end, plus each phase boundary and the end."""
    total = protocol.duration_s
    times = {*np.arange(0.0, total, step_s).tolist(), *protocol.phase_starts_s(), total}
    return tuple(sorted(float(t) for t in times))


def simulate_growth(
    plan: Plan,
    volume: Volume | None,
    labels: LabelMap,
    *,
    probe_library: ProbeLibrary,
    spacing_mm: float = GROWTH_SPACING_MM,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SimulationResult:
    """Simulate ``plan`` keeping whole fields at :func:`record_times_s` of its protocol.

    Raises
    ------
    InvalidParameterError
        When the plan has no probes.
    """
    if not plan.probes:
        raise InvalidParameterError("the plan has no probes; add a probe to replay the freeze.")
    protocol = plan.parsed_protocol()
    setup = build_setup(
        placed_probes(plan.probes, probe_library),
        volume=volume,
        labels=labels,
        spacing_mm=spacing_mm,
    )
    if plan.protection:
        # The replay shows the ice the evaluation reports: with the plan's fluid in place.
        setup = apply_protection(setup, [item.measure for item in plan.protection])
    return simulate(
        setup,
        protocol,
        record_times_s=record_times_s(protocol),
        isotherms_c=plan.settings.metric_isotherms_c(),
        progress=progress,
        cancel=cancel,
    )


def field_at(growth: SimulationResult, time_s: float) -> tuple[float, TemperatureField]:
    """The recorded time nearest ``time_s`` and the (approximate) field recorded then."""
    times = np.array(sorted(growth.snapshots_c))
    nearest = float(times[np.argmin(np.abs(times - time_s))])
    return nearest, TemperatureField(growth.snapshots_c[nearest], growth.geometry, approximate=True)


class GrowthLogic:
    """Runs and keeps the growth replay of ``session``'s plan.

    Signals (:class:`~cryoplan_app.model.signals.Signal`, arguments in brackets):

    * ``arrived`` (SimulationResult): the replay of the present inputs is ready
    * ``changed`` (): a replay started or ended (arrived, failed or was dropped)
    """

    def __init__(
        self, session: Session, runner: Runner, *, spacing_mm: float = GROWTH_SPACING_MM
    ) -> None:
        self.session = session
        self.runner = runner
        self.spacing_mm = spacing_mm
        self.arrived = Signal()
        self.changed = Signal()
        self.task: TaskHandle | None = None
        self._growth: SimulationResult | None = None
        self._inputs: InputsKey | None = None
        runner.task_finished.connect(self._task_finished)

    @property
    def running(self) -> bool:
        return self.task is not None

    @property
    def can_compute(self) -> bool:
        """True when a replay may start: an image, probes, and none running."""
        session = self.session
        return session.case is not None and bool(session.document.plan.probes) and self.task is None

    @property
    def result(self) -> SimulationResult | None:
        """The replay of the session's present plan and labels; None when not computed for them."""
        if self._inputs is None or not self._inputs.matches(self.session.document.current_inputs()):
            return None
        return self._growth

    def field_at(self, time_s: float) -> tuple[float, TemperatureField]:
        """The recorded time nearest ``time_s`` and its field, from the present replay.

        Raises
        ------
        PlanningError
            When the replay of the present plan has not been computed.
        """
        growth = self.result
        if growth is None:
            raise PlanningError("The ice growth has not been simulated yet.")
        return field_at(growth, time_s)

    def compute(self) -> TaskHandle | None:
        """Run the replay of the present plan in the background (None when it cannot start)."""
        session = self.session
        case, labels, plan = session.case, session.document.labels, session.document.plan
        if not self.can_compute or case is None:
            return None
        if labels is None:
            labels = LabelMap.empty(case.volume.geometry)
        volume, library, inputs = (
            case.volume,
            session.document.probe_library,
            session.document.current_inputs(),
        )
        spacing_mm = self.spacing_mm
        self.task = self.runner.submit(
            "Simulating the ice growth",
            lambda progress, cancel: simulate_growth(
                plan,
                volume,
                labels,
                probe_library=library,
                spacing_mm=spacing_mm,
                progress=progress,
                cancel=cancel,
            ),
            on_done=lambda result: self._ready(result, inputs),
            key="timeline",
        )
        self.changed.emit()
        return self.task

    def _ready(self, growth: SimulationResult, inputs: InputsKey) -> None:
        if not inputs.matches(self.session.document.current_inputs()):
            return  # the plan changed meanwhile: a replay of it would be out of date
        self._growth, self._inputs = growth, inputs
        self.arrived.emit(growth)

    def _task_finished(self, task: TaskHandle) -> None:
        if task is self.task:
            self.task = None
            self.changed.emit()
