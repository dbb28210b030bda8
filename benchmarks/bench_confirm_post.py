"""Post-ablation confirmation on the confirmation sample cases: time and error against truth.

For each CT sample case and variant (complete, incomplete) this generates the
post-ablation CT (patient moved, organ deformed; cached), runs
``confirm_post`` (registration, zone, margin, plan against result, DICOM SEG +
SR) and the PDF report, and prints per case:

* the wall time of the analysis and of the PDF, and the CPU time of the
  analysis (all threads, ITK's included) with the machine's load average: on a
  shared machine the wall time grows with the load, the CPU time hardly
  (issue 21's goal: the whole analysis <= 60 s on 2 cores);
* the registration error: mean and largest distance between the truth's check
  points mapped back by the registration and where they belong;
* the minimal ablative margin found, the truth (surface to surface: marching
  cubes on the true tumor mask and on the zone's level set) and their
  difference, with the voxel-centre figure (up to a voxel larger) beside it;
* the shell coverage and the zone volume against the truth;
* the registration's verdict.

Usage::

    python benchmarks/bench_confirm_post.py [--cases kidney liver ...] [--variants complete]
        [--threads N]

Figures only, no assertions; the machine's load changes the times.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from thread_limit import limit_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=None)
    parser.add_argument("--variants", nargs="+", default=["complete", "incomplete"])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    limit_threads(args.threads)

    import numpy as np
    from cryoplan_samples.confirmation import ensure_confirmation_case
    from cryoplan_samples.ct_cases import CT_CASES

    from planning_core.confirm.post import confirm_post
    from planning_core.errors import PlanningError
    from planning_core.report.confirmation_pdf import write_confirmation_pdf

    print(
        f"{'case':<27} {'wall s':>7} {'cpu s':>6} {'load':>5} {'pdf s':>6} {'MAM':>6} "
        f"{'truth':>6} {'diff':>6} {'vc':>6} {'shell %':>7} {'truth':>6} {'zone mL':>8} "
        f"{'truth':>7} "
        f"{'reg_mm':>6} {'regmax':>6} registration"
    )
    worst = {"mam": 0.0, "registration": 0.0, "wall": 0.0, "cpu": 0.0, "failed": 0}
    for name in args.cases or list(CT_CASES):
        for variant in args.variants:
            started = time.perf_counter()
            case = ensure_confirmation_case(name, "post", variant=variant)
            generated_s = time.perf_counter() - started
            truth = case.truth
            with tempfile.TemporaryDirectory() as scratch:
                load_average = os.getloadavg()[0]
                started = time.perf_counter()
                cpu_started = time.process_time()
                try:
                    result = confirm_post(case.plan_path, case.ct_dir, dicom_dir=Path(scratch))
                except PlanningError as error:
                    print(f"{name + '-' + variant:<27} FAILED: {error}", flush=True)
                    worst["failed"] += 1
                    continue
                wall_s = time.perf_counter() - started
                cpu_s = time.process_time() - cpu_started
                started = time.perf_counter()
                write_confirmation_pdf(result, Path(scratch) / "confirmation.pdf")
                pdf_s = time.perf_counter() - started
            margin = result.margin
            true_mam = float(truth["minimal_ablative_margin_mm"])
            check_points = truth["motion"]["check_points"]
            registration_errors = np.linalg.norm(
                result.registration.follow_up_to_planning_lps(
                    [p["follow_up_lps_mm"] for p in check_points]
                )
                - np.array([p["planning_lps_mm"] for p in check_points]),
                axis=1,
            )
            print(
                f"{name + '-' + variant:<27} {wall_s:7.1f} {cpu_s:6.1f} {load_average:5.1f} "
                f"{pdf_s:6.1f} "
                f"{margin.minimal_margin_mm:6.2f} {true_mam:6.2f} "
                f"{margin.minimal_margin_mm - true_mam:+6.2f} "
                f"{float(truth['minimal_ablative_margin_voxel_centres_mm']):6.2f} "
                f"{margin.shell_coverage_percent:7.1f} "
                f"{float(truth['shell_5mm_coverage_percent']):6.1f} "
                f"{margin.zone_volume_ml:8.2f} "
                f"{float(truth['ablation_zone_volume_planning_ml']):7.2f} "
                f"{registration_errors.mean():6.2f} {registration_errors.max():6.2f} "
                f"{result.registration.method} {result.registration.quality.verdict}"
                f" (case generated in {generated_s:.0f} s)",
                flush=True,
            )
            for warning in result.warnings:
                print(f"    warning: {warning}")
            worst["mam"] = max(worst["mam"], abs(margin.minimal_margin_mm - true_mam))
            worst["registration"] = max(worst["registration"], registration_errors.max())
            worst["wall"] = max(worst["wall"], wall_s)
            worst["cpu"] = max(worst["cpu"], cpu_s)
    print(
        f"worst: MAM {worst['mam']:.2f} mm from the truth (goal 1), registration "
        f"{worst['registration']:.2f} mm (goal 2), analysis {worst['wall']:.1f} s wall, "
        f"{worst['cpu']:.1f} s CPU (goal 60); {worst['failed']} case(s) failed"
    )


if __name__ == "__main__":
    main()
