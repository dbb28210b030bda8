"""The desktop app's full evaluation after an edit, with and without the path checks' analysis.

The app's logic prepares the path analysis (trajectory context) once per label
map and settings for the probes panel and lends it to every full evaluation
(:mod:`cryoplan_app.logic.trajectory`); before, each evaluation prepared its own.
Opens the kidney sample case, places one probe through the tumor and prints,
in seconds, the preparation of the analysis and an evaluation on the app's
display grid that prepares its own analysis versus one that borrows it.

``python benchmarks/bench_evaluation_context.py [--repeats 2] [--spacing-mm 2]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="evaluations of each kind")
    parser.add_argument("--spacing-mm", type=float, default=2.0, help="evaluation grid (mm)")
    args = parser.parse_args()

    from cryoplan_app.logic.evaluation import evaluate_for_display
    from cryoplan_app.logic.trajectory import trajectory_context
    from cryoplan_app.model.case import load_case
    from cryoplan_app.model.session import Session

    from planning_core.imaging.case_sources import CaseSource

    case = load_case(CaseSource("sample", "kidney"))
    labels = case.labels
    session = Session()
    session.open_case(case)
    document = session.document
    tumor = np.argwhere(labels.mask("tumor"))[:, ::-1].mean(axis=0)
    document.add_probe_at(labels.geometry.index_to_lps(tumor))
    plan = document.plan

    def evaluate(context) -> float:
        start = time.perf_counter()
        evaluate_for_display(
            plan, case.volume, labels, inputs=document.current_inputs(),
            probe_library=document.probe_library, spacing_mm=args.spacing_mm, context=context,
        )  # fmt: skip
        return time.perf_counter() - start

    start = time.perf_counter()
    context = trajectory_context(case.volume, labels, plan.settings, target_label=plan.target_label)
    prepare_s = time.perf_counter() - start
    own = [evaluate(None) for _ in range(args.repeats)]
    borrowed = [evaluate(context) for _ in range(args.repeats)]
    print(f"kidney sample, 1 probe, {plan.protocol}, {args.spacing_mm:g} mm grid")
    print(f"path analysis prepared once:            {prepare_s:6.2f} s")
    print(f"evaluation preparing its own analysis:  {np.median(own):6.2f} s (median)")
    print(f"evaluation borrowing the prepared one:  {np.median(borrowed):6.2f} s (median)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
