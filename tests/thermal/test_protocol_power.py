"""Per-probe power (duty cycle) per phase, organ presets, and their round trips."""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np
import pytest

from planning_core.errors import InvalidParameterError
from planning_core.thermal.preview import preview_min_field
from planning_core.thermal.probes import PlacedProbe, ProbeModel, load_probe_library
from planning_core.thermal.protocol import (
    PROTOCOL_PRESETS,
    Phase,
    Protocol,
    parse_protocol,
    presets_for_organ,
)
from planning_core.thermal.result import SimulationResult, load_result_fields
from planning_core.thermal.setup import FACES, build_setup
from planning_core.thermal.solver import simulate


def _probe(model: ProbeModel, x_mm: float = 0.0) -> PlacedProbe:
    tip = np.array([x_mm, 0.0, -(model.tip_offset_mm + 0.5 * model.active_length_mm)])
    return PlacedProbe(model, tip, tip + np.array([0.0, 0.0, 150.0]))


@lru_cache(maxsize=8)
def _run(code: str, probes: int = 1) -> SimulationResult:
    model = load_probe_library().get("argon-2.4")
    placed = [_probe(model, 15.0 * n) for n in range(probes)]
    setup = build_setup(placed, medium="gel", spacing_mm=2.0, margin_mm=20.0)
    return simulate(setup, parse_protocol(code), isotherms_c=(0.0,))


def test_power_codes_round_trip_and_bad_powers_are_refused() -> None:
    for code in ("F10@50-T8-F10", "F10@100/40-T8-A2@30", "F3-T3-F7@0-T7-F10"):
        protocol = parse_protocol(code)
        assert protocol.code == code
        assert parse_protocol(protocol.code) == protocol
        restored = Protocol(tuple(Phase.from_dict(p) for p in protocol.to_dict()["phases"]))
        assert restored == protocol
    assert parse_protocol("10@40-8-10").phases[0].power_percent == 40.0
    assert parse_protocol("F10-T8-F10").full_power
    # Plans and result files from before power existed read as full power.
    assert Phase.from_dict({"kind": "freeze", "duration_s": 60.0, "probes": None}).full_power
    with pytest.raises(InvalidParameterError, match="passive thaw has no power"):
        parse_protocol("F10-T8@50-F10")
    with pytest.raises(InvalidParameterError, match="between 0 and 100"):
        parse_protocol("F10@120")
    with pytest.raises(InvalidParameterError, match="above 0 % power"):
        parse_protocol("F10@0-T5")


def test_duty_cycle_scales_a_fixed_extraction_exactly() -> None:
    model = ProbeModel(
        id="fixed",
        name="fixed extraction",
        cryogen="model",
        diameter_mm=2.0,
        active_length_mm=20.0,
        tip_offset_mm=5.0,
        boundary="heat_extraction",
        heat_extraction_w_m=400.0,
    )
    setup = build_setup([_probe(model)], medium="gel", spacing_mm=2.0, margin_mm=15.0)
    result = simulate(setup, parse_protocol("F1@25-T1-F1"), isotherms_c=())
    expected_j = (0.25 + 1.0) * 400.0 * 0.020 * 60.0
    assert float(result.probe_energy_j[0]) == pytest.approx(expected_j, rel=1e-9)


def test_zero_power_is_off_and_half_power_freezes_less() -> None:
    off = _run("F4-F2@0")
    thaw = _run("F4-T2")
    assert np.array_equal(off.final_temperature_c, thaw.final_temperature_c)
    full, half = _run("F6"), _run("F6@50")
    assert 0.0 < half.isotherm_volume_ml(0.0) < 0.8 * full.isotherm_volume_ml(0.0)
    assert 0.0 < float(half.probe_energy_j[0]) < float(full.probe_energy_j[0])


def test_per_probe_power_drives_each_probe_at_its_own_duty_cycle() -> None:
    result = _run("F4@100/0", probes=2)
    assert float(result.probe_energy_j[1]) == 0.0
    assert float(result.probe_energy_j[0]) > 0.0
    with pytest.raises(InvalidParameterError, match="one percentage per probe"):
        _run("F4@100/50/50", probes=2)


def test_saved_fields_keep_the_power(tmp_path) -> None:
    result = _run("F4@100/0", probes=2)
    loaded = load_result_fields(result.save_fields(tmp_path / "fields.npz"))
    assert loaded.protocol.code == "F4@100/0"


def test_preview_runs_each_probe_at_its_own_power() -> None:
    model = load_probe_library().get("argon-1.7")
    first, second = _probe(model), _probe(model, 15.0)
    both = preview_min_field([first, second], parse_protocol("F2@100/0"), spacing_mm=2.0)
    alone = preview_min_field([first], parse_protocol("F2"), grid=both.geometry)
    assert np.array_equal(both.min_temperature_c, alone.min_temperature_c)


def test_every_organ_has_its_usual_presets_with_sources() -> None:
    assert presets_for_organ("Kidney")[0].code == "F10-T8-F10"
    assert presets_for_organ("liver")[0].name == "10-8-10"
    assert [p.name for p in presets_for_organ("lung")] == ["lung-3-7-10"]
    assert presets_for_organ("lung")[0].code == "F3-T3-F7-T7-F10"
    breast = presets_for_organ("breast")[0]
    assert [phase.kind for phase in breast.phases] == ["freeze", "passive_thaw", "freeze"]
    assert presets_for_organ("spleen") == ()
    assert all(preset.source and preset.organs for preset in PROTOCOL_PRESETS.values())


def test_reduced_power_conserves_energy_and_active_thaw_melts_faster() -> None:
    # Closed box without perfusion: the enthalpy lost is what the probe removed, also
    # when the removal is scaled by a duty cycle.
    model = load_probe_library().get("argon-2.4")
    setup = build_setup([_probe(model)], medium="gel", spacing_mm=2.0, margin_mm=20.0)
    closed = dataclasses.replace(setup, insulated_faces=frozenset(FACES))
    result = simulate(closed, parse_protocol("F4@60-A2@50"), isotherms_c=())
    removed = float(result.probe_energy_j.sum())
    assert removed > 500.0
    assert -result.enthalpy_change_j == pytest.approx(removed, rel=2e-3)
    frozen = [
        np.count_nonzero(_run(code).final_temperature_c <= 0.0) for code in ("F4-T2", "F4-A2")
    ]
    assert frozen[1] < frozen[0]
