"""Confirmation sample data: plan, follow-up CTs and their truth agree with each other."""

from __future__ import annotations

import numpy as np
import pytest
from cryoplan_samples import ensure_sample_case
from cryoplan_samples.confirmation import (
    ICE_HU,
    METAL_HU,
    ZONE_SOFT_TISSUE_HU,
    ensure_confirmation_case,
)

from planning_core.errors import InvalidParameterError
from planning_core.imaging.loader import load_image
from planning_core.planning.approach import approach_of_record
from planning_core.planning.case_files import load_plan_case
from planning_core.planning.plan_json import load_plan


@pytest.fixture(scope="module")
def intra():
    case = ensure_confirmation_case("kidney", "intra")
    return case, load_image(case.ct_dir)


@pytest.fixture(scope="module")
def post_incomplete():
    case = ensure_confirmation_case("kidney", "post", variant="incomplete")
    return case, load_image(case.ct_dir)


def _value(volume, point) -> float:
    return volume.value_at_lps(np.asarray(point, dtype=float))


def test_the_plan_opens_on_the_sample_case(intra) -> None:
    case, _ = intra
    plan = load_plan(case.plan_path)
    opened = load_plan_case(plan, plan_path=case.plan_path)
    base = ensure_sample_case("kidney")
    assert plan.case is not None and plan.case.matches(opened.volume)
    assert opened.label_map.has("tumor")
    assert 1 <= len(plan.probes) <= 4
    labels = base.load_labels(opened.volume.geometry)
    tumor = labels.mask("tumor")
    # Rule-based probes stand in the tumor: each probe's shaft crosses it.
    for probe in plan.probes:
        samples = (
            np.asarray(probe.tip_lps_mm) - np.linspace(0, 40, 81)[:, None] * probe.direction_lps
        )
        ijk = labels.geometry.lps_to_nearest_index(samples)
        assert tumor[ijk[:, 2], ijk[:, 1], ijk[:, 0]].any(), probe.label
    assert [p["plan_probe"] for p in case.truth["placed_probes"]] == [p.label for p in plan.probes]
    # The prone patient's probes come from the back, as the planner's rules have it: none
    # from the table side, every handle inside the gantry bore.
    assert plan.settings.patient_position == "HFP" and plan.approach is not None
    refusals = approach_of_record(plan.approach).probe_refusals(
        [p.entry_lps_mm for p in plan.probes], [p.tip_lps_mm for p in plan.probes]
    )
    assert not refusals.any()


def test_placed_probes_are_metal_on_the_follow_up_ct(intra) -> None:
    case, follow_up = intra
    motion = case.motion
    for probe in case.truth["placed_probes"]:
        tip = np.asarray(probe["follow_up_tip_lps_mm"])
        entry = np.asarray(probe["follow_up_entry_lps_mm"])
        axis = (entry - tip) / np.linalg.norm(entry - tip)
        assert _value(follow_up, tip + 3.0 * axis) > 0.5 * METAL_HU
        assert _value(follow_up, (tip + entry) / 2) > 0.5 * METAL_HU
        # The metal ends at the tip: a few millimetres beyond it there is none.
        assert _value(follow_up, tip - 3.0 * axis) < 500.0
        # The truth's follow-up points are its planning points moved by the true motion.
        mapped = motion.follow_up_to_planning_lps(np.vstack([tip, entry]))
        np.testing.assert_allclose(mapped[0], probe["tip_lps_mm"], atol=0.01)
        np.testing.assert_allclose(mapped[1], probe["entry_lps_mm"], atol=0.01)
        assert probe["tip_error_mm"] > 0.5 and probe["angle_error_deg"] > 0.5


def test_ice_is_hypodense_around_the_freezing_segments(intra) -> None:
    case, follow_up = intra
    assert case.truth["elapsed_s"] > 0
    assert case.truth["visible_ice_volume_ml"] > 3.0
    values = []
    for probe in case.truth["placed_probes"]:
        tip = np.asarray(probe["follow_up_tip_lps_mm"])
        entry = np.asarray(probe["follow_up_entry_lps_mm"])
        axis = (entry - tip) / np.linalg.norm(entry - tip)
        middle = tip + 18.0 * axis  # the freezing segment's middle
        side = np.cross(axis, [0.0, 0.0, 1.0])
        side /= np.linalg.norm(side)
        for radius in (5.0, 7.0):
            for sign in (-1.0, 1.0):
                values.append(_value(follow_up, middle + sign * radius * side))
    assert abs(np.median(values) - ICE_HU) < 40.0, values


def test_true_motion_is_invertible_and_moves_the_organ(intra) -> None:
    case, _ = intra
    motion = case.motion
    points = np.array([p["planning_lps_mm"] for p in case.truth["motion"]["check_points"]])
    follow = motion.planning_to_follow_up_lps(points)
    np.testing.assert_allclose(motion.follow_up_to_planning_lps(follow), points, atol=1e-4)
    stored = np.array([p["follow_up_lps_mm"] for p in case.truth["motion"]["check_points"]])
    np.testing.assert_allclose(follow, stored, atol=0.01)
    assert np.linalg.norm(follow - points, axis=1).min() > 2.0


def test_incomplete_ablation_zone_leaves_tumor_out(post_incomplete) -> None:
    case, follow_up = post_incomplete
    truth = case.truth
    assert truth["minimal_ablative_margin_mm"] < 0.0
    assert truth["tumor_outside_zone_ml"] > 0.0
    assert 0.0 < truth["shell_5mm_coverage_percent"] < 100.0
    assert truth["ablation_zone_volume_ml"] > 5.0
    # The zone's inside, mapped onto the follow-up CT, is non-enhancing soft tissue; no metal.
    base = ensure_sample_case("kidney")
    planning = load_image(base.image_path)
    labels = base.load_labels(planning.geometry)
    tumor = labels.mask("tumor")
    center = planning.geometry.index_to_lps(np.argwhere(tumor).mean(axis=0)[::-1])
    inside = case.motion.planning_to_follow_up_lps(center)
    assert abs(_value(follow_up, inside) - ZONE_SOFT_TISSUE_HU) < 45.0
    assert float(np.max(follow_up.voxels)) < 0.5 * METAL_HU
    assert "placed_probes" not in truth


def test_complete_variant_has_a_margin() -> None:
    case = ensure_confirmation_case("kidney", "post", variant="complete")
    assert case.truth["minimal_ablative_margin_mm"] >= 5.0
    assert case.truth["shell_5mm_coverage_percent"] == pytest.approx(100.0)
    again = ensure_confirmation_case("kidney", "post", variant="complete")
    assert again.truth == case.truth  # cached, not regenerated


def test_unknown_names_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="CT sample cases"):
        ensure_confirmation_case("breast", "intra")
    with pytest.raises(InvalidParameterError, match="stage"):
        ensure_confirmation_case("kidney", "during")
    with pytest.raises(InvalidParameterError, match="variant"):
        ensure_confirmation_case("kidney", "post", variant="partial")
