"""Planning goals benchmark: what the optimizer achieves under each goal, and how fast.

For each sample case and goal (``lethal-margin``: -40 °C over tumor + 5 mm;
``visible-ice``: the 0 °C edge 6 mm beyond the tumor and -20 °C over it), plan
with :func:`planning_core.planning.optimizer.optimize_plan` on the test suite's
1.5-mm verification grid without robustness samples, and print the probe count,
protocol, goal coverage, the minimal margin the plan is judged by (minimal
ablative margin, or the 0 °C edge beyond the tumor), whether every plan check
passes (:func:`planning_core.planning.acceptance.accept_plan`), and the planning
time, wall-clock and CPU (image loading excluded; compare CPU seconds on a shared
machine). Issue 18's targets under visible ice: kidney 2-4
probes with at most 20 min of freezing, breast one liquid-nitrogen probe.

Run: ``python benchmarks/bench_plan_goals.py [CASE ...] [--goal GOAL ...]``.
"""

from __future__ import annotations

import argparse
import time

# Imported before any case is planned, so one run measures one version of the code.
from planning_core.errors import InfeasiblePlanError
from planning_core.imaging.loader import load_image
from planning_core.planning.acceptance import Acceptance, accept_plan, goal_coverage_percent
from planning_core.planning.optimizer import optimize_plan
from planning_core.planning.results import PlanMetrics
from planning_core.planning.settings import PlanGoal, PlanSettings

VERIFY_MM = 1.5


def judged_margin_mm(metrics: PlanMetrics, goal: PlanGoal) -> float | None:
    """The minimal margin the goal judges: lethal (MAM) or the 0 °C edge beyond the tumor."""
    if goal is PlanGoal.VISIBLE_ICE:
        return None if metrics.visible_ice is None else metrics.visible_ice.margin.minimum_mm
    return metrics.margin.minimum_mm


def _verdict(acceptance: Acceptance) -> str:
    if acceptance.failed:
        return f"FAIL: {acceptance.describe_failure()}"
    if acceptance.not_assessed:
        return "PASS where assessed; not assessed: " + ", ".join(
            check.phrase for check in acceptance.not_assessed
        )
    return "PASS"


def main() -> None:
    from cryoplan_samples import ensure_sample_case

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", default=["kidney", "liver", "lung", "breast"])
    parser.add_argument(
        "--goal", action="append", choices=[g.value for g in PlanGoal], dest="goals"
    )
    args = parser.parse_args()
    goals = [PlanGoal(g) for g in (args.goals or [g.value for g in PlanGoal])]
    for name in args.cases:
        case = ensure_sample_case(name)
        volume = load_image(case.image_path)
        labels = case.load_labels(volume.geometry)
        for goal in goals:
            settings = PlanSettings(goal=goal)
            started, cpu_started = time.perf_counter(), time.process_time()
            try:
                result = optimize_plan(
                    volume, labels, settings=settings, verify_spacing_mm=VERIFY_MM,
                    robustness_samples=0,
                )  # fmt: skip
            except InfeasiblePlanError as error:
                print(f"{name} {goal.value}: infeasible, {time.perf_counter() - started:.1f} s: "
                      f"{error}")  # fmt: skip
                continue
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu_started
            metrics = result.plan.metrics
            acceptance = accept_plan(metrics, settings, allow_leaving_image=volume.modality == "US")
            margin = judged_margin_mm(metrics, goal)
            print(
                f"{name} {goal.value}: {len(result.plan.probes)} x {result.plan.probes[0].model_id}"
                f", {result.plan.protocol} ({metrics.total_freeze_s / 60.0:g} min freezing), "
                f"coverage {goal_coverage_percent(metrics, settings):.2f} %, judged margin "
                f"{'-' if margin is None else f'{margin:.2f}'} mm (goal "
                f"{settings.zone_margin_mm:g}), {_verdict(acceptance)}, {seconds:.1f} s "
                f"({cpu_seconds:.1f} s CPU)",
                flush=True,
            )


if __name__ == "__main__":
    main()
