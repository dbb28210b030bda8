"""The plan being edited and what was computed from it: thermal fields, metrics, a drag preview.

:class:`PlanState` holds the current :class:`~planning_core.planning.plan.Plan`
(probes, protocol, settings), the last full evaluation (:class:`PlanResults`)
with the inputs it was computed for, a fast approximate field shown while a
probe is dragged (:class:`TemperatureField` with ``approximate=True``) and the
selected probe. Results are never thrown away when the plan changes: they are
*stale* while the plan's inputs differ from theirs, and fresh again when an
undo brings those inputs back. Edits that should be undoable go through
:class:`~cryoplan_app.model.session.Session`, which wraps them in history
commands; this class only stores and signals. No Qt, no VTK.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cryoplan_app.model.signals import Signal
from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.planning.plan import Plan
from planning_core.planning.results import PlanMetrics
from planning_core.thermal.result import SimulationResult

#: The ice edge; always drawn, whatever the settings.
ICE_EDGE_C = 0.0


@dataclass(frozen=True, eq=False)
class TemperatureField:
    """A lowest-temperature field (°C) on its own grid, ``[k, j, i]``.

    ``approximate`` marks a drag preview, not a verified simulation.
    """

    min_temperature_c: NDArray[np.float32]
    geometry: Geometry
    approximate: bool = False

    def __post_init__(self) -> None:
        if tuple(self.min_temperature_c.shape) != self.geometry.shape:
            raise InvalidParameterError(
                f"temperature field shape {self.min_temperature_c.shape} does not match its "
                f"grid {self.geometry.shape}."
            )


@dataclass(frozen=True)
class InputsKey:
    """What a result was computed from: the plan's inputs hash and the label map object.

    Label maps are immutable (edits make new objects), so identity tells
    whether the labels changed.
    """

    plan_sha256: str
    labels: LabelMap | None

    def matches(self, other: InputsKey) -> bool:
        return self.plan_sha256 == other.plan_sha256 and self.labels is other.labels


@dataclass(frozen=True, eq=False)
class PlanResults:
    """A full evaluation of a plan: the simulation, its field and the metrics."""

    inputs: InputsKey
    field: TemperatureField
    simulation: SimulationResult | None = None
    metrics: PlanMetrics | None = None


def simulation_results(
    inputs: InputsKey, simulation: SimulationResult, metrics: PlanMetrics | None = None
) -> PlanResults:
    """:class:`PlanResults` of a full simulation (its lowest-temperature field)."""
    field = TemperatureField(simulation.min_temperature_c, simulation.geometry)
    return PlanResults(inputs, field, simulation, metrics)


def inputs_key(plan: Plan, labels: LabelMap | None) -> InputsKey:
    """The :class:`InputsKey` of ``plan`` evaluated on ``labels``."""
    return InputsKey(plan.inputs_sha256(), labels)


def display_isotherms_c(plan: Plan) -> tuple[float, ...]:
    """Isotherms the views draw: 0 °C, the reported ones and the lethal one, warmest first."""
    return plan.settings.metric_isotherms_c()


class PlanState:
    """See the module docstring.

    Signals (arguments in brackets):

    * ``plan_changed`` (Plan)
    * ``results_changed`` (PlanResults or None): a new evaluation arrived or was dropped
    * ``preview_changed`` (TemperatureField or None)
    * ``selected_probe_changed`` (index or None)
    """

    def __init__(self) -> None:
        self.plan_changed = Signal()
        self.results_changed = Signal()
        self.preview_changed = Signal()
        self.selected_probe_changed = Signal()
        self._plan = Plan()
        self._results: PlanResults | None = None
        self._preview: TemperatureField | None = None
        self._selected: int | None = None

    @property
    def plan(self) -> Plan:
        return self._plan

    def set_plan(self, plan: Plan) -> None:
        """Store ``plan``; the selection follows when the probe count shrinks."""
        if plan is self._plan:
            return
        self._plan = plan
        self.plan_changed.emit(plan)
        if self._selected is not None and self._selected >= len(plan.probes):
            self.select_probe(len(plan.probes) - 1 if plan.probes else None)

    def reset(self, plan: Plan) -> None:
        """Start over with ``plan``: no results, no preview, no selection."""
        self.set_results(None)
        self.set_preview(None)
        self.select_probe(None)
        self._plan = plan
        self.plan_changed.emit(plan)

    # -- results ------------------------------------------------------------------------
    @property
    def results(self) -> PlanResults | None:
        """The last full evaluation, fresh or stale (see :meth:`results_fresh`)."""
        return self._results

    def set_results(self, results: PlanResults | None) -> None:
        if results is self._results:
            return
        self._results = results
        self.results_changed.emit(results)

    def results_fresh(self, labels: LabelMap | None) -> bool:
        """True when the results were computed for the present plan on ``labels``."""
        return self._results is not None and self._results.inputs.matches(
            inputs_key(self._plan, labels)
        )

    @property
    def preview(self) -> TemperatureField | None:
        return self._preview

    def set_preview(self, field: TemperatureField | None) -> None:
        if field is self._preview:
            return
        self._preview = field
        self.preview_changed.emit(field)

    @property
    def temperature_field(self) -> TemperatureField | None:
        """What the views draw isotherms of: the preview while there is one, else the results."""
        if self._preview is not None:
            return self._preview
        return None if self._results is None else self._results.field

    # -- selection ----------------------------------------------------------------------
    @property
    def selected_probe(self) -> int | None:
        return self._selected

    def select_probe(self, index: int | None) -> None:
        if index is not None and not 0 <= index < len(self._plan.probes):
            raise InvalidParameterError(
                f"probe index must lie in 0..{len(self._plan.probes) - 1}, got {index}."
            )
        if index != self._selected:
            self._selected = index
            self.selected_probe_changed.emit(index)
