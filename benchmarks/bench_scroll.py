"""Slice-scrolling frame rate of the desktop application on a 512×512×300 CT.

Builds a synthetic abdomen CT (512×512×300 int16, 0.78 × 0.78 × 1.5 mm) with a
label map (kidney, tumor, spine), opens it in the real main window at
1600×1000 pixels, lets the 3-D surfaces finish, then scrolls each 2-D view
slice by slice with synthetic mouse-wheel events, exactly as a user's wheel
arrives. A frame is one wheel notch handled end to end: event, session update,
every 2-D view re-rendered (the scrolled one and the two whose crosshair
moved); the 3-D view follows at its throttled rate and its renders fall inside
the timed interval too. Prints frames per second per view and layout.

Run under a display; without one, the script re-runs itself under ``xvfb-run``:
``python benchmarks/bench_scroll.py [--frames 150]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

import numpy as np

GOAL_FPS = 30.0
SHAPE_KJI = (300, 512, 512)
SPACING_MM = (0.78, 0.78, 1.5)


def synthetic_case():
    """An ImageCase: elliptic body, spine, left kidney with a tumor, noise; labels for three."""
    from cryoplan_app.model.case import CaseSource, ImageCase

    from planning_core.imaging.geometry import Geometry
    from planning_core.imaging.labels import LabelMap
    from planning_core.imaging.volume import Volume

    nk, nj, ni = SHAPE_KJI
    geometry = Geometry(
        SHAPE_KJI, SPACING_MM, (-0.5 * ni * SPACING_MM[0], -0.5 * nj * SPACING_MM[1], -225.0)
    )
    k, j, i = np.ogrid[0:nk, 0:nj, 0:ni]
    x = i * SPACING_MM[0] - 0.5 * ni * SPACING_MM[0]
    y = j * SPACING_MM[1] - 0.5 * nj * SPACING_MM[1]
    z = k * SPACING_MM[2] - 225.0
    body = (x / 170.0) ** 2 + (y / 120.0) ** 2 <= 1.0
    spine = (x / 18.0) ** 2 + ((y - 70.0) / 18.0) ** 2 <= 1.0
    kidney = ((x - 70.0) / 30.0) ** 2 + ((y - 40.0) / 25.0) ** 2 + (z / 55.0) ** 2 <= 1.0
    tumor = (x - 82.0) ** 2 + (y - 22.0) ** 2 + (z - 20.0) ** 2 <= 15.0**2
    rng = np.random.default_rng(0)
    hu = rng.normal(0.0, 12.0, SHAPE_KJI).astype(np.float32)
    hu += np.where(body, 40.0, -1000.0)
    hu[np.broadcast_to(spine, SHAPE_KJI)] = 700.0
    hu[kidney] = 150.0
    hu[tumor] = 60.0
    volume = Volume(hu.astype(np.int16), geometry, "CT")
    labels = LabelMap.empty(geometry)
    for name, mask in (("kidney", kidney), ("tumor", tumor), ("bone", spine)):
        labels = labels.with_mask(name, np.broadcast_to(mask, SHAPE_KJI))
    value_range = (float(volume.voxels.min()), float(volume.voxels.max()))
    return ImageCase(volume, labels, CaseSource("volume", "synthetic-512x512x300"), value_range)


def scroll_fps(app, window, view_name: str, frames: int) -> float:
    """Frames per second while scrolling ``view_name`` forward ``frames`` slices."""
    from PyQt6.QtCore import QPoint, QPointF, Qt
    from PyQt6.QtGui import QWheelEvent

    view = window.view_area.views[view_name]
    slice_views = [v for name, v in window.view_area.visible_views.items() if name != "3d"]
    # Start at the backward end, so that every notch moves to a new slice.
    window.session.view.step_slice(view_name, -window.session.view.slice_count(view_name))
    settle(app, window)
    first = window.session.view.slice_index(view_name)
    centre = QPointF(view.width() / 2.0, view.height() / 2.0)
    notch = QWheelEvent(
        centre,
        QPointF(view.mapToGlobal(centre)),
        QPoint(0, 0),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    start = time.perf_counter()
    for _ in range(frames):
        app.sendEvent(view, notch)
        while any(v.render_pending for v in slice_views):
            app.processEvents()
    settle(app, window)
    elapsed = time.perf_counter() - start
    moved = abs(window.session.view.slice_index(view_name) - first)
    if moved != frames:
        raise RuntimeError(f"{frames} wheel notches moved {view_name} by {moved} slices")
    return frames / elapsed


def settle(app, window) -> None:
    """Process events until no view waits to render (the throttled 3-D view included)."""
    while any(v.render_pending for v in window.view_area.views.values()) or window.runner.busy:
        app.processEvents()
        time.sleep(0.001)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=150, help="wheel notches per measurement")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        if shutil.which("xvfb-run") is None:
            print(
                "no display and no xvfb-run: install xvfb or run under a display", file=sys.stderr
            )
            return 1
        command = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, *sys.argv]
        return subprocess.run(command, check=False).returncode

    from cryoplan_app.qt.app import application
    from cryoplan_app.qt.main_window import MainWindow

    app = application()
    print(f"building the {SHAPE_KJI[2]}×{SHAPE_KJI[1]}×{SHAPE_KJI[0]} CT ...", file=sys.stderr)
    case = synthetic_case()
    window = MainWindow(headless=True)
    window.resize(1600, 1000)
    window.show()
    window.session.open_case(case)
    settle(app, window)
    gl = window.view_area.views["axial"].GetRenderWindow().ReportCapabilities().splitlines()
    renderer = next((line for line in gl if "renderer string" in line), "unknown renderer")
    print(f"OpenGL {renderer.split(':', 1)[-1].strip()}, window 1600×1000")
    results = []
    for layout in ("4up", "axial", "sagittal", "coronal"):
        window.session.view.set_layout(layout)
        settle(app, window)
        views = ("axial", "sagittal", "coronal") if layout == "4up" else (layout,)
        for view_name in views:
            frames = min(args.frames, window.session.view.slice_count(view_name) - 1)
            fps = scroll_fps(app, window, view_name, frames)
            results.append((layout, view_name, fps))
            print(f"layout {layout:9s} scrolling {view_name:9s} {fps:6.1f} frames/s")
    worst = min(fps for _, _, fps in results)
    verdict = "meets" if worst >= GOAL_FPS else "misses"
    print(f"slowest: {worst:.1f} frames/s ({verdict} the goal of {GOAL_FPS:.0f} frames/s)")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
