"""Approach rules on the real TCIA CT: table side, refused entries, time.

Prints, for the shared TCIA CT (134 slices of 512x512) with the body from the CT
outline: the patient position in the header, the table side found on the image
and its coverage, the time of ``find_table``, and for a right-kidney target the
share of 2000 directions feasible with the plan settings' rules alone, and
with the approach rules added (default rules, and with a 250-mm shaft whose
unused length stands out of the skin), the share refused by each rule and the
time of each entry map. No structure is labelled: only the body outline.

Run: ``python benchmarks/bench_approach.py [--ct DIR] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from real_ct import default_real_ct

from planning_core.imaging.labels import LabelMap
from planning_core.imaging.loader import load_image
from planning_core.planning.approach import ApproachRules, approach_for_case, find_table
from planning_core.planning.body import body_mask_from_ct
from planning_core.planning.entry_map import REJECTION_REASONS, feasible_entries
from planning_core.planning.settings import PlanSettings
from planning_core.planning.trajectory import TrajectoryContext

ROOT = Path(__file__).resolve().parents[1]
#: A point in the right kidney of the TCIA CT (voxel i, j, k).
RIGHT_KIDNEY_IJK = (191.0, 278.0, 67.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ct", type=Path, default=default_real_ct())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    volume = load_image(args.ct)
    body = body_mask_from_ct(volume)
    figures: dict[str, object] = {"patient_position": volume.metadata.get("patient_position")}
    start = time.perf_counter()
    plate = find_table(volume, body_mask=body)
    figures["find_table_s"] = time.perf_counter() - start
    figures["table_down_lps"] = None if plate is None else plate.down_lps.tolist()
    figures["table_coverage"] = None if plate is None else plate.coverage
    context = TrajectoryContext(
        LabelMap.empty(volume.geometry).with_mask("body", body), PlanSettings()
    )
    target = volume.geometry.index_to_lps(np.asarray(RIGHT_KIDNEY_IJK))
    figures["target_lps_mm"] = target.round(1).tolist()
    plain = feasible_entries(context, target, direction_count=2000)
    figures["settings_only_feasible_percent"] = 100.0 * float(plain.feasible.mean())
    for name, rules in (
        ("default", ApproachRules()),
        ("shaft_250mm", ApproachRules(shaft_length_mm=250.0)),
    ):
        approach = approach_for_case(volume, body_mask=body, rules=rules)
        start = time.perf_counter()
        entry_map = feasible_entries(context, target, direction_count=2000, approach=approach)
        elapsed = time.perf_counter() - start
        figures[name] = {
            "describe": approach.describe(),
            "notes": list(approach.notes),
            "entry_map_s": elapsed,
            "feasible_percent": 100.0 * float(entry_map.feasible.mean()),
            "refused_percent": {
                text: 100.0 * float(((entry_map.reasons & flag) != 0).mean())
                for flag, text in REJECTION_REASONS.items()
            },
        }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
