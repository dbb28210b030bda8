"""One-click tumor on every sample case against its ground truth.

Goals (issue 4): Dice >= 0.90 on CT and >= 0.80 on ultrasound, mean surface
distance <= 1 mm on CT; ten seeds inside the tumor agree within 0.03 Dice.
Where a case misses a goal today the goal is kept as a strict xfail (it turns
into a failure the day it is met, so the threshold gets raised) and the level
reached is guarded by a regression floor.
"""

from __future__ import annotations

import numpy as np
import pytest

from planning_core.errors import SegmentationError
from planning_core.segmentation.metrics import dice, mean_surface_distance_mm
from planning_core.segmentation.morphology import erode_mm
from planning_core.segmentation.tumor import segment_tumor

# case: (Dice goal, MSD goal mm or None, regression floor of Dice, ceiling of MSD)
GOALS = {
    "kidney": (0.90, 1.0, 0.90, 1.2),
    "liver": (0.90, 1.0, 0.85, 1.2),
    "lung": (0.90, 1.0, 0.90, 1.0),
    "breast": (0.80, None, 0.80, 1.0),
}
MISSED = {("kidney", "msd"), ("liver", "dice")}


_FIGURES: dict[str, tuple[float, float]] = {}


def _figures(case) -> tuple[float, float]:
    """Dice and MSD of the one-click tumor from the manifest seed (computed once per case)."""
    if case.name not in _FIGURES:
        result = segment_tumor(case.volume, case.seed_lps_mm)
        spacing = case.volume.geometry.spacing_kji_mm
        score = dice(result.mask, case.truth)
        distance = mean_surface_distance_mm(result.mask, case.truth, spacing)
        print(
            f"\n[segment] {case.name}: Dice {score:.3f}, MSD {distance:.2f} mm, "
            f"volume {result.volume_ml:.2f} ml (truth {case.labels.volume_ml('tumor'):.2f}), "
            f"confidence {result.confidence:.2f}, warnings {list(result.warnings)}"
        )
        _FIGURES[case.name] = (score, distance)
    return _FIGURES[case.name]


@pytest.mark.parametrize("name", list(GOALS))
def test_one_click_tumor_reaches_floor(sample_case, name):
    case = sample_case(name)
    score, distance = _figures(case)
    _, _, floor, ceiling = GOALS[name]
    assert score >= floor
    assert distance <= ceiling


def _goal_params(kind: str):
    for name in GOALS:
        marks = (
            [pytest.mark.xfail(strict=True, reason="goal not reached yet (see report)")]
            if (name, kind) in MISSED
            else []
        )
        if kind == "msd" and GOALS[name][1] is None:
            continue
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", list(_goal_params("dice")))
def test_one_click_tumor_dice_goal(sample_case, name):
    case = sample_case(name)
    score, _ = _figures(case)
    assert score >= GOALS[name][0]


@pytest.mark.parametrize("name", list(_goal_params("msd")))
def test_one_click_tumor_surface_distance_goal(sample_case, name):
    case = sample_case(name)
    _, distance = _figures(case)
    assert distance <= GOALS[name][1]


def _random_seeds(case, count: int, rng_seed: int) -> np.ndarray:
    """Seeds drawn uniformly from the tumor eroded by a third of its inscribed radius."""
    geometry = case.volume.geometry
    truth = case.truth
    from scipy import ndimage

    depth = ndimage.distance_transform_edt(truth, sampling=geometry.spacing_kji_mm)
    core = erode_mm(truth, depth.max() / 3.0, geometry.spacing_kji_mm)
    candidates = np.argwhere(core)
    rng = np.random.default_rng(rng_seed)
    chosen = candidates[rng.choice(len(candidates), size=count, replace=False)]
    return geometry.index_to_lps(chosen[:, ::-1].astype(np.float64))


#: Largest Dice spread over ten seeds allowed today where the 0.03 goal is missed.
SPREAD_FLOOR = {"kidney": 0.08, "liver": 0.16, "breast": 0.14}
_SPREADS: dict[str, float] = {}


def _seed_spread(case) -> float:
    if case.name not in _SPREADS:
        scores = [
            dice(segment_tumor(case.volume, seed).mask, case.truth)
            for seed in _random_seeds(case, 10, rng_seed=2024)
        ]
        _SPREADS[case.name] = max(scores) - min(scores)
        print(
            f"\n[segment] {case.name}: 10 random seeds, Dice min {min(scores):.3f} "
            f"max {max(scores):.3f} spread {_SPREADS[case.name]:.3f}"
        )
    return _SPREADS[case.name]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(GOALS))
def test_ten_seeds_inside_the_tumor_stay_within_floor(sample_case, name):
    assert _seed_spread(sample_case(name)) <= SPREAD_FLOOR.get(name, 0.03)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=[pytest.mark.xfail(strict=True, reason="goal not reached yet (see report)")]
            if name in SPREAD_FLOOR
            else [],
        )
        for name in GOALS
    ],
)
def test_ten_seeds_inside_the_tumor_agree_within_goal(sample_case, name):
    assert _seed_spread(sample_case(name)) <= 0.03


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
