"""``cryoplan confirm --intra`` on the confirmation sample cases: errors against the truth, time.

For every CT sample case (and variant) the intra-procedural confirmation runs as
the command runs it (registration included, the elapsed time from the series
time and the truth's freeze start), and its findings are compared with the
truth, in the planning frame:

* tip error (mm) and shaft angle (degrees) of each detected probe against the
  probe as placed; issue 20's goals: tips within 1.5 mm, shafts within 3 degrees;
* visible-ice volume against the truth's (goal: within 15 %);
* the registration error: mean and largest distance between the truth's check
  points (organ surface and tumor) mapped back by the registration and where
  they belong (goal: <= 2 mm);
* the whole confirmation's wall time (goal: <= 30 s on 2 cores), split into
  loading, registration and the rest, and the CPU time of the process (all
  threads, ITK's included) beside it with the machine's load average: on a
  shared machine the wall time grows with the load, the CPU time hardly.

Run: ``python benchmarks/bench_confirm_intra.py [--cases kidney liver ...]
[--variants complete incomplete] [--threads N]``. The thread count of the
thermal engine and registration follows ``NUMBA_NUM_THREADS`` /
``OMP_NUM_THREADS`` as usual; ``--threads`` sets both before anything loads.
"""

from __future__ import annotations

import argparse
import math
import os
import time

from thread_limit import limit_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=None)
    parser.add_argument("--variants", nargs="*", default=["complete", "incomplete"])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    limit_threads(args.threads)

    import numpy as np
    from cryoplan_samples.confirmation import ensure_confirmation_case
    from cryoplan_samples.ct_cases import CT_CASES

    from planning_core.confirm.as_placed import elapsed_from_times
    from planning_core.confirm.intra import confirm_intra
    from planning_core.confirm.probe_matching import angle_between_deg
    from planning_core.imaging.loader import load_image
    from planning_core.planning.case_files import load_plan_case
    from planning_core.planning.plan_json import load_plan

    cases = args.cases or list(CT_CASES)
    nan = float("nan")
    print(
        f"{'case':16s} {'variant':10s} {'probes':>6s} {'tip_max':>7s} {'ang_max':>7s} "
        f"{'ice_ml':>7s} {'true_ml':>7s} {'ice_%':>6s} {'edge_mm':>7s} {'reg_mm':>6s} "
        f"{'regmax':>6s} {'load_s':>6s} {'reg_s':>6s} {'total_s':>7s} {'cpu_s':>6s} "
        f"{'loadavg':>7s} cpu: {'reg':>5s} {'sim':>5s} {'ice':>5s} {'opts':>5s} action"
    )
    worst = {"tip": 0.0, "angle": 0.0, "ice": 0.0, "registration": 0.0, "total": 0.0, "cpu": 0.0}
    for name in cases:
        for variant in args.variants:
            case = ensure_confirmation_case(name, "intra", variant=variant)
            truth = case.truth
            load_average = os.getloadavg()[0]
            started = time.perf_counter()
            cpu_started = time.process_time()
            plan = load_plan(case.plan_path)
            planning = load_plan_case(plan, plan_path=case.plan_path)
            intra = load_image(case.ct_dir)
            taken = str(intra.metadata.get("acquisition_time") or intra.metadata["series_time"])
            elapsed_s = elapsed_from_times(taken, str(truth["freeze_started_at"]))
            load_s = time.perf_counter() - started
            marks: dict[str, float] = {}

            def progress(
                fraction: float, message: str, marks=marks, started=started, cpu_started=cpu_started
            ) -> None:
                # confirm_intra's progress: detection to 0.05, registration to 0.4, the
                # as-placed simulation to 0.6, visible ice to 0.65, the options to 1.
                for name_, edge in (("reg", 0.4), ("sim", 0.6), ("ice", 0.65)):
                    if fraction >= edge and name_ not in marks:
                        marks[name_] = time.perf_counter() - started
                        marks[name_ + "_cpu"] = time.process_time() - cpu_started
                if fraction >= 0.05 and "detect_cpu" not in marks:
                    marks["detect_cpu"] = time.process_time() - cpu_started

            result = confirm_intra(
                plan, planning.volume, planning.label_map, intra, elapsed_s=elapsed_s,
                progress=progress,
            )  # fmt: skip
            total_s = time.perf_counter() - started
            cpu_s = time.process_time() - cpu_started
            motion = truth["motion"]
            registration_errors = np.linalg.norm(
                result.registration.follow_up_to_planning_lps(
                    [p["follow_up_lps_mm"] for p in motion["check_points"]]
                )
                - np.array([p["planning_lps_mm"] for p in motion["check_points"]]),
                axis=1,
            )
            placed = {p["plan_probe"]: p for p in truth["placed_probes"]}
            tips, angles = [], []
            for report in result.placed:
                true = placed.get(report.plan_label)
                if true is None:
                    continue
                tips.append(math.dist(report.tip_lps_mm, true["tip_lps_mm"]))
                axis = np.subtract(true["tip_lps_mm"], true["entry_lps_mm"])
                angles.append(angle_between_deg(report.direction_lps, axis))
            true_ml = float(truth["visible_ice_volume_ml"])
            ice_ml = result.visible_ice.volume_ml
            ice_percent = 100.0 * (ice_ml / true_ml - 1.0) if true_ml > 0 else float("nan")
            comparison = result.ice_comparison
            edge = float("nan") if comparison is None else comparison.mean_signed_mm
            found = f"{len(tips)}/{len(placed)}"
            tip_max = max(tips, default=float("nan"))
            angle_max = max(angles, default=float("nan"))
            print(
                f"{name:16s} {variant:10s} {found:>6s} {tip_max:7.2f} {angle_max:7.2f} "
                f"{ice_ml:7.1f} {true_ml:7.1f} {ice_percent:+6.1f} {edge:+7.2f} "
                f"{registration_errors.mean():6.2f} {registration_errors.max():6.2f} {load_s:6.1f} "
                f"{marks.get('reg', nan) - load_s:6.1f} {total_s:7.1f} {cpu_s:6.1f} "
                f"{load_average:7.1f}      "
                f"{marks.get('reg_cpu', nan) - marks.get('detect_cpu', nan):5.1f} "
                f"{marks.get('sim_cpu', nan) - marks.get('reg_cpu', nan):5.1f} "
                f"{marks.get('ice_cpu', nan) - marks.get('sim_cpu', nan):5.1f} "
                f"{cpu_s - marks.get('ice_cpu', nan):5.1f} "
                f"{result.recommendation.chosen.kind if result.recommendation.chosen else '-'}",
                flush=True,
            )
            worst["tip"] = max(worst["tip"], tip_max)
            worst["angle"] = max(worst["angle"], angle_max)
            worst["ice"] = max(worst["ice"], abs(ice_percent))
            worst["registration"] = max(worst["registration"], registration_errors.max())
            worst["total"] = max(worst["total"], total_s)
            worst["cpu"] = max(worst["cpu"], cpu_s)
    print(
        f"worst: tip {worst['tip']:.2f} mm (goal 1.5), angle {worst['angle']:.2f} deg (goal 3), "
        f"visible ice {worst['ice']:.1f} % (goal 15), registration {worst['registration']:.2f} "
        f"mm (goal 2), total {worst['total']:.1f} s wall, {worst['cpu']:.1f} s CPU (goal 30)"
    )


if __name__ == "__main__":
    main()
