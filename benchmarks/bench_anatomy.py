"""Automatic anatomy on the real TCIA CT: Dice against the hand-drawn reference, and time.

Prints, for ``segment_anatomy`` on the shared TCIA CT (134 slices of 512x512):
the Dice of body, bone, liver, kidney, spleen and colon against the reference in
tests/data/tcia_reference/ (see its README), the fraction of gas voxels inside
the body (< -400 HU, deeper than 3 mm) labelled lung, bowel or colon, the table
volume labelled as patient (beyond the 2.2 mm contact row where the back lies on the
pad, and in all), the share of the reference colon labelled colon or
bowel, and the time. Then it times anatomy on a
512x512x300 CT made by resampling the real CT linearly along z (3 mm -> 1.34 mm
slices; same anatomy, more slices). Goals (issue 15): Dice body >= 0.97,
bone >= 0.90, liver >= 0.90, kidney and spleen >= 0.85; >= 95 % of gas found;
no table in the body; <= 20 s for 512x512x300 on 2 cores.

Run: ``python benchmarks/bench_anatomy.py [--ct DIR] [--no-large] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from real_ct import default_real_ct
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS_300 = 20.0
LARGE_SLICES = 300


def _stretched(volume, slices: int):
    """The CT resampled linearly along z to ``slices`` slices, same extent."""
    from dataclasses import replace

    from planning_core.imaging.volume import Volume

    geometry = volume.geometry
    factor = slices / geometry.shape[0]
    voxels = ndimage.zoom(volume.voxels.astype(np.float32), (factor, 1.0, 1.0), order=1)
    voxels = np.rint(voxels).astype(volume.voxels.dtype)
    spacing = np.array(geometry.spacing_mm, dtype=np.float64)
    spacing[2] = spacing[2] * (geometry.shape[0] - 1) / (voxels.shape[0] - 1)
    stretched = replace(geometry, shape=voxels.shape, spacing_mm=spacing)
    return Volume(voxels, stretched, modality=volume.modality)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ct", type=Path, default=default_real_ct(), help="TCIA CT folder")
    parser.add_argument("--no-large", action="store_true", help="skip the 512x512x300 timing")
    parser.add_argument("--json", action="store_true", help="print figures as JSON")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests" / "segmentation"))
    from anatomy_reference import (
        DICE_GOALS,
        GAS_GOAL,
        TABLE_CONTACT_MM,
        load_reference,
        measure,
    )

    from planning_core.imaging.loader import load_image
    from planning_core.segmentation.anatomy import segment_anatomy

    if not args.ct.is_dir():
        raise SystemExit(f"CT folder not found: {args.ct} (set --ct or CRYOPLAN_SHARED_DICOM)")
    volume = load_image(args.ct)
    reference = load_reference(volume.geometry)
    start = time.perf_counter()
    result = segment_anatomy(volume)
    seconds = time.perf_counter() - start
    figures = measure(result.label_map, reference, volume.voxels)
    out: dict = {
        "ct": str(args.ct),
        "shape_kji": list(volume.geometry.shape),
        "seconds": round(seconds, 2),
        "dice": {k: round(v, 4) for k, v in figures.dice.items()},
        "gas_ml": round(figures.gas_ml, 1),
        "gas_found_fraction": round(figures.gas_found_fraction, 4),
        "table_ml": round(figures.table_ml, 1),
        "table_in_body_ml": round(figures.table_in_body_ml, 2),
        "table_touching_body_ml": round(figures.table_touching_body_ml, 2),
        "colon_as_bowel_fraction": round(figures.colon_as_bowel_fraction, 4),
        "warnings": list(result.warnings),
        "auto_volumes_ml": {k: round(v, 1) for k, v in result.volumes_ml().items()},
    }
    if not args.json:
        print(f"TCIA CT {volume.geometry.shape} anatomy: {seconds:.1f} s")
        for name, value in figures.dice.items():
            goal = DICE_GOALS.get(name)
            verdict = "" if goal is None else ("  ok" if value >= goal else f"  below goal {goal}")
            print(f"  Dice {name:7s} {value:.3f}{verdict}")
        print(
            f"  gas inside body labelled lung/bowel/colon: {figures.gas_found_fraction:.1%} "
            f"of {figures.gas_ml:.0f} mL (goal {GAS_GOAL:.0%})"
        )
        print(
            f"  table labelled as patient: {figures.table_in_body_ml:.2f} of "
            f"{figures.table_ml:.0f} mL ({figures.table_touching_body_ml:.2f} mL with the "
            f"{TABLE_CONTACT_MM} mm contact row)"
        )
        print(
            "  reference colon (ascending + descending) labelled colon or bowel: "
            f"{figures.colon_as_bowel_fraction:.1%}"
        )
        for warning in result.warnings:
            print(f"  warning: {warning}")
    if not args.no_large:
        large = _stretched(volume, LARGE_SLICES)
        start = time.perf_counter()
        segment_anatomy(large)
        large_seconds = time.perf_counter() - start
        out["large_shape_kji"] = list(large.geometry.shape)
        out["large_seconds"] = round(large_seconds, 2)
        if not args.json:
            print(
                f"{large.geometry.shape} anatomy: {large_seconds:.1f} s "
                f"(goal <= {GOAL_SECONDS_300:.0f} s on 2 cores)"
            )
    if args.json:
        print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
