"""Cost of the 2-D views' label outlines: milliseconds per slice, per view.

Every scroll step of a 2-D view traces the outlined labels of the new plane
(:func:`~cryoplan_app.model.label_outlines.outline_segments`) and turns them
into VTK lines. This times both for the kidney sample case (all its labels but
the hidden bulk tissues) and for the 512×512×300 synthetic CT of
``bench_scroll.py``, over ``--slices`` consecutive planes around the middle of
each view. Needs no display.

Run: ``python benchmarks/bench_outlines.py [--slices 40]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent


def time_case(name: str, case, shown: tuple[str, ...], slices: int) -> None:
    from cryoplan_app.model.label_outlines import outline_order
    from cryoplan_app.model.planes import slice_frames
    from cryoplan_app.render.image_data import placement_matrix, shared_image_data
    from cryoplan_app.render.labels import label_lookup_table
    from cryoplan_app.render.slice_scene import SliceScene

    geometry, labels = case.volume.geometry, case.labels
    frames = slice_frames(geometry)
    order = outline_order(labels, shown)
    values = tuple(labels.info(label).value for label in order)
    for view, frame in frames.items():
        scene = SliceScene(view)
        white = (1.0, 1.0, 1.0)
        scene.set_image(
            shared_image_data(case.volume),
            geometry,
            frame,
            placement_matrix(geometry),
            line_colors={"horizontal": white, "vertical": white},
        )
        scene.set_label_outlines(
            labels.voxels, values, label_lookup_table(labels.table, visible=order)
        )
        count = geometry.size_ijk[frame.normal_axis]
        first = max(count // 2 - slices // 2, 0)
        indices = range(first, min(first + slices, count))
        durations = []
        for index in indices:
            start = time.perf_counter()
            scene._index = index  # what show_slice sets before tracing
            scene._update_outlines()
            durations.append(time.perf_counter() - start)
        print(
            f"{name:24s} {view:9s} {1000 * float(np.median(durations)):6.2f} ms per slice "
            f"(max {1000 * max(durations):.2f} ms, {len(durations)} slices)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=40)
    args = parser.parse_args()
    import vtkmodules.vtkRenderingFreeType  # noqa: F401  (the scenes' text actors)
    from cryoplan_app.model.case import CaseSource, load_case
    from cryoplan_app.model.view_state import BULK_TISSUE_LABELS

    kidney = load_case(CaseSource("sample", "kidney"))
    shown = tuple(n for n in kidney.labels.names if n not in BULK_TISSUE_LABELS)
    time_case("kidney sample", kidney, shown, args.slices)
    sys.path.insert(0, str(ROOT))
    from bench_scroll import synthetic_case

    synthetic = synthetic_case()
    time_case("synthetic 512x512x300", synthetic, synthetic.labels.names, args.slices)
    return 0


if __name__ == "__main__":
    sys.exit(main())
