"""Validation: two-probe synergy and the heat sink of a blood vessel beside the ice ball."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap, standard_label
from planning_core.thermal.probes import PlacedProbe, load_probe_library
from planning_core.thermal.protocol import parse_protocol
from planning_core.thermal.setup import build_setup
from planning_core.thermal.solver import simulate

LETHAL_C = -40.0


def _probe(x_mm: float) -> PlacedProbe:
    model = load_probe_library().get("argon-2.4")
    tip = np.array([x_mm, 0.0, -(model.tip_offset_mm + 0.5 * model.active_length_mm)])
    return PlacedProbe(model, tip, tip + np.array([0.0, 0.0, 150.0]))


def _voxel_centres(geometry: Geometry) -> NDArray[np.float64]:
    nk, nj, ni = geometry.shape
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    ijk = np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1).astype(np.float64)
    return geometry.index_to_lps(ijk)


def test_two_probes_20_mm_apart_kill_more_than_two_single_probes() -> None:
    protocol = parse_protocol("10-8-10")
    pair = simulate(
        build_setup([_probe(-10.0), _probe(10.0)], medium="soft_tissue", spacing_mm=2.0),
        protocol,
    )
    single = simulate(build_setup([_probe(0.0)], medium="soft_tissue", spacing_mm=2.0), protocol)
    centres = _voxel_centres(pair.geometry)
    # The union of two single-probe lethal zones, shifted to the pair's probe positions.
    shift = np.array([10.0, 0.0, 0.0])
    alone = np.minimum(
        single.temperature_at(centres - shift), single.temperature_at(centres + shift)
    )
    union = int(np.count_nonzero(alone <= LETHAL_C))
    together = int(np.count_nonzero(pair.min_temperature_c.ravel() <= LETHAL_C))
    # Measured: the pair's lethal zone is about 1.6 times the union.
    assert together > 1.3 * union, (together, union)
    # The lethal zones merge between the probes only with synergy.
    midpoint = pair.temperature_at([[0.0, 0.0, 0.0]])[0]
    assert midpoint <= LETHAL_C
    assert single.temperature_at([[10.0, 0.0, 0.0]])[0] > LETHAL_C


def _edge_mm(result, direction: float, temperature_c: float) -> float:
    radii = np.linspace(0.0, 35.0, 3501)
    points = np.stack([direction * radii, np.zeros_like(radii), np.zeros_like(radii)], axis=1)
    values = result.temperature_at(points)
    return float(radii[np.argmax(values > temperature_c)])


def test_vessel_beside_the_ice_ball_shrinks_it_on_that_side() -> None:
    geometry = Geometry((81, 61, 81), (1.0, 1.0, 1.0), (-40.0, -30.0, -40.0))
    centres = _voxel_centres(geometry).reshape(*geometry.shape, 3)
    # A 6 mm vessel parallel to the probe, 14 mm to its left (+x in LPS).
    vessel = np.hypot(centres[..., 0] - 14.0, centres[..., 1]) <= 3.0
    info = standard_label("vessel")
    labels = LabelMap((vessel * info.value).astype(np.uint8), geometry, (info,))
    setup = build_setup([_probe(0.0)], labels=labels, spacing_mm=1.0, margin_mm=30.0)
    assert {t.key for t in setup.tissues} == {"soft_tissue", "blood"}
    result = simulate(setup, parse_protocol("F10"))
    shrink = {t: _edge_mm(result, -1.0, t) - _edge_mm(result, 1.0, t) for t in (0.0, LETHAL_C)}
    # Measured: the 0 °C edge 5.0 mm and the -40 °C edge 0.7 mm closer on the vessel side.
    assert shrink[0.0] > 3.0, shrink
    assert shrink[LETHAL_C] > 0.4, shrink
    # The vessel lumen stays unfrozen.
    assert result.temperature_at([[14.0, 0.0, 0.0]])[0] > 0.0
