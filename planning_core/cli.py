"""The ``cryoplan`` command line: one entry point, one module per subcommand.

Each module in :mod:`planning_core.commands` exposes ``register(subparsers)``,
which adds its parser and sets ``handler`` (a function taking the parsed
arguments and returning an exit code). The desktop layer adds ``gui`` and the
sample package adds ``sample-data`` through the ``cryoplan.commands`` entry-point
group, so the core never imports them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from planning_core import __version__
from planning_core.errors import OperationCancelledError, PlanningError

#: Core subcommand modules, in the order ``cryoplan --help`` lists them.
CORE_COMMAND_MODULES: tuple[str, ...] = (
    "planning_core.commands.info",
    "planning_core.commands.segment",
    "planning_core.commands.probes",
    "planning_core.commands.simulate",
    "planning_core.commands.plan",
    "planning_core.commands.evaluate",
    "planning_core.commands.confirm",
    "planning_core.commands.report",
    "planning_core.commands.export",
    "planning_core.commands.pacs",
    "planning_core.commands.batch",
    "planning_core.commands.library",
    "planning_core.commands.score",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cryoplan",
        description="Plan image-guided cryoablation: load images, segment the tumor, "
        "simulate iceballs, optimise probe placement, report.",
    )
    parser.add_argument("--version", action="version", version=f"cryoplan {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in CORE_COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    for entry_point in entry_points(group="cryoplan.commands"):
        try:
            register = entry_point.load()
        except ImportError as error:
            # The desktop extras may be missing on a headless server; say so only when used.
            _add_unavailable(subparsers, entry_point.name, error)
            continue
        register(subparsers)
    return parser


def _add_unavailable(subparsers: argparse._SubParsersAction, name: str, error: Exception) -> None:
    parser = subparsers.add_parser(name, help=f"(unavailable: {error})")

    def handler(_: argparse.Namespace) -> int:
        raise PlanningError(
            f"'cryoplan {name}' needs components that failed to import ({error}). "
            "Reinstall with: pip install cryoplanner"
        )

    parser.set_defaults(handler=handler)


def _one_line(message: str) -> str:
    """``message`` with control characters escaped, so that it prints as one line.

    Messages quote file names, which may hold newlines, tabs or escape sequences.
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(handler(args) or 0)
    except OperationCancelledError:
        print("cryoplan: cancelled", file=sys.stderr)
        return 130
    except PlanningError as error:
        print(f"cryoplan {args.command}: error: {_one_line(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cryoplan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
