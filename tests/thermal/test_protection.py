"""Organ protection (hydrodissection, skin packs) against steady closed forms.

Steady conduction without perfusion has a closed form whatever ``k(T)`` is: the
Kirchhoff potential ``Φ(T) = ∫ k dT`` is linear in x between two held planes and
linear in ``ln r`` between a probe wall and a held cylinder. The front read is the
middle of the gel's phase-change range (-0.5 °C). Tolerances: 0.15 mm for the
planar cases on a 0.25 mm grid (measured 0.05 mm: the one voxel pair straddling the
front uses a harmonic mean instead of the Kirchhoff secant); 0.25 mm for the radial
case on a 0.5 mm grid (measured 0.05 mm; the held cylinder is a voxel staircase and
the probe's sub-grid model is good to 0.5 mm, see tests/numerics/test_line_probe.py).
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np
import pytest

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap, standard_label
from planning_core.thermal.probes import PlacedProbe, ProbeModel, load_probe_library
from planning_core.thermal.protection import (
    HydrodissectionLayer,
    SkinPack,
    add_fluid,
    apply_protection,
    layer_between,
    propose_protection,
)
from planning_core.thermal.protocol import Phase, Protocol, parse_protocol
from planning_core.thermal.result import SimulationResult
from planning_core.thermal.setup import SimulationSetup, build_setup
from planning_core.thermal.solver import simulate
from planning_core.thermal.tissues import TissueProperties, load_tissue_library

GEL = load_tissue_library().get("gel")
AIR = load_tissue_library().get("air")
FRONT_C = -0.5
COLD_C = -40.0
BODY_C = 37.0
PLANAR_SPACING_MM = 0.25
STEADY = Protocol((Phase("freeze", 3.0 * 3600.0),))


def _cold_wall() -> TissueProperties:
    """Held cold plane; the gel's frozen conductivity puts it exactly at the voxel centre."""
    return dataclasses.replace(
        GEL,
        key="cold_wall",
        conductivity_unfrozen_w_mk=GEL.conductivity_frozen_w_mk,
        inert=True,
    )


def _column(length_mm: float, *, air_from_mm: float | None = None) -> SimulationSetup:
    """1-D column along L: held cold plane at x = 0, gel, optionally air beyond the skin."""
    count = round(length_mm / PLANAR_SPACING_MM) + 1
    geometry = Geometry((1, 1, count), (PLANAR_SPACING_MM,) * 3, (0.0, 0.0, 0.0))
    index = np.zeros(geometry.shape, dtype=np.uint8)
    index[..., 0] = 1
    tissues: tuple[TissueProperties, ...] = (GEL, _cold_wall())
    if air_from_mm is not None:
        index[..., round(air_from_mm / PLANAR_SPACING_MM) :] = 2
        tissues = (*tissues, AIR)
    initial = np.full(geometry.shape, BODY_C, dtype=np.float32)
    initial[..., 0] = COLD_C
    return SimulationSetup(
        geometry,
        index,
        tissues,
        body_temperature_c=BODY_C,
        initial_temperature_c=initial,
        insulated_faces=frozenset({"i-", "j-", "j+", "k-", "k+"}),
    )


def _crossing_mm(positions_mm: np.ndarray, temperatures_c: np.ndarray) -> float:
    """First position where the profile rises through FRONT_C (linear interpolation)."""
    above = np.nonzero(temperatures_c >= FRONT_C)[0]
    first = int(above[0])
    t0, t1 = temperatures_c[first - 1], temperatures_c[first]
    x0, x1 = positions_mm[first - 1], positions_mm[first]
    return float(x0 + (FRONT_C - t0) / (t1 - t0) * (x1 - x0))


def _planar_front_mm(cold_at_mm: float, warm_at_mm: float, warm_c: float) -> float:
    """Steady front between held planes: Φ(T) linear in x."""
    phi = GEL.kirchhoff_w_m
    share = (phi(FRONT_C) - phi(COLD_C)) / (phi(warm_c) - phi(COLD_C))
    return cold_at_mm + float(share) * (warm_at_mm - cold_at_mm)


@lru_cache(maxsize=2)
def _layer_run(infused: bool) -> tuple[SimulationResult, HydrodissectionLayer, np.ndarray]:
    layer = HydrodissectionLayer(
        np.array([12.0, 0.0, 0.0]), np.array([1.0, 0.0, 0.0]), 4.0, 5.0, BODY_C, infused
    )
    setup = apply_protection(_column(30.0), [layer])
    return simulate(setup, STEADY, isotherms_c=()), layer, layer.mask(setup.geometry)[0, 0]


def test_held_layer_stops_the_front_where_the_planar_closed_form_says() -> None:
    result, layer, mask = _layer_run(True)
    x = np.arange(mask.size) * PLANAR_SPACING_MM
    surface_mm = x[np.nonzero(mask)[0][0]] - 0.5 * PLANAR_SPACING_MM
    # The discretised layer surface lies within half a voxel of the nominal one.
    nominal_mm = layer.center_lps_mm[0] - 0.5 * layer.thickness_mm
    assert abs(surface_mm - nominal_mm) <= 0.5 * PLANAR_SPACING_MM
    front = _crossing_mm(x, result.final_temperature_c[0, 0])
    expected = _planar_front_mm(0.0, surface_mm, BODY_C)
    assert front == pytest.approx(expected, abs=0.15)
    # Without the layer the ice would reach past it (to the held box face at 30 mm).
    assert _planar_front_mm(0.0, 30.0 + 0.5 * PLANAR_SPACING_MM, BODY_C) > surface_mm
    assert np.all(result.min_temperature_c[0, 0][mask] == BODY_C)


def test_a_bolus_layer_conducts_and_freezes() -> None:
    result, _, mask = _layer_run(False)
    held, _, _ = _layer_run(True)
    assert float(result.min_temperature_c[0, 0][mask].min()) < FRONT_C
    x = np.arange(mask.size) * PLANAR_SPACING_MM
    assert _crossing_mm(x, result.final_temperature_c[0, 0]) > _crossing_mm(
        x, held.final_temperature_c[0, 0]
    )


def test_warm_skin_pack_holds_the_skin_and_stops_the_front() -> None:
    skin_mm = 20.0
    column = _column(30.0, air_from_mm=skin_mm + PLANAR_SPACING_MM)
    pack = SkinPack(np.array([skin_mm, 0.0, 0.0]), radius_mm=10.0, thickness_mm=3.0)
    setup = apply_protection(column, [pack])
    mask = pack.mask(column)[0, 0]
    x = np.arange(mask.size) * PLANAR_SPACING_MM
    face_mm = skin_mm + 0.5 * PLANAR_SPACING_MM
    # The pack fills the air from the skin surface out to its thickness (voxel centres).
    assert x[mask].min() == pytest.approx(skin_mm + PLANAR_SPACING_MM)
    assert face_mm + 3.0 - PLANAR_SPACING_MM < x[mask].max() <= face_mm + 3.0
    result = simulate(setup, STEADY, isotherms_c=())
    front = _crossing_mm(x, result.final_temperature_c[0, 0])
    assert front == pytest.approx(_planar_front_mm(0.0, face_mm, pack.temperature_c), abs=0.15)
    # Without the pack the air insulates: the skin freezes.
    bare = simulate(column, STEADY, isotherms_c=())
    assert float(bare.final_temperature_c[0, 0, round(skin_mm / PLANAR_SPACING_MM)]) < FRONT_C


def _line_probe_setup(spacing_mm: float, half_width_mm: float) -> SimulationSetup:
    """An infinite line probe along S: a 3-voxel slab, insulated in S."""
    count = 2 * round(half_width_mm / spacing_mm) + 1
    origin = -0.5 * (count - 1) * spacing_mm
    geometry = Geometry((3, count, count), (spacing_mm,) * 3, (origin, origin, -spacing_mm))
    model = ProbeModel(
        id="line",
        name="line probe",
        cryogen="model",
        diameter_mm=2.0,
        active_length_mm=3 * spacing_mm,
        tip_offset_mm=0.0,
        plateau_c=-100.0,
        time_constant_s=1.0,
    )
    tip = np.array([0.0, 0.0, -1.5 * spacing_mm])
    probe = PlacedProbe(model, tip, tip + np.array([0.0, 0.0, 100.0]))
    return SimulationSetup(
        geometry,
        np.zeros(geometry.shape, dtype=np.uint8),
        (GEL,),
        (probe,),
        BODY_C,
        insulated_faces=frozenset({"k-", "k+"}),
    )


def test_probe_and_held_cylinder_match_the_radial_closed_form() -> None:
    spacing = 0.5
    held_radius_mm = 12.0
    setup = _line_probe_setup(spacing, 14.0)
    axis = setup.geometry.origin_lps_mm[0] + np.arange(setup.geometry.shape[2]) * spacing
    radius = np.hypot(axis[None, :], axis[:, None])
    mask = np.broadcast_to(radius >= held_radius_mm, setup.geometry.shape)
    protected = add_fluid(setup, mask, temperature_c=BODY_C)
    result = simulate(protected, Protocol((Phase("freeze", 2400.0),)), isotherms_c=())
    # The staircase's held faces sit half a voxel inside the held centres on the axes.
    surface_mm = held_radius_mm - 0.5 * spacing
    wall_mm = 0.5 * setup.probes[0].model.diameter_mm
    phi = GEL.kirchhoff_w_m
    share = (phi(FRONT_C) - phi(-100.0)) / (phi(BODY_C) - phi(-100.0))
    expected = wall_mm * (surface_mm / wall_mm) ** float(share)
    centre = setup.geometry.shape[2] // 2
    profile = result.final_temperature_c[1, centre, centre:]
    front = _crossing_mm(axis[centre:], profile)
    assert front == pytest.approx(expected, abs=0.25)
    unprotected = simulate(setup, Protocol((Phase("freeze", 2400.0),)), isotherms_c=())
    free_front = _crossing_mm(axis[centre:], unprotected.final_temperature_c[1, centre, centre:])
    assert free_front > expected + 1.0


def test_layer_between_puts_the_fluid_on_the_organ_side_of_the_gap() -> None:
    target = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    organ = np.array([[10.0, 0.0, 0.0], [14.0, 3.0, 0.0]])
    layer = layer_between(target, organ, thickness_mm=10.0, radius_mm=20.0)
    assert layer.normal == pytest.approx([1.0, 0.0, 0.0])
    assert layer.center_lps_mm == pytest.approx([15.0, 0.0, 0.0])
    with pytest.raises(InvalidParameterError, match="touches the target"):
        layer_between(target, target[:1])


def test_fluid_over_a_probe_is_refused_and_far_measures_warn() -> None:
    model = load_probe_library().get("argon-2.4")
    tip = np.array([0.0, 0.0, -(model.tip_offset_mm + 0.5 * model.active_length_mm)])
    probe = PlacedProbe(model, tip, tip + np.array([0.0, 0.0, 150.0]))
    setup = build_setup([probe], medium="gel", spacing_mm=2.0, margin_mm=10.0)
    across = HydrodissectionLayer(np.zeros(3), np.array([1.0, 0.0, 0.0]), 4.0, 10.0)
    with pytest.raises(InvalidParameterError, match="hydrodissection layer between"):
        apply_protection(setup, [across])
    far = HydrodissectionLayer(np.array([500.0, 0.0, 0.0]), np.array([1.0, 0.0, 0.0]))
    pack = SkinPack(np.zeros(3))
    unchanged = apply_protection(setup, [far, pack])
    assert unchanged.tissues == setup.tissues
    assert len(unchanged.warnings) == len(setup.warnings) + 2
    with pytest.raises(InvalidParameterError, match="between 15 and 45"):
        SkinPack(np.zeros(3), temperature_c=80.0)


def _colon_case(gap_mm: float) -> tuple[LabelMap, list[PlacedProbe]]:
    """A tumor (8 mm radius) at the origin, colon beyond P = ``gap_mm``, one argon-2.4 probe."""
    geometry = Geometry((61, 61, 61), (1.0, 1.0, 1.0), (-30.0, -30.0, -30.0))
    k, j, i = np.meshgrid(*(np.arange(61) - 30.0,) * 3, indexing="ij")
    voxels = np.zeros(geometry.shape, dtype=np.uint8)
    tumor, colon = standard_label("tumor"), standard_label("colon")
    voxels[j >= gap_mm] = colon.value
    voxels[i * i + j * j + k * k <= 64.0] = tumor.value
    model = load_probe_library().get("argon-2.4")
    tip = np.array([0.0, 0.0, -(model.tip_offset_mm + 0.5 * model.active_length_mm)])
    probe = PlacedProbe(model, tip, tip + np.array([0.0, 0.0, 150.0]))
    return LabelMap(voxels, geometry, (tumor, colon)), [probe]


def _colon_run(labels: LabelMap, probes: list[PlacedProbe], measures=()) -> SimulationResult:
    setup = build_setup(probes, labels=labels, spacing_mm=2.0, margin_mm=20.0)
    return simulate(apply_protection(setup, measures), parse_protocol("F8"), isotherms_c=())


def test_proposed_layer_keeps_the_ice_off_the_organ_at_risk() -> None:
    labels, probes = _colon_case(14.0)
    bare = _colon_run(labels, probes)
    (proposal,) = propose_protection(bare, labels, {"colon": 5.0}, thickness_mm=4.0)
    assert proposal.structure == "colon" and proposal.ice_distance_mm == 0.0
    layer = proposal.measure
    assert isinstance(layer, HydrodissectionLayer)
    assert layer.normal == pytest.approx([0.0, 1.0, 0.0], abs=0.05)
    assert "reaches into it" in proposal.describe()
    protected = _colon_run(labels, probes, [layer])
    colon = labels.mask("colon")
    p_mm = labels.geometry.origin_lps_mm[1] + np.arange(labels.geometry.shape[1])
    # The fluid pushed the colon behind it; that part must keep its clearance and warmth.
    behind_p = p_mm > layer.center_lps_mm[1] + 0.5 * layer.thickness_mm
    behind = colon & behind_p[None, :, None]
    unprotected_c = bare.resampled(labels.geometry)
    protected_c = protected.resampled(labels.geometry)
    assert float(unprotected_c[colon].min()) < 0.0
    assert float(unprotected_c[behind].min()) < 30.0  # cooled where the fluid now lies
    assert float(protected_c[behind].min()) > 36.0
    ice_reach_mm = p_mm[np.any(protected_c <= 0.0, axis=(0, 2))].max()
    assert p_mm[behind_p].min() - ice_reach_mm >= 5.0
    # Clearances met: nothing to propose.
    assert propose_protection(bare, labels, {"colon": 5.0, "aorta": 5.0})[0].structure == "colon"
    far_labels, _ = _colon_case(28.0)
    assert propose_protection(bare, far_labels, {"colon": 5.0}) == ()


def test_skin_nearer_than_its_clearance_gets_a_warm_pack() -> None:
    labels, probes = _colon_case(14.0)
    bare = _colon_run(labels, probes)
    body_info = standard_label("body")
    voxels = np.where(labels.mask("colon"), 0, body_info.value).astype(np.uint8)
    body = LabelMap(voxels, labels.geometry, (body_info,))
    (proposal,) = propose_protection(bare, body, {}, target="body", skin_clearance_mm=5.0)
    assert proposal.structure == "body" and isinstance(proposal.measure, SkinPack)
    assert proposal.measure.center_lps_mm == pytest.approx([0.0, 13.0, 0.0], abs=2.0)
    assert propose_protection(bare, body, {}, target="body") == ()


@pytest.mark.parametrize(
    "centre",
    [(0.0, 0.0, 0.0), (-38.0, 5.5, 20.0), (60.0, 0.0, 0.0), (200.0, 0.0, 0.0)],
    ids=["inside", "at-the-corner", "half-outside", "far-outside"],
)
def test_layer_masks_computed_in_a_box_match_every_voxel_tested(centre) -> None:
    # The layer and its shadow are evaluated only in a box around the disc; every voxel
    # centre of the grid tested against the same rule must give the same masks.
    from planning_core.thermal.protection import _voxel_centres

    geometry = Geometry((41, 51, 61), (1.5, 1.2, 2.0), (-45.0, -30.0, -40.0))
    layer = HydrodissectionLayer(np.array(centre), normal=(1.0, 2.0, -0.5), radius_mm=20.0)
    offsets = _voxel_centres(geometry) - np.asarray(centre)
    across = offsets @ layer.normal
    sideways = np.einsum("...a,...a->...", offsets, offsets) - across**2
    in_disc = sideways <= layer.radius_mm**2
    half = 0.5 * layer.thickness_mm
    expected_layer = (np.abs(across) <= half) & in_disc
    expected_shadow = (across >= -half) & (across <= half + layer.radius_mm) & in_disc
    np.testing.assert_array_equal(layer.mask(geometry), expected_layer)
    np.testing.assert_array_equal(layer.shielded(geometry), expected_shadow)
    assert expected_layer.any() == (centre[0] < 100.0)
