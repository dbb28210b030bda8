"""The command line as a whole: help, version, errors, and the headless boundary."""

import subprocess
import sys

from planning_core import __version__
from planning_core.cli import main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as stop:
        assert stop.code == 0
    assert __version__ in capsys.readouterr().out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: cryoplan" in capsys.readouterr().err


def test_core_cli_never_loads_qt_or_vtk():
    # import-linter sees static imports; this also catches imports done at run time.
    code = (
        "import sys; from planning_core.cli import build_parser; build_parser(); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PyQt6', 'vtk', 'vtkmodules')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
