"""Path hazards on the real TCIA CT: time to find them and to prepare the path analysis.

Prints, for the shared TCIA CT (134 slices of 512x512) with the body from the CT
outline: the volume of each hazard found (gas, bone, mottled bowel content,
contrast vessels), the time of ``find_ct_hazards`` and of a whole
``TrajectoryContext`` preparation with the CT (hazards, clearance zones), and
the time of one entry map of 672 directions. With ``--plan PLAN_JSON`` it also
prints each planned path's hazards and closest distances.

Run: ``python benchmarks/bench_ct_hazards.py [--ct DIR] [--plan PLAN_JSON] [--json]``.
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
from planning_core.planning.body import body_mask_from_ct
from planning_core.planning.ct_hazards import find_ct_hazards
from planning_core.planning.entry_map import feasible_entries
from planning_core.planning.optimizer.candidates import direction_set
from planning_core.planning.plan_json import load_plan
from planning_core.planning.settings import PlanSettings
from planning_core.planning.trajectory import TrajectoryContext

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ct", type=Path, default=default_real_ct())
    parser.add_argument("--plan", type=Path, help="a plan on this CT: print its path hazards")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    volume = load_image(args.ct)
    body = body_mask_from_ct(volume)
    figures: dict[str, object] = {"shape_kji": list(volume.shape)}
    start = time.perf_counter()
    hazards = find_ct_hazards(volume, body)
    figures["find_ct_hazards_s"] = time.perf_counter() - start
    voxel_ml = volume.geometry.voxel_volume_mm3 / 1000.0
    figures["hazard_ml"] = {n: float(m.sum() * voxel_ml) for n, m in hazards.masks.items()}
    labels = LabelMap.empty(volume.geometry).with_mask("body", body)
    start = time.perf_counter()
    context = TrajectoryContext(labels, PlanSettings(), volume=volume)
    figures["context_with_ct_s"] = time.perf_counter() - start
    target = volume.geometry.index_to_lps(np.array([[200.0, 300.0, 60.0]]))[0]  # right kidney
    start = time.perf_counter()
    feasible_entries(context, target, directions_lps=direction_set(context))
    figures["entry_map_672_s"] = time.perf_counter() - start
    if args.plan is not None:
        plan = load_plan(args.plan)
        figures["paths"] = [
            {
                "probe": probe.label,
                "problems": list(report.problems),
                "hazards": [h.__dict__ for h in report.hazards],
                "closest_mm": dict(report.closest_mm),
            }
            for probe, report in ((p, context.analyze_probe(p)) for p in plan.probes)
        ]
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for name, value in figures.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
