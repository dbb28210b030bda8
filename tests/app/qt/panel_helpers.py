"""Helpers of the panel and workflow tests: clicking at LPS points, waiting for workers."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QPoint, Qt
from PyQt6.QtTest import QTest

#: Longest wait for a worker task in the panel tests.
TASK_TIMEOUT_MS = 120_000


def widget_point(view, lps_mm) -> QPoint:
    """Widget position (logical pixels) of an LPS point on a 2-D view's plane."""
    x_px, y_px = view.scene.lps_to_display(np.asarray(lps_mm, dtype=np.float64))
    ratio = view.devicePixelRatioF()
    _, height_px = view.viewport_px()
    return QPoint(round(x_px / ratio), round((height_px - 1 - y_px) / ratio))


def click_at(qtbot, view, lps_mm) -> None:
    """Left click on ``view`` where ``lps_mm`` is drawn."""
    QTest.mouseClick(view, Qt.MouseButton.LeftButton, pos=widget_point(view, lps_mm))
    qtbot.wait(10)


def wait_idle(qtbot, window, timeout_ms: int = TASK_TIMEOUT_MS) -> None:
    """Wait until the window's worker tasks finished and delivered their results."""
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=timeout_ms)
    qtbot.wait(10)


def tumor_centroid_lps(labels) -> np.ndarray:
    indices = np.argwhere(labels.mask("tumor"))[:, ::-1]
    return labels.geometry.index_to_lps(indices.mean(axis=0))
