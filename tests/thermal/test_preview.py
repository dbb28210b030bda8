"""The drag preview agrees with the full solver and runs no simulation once templates exist.

Measured against the full solver on the same 2 mm grid, 10-8-10, soft tissue:
two probes 20 mm apart: Dice 0.97 / 0.97 / 0.96 and volume error -6 % / +3 % /
+5 % for 0 / -20 / -40 °C; three probes 15 mm apart (triangle): Dice 0.99 /
0.95 / 0.94, volume error -3 % / +10 % / +14 %; two probes 30 mm apart: Dice
0.98 / 0.96 / 0.95.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest

from planning_core.errors import InvalidParameterError
from planning_core.thermal import preview as preview_module
from planning_core.thermal.preview import preview_min_field, probe_template
from planning_core.thermal.probes import PlacedProbe, load_probe_library
from planning_core.thermal.protocol import Protocol, parse_protocol
from planning_core.thermal.result import SimulationResult
from planning_core.thermal.setup import build_setup
from planning_core.thermal.solver import simulate

PROTOCOL = parse_protocol("10-8-10")
#: Least Dice of the -20 and -40 °C zones against the full solver, and of the 0 °C ice.
LETHAL_DICE = 0.9
ICE_DICE = 0.95
LETHAL_VOLUME_ERROR = 0.2


def _probe(x_mm: float, y_mm: float) -> PlacedProbe:
    model = load_probe_library().get("argon-2.4")
    tip = np.array([x_mm, y_mm, -(model.tip_offset_mm + 0.5 * model.active_length_mm)])
    return PlacedProbe(model, tip, tip + np.array([0.0, 0.0, 150.0]))


LAYOUTS = {
    "two probes 20 mm apart": ((-10.0, 0.0), (10.0, 0.0)),
    "three probes 15 mm apart": tuple(
        (15 / math.sqrt(3) * math.cos(a), 15 / math.sqrt(3) * math.sin(a))
        for a in np.radians([90.0, 210.0, 330.0])
    ),
}


@lru_cache(maxsize=2)
def _full(layout: str) -> SimulationResult:
    probes = [_probe(*xy) for xy in LAYOUTS[layout]]
    return simulate(build_setup(probes, medium="soft_tissue", spacing_mm=2.0), PROTOCOL)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_preview_matches_full_solver(layout: str) -> None:
    full = _full(layout)
    preview = preview_min_field(full.probes, PROTOCOL, grid=full.geometry)
    for temperature, least in ((0.0, ICE_DICE), (-20.0, LETHAL_DICE), (-40.0, LETHAL_DICE)):
        exact = full.min_temperature_c <= temperature
        approx = preview.min_temperature_c <= temperature
        assert _dice(exact, approx) >= least, temperature
    lethal = np.count_nonzero(preview.min_temperature_c <= -40.0)
    reference = np.count_nonzero(full.min_temperature_c <= -40.0)
    assert lethal / reference - 1.0 == pytest.approx(0.0, abs=LETHAL_VOLUME_ERROR)


def test_preview_reuses_templates_without_simulating(monkeypatch) -> None:
    # Latency (about 40 ms for five probes) is printed by benchmarks/bench_thermal.py;
    # here: once a template exists, a preview runs no simulation at all.
    probes = [_probe(*xy) for xy in LAYOUTS["three probes 15 mm apart"]]
    probes += [_probe(0.0, 20.0), _probe(0.0, -20.0)]
    first = preview_min_field(probes, PROTOCOL)

    def refuse(*args, **kwargs):
        raise AssertionError("the preview ran a simulation")

    monkeypatch.setattr(preview_module, "simulate", refuse)
    again = preview_min_field(probes, PROTOCOL)
    assert np.array_equal(again.min_temperature_c, first.min_temperature_c)
    assert again.isotherm_volume_ml(-40.0) > 0


def test_single_probe_template_is_its_own_simulation() -> None:
    model = load_probe_library().get("argon-2.4")
    template = probe_template(model, PROTOCOL, "soft_tissue", 37.0)
    assert template.drop_c.max() > 150.0  # -113 °C or colder near the probe
    assert template.drop_c[:, -1].max() < 5.0  # the cut lies far outside the ice
    assert probe_template(model, PROTOCOL, "soft_tissue", 37.0) is template


def test_preview_rejects_bad_exponent() -> None:
    with pytest.raises(InvalidParameterError, match="combination_exponent"):
        preview_min_field([_probe(0.0, 0.0)], PROTOCOL, combination_exponent=0.5)


def test_preview_rejects_no_probes() -> None:
    with pytest.raises(InvalidParameterError, match="at least one probe"):
        preview_min_field([], Protocol(PROTOCOL.phases))
