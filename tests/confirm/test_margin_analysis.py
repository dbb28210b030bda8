"""Margin of an ablation zone around a tumor and plan against result, on spheres."""

from __future__ import annotations

import numpy as np
import pytest

from planning_core.confirm.margin import MarginOptions, analyze_margin, wide_vessels
from planning_core.confirm.margin_evidence import MarginCategory
from planning_core.confirm.plan_vs_result import compare_zones
from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.planning.plan import Plan

#: Anisotropic like a CT: 0.8 mm pixels, 1.25 mm slices.
GEOMETRY = Geometry((48, 64, 64), (0.8, 0.8, 1.25), (-25.2, -25.2, -29.375))
TUMOR_RADIUS_MM = 10.0


def _lps() -> np.ndarray:
    k, j, i = np.meshgrid(*(np.arange(n) for n in GEOMETRY.shape), indexing="ij")
    return GEOMETRY.index_to_lps(np.stack([i, j, k], axis=-1).astype(np.float64))


LPS = _lps()


def ball(radius_mm: float, centre=(0.0, 0.0, 0.0)) -> np.ndarray:
    return np.linalg.norm(LPS - np.asarray(centre), axis=-1) <= radius_mm


TUMOR = ball(TUMOR_RADIUS_MM)


@pytest.mark.parametrize(
    ("zone_radius_mm", "offset_mm", "expected_mm", "category"),
    [
        (16.0, 0.0, 6.0, MarginCategory.AT_LEAST_5_MM),
        (15.0, 2.0, 3.0, MarginCategory.BELOW_5_MM),
        (11.0, 4.0, -3.0, MarginCategory.INCOMPLETE),
    ],
)
def test_signed_minimal_margin_of_offset_spheres(zone_radius_mm, offset_mm, expected_mm, category):
    # Zone centre moved along S (the coarse slice axis): the thinnest margin lies at the
    # tumor's inferior pole, |zone radius - offset - tumor radius| from the zone surface.
    zone = ball(zone_radius_mm, (0.0, 0.0, offset_mm))
    result = analyze_margin(TUMOR, zone, GEOMETRY)
    # Voxel centres sample the spheres every 1.25 mm along S: the masks themselves place
    # the poles only to within half a slice.
    assert result.minimal_margin_mm == pytest.approx(expected_mm, abs=0.6)
    assert result.counted_margin_mm == result.minimal_margin_mm
    assert result.category is category
    if offset_mm:
        assert result.thinnest_location_lps_mm[2] == pytest.approx(-TUMOR_RADIUS_MM, abs=1.5)
    assert (result.tumor_outside_zone_ml > 0) == (expected_mm < 0)


def test_shell_coverage_is_the_covered_share_of_the_shell():
    zone = ball(12.5)
    result = analyze_margin(TUMOR, zone, GEOMETRY, options=MarginOptions(shell_mm=5.0))
    expected = 100.0 * (12.5**3 - 10.0**3) / (15.0**3 - 10.0**3)
    assert result.shell_coverage_percent == pytest.approx(expected, abs=4.0)
    full = analyze_margin(TUMOR, ball(16.0), GEOMETRY)
    assert full.shell_coverage_percent == pytest.approx(100.0)
    assert result.zone_volume_ml == pytest.approx(4 / 3 * np.pi * 12.5**3 / 1000, rel=0.03)


def test_capsule_exemption_leaves_out_the_side_against_the_organ_edge():
    # The organ ends 1 mm beyond the tumor on the left (+L, x); the zone, centred 4 mm to
    # the right, leaves its thinnest margin (2 mm at x = 10) exactly there. A tumor point
    # at x lies sqrt(116 + 8x) mm from the zone centre; with the capsule exempt the surface
    # up to the shell's reach (x < 11 - 5 mm) counts: 16 - sqrt(164) = 3.2 mm.
    organ = (LPS[..., 0] <= 11.0) & ~TUMOR
    zone = ball(16.0, (-4.0, 0.0, 0.0))
    plain = analyze_margin(TUMOR, zone, GEOMETRY, organ=organ)
    exempted = analyze_margin(
        TUMOR, zone, GEOMETRY, options=MarginOptions(exemptions=("capsule",)), organ=organ
    )
    assert plain.minimal_margin_mm == pytest.approx(2.0, abs=0.6)
    assert exempted.minimal_margin_mm == plain.minimal_margin_mm
    assert exempted.counted_margin_mm == pytest.approx(16.0 - np.sqrt(164.0), abs=0.6)
    assert exempted.counted_margin_mm > plain.minimal_margin_mm + 0.7
    assert exempted.exemptions[0].kind == "capsule"
    assert 0.0 < exempted.exemptions[0].surface_percent < 60.0
    assert plain.category is MarginCategory.BELOW_5_MM


def test_vessel_exemption_counts_only_wide_vessels():
    # A 2 mm and a 6 mm wide vessel along S beside the tumor, on either side.
    x, y = LPS[..., 0], LPS[..., 1]
    thin = np.hypot(x - 12.0, y) <= 1.0
    wide = np.hypot(x + 13.5, y) <= 3.0
    found = wide_vessels(thin | wide, GEOMETRY.spacing_kji_mm, 3.0)
    assert not (found & thin).any()
    assert np.count_nonzero(found & wide) >= 0.95 * np.count_nonzero(wide)
    zone = ball(13.0)  # 3 mm margin all round
    result = analyze_margin(
        TUMOR, zone, GEOMETRY, options=MarginOptions(exemptions=("vessels",)), vessels=thin | wide
    )
    exempt_x = result.surface_lps_mm[result.exempt, 0]
    assert exempt_x.size and np.all(exempt_x < 0)  # only the side of the wide vessel


def test_exemption_without_labels_is_stated_not_assessed():
    result = analyze_margin(
        TUMOR, ball(16.0), GEOMETRY, options=MarginOptions(exemptions=("capsule", "vessels"))
    )
    assert result.exemptions == ()
    assert any("capsule exemption not assessed" in w for w in result.warnings)
    assert any("vessel exemption not assessed" in w for w in result.warnings)


def test_bad_input_names_the_option():
    with pytest.raises(InvalidParameterError, match="--shell-mm"):
        MarginOptions(shell_mm=0.0)
    with pytest.raises(InvalidParameterError, match="--exempt"):
        MarginOptions(exemptions=("liver",))
    with pytest.raises(InvalidParameterError, match="ablation zone is empty"):
        analyze_margin(TUMOR, np.zeros_like(TUMOR), GEOMETRY)


def test_plan_against_result_of_concentric_spheres():
    # A radial "temperature" field: the -40 °C isotherm is the 10 mm sphere, the actual zone
    # the 12 mm one: the zone reaches 2 mm beyond the prediction all round.
    radius = np.linalg.norm(LPS, axis=-1)
    field_c = (radius - 10.0) * 8.0 - 40.0  # 8 °C per mm
    comparison = compare_zones(field_c, ball(12.0), GEOMETRY, lethal_isotherm_c=-40.0, source="t")
    assert comparison.dice == pytest.approx(2 * 10.0**3 / (10.0**3 + 12.0**3), abs=0.02)
    assert comparison.mean_signed_residual_mm == pytest.approx(2.0, abs=0.4)
    assert comparison.mean_surface_distance_mm == pytest.approx(2.0, abs=0.4)
    assert comparison.best_matching_isotherm_c == -20.0  # its 12.5 mm sphere is nearest 12 mm
    assert comparison.residuals(Plan())["volume_residual_ml"] > 0
