"""Device library calibration: every model's isotherm figures, published versus simulated.

For each probe model of the packaged library (planning_core/thermal/data/probes.json)
the script re-simulates every calibration target and validation row (one probe
in a homogeneous medium, the row's protocol and temperature) on the chosen grid
and prints measured, simulated and residual (simulated - measured, zero where
an inequality holds) with the measurement SD and whether the row lies within
the library's tolerance (1.5 SD; inequalities within 0.5 mm). Then the organ
factors (published organ-to-organ ice size ratios against the engine's), the
RMS residual per fitted model, and the time each model took.

It prints figures only; tests/thermal/test_probe_library.py and
test_calibration.py hold the assertions. To refit the parameters and write the
figures into the library: ``python -m planning_core.thermal.calibration --write``.

Run: ``python benchmarks/bench_probe_calibration.py [--spacing-mm 1.0] [--model ID]``.
"""

from __future__ import annotations

import argparse
import math
import time

from planning_core.thermal.calibration import (
    CalibrationTarget,
    evaluate_model,
    simulate_organ_factor,
)
from planning_core.thermal.probes import load_probe_library

SD_FACTOR = 1.5
INEQUALITY_SLACK_MM = 0.5


def _within(target: CalibrationTarget, residual_mm: float) -> bool:
    limit = SD_FACTOR * target.sd_mm if target.relation == "equal" else INEQUALITY_SLACK_MM
    return abs(residual_mm) <= limit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spacing-mm", type=float, default=1.0, help="simulation grid (mm)")
    parser.add_argument("--model", action="append", help="only this model id (repeatable)")
    args = parser.parse_args()
    library = load_probe_library()
    wanted = args.model or list(library.models)
    print(f"probe library {library.version}, grid {args.spacing_mm:g} mm")
    header = f"{'model':<20}{'kind':<7}{'measured':>9}{'sim':>8}{'resid':>8}{'SD':>6}  ok  row"
    print(header)
    for model_id in wanted:
        model = library.get(model_id)
        calibration = model.calibration
        started = time.perf_counter()
        squares = []
        for kind in ("targets", "validation"):
            rows = calibration.get(kind, [])
            targets = [CalibrationTarget.from_dict(row) for row in rows]
            if not targets:
                continue
            result = evaluate_model(model, targets, spacing_mm=args.spacing_mm)
            for row, target, value, residual in zip(
                rows, targets, result.simulated_mm, result.residuals_mm, strict=True
            ):
                asserted = row.get("asserted", True)
                ok = ("yes" if _within(target, residual) else "NO") if asserted else "n/a"
                if kind == "targets":
                    squares.append(residual**2)
                print(
                    f"{model_id:<20}{kind[:6]:<7}{target.measured_mm:>9.1f}{value:>8.1f}"
                    f"{residual:>8.2f}{target.sd_mm:>6.1f}  {ok:<3} {row['label']}"
                )
        rms = f"{math.sqrt(sum(squares) / len(squares)):.2f} mm" if squares else "-"
        print(
            f"{model_id:<20}rms residual (targets) {rms}; {time.perf_counter() - started:.1f} s\n"
        )
    print("organ factors (ratio organ / reference, 0 C ice, one probe)")
    for factor in library.organ_factors:
        if factor.model not in wanted:
            continue
        ratio = simulate_organ_factor(library.get(factor.model), factor, spacing_mm=args.spacing_mm)
        measured = factor.measured_ratio
        residual = "-" if measured is None else f"{ratio - measured:+.3f}"
        published = "-" if measured is None else f"{measured:.2f}"
        state = "asserted" if factor.asserted else "reported"
        print(
            f"  {factor.label}: published {published}, simulated {ratio:.3f}, "
            f"residual {residual} (tolerance {factor.sd_ratio:g}, {state})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
