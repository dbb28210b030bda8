"""``cryoplan sample-data``: generate (or find) the synthetic sample cases.

Registered through the ``cryoplan.commands`` entry-point group, so that the core
never imports this package. Building the ``cryoplan`` parser imports this
module: the generator is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cryoplan_samples.names import SAMPLE_CASE_NAMES
from planning_core.commands.common import StderrProgress, add_json_flag, print_json
from planning_core.progress import sub_progress


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sample-data`` to the ``cryoplan`` subcommands."""
    parser = subparsers.add_parser(
        "sample-data",
        help="generate the synthetic sample cases (kidney, liver, lung CT; breast ultrasound; "
        "heterogeneous lesions liver-metastasis, kidney-cystic, lung-part-solid)",
        description="Generate the deterministic synthetic sample cases with their ground-truth "
        "label maps and manifests, or find them when already generated. Cases go to --out, "
        "else $CRYOPLAN_SAMPLE_DIR, else the user cache.",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="folder that receives one sub-folder per case"
    )
    parser.add_argument(
        "--case",
        action="append",
        dest="cases",
        metavar="NAME",
        help=f"generate only this case (repeatable): {', '.join(SAMPLE_CASE_NAMES)}",
    )
    parser.add_argument(
        "--force", action="store_true", help="regenerate even when an up-to-date case exists"
    )
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from cryoplan_samples.cases import default_sample_root, discard_sample_case, ensure_sample_case

    names = tuple(dict.fromkeys(args.cases or SAMPLE_CASE_NAMES))
    root = args.out if args.out is not None else default_sample_root()
    progress = StderrProgress()
    results = []
    for index, name in enumerate(names):
        step = sub_progress(progress, index / len(names), (index + 1) / len(names))
        started = time.perf_counter()
        if args.force:
            discard_sample_case(name, root=root)
        case = ensure_sample_case(name, root=root, progress=step)
        results.append(
            {
                "name": case.name,
                "directory": str(case.directory),
                "image_path": str(case.image_path),
                "labels_path": str(case.labels_path),
                "manifest_path": str(case.directory / "manifest.json"),
                "modality": case.manifest["modality"],
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
    if args.json:
        print_json({"root": str(root), "cases": results})
    else:
        for result in results:
            print(f"{result['name']:8s} {result['modality']:3s} {result['directory']}")
    return 0
