"""``cryoplan gui``: the desktop application's subcommand, registered through an entry point.

This module is imported whenever the ``cryoplan`` parser is built, so it must
not import Qt or VTK; the window is imported only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from planning_core.errors import InvalidParameterError

_LAYOUT_CHOICES = ("4up", "axial", "sagittal", "coronal", "3d", "probe")


def register_gui(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gui`` to the ``cryoplan`` subcommands."""
    parser = subparsers.add_parser(
        "gui",
        help="open the desktop application",
        description="Open the viewer and planner window, optionally with a case. CASE is a "
        "DICOM folder or file, a volume file (NIfTI, NRRD, MetaImage) or a sample case name.",
    )
    add_gui_arguments(parser)
    parser.set_defaults(handler=run_gui_command)


def add_gui_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``cryoplan gui`` (shared with ``python -m cryoplan_app``)."""
    parser.add_argument("case", nargs="?", metavar="CASE", help="what to open")
    parser.add_argument(
        "--series", metavar="UID", help="DICOM series to open (default: the largest)"
    )
    parser.add_argument("--labels", metavar="FILE", help="label map to show over the image")
    parser.add_argument(
        "--plan",
        metavar="PLAN.json",
        type=Path,
        help="plan to open (on CASE, or on the image the plan names when CASE is left out)",
    )
    parser.add_argument(
        "--layout", choices=_LAYOUT_CHOICES, default="4up", help="view layout (default 4up)"
    )
    parser.add_argument(
        "--screenshot",
        metavar="FILE.png",
        type=Path,
        help="open, render, save the window as PNG and exit (works under Xvfb)",
    )
    parser.add_argument(
        "--size",
        metavar="WxH",
        type=_window_size,
        default=(1600, 1000),
        help="window size in pixels (default 1600x1000)",
    )


def _window_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size must look like 1600x1000, got {text!r}") from None
    if not (320 <= width <= 10000 and 240 <= height <= 10000):
        raise argparse.ArgumentTypeError(
            f"--size must lie between 320x240 and 10000x10000 pixels, got {text!r}"
        )
    return width, height


def run_gui_command(args: argparse.Namespace) -> int:
    from planning_core.imaging.case_sources import resolve_case

    if args.case is None and (args.series or args.labels):
        raise InvalidParameterError("--series and --labels need a CASE to open.")
    case = (
        None
        if args.case is None
        else resolve_case(args.case, series_key=args.series, labels_path=args.labels)
    )
    if args.plan is not None and not args.plan.is_file():
        raise InvalidParameterError(f"--plan {args.plan}: no such file.")
    from cryoplan_app.qt.app import run_gui

    return run_gui(
        case=case,
        layout=args.layout,
        screenshot=args.screenshot,
        size=args.size,
        plan=args.plan,
    )
