"""``cryoplan evaluate PLAN``: recompute a (hand-edited) plan's metrics with the full simulation."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from planning_core.commands.common import (
    StderrProgress,
    add_box_margin_argument,
    add_json_flag,
    add_robustness_arguments,
    print_json,
)
from planning_core.commands.plan import plan_summary, print_plan_summary, print_plan_verdict
from planning_core.planning.case_files import load_plan_case, write_plan_case_files
from planning_core.planning.evaluate import evaluate_plan
from planning_core.planning.limits import settings_limit_warnings
from planning_core.planning.optimizer.robustness import assess_robustness
from planning_core.planning.plan_json import load_plan, save_plan
from planning_core.progress import sub_progress


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="recompute a plan's metrics (after editing probes, protocol or settings)",
        description="Load a plan with its image and label map, simulate it in full, recompute "
        "coverage, margin, organ-at-risk and path metrics (and optionally robustness), and "
        "save the plan with fresh metrics and simulation fields.",
    )
    parser.add_argument("plan", type=Path, help="plan file (.json) written by `cryoplan plan`")
    parser.add_argument(
        "--out", type=Path, help="write the evaluated plan here instead of over PLAN"
    )
    parser.add_argument(
        "--spacing-mm", type=float, default=1.0, help="simulation grid (default 1 mm)"
    )
    add_box_margin_argument(parser)
    add_robustness_arguments(parser, default_samples=0)
    add_json_flag(parser)
    parser.set_defaults(handler=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    progress = StderrProgress(enabled=not args.json or sys.stderr.isatty())
    plan = load_plan(args.plan)
    case = load_plan_case(plan, plan_path=args.plan)
    evaluation = evaluate_plan(
        plan, case.volume, case.label_map, spacing_mm=args.spacing_mm,
        box_margin_mm=args.box_margin_mm,
        progress=sub_progress(progress, 0.0, 0.7),
    )  # fmt: skip
    evaluated = evaluation.plan
    if args.robustness_samples > 0:
        robustness = assess_robustness(
            evaluated, case.volume, case.label_map, tip_error_mm=args.tip_error_mm,
            samples=args.robustness_samples, progress=sub_progress(progress, 0.7, 0.98),
        )  # fmt: skip
        evaluated = evaluated.with_metrics(
            dataclasses.replace(evaluated.metrics, robustness=robustness.summary)
        )
    out = args.out or args.plan
    evaluated = write_plan_case_files(
        evaluated, plan_path=out, label_map=case.label_map, simulation=evaluation.simulation
    )
    save_plan(evaluated, out)
    progress(1.0, f"Wrote {out}")
    # The case's warnings about unusable saved fields are moot after this evaluation.
    # The plan's warnings (image, segmentation, optimizer, this simulation) are saved with it.
    warnings = [*settings_limit_warnings(evaluated), *(str(w) for w in evaluated.warnings)]
    summary = plan_summary(
        evaluated, case.label_map, allow_leaving_image=case.volume.modality == "US"
    )
    summary.update(plan=str(out), warnings=warnings)
    if args.json:
        print_json(summary)
        return 0
    print_plan_summary(summary)
    for warning in warnings:
        print(f"warning: {warning}")
    print(f"wrote {out}")
    print_plan_verdict(summary)
    return 0
