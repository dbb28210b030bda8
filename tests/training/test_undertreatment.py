"""Under-treated tumor regions against closed-form dose fields."""

from __future__ import annotations

import numpy as np
import pytest
from training_phantom import TUMOR_RADIUS_MM, grid_lps, phantom_case

from planning_core.imaging.geometry import Geometry
from planning_core.training.undertreatment import (
    side_name,
    undertreated_regions,
    undertreated_tumor_mask,
)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        ((0.0, 5.0, 0.0), "posterior"),
        ((0.0, -5.0, 1.0), "anterior"),
        ((-5.0, 0.0, -4.0), "right-inferior"),
        ((3.0, 0.0, 6.0), "superior-left"),
        ((0.2, 0.1, 0.0), "all around"),
    ],
)
def test_side_names_follow_lps(offset, expected):
    assert side_name(np.array(offset), central_mm=1.0) == expected


def half_space_dose(geometry: Geometry, *, lethal_below_x_mm: float) -> np.ndarray:
    """-60 °C where x <= the plane, +10 °C elsewhere, on ``geometry``."""
    x = grid_lps(geometry)[..., 0]
    return np.where(x <= lethal_below_x_mm, -60.0, 10.0).astype(np.float32)


def test_half_covered_tumor_leaves_the_left_part_with_closed_form_depth():
    _, labels = phantom_case()
    geometry = labels.geometry
    dose = half_space_dose(geometry, lethal_below_x_mm=1.0)
    regions = undertreated_regions(labels, dose, geometry, lethal_isotherm_c=-40.0)
    assert len(regions) == 1
    region = regions[0]
    assert region.side == "left"
    # The farthest warm tumor voxel centre (x = 6) lies 5 mm from the lethal plane (x = 1).
    assert region.depth_mm == pytest.approx(TUMOR_RADIUS_MM - 1.0)
    tumor = labels.mask("tumor")
    lps = grid_lps(geometry)
    expected = np.count_nonzero(tumor & (lps[..., 0] > 1.0))
    assert region.volume_ml == pytest.approx(expected / 1000.0)
    assert region.tumor_fraction == pytest.approx(expected / np.count_nonzero(tumor))


def test_mask_on_image_grid_and_surface_subset():
    _, labels = phantom_case()
    geometry = labels.geometry
    dose = half_space_dose(geometry, lethal_below_x_mm=1.0)
    full = undertreated_tumor_mask(labels, dose, geometry, lethal_isotherm_c=-40.0)
    surface = undertreated_tumor_mask(
        labels, dose, geometry, lethal_isotherm_c=-40.0, surface_only=True
    )
    x = grid_lps(geometry)[..., 0]
    assert full.shape == geometry.shape
    np.testing.assert_array_equal(full, labels.mask("tumor") & (x > 1.0))
    assert surface.any() and not (surface & ~full).any() and surface.sum() < full.sum()


def test_no_lethal_zone_gives_a_region_without_depth_and_all_covered_gives_none():
    _, labels = phantom_case()
    geometry = labels.geometry
    warm = np.full(geometry.shape, 5.0, dtype=np.float32)
    (region,) = undertreated_regions(labels, warm, geometry, lethal_isotherm_c=-40.0)
    assert region.depth_mm is None and region.side == "all around"
    assert region.tumor_fraction == pytest.approx(1.0)
    cold = np.full(geometry.shape, -80.0, dtype=np.float32)
    assert undertreated_regions(labels, cold, geometry, lethal_isotherm_c=-40.0) == ()
