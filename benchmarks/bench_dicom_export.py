"""DICOM export benchmark: identified vs de-identified export of the kidney sample plan.

The plan (the test suite's kidney sample plan, evaluated once on a
``--spacing-mm`` grid) and its two PDF reports (identified and de-identified)
are prepared first and not timed. Each repeat times
:func:`~planning_core.report.dicom_export.export_plan_dicom` into a new folder:
three SEGs, the Encapsulated PDF and the key images, and for the de-identified
export also the PS3.15 pass over every object and the de-identified copy of
the CT series. Prints the median seconds, object counts and bytes written.

Run: ``python benchmarks/bench_dicom_export.py [--repeats 3] [--spacing-mm 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--spacing-mm", type=float, default=2.0, help="grid of the evaluation")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests" / "report"))
    from kidney_plan import kidney_plan_file

    from planning_core.imaging.deidentify import Deidentifier
    from planning_core.report.build import build_report
    from planning_core.report.dicom_export import export_plan_dicom
    from planning_core.report.inputs import load_report_inputs

    with tempfile.TemporaryDirectory(prefix="bench-dicom-export-") as scratch:
        folder = Path(scratch)
        plan_path, _ = kidney_plan_file(folder, spacing_mm=args.spacing_mm)
        inputs = load_report_inputs(plan_path)
        reports = {
            deidentify: build_report(
                inputs.plan,
                inputs.volume,
                inputs.label_map,
                dose=inputs.dose,
                out_path=folder / f"report-{deidentify}.pdf",
                deidentify=deidentify,
            )
            for deidentify in (False, True)
        }
        print(f"CT: {len(inputs.volume.metadata['source_files'])} slices {inputs.volume.shape}")
        for deidentify, label in ((False, "identified"), (True, "de-identified")):
            seconds = []
            for repeat in range(args.repeats):
                out = folder / f"{label}-{repeat}"
                start = time.perf_counter()
                exported = export_plan_dicom(
                    inputs.plan,
                    inputs.volume,
                    inputs.label_map,
                    inputs.dose,
                    reports[deidentify],
                    out,
                    deidentifier=Deidentifier.random() if deidentify else None,
                )
                seconds.append(time.perf_counter() - start)
            size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
            print(
                f"{label:>13}: median {statistics.median(seconds):.2f} s "
                f"(runs {', '.join(f'{s:.2f}' for s in seconds)}), "
                f"{len(exported.objects)} objects, {size_mb:.1f} MB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
