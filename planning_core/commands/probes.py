"""``cryoplan probes``: the device library (families and their sources, models, organ factors)."""

from __future__ import annotations

import argparse

from planning_core.commands.common import add_json_flag, print_json
from planning_core.thermal.probes import ProbeLibrary, load_probe_library


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "probes",
        help="list the cryoprobe families and models",
        description="List the device library: probe families (cryogen, gauge, ice shape) with "
        "the publications their isotherm figures come from, the probe models of each family "
        "(diameter, freezing-segment length, calibration residuals), the default model per "
        "cryogen, id aliases, and organ factors (published versus simulated ice size ratios).",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=run_probes)


def library_payload(library: ProbeLibrary) -> dict[str, object]:
    """The whole library as JSON-ready data (what ``cryoplan probes --json`` prints)."""
    families = []
    for family in library.families.values():
        row = family.to_dict()
        row["models"] = [m.id for m in library.models.values() if m.family == family.id]
        families.append(row)
    return {
        "version": library.version,
        "defaults": dict(library.defaults),
        "aliases": dict(library.aliases),
        "families": families,
        "probes": [model.summary() for model in library.models.values()],
        "organ_factors": [factor.to_dict() for factor in library.organ_factors],
    }


def _print_text(library: ProbeLibrary) -> None:
    print(f"probe library {library.version}")
    defaults = ", ".join(f"{cryogen}: {model}" for cryogen, model in library.defaults.items())
    print(f"defaults: {defaults or 'widest probe per cryogen'}")
    for family in library.families.values():
        kind = f"{family.cryogen}, {family.gauge}, {family.ice_shape} ice"
        print(f"\n{family.id}: {family.name} ({kind})")
        for source in family.sources:
            print(f"  source: {source.citation} <{source.url}>")
        for model in library.models.values():
            if model.family != family.id:
                continue
            rms = model.calibration.get("rms_residual_mm")
            fit = "derived/checked" if rms is None else f"rms residual {rms:g} mm"
            print(
                f"  {model.id:<20}{model.diameter_mm:>5.2f} mm, freezing segment "
                f"{model.active_length_mm:g} mm, {fit}"
            )
    if library.aliases:
        print("\naliases: " + ", ".join(f"{a} -> {m}" for a, m in library.aliases.items()))
    for factor in library.organ_factors:
        measured = "-" if factor.measured_ratio is None else f"{factor.measured_ratio:g}"
        print(
            f"organ factor {factor.label}: published {measured}, "
            f"simulated {factor.simulated_ratio:g}"
        )


def run_probes(args: argparse.Namespace) -> int:
    library = load_probe_library()
    if args.json:
        print_json(library_payload(library))
    else:
        _print_text(library)
    return 0
