"""Planning benchmark: time to optimize, verify and assess each sample case.

For every sample case: load the image and the ground-truth labels, run
:func:`planning_core.planning.optimizer.optimize_plan` with its defaults (1-mm
verification, 20 robustness samples), and print the probe count, protocol,
coverage of tumor + 5 mm by -40 °C, minimal margin, organ distances to the ice
edge (organs at risk, then the monitored structures that may freeze), robustness
and the planning time (image loading excluded). The issue's
goal is at most 60 s per case on a 2-core machine (stretch: 20 s).
Run: ``python benchmarks/bench_plan.py [CASE ...] [--robustness-samples N]``.
"""

from __future__ import annotations

import argparse
import time

from planning_core.planning.results import PlanMetrics

GOAL_S = 60.0
STRETCH_S = 20.0


def _distances(metrics: PlanMetrics, *, monitored: bool) -> str:
    """Name and 0 °C edge distance of the organs at risk or of the monitored structures."""
    return ", ".join(
        f"{o.name} {'-' if o.distance_to_ice_mm is None else f'{o.distance_to_ice_mm:.1f}'}"
        + ("" if o.monitored or o.clear else " (TOO CLOSE)")
        for o in metrics.oars
        if o.monitored == monitored
    )


def main() -> None:
    from cryoplan_samples import SAMPLE_CASE_NAMES, ensure_sample_case

    from planning_core.errors import InfeasiblePlanError
    from planning_core.imaging.loader import load_image
    from planning_core.planning.optimizer import optimize_plan

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", default=list(SAMPLE_CASE_NAMES))
    parser.add_argument("--robustness-samples", type=int, default=20)
    args = parser.parse_args()
    for name in args.cases:
        case = ensure_sample_case(name)
        volume = load_image(case.image_path)
        labels = case.load_labels(volume.geometry)
        started = time.perf_counter()
        try:
            result = optimize_plan(volume, labels, robustness_samples=args.robustness_samples)
        except InfeasiblePlanError as error:
            print(f"{name}: infeasible after {time.perf_counter() - started:.1f} s: {error}")
            continue
        seconds = time.perf_counter() - started
        metrics = result.plan.metrics
        coverage = metrics.coverage_at(metrics.lethal_isotherm_c)
        organs = _distances(metrics, monitored=False)
        monitored = _distances(metrics, monitored=True)
        robustness = metrics.robustness
        robust = (
            "not assessed"
            if robustness is None
            else f"{100 * robustness.probability:.0f} % at {robustness.tip_error_mm:g} mm"
        )
        if seconds <= STRETCH_S:
            verdict = f"meets the {STRETCH_S:g} s stretch goal"
        else:
            verdict = f"{'meets' if seconds <= GOAL_S else 'misses'} the {GOAL_S:g} s goal"
        print(
            f"{name}: {len(result.plan.probes)} probe(s) (rule of thumb "
            f"{result.rule_of_thumb_probes}), {result.plan.protocol}, coverage "
            f"{coverage.tumor_and_margin_percent:.1f} %, minimal margin "
            f"{metrics.margin.minimum_mm:.1f} mm, robustness {robust}, {seconds:.1f} s "
            f"({verdict})\n"
            f"  organs at risk, 0 °C edge distance (mm): {organs}\n"
            f"  monitored (may freeze), 0 °C edge distance (mm): {monitored}"
        )


if __name__ == "__main__":
    main()
