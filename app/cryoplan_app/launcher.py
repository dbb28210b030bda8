"""``cryoplan-planner``: the standalone application's single executable.

No arguments open the window; ``--self-test`` runs :mod:`cryoplan_app.self_test`;
a path to an existing file or folder, or a sample case's name, opens it in the
window (a file manager passes paths through the desktop entry); anything else
goes to the ``cryoplan`` command line, so ``cryoplan-planner plan kidney ...``
works like ``cryoplan plan kidney ...``.

This module imports nothing heavy before it has prepared the environment: numba
reads ``NUMBA_CACHE_DIR`` when it is first imported.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

SELF_TEST_FLAG = "--self-test"


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/cryoplan`` (default ``~/.cache/cryoplan``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cryoplan"


#: numba's cache locators in the bundle: ours first (see cryoplan_app.numba_cache), then
#: numba's own for frozen applications (~/.cache/numba) should ours be unusable.
BUNDLE_NUMBA_LOCATORS = "cryoplan_app.numba_cache.BundleCacheLocator,UserWideCacheLocator"


def prepare_environment(
    environ: dict[str, str] | None = None, *, frozen: bool | None = None
) -> None:
    """In the bundle, keep numba's compiled kernels in the user cache, one folder per module.

    Without this the kernels (several seconds of compilation) would be cached per
    working directory, see :mod:`cryoplan_app.numba_cache`. Values the user set
    are kept. Nothing changes in a development install.
    """
    environ = os.environ if environ is None else environ
    frozen = getattr(sys, "frozen", False) if frozen is None else frozen
    if frozen:
        environ.setdefault("NUMBA_CACHE_DIR", str(user_cache_dir() / "numba"))
        environ.setdefault("NUMBA_CACHE_LOCATOR_CLASSES", BUNDLE_NUMBA_LOCATORS)


def route(argv: Sequence[str]) -> tuple[str, list[str]]:
    """Which program the arguments ask for: ``("self-test" | "cli", arguments)``.

    ``cli`` arguments are ready for :func:`planning_core.cli.main`.
    """
    args = list(argv)
    if not args:
        return "cli", ["gui"]
    if args[0] == SELF_TEST_FLAG:
        return "self-test", args[1:]
    # A case to open (a path, or a sample case's name as `cryoplan gui` takes it) starts
    # the window; the sample names are no CLI subcommands, so nothing is shadowed.
    if not args[0].startswith("-") and (Path(args[0]).exists() or _is_sample_name(args[0])):
        return "cli", ["gui", *args]
    return "cli", args


def _is_sample_name(word: str) -> bool:
    # Imported here, after prepare_environment, and only for a word that is no path.
    from planning_core.imaging.case_sources import named_cases

    return word in named_cases()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the program the arguments ask for; return its exit status."""
    prepare_environment()
    program, args = route(sys.argv[1:] if argv is None else argv)
    if program == "self-test":
        from cryoplan_app.self_test import main as self_test_main

        return self_test_main(args)
    from planning_core.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
