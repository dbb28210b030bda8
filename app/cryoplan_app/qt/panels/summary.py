"""A plan's key numbers as (what, value) text rows, as the optimizer summary and comparison show.

Pure text, no Qt: the same rows fill the optimizer's result summary and its
side-by-side comparison of the current and the proposed plan. Besides the
numbers they state the plan's goal, the patient position and approach, the
suggested insertion order (computed by the application's logic and passed in)
and the organ protection the plan simulates. The verdicts are the plan checks
(:class:`~planning_core.planning.acceptance.Acceptance`) the logic judged and
passes in; nothing here judges.
"""

from __future__ import annotations

from collections import Counter

from planning_core.figures import (
    format_coverage_percent,
    format_length_mm,
    format_margin_mm,
    format_volume_ml,
)
from planning_core.planning.acceptance import Acceptance, CheckKind
from planning_core.planning.plan import Plan
from planning_core.planning.results import PlanMetrics
from planning_core.planning.settings import PlanGoal, PlanSettings
from planning_core.thermal.protocol import PROTOCOL_PRESETS

NOT_EVALUATED = "not evaluated"
_MET = {True: "met", False: "NOT MET", None: "not assessed"}


def probes_text(plan: Plan) -> str:
    if not plan.probes:
        return "none"
    counts = Counter(probe.model_id for probe in plan.probes)
    return ", ".join(f"{count} × {model}" for model, count in counts.items())


def protocol_text(plan: Plan) -> str:
    protocol = plan.parsed_protocol()
    name = f" ({plan.protocol})" if plan.protocol in PROTOCOL_PRESETS else ""
    return f"{protocol.code}{name}, freezing {protocol.freeze_time_s / 60.0:g} min"


def goal_text(settings: PlanSettings) -> str:
    """The plan's goal and what it asks for, with its numbers."""
    if settings.goal is PlanGoal.VISIBLE_ICE:
        return (
            f"visible ice: 0 °C edge ≥ {settings.ice_margin_mm:g} mm beyond the tumor "
            f"everywhere, ≤ -20 °C over the whole tumor"
        )
    return (
        f"lethal margin: ≤ {settings.lethal_isotherm_c:g} °C over the tumor + "
        f"{settings.margin_mm:g} mm"
    )


def approach_text(plan: Plan) -> str:
    """Patient position, table side and refused entries, as the plan records them."""
    if plan.approach is None:
        return f"not recorded (plan position {plan.settings.patient_position})"
    return f"{plan.approach.describe()}; {plan.approach.describe_refusals()}"


def protection_text(plan: Plan) -> str:
    """The organ protection measures the plan simulates."""
    if not plan.protection:
        return "none"
    return "; ".join(measure.describe() for measure in plan.protection)


def lethal_coverage(metrics: PlanMetrics) -> tuple[float, float] | None:
    """Tumor and tumor+margin coverage (%) by the lethal isotherm, or None when not reported."""
    try:
        entry = metrics.coverage_at(metrics.lethal_isotherm_c)
    except KeyError:
        return None
    return entry.tumor_percent, entry.tumor_and_margin_percent


def closest_oar_text(metrics: PlanMetrics) -> str:
    """The organ at risk nearest the 0 °C ice edge, against its clearance."""
    iced = [oar for oar in metrics.oars if oar.distance_to_ice_mm is not None]
    if not metrics.oars:
        return "no organs at risk"
    if not iced:
        return "no ice"
    oar = min(iced, key=lambda o: o.distance_to_ice_mm - o.clearance_mm)
    verdict = "clear" if oar.clear else "TOO CLOSE"
    return (
        f"{oar.name} {format_length_mm(oar.distance_to_ice_mm)} from the ice "
        f"(needs {oar.clearance_mm:g} mm): {verdict}"
    )


def paths_text(metrics: PlanMetrics, acceptance: Acceptance) -> str:
    """The probe paths' verdict (the paths check of ``acceptance``) and the unsafe probes."""
    if not metrics.paths:
        return "not checked"
    passed = acceptance.check(CheckKind.PATHS).passed
    if passed is None:
        return "not assessed: nothing labelled or found on the CT along the paths"
    if passed:
        return f"all {len(metrics.paths)} safe"
    problems = [i for i, path in enumerate(metrics.paths) if not path.acceptable]
    return "unsafe: " + ", ".join(f"probe {i + 1}" for i in problems)


def summary_rows(
    plan: Plan,
    metrics: PlanMetrics | None,
    *,
    acceptance: Acceptance | None = None,
    insertion_order: tuple[str, ...] = (),
) -> list[tuple[str, str]]:
    """(what, value) rows describing ``plan`` and its metrics (``None``: not evaluated).

    ``acceptance`` holds the plan checks of ``metrics`` against the plan's settings
    (:attr:`cryoplan_app.logic.evaluation.EvaluationLogic.acceptance`,
    :meth:`~cryoplan_app.logic.evaluation.EvaluationLogic.judge`); it is needed
    with metrics. ``insertion_order`` holds the probes' labels in the suggested
    order of insertion (:meth:`cryoplan_app.logic.approach.ApproachLogic.insertion_labels`).

    Raises
    ------
    ValueError
        When ``metrics`` come without their ``acceptance``.
    """
    lethal = plan.settings.lethal_isotherm_c
    margin_mm = plan.settings.margin_mm
    rows = [
        ("Goal", goal_text(plan.settings)),
        ("Probes", probes_text(plan)),
        ("Insertion order", " → ".join(insertion_order) if insertion_order else "—"),
        ("Protocol", protocol_text(plan)),
        ("Patient position / approach", approach_text(plan)),
        ("Organ protection", protection_text(plan)),
    ]
    if metrics is None:
        keys = (
            f"Tumor killed (≤ {lethal:g} °C)",
            f"Tumor + {margin_mm:g} mm killed",
            "Minimal ablative margin",
            "Closest organ at risk",
            "Organs at risk",
            "Probe paths",
            "Plan checks",
        )
        return rows + [(key, NOT_EVALUATED) for key in keys]
    if acceptance is None:
        raise ValueError("summary_rows needs the plan checks (acceptance) of the metrics it shows")
    coverage = lethal_coverage(metrics)
    tumor, zone = (
        ("—", "—")
        if coverage is None
        else (format_coverage_percent(coverage[0]), format_coverage_percent(coverage[1]))
    )
    minimum = metrics.margin.minimum_mm
    # A goal of the lethal-margin plan only; under visible ice it is shown without a verdict.
    check = acceptance.find(CheckKind.MARGIN)
    if minimum is None:
        margin = "no lethal zone"
    elif check is None:
        margin = f"{format_margin_mm(minimum)} (at {metrics.lethal_isotherm_c:g} °C)"
    else:
        needs = f"needs {metrics.margin_mm:g} mm"
        margin = f"{format_margin_mm(minimum)} ({needs}): {_MET[check.passed]}"
    rows += [
        (f"Tumor killed (≤ {metrics.lethal_isotherm_c:g} °C)", tumor),
        (f"Tumor + {metrics.margin_mm:g} mm killed", zone),
        ("Minimal ablative margin", margin),
        *_visible_ice_rows(acceptance),
        ("Closest organ at risk", closest_oar_text(metrics)),
        # Never "clear" while the site is unknown or an organ unlabelled.
        ("Organs at risk", acceptance.check(CheckKind.ORGANS).value),
        ("Probe paths", paths_text(metrics, acceptance)),
        (
            "Ice (0 °C) / lethal volume",
            f"{format_volume_ml(metrics.ice_volume_ml)} / "
            f"{format_volume_ml(metrics.lethal_volume_ml)}",
        ),
    ]
    robustness = metrics.robustness
    if robustness is not None:
        rows.append(
            (
                f"Robustness (tip error {robustness.tip_error_mm:g} mm)",
                f"{robustness.probability:.0%} of {robustness.samples} placements reach the margin",
            )
        )
    rows.append(("Plan checks", checks_text(acceptance)))
    return rows


def _visible_ice_rows(acceptance: Acceptance) -> list[tuple[str, str]]:
    """The visible-ice goal's own checks, when the plan has that goal."""
    kinds = (CheckKind.ICE_MARGIN, CheckKind.TUMOR_FREEZE)
    return [
        (check.name, f"{check.value} (needs {check.goal}): {_MET[check.passed]}")
        for check in acceptance.checks
        if check.kind in kinds
    ]


def checks_text(acceptance: Acceptance) -> str:
    """The verdict of the plan checks, naming the failed and the not assessed ones."""
    if acceptance.failed:
        return "FAIL: " + ", ".join(check.phrase for check in acceptance.failed)
    if acceptance.not_assessed:
        return "no check fails; not assessed: " + ", ".join(
            check.phrase for check in acceptance.not_assessed
        )
    return "all pass"
