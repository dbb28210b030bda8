"""Check a candidate with the real solver: quickly on a coarse grid, finally in full.

The coarse check (2-mm grid, real tissues, vessels included) catches what the
surrogate cannot see, above all the heat sink of large vessels, before the
expensive full simulation; the full simulation (1-mm grid by default) through
:func:`planning_core.planning.evaluate.evaluate_plan` gives the reported metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.acceptance import (
    SETTING_OPTIONS,
    Acceptance,
    AcceptanceCheck,
    CheckKind,
)
from planning_core.planning.evaluate import simulate_plan
from planning_core.planning.optimizer.problem import PlanningProblem
from planning_core.planning.plan import Plan
from planning_core.planning.results import STRUCTURE_GROUPS, PlanMetrics
from planning_core.planning.settings import PlanSettings
from planning_core.progress import CancelToken
from planning_core.thermal.probes import ProbeModel
from planning_core.thermal.result import SimulationResult

#: Grid and box margin of the coarse solver check (the box only needs to hold the
#: lethal zone; the full verification uses a wider one).
CHECK_SPACING_MM = 2.0
CHECK_MARGIN_MM = 30.0
#: The coarse grid's lethal zones differ from the 1-mm ones by a few tenths of a
#: percent of coverage; early coarse checks must beat the goal by this much.
CHECK_HEADROOM_PERCENT = 0.3


@dataclass(frozen=True)
class CheckResult:
    """Outcome of the coarse solver check of one plan.

    Attributes
    ----------
    coverage_percent : float
        Share of tumor + margin voxels at or below the lethal isotherm.
    frozen_guards : tuple of str
        Protected organs whose guard the 0 °C edge reaches at the surrogate's
        points (the subsample it is corrected at and searches with).
    ice_reach_mm : mapping of str to float
        For each protected organ whose guard freezes anywhere (every guard voxel
        tested), the smallest distance from the organ of a frozen guard voxel:
        the coarse grid's estimate of the ice edge's distance, which the full
        verification measures (:meth:`predicted_misses`).
    simulation : SimulationResult
        The coarse run.
    """

    coverage_percent: float
    frozen_guards: tuple[str, ...]
    ice_reach_mm: Mapping[str, float]
    simulation: SimulationResult

    def covers(self, goal_percent: float, *, headroom_percent: float = 0.0) -> bool:
        """The goal plus ``headroom_percent`` reached (worth a full verification when the
        organs are clear too)."""
        return self.coverage_percent >= min(goal_percent + headroom_percent, 100.0)

    def predicted_misses(
        self, problem: PlanningProblem, offsets_mm: Mapping[str, float]
    ) -> dict[str, float]:
        """Organs the full verification would find the ice too close to, with the distance.

        ``offsets_mm`` holds, for each organ a verification measured, how much
        farther the coarse grid put the ice than the 1-mm simulation
        (:func:`reach_offsets_mm`); organs without one are not predicted.
        """
        predicted = {}
        for guard in problem.protected():
            if guard.name in self.ice_reach_mm and guard.name in offsets_mm:
                distance = self.ice_reach_mm[guard.name] - offsets_mm[guard.name]
                if distance < guard.clearance_mm:
                    predicted[guard.name] = distance
        return predicted


def coarse_check(
    plan: Plan,
    problem: PlanningProblem,
    volume: Volume | None,
    label_map: LabelMap,
    model: ProbeModel,
    *,
    spacing_mm: float = CHECK_SPACING_MM,
    cancel: CancelToken | None = None,
) -> CheckResult:
    """Simulate ``plan`` on a coarse grid over the real tissues and measure it on the zone."""
    result = simulate_plan(
        plan, volume, label_map, spacing_mm=spacing_mm, probe_library={model.id: model},
        margin_mm=CHECK_MARGIN_MM, cancel=cancel,
    )  # fmt: skip
    lethal = problem.settings.zone_isotherm_c
    dose = result.temperature_at(problem.zone_points_lps_mm)
    warm = dose > lethal
    frozen = tuple(
        guard.name
        for guard in problem.protected()
        if np.any(result.temperature_at(guard.points_lps_mm) <= 0.0)
    )
    reach = {}
    for guard in problem.protected():
        iced = result.temperature_at(guard.check_points_lps_mm) <= 0.0
        if iced.any():
            reach[guard.name] = float(guard.check_distances_mm[iced].min())
    return CheckResult(100.0 * float(np.mean(~warm)), frozen, reach, result)


def reach_offsets_mm(check: CheckResult, metrics: PlanMetrics) -> dict[str, float]:
    """How much farther from each organ the coarse check put the ice than the verification.

    Positive where the 2-mm grid's ice stopped short of the 1-mm grid's, or
    where the organ's surface (the verification measures from it) lies beyond
    the voxel centres the guard distances start from.
    """
    return {
        oar.name: check.ice_reach_mm[oar.name] - oar.distance_to_ice_mm
        for oar in metrics.oars
        if oar.name in check.ice_reach_mm and oar.distance_to_ice_mm is not None
    }


#: Reach (mm) of a large vessel's heat sink named in infeasibility messages.
HEAT_SINK_REACH_MM = 6.0
#: The checks the layout search acts on (more probes, a longer freeze, other paths, a
#: wider organ guard); the others are reported with the plan it returns.
SEARCHED_CHECKS = (CheckKind.COVERAGE, CheckKind.ORGANS, CheckKind.PATHS)
#: The goal's margin checks, searched while the search aims at the whole zone.
MARGIN_CHECKS = (CheckKind.MARGIN, CheckKind.ICE_MARGIN, CheckKind.TUMOR_FREEZE)


def blocking_failures(
    acceptance: Acceptance, problem: PlanningProblem, *, margin_searched: bool
) -> tuple[AcceptanceCheck, ...]:
    """The failed checks of a fully simulated plan that a better layout may fix.

    An organ flagged as needing protection (:class:`.problem.OarGuard`) fails
    the organ check but no layout spares it; it is the protection's to fix, and
    the plan says so. The goal's margin (minimal ablative margin, 0 °C edge,
    tumor freeze) blocks while ``margin_searched``: the search still aims at the
    whole zone. Empty when the search has nothing left to improve.
    """
    protected = {guard.name for guard in problem.protected()}
    searched = SEARCHED_CHECKS + (MARGIN_CHECKS if margin_searched else ())
    return tuple(
        check
        for check in acceptance.failed
        if check.kind in searched
        and (check.kind is not CheckKind.ORGANS or protected.intersection(check.subjects))
    )


def coarse_problems(
    check: CheckResult, settings: PlanSettings, *, headroom_percent: float
) -> tuple[str, ...]:
    """Why a coarse solver check sends a layout back to the search, worded as the checks are."""
    problems = []
    goal = min(settings.coverage_goal_percent + headroom_percent, 100.0)
    if check.coverage_percent < goal:
        options = "; ".join(SETTING_OPTIONS[n].text() for n in ("margin_mm", "max_probes"))
        problems.append(
            f"tumor + {settings.zone_margin_mm:g} mm margin covered by "
            f"{settings.zone_isotherm_c:g} °C: {check.coverage_percent:.1f} % on the "
            f"{CHECK_SPACING_MM:g}-mm check (goal ≥ {goal:g} %; change "
            f"{SETTING_OPTIONS['coverage_goal_percent'].text()}; {options}; "
            f"{SETTING_OPTIONS['max_total_freeze_s'].text()})"
        )
    if check.frozen_guards:
        problems.append(
            f"organs at risk clear of the 0 °C edge: too close: {', '.join(check.frozen_guards)} "
            f"on the {CHECK_SPACING_MM:g}-mm check (change "
            f"{SETTING_OPTIONS['default_oar_clearance_mm'].text()})"
        )
    return tuple(problems)


def heat_sink_note(problem: PlanningProblem, simulation: SimulationResult) -> str:
    """A sentence naming the vessels beside the part of the zone left warm ("" if none).

    Flowing blood keeps tissue within a few millimetres of a large vessel from
    reaching lethal temperatures; when most of the shortfall lies there, no
    probe layout fixes it and the user should know why.
    """
    lethal = problem.settings.zone_isotherm_c
    warm = problem.zone_points_lps_mm[
        simulation.temperature_at(problem.zone_points_lps_mm) > lethal
    ]
    labels = problem.label_map
    vessels = [n for n in STRUCTURE_GROUPS["large_vessels"] if labels.has(n)]
    if len(warm) == 0 or not vessels:
        return ""
    crop_labels = labels.voxels[problem.crop_box]
    near = np.zeros(len(warm), dtype=bool)
    names = []
    for name in vessels:
        kji = np.argwhere(crop_labels == labels.info(name).value)
        if len(kji) == 0:
            continue
        distance, _ = cKDTree(problem.crop.index_to_lps(kji[:, ::-1].astype(float))).query(warm)
        hit = distance <= HEAT_SINK_REACH_MM
        if hit.any():
            names.append(name)
            near |= hit
    share = float(np.mean(near))
    if share < 0.5:
        return ""
    return (
        f" {100 * share:.0f} % of the margin left warmer than {lethal:g} °C lies within "
        f"{HEAT_SINK_REACH_MM:g} mm of {', '.join(names)}: the heat sink of flowing blood, "
        "which no probe layout overcomes; accept a smaller margin there (--margin-mm) or "
        "plan another treatment for that side."
    )
