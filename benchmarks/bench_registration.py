"""Registration of the confirmation sample CTs to their planning CTs: error and time.

For every CT sample case, stage (intra-procedural, post-ablation) and variant the
follow-up CT is registered rigidly and then deformably (restricted to the organ
that holds the tumor, as both confirmations choose it), and
the error is measured on the truth's check points (organ surface and tumor,
planning frame) and, for the intra-procedural CT, at the placed probes' tips.
Prints per case: generation time (0 when cached), registration wall and CPU
time (all threads; on a loaded machine the CPU time is the steadier figure), the
machine's load average,
quality verdict and surface distance, and the mean / largest check-point error
in mm. Issue 20's goal: registration error <= 2 mm on the synthetic cases.

Run: ``python benchmarks/bench_registration.py [--cases kidney liver ...]
[--stages intra post] [--variants complete incomplete] [--rigid-only] [--threads N]``.
"""

from __future__ import annotations

import argparse
import os
import time

from thread_limit import limit_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=None)
    parser.add_argument("--stages", nargs="*", default=["intra", "post"])
    parser.add_argument("--variants", nargs="*", default=["complete", "incomplete"])
    parser.add_argument("--rigid-only", action="store_true")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    limit_threads(args.threads)

    import numpy as np
    from cryoplan_samples import ensure_sample_case
    from cryoplan_samples.confirmation import ensure_confirmation_case
    from cryoplan_samples.ct_cases import CT_CASES

    from planning_core.confirm.host_organ import host_organ_mask
    from planning_core.confirm.registration import register_follow_up
    from planning_core.imaging.loader import load_image
    from planning_core.planning.plan_json import load_plan

    print(
        f"{'case':18s} {'stage':6s} {'variant':10s} {'gen_s':>6s} {'reg_s':>6s} {'cpu_s':>6s} "
        f"{'load':>5s} {'method':10s} "
        f"{'verdict':8s} {'surf_mm':>7s} {'mean_mm':>7s} {'max_mm':>7s} {'tips_mm':>7s} "
        f"{'motion_mm':>9s}"
    )
    worst = 0.0
    for name in args.cases or list(CT_CASES):
        base = ensure_sample_case(name)
        planning = load_image(base.image_path)
        labels = base.load_labels(planning.geometry)
        tumor = labels.mask("tumor")
        for stage, variant in ((s, v) for s in args.stages for v in args.variants):
            started = time.perf_counter()
            case = ensure_confirmation_case(name, stage, variant=variant)
            organ = host_organ_mask(load_plan(case.plan_path), labels)
            generation_s = time.perf_counter() - started
            follow_up = load_image(case.ct_dir)
            load_average = os.getloadavg()[0]
            started = time.perf_counter()
            cpu_started = time.process_time()
            registration = register_follow_up(
                planning,
                follow_up,
                organ_mask=organ,
                target_mask=tumor,
                deformable=not args.rigid_only,
            )
            registration_s = time.perf_counter() - started
            cpu_s = time.process_time() - cpu_started
            motion = case.truth["motion"]
            planning_points = np.array([p["planning_lps_mm"] for p in motion["check_points"]])
            follow_points = np.array([p["follow_up_lps_mm"] for p in motion["check_points"]])
            errors = np.linalg.norm(
                registration.follow_up_to_planning_lps(follow_points) - planning_points, axis=1
            )
            tips = [
                np.linalg.norm(
                    registration.follow_up_to_planning_lps(probe["follow_up_tip_lps_mm"])
                    - np.asarray(probe["tip_lps_mm"])
                )
                for probe in case.truth.get("placed_probes", [])
            ]
            surface = registration.quality.surface_distance_mm
            print(
                f"{name:18s} {stage:6s} {variant:10s} {generation_s:6.1f} {registration_s:6.1f} "
                f"{cpu_s:6.1f} {load_average:5.1f} {registration.method:10s} "
                f"{registration.quality.verdict:8s} "
                f"{'n/a' if surface is None else f'{surface:.2f}':>7s} {errors.mean():7.2f} "
                f"{errors.max():7.2f} {'-' if not tips else f'{max(tips):.2f}':>7s} "
                f"{motion['max_deformation_mm']:9.1f}",
                flush=True,
            )
            worst = max(worst, float(errors.max()))
    print(f"worst check-point error {worst:.2f} mm (goal 2)")


if __name__ == "__main__":
    main()
