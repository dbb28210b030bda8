"""Outlines of label regions on one image plane: the voxel edges between different labels.

A filled overlay hides the grey values under it (the enhancement pattern of a
tumor); an outline traces the region's border along the voxel edges and leaves
the inside visible. No Qt, no VTK.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from weakref import WeakKeyDictionary

import numpy as np
from numpy.typing import NDArray

from planning_core.imaging.labels import LabelMap


def outline_segments(
    plane: NDArray[np.integer], values: Sequence[int]
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Border segments of the regions of ``values`` in a 2-D label ``plane``.

    Parameters
    ----------
    plane : ndarray
        Label values indexed ``[a, b]``.
    values : sequence of int
        The label values to outline, in drawing order: a border shared by two
        of them is listed for both, the later one last (drawn on top).

    Returns
    -------
    endpoints : ndarray
        ``(n, 2, 2)`` segment ends in fractional ``(a, b)`` index coordinates;
        voxel ``(a, b)`` spans ``a ± 0.5`` and ``b ± 0.5``.
    segment_values : ndarray
        ``(n,)`` the label value each segment outlines.
    """
    wanted = np.unique(np.asarray(values, dtype=np.int64))
    empty = np.zeros((0, 2, 2)), np.zeros(0, dtype=np.int64)
    plane = np.asarray(plane)
    if wanted.size == 0 or plane.size == 0:
        return empty
    # A lookup by value is much faster than np.isin on a whole plane.
    is_wanted = np.zeros(max(int(plane.max()), int(wanted.max())) + 1, dtype=bool)
    is_wanted[wanted[wanted >= 0]] = True
    shown = is_wanted[plane]
    rows, columns = np.flatnonzero(shown.any(axis=1)), np.flatnonzero(shown.any(axis=0))
    if rows.size == 0:
        return empty
    # Only the box around the wanted regions (and one voxel of their neighbours) matters.
    a0, b0 = max(int(rows[0]) - 1, 0), max(int(columns[0]) - 1, 0)
    a1, b1 = int(rows[-1]) + 2, int(columns[-1]) + 2
    # A zero frame (0 is never a label) closes the regions that touch the box's edge.
    padded = np.pad(plane[a0:a1, b0:b1], 1, constant_values=0)
    pieces: list[tuple[NDArray[np.float64], NDArray[np.int64]]] = []
    for axis in (0, 1):
        before = padded[:-1, :] if axis == 0 else padded[:, :-1]
        after = padded[1:, :] if axis == 0 else padded[:, 1:]
        changes = before != after
        for side in (before, after):
            # Label value of each edge to draw, -1 elsewhere; edges lie along b for
            # axis 0 and along a for axis 1, so runs are followed along that direction.
            edge_values = np.where(changes & is_wanted[side], side.astype(np.int64), -1)
            runs = edge_values if axis == 0 else edge_values.T
            a, b_first, b_last, found = _runs_along_rows(runs)
            # Padded index n is box index n - 1; an edge lies half a voxel past ``before``.
            if axis == 0:  # an edge along b at row boundary a
                a_edge = a + a0 - 0.5
                first = np.stack([a_edge, b_first + b0 - 1.5], axis=-1)
                second = np.stack([a_edge, b_last + b0 - 0.5], axis=-1)
            else:  # an edge along a at column boundary ``a`` (of the transposed runs)
                b_edge = a + b0 - 0.5
                first = np.stack([b_first + a0 - 1.5, b_edge], axis=-1)
                second = np.stack([b_last + a0 - 0.5, b_edge], axis=-1)
            pieces.append((np.stack([first, second], axis=1).astype(np.float64), found))
    endpoints = np.concatenate([ends for ends, _ in pieces])
    segment_values = np.concatenate([found for _, found in pieces])
    drawing_rank = {int(value): order for order, value in enumerate(values)}
    rank_of_wanted = np.array([drawing_rank[int(value)] for value in wanted])
    ranks = rank_of_wanted[np.searchsorted(wanted, segment_values)]
    order = np.argsort(ranks, kind="stable")
    return endpoints[order], segment_values[order]


def _runs_along_rows(
    values: NDArray[np.int64],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Runs of one value (not -1) along each row: row, first and last column, value.

    Merging the unit edges of a border into runs keeps a smooth organ's outline
    to a few hundred lines instead of thousands, which the renderer draws each frame.
    """
    left = np.full((values.shape[0], 1), -1, dtype=values.dtype)
    framed = np.concatenate([left, values, left], axis=1)
    inside = framed[:, 1:-1] >= 0
    starts = inside & (framed[:, 1:-1] != framed[:, :-2])
    ends = inside & (framed[:, 1:-1] != framed[:, 2:])
    rows, first = np.nonzero(starts)
    _, last = np.nonzero(ends)
    return rows, first, last, values[rows, first].astype(np.int64)


def outline_order(labels: LabelMap, names: Sequence[str]) -> tuple[str, ...]:
    """``names`` in drawing order: targets last, so that their outline lies on top."""
    return tuple(sorted(names, key=lambda name: labels.info(name).role == "target"))


def outline_opacity(fill_opacity: float) -> float:
    """Outline opacity for the labels panel's (fill) opacity: twice as strong, at most 1.

    A thin line needs more opacity than a fill to be seen; the slider at 0 still hides both.
    """
    return min(1.0, 2.0 * fill_opacity)


# Boxes of label maps already measured: a label map never changes (edits make new ones).
_BOXES: WeakKeyDictionary[LabelMap, dict[str, NDArray[np.float64] | None]] = WeakKeyDictionary()


def label_box_corners_lps(labels: LabelMap | None, name: str) -> NDArray[np.float64] | None:
    """The 8 corners (LPS mm) of the voxel box around label ``name``; ``None`` when empty."""
    if labels is None or not labels.has(name):
        return None
    boxes = _BOXES.setdefault(labels, {})
    if name not in boxes:
        indices = np.argwhere(labels.mask(name))  # rows of (k, j, i)
        if not len(indices):
            boxes[name] = None
        else:
            low, high = indices.min(axis=0)[::-1] - 0.5, indices.max(axis=0)[::-1] + 0.5
            corners = np.array(list(itertools.product(*zip(low, high, strict=True))))
            boxes[name] = labels.geometry.index_to_lps(corners)
    return boxes[name]
