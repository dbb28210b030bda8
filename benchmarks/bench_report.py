"""Report benchmark: time to produce the PDF report of the kidney sample plan.

The plan (three argon probes, F10-T8-F10, evaluated once on a ``--spacing-mm``
grid and saved with its label map and simulation fields) is prepared first and
not timed. Each repeat then times what ``cryoplan report PLAN --out FILE.pdf``
does for a plan with fresh results: loading the plan, its DICOM image, labels
and fields (hash checks included), and building the report (content, every
figure, PDF layout). Prints the median and each part; goal: at most 10 s.

Run: ``python benchmarks/bench_report.py [--repeats 3] [--spacing-mm 2] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

GOAL_SECONDS = 10.0
ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--spacing-mm", type=float, default=2.0, help="grid of the evaluation")
    parser.add_argument("--keep", type=Path, default=None, help="keep plan and PDF in DIR")
    args = parser.parse_args()
    # The test suite's sample plan, so that benchmark and tests report on the same plan.
    sys.path.insert(0, str(ROOT / "tests" / "report"))
    from kidney_plan import kidney_plan_file

    from planning_core.report.build import build_report
    from planning_core.report.inputs import load_report_inputs

    with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        plan_path, _ = kidney_plan_file(folder, spacing_mm=args.spacing_mm)
        print(f"prepared plan {plan_path.name} in {time.perf_counter() - started:.1f} s (untimed)")
        totals, loads, builds, cpus = [], [], [], []
        for repeat in range(args.repeats):
            cpu_started = time.process_time()
            started = time.perf_counter()
            inputs = load_report_inputs(plan_path)
            loaded = time.perf_counter()
            output = build_report(
                inputs.plan,
                inputs.volume,
                inputs.label_map,
                dose=inputs.dose,
                out_path=folder / "report.pdf",
                warnings=inputs.warnings,
            )
            done = time.perf_counter()
            loads.append(loaded - started)
            builds.append(done - loaded)
            totals.append(done - started)
            cpus.append(time.process_time() - cpu_started)
            print(
                f"repeat {repeat + 1}: load {loads[-1]:.2f} s, build {builds[-1]:.2f} s, "
                f"total {totals[-1]:.2f} s, CPU {cpus[-1]:.2f} s "
                f"({output.path.stat().st_size / 1e6:.1f} MB)"
            )
        median = statistics.median(totals)
        verdict = "meets" if median <= GOAL_SECONDS else "MISSES"
        print(
            f"report of the kidney sample plan: median {median:.2f} s (load "
            f"{statistics.median(loads):.2f} s + build {statistics.median(builds):.2f} s; CPU "
            f"{statistics.median(cpus):.2f} s, about the wall time on an idle machine, as "
            f"the work runs on one thread); "
            f"{verdict} the goal of {GOAL_SECONDS:g} s"
        )
    return 0 if median <= GOAL_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
