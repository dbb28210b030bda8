"""Sample-case generation benchmark: time and peak memory to generate every case from scratch.

Each case is generated into a fresh temporary folder (no cache), in this process,
in the order ``cryoplan sample-data`` uses. The issue's goal is under a minute for
all four on a 2-core machine. Run: ``python benchmarks/bench_samples.py``.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

GOAL_TOTAL_S = 60.0


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    from cryoplan_samples import SAMPLE_CASE_NAMES, generate_sample_case

    baseline_mib = _peak_rss_mib()
    total_s = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for name in SAMPLE_CASE_NAMES:
            started = time.perf_counter()
            case = generate_sample_case(name, Path(folder) / name)
            seconds = time.perf_counter() - started
            total_s += seconds
            size_mib = sum(p.stat().st_size for p in case.directory.rglob("*") if p.is_file())
            shape = "x".join(str(n) for n in case.manifest["shape_kji"][::-1])
            print(
                f"{name:7s} {case.manifest['modality']:3s} {shape:>13s} voxels  "
                f"{seconds:6.2f} s  {size_mib / 2**20:6.1f} MiB on disk"
            )
    verdict = "meets" if total_s <= GOAL_TOTAL_S else "misses"
    print(
        f"total   {total_s:.2f} s for {len(SAMPLE_CASE_NAMES)} cases ({verdict} the goal of "
        f"{GOAL_TOTAL_S:.0f} s)"
    )
    print(f"peak resident memory above imports: {_peak_rss_mib() - baseline_mib:.0f} MiB")


if __name__ == "__main__":
    main()
