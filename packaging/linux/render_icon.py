"""Render packaging/linux/cryoplan.svg to the 256-px PNG the desktop entry installs.

Run ``python packaging/linux/render_icon.py`` after editing the SVG (Qt's SVG renderer).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QGuiApplication, QImage, QPainter
from PyQt6.QtSvg import QSvgRenderer

HERE = Path(__file__).resolve().parent
SIZE_PX = 256


def render(svg: Path = HERE / "cryoplan.svg", png: Path = HERE / "cryoplan.png") -> Path:
    """Write ``png``, a SIZE_PX square rendering of ``svg`` with a transparent background."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG file")
    image = QImage(SIZE_PX, SIZE_PX, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(png), "PNG"):
        raise SystemExit(f"{png}: could not be written")
    return png


if __name__ == "__main__":
    application = QGuiApplication([*sys.argv[:1], "-platform", "offscreen"])
    print(render())
