"""``cryoplan confirm PLAN --intra DIR | --post DIR``: the plan against a CT of the procedure.

``--intra``: the CT taken during the freeze (probes in place, ice growing):
placed probes against planned ones, visible against predicted ice, and what to
do next. ``--post``: the contrast CT after the ablation: ablation zone and
minimal ablative margin (optionally DICOM SEG and SR with ``--dicom``).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from planning_core.atomic import write_text_atomic
from planning_core.commands.common import StderrProgress, add_json_flag, print_json
from planning_core.commands.library import add_library_option
from planning_core.confirm.follow_up import check_intra_series, elapsed_freeze_s
from planning_core.confirm.intra import IntraConfirmation, confirm_intra
from planning_core.confirm.margin import EXEMPTIONS, MarginOptions
from planning_core.confirm.post import PostConfirmation, confirm_post
from planning_core.confirm.probe_detection import METAL_THRESHOLD_HU
from planning_core.errors import ConfirmationError, InvalidParameterError, PlanningError
from planning_core.imaging.loader import load_image
from planning_core.imaging.volume import Volume
from planning_core.input_files import require_regular_file
from planning_core.planning.case_files import load_plan_case
from planning_core.planning.plan_json import load_plan, save_plan
from planning_core.progress import sub_progress
from planning_core.report.confirmation_pdf import write_confirmation_pdf
from planning_core.report.intra_confirmation_pdf import write_intra_confirmation_pdf
from planning_core.training.database import database_file, open_library
from planning_core.training.outcomes import outcome_of, record_outcome

#: File names written under ``--out``.
RESULT_NAME = "confirmation.json"
REPORT_NAME = "confirmation.pdf"
AS_PLACED_NAME = "as-placed.plan.json"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "confirm",
        help="check a plan against the CT taken during the freeze (--intra) or after it (--post)",
        description="Intra-procedural (--intra): register the CT taken during the freeze to "
        "the planning CT, find the placed probes (tip, angle and depth errors against the "
        "plan), re-simulate them as placed from the elapsed freeze, compare the visible ice "
        "with the predicted 0 °C edge and recommend proceeding, freezing longer or adding a "
        "probe, each with its predicted margin. Post-ablation (--post): ablation zone on the "
        "contrast CT after the ablation and the minimal ablative margin.",
    )
    parser.add_argument("plan", type=Path, help="plan file (.json) written by `cryoplan plan`")
    stage = parser.add_mutually_exclusive_group(required=True)
    stage.add_argument(
        "--intra",
        type=Path,
        metavar="DIR",
        help="the CT taken during the freeze (DICOM folder or volume file)",
    )
    stage.add_argument("--post", type=Path, metavar="DIR",
                       help="the contrast CT taken after the ablation")  # fmt: skip
    parser.add_argument(
        "--series", metavar="UID", help="which series of the folder (`cryoplan info` lists them)"
    )
    timing = parser.add_mutually_exclusive_group()
    timing.add_argument(
        "--elapsed-min",
        type=float,
        metavar="M",
        help="--intra: minutes since the protocol started when the CT was taken",
    )
    timing.add_argument("--freeze-start", metavar="HH:MM[:SS]",
                        help="--intra: clock time the protocol started; the elapsed time is "
                        "read from the series' acquisition time")  # fmt: skip
    parser.add_argument("--fiducials", type=Path, metavar="CSV",
                        help="point pairs for a fiducial registration: rows of planning x,y,z "
                        "then follow-up x,y,z (LPS mm), at least three")  # fmt: skip
    parser.add_argument(
        "--rigid", action="store_true", help="rigid registration only (no organ deformation)"
    )
    parser.add_argument(
        "--metal-hu",
        type=float,
        default=METAL_THRESHOLD_HU,
        metavar="HU",
        help=f"--intra: probe metal threshold (default {METAL_THRESHOLD_HU:g})",
    )
    parser.add_argument(
        "--shell-mm",
        type=float,
        default=5.0,
        metavar="MM",
        help="--post: margin shell thickness (default 5)",
    )
    parser.add_argument(
        "--exempt",
        action="append",
        choices=EXEMPTIONS,
        default=[],
        help="--post: leave the organ capsule or large vessels out of the "
        "minimal margin (repeatable)",
    )
    parser.add_argument(
        "--vessel-diameter-mm",
        type=float,
        default=3.0,
        metavar="MM",
        help="--post: smallest vessel exempted with --exempt vessels (default 3)",
    )
    parser.add_argument(
        "--zone-labels",
        type=Path,
        metavar="FILE",
        help="--post: label map (planning grid) with an edited ablation_zone",
    )
    parser.add_argument(
        "--dicom",
        type=Path,
        metavar="OUTDIR",
        help="--post: write DICOM SEG (zone, margin shell) and SR there",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="--post: store the plan's predicted zone against the actual zone (residuals for "
        "calibrating the probe models) in the case library; `cryoplan library outcomes` lists "
        "them",
    )
    add_library_option(parser)
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help=f"write {RESULT_NAME}, the PDF report {REPORT_NAME} and, for "
                        f"--intra, {AS_PLACED_NAME} (the plan with the probes as placed, for "
                        "`cryoplan evaluate`) there")  # fmt: skip
    add_json_flag(parser)
    parser.set_defaults(handler=run_confirm)


def read_fiducials(path: Path) -> np.ndarray:
    """Point pairs ``(n, 2, 3)`` from a CSV of six numbers per row (a header row is skipped)."""
    require_regular_file(path, what="fiducials file (--fiducials)", max_bytes=1_000_000)
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            cells = [c.strip() for c in row if c.strip()]
            if not cells:
                continue
            try:
                values = [float(c) for c in cells]
            except ValueError:
                if number == 1:
                    continue  # a header
                raise InvalidParameterError(
                    f"--fiducials {path}: row {number} must hold six numbers."
                ) from None
            if len(values) != 6 or not np.all(np.isfinite(values)):
                raise InvalidParameterError(
                    f"--fiducials {path}: row {number} must hold six numbers (planning x,y,z, "
                    "follow-up x,y,z), got {len(values)}."
                )
            rows.append(values)
    return np.asarray(rows, dtype=float).reshape(-1, 2, 3)


def load_intra(args: argparse.Namespace, planning: Volume) -> Volume:
    """The intra-procedural CT, refused when it is the planning CT or another patient's."""
    try:
        intra = load_image(args.intra, series_uid=args.series)
    except PlanningError as error:
        raise ConfirmationError(f"--intra {args.intra}: {error}") from error
    check_intra_series(intra, planning, location=str(args.intra))
    return intra


def run_confirm(args: argparse.Namespace) -> int:
    progress = StderrProgress(enabled=not args.json or sys.stderr.isatty())
    fiducials = None if args.fiducials is None else read_fiducials(args.fiducials)
    if args.post is not None:
        return _run_post(args, fiducials, progress)
    if args.record:
        raise InvalidParameterError(
            "--record stores the outcome of a post-ablation confirmation; use it with --post."
        )
    plan = load_plan(args.plan)
    case = load_plan_case(plan, plan_path=args.plan)
    intra = load_intra(args, case.volume)
    elapsed_s = elapsed_freeze_s(
        intra, plan.parsed_protocol(), elapsed_min=args.elapsed_min, freeze_start=args.freeze_start
    )
    result = confirm_intra(
        plan, case.volume, case.label_map, intra, elapsed_s=elapsed_s, fiducials=fiducials,
        deformable=not args.rigid, metal_threshold_hu=args.metal_hu,
        progress=sub_progress(progress, 0.0, 0.98),
    )  # fmt: skip
    payload = {"stage": "intra", "plan": str(args.plan), "intra_ct": str(args.intra),
               **result.to_json()}  # fmt: skip
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        as_placed_path = args.out / AS_PLACED_NAME
        save_plan(result.as_placed, as_placed_path)
        payload["as_placed_plan"] = str(as_placed_path)
        payload["report"] = str(
            write_intra_confirmation_pdf(
                result, plan, case.volume, case.label_map, intra, args.out / REPORT_NAME
            )
        )
        write_text_atomic(args.out / RESULT_NAME, _json_text(payload))
    progress(1.0, "Confirmation done")
    if args.json:
        print_json(payload)
        return 0
    print_intra(result, payload)
    return 0


def _json_text(payload: dict[str, Any]) -> str:
    return json.dumps(payload, indent=2, default=_plain) + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _mm(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "not assessed"
    return f"{value:+.1f} mm" if signed else f"{value:.1f} mm"


def print_intra(result: IntraConfirmation, payload: dict[str, Any]) -> None:
    """The intra-procedural confirmation as text."""
    registration = result.registration
    print(f"Registration: {registration.method}, {registration.quality.verdict} — "
          f"{registration.quality.message}")  # fmt: skip
    print(f"Elapsed freeze: {result.elapsed_s / 60.0:.1f} min of {result.as_placed.protocol}")
    print("Placed probes (planning frame):")
    for report in result.placed:
        name = report.plan_label or "unplanned probe"
        tip = ", ".join(f"{v:.1f}" for v in report.tip_lps_mm)
        if report.matched_plan_probe is None:
            print(f"  {name}: tip ({tip}) — matches no plan probe")
            continue
        print(
            f"  {name}: tip ({tip}); tip error {_mm(report.tip_error_mm)}, angle "
            f"{report.angle_error_deg:.1f}°, depth {_mm(report.depth_error_mm, True)}"
        )
    for label in result.missing:
        print(f"  {label}: not found")
    ice, comparison = result.visible_ice, result.ice_comparison
    if comparison is None:
        print(f"Visible ice: {ice.volume_ml:.1f} ml; comparison not assessed "
              f"({ice.note or 'no ice predicted'})")  # fmt: skip
    else:
        print(
            f"Visible ice: {ice.volume_ml:.1f} ml (predicted {comparison.predicted_volume_ml:.1f}"
            f" ml); edge {_mm(comparison.mean_signed_mm, True)} from the predicted 0 °C edge "
            f"on average (95 %: {comparison.p95_abs_mm:.1f} mm)"
        )
    print(f"Recommendation: {result.recommendation.text}")
    for option in result.recommendation.options:
        if option is not result.recommendation.chosen:
            print(f"  also assessed: {option.text}")
    for warning in result.warnings:
        print(f"warning: {warning}")
    for key in ("as_placed_plan", "report"):
        if key in payload:
            print(f"wrote {payload[key]}")


def _run_post(
    args: argparse.Namespace, fiducials: np.ndarray | None, progress: StderrProgress
) -> int:
    options = MarginOptions(
        shell_mm=args.shell_mm, exemptions=tuple(args.exempt),
        vessel_min_diameter_mm=args.vessel_diameter_mm,
    )  # fmt: skip
    result: PostConfirmation = confirm_post(
        args.plan, args.post, series_uid=args.series, fiducials=fiducials,
        deformable=not args.rigid, options=options, zone_labels_path=args.zone_labels,
        dicom_dir=args.dicom, progress=sub_progress(progress, 0.0, 0.95),
    )  # fmt: skip
    payload = result.to_json()
    if args.record:
        with open_library(args.library) as connection:
            stored = record_outcome(connection, outcome_of(result))
            payload["recorded_outcome"] = {
                "library": str(database_file(connection)),
                **stored.as_dict(),
            }
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        payload["report"] = str(write_confirmation_pdf(result, args.out / REPORT_NAME))
        write_text_atomic(args.out / RESULT_NAME, _json_text(payload))
    progress(1.0, "Confirmation done")
    if args.json:
        print_json(payload)
        return 0
    margin = payload.get("minimal_ablative_margin_mm")
    print(f"Registration: {result.registration.method}, {result.registration.quality.verdict} — "
          f"{result.registration.quality.message}")  # fmt: skip
    print(f"Ablation zone: {payload['ablation_zone']['volume_ml']:.1f} ml")
    shell = payload.get("shell_coverage_percent")
    covered = "not assessed" if shell is None else f"{shell:.0f} %"
    print(f"Minimal ablative margin: {_mm(margin, True)} ({payload['category']}); "
          f"{options.shell_mm:g}-mm shell covered: {covered}")  # fmt: skip
    for warning in result.warnings:
        print(f"warning: {warning}")
    for written in payload.get("dicom", []):
        print(f"wrote DICOM {written['kind']} ({written['description']}): {written['path']}")
    if "recorded_outcome" in payload:
        print(f"recorded the outcome in {payload['recorded_outcome']['library']}")
    if "report" in payload:
        print(f"wrote {payload['report']}")
    return 0
