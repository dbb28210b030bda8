"""Calibration of the probe models against published iceball measurements.

Each model in ``probes.json`` lists its calibration ``targets`` (measured iceball
sizes: medium, protocol, isotherm, quantity, measured value) and, for fitted
models, the ``fitted_parameters``. :func:`fit_model` adjusts those parameters by
weighted least squares (residual / measurement SD) with one probe simulated in a
homogeneous medium; models marked ``derived_from`` take the fitted wall curve of
their parent; models marked ``parameters_frozen`` keep their parameters (saved
plans reproduce) and only have their residuals re-evaluated. ``validation``
entries are checked, not fitted. Organ factors (published organ-to-organ ice
size ratios) are simulated with one probe in each medium.

Regenerate the numbers in the data file with::

    python -m planning_core.thermal.calibration --write
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import optimize

from planning_core.atomic import write_text_atomic
from planning_core.errors import InvalidParameterError
from planning_core.input_files import read_json_file
from planning_core.thermal.measure import isotherm_dimensions
from planning_core.thermal.probe_families import OrganFactor
from planning_core.thermal.probes import PlacedProbe, ProbeModel, parse_probe_library
from planning_core.thermal.protocol import parse_protocol
from planning_core.thermal.setup import build_setup
from planning_core.thermal.solver import simulate

Quantity = Literal["equivalent_diameter_mm", "axial_length_mm", "lethal_gap_mm"]
#: Grid of the fit; the tests reproduce the targets on a 2 mm grid as well.
CALIBRATION_SPACING_MM = 1.0
CALIBRATION_MARGIN_MM = 35.0
#: Parameters a fit may adjust, with their bounds.
PARAMETER_BOUNDS: dict[str, tuple[float, float]] = {
    "plateau_c": (-196.0, -60.0),
    "time_constant_s": (5.0, 300.0),
    "active_length_mm": (5.0, 60.0),
}


@dataclass(frozen=True)
class CalibrationTarget:
    """One measured iceball figure.

    Attributes
    ----------
    label : str
        Short description (which study, which figure).
    medium : str
        Tissue class of the homogeneous medium (``"lung"``, ``"gel"`` ...).
    protocol : str
        Protocol code, e.g. ``"10-5-10"``.
    initial_temperature_c : float
        Body or phantom temperature.
    isotherm_c : float
    quantity : {"equivalent_diameter_mm", "axial_length_mm", "lethal_gap_mm"}
        Cross-section diameter through the middle of the freezing segment,
        length along the probe, or the distance from this isotherm's edge to
        the 0 °C edge (radial, half the difference of the diameters).
    measured_mm : float
    sd_mm : float
        Measurement spread (weights the fit).
    relation : {"equal", "at_least", "at_most"}
        ``at_least``: the measured figure is a lower bound (e.g. a lesion the
        ice engulfed); the residual is zero when the simulation exceeds it.
    """

    label: str
    medium: str
    protocol: str
    initial_temperature_c: float
    isotherm_c: float
    quantity: Quantity
    measured_mm: float
    sd_mm: float
    relation: Literal["equal", "at_least", "at_most"] = "equal"

    @classmethod
    def from_dict(cls, entry: dict) -> CalibrationTarget:
        fields = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in entry.items() if k in fields})
        except TypeError as error:
            raise InvalidParameterError(f"calibration target {entry!r}: {error}") from None

    def residual_mm(self, simulated_mm: float) -> float:
        """Simulated minus measured; zero where an inequality holds."""
        gap = simulated_mm - self.measured_mm
        if self.relation == "at_least":
            return min(gap, 0.0)
        if self.relation == "at_most":
            return max(gap, 0.0)
        return gap


def single_probe_run(
    model: ProbeModel,
    *,
    medium: str,
    protocol: str,
    initial_temperature_c: float,
    spacing_mm: float = CALIBRATION_SPACING_MM,
    margin_mm: float = CALIBRATION_MARGIN_MM,
):
    """One probe along +S in a homogeneous medium, active segment centred at the origin."""
    tip = np.array([0.0, 0.0, -(model.tip_offset_mm + 0.5 * model.active_length_mm)])
    probe = PlacedProbe(model, tip, tip + np.array([0.0, 0.0, 200.0]))
    setup = build_setup(
        [probe],
        medium=medium,
        spacing_mm=spacing_mm,
        margin_mm=margin_mm,
        body_temperature_c=initial_temperature_c,
    )
    return simulate(setup, parse_protocol(protocol), isotherms_c=())


def simulate_targets(
    model: ProbeModel,
    targets: Sequence[CalibrationTarget],
    *,
    spacing_mm: float = CALIBRATION_SPACING_MM,
) -> list[float]:
    """The simulated value of each target (one simulation per medium/protocol/temperature)."""
    runs: dict[tuple[str, str, float], object] = {}
    values = []
    for target in targets:
        key = (target.medium, target.protocol, target.initial_temperature_c)
        if key not in runs:
            runs[key] = single_probe_run(
                model,
                medium=target.medium,
                protocol=target.protocol,
                initial_temperature_c=target.initial_temperature_c,
                spacing_mm=spacing_mm,
            )
        result = runs[key]
        if target.quantity == "lethal_gap_mm":
            ice, lethal = isotherm_dimensions(result, (0.0, target.isotherm_c))
            values.append(0.5 * (ice.equivalent_diameter_mm - lethal.equivalent_diameter_mm))
        else:
            (dims,) = isotherm_dimensions(result, (target.isotherm_c,))
            values.append(float(getattr(dims, target.quantity)))
    return values


@dataclass(frozen=True)
class FitResult:
    model: ProbeModel
    parameters: dict[str, float]
    simulated_mm: list[float]
    residuals_mm: list[float]

    @property
    def rms_residual_mm(self) -> float:
        return float(np.sqrt(np.mean(np.square(self.residuals_mm))))


def fit_model(
    model: ProbeModel,
    targets: Sequence[CalibrationTarget],
    parameters: Sequence[str],
    *,
    bounds: dict[str, Sequence[float]] | None = None,
    spacing_mm: float = CALIBRATION_SPACING_MM,
) -> FitResult:
    """Adjust ``parameters`` of ``model`` so that it reproduces ``targets`` (least squares).

    Parameters
    ----------
    model : ProbeModel
        Starting point; its other parameters stay fixed.
    targets : sequence of CalibrationTarget
    parameters : sequence of str
        Names from :data:`PARAMETER_BOUNDS`.
    bounds : dict, optional
        Narrower ``(low, high)`` bounds per parameter (physical limits of a cryogen).
    spacing_mm : float
        Simulation grid.

    Returns
    -------
    FitResult
        The fitted model (parameters rounded to 0.1), its simulated values and residuals.
    """
    unknown = set(parameters) - set(PARAMETER_BOUNDS)
    if unknown:
        raise InvalidParameterError(
            f"cannot fit {sorted(unknown)}; fittable: {', '.join(PARAMETER_BOUNDS)}."
        )
    if not parameters:
        return evaluate_model(model, targets, spacing_mm=spacing_mm)
    limits = {**PARAMETER_BOUNDS, **(bounds or {})}
    low = np.array([float(limits[p][0]) for p in parameters])
    high = np.array([float(limits[p][1]) for p in parameters])
    start = np.clip([getattr(model, p) for p in parameters], low, high)
    weights = np.array([1.0 / t.sd_mm for t in targets])

    def residuals(x: np.ndarray) -> np.ndarray:
        trial = dataclasses.replace(model, **dict(zip(parameters, map(float, x), strict=True)))
        values = simulate_targets(trial, targets, spacing_mm=spacing_mm)
        gaps = [t.residual_mm(v) for t, v in zip(targets, values, strict=True)]
        return np.asarray(gaps) * weights

    # The objective is piecewise smooth (grid sampling), so finite differences use 2 % steps.
    solution = optimize.least_squares(
        residuals, start, bounds=(low, high), diff_step=0.02, xtol=1e-3, ftol=1e-4
    )
    fitted = {p: round(float(v), 1) for p, v in zip(parameters, solution.x, strict=True)}
    evaluated = evaluate_model(dataclasses.replace(model, **fitted), targets, spacing_mm=spacing_mm)
    return dataclasses.replace(evaluated, parameters=fitted)


def evaluate_model(
    model: ProbeModel,
    targets: Sequence[CalibrationTarget],
    *,
    spacing_mm: float = CALIBRATION_SPACING_MM,
) -> FitResult:
    """Simulated values and residuals of ``model`` for ``targets`` (no fitting)."""
    values = simulate_targets(model, targets, spacing_mm=spacing_mm)
    return FitResult(
        model,
        {},
        [round(v, 2) for v in values],
        [round(t.residual_mm(v), 2) for t, v in zip(targets, values, strict=True)],
    )


def simulate_organ_factor(
    model: ProbeModel, factor: OrganFactor, *, spacing_mm: float = CALIBRATION_SPACING_MM
) -> float:
    """The engine's ratio of ``factor.quantity`` in ``factor.organ`` to ``factor.reference_medium``.

    One probe of ``model`` in each homogeneous medium at 37 °C, same protocol.
    """
    values = []
    for medium in (factor.organ, factor.reference_medium):
        target = CalibrationTarget(
            label=factor.label,
            medium=medium,
            protocol=factor.protocol,
            initial_temperature_c=37.0,
            isotherm_c=factor.isotherm_c,
            quantity=factor.quantity,
            measured_mm=1.0,
            sd_mm=1.0,
        )
        (value,) = simulate_targets(model, [target], spacing_mm=spacing_mm)
        values.append(value)
    return values[0] / values[1]


def _packaged_probe_file() -> Path:
    return Path(str(resources.files("planning_core.thermal").joinpath("data", "probes.json")))


def _parameter(entry: dict, name: str) -> float:
    """A model parameter from its JSON entry (geometry at the top, wall curve in boundary)."""
    return float(entry[name] if name in entry else entry["boundary"][name])


def _set_parameter(entry: dict, name: str, value: float) -> None:
    if name in entry:
        entry[name] = value
    else:
        entry["boundary"][name] = value


def calibrate_library(path: Path, *, spacing_mm: float = CALIBRATION_SPACING_MM) -> dict:
    """Refit every model of a probe file and return the updated JSON payload.

    Fitted models come first so that ``derived_from`` models inherit fresh values.
    """
    payload = read_json_file(path, what="probe library", error=InvalidParameterError)
    library = parse_probe_library(payload, where=str(path))
    entries = {entry["id"]: entry for entry in payload["probes"]}
    order = sorted(entries, key=lambda key: "derived_from" in entries[key]["calibration"])
    for key in order:
        entry = entries[key]
        calibration = entry["calibration"]
        model = library.get(key)
        parent = calibration.get("derived_from")
        if parent:
            inherited = {
                name: _parameter(entries[parent], name)
                for name in calibration.get("inherited_parameters", [])
            }
            for name, value in inherited.items():
                _set_parameter(entry, name, value)
            model = dataclasses.replace(model, **inherited)
        targets = [CalibrationTarget.from_dict(t) for t in calibration.get("targets", [])]
        fitted = (
            [] if calibration.get("parameters_frozen") else calibration.get("fitted_parameters", [])
        )
        result = fit_model(
            model,
            targets,
            fitted,
            bounds=calibration.get("parameter_bounds"),
            spacing_mm=spacing_mm,
        )
        for name, value in result.parameters.items():
            _set_parameter(entry, name, value)
        for target, value, residual in zip(
            calibration.get("targets", []), result.simulated_mm, result.residuals_mm, strict=True
        ):
            target["simulated_mm"], target["residual_mm"] = value, residual
        if targets:
            calibration["rms_residual_mm"] = round(result.rms_residual_mm, 2)
        checks = [CalibrationTarget.from_dict(t) for t in calibration.get("validation", [])]
        if checks:
            check = evaluate_model(result.model, checks, spacing_mm=spacing_mm)
            for target, value, residual in zip(
                calibration["validation"], check.simulated_mm, check.residuals_mm, strict=True
            ):
                target["simulated_mm"], target["residual_mm"] = value, residual
        calibration["grid_mm"] = spacing_mm
        library = parse_probe_library(payload, where=str(path))
    for entry, factor in zip(payload.get("organ_factors", []), library.organ_factors, strict=True):
        ratio = simulate_organ_factor(library.get(factor.model), factor, spacing_mm=spacing_mm)
        entry["simulated_ratio"] = round(ratio, 3)
        measured = factor.measured_ratio
        entry["residual"] = None if measured is None else round(ratio - measured, 3)
    return payload


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Refit the probe models against their calibration targets."
    )
    parser.add_argument("--file", type=Path, default=None, help="probe file (packaged one)")
    parser.add_argument("--spacing-mm", type=float, default=CALIBRATION_SPACING_MM)
    parser.add_argument("--write", action="store_true", help="write the results into the file")
    args = parser.parse_args(argv)
    path = args.file or _packaged_probe_file()
    payload = calibrate_library(path, spacing_mm=args.spacing_mm)
    for entry in payload["probes"]:
        calibration = entry["calibration"]
        print(f"{entry['id']}: boundary {entry['boundary']}, active {entry['active_length_mm']} mm")
        for kind in ("targets", "validation"):
            for target in calibration.get(kind, []):
                print(
                    f"  {kind[:6]:6s} {target['label']}: measured {target['measured_mm']} "
                    f"simulated {target['simulated_mm']} residual {target['residual_mm']} mm"
                )
    for factor in payload.get("organ_factors", []):
        print(
            f"organ factor {factor['label']}: measured {factor['measured_ratio']} "
            f"simulated {factor['simulated_ratio']} residual {factor['residual']}"
        )
    if args.write:
        write_text_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
