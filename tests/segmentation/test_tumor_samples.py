"""One-click tumor on every sample case against its ground truth.

Goals (issue 4): Dice >= 0.90 on CT and >= 0.80 on ultrasound, mean surface
distance <= 1 mm on CT; ten seeds inside the tumor agree within 0.03 Dice.
The seeds are drawn uniformly from the ground-truth tumor eroded by 2 mm (so
they lie clearly inside it, rim and necrosis included) with a fixed generator.
The figures are printed in the terminal summary (``segment_figures``).
"""

from __future__ import annotations

import numpy as np
import pytest

from planning_core.errors import SegmentationError
from planning_core.segmentation.metrics import dice, mean_surface_distance_mm
from planning_core.segmentation.morphology import erode_mm
from planning_core.segmentation.tumor import segment_tumor

#: case: (Dice goal, mean surface distance goal in mm, or None where the issue sets none)
GOALS = {
    "kidney": (0.90, 1.0),
    "liver": (0.90, 1.0),
    "lung": (0.90, 1.0),
    "breast": (0.80, None),
}
SEED_SPREAD_GOAL = 0.03
#: Seeds lie at least this deep inside the ground-truth tumor.
SEED_DEPTH_MM = 2.0


def _figures(case, figures) -> dict[str, float]:
    """Dice and MSD of the one-click tumor from the manifest seed (computed once per case)."""
    row = figures.setdefault(case.name, {})
    if "dice" not in row:
        result = segment_tumor(case.volume, case.seed_lps_mm)
        spacing = case.volume.geometry.spacing_kji_mm
        row["dice"] = dice(result.mask, case.truth)
        row["msd_mm"] = mean_surface_distance_mm(result.mask, case.truth, spacing)
        row["volume_ml"] = result.volume_ml
        row["truth_ml"] = case.labels.volume_ml("tumor")
    return row


@pytest.mark.parametrize("name", list(GOALS))
def test_one_click_tumor_dice_goal(sample_case, segment_figures, name):
    assert _figures(sample_case(name), segment_figures)["dice"] >= GOALS[name][0]


@pytest.mark.parametrize("name", [name for name, goal in GOALS.items() if goal[1] is not None])
def test_one_click_tumor_surface_distance_goal(sample_case, segment_figures, name):
    assert _figures(sample_case(name), segment_figures)["msd_mm"] <= GOALS[name][1]


def test_one_click_kidney_volume_within_five_percent(sample_case, segment_figures):
    """The optimizer plans on this tumor: a leak into the parenchyma makes it infeasible."""
    row = _figures(sample_case("kidney"), segment_figures)
    assert row["volume_ml"] == pytest.approx(row["truth_ml"], rel=0.05)


def random_seeds_inside(truth, geometry, count: int, rng_seed: int) -> np.ndarray:
    """``count`` LPS seeds drawn uniformly from ``truth`` eroded by ``SEED_DEPTH_MM``."""
    core = erode_mm(truth, SEED_DEPTH_MM, geometry.spacing_kji_mm)
    candidates = np.argwhere(core)
    rng = np.random.default_rng(rng_seed)
    chosen = candidates[rng.choice(len(candidates), size=count, replace=False)]
    return geometry.index_to_lps(chosen[:, ::-1].astype(np.float64))


def test_random_seeds_lie_inside_and_deep_enough(sample_case):
    case = sample_case("kidney")
    geometry = case.volume.geometry
    seeds = random_seeds_inside(case.truth, geometry, 10, rng_seed=2024)
    from scipy import ndimage

    depth = ndimage.distance_transform_edt(case.truth, sampling=geometry.spacing_kji_mm)
    for seed in seeds:
        i, j, k = geometry.lps_to_nearest_index(seed)
        # Distance from the voxel centre to the nearest voxel outside the tumor.
        assert depth[k, j, i] >= SEED_DEPTH_MM - 1e-3
    assert len({tuple(np.round(s, 3)) for s in seeds}) == 10


@pytest.mark.slow
@pytest.mark.parametrize("name", list(GOALS))
def test_ten_seeds_inside_the_tumor_agree_within_goal(sample_case, segment_figures, name):
    case = sample_case(name)
    scores = []
    for seed in random_seeds_inside(case.truth, case.volume.geometry, 10, rng_seed=2024):
        try:
            scores.append(dice(segment_tumor(case.volume, seed).mask, case.truth))
        except SegmentationError:
            scores.append(0.0)
    segment_figures.setdefault(name, {}).update(seed_min=min(scores), seed_max=max(scores))
    assert max(scores) - min(scores) <= SEED_SPREAD_GOAL
    assert min(scores) >= GOALS[name][0]


@pytest.mark.parametrize("name", ["kidney", "liver", "lung"])
def test_seed_outside_any_lesion_is_refused(sample_case, name):
    """A click in the fat or in the host organ never returns a body-sized tumor."""
    case = sample_case(name)
    geometry = case.volume.geometry
    host = {"kidney": "fat", "liver": "liver", "lung": "fat"}[name]
    mask = case.labels.mask(host)
    from scipy import ndimage

    depth = ndimage.distance_transform_edt(mask, sampling=geometry.spacing_kji_mm)
    k, j, i = np.unravel_index(int(np.argmax(depth)), depth.shape)
    seed = geometry.index_to_lps([i, j, k])
    try:
        result = segment_tumor(case.volume, seed)
    except SegmentationError as error:
        assert "not" in str(error) and "lesion" in str(error)
        return
    assert result.warnings, "an accepted non-lesion seed must come with a warning"
    assert result.volume_ml < 0.5 * case.labels.volume_ml(host)
