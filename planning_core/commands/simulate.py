"""``cryoplan simulate``: the iceball of given probes and protocol in a case or a phantom."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from planning_core.commands.common import StderrProgress, add_json_flag, print_json, triple_argument
from planning_core.errors import InvalidParameterError
from planning_core.imaging.case_sources import open_case, resolve_case
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.progress import sub_progress
from planning_core.thermal.measure import isotherm_dimensions
from planning_core.thermal.probes import PlacedProbe, load_probe_library
from planning_core.thermal.protocol import parse_protocol
from planning_core.thermal.setup import DEFAULT_MARGIN_MM, build_setup
from planning_core.thermal.solver import simulate


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate the iceball of probes and a freeze-thaw protocol",
        description="Run the bioheat simulation for probes placed in a case (DICOM folder, "
        "volume file with --labels, or sample case name) or in a homogeneous phantom "
        "(--medium). Reports per isotherm the volume, the length along the mean probe axis "
        "and the cross-section through the middle of the freezing segments.",
    )
    parser.add_argument(
        "case", nargs="?", help="DICOM folder, volume file or sample case name (or use --medium)"
    )
    parser.add_argument("--labels", type=Path, help="label map on the image grid")
    parser.add_argument(
        "--medium", help="homogeneous medium instead of a case: gel, agar, soft_tissue, liver ..."
    )
    parser.add_argument(
        "--initial-temperature",
        type=float,
        default=37.0,
        metavar="C",
        help="initial and far-field temperature in °C (default 37)",
    )
    parser.add_argument(
        "--probe", action="append", default=[], metavar="MODEL", help="probe model id (repeat)"
    )
    parser.add_argument(
        "--tip",
        action="append",
        default=[],
        type=triple_argument("--tip"),
        metavar="X,Y,Z",
        help="probe tip, LPS mm (repeat; write --tip=-10,0,5 when X is negative)",
    )
    parser.add_argument(
        "--entry",
        action="append",
        default=[],
        type=triple_argument("--entry"),
        metavar="X,Y,Z",
        help="probe entry point on the skin, LPS mm (repeat, one per --probe)",
    )
    parser.add_argument(
        "--protocol",
        default="10-8-10",
        help="preset or sequence like F10-T8-F10 (minutes; F10@50: freeze at 50 %% power)",
    )
    parser.add_argument(
        "--isotherms", default="0,-20,-40", metavar="T1,T2,...", help="isotherms in °C"
    )
    parser.add_argument(
        "--spacing", type=float, default=1.0, metavar="MM", help="simulation grid (default 1)"
    )
    parser.add_argument(
        "--box-margin-mm",
        "--margin",
        dest="margin",
        type=float,
        default=DEFAULT_MARGIN_MM,
        metavar="MM",
        help=f"simulation box margin around the probes (default {DEFAULT_MARGIN_MM:g})",
    )
    parser.add_argument(
        "--save-fields", type=Path, metavar="FILE", help="save temperatures: .npz, .nii.gz, .mha"
    )
    add_json_flag(parser)
    parser.set_defaults(handler=run_simulate)


def parse_isotherms(text: str) -> tuple[float, ...]:
    """``"0,-20,-40"`` to a tuple of floats; the error names ``--isotherms``."""
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InvalidParameterError(
            f"--isotherms must be numbers separated by commas (°C), got {text!r}."
        ) from None
    if not values or any(not -196.0 < v < 37.0 for v in values):
        raise InvalidParameterError(
            f"--isotherms must list temperatures between -196 and 37 °C, got {text!r}."
        )
    return values


def placed_probes(args: argparse.Namespace) -> list[PlacedProbe]:
    """Pair the repeated ``--probe``, ``--tip`` and ``--entry`` options in order."""
    counts = {len(args.probe), len(args.tip), len(args.entry)}
    if not args.probe or len(counts) != 1:
        raise InvalidParameterError(
            "give every probe as --probe MODEL --tip X,Y,Z --entry X,Y,Z (got "
            f"{len(args.probe)} --probe, {len(args.tip)} --tip, {len(args.entry)} --entry)."
        )
    library = load_probe_library()
    return [
        PlacedProbe(library.get(model), tip, entry)
        for model, tip, entry in zip(args.probe, args.tip, args.entry, strict=True)
    ]


def load_case(args: argparse.Namespace, progress) -> tuple[Volume | None, LabelMap | None]:
    """The image and label map of ``args.case`` (sample cases bring their labels)."""
    if args.medium is not None:
        if args.case is not None or args.labels is not None:
            raise InvalidParameterError("give either CASE (with --labels) or --medium, not both.")
        return None, None
    if args.case is None:
        raise InvalidParameterError("give a CASE (DICOM folder, volume, sample name) or --medium.")
    case = open_case(resolve_case(args.case, labels_path=args.labels), progress=progress)
    return case.volume, case.labels


def run_simulate(args: argparse.Namespace) -> int:
    progress = StderrProgress(enabled=not args.json or sys.stderr.isatty())
    probes = placed_probes(args)
    protocol = parse_protocol(args.protocol)
    isotherms = parse_isotherms(args.isotherms)
    volume, labels = load_case(args, sub_progress(progress, 0.0, 0.1))
    setup = build_setup(
        probes,
        volume=volume,
        labels=labels,
        medium=args.medium,
        spacing_mm=args.spacing,
        margin_mm=args.margin,
        body_temperature_c=args.initial_temperature,
    )
    result = simulate(
        setup, protocol, isotherms_c=isotherms, progress=sub_progress(progress, 0.1, 1.0)
    )
    dimensions = isotherm_dimensions(result, isotherms)
    saved = None if args.save_fields is None else str(result.save_fields(args.save_fields))
    if args.json:
        print_json(
            {
                "protocol": protocol.code,
                "probes": [probe.to_dict() for probe in probes],
                "grid": {
                    "size_ijk": list(setup.geometry.size_ijk),
                    "spacing_mm": setup.geometry.spacing_mm.tolist(),
                    "origin_lps_mm": setup.geometry.origin_lps_mm.tolist(),
                },
                "tissues": [tissue.key for tissue in setup.tissues],
                "isotherms": [d.to_dict() for d in dimensions],
                "boundary_drift_c": result.boundary_drift_c,
                "wall_s": result.wall_s,
                "saved_fields": saved,
                "warnings": list(result.warnings),
            }
        )
        return 0
    print(
        f"protocol {protocol.code}, {len(probes)} probe(s), grid {setup.geometry.size_ijk} at "
        f"{args.spacing:g} mm, {result.wall_s:.2f} s"
    )
    print(f"{'isotherm °C':>12}{'volume ml':>11}{'length mm':>11}{'area mm²':>10}"
          f"{'eq. diam mm':>13}{'max diam mm':>13}")  # fmt: skip
    for d in dimensions:
        print(
            f"{d.temperature_c:>12g}{d.volume_ml:>11.2f}{d.axial_length_mm:>11.1f}"
            f"{d.area_mm2:>10.1f}{d.equivalent_diameter_mm:>13.1f}{d.max_diameter_mm:>13.1f}"
        )
    if saved:
        print(f"fields saved to {saved}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0
