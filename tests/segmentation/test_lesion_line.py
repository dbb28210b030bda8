"""Diameter line (RECIST-initialised) segmentation and the RECIST axes."""

from __future__ import annotations

import numpy as np
import pytest
from lesion_phantoms import lesion_phantom

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.segmentation.lesion_line import segment_from_diameter
from planning_core.segmentation.metrics import dice, recist_axes

LINE_DICE_GOAL = 0.85


@pytest.fixture(scope="module")
def heterogeneous():
    return lesion_phantom()


@pytest.fixture(scope="module")
def line_result(heterogeneous):
    return segment_from_diameter(
        heterogeneous.volume, heterogeneous.line_start_lps_mm, heterogeneous.line_end_lps_mm
    )


def test_line_takes_the_whole_heterogeneous_lesion(heterogeneous, line_result):
    """Core, viable layer, rim and calcification: all of them, not the core alone."""
    assert dice(line_result.mask, heterogeneous.truth) >= LINE_DICE_GOAL
    assert not line_result.uncertain
    long_mm = float(np.linalg.norm(heterogeneous.line_end_lps_mm - heterogeneous.line_start_lps_mm))
    assert line_result.recist is not None
    assert line_result.recist.long_mm == pytest.approx(long_mm, rel=0.15)
    assert line_result.recist.short_mm <= line_result.recist.long_mm


def test_far_tissue_at_a_lesion_level_does_not_eat_the_lesion(heterogeneous, line_result):
    """A muscle slab at the viable tumor's level lies beyond the bound: it must not make
    the viable layer background (it did while far tissues competed everywhere)."""
    viable_layer = heterogeneous.truth & ~_core(heterogeneous)
    assert np.count_nonzero(line_result.mask & viable_layer) >= 0.8 * np.count_nonzero(viable_layer)


def _core(phantom):
    geometry = phantom.volume.geometry
    k, j, i = np.nonzero(phantom.truth)
    lps = geometry.index_to_lps(np.stack([i, j, k], axis=1).astype(float))
    rho = np.sqrt((lps[:, 0] / 20.0) ** 2 + (lps[:, 1] / 15.0) ** 2 + (lps[:, 2] / 14.0) ** 2)
    core = np.zeros_like(phantom.truth)
    core[k[rho <= 0.55], j[rho <= 0.55], i[rho <= 0.55]] = True
    return core


def test_iso_dense_margin_is_recovered_from_the_drawn_length():
    """A 3 mm outer layer at the host's level is invisible; the line's ends show it."""
    phantom = lesion_phantom(iso_rim_mm=3.0)
    result = segment_from_diameter(
        phantom.volume, phantom.line_start_lps_mm, phantom.line_end_lps_mm
    )
    assert dice(result.mask, phantom.truth) >= LINE_DICE_GOAL


def test_line_paints_into_an_existing_label_map(heterogeneous):
    geometry = heterogeneous.volume.geometry
    other = np.zeros(geometry.shape, dtype=bool)
    other[0, :5, :5] = True
    base = LabelMap.empty(geometry).with_mask("liver", other)
    result = segment_from_diameter(
        heterogeneous.volume,
        heterogeneous.line_start_lps_mm,
        heterogeneous.line_end_lps_mm,
        seed_lps_mm=heterogeneous.core_lps_mm,
        into=base,
        label="lesion",
    )
    assert result.label_map.has("liver") and result.label_map.voxel_count("liver") == 25
    assert result.label_map.info("lesion").role == "target"
    assert result.mask.any()


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ([0.0, 0.0, 0.0], [2.0, 0.0, 0.0], "--diameter is 2.0 mm long"),
        ([0.0, 0.0, 0.0], [500.0, 0.0, 0.0], "--diameter end"),
        ([0.0, 0.0, -10.0], [0.0, 0.0, 10.0], "across the slices"),
        ([0.0, np.nan, 0.0], [10.0, 0.0, 0.0], "--diameter start"),
    ],
)
def test_bad_lines_are_refused_with_the_flag_named(heterogeneous, start, end, message):
    with pytest.raises(InvalidParameterError, match=message):
        segment_from_diameter(heterogeneous.volume, start, end)


def test_recist_axes_of_a_rotated_ellipse():
    geometry = Geometry((30, 100, 100), np.array([0.8, 0.8, 2.0]), np.zeros(3))
    k, j, i = np.meshgrid(*[np.arange(n) for n in geometry.shape], indexing="ij")
    x, y, z = i * 0.8 - 40.0, j * 0.8 - 40.0, k * 2.0 - 30.0
    cos, sin = np.cos(0.5), np.sin(0.5)
    along, across = cos * x + sin * y, -sin * x + cos * y
    mask = (along / 20.0) ** 2 + (across / 10.0) ** 2 + (z / 8.0) ** 2 <= 1.0
    axes = recist_axes(mask, geometry)
    assert axes is not None
    assert axes.slice_index == 15
    assert axes.long_mm == pytest.approx(40.0, abs=1.6)
    assert axes.short_mm == pytest.approx(20.0, abs=1.6)
    direction = np.diff(axes.long_end_points_lps_mm, axis=0)[0]
    assert abs(direction @ np.array([cos, sin, 0.0])) / np.linalg.norm(direction) > 0.98
    short = np.diff(axes.short_end_points_lps_mm, axis=0)[0]
    assert abs(short @ direction) / (np.linalg.norm(short) * np.linalg.norm(direction)) < 0.1
    assert recist_axes(np.zeros_like(mask), geometry) is None
