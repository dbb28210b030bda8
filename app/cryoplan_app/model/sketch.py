"""What the lesion tools draw over the 2-D views: a diameter line and painted strokes.

The segmentation panel's tools write here; every 2-D view draws the parts
that lie on the plane it shows (:mod:`cryoplan_app.render.sketch_overlay`).
Points are LPS mm on the plane of the view they were drawn in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cryoplan_app.model.signals import Signal


@dataclass(frozen=True, eq=False)
class SketchLine:
    """A line dragged on one slice (a lesion's long axis, as in a RECIST measurement)."""

    start_lps_mm: NDArray[np.float64]
    end_lps_mm: NDArray[np.float64]

    @property
    def length_mm(self) -> float:
        return float(np.linalg.norm(self.end_lps_mm - self.start_lps_mm))


@dataclass(frozen=True, eq=False)
class Stroke:
    """One painted stroke: its points in drawing order and whether they mark lesion.

    ``lesion`` False means "not lesion" (background).
    """

    lesion: bool
    points_lps_mm: NDArray[np.float64]  # (N, 3)

    def extended(self, point_lps_mm: ArrayLike, *, step_mm: float) -> Stroke:
        """This stroke continued to ``point_lps_mm`` with points at most ``step_mm`` apart.

        A fast drag jumps several mm between two mouse events; the filled-in
        points keep the painted band continuous. A point closer than
        ``step_mm`` to the last one adds nothing (the stroke is returned as is).
        """
        point = np.asarray(point_lps_mm, dtype=np.float64).reshape(3)
        last = self.points_lps_mm[-1]
        distance_mm = float(np.linalg.norm(point - last))
        if distance_mm < step_mm:
            return self
        count = math.ceil(distance_mm / step_mm)
        fractions = np.arange(1, count + 1) / count
        added = last + fractions[:, np.newaxis] * (point - last)
        return Stroke(self.lesion, np.concatenate([self.points_lps_mm, added]))


def new_stroke(lesion: bool, point_lps_mm: ArrayLike) -> Stroke:
    """A stroke that starts at ``point_lps_mm``."""
    return Stroke(lesion, np.asarray(point_lps_mm, dtype=np.float64).reshape(1, 3))


def new_line(start_lps_mm: ArrayLike, end_lps_mm: ArrayLike) -> SketchLine:
    return SketchLine(
        np.asarray(start_lps_mm, dtype=np.float64).reshape(3),
        np.asarray(end_lps_mm, dtype=np.float64).reshape(3),
    )


class Sketch:
    """The line and strokes the views show; ``changed`` () after every change."""

    def __init__(self) -> None:
        self.changed = Signal()
        self.line: SketchLine | None = None
        self.strokes: tuple[Stroke, ...] = ()
        self.live: Stroke | None = None  # the stroke being painted

    def set_line(self, line: SketchLine | None) -> None:
        self.line = line
        self.changed.emit()

    def set_strokes(self, strokes: tuple[Stroke, ...], *, live: Stroke | None = None) -> None:
        self.strokes, self.live = tuple(strokes), live
        self.changed.emit()

    def clear(self) -> None:
        self.line, self.strokes, self.live = None, (), None
        self.changed.emit()

    @property
    def shown_strokes(self) -> tuple[Stroke, ...]:
        """The painted strokes and the one being painted."""
        return self.strokes if self.live is None else (*self.strokes, self.live)
