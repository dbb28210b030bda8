"""Cohort benchmark: a manifest planned by ``cryoplan batch``'s runner on 1 and on 2 workers.

Prints, per worker count, the wall time of the whole cohort (cluster start
included), and per case its planning time on its worker, its worker's peak
memory, probes and coverage; then the speed-up of 2 workers over 1. The cases
are sample cases planned from their manifest's seed point (default: kidney and
breast, the plan command's defaults).
Run: ``python benchmarks/bench_cohort.py [CASE ...] [--workers 1 2]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    from cryoplan_samples import ensure_sample_case

    from planning_core.cohort.manifest import read_manifest
    from planning_core.cohort.runner import run_cohort
    from planning_core.commands.batch import plan_row

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", default=["kidney", "breast"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        manifest = Path(folder) / "cohort.csv"
        lines = ["case,tumor_seed"]
        for name in args.cases:
            case = ensure_sample_case(name)
            seed = case.manifest["tumor"]["seed_lps_mm"]  # type: ignore[index]
            lines.append(f'{name},"{",".join(str(v) for v in seed)}"')
        manifest.write_text("\n".join(lines) + "\n")
        cases = read_manifest(manifest)
        walls = {}
        for workers in args.workers:
            start = time.perf_counter()
            run = run_cohort(
                cases, task=plan_row, out_dir=Path(folder) / f"out-{workers}", workers=workers
            )
            walls[workers] = time.perf_counter() - start
            print(f"{workers} worker(s): {len(cases)} case(s) in {walls[workers]:.1f} s")
            for result in run.results:
                figures = result.figures
                done = (
                    f"FAILED: {result.error}"
                    if figures is None
                    else f"{figures.probes} probe(s), {figures.coverage_percent:.1f} % covered"
                )
                print(
                    f"  {result.case}: {result.time_s} s on its worker, peak "
                    f"{result.peak_memory_mb} MiB, {done}"
                )
        if 1 in walls and 2 in walls:
            print(f"speed-up of 2 workers over 1: {walls[1] / walls[2]:.2f}x")


if __name__ == "__main__":
    main()
