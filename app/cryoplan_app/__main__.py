"""``python -m cryoplan_app [CASE] [options]``: the same as ``cryoplan gui``."""

from __future__ import annotations

import argparse
import sys

from cryoplan_app.commands import add_gui_arguments, run_gui_command
from planning_core.errors import OperationCancelledError, PlanningError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cryoplan_app", description="Open the cryoablation planner window."
    )
    add_gui_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_gui_command(args)
    except OperationCancelledError:
        return 130
    except PlanningError as error:
        print(f"cryoplan gui: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
