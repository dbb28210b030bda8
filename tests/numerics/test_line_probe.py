"""The sub-grid probe coupling against a resolved 1-D radial solution, and time-step error.

An infinitely long 2.4 mm probe whose wall follows -145 °C with a 30-s time
constant freezes soft tissue (tissues.json, with perfusion) for 10 min. The
reference imposes the wall temperature at the true probe radius on a 0.2 mm
radial grid (independent code in numerics_setups); the 3-D solver sees the
probe only through its sub-grid model. Measured isotherm radii (0/-20/-40 °C):
reference 16.82/11.95/8.22 mm; 3-D 16.31/12.46/8.41 (2 mm), 16.47/11.93/8.23
(1 mm), 16.67/11.90/8.20 (0.5 mm).
"""

from __future__ import annotations

from functools import lru_cache

import pytest
from numerics_setups import line_probe_setup, radial_crossing_mm, radial_reference_mm

from planning_core.thermal.probes import ProbeModel
from planning_core.thermal.protocol import Phase, Protocol
from planning_core.thermal.solver import simulate
from planning_core.thermal.tissues import load_tissue_library

ISOTHERMS_C = (0.0, -20.0, -40.0)
MODEL = ProbeModel(
    id="wall",
    name="wall-temperature probe",
    cryogen="model",
    diameter_mm=2.4,
    active_length_mm=1.0,
    tip_offset_mm=0.0,
    plateau_c=-145.0,
    time_constant_s=30.0,
)
#: Largest isotherm-radius error allowed (mm) per grid.
TOLERANCE_MM = {2.0: 0.7, 1.0: 0.5, 0.5: 0.3}


@lru_cache(maxsize=1)
def _reference_mm() -> tuple[float, ...]:
    return tuple(
        radial_reference_mm(
            load_tissue_library().get("soft_tissue"),
            wall_radius_mm=1.2,
            plateau_c=-145.0,
            time_constant_s=30.0,
            duration_s=600.0,
            isotherms_c=ISOTHERMS_C,
        )
    )


@lru_cache(maxsize=4)
def _radii_mm(spacing_mm: float, max_time_step_s: float = 10.0) -> tuple[float, ...]:
    tissue = load_tissue_library().get("soft_tissue")
    setup = line_probe_setup(spacing_mm, MODEL, tissue, half_width_mm=40.0)
    result = simulate(setup, Protocol((Phase("freeze", 600.0),)), max_time_step_s=max_time_step_s)
    return tuple(radial_crossing_mm(result, t) for t in ISOTHERMS_C)


def test_reference_is_converged_in_its_own_grid() -> None:
    # Halving dr from 0.4 to 0.2 mm moves the radii by < 0.06 mm (0.1 mm: < 0.01 mm more).
    coarse = radial_reference_mm(
        load_tissue_library().get("soft_tissue"),
        wall_radius_mm=1.2,
        plateau_c=-145.0,
        time_constant_s=30.0,
        duration_s=600.0,
        isotherms_c=ISOTHERMS_C,
        dr_mm=0.4,
    )
    assert coarse == pytest.approx(_reference_mm(), abs=0.1)


@pytest.mark.parametrize("spacing_mm", [2.0, 1.0, 0.5])
def test_isotherm_radii_match_resolved_probe(spacing_mm: float) -> None:
    errors = [a - b for a, b in zip(_radii_mm(spacing_mm), _reference_mm(), strict=True)]
    assert max(abs(e) for e in errors) <= TOLERANCE_MM[spacing_mm], errors


def test_ice_edge_converges_with_refinement() -> None:
    reference = _reference_mm()[0]
    errors = [abs(_radii_mm(h)[0] - reference) for h in (2.0, 1.0, 0.5)]
    assert errors[0] > errors[1] > errors[2], errors


def test_default_time_step_error_is_small() -> None:
    # 10-s steps (default) against 1-s steps on the 1 mm grid.
    assert _radii_mm(1.0) == pytest.approx(_radii_mm(1.0, 1.0), abs=0.1)
