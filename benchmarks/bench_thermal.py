"""Thermal engine benchmark: the reference scenario at 1 mm and 2 mm, a small ROI, the preview.

Reference scenario (issue 3): three parallel argon-2.4 probes 15 mm apart (an
equilateral triangle around the S axis), protocol 10-8-10, a 100 mm cube of
soft tissue on a 1 mm grid, and the same at 2 mm. Each case runs ``--repeat``
times, each time in a fresh process, and the median is printed.

What is timed: one ``simulate()`` call on a set-up built beforehand, in a process
that has already run a short warm-up simulation, so numba's first-call cost
(loading the cached machine code, or compiling it when the cache is cold) is
not in the figure; that first call and the set-up build are timed separately
and printed beside it. Peak memory of the call is printed twice: the largest
traced allocation total (tracemalloc: numpy arrays and Python objects) and the
resident set above what the process held after the warm-up. The 2 mm isotherm
volumes are compared with the 1 mm ones (accuracy of the fast grid). The same
1 mm cube of six tissues in blobs (spans of one tissue as short as on anatomy,
:func:`mixed_tissue_setup`) follows, then a small-ROI 2 mm run (the optimizer's
fast path) and the latency of the drag preview.

Engine against a bare stencil: in the same process, right after each
``simulate()``, a bare float32 7-point stencil in numba (``u' = u + c (sum of
the 6 neighbours - 6 u)``, two buffers) sweeps the same padded grid as often
as the engine ran stages (twice); its voxel-update rate is printed beside the
engine's (voxel-stages per second of the whole ``simulate()`` call, Python
work between the steps included) with their ratio. Each case runs with 1 and
with 2 threads (engine ``threads=``, bare stencil ``prange`` over planes).

CPU time (all threads) is printed beside the wall time, and the load average
before and after: on a machine shared with other work the wall time overstates
the cost, so the rates are also given per CPU second (1 thread: the time the
process actually ran).

Run: ``python benchmarks/bench_thermal.py [--only 1|2|mixed|roi|preview] [--repeat N]
[--threads 1,2]``.
Goals on a 2-core machine: 1 mm ≤ 10 s (stretch 5 s), 2 mm ≤ 0.5 s, memory ≤ 1 GB.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
import tracemalloc

import numba as nb
import numpy as np

ISOTHERMS_C = (0.0, -20.0, -40.0)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _bare_sweeps(u: np.ndarray, v: np.ndarray, coefficient: np.float32, sweeps: int) -> None:
    """The bare stencil: ``sweeps`` Jacobi sweeps of the 7-point Laplacian, u -> v -> u ..."""
    nk, nj, ni = u.shape
    for sweep in range(sweeps):
        source = u if sweep % 2 == 0 else v
        target = v if sweep % 2 == 0 else u
        for k in nb.prange(1, nk - 1):
            for j in range(1, nj - 1):
                for i in range(1, ni - 1):
                    centre = source[k, j, i]
                    target[k, j, i] = centre + coefficient * (
                        source[k, j, i - 1]
                        + source[k, j, i + 1]
                        + source[k, j - 1, i]
                        + source[k, j + 1, i]
                        + source[k - 1, j, i]
                        + source[k + 1, j, i]
                        - np.float32(6.0) * centre
                    )


_STENCIL_OPTIONS = {"fastmath": True, "boundscheck": False, "error_model": "numpy"}
bare_serial = nb.njit(**_STENCIL_OPTIONS)(_bare_sweeps)
bare_parallel = nb.njit(parallel=True, **_STENCIL_OPTIONS)(_bare_sweeps)


def bare_stencil_rate(shape: tuple[int, int, int], threads: int, sweeps: int) -> dict:
    """Voxel updates per wall and per CPU second of the bare stencil on ``shape`` (interior).

    One call of ``sweeps`` sweeps (the engine's stage count: the same number of
    voxel updates as the engine's run, so both see the same machine load).
    """
    padded = tuple(n + 2 for n in shape)
    u = np.random.default_rng(0).uniform(-40.0, 37.0, size=padded).astype(np.float32)
    v = u.copy()
    kernel = bare_serial if threads == 1 else bare_parallel
    nb.set_num_threads(threads)
    kernel(u, v, np.float32(0.1), 2)
    started, cpu_started = time.perf_counter(), time.process_time()
    kernel(u, v, np.float32(0.1), sweeps)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    updates = float(np.prod(shape)) * sweeps
    return {"per_wall_s": updates / wall, "per_cpu_s": updates / max(cpu, 1e-9)}


#: Tissues of the mixed-tissue case, in blobs like an abdomen's (see :func:`mixed_tissue_setup`).
MIXED_TISSUES = ("soft_tissue", "fat", "muscle", "liver", "blood", "kidney")


def mixed_tissue_setup(setup):
    """``setup`` with its voxels shared among :data:`MIXED_TISSUES` in smooth random blobs.

    On anatomy the solver's spans of one tissue are short (24 voxels on average on the
    liver sample's 1-mm verification grid, 8 tissues); a random field smoothed over 22 mm
    and cut at its sextiles gives spans of 23 voxels on average, so the engine's rate on
    anatomy is measured without a sample case. Deterministic (fixed seed).
    """
    import dataclasses

    from scipy import ndimage

    from planning_core.thermal.tissues import load_tissue_library

    library = load_tissue_library()
    field = np.random.default_rng(3).normal(size=setup.geometry.shape)
    field = ndimage.gaussian_filter(field, sigma=22.0)
    cuts = np.quantile(field, np.linspace(0.0, 1.0, len(MIXED_TISSUES) + 1)[1:-1])
    index = np.digitize(field, cuts).astype(np.uint8)
    tissues = tuple(library.get(key) for key in MIXED_TISSUES)
    return dataclasses.replace(setup, tissue_index=index, tissues=tissues)


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


def run_case(case: str, threads: int = 1) -> dict:
    """One benchmark case in this process with ``threads`` threads; returns its figures."""
    from planning_core.thermal.protocol import parse_protocol
    from planning_core.thermal.setup import box_geometry, build_setup
    from planning_core.thermal.solver import simulate

    started = time.perf_counter()
    _warm_up()
    first_call_s = time.perf_counter() - started
    baseline = _peak_rss_mb()
    protocol = parse_protocol("10-8-10")
    nb.set_num_threads(threads)
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
    started = time.perf_counter()
    if case == "mixed":
        grid = box_geometry([-50.0] * 3, [50.0] * 3, spacing_mm=1.0)
        setup = mixed_tissue_setup(build_setup(reference_probes(), medium="soft_tissue", grid=grid))
        label = "100 mm cube of six tissues in blobs, 1 mm"
    elif case == "roi":
        setup = build_setup(
            reference_probes(), medium="soft_tissue", spacing_mm=2.0, margin_mm=30.0
        )
        label = "small ROI (margin 30 mm), 2 mm"
    else:
        spacing = float(case)
        grid = box_geometry([-50.0] * 3, [50.0] * 3, spacing_mm=spacing)
        setup = build_setup(reference_probes(), medium="soft_tissue", grid=grid)
        label = f"100 mm cube, {spacing:g} mm"
    setup_s = time.perf_counter() - started
    started, cpu_started = time.perf_counter(), time.process_time()
    result = simulate(setup, protocol, isotherms_c=ISOTHERMS_C, threads=threads)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    peak_memory_mb = _peak_rss_mb() - baseline
    # Tracing slows Python's allocations, so the traced peak comes from a second, untimed call.
    tracemalloc.start()
    simulate(setup, protocol, isotherms_c=ISOTHERMS_C, threads=threads)
    traced_peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    # Twice right after the engine, under the same load; the mean of both.
    runs = [bare_stencil_rate(setup.geometry.shape, threads, result.stages) for _ in range(2)]
    bare = {key: 0.5 * (runs[0][key] + runs[1][key]) for key in ("per_wall_s", "per_cpu_s")}
    return {
        "threads": threads,
        "bare_updates_per_wall_s": bare["per_wall_s"],
        "bare_updates_per_cpu_s": bare["per_cpu_s"],
        "voxel_updates_per_cpu_s": result.voxel_updates / cpu,
        "traced_peak_mb": traced_peak_mb,
        "case": label,
        "grid": list(setup.geometry.shape),
        "voxels": setup.voxel_count,
        "wall_s": wall,
        "cpu_s": cpu,
        "first_call_s": first_call_s,
        "setup_s": setup_s,
        "steps": result.steps,
        "stages": result.stages,
        "voxel_updates_per_s": result.voxel_updates / wall,
        "peak_memory_mb": peak_memory_mb,
        "boundary_drift_c": result.boundary_drift_c,
        "volumes_ml": {f"{t:g}": result.isotherm_volume_ml(t) for t in ISOTHERMS_C},
    }


def _median_row(rows: list[dict]) -> dict:
    """The repeat with the median wall time, with every repeat's figures added."""
    ordered = sorted(rows, key=lambda row: row.get("wall_s", row.get("latency_ms_median", 0.0)))
    row = dict(ordered[len(ordered) // 2])
    for key in ("wall_s", "cpu_s", "voxel_updates_per_s", "bare_updates_per_wall_s"):
        row[f"all_{key}"] = [r.get(key) for r in rows]
    return row


def _ratios(row: dict) -> str:
    """Engine against bare stencil: median repeat per wall and per CPU second, best repeat."""
    best_engine = max(row["all_voxel_updates_per_s"])
    best_bare = max(row["all_bare_updates_per_wall_s"])
    return (
        f"engine {row['voxel_updates_per_s'] / 1e6:.0f} M/s vs bare stencil "
        f"{row['bare_updates_per_wall_s'] / 1e6:.0f} M/s = "
        f"{row['voxel_updates_per_s'] / row['bare_updates_per_wall_s']:.0%} per wall second; "
        f"per CPU second {row['voxel_updates_per_cpu_s'] / 1e6:.0f} vs "
        f"{row['bare_updates_per_cpu_s'] / 1e6:.0f} M/s = "
        f"{row['voxel_updates_per_cpu_s'] / row['bare_updates_per_cpu_s']:.0%}; best repeats "
        f"{best_engine / 1e6:.0f} vs {best_bare / 1e6:.0f} M/s = {best_engine / best_bare:.0%}"
    )


def _print_row(row: dict, repeats: int) -> None:
    if "latency_ms_median" in row:
        print(
            f"{row['case']}: grid {row['grid']}, first call (template) "
            f"{row['template_build_s']:.2f} s, then median {row['latency_ms_median']:.1f} ms, "
            f"max {row['latency_ms_max']:.1f} ms"
        )
        return
    volumes = ", ".join(f"{t} °C {v:.2f} ml" for t, v in row["volumes_ml"].items())
    threads = row["threads"]
    print(
        f"{row['case']}: grid {row['grid']} ({row['voxels']:,} voxels), {threads} "
        f"thread{'s' if threads > 1 else ''}, median of {repeats}: wall {row['wall_s']:.3f} s "
        f"(CPU {row['cpu_s']:.3f} s, all threads), {row['stages']} stages in "
        f"{row['steps']} steps; peak memory of the call {row['traced_peak_mb']:.0f} MB traced "
        f"(+{row['peak_memory_mb']:.0f} MB resident); boundary drift "
        f"{row['boundary_drift_c']:.2f} °C; {volumes}"
    )
    print(f"    {_ratios(row)}")
    walls = ", ".join(f"{w:.3f}" for w in row["all_wall_s"])
    cpus = ", ".join(f"{c:.3f}" for c in row["all_cpu_s"])
    print(
        f"    every repeat: wall {walls} s; CPU {cpus} s. Not timed: first call in the "
        f"process (kernel load/compile) {row['first_call_s']:.2f} s, set-up build "
        f"{row['setup_s']:.3f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("1", "2", "mixed", "roi", "preview"))
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per case")
    parser.add_argument("--threads", default="1,2", help="thread counts to run, e.g. 1,2")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case here
    args = parser.parse_args()
    try:
        thread_counts = [int(n) for n in args.threads.split(",")]
    except ValueError:
        parser.error(f"--threads takes numbers separated by commas, got {args.threads!r}")
    if any(n < 1 for n in thread_counts):
        parser.error("--threads counts must be at least 1")
    if args.case:
        print(json.dumps(run_case(args.case, thread_counts[0])))
        return 0
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    print(
        "timed: simulate() on a prepared set-up after a warm-up run in the same process "
        "(numba first-call cost excluded, printed separately); "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    figures = {}
    for case in [args.only] if args.only else ["1", "2", "mixed", "roi", "preview"]:
        for threads in [1] if case == "preview" else thread_counts:
            rows = []
            for _ in range(args.repeat):
                output = subprocess.run(
                    [sys.executable, __file__, "--case", case, "--threads", str(threads)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                rows.append(json.loads(output.strip().splitlines()[-1]))
            figures[case, threads] = _median_row(rows)
            _print_row(figures[case, threads], args.repeat)
    if ("1", 1) in figures and ("2", 1) in figures:
        fine, coarse = figures["1", 1]["volumes_ml"], figures["2", 1]["volumes_ml"]
        for t in fine:
            print(
                f"isotherm {t} °C: 2 mm vs 1 mm volume {coarse[t]:.2f} vs {fine[t]:.2f} ml "
                f"({100.0 * (coarse[t] / fine[t] - 1.0):+.1f} %)"
            )
    print(f"load average after: {os.getloadavg()[0]:.2f} (2 cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
