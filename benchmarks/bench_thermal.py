"""Thermal engine benchmark: the reference scenario at 1 mm and 2 mm, a small ROI, the preview.

Reference scenario (issue 3): three parallel argon-2.4 probes 15 mm apart (an
equilateral triangle around the S axis), protocol 10-8-10, a 100 mm cube of
soft tissue on a 1 mm grid, and the same at 2 mm. Each case runs in a fresh
process after a short warm-up run (numba kernels loaded from the cache), and
prints wall time, voxel updates per second, and peak memory (resident set above
what the process held after the warm-up). It also prints the isotherm volumes of
the 2 mm run against the 1 mm run (accuracy of the fast grid), a small-ROI 2 mm
run (the optimizer's fast path), and the latency of the drag preview.

CPU time (all threads) is printed beside the wall time: on a machine shared with
other work the wall time overstates the cost.

Run: ``python benchmarks/bench_thermal.py [--only 1|2|roi|preview]``.
Goals on a 2-core machine: 1 mm ≤ 10 s (stretch 5 s), 2 mm ≤ 0.5 s, memory ≤ 1 GB.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

import numpy as np

ISOTHERMS_C = (0.0, -20.0, -40.0)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reference_probes(model_id: str = "argon-2.4", spacing_between_mm: float = 15.0):
    """Three parallel probes on an equilateral triangle, freezing segments centred at 0."""
    from planning_core.thermal.probes import PlacedProbe, load_probe_library

    model = load_probe_library().get(model_id)
    radius = spacing_between_mm / math.sqrt(3.0)
    probes = []
    for angle in np.radians([90.0, 210.0, 330.0]):
        centre = np.array([radius * math.cos(angle), radius * math.sin(angle), 0.0])
        tip = centre - np.array([0.0, 0.0, model.tip_offset_mm + 0.5 * model.active_length_mm])
        probes.append(PlacedProbe(model, tip, tip + np.array([0.0, 0.0, 150.0])))
    return probes


def _warm_up() -> None:
    from planning_core.thermal.protocol import parse_protocol
    from planning_core.thermal.setup import build_setup
    from planning_core.thermal.solver import simulate

    setup = build_setup(reference_probes()[:1], medium="soft_tissue", spacing_mm=2.0)
    simulate(setup, parse_protocol("F0.2"))


def run_case(case: str) -> dict:
    """One benchmark case in this process; returns its figures."""
    from planning_core.thermal.protocol import parse_protocol
    from planning_core.thermal.setup import box_geometry, build_setup
    from planning_core.thermal.solver import simulate

    _warm_up()
    baseline = _peak_rss_mb()
    protocol = parse_protocol("10-8-10")
    if case == "preview":
        from planning_core.thermal.preview import preview_min_field

        probes = reference_probes()
        probes += reference_probes(spacing_between_mm=40.0)[:2]
        started = time.perf_counter()
        preview_min_field(probes, protocol)
        template_s = time.perf_counter() - started
        latencies = []
        for _ in range(10):
            started = time.perf_counter()
            preview = preview_min_field(probes, protocol)
            latencies.append(time.perf_counter() - started)
        return {
            "case": "preview, 5 probes, 2 mm",
            "grid": list(preview.geometry.shape),
            "template_build_s": template_s,
            "latency_ms_median": 1e3 * float(np.median(latencies)),
            "latency_ms_max": 1e3 * float(np.max(latencies)),
        }
    if case == "roi":
        setup = build_setup(
            reference_probes(), medium="soft_tissue", spacing_mm=2.0, margin_mm=30.0
        )
        label = "small ROI (margin 30 mm), 2 mm"
    else:
        spacing = float(case)
        grid = box_geometry([-50.0] * 3, [50.0] * 3, spacing_mm=spacing)
        setup = build_setup(reference_probes(), medium="soft_tissue", grid=grid)
        label = f"100 mm cube, {spacing:g} mm"
    started, cpu_started = time.perf_counter(), time.process_time()
    result = simulate(setup, protocol, isotherms_c=ISOTHERMS_C)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return {
        "case": label,
        "grid": list(setup.geometry.shape),
        "voxels": setup.voxel_count,
        "wall_s": wall,
        "cpu_s": cpu,
        "steps": result.steps,
        "stages": result.stages,
        "voxel_updates_per_s": result.voxel_updates / wall,
        "peak_memory_mb": _peak_rss_mb() - baseline,
        "boundary_drift_c": result.boundary_drift_c,
        "volumes_ml": {f"{t:g}": result.isotherm_volume_ml(t) for t in ISOTHERMS_C},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("1", "2", "roi", "preview"))
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case here
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case)))
        return 0
    figures = {}
    for case in [args.only] if args.only else ["1", "2", "roi", "preview"]:
        output = subprocess.run(
            [sys.executable, __file__, "--case", case], check=True, capture_output=True, text=True
        ).stdout
        figures[case] = json.loads(output.strip().splitlines()[-1])
        row = figures[case]
        if case == "preview":
            print(
                f"{row['case']}: grid {row['grid']}, first call (template) "
                f"{row['template_build_s']:.2f} s, then median {row['latency_ms_median']:.1f} ms, "
                f"max {row['latency_ms_max']:.1f} ms"
            )
            continue
        volumes = ", ".join(f"{t} °C {v:.2f} ml" for t, v in row["volumes_ml"].items())
        print(
            f"{row['case']}: grid {row['grid']} ({row['voxels']:,} voxels), "
            f"wall {row['wall_s']:.2f} s (CPU {row['cpu_s']:.2f} s, all threads), "
            f"{row['stages']} stages in {row['steps']} steps, "
            f"{row['voxel_updates_per_s'] / 1e6:.0f} M voxel updates/s, "
            f"peak memory +{row['peak_memory_mb']:.0f} MB, boundary drift "
            f"{row['boundary_drift_c']:.2f} °C; {volumes}"
        )
    if "1" in figures and "2" in figures:
        fine, coarse = figures["1"]["volumes_ml"], figures["2"]["volumes_ml"]
        for t in fine:
            print(
                f"isotherm {t} °C: 2 mm vs 1 mm volume {coarse[t]:.2f} vs {fine[t]:.2f} ml "
                f"({100.0 * (coarse[t] / fine[t] - 1.0):+.1f} %)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
