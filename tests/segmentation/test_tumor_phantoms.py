"""One-click tumor on small synthetic phantoms with analytic truth, and its bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from seg_phantoms import (
    kidney_phantom,
    lung_phantom,
    ultrasound_phantom,
    uniform_organ_phantom,
)

from planning_core.errors import (
    InvalidParameterError,
    OperationCancelledError,
    SegmentationError,
)
from planning_core.progress import CancelToken
from planning_core.segmentation.metrics import (
    dice,
    mask_volume_ml,
    max_diameter_mm,
    mean_surface_distance_mm,
)
from planning_core.segmentation.tumor import TumorSegmentation, segment_tumor


@pytest.fixture(scope="module")
def kidney():
    return kidney_phantom()


@pytest.mark.parametrize(
    ("build", "min_dice", "max_msd_mm"),
    [(kidney_phantom, 0.93, 0.5), (lung_phantom, 0.90, 0.6), (ultrasound_phantom, 0.90, 0.6)],
)
def test_phantom_tumor_matches_analytic_truth(build, min_dice, max_msd_mm):
    phantom = build()
    result = segment_tumor(phantom.volume, phantom.seed_lps_mm)
    spacing = phantom.volume.geometry.spacing_kji_mm
    assert dice(result.mask, phantom.tumor) >= min_dice
    assert mean_surface_distance_mm(result.mask, phantom.tumor, spacing) <= max_msd_mm


def test_result_reports_its_own_measures(kidney):
    result = segment_tumor(kidney.volume, kidney.seed_lps_mm)
    geometry = kidney.volume.geometry
    assert isinstance(result, TumorSegmentation)
    assert result.label_map.names == ("tumor",)
    assert result.label_map.geometry.matches(geometry)
    assert result.volume_ml == pytest.approx(mask_volume_ml(result.mask, geometry))
    assert result.max_diameter_mm == pytest.approx(max_diameter_mm(result.mask, geometry))
    assert 0.0 <= result.confidence <= 1.0
    # A clear lesion: the boundary sits on visible edges, so confidence is high.
    assert result.confidence > 0.7


def test_progress_reaches_one_and_cancel_stops(kidney):
    reports: list[float] = []
    segment_tumor(kidney.volume, kidney.seed_lps_mm, progress=lambda f, m: reports.append(f))
    assert reports[-1] == 1.0
    assert reports == sorted(reports)
    token = CancelToken()
    token.cancel()
    with pytest.raises(OperationCancelledError):
        segment_tumor(kidney.volume, kidney.seed_lps_mm, cancel=token)


def test_box_confines_the_tumor(kidney):
    # A box holding only the tumor's lower half (in z): nothing may leave it.
    box = np.array([[-10.0, -20.0, -20.0], [25.0, 20.0, 2.0]])
    result = segment_tumor(kidney.volume, kidney.seed_lps_mm, box_lps_mm=box)
    geometry = kidney.volume.geometry
    k, j, i = np.nonzero(result.mask)
    lps = geometry.index_to_lps(np.stack([i, j, k], axis=1).astype(float))
    # The box is rounded outward to whole voxels: at most one slice (2 mm) beyond it.
    assert lps[:, 2].max() <= 2.0 + geometry.spacing_mm[2] + 1e-6
    assert dice(result.mask, kidney.tumor & (np.arange(40) < 22)[:, None, None]) > 0.8
    assert any("box" in warning for warning in result.warnings)


def test_edge_click_bounds_the_tumor(kidney):
    seed = kidney.seed_lps_mm
    edge = seed + np.array([11.0, 0.0, 0.0])
    result = segment_tumor(kidney.volume, seed, edge_lps_mm=edge)
    geometry = kidney.volume.geometry
    k, j, i = np.nonzero(result.mask)
    lps = geometry.index_to_lps(np.stack([i, j, k], axis=1).astype(float))
    assert np.linalg.norm(lps - seed, axis=1).max() <= 1.6 * 11.0 + 1e-6
    assert dice(result.mask, kidney.tumor) > 0.85


def test_seed_in_a_large_organ_is_refused():
    phantom = uniform_organ_phantom()
    with pytest.raises(SegmentationError, match="not a lesion"):
        segment_tumor(phantom.volume, phantom.seed_lps_mm)


def test_seed_in_fat_is_refused(kidney):
    with pytest.raises(SegmentationError, match="fat"):
        segment_tumor(kidney.volume, [-30.0, 30.0, 0.0])


def test_seed_outside_the_image_names_the_parameter(kidney):
    with pytest.raises(InvalidParameterError, match="the seed point"):
        segment_tumor(kidney.volume, [500.0, 0.0, 0.0])


def test_malformed_seed_names_the_parameter(kidney):
    with pytest.raises(InvalidParameterError, match="the seed point"):
        segment_tumor(kidney.volume, [1.0, 2.0])


def test_edge_on_the_seed_names_the_parameter(kidney):
    with pytest.raises(InvalidParameterError, match="the edge point"):
        segment_tumor(kidney.volume, kidney.seed_lps_mm, edge_lps_mm=kidney.seed_lps_mm)


def test_box_without_the_seed_names_the_parameter(kidney):
    with pytest.raises(InvalidParameterError, match="the box must"):
        segment_tumor(
            kidney.volume, kidney.seed_lps_mm, box_lps_mm=[[20.0, 20.0, 10.0], [30.0, 30.0, 20.0]]
        )


def test_malformed_box_names_the_parameter(kidney):
    with pytest.raises(InvalidParameterError, match="the box must"):
        segment_tumor(kidney.volume, kidney.seed_lps_mm, box_lps_mm=[1.0, 2.0, 3.0])
