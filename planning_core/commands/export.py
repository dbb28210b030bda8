"""``cryoplan export PLAN --dicom DIR [--deidentify] | --pacs HOST:PORT:AET | --dicomweb URL``.

Writes the DICOM SEG, the report and the key images, and sends them into the
planning CT's study on a PACS node or DICOMweb server.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from planning_core.commands.common import StderrProgress, add_json_flag, print_json
from planning_core.commands.pacs import node_from_arguments
from planning_core.commands.report import add_evaluation_arguments
from planning_core.errors import InvalidParameterError
from planning_core.imaging.deidentify import Deidentifier
from planning_core.imaging.pacs import Node
from planning_core.progress import ProgressCallback, sub_progress
from planning_core.report.build import build_report
from planning_core.report.dicom_export import (
    DicomExport,
    check_deidentified_folder,
    export_plan_dicom,
    reference_dataset,
)
from planning_core.report.inputs import load_report_inputs
from planning_core.report.pacs_send import send_export


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a plan as DICOM objects in the planning CT's study",
        description="Write into a folder: DICOM SEG of tumor and organs at risk, of the "
        "ablation margin and of the predicted iceball (temperature bands), the PDF report as "
        "Encapsulated PDF, and the key images as Secondary Capture, all in the study of the "
        "planning CT and referencing its series. Needs a plan made on a DICOM series. With "
        "--deidentify every object follows the DICOM PS3.15 basic de-identification profile "
        "and the de-identified CT series is written into DIR/CT for the SEGs to reference. "
        "With --pacs or --dicomweb the objects are sent into the planning CT's study on "
        "that node (with or without --dicom).",
    )
    parser.add_argument("plan", type=Path, help="plan file (*.cryoplan.json)")
    parser.add_argument("--dicom", type=Path, default=None, help="output folder")
    parser.add_argument(
        "--pacs",
        metavar="HOST:PORT:AET",
        default=None,
        help="send the objects to this DIMSE node (C-STORE), or to the configured node of "
        "this name",
    )
    parser.add_argument(
        "--dicomweb",
        metavar="URL",
        default=None,
        help="send the objects to this DICOMweb server (STOW-RS), or to the configured "
        "server of this name",
    )
    parser.add_argument(
        "--calling-aet", metavar="AET", default=None, help="our AE title with --pacs"
    )
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
    node = _destination_node(args)
    if args.dicom is None and node is None:
        raise InvalidParameterError(
            "export: give --dicom DIR, --pacs HOST:PORT:AET or --dicomweb URL (or several)."
        )
    if node is not None and args.deidentify:
        raise InvalidParameterError(
            "--deidentify makes a new study, so its objects cannot go into the source study "
            "with --pacs/--dicomweb; export the de-identified objects with --dicom only."
        )
    progress = StderrProgress(enabled=not args.json or sys.stderr.isatty())
    with tempfile.TemporaryDirectory(prefix="cryoplan-export-") as scratch:
        folder = args.dicom if args.dicom is not None else Path(scratch) / "dicom"
        exported = _export(args, folder, sub_progress(progress, 0.0, 0.8 if node else 1.0))
        report = None
        if node is not None:
            report = send_export(exported, node, progress=sub_progress(progress, 0.8, 1.0))
    if args.json:
        payload = exported.as_dict()
        if args.dicom is None:
            payload["folder"] = None
            for entry in payload["objects"]:
                entry["path"] = None
        if report is not None:
            payload["sent"] = report.to_dict()
        print_json(payload)
    else:
        kind = "de-identified " if exported.deidentified else ""
        if args.dicom is not None:
            print(
                f"Exported {len(exported.objects)} {kind}DICOM objects to {exported.folder} "
                f"(study {exported.study_instance_uid})."
            )
        if report is not None:
            print(
                f"Sent {report.sent} of {len(exported.objects)} DICOM objects to {report.node} "
                f"into study {exported.study_instance_uid}."
            )
            for path, reason in report.failures:
                print(f"  not sent: {path.name}: {reason}")
    return 0 if report is None or report.ok else 1


def _destination_node(args: argparse.Namespace) -> Node | None:
    """The node ``--pacs`` or ``--dicomweb`` names, if any."""
    if args.pacs is not None and args.dicomweb is not None:
        raise InvalidParameterError("export: give --pacs or --dicomweb, not both.")
    if args.calling_aet is not None and args.pacs is None:
        raise InvalidParameterError("--calling-aet goes with --pacs (DIMSE).")
    if args.pacs is None and args.dicomweb is None:
        return None
    return node_from_arguments(
        argparse.Namespace(
            node=args.pacs, dicomweb=args.dicomweb, calling_aet=args.calling_aet, timeout_s=None
        )
    )


def _export(args: argparse.Namespace, folder: Path, progress: ProgressCallback) -> DicomExport:
    """Evaluate the plan, build its report and write its DICOM objects into ``folder``."""
    inputs = load_report_inputs(
        args.plan, spacing_mm=args.spacing_mm, box_margin_mm=args.box_margin_mm,
        progress=sub_progress(progress, 0.0, 0.4),
    )  # fmt: skip
    reference_dataset(inputs.volume)  # refuse non-DICOM images before any work
    if args.deidentify:
        check_deidentified_folder(folder)
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
            folder,
            deidentifier=Deidentifier.random() if args.deidentify else None,
            progress=sub_progress(progress, 0.6, 1.0),
        )
    return exported
