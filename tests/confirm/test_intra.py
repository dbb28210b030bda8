"""Intra-procedural confirmation on a CT drawn in the test: shafts, matching, ice, options."""

from __future__ import annotations

import dataclasses
import math
import shutil
import subprocess

import numpy as np
import pytest
from intra_phantom import (
    FAT_HU,
    ICE_RADII_MM,
    PLACED_TIP_OFFSETS_MM,
    ellipsoid_volume_ml,
    grid_points,
    intra_ct,
    placed_shafts,
    planned,
    planning_case,
)
from scipy import ndimage

from planning_core.confirm.as_placed import (
    as_placed_plan,
    check_elapsed,
    elapsed_from_times,
    extended_protocol,
    outcome_grid,
    predict_outcome,
    simulate_placed,
)
from planning_core.confirm.intra import confirm_intra
from planning_core.confirm.probe_detection import detect_probe_shafts
from planning_core.confirm.probe_matching import angle_between_deg, match_placed_probes
from planning_core.confirm.recommendation import (
    EXTENSION_STEPS_MIN,
    late_start_protocol,
    recommend,
)
from planning_core.confirm.registration import Registration
from planning_core.confirm.visible_ice import (
    ShaftSegment,
    VisibleIce,
    compare_with_prediction,
    segment_visible_ice,
)
from planning_core.errors import ConfirmationError, InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.volume import Volume
from planning_core.planning.approach import (
    DOWN_SIDE,
    REFUSAL_REASONS,
    Approach,
    ApproachRules,
    record_approach,
)
from planning_core.planning.plan_approach import PositionReading
from planning_core.planning.settings import PlanSettings
from planning_core.report.intra_confirmation_pdf import write_intra_confirmation_pdf
from planning_core.thermal.protocol import parse_protocol


def require_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} (poppler-utils) is not installed")
    return found


@pytest.fixture(scope="module")
def intra():
    return intra_ct(placed_shafts())


@pytest.fixture(scope="module")
def planning():
    return planning_case()


@pytest.fixture(scope="module")
def identity(planning):
    return Registration.from_matrix(np.eye(4), planning[0].geometry)


@pytest.fixture(scope="module")
def confirmed(planning, intra, identity):
    volume, labels = planning
    return confirm_intra(planned(), volume, labels, intra, elapsed_s=300.0, registration=identity)


def _segments(shafts, active=(5.0, 35.0)):
    return [
        ShaftSegment(
            np.asarray(s.tip_lps_mm) - s.unit * active[0],
            np.asarray(s.tip_lps_mm) - s.unit * active[1],
        )
        for s in shafts
    ]


# -- probe detection ------------------------------------------------------------------------
def test_shafts_are_found_with_tip_direction_and_skin_entry(intra):
    found = detect_probe_shafts(intra)
    assert len(found) == 2  # the rib (bone) and the clip (metal, 4 mm) are no shafts
    for truth in placed_shafts():
        shaft = min(found, key=lambda f: math.dist(f.tip_lps_mm, truth.tip_lps_mm))
        assert math.dist(shaft.tip_lps_mm, truth.tip_lps_mm) < 0.5
        assert angle_between_deg(shaft.direction_lps, truth.unit) < 1.0
        # The entry is on the skin (the body's elliptic outline), on the anterior side.
        x, y, _ = shaft.entry_lps_mm
        assert shaft.entry_on_skin
        assert abs(math.hypot(x / 52.0, y / 44.0) - 1.0) < 0.08
        assert y < 0


def test_a_ct_without_metal_shafts_has_none():
    assert detect_probe_shafts(intra_ct([], ice_centres_lps_mm=[])) == ()


def test_detection_refuses_an_image_that_is_not_ct(intra):
    other = dataclasses.replace(intra, modality="MR")
    with pytest.raises(InvalidParameterError, match="--intra"):
        detect_probe_shafts(other)


# -- matching ---------------------------------------------------------------------------------
def test_placed_probes_are_matched_with_tip_angle_and_depth_errors():
    plan = planned()
    shafts = placed_shafts()
    far = np.array([40.0, 30.0, 30.0])  # a probe of another procedure
    tips = [np.asarray(s.tip_lps_mm) for s in reversed(shafts)] + [far]
    entries = [t - 50.0 * s.unit for t, s in zip(tips, reversed(shafts), strict=False)]
    entries.append(far - np.array([0.0, 50.0, 0.0]))
    reports = match_placed_probes(plan, tips, entries, [True, True, True])
    assert [r.plan_label for r in reports] == ["P2", "P1", ""]
    assert reports[2].matched_plan_probe is None and reports[2].tip_error_mm is None
    for report, offset, shaft in zip(
        reports[:2], reversed(PLACED_TIP_OFFSETS_MM), reversed(shafts), strict=True
    ):
        assert report.tip_error_mm == pytest.approx(np.linalg.norm(offset))
        assert report.depth_error_mm == pytest.approx(offset[1])  # planned along +y
        assert report.angle_error_deg == pytest.approx(
            angle_between_deg(shaft.unit, np.array([0.0, 1.0, 0.0]))
        )


# -- visible ice ------------------------------------------------------------------------------
def test_visible_ice_volume_is_that_of_the_hypodense_ice(intra):
    ice = segment_visible_ice(intra, _segments(placed_shafts()))
    assert ice.note == ""
    assert ice.volume_ml == pytest.approx(ellipsoid_volume_ml(ICE_RADII_MM), rel=0.10)
    assert ice.tissue_hu - ice.ice_hu > 40.0


def test_water_like_tissue_that_kept_its_level_is_not_ice():
    # A cyst (22 HU) in the organ (60 HU) touches the ice (0 HU): by the level between ice
    # and organ it reads as ice; against the same voxels before the freeze it did not change.
    shafts = placed_shafts()
    cyst = np.linalg.norm(grid_points(intra_ct(shafts).geometry) - (0.0, -20.0, 24.0), axis=-1)
    cyst = cyst <= 10.0

    def with_cyst(volume: Volume, *, frozen: bool) -> Volume:
        ice = np.abs(volume.voxels) < 40.0  # the phantom's ice (0 HU) with its noise
        keep = ice if frozen else np.zeros_like(ice)
        noise = np.random.default_rng(5).normal(0.0, 12.0, volume.shape)
        voxels = np.where(cyst & ~keep, 22.0 + noise, volume.voxels)
        return volume.with_voxels(voxels.astype(np.float32))

    intra = with_cyst(intra_ct(shafts), frozen=True)
    before = with_cyst(intra_ct(shafts, ice_centres_lps_mm=[], streak_hu=0.0), frozen=False)
    segments = _segments(shafts)
    truth = ellipsoid_volume_ml(ICE_RADII_MM)
    plain = segment_visible_ice(intra, segments)
    judged = segment_visible_ice(intra, segments, before_hu=before.values_at_lps)
    assert plain.volume_ml > 1.1 * truth  # the cyst counted as ice
    assert judged.volume_ml == pytest.approx(truth, rel=0.08)


@pytest.mark.parametrize("interface_x_mm", [-3.0, 3.0])
def test_ice_between_enhancing_tissue_and_fat_has_its_edge_halfway_on_both_sides(
    interface_x_mm,
):
    # Ice (0 HU, frozen fat too) astride an enhancing organ (150 HU) and fat (-90 HU), the
    # image blurred as a CT is: fat is the commoner tissue around, and with its level alone
    # the edge against the organ fell at 25 HU above the ice, a voxel short (16 % too small).
    shafts = placed_shafts()
    organ = intra_ct(shafts, organ_hu=150.0, noise_hu=0.0)
    fat = intra_ct(shafts, organ_hu=FAT_HU, noise_hu=0.0)
    x_mm = grid_points(organ.geometry)[..., 0]
    values = np.where(x_mm < interface_x_mm, fat.voxels, organ.voxels)
    values = ndimage.gaussian_filter(values, 1.0 / np.asarray(organ.geometry.spacing_kji_mm))
    values = values + np.random.default_rng(4).normal(0.0, 12.0, values.shape)
    ice = segment_visible_ice(
        Volume(values.astype(np.float32), organ.geometry, "CT"), _segments(shafts)
    )
    assert ice.volume_ml == pytest.approx(ellipsoid_volume_ml(ICE_RADII_MM), rel=0.05)
    levels = sorted([ice.tissue_hu, ice.far_tissue_hu])
    assert levels == [pytest.approx(FAT_HU, abs=15.0), pytest.approx(150.0, abs=15.0)]


def test_ice_brighter_than_aerated_lung_is_found_too():
    radii = (12.0, 16.0, 12.0)  # inside the lung, clear of the chest wall
    lung = intra_ct(
        placed_shafts(), organ_hu=-820.0, ice_centres_lps_mm=[(0.0, -15.0, 0.0)],
        ice_radii_mm=radii,
    )  # fmt: skip
    ice = segment_visible_ice(lung, _segments(placed_shafts(), active=(5.0, 25.0)))
    assert ice.ice_hu > ice.tissue_hu
    assert ice.volume_ml == pytest.approx(ellipsoid_volume_ml(radii), rel=0.15)


def test_no_visible_ice_is_said_so():
    shafts = placed_shafts()
    ice = segment_visible_ice(intra_ct(shafts, ice_centres_lps_mm=[]), _segments(shafts))
    assert ice.volume_ml == 0.0
    assert "no ice" in ice.note


@pytest.mark.parametrize(("seen_radius_mm", "expected_mm"), [(12.0, 2.0), (7.0, -3.0)])
def test_signed_distance_to_the_predicted_edge(seen_radius_mm, expected_mm):
    geometry = Geometry((61, 61, 61), np.ones(3), np.full(3, -30.0))
    k, j, i = np.indices(geometry.shape)
    radius = np.linalg.norm(geometry.index_to_lps(np.stack([i, j, k], -1).astype(float)), axis=-1)
    predicted = ((radius - 10.0) * 4.0).astype(np.float32)  # 0 °C at 10 mm
    directions = np.random.default_rng(1).normal(size=(500, 3))
    surface = seen_radius_mm * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    seen = VisibleIce(np.zeros((1, 1, 1), bool), geometry, 1.0, 0.0, 60.0, surface)
    comparison = compare_with_prediction(
        seen, lambda points: points + 0.0, predicted, geometry, body_temperature_c=37.0
    )
    assert comparison.mean_signed_mm == pytest.approx(expected_mm, abs=0.15)
    assert comparison.predicted_volume_ml == pytest.approx(4 / 3 * math.pi, rel=0.03)


# -- protocols and the plan as placed ----------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "elapsed_min", "extended"),
    [
        ("F10-T8-F10", 6.0, "F13-T8-F10"),  # the running freeze
        ("F10-T8-F10", 15.0, "F10-T8-F13"),  # during the thaw: the next freeze
        ("F10-T8", 12.0, None),  # no freeze left
    ],
)
def test_the_running_or_next_freeze_is_extended(code, elapsed_min, extended):
    longer = extended_protocol(parse_protocol(code), elapsed_min * 60.0, 180.0)
    assert (None if longer is None else longer.code) == extended


def test_an_added_probe_freezes_from_the_elapsed_time_on():
    protocol = late_start_protocol(parse_protocol("F10-T8-F10"), 360.0, placed=2)
    assert protocol.code == "F6-F4-T8-F10"
    assert [phase.probes for phase in protocol.phases] == [(0, 1), None, None, None]


def test_elapsed_time_from_clock_times():
    assert elapsed_from_times("101500", "10:00") == 900.0
    assert elapsed_from_times("00:05:00", "23:55") == 600.0  # across midnight
    with pytest.raises(InvalidParameterError, match="--freeze-start"):
        elapsed_from_times("101500", "ten")
    with pytest.raises(InvalidParameterError, match="--elapsed-min"):
        check_elapsed(parse_protocol("F10-T8-F10"), 40 * 60.0)


def test_as_placed_plan_keeps_each_probes_power_and_drops_the_old_fields():
    plan = dataclasses.replace(planned(), protocol="F10@100/50-T8-F10@100/50")
    tip, entry = np.array([1.0, 2.0, 3.0]), np.array([1.0, -50.0, 3.0])
    placed = as_placed_plan(plan, [(1, tip, entry), (None, tip + 10.0, entry + 10.0)])
    assert placed.protocol == "F10@50/100-T8-F10@50/100"
    assert [p.label for p in placed.probes] == ["P2", "X1"]
    assert placed.probes[0].tip_lps_mm == (1.0, 2.0, 3.0)
    assert placed.metrics is None and placed.thermal_fields_path is None


# -- the whole confirmation -----------------------------------------------------------------
def test_confirmation_reports_probes_ice_and_options(confirmed):
    assert [r.plan_label for r in confirmed.placed] == ["P1", "P2"]
    for report, offset in zip(confirmed.placed, PLACED_TIP_OFFSETS_MM, strict=True):
        assert report.tip_error_mm == pytest.approx(np.linalg.norm(offset), abs=0.5)
    assert confirmed.visible_ice.volume_ml > 0 and confirmed.ice_comparison is not None
    data = confirmed.to_json()
    probe = data["detected_probes"][0]
    for key in ("tip_lps_mm", "entry_lps_mm", "matched_plan_probe", "tip_error_mm",
                "angle_error_deg"):  # fmt: skip
        assert key in probe
    assert data["visible_ice"]["volume_ml"] > 0
    assert data["visible_ice"]["surface_distance_to_prediction_mm"] is not None
    options = confirmed.recommendation.options
    assert options[0].kind == "proceed"
    assert data["recommendation"]["action"] == confirmed.recommendation.chosen.kind


def test_freezing_longer_or_adding_a_probe_widens_a_short_margin(confirmed):
    options = {o.kind: o for o in confirmed.recommendation.options}
    proceed = options["proceed"].outcome
    assert not proceed.meets_goal  # 5 mm at -40 °C is beyond two probes' 20-min freeze
    assert options["extend"].outcome.minimal_margin_mm > proceed.minimal_margin_mm
    added = options["add_probe"]
    assert added.outcome.minimal_margin_mm > proceed.minimal_margin_mm
    assert added.added_probe is not None and added.added_probe.label == "P3"


def test_proceed_is_recommended_when_the_placed_probes_reach_the_goal(confirmed, planning):
    volume, labels = planning
    plan = dataclasses.replace(confirmed.as_placed, settings=PlanSettings(margin_mm=2.0))
    result = recommend(
        plan, volume, labels, elapsed_s=300.0,
        proceed_dose_c=confirmed.prediction.min_temperature_c,
        proceed_geometry=confirmed.prediction.geometry,
    )  # fmt: skip
    assert result.chosen.kind == "proceed" and len(result.options) == 1
    assert result.chosen.outcome.meets_goal


def test_a_ct_without_probes_is_refused_naming_the_option(planning, identity):
    volume, labels = planning
    with pytest.raises(ConfirmationError, match="--intra"):
        confirm_intra(
            planned(), volume, labels, intra_ct([], ice_centres_lps_mm=[]), elapsed_s=300.0,
            registration=identity,
        )  # fmt: skip


def test_shafts_far_from_every_planned_probe_are_refused(planning, intra, identity):
    volume, labels = planning
    elsewhere = planned(tips=((30.0, 20.0, 25.0),), direction=(1.0, 0.0, 0.0))
    with pytest.raises(ConfirmationError, match="none lies near a probe of the plan"):
        confirm_intra(elsewhere, volume, labels, intra, elapsed_s=300.0, registration=identity)


def test_the_report_names_the_recommendation_probes_and_ice(confirmed, planning, intra, tmp_path):
    volume, labels = planning
    path = write_intra_confirmation_pdf(
        confirmed, planned(), volume, labels, intra, tmp_path / "confirmation.pdf"
    )
    text = subprocess.run(
        [require_tool("pdftotext"), str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Intra-procedural confirmation" in text
    assert "P1" in text and "P2" in text and "Visible ice volume" in text
    assert confirmed.recommendation.options[0].text.split(":")[0] in text


def test_the_shortest_extension_that_reaches_the_goal_is_recommended(confirmed, planning):
    volume, labels = planning
    plan = dataclasses.replace(confirmed.as_placed, settings=PlanSettings(margin_mm=4.0))
    result = recommend(
        plan, volume, labels, elapsed_s=300.0,
        proceed_dose_c=confirmed.prediction.min_temperature_c,
        proceed_geometry=confirmed.prediction.geometry,
    )  # fmt: skip
    chosen = result.chosen
    assert [o.kind for o in result.options] == ["proceed", "extend"]
    assert chosen.kind == "extend" and chosen.outcome.meets_goal
    steps = [m for m in EXTENSION_STEPS_MIN if m < chosen.extend_min]
    if steps:  # the step before it falls short
        shorter = extended_protocol(plan.parsed_protocol(), 300.0, steps[-1] * 60.0)
        result = simulate_placed(plan, volume, labels, protocol=shorter)
        tumor = labels.mask("tumor")
        grid, box = outcome_grid(labels, "tumor", plan.settings)
        outcome = predict_outcome(
            result.min_temperature_c, result.geometry, tumor[box], grid, plan.settings
        )
        assert not outcome.meets_goal


def test_unfrozen_soft_tissue_beside_ice_in_lung_is_not_ice():
    # A tumor-like ball (50 HU) touching the ice in aerated lung: brighter than the ice,
    # yet far nearer it than the lung; frozen tissue never reads that bright.
    radii = (12.0, 16.0, 12.0)
    lung = intra_ct(
        placed_shafts(), organ_hu=-820.0, ice_centres_lps_mm=[(0.0, -15.0, 0.0)],
        ice_radii_mm=radii,
    )  # fmt: skip
    points = grid_points(lung.geometry)
    ice = np.sum(((points - (0.0, -15.0, 0.0)) / radii) ** 2, axis=-1) <= 1.0
    tissue = (np.linalg.norm(points - (18.0, -15.0, 0.0), axis=-1) <= 8.0) & ~ice
    voxels = np.where(tissue, lung.voxels + 50.0 + 820.0, lung.voxels).astype(np.float32)
    seen = segment_visible_ice(
        Volume(voxels, lung.geometry, "CT"), _segments(placed_shafts(), active=(5.0, 25.0))
    )
    assert seen.volume_ml == pytest.approx(ellipsoid_volume_ml(radii), rel=0.15)


def test_an_added_probe_obeys_the_plans_approach_rules(confirmed, planning):
    # The table on the side the probes came in from (as if the patient lay on it): the
    # added probe, entering near the placed ones, lies on the table side. It is listed with
    # that refusal and never recommended.
    volume, labels = planning
    plan = confirmed.as_placed
    outward = -np.mean([p.direction_lps for p in plan.probes], axis=0)
    down = np.zeros(3)
    down[np.argmax(np.abs(outward))] = np.sign(outward[np.argmax(np.abs(outward))])
    body = labels.voxels != 0
    points = volume.geometry.index_to_lps(np.argwhere(body)[:, ::-1].astype(float))
    approach = Approach(
        position=PositionReading(None, "absent"), down_lps=down,
        table_top_mm=float(np.max(points @ down)), table_source="image",
        bore_axis_lps_mm=points.mean(axis=0), rules=ApproachRules(),
    )  # fmt: skip
    plan = dataclasses.replace(plan, approach=record_approach(approach))
    result = recommend(
        plan, volume, labels, elapsed_s=300.0,
        proceed_dose_c=confirmed.prediction.min_temperature_c,
        proceed_geometry=confirmed.prediction.geometry,
    )  # fmt: skip
    added = {o.kind: o for o in result.options}["add_probe"]
    assert REFUSAL_REASONS[DOWN_SIDE] in added.path_problems
    assert result.chosen.kind != "add_probe"
