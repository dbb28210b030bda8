"""Score a trainee's plan against the case's reference plan, with concrete feedback.

The score runs from 0 to 100: the components below add up to at most 100 and
the penalties are subtracted (the total is clipped at 0).

============================  ======  ==============================================
Component                     Points  Full points when
============================  ======  ==============================================
tumor + margin coverage        35     lethal isotherm covers as much of tumor + margin
                                      as the reference; 0 points 25 percentage points
                                      below it (linear in between)
tumor coverage                 25     same for the tumor alone
minimal ablative margin        15     margin reaches the case's goal (the settings'
                                      margin) or, when the reference itself falls
                                      short of it, the reference's margin; 0 points
                                      10 mm below that
organ-at-risk clearance        10     every organ keeps its ice-edge clearance (or is
                                      no more than 1 mm closer than in the
                                      reference); share kept
probe count                     8     no more probes than the reference; half off per
                                      extra probe
total freeze time               7     no longer than the reference; 0 at twice as long
============================  ======  ==============================================

Penalties: each organ at risk frozen beyond the reference (more tissue below
0 °C than the reference by over 0.05 mL and over 10 % of the reference's)
costs 20 points plus 10 per excess mL, at most 40 per organ; each probe whose
path fails a check (crosses or grazes a structure, enters from the table side,
is too long or too steep) costs 20 points.

The organ-at-risk clearance, probe count and freeze time points are
multiplied by the tumor coverage component's share (0 to 1): sparing organs
and probes by not treating the tumor earns nothing.

Coverage and margin compare with the reference because the reference shows what
the case allows (a tumor abutting a vessel heat sink may never reach 100 %);
safety penalties are absolute except where the reference had to accept the
same exposure. The margin goal a trainee reads is always the case's; what the
reference reached is shown beside it, never in its place.

Figures in the details and feedback are written with :mod:`planning_core.figures`,
as on every other screen.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from planning_core.errors import InvalidParameterError
from planning_core.figures import (
    format_coverage_percent,
    format_length_mm,
    format_margin_mm,
    format_volume_ml,
)
from planning_core.planning.acceptance import Acceptance
from planning_core.planning.results import OarMetrics, PlanMetrics
from planning_core.training.undertreatment import UndertreatedRegion

#: Under-treated regions below this share of the tumor are too small to name in feedback.
MIN_REGION_SHARE = 0.01
#: At most this many under-treated regions are named, largest first.
MAX_REGION_SENTENCES = 3


@dataclass(frozen=True)
class ScoreWeights:
    """Points of each score component and penalty; see the module docstring."""

    margin_coverage: float = 35.0
    tumor_coverage: float = 25.0
    ablative_margin: float = 15.0
    oar_clearance: float = 10.0
    probe_count: float = 8.0
    freeze_time: float = 7.0
    margin_range_mm: float = 10.0
    coverage_range_percent: float = 25.0
    frozen_oar_base: float = 20.0
    frozen_oar_per_ml: float = 10.0
    frozen_oar_cap: float = 40.0
    frozen_tolerance_ml: float = 0.05
    frozen_tolerance_share: float = 0.1
    clearance_tolerance_mm: float = 1.0
    unsafe_path: float = 20.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not value >= 0.0:
                raise InvalidParameterError(f"ScoreWeights.{name} must be >= 0, got {value}.")
        for name in ("margin_range_mm", "coverage_range_percent"):
            if getattr(self, name) <= 0:
                raise InvalidParameterError(f"ScoreWeights.{name} must be positive.")

    @property
    def component_total(self) -> float:
        return (
            self.margin_coverage
            + self.tumor_coverage
            + self.ablative_margin
            + self.oar_clearance
            + self.probe_count
            + self.freeze_time
        )


@dataclass(frozen=True)
class ScoreItem:
    """One line of the breakdown: a component (``max_points`` > 0) or a penalty (negative)."""

    name: str
    points: float
    max_points: float
    detail: str


@dataclass(frozen=True)
class Score:
    """The result of scoring one attempt.

    Attributes
    ----------
    total : float
        0 to 100.
    components : tuple of ScoreItem
        Earned points per component.
    penalties : tuple of ScoreItem
        Points taken off (``points`` negative).
    feedback : tuple of str
        Concrete sentences, most important first.
    """

    total: float
    components: tuple[ScoreItem, ...]
    penalties: tuple[ScoreItem, ...] = ()
    feedback: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "components": [asdict(item) for item in self.components],
            "penalties": [asdict(item) for item in self.penalties],
            "feedback": list(self.feedback),
        }


def _shortfall_share(value: float, reference: float, range_: float) -> float:
    """1 at or above ``reference``, falling linearly to 0 at ``range_`` below it."""
    return _clip01(1.0 - (reference - value) / range_)


def _clip01(value: float) -> float:
    return min(max(value, 0.0), 1.0)


def _name(label: str) -> str:
    return label.replace("_", " ")


def _oar_by_name(metrics: PlanMetrics) -> dict[str, OarMetrics]:
    return {oar.name: oar for oar in metrics.oars}


def _keeps_clearance(oar: OarMetrics, reference: OarMetrics | None, tolerance_mm: float) -> bool:
    if oar.clear:
        return True
    if reference is None or reference.distance_to_ice_mm is None:
        return False
    # The reference shows how close the case forces the ice; no closer counts as kept.
    allowed_mm = min(reference.distance_to_ice_mm, oar.clearance_mm) - tolerance_mm
    return oar.distance_to_ice_mm is not None and oar.distance_to_ice_mm >= allowed_mm


def score_attempt(
    attempt: PlanMetrics,
    reference: PlanMetrics,
    *,
    probe_labels: Sequence[str] = (),
    undertreated: Sequence[UndertreatedRegion] = (),
    weights: ScoreWeights | None = None,
    acceptance: Acceptance | None = None,
) -> Score:
    """Score an attempt's metrics against the reference plan's.

    Parameters
    ----------
    attempt, reference : PlanMetrics
        Metrics of the trainee's plan and of the reference plan, computed with
        the same settings (lethal isotherm, margin) on the same simulation grid.
    probe_labels : sequence of str
        Names of the attempt's probes in plan order (``"P1"``...); numbers are
        used where missing.
    undertreated : sequence of UndertreatedRegion
        The attempt's under-treated tumor regions
        (:func:`~planning_core.training.undertreatment.undertreated_regions`), for feedback.
    weights : ScoreWeights, optional
        Points per component and penalty; the documented defaults when omitted.
    acceptance : Acceptance, optional
        The attempt judged on the case's goals
        (:func:`~planning_core.planning.acceptance.accept_plan`): the feedback
        never says a goal is reached that a check fails, even where the
        reference falls short of it as well.

    Returns
    -------
    Score
        Total, breakdown and feedback sentences.
    """
    weights = ScoreWeights() if weights is None else weights
    for name, unit in (("lethal_isotherm_c", "°C"), ("margin_mm", "mm")):
        mine, theirs = getattr(attempt, name), getattr(reference, name)
        if mine != theirs:
            raise InvalidParameterError(
                f"the attempt was evaluated with {name} = {mine:g} {unit} and the reference "
                f"with {theirs:g} {unit}; evaluate both with the reference's settings."
            )
    coverage, coverage_feedback = _coverage(attempt, reference, undertreated, weights)
    margin, margin_feedback = _margin(attempt, reference, weights)
    oar, oar_penalties, frozen_feedback, clearance_feedback = _organs(attempt, reference, weights)
    path_penalties, path_feedback = _paths(attempt, probe_labels, weights)
    effort, effort_feedback = _effort(attempt, reference, weights)
    treated = coverage[1].points / weights.tumor_coverage if weights.tumor_coverage else 1.0
    scaled = "" if treated == 1.0 else f"; times {treated:.2f}, the tumor coverage share"
    gated = tuple(
        dataclasses.replace(item, points=item.points * treated, detail=item.detail + scaled)
        for item in (oar, *effort)
    )
    components = (*coverage, margin, *gated)
    penalties = (*oar_penalties, *path_penalties)
    earned = sum(item.points for item in components) + sum(item.points for item in penalties)
    total = min(max(earned, 0.0), weights.component_total)
    feedback = (
        frozen_feedback
        + path_feedback
        + coverage_feedback
        + margin_feedback
        + clearance_feedback
        + effort_feedback
    )
    failed = () if acceptance is None else acceptance.failed
    if failed:
        feedback.append(
            "On the case's goals the plan fails: "
            + "; ".join(f"{c.phrase} {c.value} (goal {c.goal})" for c in failed)
            + "."
        )
    if not feedback:
        feedback.append(
            "The plan matches the reference: lethal coverage and margin reached, organs at "
            "risk and probe paths safe."
        )
    return Score(
        total=100.0 * total / weights.component_total if weights.component_total else 0.0,
        components=components,
        penalties=penalties,
        feedback=tuple(feedback),
    )


def _coverage(
    attempt: PlanMetrics,
    reference: PlanMetrics,
    undertreated: Sequence[UndertreatedRegion],
    weights: ScoreWeights,
) -> tuple[tuple[ScoreItem, ScoreItem], list[str]]:
    lethal, margin_mm = attempt.lethal_isotherm_c, attempt.margin_mm
    mine, theirs = attempt.coverage_at(lethal), reference.coverage_at(lethal)
    items = (
        ScoreItem(
            "tumor + margin coverage",
            weights.margin_coverage
            * _shortfall_share(
                mine.tumor_and_margin_percent,
                theirs.tumor_and_margin_percent,
                weights.coverage_range_percent,
            ),
            weights.margin_coverage,
            f"{format_coverage_percent(mine.tumor_and_margin_percent)} of tumor + "
            f"{margin_mm:g} mm margin at or below {lethal:g} °C (reference "
            f"{format_coverage_percent(theirs.tumor_and_margin_percent)})",
        ),
        ScoreItem(
            "tumor coverage",
            weights.tumor_coverage
            * _shortfall_share(
                mine.tumor_percent, theirs.tumor_percent, weights.coverage_range_percent
            ),
            weights.tumor_coverage,
            f"{format_coverage_percent(mine.tumor_percent)} of the tumor at or below "
            f"{lethal:g} °C (reference {format_coverage_percent(theirs.tumor_percent)})",
        ),
    )
    feedback = []
    if mine.tumor_and_margin_percent + 0.5 < theirs.tumor_and_margin_percent:
        feedback.append(
            f"The {lethal:g} °C isotherm covers {format_coverage_percent(mine.tumor_percent)} "
            f"of the tumor and {format_coverage_percent(mine.tumor_and_margin_percent)} of "
            f"tumor + {margin_mm:g} mm margin (reference: "
            f"{format_coverage_percent(theirs.tumor_percent)} and "
            f"{format_coverage_percent(theirs.tumor_and_margin_percent)})."
        )
    worth_naming = [r for r in undertreated if r.tumor_fraction >= MIN_REGION_SHARE]
    feedback += [_region_sentence(r, lethal) for r in worth_naming[:MAX_REGION_SENTENCES]]
    return items, feedback


def _margin(
    attempt: PlanMetrics, reference: PlanMetrics, weights: ScoreWeights
) -> tuple[ScoreItem, list[str]]:
    goal_mm = attempt.margin_mm  # the case's goal: fixed, whatever the reference reached
    reached_mm = reference.margin.minimum_mm
    # Full points where the reference itself stops short of the goal: the case allows no more.
    full_mm = goal_mm if reached_mm is None else min(goal_mm, reached_mm)
    beside = (
        ""
        if reached_mm is None or reached_mm >= goal_mm
        else f"; the reference reaches {format_margin_mm(reached_mm)}, full points from there"
    )
    achieved = attempt.margin.minimum_mm
    if achieved is None:
        detail = f"no tissue reaches {attempt.lethal_isotherm_c:g} °C"
        return ScoreItem("minimal ablative margin", 0.0, weights.ablative_margin, detail), []
    share = _clip01((achieved - full_mm) / weights.margin_range_mm + 1.0)
    item = ScoreItem(
        "minimal ablative margin",
        weights.ablative_margin * share,
        weights.ablative_margin,
        f"minimal ablative margin {format_margin_mm(achieved)} "
        f"(goal {format_margin_mm(goal_mm)}{beside})",
    )
    feedback = []
    if achieved < full_mm - 0.5:
        reference_text = (
            "" if reached_mm is None else f"; the reference reaches {format_margin_mm(reached_mm)}"
        )
        feedback.append(
            f"The minimal ablative margin is {format_margin_mm(achieved)}"
            f"{_at(attempt.margin.minimum_location_lps_mm)} (goal {format_margin_mm(goal_mm)}"
            f"{reference_text})."
        )
    return item, feedback


def _organs(
    attempt: PlanMetrics, reference: PlanMetrics, weights: ScoreWeights
) -> tuple[ScoreItem, list[ScoreItem], list[str], list[str]]:
    reference_oars = _oar_by_name(reference)
    penalties: list[ScoreItem] = []
    frozen: list[str] = []
    clearance: list[str] = []
    kept = 0
    # Monitored structures (heat-sink vessels, renal sinus, ...) may freeze by design.
    protected = [oar for oar in attempt.oars if not oar.monitored]
    for oar in protected:
        before = reference_oars.get(oar.name)
        allowed_ml = 0.0 if before is None else before.frozen_volume_ml
        excess_ml = oar.frozen_volume_ml - allowed_ml
        tolerance_ml = max(weights.frozen_tolerance_ml, weights.frozen_tolerance_share * allowed_ml)
        if excess_ml > tolerance_ml:
            points = min(
                weights.frozen_oar_cap,
                weights.frozen_oar_base + weights.frozen_oar_per_ml * excess_ml,
            )
            penalties.append(
                ScoreItem(
                    f"{oar.name} frozen",
                    -points,
                    0.0,
                    f"{format_volume_ml(oar.frozen_volume_ml)} of {_name(oar.name)} below 0 °C "
                    f"(reference {format_volume_ml(allowed_ml)})",
                )
            )
            frozen.append(f"{_name(oar.name)} {format_volume_ml(oar.frozen_volume_ml)}")
        elif _keeps_clearance(oar, before, weights.clearance_tolerance_mm):
            kept += 1
        elif oar.distance_to_ice_mm is not None and oar.distance_to_ice_mm < 0.0:
            clearance.append(
                f"Ice reaches {format_length_mm(-oar.distance_to_ice_mm)} into the "
                f"{_name(oar.name)} "
                f"(clearance {oar.clearance_mm:g} mm)."
            )
        elif oar.distance_to_ice_mm is not None:
            clearance.append(
                f"The ice edge comes within {format_length_mm(oar.distance_to_ice_mm)} of the "
                f"{_name(oar.name)} (clearance {oar.clearance_mm:g} mm)."
            )
    feedback = []
    if frozen:
        organs = "organ at risk" if len(frozen) == 1 else "organs at risk"
        feedback.append(f"{len(frozen)} {organs} frozen: {', '.join(frozen)} below 0 °C.")
    checked = len(protected)
    item = ScoreItem(
        "organ-at-risk clearance",
        weights.oar_clearance * (kept / checked if checked else 1.0),
        weights.oar_clearance,
        f"{kept} of {checked} organs at risk keep their ice-edge clearance",
    )
    return item, penalties, feedback, clearance


def _paths(
    attempt: PlanMetrics, probe_labels: Sequence[str], weights: ScoreWeights
) -> tuple[list[ScoreItem], list[str]]:
    penalties: list[ScoreItem] = []
    feedback: list[str] = []
    for index, path in enumerate(attempt.paths):
        label = probe_labels[index] if index < len(probe_labels) else ""
        label = label or str(index + 1)
        feedback += [f"Probe {label}: {problem}." for problem in path.problems]
        if path.problems:
            penalties.append(
                ScoreItem(
                    f"probe {label} path", -weights.unsafe_path, 0.0, "; ".join(path.problems)
                )
            )
    return penalties, feedback


def _effort(
    attempt: PlanMetrics, reference: PlanMetrics, weights: ScoreWeights
) -> tuple[tuple[ScoreItem, ScoreItem], list[str]]:
    extra_probes = attempt.probe_count - reference.probe_count
    excess_s = attempt.total_freeze_s - reference.total_freeze_s
    excess_share = excess_s / reference.total_freeze_s if reference.total_freeze_s > 0 else 0.0
    items = (
        ScoreItem(
            "probe count",
            weights.probe_count * _clip01(1.0 - 0.5 * max(extra_probes, 0)),
            weights.probe_count,
            f"{_count(attempt.probe_count, 'probe')} (reference {reference.probe_count})",
        ),
        ScoreItem(
            "total freeze time",
            weights.freeze_time * _clip01(1.0 - max(excess_share, 0.0)),
            weights.freeze_time,
            f"{attempt.total_freeze_s / 60:.1f} min of freezing "
            f"(reference {reference.total_freeze_s / 60:.1f} min)",
        ),
    )
    feedback = []
    if extra_probes > 0:
        feedback.append(
            f"You used {_count(attempt.probe_count, 'probe')}; the reference needs "
            f"{reference.probe_count}."
        )
    if excess_s > 0:
        feedback.append(
            f"Total freeze time is {attempt.total_freeze_s / 60:.0f} min; the reference "
            f"needs {reference.total_freeze_s / 60:.0f} min."
        )
    return items, feedback


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _at(point: tuple[float, float, float] | None) -> str:
    if point is None:
        return ""
    return f" at LPS ({point[0]:.0f}, {point[1]:.0f}, {point[2]:.0f}) mm"


def _region_sentence(region: UndertreatedRegion, lethal_isotherm_c: float) -> str:
    share = (
        f"{format_volume_ml(region.volume_ml)}, {100.0 * region.tumor_fraction:.0f} % of the tumor"
    )
    if region.depth_mm is None:
        return f"No part of the tumor reaches {lethal_isotherm_c:g} °C ({share})."
    where = "the outer" if region.side == "all around" else f"the {region.side}"
    suffix = " all around" if region.side == "all around" else ""
    return (
        f"{where.capitalize()} {region.depth_mm:.0f} mm of the tumor{suffix} stay above "
        f"{lethal_isotherm_c:g} °C ({share})."
    )
