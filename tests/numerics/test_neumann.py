"""Neumann's 1-D freezing problem: front and frozen-side isotherms, and grid convergence.

Reference medium (thermal reference section 2): wall at -145 °C from t = 0, medium
at 37 °C; exact front 8.03 / 17.95 / 25.38 mm at 60 / 300 / 600 s.
"""

from __future__ import annotations

import numpy as np
import pytest
from numerics_setups import FRONT_C, profile_crossing_mm, slab_setup

from planning_core.thermal.analytic import neumann_solution
from planning_core.thermal.protocol import Phase, Protocol
from planning_core.thermal.solver import simulate

TIMES_S = (60.0, 300.0, 600.0)
#: Front error allowed on the 0.5 mm grid (the enthalpy front lags by about a voxel).
FRONT_TOLERANCE_MM = 0.6
#: Error of the -20 / -40 °C isotherms at 600 s on the 0.5 mm grid.
ISOTHERM_TOLERANCE_MM = 0.3


def _errors_mm(spacing_mm: float) -> tuple[list[float], list[float]]:
    exact = neumann_solution(wall_c=-145.0, initial_c=37.0)
    setup = slab_setup(spacing_mm, length_mm=80.0, wall_c=-145.0, initial_c=37.0)
    result = simulate(setup, Protocol((Phase("freeze", 600.0),)), record_times_s=TIMES_S)
    x_mm = np.arange(setup.geometry.shape[2]) * spacing_mm
    fronts = [
        profile_crossing_mm(x_mm, result.field(t)[0, 0].astype(np.float64), FRONT_C)
        - exact.front_mm(t)
        for t in TIMES_S
    ]
    final = result.field(600.0)[0, 0].astype(np.float64)
    isotherms = [
        profile_crossing_mm(x_mm, final, t) - exact.isotherm_mm(t, 600.0) for t in (-20.0, -40.0)
    ]
    return fronts, isotherms


def test_exact_solution_matches_the_reference_numbers() -> None:
    exact = neumann_solution(wall_c=-145.0, initial_c=37.0)
    assert exact.lam == pytest.approx(0.49147, abs=1e-5)
    assert [exact.front_mm(t) for t in TIMES_S] == pytest.approx([8.03, 17.95, 25.38], abs=0.01)
    assert exact.isotherm_mm(-20.0, 600.0) == pytest.approx(21.40, abs=0.01)
    assert exact.isotherm_mm(-40.0, 600.0) == pytest.approx(17.67, abs=0.01)


def test_front_and_isotherms_on_half_millimetre_grid() -> None:
    fronts, isotherms = _errors_mm(0.5)
    assert max(abs(e) for e in fronts) <= FRONT_TOLERANCE_MM, fronts
    assert max(abs(e) for e in isotherms) <= ISOTHERM_TOLERANCE_MM, isotherms


def test_front_error_shrinks_with_grid_refinement() -> None:
    coarse = max(abs(e) for e in _errors_mm(1.0)[0])
    fine = max(abs(e) for e in _errors_mm(0.25)[0])
    # Measured 0.91 mm at 1 mm and 0.27 mm at 0.25 mm: at least halved.
    assert fine < 0.5 * coarse, (coarse, fine)
