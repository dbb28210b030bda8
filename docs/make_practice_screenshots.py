"""Regenerate docs/images/practice-assessed.png and practice-reveal.png (docs/training.md).

A library in ``out/practice-library`` receives the kidney sample with the optimizer's
reference plan (patient prone, posterior approach; a few minutes the first time). A
trainee then places four of the reference's five probes 2-3 mm off and with a shorter
protocol, submits, and the window is saved once assessed and once revealed (PNG with
a 192-colour palette, to stay small). Without a display it runs itself under
``xvfb-run``. Run: ``.venv/bin/python docs/make_practice_screenshots.py``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from make_screenshots import rerun_under_xvfb_without_display

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "out" / "practice-library" / "library.sqlite3"
IMAGES = ROOT / "docs" / "images"
#: The attempt: the reference's probes 1, 2, 3 and 5, shifted by this much (LPS mm).
ATTEMPT_PROBES = (0, 1, 2, 4)
ATTEMPT_SHIFT_MM = np.array([-2.0, 2.0, -3.0])
ATTEMPT_PROTOCOL = "F10-T8-F10"


def save_small(image, path: Path) -> None:
    """Save a QImage as a palette PNG."""
    from PIL import Image

    raw = path.with_suffix(".raw.png")
    image.save(str(raw), "PNG")
    with Image.open(raw) as full:
        rgb = full.convert("RGB")
        palette = rgb.quantize(192, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        palette.save(path, optimize=True)
    raw.unlink()
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB)")


def main() -> None:
    rerun_under_xvfb_without_display(__file__)
    os.environ["CRYOPLAN_LIBRARY"] = str(LIBRARY)
    from planning_core.planning.settings import PlanSettings
    from planning_core.training.assessment import optimize_reference
    from planning_core.training.database import connect
    from planning_core.training.library import get_case, import_sample_case, load_reference_plan

    connection = connect(LIBRARY)
    if not connection.execute("SELECT 1 FROM cases WHERE id = 'kidney'").fetchone():
        import_sample_case(connection, "kidney")
    if get_case(connection, "kidney").reference_author is None:
        optimize_reference(connection, "kidney", settings=PlanSettings(patient_position="HFP"))
    reference = load_reference_plan(get_case(connection, "kidney"))
    connection.close()

    from PyQt6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    from cryoplan_app.qt.main_window import MainWindow

    window = MainWindow(headless=True, autosave_dir=ROOT / "out" / "practice-autosave")
    window.resize(1600, 1000)
    window.show()

    def settle(done, timeout_s: float = 600.0) -> None:
        start = time.monotonic()
        while not done():
            app.processEvents()
            time.sleep(0.02)
            if time.monotonic() - start > timeout_s:
                sys.exit("timed out")
        for _ in range(10):
            app.processEvents()
            time.sleep(0.03)

    controller, session = window.practice, window.session
    controller.start("A. Resident", "kidney")
    settle(lambda: controller.practice.state == "placing")
    for index in ATTEMPT_PROBES:
        probe = reference.probes[index]
        session.document.add_probe(
            probe.model_id,
            np.add(probe.tip_lps_mm, ATTEMPT_SHIFT_MM),
            np.add(probe.entry_lps_mm, ATTEMPT_SHIFT_MM),
        )
    session.document.set_protocol(ATTEMPT_PROTOCOL)
    settle(lambda: session.document.results_fresh and not window.runner.busy)
    controller.submit()
    settle(lambda: controller.practice.state == "assessed" and not window.runner.busy)
    IMAGES.mkdir(parents=True, exist_ok=True)
    window.view_area.render_all()
    save_small(window.grab_image(), IMAGES / "practice-assessed.png")
    reveal = controller.reveal()
    settle(lambda: not window.runner.busy and not any(r.busy for r in reveal.runners))
    save_small(reveal.grab_image(), IMAGES / "practice-reveal.png")
    controller.end(ask=False)
    window.runner.wait(30_000)
    window.close()


if __name__ == "__main__":
    main()
