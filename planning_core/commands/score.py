"""``cryoplan score ATTEMPT.json --case ID``: scripted assessment of a practice attempt."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from planning_core.commands.common import StderrProgress, add_json_flag, print_json
from planning_core.commands.library import add_library_option
from planning_core.figures import format_score
from planning_core.imaging.case_sources import SAMPLE_CASE_KIND, named_cases
from planning_core.training.assessment import assess_plan
from planning_core.training.attempts import load_attempt, record_attempt
from planning_core.training.database import open_library
from planning_core.training.library import (
    DuplicateCaseError,
    UnknownCaseError,
    get_case,
    import_sample_case,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score a practice attempt against a library case's reference plan",
        description="Simulate the attempt's probes and protocol on the library case (on the "
        "reference plan's grid, with the case's margin, isotherm and clearances) and print "
        "the 0-100 score, its breakdown and feedback. The attempt is stored in the trainee's "
        "history only with --record.",
    )
    parser.add_argument("attempt", type=Path, help="attempt file (a plan file, see docs)")
    parser.add_argument(
        "--case", dest="case_id", help="library case id (default: the attempt's case_id)"
    )
    parser.add_argument("--trainee", help="trainee name (default: the attempt's trainee)")
    parser.add_argument(
        "--record", action="store_true", help="store the scored attempt in the trainee's history"
    )
    add_library_option(parser)
    add_json_flag(parser)
    parser.set_defaults(handler=run_score)


def run_score(args: argparse.Namespace) -> int:
    attempt = load_attempt(args.attempt, case_id=args.case_id)
    if args.trainee:
        attempt = dataclasses.replace(attempt, trainee=args.trainee)
    progress = StderrProgress(enabled=sys.stderr.isatty())
    record_id = None
    with open_library(args.library) as connection:
        try:
            case = get_case(connection, attempt.case_id)
        except UnknownCaseError:
            if attempt.case_id not in named_cases(SAMPLE_CASE_KIND):
                raise
            try:
                case = import_sample_case(connection, attempt.case_id)  # first use of a sample
            except DuplicateCaseError:  # imported meanwhile by another window or command
                case = get_case(connection, attempt.case_id)
        assessment = assess_plan(case, attempt.plan, progress=progress)
        if args.record:
            record_id = record_attempt(
                connection, attempt, assessment.evaluation.plan, assessment.score
            ).id
    score = assessment.score
    if args.json:
        print_json(
            {
                "case_id": case.id,
                "trainee": attempt.trainee,
                **score.as_dict(),
                "undertreated": [dataclasses.asdict(r) for r in assessment.undertreated],
                "warnings": list(assessment.evaluation.warnings),
                "recorded_attempt_id": record_id,
            }
        )
        return 0
    print(f"{attempt.trainee} on {case.id}: score {format_score(score.total)} / 100")
    for item in score.components:
        print(f"  {item.name:<26} {item.points:5.1f} / {item.max_points:4.1f}  {item.detail}")
    for item in score.penalties:
        print(f"  {item.name:<26} {item.points:5.1f}          {item.detail}")
    print("Feedback:")
    for sentence in score.feedback:
        print(f"  - {sentence}")
    if record_id is not None:
        print(f"recorded as attempt #{record_id}")
    return 0
