"""Whether a plan passes: the one rule every summary, report and the optimizer apply.

:func:`accept_plan` reads each goal and limit from the plan's
:class:`~planning_core.planning.settings.PlanSettings` and judges the plan's
metrics against it, one :class:`AcceptanceCheck` per goal, in the order the
summaries list them:

=================================  ================================================
Check                              Passes when
=================================  ================================================
coverage of tumor + margin         the goal's isotherm reaches at least
                                   ``coverage_goal_percent`` of tumor + margin voxels
                                   (lethal margin: the lethal isotherm and
                                   ``margin_mm``; visible ice: 0 °C and
                                   ``ice_margin_mm``)
minimal ablative margin            lethal margin: the signed minimal margin is at
                                   least ``margin_mm``
0 °C edge beyond the tumor         visible ice: the signed distance from the tumor
                                   surface to the 0 °C surface is at least
                                   ``ice_margin_mm`` everywhere
tumor covered by -20 °C            visible ice: at least ``coverage_goal_percent``
                                   of the tumor voxels reach -20 °C
organs at risk                     every organ at risk keeps its ice-edge clearance
                                   (behind the hydrodissection fluid when the plan was
                                   simulated with it, which the check names); not
                                   assessed while the organ site is unknown or an
                                   organ it lists is not labelled
probe paths                        no path has a problem; not assessed when no path
                                   was checked against a structure that matters
probe count                        at most ``max_probes``
total freeze time                  at most ``max_total_freeze_s``
approach (when the caller gives    every probe enters away from the table, keeps its
the probes' approach checks)       handle inside the gantry bore and stays within
                                   the patient position's angle limit; not assessed
                                   while the table side is unknown or no approach
                                   is recorded
=================================  ================================================

A check that nothing supports is ``None`` ("not assessed"), never a pass. Each
check names the settings a user changes to meet it, as the command-line flag
and the app's field label (:data:`SETTING_OPTIONS`), so every failure message
can say what to do.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from planning_core.figures import format_coverage_percent, format_margin_mm
from planning_core.planning.approach import (
    CRANIOCAUDAL,
    DOWN_SIDE,
    GANTRY,
    REFUSAL_REASONS,
    ProbeApproachCheck,
)
from planning_core.planning.organ_sites import MAX_NAMED
from planning_core.planning.plan import Plan
from planning_core.planning.plan_approach import PlannedProtection
from planning_core.planning.results import PathReport, PlanMetrics
from planning_core.planning.settings import VISIBLE_ICE_TUMOR_C, PlanGoal, PlanSettings

#: How the path analysis words a path that leaves the image before the skin; on an
#: ultrasound volume the skin is rarely in the image, so such a path is not checked
#: there rather than unsafe.
LEAVES_IMAGE_PROBLEM = "leaves the image before reaching the skin"


@dataclass(frozen=True)
class SettingOption:
    """Where a user changes one setting.

    Attributes
    ----------
    setting : str
        The :class:`PlanSettings` field.
    flag : str or None
        The ``cryoplan plan`` flag (``None`` when the command line has none).
    field : str or None
        The field label in the app's optimizer panel (``None`` when the app has none).
    """

    setting: str
    flag: str | None
    field: str | None

    def text(self) -> str:
        """``--margin-mm / 'Safety margin'``, or the field or the flag alone."""
        names = (self.flag, None if self.field is None else f"'{self.field}'")
        return " / ".join(name for name in names if name is not None)


#: The user-facing options of the settings a check names, keyed by setting.
SETTING_OPTIONS: dict[str, SettingOption] = {
    option.setting: option
    for option in (
        SettingOption("goal", "--goal", "Goal"),
        SettingOption("coverage_goal_percent", "--coverage-goal-percent", "Coverage goal"),
        SettingOption("ice_margin_mm", "--ice-margin-mm", "Ice margin"),
        SettingOption("margin_mm", "--margin-mm", "Safety margin"),
        SettingOption("lethal_isotherm_c", "--isotherm", "Lethal isotherm"),
        SettingOption("max_probes", "--max-probes", "Max probes"),
        SettingOption("max_total_freeze_s", "--max-freeze-min", "Max total freeze"),
        SettingOption("default_oar_clearance_mm", None, "Organ clearance (default)"),
        SettingOption("default_path_clearance_mm", None, "Path clearance (default)"),
        SettingOption("max_craniocaudal_angle_deg", None, "Max craniocaudal angle"),
        SettingOption("organ_site", "--site", "Organ site"),
        SettingOption("patient_position", "--patient-position", "Patient position"),
    )
}
#: The gantry bore: a setting of the approach rules (not of the plan), on the command line.
BORE_OPTION = SettingOption("bore_diameter_mm", "--bore-mm", None)


class CheckKind(enum.Enum):
    """The goals and limits a plan is judged on, in summary order."""

    COVERAGE = "coverage"
    MARGIN = "margin"
    ICE_MARGIN = "ice_margin"
    TUMOR_FREEZE = "tumor_freeze"
    ORGANS = "organs"
    PATHS = "paths"
    PROBE_COUNT = "probe_count"
    FREEZE_TIME = "freeze_time"
    APPROACH = "approach"


#: Settings to change for each check: the goal's own setting first, then the remedies.
_CHECK_OPTIONS: dict[CheckKind, tuple[str, ...]] = {
    CheckKind.COVERAGE: ("coverage_goal_percent", "margin_mm", "max_probes", "max_total_freeze_s"),
    CheckKind.MARGIN: ("margin_mm", "max_probes", "max_total_freeze_s"),
    CheckKind.ICE_MARGIN: ("ice_margin_mm", "max_probes", "max_total_freeze_s"),
    CheckKind.TUMOR_FREEZE: ("max_probes", "max_total_freeze_s"),
    CheckKind.ORGANS: ("default_oar_clearance_mm", "organ_site"),
    CheckKind.PATHS: ("default_path_clearance_mm", "max_craniocaudal_angle_deg"),
    CheckKind.PROBE_COUNT: ("max_probes",),
    CheckKind.FREEZE_TIME: ("max_total_freeze_s",),
    CheckKind.APPROACH: ("patient_position",),
}

#: The setting that lifts each approach refusal (besides moving the probe): the table
#: side and the angle limit follow the patient position, the gantry check the bore too.
_APPROACH_REMEDIES: dict[int, tuple[str, ...]] = {
    DOWN_SIDE: ("patient_position",),
    GANTRY: ("bore_diameter_mm", "patient_position"),
    CRANIOCAUDAL: ("patient_position",),
}


@dataclass(frozen=True)
class AcceptanceCheck:
    """One goal or limit and how the plan fares against it.

    Attributes
    ----------
    kind : CheckKind
    name : str
        What is checked, as summaries title it
        (``"Tumor + 5 mm margin covered by -40 °C"``).
    value : str
        The plan's figure (``"99.3 %"``, ``"4.2 mm"``, ``"too close: bowel"``).
    goal : str
        The requirement (``"≥ 99 %"``).
    passed : bool or None
        ``None`` when nothing supports a verdict ("not assessed").
    options : tuple of SettingOption
        The settings to change: the goal's own first, then remedies.
    subjects : tuple of str
        What failed: organs too close, or probes (``"probe 2"``) with a problem.
    """

    kind: CheckKind
    name: str
    value: str
    goal: str
    passed: bool | None
    options: tuple[SettingOption, ...]
    subjects: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """``"PASS"``, ``"FAIL"`` or ``"NOT ASSESSED"``."""
        if self.passed is None:
            return "NOT ASSESSED"
        return "PASS" if self.passed else "FAIL"

    @property
    def phrase(self) -> str:
        """The name within a sentence: its first letter in lower case (units keep theirs)."""
        return self.name[:1].lower() + self.name[1:]

    def describe(self) -> str:
        """The check with its numbers and what to change, for a failure message."""
        change = "; ".join(option.text() for option in self.options)
        return f"{self.phrase}: {self.value} (goal {self.goal}; change {change})"


@dataclass(frozen=True)
class Acceptance:
    """The verdict on a plan: every check, in summary order."""

    checks: tuple[AcceptanceCheck, ...]

    @property
    def passed(self) -> bool:
        """True when every check was made and passed."""
        return all(check.passed is True for check in self.checks)

    @property
    def failed(self) -> tuple[AcceptanceCheck, ...]:
        """The checks that were made and failed."""
        return tuple(check for check in self.checks if check.passed is False)

    @property
    def not_assessed(self) -> tuple[AcceptanceCheck, ...]:
        """The checks nothing supported."""
        return tuple(check for check in self.checks if check.passed is None)

    def find(self, kind: CheckKind) -> AcceptanceCheck | None:
        """The check of ``kind``; ``None`` when the plan's goal has no such check."""
        return next((check for check in self.checks if check.kind is kind), None)

    def check(self, kind: CheckKind) -> AcceptanceCheck:
        """The check of ``kind``, which every goal has (organs, paths, limits, coverage)."""
        found = self.find(kind)
        if found is None:
            raise KeyError(f"the plan's goal has no {kind.value} check")
        return found

    def verdict(self) -> str:
        """One sentence for a summary box and the command line."""
        if self.failed:
            return "One or more plan checks FAIL: review"
        if self.not_assessed:
            return "No check fails, but not everything was assessed: review " + ", ".join(
                check.phrase for check in self.not_assessed
            )
        return "All plan checks pass"

    def describe_failure(self) -> str:
        """One line naming each failed check with its numbers and options ("" when none)."""
        return "; ".join(check.describe() for check in self.failed)


def paths_passed(paths: Sequence[PathReport], *, allow_leaving_image: bool = False) -> bool | None:
    """The verdict on a plan's probe paths.

    ``False`` when any path has a problem; ``True`` when none has and at least one
    was checked against a structure that matters (labelled, or found on the CT);
    ``None`` ("not assessed") otherwise: a path checked against nothing is not safe.
    With ``allow_leaving_image`` (ultrasound) a path that leaves the image before
    the skin was not checked there: not a problem, but the paths are then not
    called safe either.
    """
    problems = [_path_problems(path, allow_leaving_image) for path in paths]
    if any(problems):
        return False
    if any(len(found) < len(path.problems) for found, path in zip(problems, paths, strict=True)):
        return None
    return True if any(path.assessed for path in paths) else None


def _path_problems(path: PathReport, allow_leaving_image: bool) -> tuple[str, ...]:
    return tuple(
        text for text in path.problems if not (allow_leaving_image and LEAVES_IMAGE_PROBLEM in text)
    )


def organs_at_risk_check(
    metrics: PlanMetrics, *, protection: Sequence[PlannedProtection] = ()
) -> tuple[str, bool | None]:
    """The organ-at-risk verdict: its text and pass (True), fail or ``None``.

    An organ too close to the ice fails; otherwise the organs at risk are clear
    only when the organ site is known, no organ it lists is missing from the
    label map (``metrics.not_assessed``) and at least one organ at risk was
    measured. Anything less is "not assessed", never a pass.

    ``protection`` is the plan's protection the metrics were simulated with
    (:func:`simulated_protection`): the organs it shields were measured behind
    the fluid, which the text says, so that a pass is never read as one
    without it.
    """
    failing = [o.name for o in metrics.oars if not o.clear]
    reasons = []
    if metrics.organ_site is None:
        reasons.append("organ site unknown")
    missing = metrics.not_assessed
    if missing:
        # A long list (an unknown site lists every site's organs) stays in the tables.
        names = ", ".join(missing) if len(missing) <= MAX_NAMED else f"{len(missing)} organs"
        reasons.append(f"{names} not labelled")
    if not any(not o.monitored for o in metrics.oars):
        reasons.append("no organ at risk is labelled")
    unassessed = "not assessed: " + "; ".join(reasons) if reasons else ""
    measured = {o.name for o in metrics.oars}
    shields = [item.describe() for item in protection if item.structure in measured]
    credit = "; with the simulated " + ", ".join(shields) if shields else ""
    if failing:
        text = "too close: " + ", ".join(failing) + credit
        return (f"{text}; {unassessed}" if unassessed else text), False
    if unassessed:
        return unassessed + credit, None
    return "all clear" + credit, True


def simulated_protection(
    plan: Plan, metrics: PlanMetrics | None = None
) -> tuple[PlannedProtection, ...]:
    """The plan's protection when ``metrics`` (its own by default) were simulated with it.

    Fresh metrics were computed for the plan's inputs, protection included
    (:meth:`~planning_core.planning.plan.Plan.inputs_sha256`); other metrics
    credit none.
    """
    metrics = plan.metrics if metrics is None else metrics
    if metrics is None or metrics.inputs_sha256 != plan.inputs_sha256():
        return ()
    return plan.protection


def _options(kind: CheckKind) -> tuple[SettingOption, ...]:
    return tuple(SETTING_OPTIONS[name] for name in _CHECK_OPTIONS[kind])


def goal_coverage_percent(metrics: PlanMetrics, settings: PlanSettings) -> float | None:
    """Share of the goal's zone its isotherm reached (``None``: not measured).

    Lethal margin: tumor + ``margin_mm`` at the lethal isotherm; visible ice:
    tumor + ``ice_margin_mm`` at 0 °C.
    """
    if settings.goal is PlanGoal.VISIBLE_ICE:
        ice = metrics.visible_ice
        return None if ice is None else ice.coverage_percent
    try:
        return metrics.coverage_at(settings.lethal_isotherm_c).tumor_and_margin_percent
    except KeyError:
        return None


def goal_margin_mm(metrics: PlanMetrics, settings: PlanSettings) -> float | None:
    """Signed minimal margin of the goal's isotherm around the tumor (``None``: not measured).

    Lethal margin: the minimal ablative margin at the lethal isotherm; visible
    ice: how far the 0 °C edge reaches beyond the tumor at its nearest.
    """
    if settings.goal is PlanGoal.VISIBLE_ICE:
        ice = metrics.visible_ice
        return None if ice is None else ice.margin.minimum_mm
    return metrics.margin.minimum_mm


def _coverage_check(metrics: PlanMetrics, settings: PlanSettings) -> AcceptanceCheck:
    covered = goal_coverage_percent(metrics, settings)
    isotherm = settings.zone_isotherm_c
    options = _options(CheckKind.COVERAGE)
    if settings.goal is PlanGoal.VISIBLE_ICE:
        # The ice margin, not the lethal margin, makes this zone.
        options = (options[0], SETTING_OPTIONS["ice_margin_mm"], *options[2:])
    return AcceptanceCheck(
        CheckKind.COVERAGE,
        f"Tumor + {settings.zone_margin_mm:g} mm margin covered by {isotherm:g} °C",
        f"{isotherm:g} °C not measured" if covered is None else format_coverage_percent(covered),
        f"≥ {settings.coverage_goal_percent:g} %",
        None if covered is None else covered >= settings.coverage_goal_percent,
        options,
    )


def _ice_margin_check(metrics: PlanMetrics, settings: PlanSettings) -> AcceptanceCheck:
    ice = metrics.visible_ice
    minimum = None if ice is None else ice.margin.minimum_mm
    if ice is None:
        value = "not measured: evaluate the plan again"
    else:
        value = "no ice" if minimum is None else format_margin_mm(minimum)
    return AcceptanceCheck(
        CheckKind.ICE_MARGIN,
        "0 °C ice edge beyond the tumor",
        value,
        f"≥ {settings.ice_margin_mm:g} mm everywhere",
        None if ice is None else minimum is not None and minimum >= settings.ice_margin_mm - 1e-9,
        _options(CheckKind.ICE_MARGIN),
    )


def _tumor_freeze_check(metrics: PlanMetrics, settings: PlanSettings) -> AcceptanceCheck:
    try:
        covered: float | None = metrics.coverage_at(VISIBLE_ICE_TUMOR_C).tumor_percent
    except KeyError:
        covered = None
    return AcceptanceCheck(
        CheckKind.TUMOR_FREEZE,
        f"Tumor covered by {VISIBLE_ICE_TUMOR_C:g} °C",
        f"{VISIBLE_ICE_TUMOR_C:g} °C not reported"
        if covered is None
        else format_coverage_percent(covered),
        f"≥ {settings.coverage_goal_percent:g} %",
        None if covered is None else covered >= settings.coverage_goal_percent,
        _options(CheckKind.TUMOR_FREEZE),
    )


def _margin_check(metrics: PlanMetrics, settings: PlanSettings) -> AcceptanceCheck:
    minimum = metrics.margin.minimum_mm
    return AcceptanceCheck(
        CheckKind.MARGIN,
        "Minimal ablative margin",
        "no lethal zone" if minimum is None else format_margin_mm(minimum),
        f"≥ {settings.margin_mm:g} mm",
        minimum is not None and minimum >= settings.margin_mm - 1e-9,
        _options(CheckKind.MARGIN),
    )


def _organs_check(metrics: PlanMetrics, protection: Sequence[PlannedProtection]) -> AcceptanceCheck:
    value, passed = organs_at_risk_check(metrics, protection=protection)
    return AcceptanceCheck(
        CheckKind.ORGANS,
        "Organs at risk clear of the 0 °C edge",
        value,
        "each OAR ≥ its clearance",
        passed,
        _options(CheckKind.ORGANS),
        subjects=tuple(o.name for o in metrics.oars if not o.clear),
    )


def _paths_check(metrics: PlanMetrics, allow_leaving_image: bool) -> AcceptanceCheck:
    passed = paths_passed(metrics.paths, allow_leaving_image=allow_leaving_image)
    failing = {
        f"probe {number}": found
        for number, path in enumerate(metrics.paths, start=1)
        if (found := _path_problems(path, allow_leaving_image))
    }
    if passed is False:
        count = sum(len(found) for found in failing.values())
        value = f"{count} problem(s): {', '.join(failing)}"
    elif passed:
        value = "acceptable"
    else:
        value = "not assessed: no structure labelled or found on the CT along the paths"
    return AcceptanceCheck(
        CheckKind.PATHS,
        "Probe paths",
        value,
        "no path problem",
        passed,
        _options(CheckKind.PATHS),
        subjects=tuple(failing),
    )


def _approach_check(approach: Sequence[ProbeApproachCheck]) -> AcceptanceCheck:
    """The approach rules on each probe: any refusal fails, an unknown table side is unassessed."""
    failing = [check for check in approach if check.passed is False]
    options = _options(CheckKind.APPROACH)
    subjects = tuple(check.label or f"probe {check.probe_index + 1}" for check in failing)
    passed: bool | None
    if failing:
        value = f"{len(failing)} probe(s) refused: " + "; ".join(c.describe() for c in failing)
        refused = {
            flag for check in failing for flag, text in REFUSAL_REASONS.items()
            if text in check.reasons
        }  # fmt: skip
        remedies = (name for flag in sorted(refused) for name in _APPROACH_REMEDIES[flag])
        options = tuple(
            BORE_OPTION if name == BORE_OPTION.setting else SETTING_OPTIONS[name]
            for name in dict.fromkeys(remedies)
        )
        passed = False
    elif not approach:
        value, passed = "not assessed: no patient position or table side recorded", None
    elif any(check.passed is None for check in approach):
        value, passed = "not assessed: table side unknown", None
        options = (SETTING_OPTIONS["patient_position"],)
    else:
        value, passed = "acceptable", True
    return AcceptanceCheck(
        CheckKind.APPROACH,
        "Probe approach (table side, gantry bore, angle limit)",
        value,
        "entries away from the table, handles in the bore, tilts within the limit",
        passed,
        options,
        subjects=subjects,
    )


def accept_plan(
    metrics: PlanMetrics,
    settings: PlanSettings,
    *,
    approach: Sequence[ProbeApproachCheck] | None = None,
    protection: Sequence[PlannedProtection] = (),
    allow_leaving_image: bool = False,
) -> Acceptance:
    """Judge a plan's metrics against the goals and limits of its settings.

    Parameters
    ----------
    metrics : PlanMetrics
        Fresh metrics of the plan.
    settings : PlanSettings
        The plan's settings: every goal and limit is read from them.
    approach : sequence of ProbeApproachCheck, optional
        The plan's probes under its approach rules
        (:func:`~planning_core.planning.approach.probe_approach_checks`): judged
        as the last check, "not assessed" when empty (no approach recorded).
        Left out (``None``) by callers judging metrics without their plan's
        probes (the optimizer refuses such entries while searching).
    protection : sequence of PlannedProtection
        The protection ``metrics`` were simulated with
        (:func:`simulated_protection`); the organs check names it.
    allow_leaving_image : bool
        The image is an ultrasound volume: a path leaving it before the skin
        was not checked there (see :func:`paths_passed`).

    Returns
    -------
    Acceptance
    """
    if settings.goal is PlanGoal.VISIBLE_ICE:
        goal = (_ice_margin_check(metrics, settings), _tumor_freeze_check(metrics, settings))
    else:
        goal = (_margin_check(metrics, settings),)
    return Acceptance(
        (
            _coverage_check(metrics, settings),
            *goal,
            _organs_check(metrics, protection),
            _paths_check(metrics, allow_leaving_image),
            AcceptanceCheck(
                CheckKind.PROBE_COUNT,
                "Probe count",
                str(metrics.probe_count),
                f"≤ {settings.max_probes}",
                metrics.probe_count <= settings.max_probes,
                _options(CheckKind.PROBE_COUNT),
            ),
            AcceptanceCheck(
                CheckKind.FREEZE_TIME,
                "Total freeze time",
                f"{metrics.total_freeze_s / 60.0:g} min",
                f"≤ {settings.max_total_freeze_s / 60.0:g} min",
                metrics.total_freeze_s <= settings.max_total_freeze_s,
                _options(CheckKind.FREEZE_TIME),
            ),
            *(() if approach is None else (_approach_check(approach),)),
        )
    )
