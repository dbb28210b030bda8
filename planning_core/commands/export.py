"""``cryoplan export PLAN --dicom DIR [--deidentify]``: DICOM SEG, report and key images."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from planning_core.commands.common import StderrProgress, add_json_flag, print_json
from planning_core.commands.report import add_evaluation_arguments
from planning_core.imaging.deidentify import Deidentifier
from planning_core.progress import sub_progress
from planning_core.report.build import build_report
from planning_core.report.dicom_export import (
    check_deidentified_folder,
    export_plan_dicom,
    reference_dataset,
)
from planning_core.report.inputs import load_report_inputs


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a plan as DICOM objects in the planning CT's study",
        description="Write into a folder: DICOM SEG of tumor and organs at risk, of the "
        "ablation margin and of the predicted iceball (temperature bands), the PDF report as "
        "Encapsulated PDF, and the key images as Secondary Capture, all in the study of the "
        "planning CT and referencing its series. Needs a plan made on a DICOM series. With "
        "--deidentify every object follows the DICOM PS3.15 basic de-identification profile "
        "and the de-identified CT series is written into DIR/CT for the SEGs to reference.",
    )
    parser.add_argument("plan", type=Path, help="plan file (*.cryoplan.json)")
    parser.add_argument("--dicom", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--pdf", type=Path, default=None, help="also keep the PDF report at this path"
    )
    parser.add_argument(
        "--deidentify",
        action="store_true",
        help="remove the patient's identifiers (pseudonym, shifted dates, new UIDs, the "
        "de-identified report) and write the de-identified CT into DIR/CT",
    )
    add_evaluation_arguments(parser)
    add_json_flag(parser)
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    progress = StderrProgress(enabled=not args.json or sys.stderr.isatty())
    inputs = load_report_inputs(
        args.plan, spacing_mm=args.spacing_mm, box_margin_mm=args.box_margin_mm,
        progress=sub_progress(progress, 0.0, 0.4),
    )  # fmt: skip
    reference_dataset(inputs.volume)  # refuse non-DICOM images before any work
    if args.deidentify:
        check_deidentified_folder(args.dicom)
    with tempfile.TemporaryDirectory(prefix="cryoplan-export-") as scratch:
        report = build_report(
            inputs.plan,
            inputs.volume,
            inputs.label_map,
            dose=inputs.dose,
            out_path=args.pdf or Path(scratch) / "report.pdf",
            deidentify=args.deidentify,
            warnings=inputs.warnings,
            progress=sub_progress(progress, 0.4, 0.6),
        )
        exported = export_plan_dicom(
            inputs.plan,
            inputs.volume,
            inputs.label_map,
            inputs.dose,
            report,
            args.dicom,
            deidentifier=Deidentifier.random() if args.deidentify else None,
            progress=sub_progress(progress, 0.6, 1.0),
        )
    if args.json:
        print_json(exported.as_dict())
    else:
        kind = "de-identified " if exported.deidentified else ""
        print(
            f"Exported {len(exported.objects)} {kind}DICOM objects to {exported.folder} "
            f"(study {exported.study_instance_uid})."
        )
    return 0
