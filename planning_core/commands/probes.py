"""``cryoplan probes``: the probe library (models, geometry, calibration source)."""

from __future__ import annotations

import argparse

from planning_core.commands.common import add_json_flag, print_json
from planning_core.thermal.probes import load_probe_library


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "probes",
        help="list the cryoprobe models",
        description="List the probe library: id, name, cryogen, diameter, freezing-segment "
        "length and where each model's calibration comes from.",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=run_probes)


def run_probes(args: argparse.Namespace) -> int:
    library = load_probe_library()
    rows = [model.summary() for model in library.models.values()]
    if args.json:
        print_json({"version": library.version, "probes": rows})
        return 0
    print(f"probe library {library.version}")
    print(f"{'id':<12}{'cryogen':<17}{'diameter mm':>12}{'active mm':>11}  name")
    for row in rows:
        print(
            f"{row['id']:<12}{row['cryogen']:<17}{row['diameter_mm']:>12.1f}"
            f"{row['active_length_mm']:>11.1f}  {row['name']}"
        )
    for row in rows:
        print(f"  {row['id']}: {row['calibration_source']}")
    return 0
