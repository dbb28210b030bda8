"""Planning benchmark: time to optimize, verify and assess each sample case.

For every sample case: plan it as ``cryoplan plan CASE --labels LABELS`` does
(:func:`planning_core.commands.plan.plan_case`: the ground-truth labels, the
patient position read from the CT header with its table and gantry rules, the
optimizer's defaults with a 1-mm verification and 20 robustness samples, and the
simulation of any protection it proposes; ``--goal`` as the command's), and print
the probe count, protocol,
coverage of tumor + 5 mm by -40 °C, minimal margin, organ distances to the ice
edge (organs at risk, then the monitored structures that may freeze), robustness
and the planning time (the command's whole work: opening the case, planning,
writing the plan files). The issue's goal is at most 20 s per case on an idle
2-core machine.

Work, beside the seconds: every ``simulate()`` call of the run is counted by
purpose (single-probe kernels of the surrogate, 2-mm solver checks, the full
verification, robustness samples) with its voxel-stages (voxels updated times
Runge-Kutta-Legendre stages), the solver's unit of work. On a machine shared
with other jobs the seconds vary with the load; the work does not, so it is
the figure to compare optimizer versions by, and the seconds per voxel-stage
show what the thermal engine delivered in that run. The steps that run no
simulation (body outline, path analysis, layout search, metrics, writing the
files) are timed apart on the main thread: what more cores do not shorten.

Threads: ``--threads 1 2`` (the default) plans each case once per thread count
(``numba.set_num_threads``): the full verification runs on that many threads
(slabs of planes) and the robustness samples that many side by side
(:mod:`planning_core.planning.optimizer.parallel`). Each run starts with cold
surrogate kernels, so the two runs do the same work.

Scaling expectation: the surrogate search, path checks, the path context and
metrics are single-threaded Python and numpy (about half of a case's time once
the simulations ran on two cores). The 1-mm verification (about two thirds of
the voxel-stages) runs 1.8 times as fast on two threads of an idle machine and
keeps scaling with slabs of planes (each thread then updates fewer planes, and
the stage barrier costs about 0.2-2 ms); the robustness samples (about a fifth)
scale with the threads until there are fewer samples than threads. On a
16-core workstation expect the simulations to take a fifth to a tenth of their
2-core time and the serial part to stay (faster cores aside): the serial part
then sets the time.

Run: ``python benchmarks/bench_plan.py [CASE ...] [--robustness-samples N]
[--threads N ...] [--goal lethal-margin|visible-ice]``.
"""

from __future__ import annotations

import argparse
import inspect
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from planning_core.planning.results import PlanMetrics

GOAL_S = 20.0
#: The functions whose simulations are counted apart, by the name found on the stack.
PURPOSES = {
    "probe_kernel": "surrogate kernels",
    "coarse_check": "2-mm checks",
    "evaluate_plan": "full verification",
    "_measure": "robustness samples",
}


def _distances(metrics: PlanMetrics, *, monitored: bool) -> str:
    """Name and 0 °C edge distance of the organs at risk or of the monitored structures."""
    return ", ".join(
        f"{o.name} {'-' if o.distance_to_ice_mm is None else f'{o.distance_to_ice_mm:.1f}'}"
        + ("" if o.monitored or o.clear else " (TOO CLOSE)")
        for o in metrics.oars
        if o.monitored == monitored
    )


@contextmanager
def counted_simulations() -> Iterator[dict[str, list[float]]]:
    """Count the solver's runs by purpose: calls, voxel-stages, seconds (summed per thread)."""
    import planning_core.planning.evaluate as evaluate
    import planning_core.planning.optimizer.surrogate as surrogate
    import planning_core.thermal.solver as solver

    work: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    original = solver.simulate
    lock = threading.Lock()  # robustness samples report from several threads

    def counting(setup, protocol, **options):
        names = [frame.function for frame in inspect.stack(0)[1:14]]
        purpose = next((PURPOSES[n] for n in names if n in PURPOSES), "other")
        result = original(setup, protocol, **options)
        with lock:
            entry = work[purpose]
            entry[0] += 1
            entry[1] += result.voxel_updates
            entry[2] += result.wall_s
        return result

    evaluate.simulate = surrogate.simulate = counting
    try:
        yield work
    finally:
        evaluate.simulate = surrogate.simulate = original


#: Steps that run no simulation, timed apart: (module, function name, label).
SERIAL_STEPS = (
    ("planning_core.commands.plan", "case_body_mask", "body outline"),
    ("planning_core.planning.optimizer.optimize", "TrajectoryContext", "path analysis"),
    ("planning_core.planning.optimizer.optimize", "_surrogate_stage", "layout search"),
    ("planning_core.planning.evaluate", "compute_plan_metrics", "metrics"),
    ("planning_core.commands.plan", "write_plan_case_files", "writing the plan files"),
)


@contextmanager
def timed_steps() -> Iterator[dict[str, list[float]]]:
    """Calls and wall seconds of the :data:`SERIAL_STEPS` (the layout search's time includes
    any surrogate kernel it waits for)."""
    import importlib

    times: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    patched = []
    for module_name, name, label in SERIAL_STEPS:
        module = importlib.import_module(module_name)
        original = getattr(module, name)

        def timed(*args, _original=original, _label=label, **options):
            started = time.perf_counter()
            try:
                return _original(*args, **options)
            finally:
                times[_label][0] += 1
                times[_label][1] += time.perf_counter() - started

        setattr(module, name, timed)
        patched.append((module, name, original))
    try:
        yield times
    finally:
        for module, name, original in patched:
            setattr(module, name, original)


def _serial_line(times: dict[str, list[float]]) -> str:
    parts = [
        f"{label} {seconds:.1f} s" + (f" ({int(calls)} calls)" if calls > 1 else "")
        for label, (calls, seconds) in times.items()
    ]
    return "    steps without simulation (main thread): " + ", ".join(parts)


def _work_lines(work: dict[str, list[float]]) -> str:
    lines = [
        f"    {purpose}: {int(calls)} run(s), {stages / 1e6:.0f} M voxel-stages, {seconds:.1f} s"
        for purpose, (calls, stages, seconds) in sorted(work.items())
    ]
    calls = sum(int(w[0]) for w in work.values())
    stages = sum(w[1] for w in work.values())
    lines.append(f"    all simulations: {calls} run(s), {stages / 1e6:.0f} M voxel-stages")
    return "\n".join(lines)


def main() -> None:
    import tempfile

    import numba
    from cryoplan_samples import SAMPLE_CASE_NAMES, ensure_sample_case

    from planning_core.commands import plan as plan_command
    from planning_core.errors import InfeasiblePlanError
    from planning_core.planning.optimizer.surrogate import probe_kernel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", default=list(SAMPLE_CASE_NAMES))
    parser.add_argument("--robustness-samples", type=int, default=20)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--goal", choices=("lethal-margin", "visible-ice"), default=None)
    args = parser.parse_args()
    command = argparse.ArgumentParser(prog="cryoplan")
    plan_command.register(command.add_subparsers())
    print(f"machine: {os.cpu_count()} core(s), numba may use {numba.config.NUMBA_NUM_THREADS}")
    for name in args.cases:
        case = ensure_sample_case(name)
        for threads in args.threads:
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            probe_kernel.cache_clear()
            with tempfile.TemporaryDirectory() as folder:
                flags = [
                    "plan", name, "--labels", str(case.labels_path),
                    "--out", str(Path(folder) / "plan.json"),
                    "--robustness-samples", str(args.robustness_samples),
                    *(["--goal", args.goal] if args.goal else []),
                ]  # fmt: skip
                plan_args = command.parse_args(flags)
                load_before = os.getloadavg()[0]
                started = time.perf_counter()
                cpu_started = time.process_time()
                with counted_simulations() as work, timed_steps() as steps:
                    try:
                        planned = plan_command.plan_case(plan_args, lambda *_: None)
                    except InfeasiblePlanError as error:
                        planned, failure = None, error
                seconds = time.perf_counter() - started
                cpu = time.process_time() - cpu_started
            load = f"load {load_before:.1f} -> {os.getloadavg()[0]:.1f}"
            head = f"{name} [{numba.get_num_threads()} thread(s)]"
            if planned is None:
                print(f"{head}: infeasible after {seconds:.1f} s ({load}): {failure}")
                print(_work_lines(work))
                continue
            plan, summary = planned.plan, planned.summary
            metrics = plan.metrics
            coverage = metrics.coverage_at(metrics.lethal_isotherm_c)
            robustness = metrics.robustness
            robust = (
                "not assessed"
                if robustness is None
                else f"{100 * robustness.probability:.0f} % at {robustness.tip_error_mm:g} mm "
                f"({robustness.zone_text()})"
            )
            margin = metrics.margin.minimum_mm
            protection = ", ".join(item.structure for item in plan.protection) or "none"
            verdict = f"{'meets' if seconds <= GOAL_S else 'misses'} the {GOAL_S:g} s goal"
            print(
                f"{head}: goal {plan.settings.goal.value}, {len(plan.probes)} probe(s) "
                f"(rule of thumb {summary['rule_of_thumb_probes']}), {plan.protocol}, "
                f"coverage {coverage.tumor_and_margin_percent:.1f} %, minimal margin "
                f"{'-' if margin is None else f'{margin:.1f}'} mm, robustness {robust}, "
                f"protection {protection}, plan checks {summary['verdict']}, "
                f"{seconds:.1f} s, CPU {cpu:.1f} s ({verdict}; {load})\n"
                f"  organs at risk, 0 °C edge distance (mm): "
                f"{_distances(metrics, monitored=False)}\n"
                f"  monitored (may freeze), 0 °C edge distance (mm): "
                f"{_distances(metrics, monitored=True)}\n"
                + _work_lines(work)
                + "\n"
                + _serial_line(steps)
            )


if __name__ == "__main__":
    main()
