"""Label outlines and probe-name placement, without a display."""

from __future__ import annotations

import numpy as np
from cryoplan_app.model.label_outlines import outline_segments
from cryoplan_app.render.label_layout import place_labels


def test_outline_traces_the_voxel_edges_of_each_region() -> None:
    plane = np.zeros((5, 6), dtype=np.uint8)
    plane[1:3, 1:3] = 2  # a 2×2 square
    plane[0, 5] = 7  # one voxel in the corner, at the plane's edge
    plane[3, 3] = 9  # not asked for
    ends, values = outline_segments(plane, [2, 7])
    assert sorted(np.unique(values)) == [2, 7]
    square = ends[values == 2]
    assert len(square) == 4  # one run of 2 voxel edges on each of 4 sides
    assert square[..., 0].min() == 0.5 and square[..., 0].max() == 2.5
    assert square[..., 1].min() == 0.5 and square[..., 1].max() == 2.5
    corner = ends[values == 7]
    assert len(corner) == 4
    np.testing.assert_array_equal(np.unique(corner[..., 0]), [-0.5, 0.5])
    np.testing.assert_array_equal(np.unique(corner[..., 1]), [4.5, 5.5])


def test_shared_border_is_drawn_last_for_the_last_value() -> None:
    plane = np.zeros((3, 4), dtype=np.int16)
    plane[1, 1], plane[1, 2] = 3, 1  # two touching regions
    _, values = outline_segments(plane, [3, 1])
    assert values[-1] == 1 and values[0] == 3  # 1 (the target) on top


def test_names_of_coincident_anchors_are_spread_without_overlap() -> None:
    anchors = [(100.0, 100.0)] * 5 + [(101.0, 99.0)]
    places = place_labels(anchors, [(18.0, 14.0)] * 6, (300.0, 300.0))
    boxes = [(p.x_px, p.y_px, p.x_px + 18.0, p.y_px + 14.0) for p in places if p is not None]
    assert len(boxes) == 6
    for first in range(6):
        for second in range(first + 1, 6):
            a, b = boxes[first], boxes[second]
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
    assert sum(p.leader for p in places) >= 2  # those moved away point back


def test_a_name_without_room_is_left_out() -> None:
    # A viewport just big enough for one label beside the anchor.
    places = place_labels([(2.0, 2.0), (2.0, 2.0)], [(18.0, 14.0)] * 2, (26.0, 22.0))
    assert places[0] is not None and places[1] is None


def test_outline_runs_cover_exactly_the_unit_edges() -> None:
    # Merged runs must trace the same border as one segment per voxel edge: every
    # unit edge between a wanted region and anything else, once per value.
    rng = np.random.default_rng(7)
    plane = rng.integers(0, 4, size=(23, 31)).astype(np.uint8)
    plane[5:15, 8:20] = 2
    ends, values = outline_segments(plane, [1, 2])
    covered = set()
    for (start, stop), value in zip(ends, values, strict=True):
        steps = int(np.rint(np.abs(stop - start).max()))
        assert steps >= 1 and (start == stop).sum() == 1  # axis-parallel, at least one edge
        direction = (stop - start) / steps
        for step in range(steps):
            low = start + direction * step
            key = (*np.round(low * 2).astype(int), *np.round(direction).astype(int), int(value))
            assert key not in covered
            covered.add(key)
    expected = set()
    padded = np.pad(plane, 1)
    for a in range(padded.shape[0]):
        for b in range(padded.shape[1]):
            for da, db in ((1, 0), (0, 1)):
                if a + da >= padded.shape[0] or b + db >= padded.shape[1]:
                    continue
                here, there = int(padded[a, b]), int(padded[a + da, b + db])
                if here == there:
                    continue
                # The edge between voxels (a-1, b-1) and (a-1+da, b-1+db), unpadded.
                if da:  # a horizontal edge (along b) at a - 0.5 + 0.5
                    low, direction = np.array([a - 0.5, b - 1.5]), (0, 1)
                else:
                    low, direction = np.array([a - 1.5, b - 0.5]), (1, 0)
                for value in {here, there} & {1, 2}:
                    expected.add((*np.round(low * 2).astype(int), *direction, value))
    assert covered == expected
