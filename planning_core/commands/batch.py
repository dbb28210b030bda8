"""``cryoplan batch MANIFEST.csv --out DIR``: plan (and report) every case of a cohort on Dask.

A manifest row is a ``cryoplan plan`` call written as a table row: its columns
are the plan command's options (``max_probes`` for ``--max-probes``), parsed and
checked by the plan command's own parser and rules, and each case is planned by
:func:`~planning_core.commands.plan.plan_case`, the same function as ``cryoplan plan``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from planning_core.cohort.manifest import (
    CASE_COLUMN,
    LABELS_COLUMN,
    SEED_COLUMN,
    CohortCase,
    read_manifest,
    row_error,
)
from planning_core.cohort.results import PlanFigures
from planning_core.cohort.runner import LOCAL_SCHEDULER, CohortRun, run_cohort
from planning_core.commands.common import StderrProgress, add_json_flag, print_json
from planning_core.commands.plan import plan_case, plan_settings
from planning_core.commands.plan import register as register_plan
from planning_core.errors import InvalidParameterError
from planning_core.report.plan_report import report_plan

#: Plan options a manifest row cannot set: the batch decides where the plan goes and prints.
_NOT_ROW_OPTIONS = frozenset({"out", "json", "handler", CASE_COLUMN, SEED_COLUMN, LABELS_COLUMN})
_YES = frozenset({"1", "yes", "true", "y"})
_NO = frozenset({"0", "no", "false", "n"})


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="plan and report every case of a manifest (CSV) as Dask tasks; results as tables",
        description="Plan every case of MANIFEST.csv as a Dask distributed task, each as "
        "`cryoplan plan` would, and write its PDF report. Columns: case (DICOM folder, "
        "volume file or sample case name), tumor_seed (X,Y,Z in LPS mm) or labels (label "
        "map), optional id, and any `cryoplan plan` option by name (max_probes, margin_mm, "
        "goal ...). A failing case is retried once and recorded; running again plans only "
        "the cases not finished. Writes DIR/cases/ID/ (plan, report), DIR/results.csv, "
        "DIR/results.parquet and DIR/summary.png. Exit status 1 when a case failed.",
    )
    parser.add_argument(
        "manifest", type=Path, metavar="MANIFEST.csv", help="the manifest: a row per case"
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument(
        "--scheduler",
        default=LOCAL_SCHEDULER,
        metavar="local|ADDRESS",
        help="'local' (default): a Dask cluster on this machine for the run; or the address of "
        "a running Dask scheduler (tcp://HOST:8786), whose workers must share --out",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes of the local cluster (default: one per core, 4 GB each)",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=run_batch)


def run_batch(args: argparse.Namespace) -> int:
    cases = read_manifest(args.manifest)
    problems = []
    for case in cases:  # every row is checked before any case is planned
        try:
            plan_arguments(case, out=args.out / "check.json")
        except InvalidParameterError as error:
            problems.append(str(error))
    if problems:
        more = f" (and {len(problems) - 1} more row problem(s))" if len(problems) > 1 else ""
        raise InvalidParameterError(problems[0] + more)
    run = run_cohort(
        cases,
        task=plan_row,
        out_dir=args.out,
        scheduler=args.scheduler,
        workers=args.workers,
        progress=StderrProgress(enabled=not args.json or sys.stderr.isatty()),
    )
    if args.json:
        print_json(run_summary(run))
    else:
        print_run(run)
    return 1 if run.failed else 0


def plan_arguments(case: CohortCase, *, out: Path) -> argparse.Namespace:
    """The ``cryoplan plan`` flags of a manifest row, checked by the plan command's rules.

    Raises
    ------
    InvalidParameterError
        Naming the manifest's row and the column to change.
    """
    parser = _plan_parser()
    # FLAG=VALUE: a seed such as -73,40,-55 must not read as a flag.
    source = (
        f"--tumor-seed={case.tumor_seed}"
        if case.tumor_seed is not None
        else f"--labels={case.labels}"
    )
    base = [case.case, source, "--out", str(out)]
    try:
        defaults = vars(parser.parse_args(base))
    except InvalidParameterError as error:
        column = SEED_COLUMN if case.tumor_seed is not None else LABELS_COLUMN
        raise row_error(case, column, str(error)) from None
    options = sorted(set(defaults) - _NOT_ROW_OPTIONS)
    argv = list(base)
    for column, value in case.options.items():
        if column not in defaults or column in _NOT_ROW_OPTIONS:
            raise row_error(
                case, column, f"not a plan option; option columns are {', '.join(options)}"
            )
        flag = "--" + column.replace("_", "-")
        if isinstance(defaults[column], bool):  # a switch such as --organs
            if value.lower() not in _YES | _NO:
                raise row_error(case, column, f"{value!r} must be yes or no")
            words = [flag] if value.lower() in _YES else []
        else:
            words = [f"{flag}={value}"]
        try:  # alone first, so that the message names this column
            plan_settings(parser.parse_args(base + words))
        except InvalidParameterError as error:
            raise row_error(case, column, str(error)) from None
        argv.extend(words)
    return parser.parse_args(argv)


def plan_row(case: CohortCase, folder: Path) -> PlanFigures:
    """Plan a manifest row into ``folder`` (``plan.json`` with its files, ``report.pdf``)."""
    args = plan_arguments(case, out=folder / "plan.json")
    planned = plan_case(args, lambda fraction, message: None)
    report_path = folder / "report.pdf"
    report_plan(
        planned.plan, planned.volume, planned.label_map, out_path=report_path,
        simulation=planned.simulation, spacing_mm=args.verify_spacing_mm,
        box_margin_mm=args.box_margin_mm,
    )  # fmt: skip
    summary = planned.summary
    robustness = summary["robustness"]
    return PlanFigures(
        probes=summary["probe_count"],
        protocol=summary["protocol"],
        freeze_min=summary["total_freeze_min"],
        coverage_percent=summary["tumor_and_margin_coverage_percent"],
        minimal_margin_mm=summary["minimal_margin_mm"],
        organs=summary["organs_at_risk_check"],
        robustness_percent=None if robustness is None else 100.0 * robustness["probability"],
        goal=summary["goal"],
        passed=summary["passed"],
        failed_checks=summary["failed_checks"],
        plan=str(args.out),
        report=str(report_path),
    )


def run_summary(run: CohortRun) -> dict[str, Any]:
    """The ``--json`` payload: the rows, the cases kept from earlier runs, the files."""
    return {
        "cases": [result.flat() for result in run.results],
        "kept": list(run.kept),
        "failed": [result.case for result in run.failed],
        "workers": run.workers,
        "results_csv": str(run.csv_path),
        "results_parquet": str(run.parquet_path),
        "summary_figure": str(run.figure_path),
    }


def print_run(run: CohortRun) -> None:
    """One line per case, then the files written."""
    for result in run.results:
        kept = " (finished before)" if result.case in run.kept else ""
        figures = result.figures
        if figures is None:
            print(f"{result.case}: FAILED after {result.attempts} attempt(s): {result.error}")
            continue
        margin = figures.minimal_margin_mm
        checks = "plan checks pass" if figures.passed else "plan checks FAIL"
        print(
            f"{result.case}: {figures.probes} probe(s), {figures.protocol}, "
            f"{figures.coverage_percent:.1f} % covered, minimal margin "
            f"{'none' if margin is None else f'{margin:.1f} mm'}, {checks}, "
            f"{result.time_s:.0f} s, {result.peak_memory_mb:.0f} MiB{kept}"
        )
    planned = len(run.results) - len(run.failed)
    print(
        f"{planned} of {len(run.results)} case(s) planned, {len(run.failed)} failed; wrote "
        f"{run.csv_path}, {run.parquet_path.name}, {run.figure_path.name}"
    )


class _RaisingParser(argparse.ArgumentParser):
    """The plan command's parser for manifest rows: a bad value raises instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InvalidParameterError(message)


def _plan_parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="cryoplan", add_help=False)
    subparsers = root.add_subparsers(parser_class=_RaisingParser)
    register_plan(subparsers)
    return subparsers.choices["plan"]
