"""``cryoplan library``: training cases (list, import, export), reference plans, history."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from planning_core.atomic import atomic_path
from planning_core.commands.common import StderrProgress, add_json_flag, print_json
from planning_core.errors import InvalidParameterError
from planning_core.figures import format_score
from planning_core.imaging.case_sources import SAMPLE_CASE_KIND, named_cases
from planning_core.planning.plan_json import load_plan
from planning_core.planning.settings import TABLE_DIRECTION_LPS, PlanSettings
from planning_core.training.assessment import (
    DEFAULT_GRID_MM,
    evaluate_reference,
    optimize_reference,
)
from planning_core.training.database import LIBRARY_ENV, default_library_path, open_library
from planning_core.training.difficulty import proximity_text, size_text
from planning_core.training.history import best_per_case, history_plot_png, trainee_history
from planning_core.training.library import (
    LibraryCase,
    ensure_sample_cases,
    export_cases,
    get_case,
    import_case,
    import_exported_case,
    import_sample_case,
    is_exported_case,
    list_cases,
)
from planning_core.training.logbook import collect_logbook, write_logbook
from planning_core.training.outcomes import list_outcomes, write_outcomes_csv

#: ``cryoplan library import samples`` imports every sample case.
ALL_SAMPLES = "samples"


def add_library_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--library",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"library database (default: ${LIBRARY_ENV} or {default_library_path()})",
    )


def add_patient_position_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--patient-position",
        choices=sorted(TABLE_DIRECTION_LPS),
        help="patient position for --optimize (e.g. HFP for a posterior approach; default HFS)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "library",
        help="training case library: list, import, export cases; reference plans; history",
        description="Manage the resident-training case library (a local SQLite file): the "
        "sample cases are imported on first use; imported studies are stored as "
        "de-identified copies with their labels, difficulty tags and a reference plan.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="list the cases (imports the samples on first use)")
    listing.add_argument(
        "--no-samples",
        action="store_true",
        help="do not import the sample cases into an empty library",
    )
    add_library_option(listing)
    add_json_flag(listing)
    listing.set_defaults(handler=run_list)

    importing = actions.add_parser(
        "import",
        help="import a study + labels, an exported case folder, a sample case or 'samples'",
    )
    importing.add_argument(
        "path",
        help="DICOM folder or volume file (with --labels), a folder written by "
        "'library export', a sample case name, or 'samples' for all of them",
    )
    importing.add_argument("--labels", type=Path, help="label map on the image grid")
    importing.add_argument("--id", dest="case_id", help="case id (lowercase slug)")
    importing.add_argument("--title", help="title shown in the case list")
    importing.add_argument("--organ", help="host organ (found from the labels by default)")
    importing.add_argument("--description", default="", help="free-text description")
    importing.add_argument("--target", default="tumor", help="name of the tumor label")
    importing.add_argument(
        "--optimize",
        action="store_true",
        help="also let the optimizer make each imported case's reference plan (minutes per case)",
    )
    add_patient_position_option(importing)
    add_library_option(importing)
    add_json_flag(importing)
    importing.set_defaults(handler=run_import)

    exporting = actions.add_parser("export", help="copy cases (all by default) to a folder")
    exporting.add_argument("case_ids", nargs="*", metavar="ID", help="cases to export")
    exporting.add_argument("--out", type=Path, required=True, help="destination folder")
    add_library_option(exporting)
    add_json_flag(exporting)
    exporting.set_defaults(handler=run_export)

    reference = actions.add_parser(
        "reference", help="set a case's reference plan (an expert plan or the optimizer's)"
    )
    reference.add_argument("case_id", metavar="ID")
    source = reference.add_mutually_exclusive_group(required=True)
    source.add_argument("--plan", type=Path, help="plan file made on this case's image")
    source.add_argument("--optimize", action="store_true", help="let the optimizer plan it")
    reference.add_argument("--author", help="the attending who made --plan")
    add_patient_position_option(reference)
    reference.add_argument(
        "--grid-mm",
        type=float,
        default=DEFAULT_GRID_MM,
        help=f"simulation grid of the reference and of attempts (default {DEFAULT_GRID_MM:g} mm)",
    )
    add_library_option(reference)
    add_json_flag(reference)
    reference.set_defaults(handler=run_reference)

    history = actions.add_parser("history", help="a trainee's attempts and best score per case")
    history.add_argument("trainee", help="trainee name")
    history.add_argument("--plot", type=Path, help="write a PNG plot of the scores over time")
    add_library_option(history)
    add_json_flag(history)
    history.set_defaults(handler=run_history)

    logbook = actions.add_parser(
        "logbook", help="write a trainee's practice logbook (PDF: attempts, best scores, plot)"
    )
    logbook.add_argument("--trainee", required=True, help="trainee name")
    logbook.add_argument("--out", type=Path, required=True, metavar="FILE.pdf", help="PDF file")
    add_library_option(logbook)
    add_json_flag(logbook)
    logbook.set_defaults(handler=run_logbook)

    outcomes = actions.add_parser(
        "outcomes",
        help="ablation outcomes recorded by `cryoplan confirm --post --record` (predicted "
        "against actual zone, for calibrating the probe models)",
    )
    outcomes.add_argument("--csv", type=Path, metavar="FILE", help="also write them as CSV")
    add_library_option(outcomes)
    add_json_flag(outcomes)
    outcomes.set_defaults(handler=run_outcomes)


def run_outcomes(args: argparse.Namespace) -> int:
    with open_library(args.library) as connection:
        outcomes = list_outcomes(connection)
    if args.csv is not None:
        print(f"wrote {write_outcomes_csv(outcomes, args.csv)}")
    if args.json:
        print_json([outcome.as_dict() for outcome in outcomes])
        return 0
    if not outcomes:
        print("No outcomes recorded; record one with `cryoplan confirm PLAN --post DIR --record`.")
    for o in outcomes:
        print(
            f"{o.recorded_at[:16]}  {o.organ_site or '-':<8} {','.join(o.probe_models):<24} "
            f"{o.protocol:<12} predicted {o.predicted_volume_ml:6.1f} ml, actual "
            f"{o.actual_volume_ml:6.1f} ml, residual {o.mean_signed_residual_mm:+.1f} mm, "
            f"Dice {o.dice:.2f}, MAM {o.minimal_ablative_margin_mm:+.1f} mm  {o.plan_path}"
        )
    return 0


def _progress() -> StderrProgress:
    return StderrProgress(enabled=sys.stderr.isatty())


def _case_line(case: LibraryCase) -> str:
    tags = case.tags
    reference = (
        "no reference plan"
        if case.reference_author is None
        else f"reference by {case.reference_author}"
    )
    return (
        f"{case.id:<12} {case.organ:<14} {case.modality:<3} {size_text(tags):<20} "
        f"{tags.difficulty:<13} {proximity_text(tags):<36} {reference}  {case.title}"
    )


def run_list(args: argparse.Namespace) -> int:
    with open_library(args.library) as connection:
        if not args.no_samples and not list_cases(connection):
            ensure_sample_cases(connection, progress=_progress())
        cases = list_cases(connection)
    if args.json:
        print_json([case.as_dict() for case in cases])
        return 0
    if not cases:
        print("The library is empty; add cases with `cryoplan library import`.")
    for case in cases:
        print(_case_line(case))
    return 0


def run_import(args: argparse.Namespace) -> int:
    path = Path(args.path)
    progress = _progress()
    with open_library(args.library) as connection:
        if args.path == ALL_SAMPLES and not path.exists():
            cases = ensure_sample_cases(connection, progress=progress)
        elif args.path in named_cases(SAMPLE_CASE_KIND) and not path.exists():
            cases = (import_sample_case(connection, args.path, progress=progress),)
        elif path.is_dir() and is_exported_case(path):
            cases = (
                import_exported_case(connection, path, case_id=args.case_id, progress=progress),
            )
        else:
            if args.labels is None:
                raise InvalidParameterError(
                    f"{path}: give the label map with --labels (tumor and organs on the "
                    "image grid)."
                )
            cases = (
                import_case(
                    connection, path, args.labels, case_id=args.case_id, title=args.title,
                    organ=args.organ, description=args.description, target_label=args.target,
                    progress=progress,
                ),
            )  # fmt: skip
        if args.optimize:
            settings = PlanSettings(patient_position=args.patient_position or "HFS")
            cases = tuple(
                optimize_reference(connection, case.id, settings=settings, progress=progress)
                for case in cases
            )
    if args.json:
        print_json([case.as_dict() for case in cases])
    else:
        for case in cases:
            print(f"imported {_case_line(case)}")
        if not cases:
            print("nothing to import: the library already has every sample case.")
    return 0


def run_export(args: argparse.Namespace) -> int:
    with open_library(args.library) as connection:
        folders = export_cases(connection, args.out, case_ids=tuple(args.case_ids) or None)
    if args.json:
        print_json([str(folder) for folder in folders])
    else:
        for folder in folders:
            print(f"exported {folder}")
    return 0


def run_reference(args: argparse.Namespace) -> int:
    progress = _progress()
    with open_library(args.library) as connection:
        get_case(connection, args.case_id)
        if args.optimize:
            if args.author:
                raise InvalidParameterError(
                    "--author goes with --plan; --optimize is by the optimizer."
                )
            settings = PlanSettings(patient_position=args.patient_position or "HFS")
            case = optimize_reference(
                connection, args.case_id, settings=settings, spacing_mm=args.grid_mm,
                progress=progress,
            )  # fmt: skip
        else:
            if not args.author:
                raise InvalidParameterError("--author must name the attending who made --plan.")
            if args.patient_position:
                raise InvalidParameterError(
                    "--patient-position goes with --optimize; a plan file has its own settings."
                )
            case = evaluate_reference(
                connection, args.case_id, load_plan(args.plan), author=args.author,
                spacing_mm=args.grid_mm, progress=progress,
            )  # fmt: skip
    if args.json:
        print_json(case.as_dict())
    else:
        print(f"reference plan of {case.id} by {case.reference_author}: {case.reference_plan_path}")
    return 0


def run_history(args: argparse.Namespace) -> int:
    with open_library(args.library) as connection:
        attempts = trainee_history(connection, args.trainee)
    bests = best_per_case(attempts)
    if args.plot is not None:
        png = history_plot_png(attempts, trainee=args.trainee)
        try:
            with atomic_path(args.plot) as temporary:
                temporary.write_bytes(png)
        except OSError as error:
            raise InvalidParameterError(
                f"{args.plot}: cannot write the plot ({error.strerror or error}); choose "
                "another --plot file."
            ) from error
    if args.json:
        print_json(
            {
                "trainee": args.trainee,
                "attempts": [
                    {
                        "id": a.id,
                        "case_id": a.case_id,
                        "score": a.score,
                        "submitted_at": a.submitted_at,
                        "duration_s": a.duration_s,
                    }
                    for a in attempts
                ],
                "best_per_case": [vars(best) for best in bests],
                "plot": None if args.plot is None else str(args.plot),
            }
        )
        return 0
    for attempt in attempts:
        spent = "" if attempt.duration_s is None else f"  {attempt.duration_s / 60:.0f} min"
        print(
            f"#{attempt.id:<5} {attempt.submitted_at}  {attempt.case_id:<12} "
            f"{format_score(attempt.score):>5}{spent}"
        )
    for best in bests:
        print(f"best on {best.case_id}: {format_score(best.best_score)} ({best.attempts} attempts)")
    return 0


def run_logbook(args: argparse.Namespace) -> int:
    with open_library(args.library) as connection:
        path = write_logbook(connection, args.trainee, args.out)
        logbook = collect_logbook(connection, args.trainee)
    if args.json:
        print_json(
            {
                "trainee": logbook.trainee,
                "path": str(path),
                "attempts": len(logbook.attempts),
                "cases": len(logbook.bests),
            }
        )
    else:
        print(
            f"logbook of {logbook.trainee} ({len(logbook.attempts)} attempts on "
            f"{len(logbook.bests)} cases): {path}"
        )
    return 0
