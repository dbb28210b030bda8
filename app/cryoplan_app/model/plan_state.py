"""What is computed from a plan: thermal fields, metrics, and the inputs they belong to.

A full evaluation (:class:`PlanResults`) records the inputs it was computed
for (:class:`InputsKey`), so that the
:class:`~cryoplan_app.model.plan_document.PlanDocument` can tell fresh results
from stale ones; a drag preview is a :class:`TemperatureField` with
``approximate=True``. No Qt, no VTK.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.planning.plan import Plan
from planning_core.planning.results import PlanMetrics
from planning_core.thermal.result import SimulationResult


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
