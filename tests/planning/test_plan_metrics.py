"""Plan metrics against closed-form geometry: spheres of tumor, ice and organs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from planning_phantoms import BODY_HALF_X_MM, BODY_HALF_Y_MM, grid_lps, torso_phantom

from planning_core.errors import InvalidParameterError, OperationCancelledError
from planning_core.imaging.geometry import Geometry
from planning_core.planning.field_resample import resample_field
from planning_core.planning.masks import bounding_box
from planning_core.planning.metrics import (
    MARGIN_SHELL,
    compute_plan_metrics,
    isotherm_coverage,
    margin_zone_mask,
    min_tip_spacing_mm,
    oar_ice_metrics,
    signed_ablative_margin,
    temperature_volume_histogram,
)
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.plan_json import plan_from_dict, plan_to_dict
from planning_core.planning.settings import PlanSettings
from planning_core.progress import CancelToken

H = 0.5  # isotropic spacing of the analytic grid, mm
TUMOR_R = 10.0
LETHAL_R = 14.0


def _dose(r):
    """A radial lethal-dose field: -40 °C at 14 mm, 0 °C at 18 mm, 10 °C per mm."""
    return -40.0 + 10.0 * (r - LETHAL_R)


def _lens_volume(r1, r2, d):
    """Volume shared by two spheres of radii r1, r2 whose centres are d apart."""
    return math.pi * (r1 + r2 - d) ** 2 * (d**2 + 2 * d * (r1 + r2) - 3 * (r1 - r2) ** 2) / (12 * d)


def _grid(spacing=(H, H, H), direction=None, extent_mm=60.0) -> Geometry:
    direction = np.eye(3) if direction is None else direction
    spacing = np.asarray(spacing, dtype=float)
    size = np.ceil(extent_mm / spacing).astype(int)
    half = direction @ (spacing * (size - 1) / 2.0)
    return Geometry(tuple(int(n) for n in size[::-1]), spacing, -half, direction)


@pytest.fixture(scope="module")
def sphere():
    geometry = _grid()
    lps = grid_lps(geometry)
    return geometry, lps, np.linalg.norm(lps, axis=-1) <= TUMOR_R


def test_concentric_lethal_sphere_gives_a_4_mm_margin_and_full_coverage(sphere):
    geometry, lps, tumor = sphere
    dose = _dose(np.linalg.norm(lps, axis=-1))
    margin = signed_ablative_margin(dose, tumor, geometry, -40.0)
    # The tumor surface lies on voxel faces: up to half a voxel outside r = 10 mm.
    assert 4.0 - H / 2 - 0.01 <= margin.minimum_mm <= 4.0 + 0.01
    assert margin.minimum_mm <= margin.percentile5_mm <= 4.0 + H / 2
    zone = margin_zone_mask(tumor, geometry, 5.0)
    coverage = isotherm_coverage(dose, tumor, zone, (0.0, -20.0, -40.0))
    assert [c.tumor_percent for c in coverage] == [100.0, 100.0, 100.0]
    assert [c.tumor_and_margin_percent for c in coverage[:2]] == [100.0, 100.0]
    # Tumor + 5 mm is a sphere of 15 mm, less up to half a voxel where the outermost tumor
    # voxel centres lie inside r = 10; the lethal 14 mm sphere covers (14 / radius)^3 of it.
    percent = coverage[2].tumor_and_margin_percent
    assert 100 * (14 / 15) ** 3 - 0.5 <= percent <= 100 * (14 / (15 - H / 2)) ** 3


def test_shifted_lethal_sphere_gives_a_negative_margin_and_cap_coverage(sphere):
    geometry, lps, tumor = sphere
    dose = _dose(np.linalg.norm(lps - [6.0, 0.0, 0.0], axis=-1))
    margin = signed_ablative_margin(dose, tumor, geometry, -40.0)
    # The tumor point farthest from the lethal centre, (-10, 0, 0), is 16 mm from it.
    assert margin.minimum_mm == pytest.approx(-2.0, abs=H / 2 + 0.01)
    assert margin.minimum_location_lps_mm[0] == pytest.approx(-10.0, abs=H)
    # The voxel-face surface is flat within sqrt(2 R h / 2) = 2.2 mm of the pole.
    assert np.hypot(*margin.minimum_location_lps_mm[1:]) <= math.sqrt(2 * TUMOR_R * H / 2) + 0.1
    (coverage,) = isotherm_coverage(dose, tumor, tumor, (-40.0,))
    expected = _lens_volume(TUMOR_R, LETHAL_R, 6.0) / (4 / 3 * math.pi * TUMOR_R**3)
    assert coverage.tumor_percent == pytest.approx(100 * expected, abs=0.5)
    assert coverage.tumor_percent < 100.0


def test_anisotropic_rotated_grid_gives_the_same_margins():
    angle = math.radians(30.0)
    rotation = np.array(
        [[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]]
    )
    spacing = (0.6, 0.8, 1.5)
    geometry = _grid(spacing, rotation)
    lps = grid_lps(geometry)
    r = np.linalg.norm(lps, axis=-1)
    tumor = r <= TUMOR_R
    margin = signed_ablative_margin(_dose(r), tumor, geometry, -40.0)
    assert 4.0 - max(spacing) / 2 - 0.01 <= margin.minimum_mm <= 4.0 + 0.01
    zone = margin_zone_mask(tumor, geometry, 5.0)
    # Exact anisotropic distances: no zone voxel lies beyond 15 mm; every voxel within
    # 15 mm less two half voxel diagonals (the gap between tumor centres and r = 10) is in.
    half_diagonal = np.linalg.norm(spacing) / 2
    assert r[zone].max() <= 15.0 + 1e-9
    assert zone[r <= 15.0 - 2 * half_diagonal].all()


def test_margin_without_lethal_zone_is_unknown(sphere):
    geometry, _, tumor = sphere
    margin = signed_ablative_margin(np.full(tumor.shape, 37.0), tumor, geometry, -40.0)
    assert (margin.minimum_mm, margin.percentile5_mm, margin.minimum_location_lps_mm) == (
        None,
        None,
        None,
    )


def test_oar_clear_of_the_ice_reports_the_gap(sphere):
    geometry, lps, _ = sphere
    dose = _dose(np.linalg.norm(lps, axis=-1))  # ice edge (0 °C) at 18 mm
    organ = np.linalg.norm(lps - [26.0, 0.0, 0.0], axis=-1) <= 4.0
    (result,) = oar_ice_metrics(
        dose, {"bowel": organ}, geometry, clearances_mm={"bowel": 10.0}, lethal_isotherm_c=-40.0
    )
    assert result.distance_to_ice_mm == pytest.approx(26.0 - 4.0 - 18.0, abs=H / 2 + 0.01)
    assert (result.frozen_volume_ml, result.lethal_volume_ml) == (0.0, 0.0)
    assert not result.clear


def test_oar_reached_by_ice_reports_penetration_and_frozen_volume(sphere):
    geometry, lps, _ = sphere
    dose = _dose(np.linalg.norm(lps, axis=-1))
    organ = np.linalg.norm(lps - [20.0, 0.0, 0.0], axis=-1) <= 4.0
    (result,) = oar_ice_metrics(
        dose, {"colon": organ}, geometry, clearances_mm={"colon": 0.0}, lethal_isotherm_c=-40.0
    )
    # The organ's deepest point, (16, 0, 0), lies 2 mm inside the 18 mm ice sphere.
    assert result.distance_to_ice_mm == pytest.approx(-2.0, abs=H / 2 + 0.01)
    frozen_ml = _lens_volume(4.0, 18.0, 20.0) / 1000.0
    assert result.frozen_volume_ml == pytest.approx(frozen_ml, rel=0.15)
    assert result.lethal_volume_ml == 0.0
    assert not result.clear


def test_oar_without_ice_or_voxels_has_no_distance(sphere):
    geometry, _, tumor = sphere
    organs = {"near": tumor, "absent": np.zeros_like(tumor)}
    near, absent = oar_ice_metrics(
        np.full(tumor.shape, 37.0), organs, geometry,
        clearances_mm={"near": 5.0, "absent": 5.0}, lethal_isotherm_c=-40.0,
    )  # fmt: skip
    assert near.distance_to_ice_mm is None and near.clear
    assert (absent.distance_to_ice_mm, absent.frozen_volume_ml) == (None, 0.0)


def test_temperature_volume_histogram_follows_the_radial_field(sphere):
    geometry, lps, tumor = sphere
    dose = _dose(np.linalg.norm(lps, axis=-1))
    histogram = temperature_volume_histogram(dose, tumor, geometry, structure="tumor")
    temperatures = np.asarray(histogram.temperatures_c)
    assert temperatures[0] == -190.0 and temperatures[-1] == 37.0 and len(temperatures) == 228
    fractions = np.asarray(histogram.fraction_at_or_below)
    assert np.all(np.diff(fractions) >= 0)
    # Tissue at or below T lies within r(T) = 14 + (T + 40) / 10 of the centre.
    radius = np.clip(LETHAL_R + (temperatures + 40.0) / 10.0, 0.0, TUMOR_R)
    np.testing.assert_allclose(fractions, (radius / TUMOR_R) ** 3, atol=0.03)
    assert histogram.volume_ml == pytest.approx(4 / 3 * math.pi * 1e-3 * TUMOR_R**3, rel=0.01)


def test_resampling_reproduces_a_linear_field_and_fills_outside():
    source = _grid((2.0, 2.0, 3.0), extent_mm=40.0)
    lps = grid_lps(source)
    values = 3.0 * lps[..., 0] - 2.0 * lps[..., 1] + 0.5 * lps[..., 2]
    angle = math.radians(20.0)
    rotation = np.array(
        [[1, 0, 0], [0, math.cos(angle), -math.sin(angle)], [0, math.sin(angle), math.cos(angle)]]
    )
    target = _grid((1.0, 1.2, 1.1), rotation, extent_mm=60.0)
    resampled = resample_field(values, source, target, fill_value=37.0)
    points = grid_lps(target)
    ijk = source.lps_to_index(points)
    interior = np.all((ijk >= 0) & (ijk <= np.asarray(source.size_ijk) - 1), axis=-1)
    expected = 3.0 * points[..., 0] - 2.0 * points[..., 1] + 0.5 * points[..., 2]
    np.testing.assert_allclose(resampled[interior], expected[interior], atol=1e-3)
    beyond = np.any((ijk < -0.5) | (ijk > np.asarray(source.size_ijk) - 0.5), axis=-1)
    assert beyond.any() and np.all(resampled[beyond] == 37.0)


def test_min_tip_spacing():
    probes = tuple(
        PlannedProbe("argon-2.4", tip, (tip[0], -80.0, tip[2]))
        for tip in ((0.0, 0.0, 0.0), (15.0, 0.0, 0.0), (0.0, 0.0, 12.0))
    )
    assert min_tip_spacing_mm(probes) == 12.0
    assert min_tip_spacing_mm(probes[:1]) is None


@pytest.fixture(scope="module")
def evaluated():
    labels = torso_phantom()
    colon = np.linalg.norm(grid_lps(labels.geometry) - [0.0, -22.0, 0.0], axis=-1) <= 5.0
    labels = labels.with_mask("colon", colon, role="oar")
    plan = Plan(
        probes=(
            PlannedProbe("argon-2.4", (-6.0, 8.0, 0.0), (-6.0, -80.0, 0.0), "P1"),
            PlannedProbe("argon-2.4", (6.0, 8.0, 0.0), (6.0, -80.0, 0.0), "P2"),
        ),
        protocol="F10-T8-F10",
        settings=PlanSettings(),
    )
    # The thermal grid: coarser, shifted, covering only the region around the probes.
    field_geometry = _grid((1.5, 1.5, 1.5), extent_mm=70.0)
    field = _dose(np.linalg.norm(grid_lps(field_geometry), axis=-1) * 0.9)
    progress = []
    metrics = compute_plan_metrics(
        plan, labels, field, field_geometry, computed_with="analytic test field",
        progress=lambda fraction, _: progress.append(fraction),
    )  # fmt: skip
    return plan, labels, field, field_geometry, metrics, progress


def test_plan_metrics_combine_every_part(evaluated):
    plan, labels, _, _, metrics, progress = evaluated
    assert progress[0] == 0.0 and progress[-1] == 1.0
    assert not plan.with_metrics(metrics).metrics_stale()
    assert metrics.probe_count == 2 and metrics.total_freeze_s == 1200.0
    assert metrics.min_tip_spacing_mm == 12.0
    assert [c.isotherm_c for c in metrics.coverage] == [0.0, -20.0, -40.0]
    # Lethal radius 14 / 0.9 = 15.6 mm around the centre: the 10 mm tumor is covered.
    assert metrics.coverage_at(-40.0).tumor_percent == 100.0
    assert metrics.margin.minimum_mm == pytest.approx(LETHAL_R / 0.9 - TUMOR_R, abs=0.5 + 0.75)
    assert metrics.tumor_volume_ml == pytest.approx(labels.volume_ml("tumor"))
    # The added colon is the organ at risk: its deepest point (0, -17, 0) lies 3 mm inside
    # the ice edge (0 °C at 18 / 0.9 = 20 mm). The phantom's aorta (role "avoid") follows as
    # a monitored structure: its surface lies hypot(30, 15) - 8 = 25.5 mm from the centre.
    assert [(o.name, o.monitored) for o in metrics.oars] == [("colon", False), ("aorta", True)]
    colon, aorta = metrics.oars
    assert colon.distance_to_ice_mm == pytest.approx(-3.0, abs=0.5)
    assert colon.frozen_volume_ml > 0
    assert colon.clearance_mm == 10.0 and not colon.clear
    assert aorta.distance_to_ice_mm == pytest.approx(math.hypot(30, 15) - 8.0 - 20.0, abs=0.6)
    assert aorta.clearance_mm == 0.0 and aorta.frozen_volume_ml == 0.0 and aorta.clear
    assert [h.structure for h in metrics.histograms] == ["tumor", MARGIN_SHELL, "colon", "aorta"]
    assert len(metrics.paths) == 2
    skin_y = -BODY_HALF_Y_MM * math.sqrt(1 - (6.0 / BODY_HALF_X_MM) ** 2)
    assert metrics.paths[0].length_in_body_mm == pytest.approx(8.0 - skin_y, abs=1.0)
    assert any("colon" in p for p in metrics.paths[0].problems)


def test_plan_with_real_metrics_round_trips(evaluated):
    plan, *_, metrics, _ = evaluated
    with_metrics = plan.with_metrics(metrics)
    assert plan_from_dict(plan_to_dict(with_metrics)) == with_metrics


def test_explicit_oar_list_is_used_and_checked(evaluated):
    plan, labels, field, field_geometry, *_ = evaluated
    only_colon = Plan(probes=plan.probes, oar_labels=("colon",))
    metrics = compute_plan_metrics(only_colon, labels, field, field_geometry, computed_with="t")
    assert [(o.name, o.monitored) for o in metrics.oars] == [("colon", False), ("aorta", True)]
    aorta_as_oar = Plan(probes=plan.probes, oar_labels=("aorta",))
    metrics = compute_plan_metrics(aorta_as_oar, labels, field, field_geometry, computed_with="t")
    assert [(o.name, o.monitored, o.clearance_mm) for o in metrics.oars] == [("aorta", False, 0.0)]
    with pytest.raises(InvalidParameterError, match="'ureter' is not in this label map"):
        compute_plan_metrics(
            Plan(probes=plan.probes, oar_labels=("ureter",)), labels, field, field_geometry,
            computed_with="t",
        )  # fmt: skip


def test_empty_tumor_is_refused(evaluated):
    plan, labels, field, field_geometry, *_ = evaluated
    with pytest.raises(InvalidParameterError, match="'tumor' is empty"):
        compute_plan_metrics(
            plan, labels.with_mask("tumor", np.zeros(labels.geometry.shape, dtype=bool)),
            field, field_geometry, computed_with="t",
        )  # fmt: skip


def test_cancel_stops_the_evaluation(evaluated):
    plan, labels, field, field_geometry, *_ = evaluated
    token = CancelToken()
    token.cancel()
    with pytest.raises(OperationCancelledError):
        compute_plan_metrics(
            plan, labels, field, field_geometry, computed_with="t",
            cancel=token,
        )  # fmt: skip


def test_bounding_box_grows_and_clips():
    mask = np.zeros((5, 6, 7), dtype=bool)
    mask[1, 2:4, 6] = True
    assert bounding_box(mask, 1) == (slice(0, 3), slice(1, 5), slice(5, 7))
    assert bounding_box(mask, (0, 2, 0)) == (slice(1, 2), slice(0, 6), slice(6, 7))
    assert bounding_box(np.zeros_like(mask)) is None


def test_resampling_refuses_a_field_that_does_not_fit_its_grid():
    geometry = _grid((2.0, 2.0, 2.0), extent_mm=10.0)
    with pytest.raises(InvalidParameterError, match="does not match its geometry"):
        resample_field(np.zeros((2, 2, 2)), geometry, geometry, fill_value=37.0)


def test_organ_boundary_points_are_the_marching_cubes_edge_vertices():
    # Large organs (the skin) take the edge midpoints directly: each is a vertex of the
    # marching-cubes surface at 0.5, and only the cubes' extra interior vertices of
    # ambiguous configurations are missing (none on a ball).
    from planning_core.planning.metrics import _boundary_lps, _surface_lps

    geometry = Geometry((30, 40, 50), (0.8, 0.9, 2.5), (-10.0, 5.0, 3.0))
    noisy = np.random.default_rng(3).random(geometry.shape) < 0.3
    kk, jj, ii = np.indices(geometry.shape)
    ball = (kk - 15) ** 2 + ((jj - 20) / 2) ** 2 + ((ii - 25) / 2) ** 2 <= 64
    for mask, extra_allowed in ((ball, False), (noisy, True)):
        box = bounding_box(mask, 1)
        cubes = {tuple(p) for p in np.round(_surface_lps(mask, 0.5, box, 0.0, geometry), 6)}
        midpoints = {tuple(p) for p in np.round(_boundary_lps(mask, box, geometry), 6)}
        assert midpoints <= cubes
        assert (len(cubes) > len(midpoints)) == extra_allowed
