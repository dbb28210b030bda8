"""Energy balance of the solver, and the stability limit of its explicit time stepping."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numerics_setups import reference_tissue, slab_setup

from planning_core.thermal import solver as solver_module
from planning_core.thermal.probes import PlacedProbe, ProbeModel
from planning_core.thermal.protocol import parse_protocol
from planning_core.thermal.setup import FACES, build_setup
from planning_core.thermal.solver import simulate
from planning_core.thermal.stability import (
    forward_euler_limit_s,
    rkl1_coefficients,
    rkl1_stages,
    stiffness_bound_per_s,
)
from planning_core.thermal.tissues import load_tissue_library

ARGON = ProbeModel(
    id="argon-test",
    name="test probe",
    cryogen="argon",
    diameter_mm=2.4,
    active_length_mm=20.0,
    tip_offset_mm=4.0,
    plateau_c=-145.0,
    time_constant_s=30.0,
)


def _insulated_gel_run(model: ProbeModel, protocol: str):
    probe = PlacedProbe(model, np.array([0.0, 0.0, -14.0]), np.array([0.0, 0.0, 100.0]))
    setup = build_setup([probe], medium="gel", spacing_mm=2.0, margin_mm=20.0)
    setup = dataclasses.replace(setup, insulated_faces=frozenset(FACES))
    return simulate(setup, parse_protocol(protocol))


def test_heat_removed_by_the_probe_equals_the_enthalpy_lost() -> None:
    # Closed box without perfusion: the only heat flow is the probe's.
    result = _insulated_gel_run(ARGON, "F5-T3-A2")
    removed = float(result.probe_energy_j.sum())
    assert removed > 1000.0
    assert -result.enthalpy_change_j == pytest.approx(removed, rel=2e-3)


def test_fixed_extraction_removes_power_times_length_times_duration() -> None:
    sink = dataclasses.replace(ARGON, boundary="heat_extraction", heat_extraction_w_m=400.0)
    result = _insulated_gel_run(sink, "F5")
    expected = 400.0 * 0.020 * 300.0
    assert float(result.probe_energy_j.sum()) == pytest.approx(expected, rel=1e-9)
    assert -result.enthalpy_change_j == pytest.approx(expected, rel=2e-3)


def _discrete_operator(shape: tuple[int, int, int], spacing_m: float, alpha: float) -> np.ndarray:
    """Matrix of the 7-point diffusion operator with fixed (Dirichlet) outer boundaries."""
    count = int(np.prod(shape))
    matrix = np.zeros((count, count))
    index = np.arange(count).reshape(shape)
    for (k, j, i), row in np.ndenumerate(index):
        for axis, step in ((0, 1), (0, -1), (1, 1), (1, -1), (2, 1), (2, -1)):
            neighbour = [k, j, i]
            neighbour[axis] += step
            matrix[row, row] -= alpha / spacing_m**2
            if 0 <= neighbour[axis] < shape[axis]:
                matrix[row, index[tuple(neighbour)]] += alpha / spacing_m**2
    return matrix


def test_stiffness_bound_covers_the_discrete_spectrum() -> None:
    tissues = load_tissue_library().tissues.values()
    bound = stiffness_bound_per_s(tuple(tissues), (1.0, 1.0, 1.0))
    alpha = max(t.max_diffusivity_m2_s for t in tissues)
    eigenvalues = np.linalg.eigvalsh(_discrete_operator((8, 8, 8), 1e-3, alpha))
    largest = float(np.max(np.abs(eigenvalues)))
    assert largest <= bound
    assert largest >= 0.85 * bound  # the bound is not loose
    assert forward_euler_limit_s(tuple(tissues), (1.0, 1.0, 1.0)) == pytest.approx(2.0 / bound)


@pytest.mark.parametrize("need", [0.3, 1.9, 2.1, 17.0, 150.0, 4321.0])
def test_stage_count_is_the_fewest_that_is_stable(need: float) -> None:
    stages = rkl1_stages(need, 1.0, safety=1.0)
    assert stages * stages + stages >= need
    assert stages == 1 or (stages - 1) ** 2 + (stages - 1) < need


def _amplification(stages: int, z: np.ndarray) -> np.ndarray:
    """RKL1 growth factor of ``dy/dt = λ y`` with ``z = λ Δt``."""
    previous2, previous = np.ones_like(z), np.ones_like(z)
    for j, (mu, nu, mu_dt) in enumerate(rkl1_coefficients(stages), start=1):
        current = mu * previous + nu * (previous if j == 1 else previous2) + mu_dt * z * previous
        previous2, previous = previous, current
    return previous


@pytest.mark.parametrize("stages", [1, 4, 13, 40])
def test_rkl1_is_stable_exactly_up_to_its_limit(stages: int) -> None:
    limit = stages * stages + stages
    inside = _amplification(stages, -np.linspace(0.0, limit, 4001))
    assert np.max(np.abs(inside)) <= 1.0 + 1e-9
    assert abs(_amplification(stages, np.array([-1.05 * limit]))[0]) > 1.0


def test_too_few_stages_blow_up_and_the_computed_count_does_not(monkeypatch) -> None:
    setup = slab_setup(1.0, length_mm=40.0, wall_c=-145.0, initial_c=37.0)
    result = simulate(setup, parse_protocol("F3"))
    assert np.all(result.min_temperature_c >= -145.0 - 1e-3)
    assert np.all(result.final_temperature_c <= 37.0 + 1e-3)
    monkeypatch.setattr(
        solver_module, "rkl1_stages", lambda step, stiffness, safety: max(1, round(step) // 4)
    )
    unstable = simulate(setup, parse_protocol("F3"))
    values = unstable.final_temperature_c
    assert not np.all(np.isfinite(values)) or float(np.max(np.abs(values))) > 1e3


def test_reference_tissue_uses_sensible_capacity_for_the_limit() -> None:
    tissue = reference_tissue()
    assert tissue.max_diffusivity_m2_s == pytest.approx(2.0 / 1.8e6)
