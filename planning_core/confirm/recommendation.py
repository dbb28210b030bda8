"""What to do now that the probes are in: proceed, freeze longer, or add a probe.

Each option is simulated as placed (planning anatomy, the detected probes) over
the whole protocol and measured against the plan's goal (:func:`.as_placed.predict_outcome`):

* **proceed**: the rest of the protocol as planned;
* **extend**: the running freeze (or the next one) lengthened by N minutes, the
  shortest N of :data:`EXTENSION_STEPS_MIN` that meets the goal within the plan's
  freeze limit (``--max-freeze-min``), found by bisection;
* **add a probe**: one more probe of the plan's model, parallel to those placed,
  its freezing segment centred on the part of tumor plus margin that the placed
  probes miss, its path checked like a planned one (tilted when the straight
  path is refused) and its freeze starting at the elapsed time.

The recommendation is the first option, in that order, that meets the goal;
when none does, the one with the largest margin, saying that none does.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from planning_core.confirm.as_placed import (
    AS_PLACED_SPACING_MM,
    Outcome,
    extended_protocol,
    outcome_grid,
    predict_outcome,
    simulate_placed,
)
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.approach import (
    Approach,
    approach_for_case,
    approach_of_record,
    reasons_for,
)
from planning_core.planning.evaluate import case_body_mask
from planning_core.planning.field_resample import resample_field
from planning_core.planning.metrics import BODY_TEMPERATURE_C, margin_zone_mask
from planning_core.planning.optimizer.optimize import planned_freeze_limit_s
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.trajectory import TrajectoryContext
from planning_core.progress import CancelToken, ProgressCallback, sub_progress
from planning_core.thermal.probes import load_probe_library
from planning_core.thermal.protocol import Phase, Protocol

OptionKind = Literal["proceed", "extend", "add_probe"]
#: Freeze extensions tried (minutes): few, as each costs a simulation of the protocol.
EXTENSION_STEPS_MIN = (3.0, 6.0, 10.0, 15.0)
#: Tilts tried for an added probe whose parallel path is refused (degrees).
ADD_PROBE_TILTS_DEG = (10.0, 20.0, 30.0)
#: How far back from the tip the line is followed to find the skin (mm).
PATH_SEARCH_MM = 250.0


@dataclass(frozen=True)
class TreatmentOption:
    """One way to go on, with what it is predicted to achieve.

    Attributes
    ----------
    kind : {"proceed", "extend", "add_probe"}
    text : str
        One sentence for the user.
    outcome : Outcome
        Predicted margin and coverage at the end of the protocol.
    protocol : str
        The protocol it runs: a code, or for an added probe the plan's code and
        from when the new probe freezes.
    extend_min : float or None
        Minutes added to the running (or next) freeze.
    added_probe : PlannedProbe or None
        The proposed probe (planning frame).
    path_problems : tuple of str
        Why the added probe's path fails the plan's path checks (empty: it passes).
    """

    kind: OptionKind
    text: str
    outcome: Outcome
    protocol: str
    extend_min: float | None = None
    added_probe: PlannedProbe | None = None
    path_problems: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        probe = self.added_probe
        return {
            "kind": self.kind,
            "text": self.text,
            "protocol": self.protocol,
            "extend_min": self.extend_min,
            "added_probe": None
            if probe is None
            else {
                "model": probe.model_id,
                "label": probe.label,
                "tip_lps_mm": list(probe.tip_lps_mm),
                "entry_lps_mm": list(probe.entry_lps_mm),
                "path_problems": list(self.path_problems),
            },
            "predicted": self.outcome.to_json(),
            "predicted_minimal_margin_mm": self.outcome.minimal_margin_mm,
        }


@dataclass(frozen=True)
class Recommendation:
    """The options assessed and the one recommended (``None`` when none was assessed)."""

    chosen: TreatmentOption | None
    options: tuple[TreatmentOption, ...]
    text: str

    def to_json(self) -> dict[str, object]:
        return {
            "action": None if self.chosen is None else self.chosen.kind,
            "text": self.text,
            "chosen": None if self.chosen is None else self.chosen.to_json(),
            "options": [option.to_json() for option in self.options],
        }


def _margin_text(outcome: Outcome) -> str:
    if outcome.minimal_margin_mm is None:
        return f"no {outcome.isotherm_c:g} °C zone"
    return (
        f"minimal margin {outcome.minimal_margin_mm:+.1f} mm at {outcome.isotherm_c:g} °C, "
        f"tumor + margin {outcome.zone_covered_percent:.0f} % covered"
    )


class _Options:
    """Simulates options of one as-placed plan and measures them on one grid."""

    def __init__(
        self,
        plan: Plan,
        volume: Volume,
        label_map: LabelMap,
        *,
        spacing_mm: float,
        cancel: CancelToken | None,
    ) -> None:
        self.plan, self.volume, self.label_map = plan, volume, label_map
        self.spacing_mm, self.cancel = spacing_mm, cancel
        self.grid, box = outcome_grid(label_map, plan.target_label, plan.settings)
        self.tumor = label_map.mask(plan.target_label)[box]

    def outcome_of(self, dose_c: NDArray[np.floating], geometry: Geometry) -> Outcome:
        return predict_outcome(dose_c, geometry, self.tumor, self.grid, self.plan.settings)

    def simulate(self, plan: Plan, protocol: Protocol | None = None) -> Outcome:
        result = simulate_placed(
            plan, self.volume, self.label_map, protocol=protocol, spacing_mm=self.spacing_mm,
            cancel=self.cancel,
        )  # fmt: skip
        return self.outcome_of(result.min_temperature_c, result.geometry)


def recommend(
    plan: Plan,
    volume: Volume,
    label_map: LabelMap,
    *,
    elapsed_s: float,
    proceed_dose_c: NDArray[np.floating],
    proceed_geometry: Geometry,
    spacing_mm: float = AS_PLACED_SPACING_MM,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Recommendation:
    """Assess proceed, extend and add-a-probe for an as-placed plan and pick one.

    Parameters
    ----------
    plan : Plan
        The plan as placed (:func:`.as_placed.as_placed_plan`), planning frame.
    volume, label_map : Volume, LabelMap
        The planning CT and its labels.
    elapsed_s : float
        Time since the protocol started.
    proceed_dose_c, proceed_geometry
        Lethal dose of the as-placed plan over its whole protocol (already simulated).
    spacing_mm : float
        Grid of the option simulations.
    progress, cancel
        Progress callback and cancel token.
    """
    options = _Options(plan, volume, label_map, spacing_mm=spacing_mm, cancel=cancel)
    proceed = options.outcome_of(proceed_dose_c, proceed_geometry)
    assessed = [
        TreatmentOption(
            "proceed",
            f"Proceed with the protocol as planned: {_margin_text(proceed)}.",
            proceed,
            plan.protocol,
        )
    ]
    if proceed.meets_goal:
        return choose_option(assessed)
    report = sub_progress(progress, 0.0, 0.6)
    extension = _extension(plan, options, elapsed_s, report)
    if extension is not None:
        assessed.append(extension)
        if extension.outcome.meets_goal:
            return choose_option(assessed)
    if cancel is not None:
        cancel.raise_if_cancelled()
    added = _added_probe(plan, options, elapsed_s, proceed_dose_c, proceed_geometry, progress)
    if added is not None:
        assessed.append(added)
    return choose_option(assessed)


def choose_option(assessed: list[TreatmentOption]) -> Recommendation:
    """The option to recommend among ``assessed`` (in the order proceed, extend, add).

    The first that meets the plan's goal, else the one with the largest
    predicted margin. An added probe whose path fails the plan's path checks
    (entering from the table side, crossing bone...) is never recommended: it
    stays among the options with its problems named, for the physician to judge.
    """
    feasible = [option for option in assessed if not option.path_problems]
    meeting = [option for option in feasible if option.outcome.meets_goal]
    if meeting:
        chosen = meeting[0]
        return Recommendation(chosen, tuple(assessed), chosen.text)

    def margin(option: TreatmentOption) -> float:
        value = option.outcome.minimal_margin_mm
        return -math.inf if value is None else value

    best = max(feasible, key=margin)
    text = (
        "No option assessed reaches the plan's goal; the largest predicted margin: "
        f"{best.text[0].lower()}{best.text[1:]}"
    )
    return Recommendation(best, tuple(assessed), text)


def _extension(
    plan: Plan,
    options: _Options,
    elapsed_s: float,
    progress: Callable[[float, str], None],
) -> TreatmentOption | None:
    """The shortest extension that meets the goal (else the longest allowed), or ``None``."""
    protocol = plan.parsed_protocol()
    room_s = planned_freeze_limit_s(plan.settings) - protocol.freeze_time_s
    steps = [m for m in EXTENSION_STEPS_MIN if m * 60.0 <= room_s + 1e-6]
    if not steps or extended_protocol(protocol, elapsed_s, 60.0) is None:
        return None
    tried: dict[float, tuple[Outcome, Protocol]] = {}

    def attempt(minutes: float) -> Outcome:
        longer = extended_protocol(protocol, elapsed_s, minutes * 60.0)
        assert longer is not None
        progress(len(tried) / 4.0, f"Simulating a freeze {minutes:g} min longer")
        outcome = options.simulate(dataclasses.replace(plan, protocol=longer.code))
        tried[minutes] = (outcome, longer)
        return outcome

    low, high = 0, len(steps) - 1
    if attempt(steps[high]).meets_goal:
        while low < high:  # the shortest step that meets the goal
            middle = (low + high) // 2
            if attempt(steps[middle]).meets_goal:
                high = middle
            else:
                low = middle + 1
    minutes = steps[high]
    outcome, longer = tried[minutes]
    return TreatmentOption(
        "extend",
        f"Extend the freeze by {minutes:g} min (protocol {longer.code}, total freeze "
        f"{longer.freeze_time_s / 60.0:g} min): {_margin_text(outcome)}.",
        outcome,
        longer.code,
        extend_min=minutes,
    )


def late_start_protocol(protocol: Protocol, elapsed_s: float, placed: int) -> Protocol:
    """The protocol for the placed probes plus one that starts at ``elapsed_s``.

    The phase running at ``elapsed_s`` is split there: before it only the
    placed probes (indices ``0..placed-1``) run; a per-probe power gives the new
    probe full power.
    """
    old = tuple(range(placed))
    phases: list[Phase] = []
    for start, phase in zip(protocol.phase_starts_s(), protocol.phases, strict=True):
        power = phase.power_percent
        if isinstance(power, tuple):
            power = (*power, 100.0)
        phase = dataclasses.replace(phase, power_percent=power)
        end = start + phase.duration_s
        before = old if phase.probes is None else tuple(p for p in phase.probes if p < placed)
        after = None if phase.probes is None else (*phase.probes, placed)
        if end <= elapsed_s:
            phases.append(dataclasses.replace(phase, probes=before))
        elif start >= elapsed_s:
            phases.append(dataclasses.replace(phase, probes=after))
        else:
            phases.append(dataclasses.replace(phase, duration_s=elapsed_s - start, probes=before))
            phases.append(dataclasses.replace(phase, duration_s=end - elapsed_s, probes=after))
    return Protocol(tuple(phases))


def _tilted(direction: NDArray[np.float64]) -> list[NDArray[np.float64]]:
    """``direction`` and tilts of it by :data:`ADD_PROBE_TILTS_DEG` around four axes."""
    helper = np.array([0.0, 0.0, 1.0]) if abs(direction[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(direction, helper)
    u /= np.linalg.norm(u)
    v = np.cross(direction, u)
    tilted = [direction]
    for angle in ADD_PROBE_TILTS_DEG:
        t = math.tan(math.radians(angle))
        for side in (u, -u, v, -v):
            vector = direction + t * side
            tilted.append(vector / np.linalg.norm(vector))
    return tilted


def added_probe_approach(plan: Plan, volume: Volume, body_mask: NDArray[np.bool_]) -> Approach:
    """The approach rules an added probe obeys: the plan's record when it has one (what
    the planner applied), else the rules of the case read afresh (position from the CT)."""
    if plan.approach is not None:
        return approach_of_record(plan.approach)
    return approach_for_case(volume, body_mask=body_mask)


def _added_probe(
    plan: Plan,
    options: _Options,
    elapsed_s: float,
    proceed_dose_c: NDArray[np.floating],
    proceed_geometry: Geometry,
    progress: ProgressCallback | None,
) -> TreatmentOption | None:
    """One more probe where the placed ones leave tumor or margin short, or ``None``."""
    settings = plan.settings
    grid = options.grid
    dose = resample_field(proceed_dose_c, proceed_geometry, grid, fill_value=BODY_TEMPERATURE_C)
    zone = margin_zone_mask(options.tumor, grid, settings.zone_margin_mm)
    short = zone & (dose > settings.zone_isotherm_c)
    if not short.any():
        return None
    kji = np.argwhere(short)
    target = grid.index_to_lps(kji[:, ::-1].astype(np.float64)).mean(axis=0)
    directions = np.array([p.direction_lps for p in plan.probes])
    mean_direction = directions.sum(axis=0)
    mean_direction /= np.linalg.norm(mean_direction)
    model = load_probe_library().get(plan.probes[0].model_id)
    centre_mm = model.tip_offset_mm + 0.5 * model.active_length_mm
    if progress is not None:
        progress(0.6, "Checking the path of an added probe")
    context = TrajectoryContext(
        options.label_map, settings, body_mask=case_body_mask(options.volume, options.label_map),
        target_label=plan.target_label, volume=options.volume,
    )  # fmt: skip
    approach = added_probe_approach(plan, options.volume, context.body_mask)
    label = f"P{len(plan.probes) + 1}"
    chosen: tuple[PlannedProbe, tuple[str, ...]] | None = None
    for direction in _tilted(mean_direction):
        tip = target + direction * centre_mm
        report = context.analyze_path(tip, tip - direction * PATH_SEARCH_MM)
        if report.skin_entry_lps_mm is None:
            continue
        probe = PlannedProbe(model.id, tip, report.skin_entry_lps_mm, label=label)
        # The planned probes' rules hold for an added one: not from the table side, the
        # handle inside the gantry, the position's angle limits.
        flags = approach.probe_refusals([probe.entry_lps_mm], [probe.tip_lps_mm])[0]
        problems = (*report.problems, *reasons_for(int(flags)))
        if chosen is None or (not problems and chosen[1]):
            chosen = (probe, problems)
        if not problems:
            break
    if chosen is None:
        return None
    probe, problems = chosen
    protocol = late_start_protocol(plan.parsed_protocol(), elapsed_s, len(plan.probes))
    if progress is not None:
        progress(0.7, "Simulating an added probe")
    outcome = options.simulate(dataclasses.replace(plan, probes=(*plan.probes, probe)), protocol)
    tip_text = ", ".join(f"{v:.1f}" for v in probe.tip_lps_mm)
    entry_text = ", ".join(f"{v:.1f}" for v in probe.entry_lps_mm)
    path = "" if not problems else f" (its path fails: {'; '.join(problems)})"
    return TreatmentOption(
        "add_probe",
        f"Add probe {label} ({model.id}) with its tip at ({tip_text}) and entry at "
        f"({entry_text}) mm LPS, freezing from now on{path}: {_margin_text(outcome)}.",
        outcome,
        f"{plan.protocol} ({label} from {elapsed_s / 60.0:.1f} min on)",
        added_probe=probe,
        path_problems=tuple(problems),
    )
