"""The bundle's entry point and self test, in the development install."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cryoplan_app import launcher, self_test
from cryoplan_app.launcher import BUNDLE_NUMBA_LOCATORS, prepare_environment, route
from cryoplan_app.self_test import SelfTestError, check_pdf, check_window_picture


def test_no_arguments_open_the_window() -> None:
    assert route([]) == ("cli", ["gui"])


def test_self_test_flag_takes_the_rest() -> None:
    assert route(["--self-test", "--out", "x"]) == ("self-test", ["--out", "x"])


def test_other_arguments_go_to_the_command_line() -> None:
    assert route(["plan", "kidney", "--out", "p.json"]) == (
        "cli",
        ["plan", "kidney", "--out", "p.json"],
    )
    assert route(["--version"]) == ("cli", ["--version"])


def test_an_existing_path_opens_in_the_window(tmp_path: Path) -> None:
    assert route([str(tmp_path)]) == ("cli", ["gui", str(tmp_path)])
    assert route(["kidney", "--layout", "3d"]) == ("cli", ["gui", "kidney", "--layout", "3d"])


def test_main_dispatches_to_the_self_test(monkeypatch) -> None:
    seen = []
    monkeypatch.setattr(self_test, "main", lambda args: seen.append(args) or 7)
    assert launcher.main(["--self-test", "--fresh-sample"]) == 7
    assert seen == [["--fresh-sample"]]


def test_main_passes_commands_to_the_cli(capsys) -> None:
    assert launcher.main(["probes", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert "argon-2.4" in json.dumps(payload)


def test_numba_cache_is_redirected_only_when_frozen(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    environ: dict[str, str] = {}
    prepare_environment(environ, frozen=False)
    assert environ == {}
    prepare_environment(environ, frozen=True)
    assert environ == {
        "NUMBA_CACHE_DIR": str(tmp_path / "cryoplan" / "numba"),
        "NUMBA_CACHE_LOCATOR_CLASSES": BUNDLE_NUMBA_LOCATORS,
    }
    kept = {"NUMBA_CACHE_DIR": "/elsewhere"}
    prepare_environment(kept, frozen=True)
    assert kept["NUMBA_CACHE_DIR"] == "/elsewhere"


def test_bundle_cache_locator_ignores_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    from cryoplan_app.numba_cache import BundleCacheLocator
    from numba.core import config

    def kernel() -> int:
        return 1

    assert BundleCacheLocator.from_function(kernel, "planning_core/thermal/kernels.py") is None
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path / "numba"))
    relative = "planning_core/thermal/kernels.py"
    locators = []
    for cwd in (tmp_path, Path("/")):
        monkeypatch.chdir(cwd)
        locators.append(BundleCacheLocator.from_function(kernel, relative))
    paths = {locator.get_cache_path() for locator in locators}
    assert paths == {str(tmp_path / "numba" / "planning_core.thermal")}
    assert Path(paths.pop()).is_dir()
    assert BundleCacheLocator.from_function(kernel, "/abs/kernels.py") is None


def _png(path: Path, pixels: np.ndarray) -> Path:
    from matplotlib.image import imsave

    imsave(path, pixels)
    return path


def test_picture_check_accepts_structure_and_refuses_blank_views(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    busy = rng.integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    assert "640×480 px" in check_window_picture(_png(tmp_path / "busy.png", busy))
    blank = busy.copy()
    blank[:, 100:] = 0  # the views area black, only a side panel drawn
    with pytest.raises(SelfTestError, match="blank"):
        check_window_picture(_png(tmp_path / "blank.png", blank))


def test_pdf_check_refuses_a_truncated_file(tmp_path: Path) -> None:
    truncated = tmp_path / "cut.pdf"
    truncated.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n")
    with pytest.raises(SelfTestError, match="not a complete PDF"):
        check_pdf(truncated)


@pytest.mark.gui
@pytest.mark.slow
def test_self_test_passes_in_the_development_install(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cryoplan_app.self_test", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    steps = [line for line in result.stdout.splitlines() if line.startswith("[ok]")]
    assert len(steps) == len(self_test.STEPS)
    assert (tmp_path / "self-test-window.png").is_file()
    assert check_pdf(tmp_path / "self-test-report.pdf")


def test_a_failing_step_is_named_and_stops_the_test(tmp_path: Path, monkeypatch) -> None:
    def fail(_context) -> str:
        raise SelfTestError("the views look blank")

    ran = []
    steps = (
        ("first", lambda _context: "fine"),
        ("render window", fail),
        ("never", lambda _context: ran.append("never") or ""),
    )
    monkeypatch.setattr(self_test, "STEPS", steps)
    out = io.StringIO()
    assert self_test.run_self_test(work_dir=tmp_path, out=out) == 1
    text = out.getvalue()
    assert "[ok]   first" in text and "the views look blank" in text
    assert "self test FAILED at step 'render window'" in text
    assert ran == []
