"""``cryoplan gui CASE --screenshot`` as a user runs it: a fresh process that must exit cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.gui


def test_screenshot_command_writes_a_picture_and_exits_cleanly(tmp_path, kidney_case):
    # kidney_case makes sure the sample case is generated before the child process runs.
    target = tmp_path / "kidney.png"
    command = [str(Path(sys.executable).with_name("cryoplan")), "gui", "kidney"]
    command += ["--layout", "axial", "--screenshot", str(target)]
    finished = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=dict(os.environ), check=False
    )
    # A crash while tearing VTK down after the picture is saved shows as a negative code.
    assert finished.returncode == 0, finished.stderr[-2000:]
    pixels = np.asarray(Image.open(target).convert("L"), dtype=np.float64)
    assert pixels.shape == (1000, 1600)
    assert pixels.std() > 20.0  # the window with a CT in it, not a blank frame
