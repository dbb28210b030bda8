"""The plan as placed: detected probes re-simulated from the start of the freeze.

The probes sit where they were detected (planning frame) and run the plan's
protocol; the simulation keeps the whole temperature field at the elapsed time
of the intra-procedural CT (the ice it should show) and ends with the lethal
dose of the whole protocol (the final iceball). Options differ in the protocol
(a longer freeze) or the probes (one more); :func:`predict_outcome` measures
each against the plan's goal on a box around the tumor.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.evaluate import SIMULATION_MARGIN_MM, placed_probes
from planning_core.planning.field_resample import resample_field
from planning_core.planning.masks import bounding_box
from planning_core.planning.metrics import (
    BODY_TEMPERATURE_C,
    isotherm_coverage,
    margin_zone_mask,
    signed_ablative_margin,
)
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.settings import PlanSettings
from planning_core.progress import CancelToken, ProgressCallback
from planning_core.thermal.probes import load_probe_library
from planning_core.thermal.protection import apply_protection
from planning_core.thermal.protocol import Phase, Protocol
from planning_core.thermal.result import SimulationResult
from planning_core.thermal.setup import build_setup
from planning_core.thermal.solver import simulate

#: Grid of the as-placed simulations (mm): the option comparison needs a few of them.
AS_PLACED_SPACING_MM = 2.0
#: Room around the tumor's margin zone in which the outcome is measured (mm).
OUTCOME_BOX_MM = 25.0


def as_placed_plan(
    plan: Plan,
    placed: Sequence[tuple[int | None, NDArray[np.float64], NDArray[np.float64]]],
) -> Plan:
    """The plan with its probes where they were placed.

    Parameters
    ----------
    plan : Plan
        The plan that was followed.
    placed : sequence of (plan index or None, tip, entry)
        Each detected probe in the planning frame and the plan probe it is
        (``None``: a probe the plan lacks, given the first probe's model).

    Returns
    -------
    Plan
        Same protocol (per-probe powers follow their probes; an unplanned probe
        runs at full power) and settings; metrics and saved fields dropped.
    """
    if not placed:
        raise InvalidParameterError("no placed probe to simulate.")
    probes = []
    powers_of: list[int | None] = []
    extra = 0
    for index, tip, entry in placed:
        if index is None:
            extra += 1
            model = plan.probes[0].model_id
            label = f"X{extra}"
        else:
            model, label = plan.probes[index].model_id, plan.probes[index].label
        probes.append(PlannedProbe(model, tip, entry, label=label))
        powers_of.append(index)
    protocol = _protocol_for(plan.parsed_protocol(), powers_of)
    return dataclasses.replace(
        plan, probes=tuple(probes), protocol=protocol.code, metrics=None,
        thermal_fields_path=None, thermal_fields_sha256=None,
    )  # fmt: skip


def _protocol_for(protocol: Protocol, plan_indices: Sequence[int | None]) -> Protocol:
    """The protocol with per-probe powers re-ordered for the placed probes."""
    phases = []
    for phase in protocol.phases:
        power = phase.power_percent
        if isinstance(power, tuple):
            power = tuple(100.0 if i is None else power[i] for i in plan_indices)
        phases.append(dataclasses.replace(phase, power_percent=power))
    return Protocol(tuple(phases))


def elapsed_from_times(
    series_time: str, freeze_start: str, *, start_option: str = "--freeze-start"
) -> float:
    """Seconds from the freeze start to the series time (both ``HH:MM[:SS]`` or DICOM ``HHMMSS``).

    Raises
    ------
    InvalidParameterError
        For malformed times, naming ``start_option`` (how the user gave the start).
    """
    start = _clock_s(freeze_start, start_option)
    taken = _clock_s(series_time, "the series time (AcquisitionTime / SeriesTime)")
    elapsed = taken - start
    if elapsed < 0:
        elapsed += 24 * 3600.0  # the freeze started before midnight
    return elapsed


def _clock_s(text: str, name: str) -> float:
    cleaned = text.strip()
    for form in ("%H:%M:%S", "%H:%M", "%H%M%S.%f", "%H%M%S", "%H%M"):
        try:
            moment = datetime.datetime.strptime(cleaned, form)
        except ValueError:
            continue
        return (
            moment.hour * 3600.0 + moment.minute * 60.0 + moment.second + moment.microsecond / 1e6
        )
    raise InvalidParameterError(f"{name} must be a clock time HH:MM[:SS], got {text!r}.")


def check_elapsed(
    protocol: Protocol,
    elapsed_s: float,
    *,
    remedy: str = "give --elapsed-min (minutes since the protocol started) or --freeze-start",
) -> None:
    """Refuse an elapsed time outside the protocol; ``remedy`` names the user's options."""
    if not (np.isfinite(elapsed_s) and 0.0 < elapsed_s <= protocol.duration_s):
        raise InvalidParameterError(
            f"the elapsed freeze time {elapsed_s / 60.0:.1f} min lies outside the protocol "
            f"{protocol.code} (0-{protocol.duration_s / 60.0:g} min); {remedy}."
        )


def extended_protocol(protocol: Protocol, elapsed_s: float, extra_s: float) -> Protocol | None:
    """The protocol with the running freeze (or the next one) lengthened by ``extra_s``.

    ``None`` when no freeze is running or left after ``elapsed_s``.
    """
    for index, (start, phase) in enumerate(
        zip(protocol.phase_starts_s(), protocol.phases, strict=True)
    ):
        if phase.kind == "freeze" and start + phase.duration_s > elapsed_s:
            phases: list[Phase] = list(protocol.phases)
            phases[index] = dataclasses.replace(phase, duration_s=phase.duration_s + extra_s)
            return Protocol(tuple(phases))
    return None


def simulate_placed(
    plan: Plan,
    volume: Volume,
    label_map: LabelMap,
    *,
    elapsed_s: float | None = None,
    protocol: Protocol | None = None,
    spacing_mm: float = AS_PLACED_SPACING_MM,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SimulationResult:
    """Simulate ``plan`` over the planning anatomy; the field at ``elapsed_s`` is kept.

    As :func:`~planning_core.planning.evaluate.simulate_plan` (same probes, tissues
    and protection), on a coarser grid and recording the field at ``elapsed_s``.
    ``protocol`` replaces the plan's (one whose phases drive subsets of the probes,
    which a plan's protocol code cannot say).
    """
    protocol = plan.parsed_protocol() if protocol is None else protocol
    if elapsed_s is not None:
        check_elapsed(protocol, elapsed_s)
    setup = build_setup(
        placed_probes(plan.probes, load_probe_library()), volume=volume, labels=label_map,
        spacing_mm=spacing_mm, margin_mm=SIMULATION_MARGIN_MM,
    )  # fmt: skip
    if plan.protection:
        setup = apply_protection(setup, [item.measure for item in plan.protection])
    return simulate(
        setup, protocol, record_times_s=() if elapsed_s is None else (elapsed_s,), isotherms_c=(),
        progress=progress, cancel=cancel,
    )  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """What a simulated option achieves against the plan's goal.

    Attributes
    ----------
    isotherm_c : float
        The goal's isotherm (lethal, or 0 °C for the visible-ice goal).
    minimal_margin_mm : float or None
        Signed minimal distance from the tumor surface to that isotherm
        (negative: tumor outside it); ``None`` when nothing reaches it.
    tumor_covered_percent, zone_covered_percent : float
        Share of tumor, and of tumor plus the goal's margin, at or below it.
    meets_goal : bool
        Margin and coverage both meet the plan's settings.
    """

    isotherm_c: float
    minimal_margin_mm: float | None
    tumor_covered_percent: float
    zone_covered_percent: float
    meets_goal: bool

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def outcome_grid(
    label_map: LabelMap, target_label: str, settings: PlanSettings
) -> tuple[Geometry, tuple[slice, ...]]:
    """A box of the label grid around the tumor and its margin, where outcomes are measured.

    Returns the box's geometry and its slices of the label grid.
    """
    tumor = label_map.mask(target_label)
    if not tumor.any():
        raise InvalidParameterError(
            f"the plan's tumor label {target_label!r} is empty; segment the tumor first."
        )
    geometry = label_map.geometry
    pad = np.ceil((settings.zone_margin_mm + OUTCOME_BOX_MM) / np.asarray(geometry.spacing_kji_mm))
    box = bounding_box(tumor, pad.astype(int))
    assert box is not None  # the tumor is not empty
    start = tuple(int(s.start) for s in box)
    shape = tuple(int(s.stop - s.start) for s in box)
    return geometry.cropped(start, shape), box  # type: ignore[arg-type]


def predict_outcome(
    dose_c: NDArray[np.floating],
    dose_geometry: Geometry,
    tumor: NDArray[np.bool_],
    grid: Geometry,
    settings: PlanSettings,
) -> Outcome:
    """Margin and coverage of a temperature field against the plan's goal.

    Parameters
    ----------
    dose_c : ndarray
        Minimum temperature (°C) on ``dose_geometry``.
    tumor : ndarray of bool
        The tumor on ``grid`` (see :func:`outcome_grid`).
    grid : Geometry
        Where the outcome is measured.
    settings : PlanSettings
        Goal, margin and coverage goal.
    """
    dose = resample_field(dose_c, dose_geometry, grid, fill_value=BODY_TEMPERATURE_C)
    isotherm = settings.zone_isotherm_c
    zone = margin_zone_mask(tumor, grid, settings.zone_margin_mm)
    (coverage,) = isotherm_coverage(dose, tumor, zone, (isotherm,))
    margin = signed_ablative_margin(dose, tumor, grid, isotherm).minimum_mm
    meets = (
        margin is not None
        and margin >= settings.zone_margin_mm - 1e-9
        and coverage.tumor_and_margin_percent >= settings.coverage_goal_percent - 1e-9
    )
    return Outcome(
        isotherm_c=isotherm,
        minimal_margin_mm=margin,
        tumor_covered_percent=coverage.tumor_percent,
        zone_covered_percent=coverage.tumor_and_margin_percent,
        meets_goal=bool(meets),
    )
