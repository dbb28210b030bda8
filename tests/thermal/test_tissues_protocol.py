"""Tissue property data, protocols, and the solver's progress and cancellation."""

from __future__ import annotations

import numpy as np
import pytest

from planning_core.errors import InvalidParameterError, OperationCancelledError
from planning_core.progress import CancelToken
from planning_core.thermal.probes import PlacedProbe, load_probe_library
from planning_core.thermal.protocol import PROTOCOL_PRESETS, parse_protocol
from planning_core.thermal.setup import build_setup
from planning_core.thermal.solver import simulate
from planning_core.thermal.tissues import load_tissue_library

LIBRARY = load_tissue_library()


@pytest.mark.parametrize("key", sorted(k for k, t in LIBRARY.tissues.items() if not t.inert))
def test_enthalpy_and_temperature_are_inverse(key: str) -> None:
    tissue = LIBRARY.get(key)
    temperatures = np.linspace(-190.0, 45.0, 941)
    back = tissue.temperature_c(tissue.enthalpy_j_m3(temperatures))
    assert np.allclose(back, temperatures, atol=1e-9)
    # Latent heat sits inside the phase-change range.
    jump = tissue.enthalpy_j_m3(tissue.liquidus_c) - tissue.enthalpy_j_m3(tissue.solidus_c)
    sensible = 0.5 * (tissue.heat_capacity_frozen_j_m3k + tissue.heat_capacity_unfrozen_j_m3k)
    width = tissue.liquidus_c - tissue.solidus_c
    assert jump == pytest.approx(tissue.latent_heat_j_m3 + sensible * width)


@pytest.mark.parametrize("key", ["soft_tissue", "lung", "gel"])
def test_kirchhoff_potential_integrates_conductivity(key: str) -> None:
    tissue = LIBRARY.get(key)
    temperatures = np.linspace(-150.0, 37.0, 18701)
    potential = tissue.kirchhoff_w_m(temperatures)
    slope = np.gradient(potential, temperatures)
    # Central differences blur the kinks of k(T) at the range ends by up to k' * step.
    assert np.allclose(slope[1:-1], tissue.conductivity_w_mk(temperatures)[1:-1], atol=0.02)


def test_every_tissue_and_label_mapping_is_sourced() -> None:
    for tissue in LIBRARY.tissues.values():
        assert tissue.source
    assert LIBRARY.label_tissues["vessel"] == "blood"
    assert LIBRARY.get("blood").perfusion_w_m3k >= 1e5
    hu = np.array([-1000, -800, -300, -100, 40, 700])
    keys = [LIBRARY.hounsfield[i].tissue for i in LIBRARY.tissue_for_hu(hu)]
    assert keys == ["air", "lung", "soft_tissue", "fat", "soft_tissue", "bone"]


def test_presets_and_custom_protocols() -> None:
    assert {"10-8-10", "10-5-10", "lung-3-7-10", "breast"} <= set(PROTOCOL_PRESETS)
    assert parse_protocol("10-8-10").freeze_time_s == 1200.0
    custom = parse_protocol("F10-T8-A2.5-F10")
    assert [p.kind for p in custom.phases] == ["freeze", "passive_thaw", "active_thaw", "freeze"]
    assert custom.duration_s == pytest.approx(30.5 * 60.0)
    assert parse_protocol("F15").code == "F15"


def test_protocol_without_letters_for_some_phases_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="every phase or for none"):
        parse_protocol("F10-8")


def _small_setup():
    model = load_probe_library().get("argon-1.7")
    probe = PlacedProbe(model, np.zeros(3), np.array([0.0, 0.0, 100.0]))
    return build_setup([probe], medium="gel", spacing_mm=2.0, margin_mm=10.0)


def test_progress_reaches_one_and_cancel_stops_the_run() -> None:
    fractions = []
    simulate(_small_setup(), parse_protocol("F2"), progress=lambda f, m: fractions.append(f))
    assert fractions[-1] == pytest.approx(1.0)
    assert fractions == sorted(fractions)
    token = CancelToken()

    def cancel_halfway(fraction: float, message: str) -> None:
        if fraction > 0.5:
            token.cancel()

    with pytest.raises(OperationCancelledError):
        simulate(_small_setup(), parse_protocol("F2"), progress=cancel_halfway, cancel=token)
