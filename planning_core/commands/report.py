"""``cryoplan report PLAN --out FILE.pdf``: the clinical-style PDF report of a plan."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from planning_core.commands.common import (
    StderrProgress,
    add_box_margin_argument,
    add_json_flag,
    print_json,
)
from planning_core.progress import sub_progress
from planning_core.report.inputs import load_report_case
from planning_core.report.plan_report import report_plan


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write the PDF report of a plan",
        description="Write a paginated A4 PDF report of a plan: summary with pass/fail checks, "
        "target, probes, protocol, metrics, temperature-volume histogram, robustness, key "
        "images, views along each probe, 3-D overview, warnings and assumptions. Missing or "
        "stale metrics and temperature fields are recomputed first (and the report says so).",
    )
    parser.add_argument("plan", type=Path, help="plan file (*.cryoplan.json)")
    parser.add_argument("--out", required=True, type=Path, help="the PDF file to write")
    add_evaluation_arguments(parser)
    parser.add_argument(
        "--deidentify",
        action="store_true",
        help="leave out patient identifiers, dates, image descriptions, the plan's name and "
        "notes, and file paths (a banner on every page says so)",
    )
    parser.add_argument(
        "--planned-by",
        metavar="NAME",
        help="who made the plan, printed in the sign-off lines (default: the plan's; "
        "none leaves a line to sign)",
    )
    parser.add_argument(
        "--approved-by",
        metavar="NAME",
        help="who approved the plan (default: the plan's; none leaves a line to sign)",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=run_report)


def add_evaluation_arguments(parser: argparse.ArgumentParser) -> None:
    """``--spacing-mm`` and ``--box-margin-mm`` of a re-evaluation (``report`` and ``export``)."""
    parser.add_argument(
        "--spacing-mm",
        type=float,
        default=1.0,
        help="simulation grid spacing when the plan must be re-evaluated (default 1 mm)",
    )
    add_box_margin_argument(parser)


def run_report(args: argparse.Namespace) -> int:
    progress = StderrProgress(enabled=not args.json or sys.stderr.isatty())
    case = load_report_case(args.plan, progress=progress)
    report = report_plan(
        case.plan,
        case.volume,
        case.label_map,
        out_path=args.out,
        simulation=case.simulation,
        spacing_mm=args.spacing_mm,
        box_margin_mm=args.box_margin_mm,
        warnings=case.warnings,
        deidentify=args.deidentify,
        planned_by=args.planned_by,
        approved_by=args.approved_by,
        progress=sub_progress(progress, 0.1, 1.0),
    )
    output = report.output
    summary = {
        "report": str(output.path),
        "passed": output.content.passed,
        "not_assessed": list(output.content.not_assessed),
        "organ_site": output.content.metrics.organ_site,
        "organs_not_assessed": list(output.content.metrics.not_assessed),
        "checks": [
            {
                "name": c.name,
                "value": c.value,
                "requirement": c.goal,
                "passed": c.passed,
                "status": c.status,
            }
            for c in output.content.checks
        ],
        "recomputed": report.recomputed,
        "warnings": list(output.content.warnings),
    }
    if args.json:
        print_json(summary)
    else:
        print(f"Report written to {output.path} ({output.content.verdict}).")
    return 0
