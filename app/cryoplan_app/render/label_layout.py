"""Placing text labels beside their anchor points without overlaps (screen pixels, no VTK).

Probes inserted side by side have their entry points, where their names
go, a few pixels apart. Each label takes the first free place among those
around its anchor, nearest first; a label moved away from its anchor gets
a leader line back to it, and a label with no free place is left out
rather than drawn over another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

#: Free space kept between a label, its anchor and the other labels (pixels).
GAP_PX = 4.0
# How many label heights a label may move up or down from its anchor.
_MAX_ROWS = 8


@dataclass(frozen=True)
class Placement:
    """Lower left corner of a placed label and whether it needs a leader line."""

    x_px: float
    y_px: float
    leader: bool


def place_labels(
    anchors_px: ArrayLike,
    sizes_px: ArrayLike,
    viewport_px: tuple[float, float],
    *,
    keep_clear_px: Sequence[tuple[float, float, float, float]] = (),
) -> list[Placement | None]:
    """Places for labels of ``sizes_px`` (width, height) near ``anchors_px`` (x, y; y up).

    Labels are placed in the order given (the first has the first choice);
    none overlaps another, covers another label's anchor, leaves the viewport
    or covers a box of ``keep_clear_px`` (x0, y0, x1, y1). ``None`` marks a
    label left out.
    """
    anchors = np.asarray(anchors_px, dtype=np.float64).reshape(-1, 2)
    sizes = np.asarray(sizes_px, dtype=np.float64).reshape(-1, 2)
    taken: list[tuple[float, float, float, float]] = list(keep_clear_px)
    placements: list[Placement | None] = []
    for index, ((x, y), (width, height)) in enumerate(zip(anchors, sizes, strict=True)):
        others = np.delete(anchors, index, axis=0)
        chosen = None
        for dx, dy, leader in _candidates(width, height):
            box = (x + dx, y + dy, x + dx + width, y + dy + height)
            if _fits(box, viewport_px, taken, others):
                chosen = Placement(box[0], box[1], leader)
                taken.append(box)
                break
        placements.append(chosen)
    return placements


def _candidates(width: float, height: float):
    """Offsets of a label's lower left corner from its anchor, nearest first."""
    right, left = GAP_PX, -width - GAP_PX
    above, below = GAP_PX, -height - GAP_PX
    for dx, dy in ((right, above), (right, below), (left, above), (left, below)):
        yield dx, dy, False
    step = height + GAP_PX
    for row in range(1, _MAX_ROWS + 1):
        for dx in (right + 2 * GAP_PX, left - 2 * GAP_PX):
            yield dx, above + row * step, True
            yield dx, below - row * step, True


def _fits(
    box: tuple[float, float, float, float],
    viewport_px: tuple[float, float],
    taken: list[tuple[float, float, float, float]],
    anchors: np.ndarray,
) -> bool:
    x0, y0, x1, y1 = box
    if x0 < 0 or y0 < 0 or x1 > viewport_px[0] or y1 > viewport_px[1]:
        return False
    for a0, b0, a1, b1 in taken:
        if x0 < a1 + GAP_PX and a0 < x1 + GAP_PX and y0 < b1 + GAP_PX and b0 < y1 + GAP_PX:
            return False
    if len(anchors):
        inside_x = (anchors[:, 0] > x0 - GAP_PX) & (anchors[:, 0] < x1 + GAP_PX)
        inside_y = (anchors[:, 1] > y0 - GAP_PX) & (anchors[:, 1] < y1 + GAP_PX)
        if np.any(inside_x & inside_y):
            return False
    return True


def leader_end(
    placement: Placement, size_px: ArrayLike, anchor_px: ArrayLike
) -> tuple[float, float]:
    """The point of a placed label's box nearest to its anchor, where its leader line ends."""
    width, height = np.asarray(size_px, dtype=np.float64)
    x, y = np.asarray(anchor_px, dtype=np.float64)
    return (
        float(np.clip(x, placement.x_px, placement.x_px + width)),
        float(np.clip(y, placement.y_px, placement.y_px + height)),
    )
