"""Regenerate the README's screenshots: the kidney sample case with its optimised plan.

Plans the kidney case once (``out/kidney/kidney.cryoplan.json``, as ``bash run.sh demo
--headless`` does) unless that plan exists, then opens it in the desktop application
for each layout and saves the window. Without a display it runs itself under
``xvfb-run``. Run: ``.venv/bin/python docs/make_screenshots.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLAN = ROOT / "out" / "kidney" / "kidney.cryoplan.json"
IMAGES = ROOT / "docs" / "images"
#: (file name, layout) of each screenshot.
SHOTS = (("kidney-4up.png", "4up"), ("kidney-probe.png", "probe"), ("kidney-3d.png", "3d"))
SCREEN = "1600x1000x24"


def cryoplan(*arguments: str) -> None:
    command = [str(Path(sys.executable).with_name("cryoplan")), *arguments]
    subprocess.run(command, check=True, cwd=ROOT)


def rerun_under_xvfb_without_display(script: str) -> None:
    """Without a display, run ``script`` again under ``xvfb-run`` and exit with its status."""
    if os.environ.get("DISPLAY"):
        return
    if shutil.which("xvfb-run") is None:
        sys.exit("no display and no xvfb-run: install xvfb (Debian: apt-get install xvfb).")
    xvfb = ["xvfb-run", "-a", "-s", f"-screen 0 {SCREEN}", sys.executable, script]
    sys.exit(subprocess.run(xvfb, check=False).returncode)


def main() -> None:
    rerun_under_xvfb_without_display(__file__)
    if not PLAN.exists():
        from cryoplan_samples import ensure_sample_case

        labels = ensure_sample_case("kidney").labels_path
        PLAN.parent.mkdir(parents=True, exist_ok=True)
        cryoplan("plan", "kidney", "--labels", str(labels), "--out", str(PLAN))
    IMAGES.mkdir(parents=True, exist_ok=True)
    for name, layout in SHOTS:
        target = IMAGES / name
        cryoplan(
            "gui", "kidney", "--plan", str(PLAN), "--layout", layout, "--screenshot", str(target)
        )
        print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
