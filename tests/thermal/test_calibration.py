"""The calibrated probe models reproduce their calibration data (probes.json).

The fit ran on a 1 mm grid (``python -m planning_core.thermal.calibration --write``);
these tests re-simulate every target on a 2 mm grid. Tolerances: within 1.0 mm
of the recorded simulated value (grid change), and within 1.5 measurement SDs
of the measured value; validation entries hold their inequality (0.5 mm slack)
or lie within 1.5 SDs, except those marked ``asserted: false``.
"""

from __future__ import annotations

import dataclasses

import pytest

from planning_core.thermal.calibration import (
    CalibrationTarget,
    fit_model,
    simulate_targets,
)
from planning_core.thermal.probes import load_probe_library, probe_library_payload

PAYLOAD = probe_library_payload()
ENTRIES = {entry["id"]: entry for entry in PAYLOAD["probes"]}
GRID_MM = 2.0
GRID_TOLERANCE_MM = 1.0
SD_FACTOR = 1.5


def test_library_has_the_required_models() -> None:
    library = load_probe_library()
    assert {"argon-2.4", "argon-1.7", "ln2-10g", "ln2-13g"} <= set(library.models)
    for model in library.models.values():
        assert model.calibration["source"]
        assert model.calibration["grid_mm"] == 1.0


@pytest.mark.parametrize("model_id", sorted(ENTRIES))
def test_model_reproduces_its_calibration_and_validation_data(model_id: str) -> None:
    model = load_probe_library().get(model_id)
    calibration = ENTRIES[model_id]["calibration"]
    rows = calibration["targets"] + calibration["validation"]
    targets = [CalibrationTarget.from_dict(row) for row in rows]
    if not targets:
        pytest.skip(f"{model_id} has no calibration data")
    simulated = simulate_targets(model, targets, spacing_mm=GRID_MM)
    for row, target, value in zip(rows, targets, simulated, strict=True):
        assert value == pytest.approx(row["simulated_mm"], abs=GRID_TOLERANCE_MM), row["label"]
        if not row.get("asserted", True):
            continue
        if target.relation == "equal":
            assert abs(value - target.measured_mm) <= SD_FACTOR * target.sd_mm, row["label"]
        else:
            assert abs(target.residual_mm(value)) <= 0.5, row["label"]


def test_fitted_models_have_every_target_residual_recorded() -> None:
    for entry in ENTRIES.values():
        calibration = entry["calibration"]
        for row in calibration["targets"]:
            assert row["residual_mm"] == pytest.approx(
                CalibrationTarget.from_dict(row).residual_mm(row["simulated_mm"]), abs=0.01
            )
        if calibration["targets"]:
            assert calibration["rms_residual_mm"] > 0


@pytest.mark.parametrize("model_id", ["argon-1.7", "ln2-13g"])
def test_derived_models_inherit_their_parents_wall_curve(model_id: str) -> None:
    calibration = ENTRIES[model_id]["calibration"]
    library = load_probe_library()
    child, parent = library.get(model_id), library.get(calibration["derived_from"])
    for name in calibration["inherited_parameters"]:
        assert getattr(child, name) == getattr(parent, name), name


def test_refit_from_another_start_returns_the_recorded_plateau() -> None:
    model = load_probe_library().get("argon-2.4")
    calibration = ENTRIES["argon-2.4"]["calibration"]
    targets = [CalibrationTarget.from_dict(row) for row in calibration["targets"]]
    start = dataclasses.replace(model, plateau_c=-120.0)
    fit = fit_model(start, targets, ["plateau_c"], spacing_mm=GRID_MM)
    # The 2 mm grid shifts the optimum slightly against the 1 mm fit.
    assert fit.parameters["plateau_c"] == pytest.approx(model.plateau_c, abs=4.0)
