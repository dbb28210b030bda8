"""One-click tumor benchmark: time, Dice and mean surface distance on every sample case.

For each sample case (kidney, liver, lung CT; breast 3-D ultrasound) the tumor
is segmented from the manifest's seed; the time of ``segment_tumor`` alone
(image already loaded) is the median of ``--repeats`` runs, and Dice / mean
surface distance are measured against the ground-truth "tumor" label. A
512×512×150 CT is made from the kidney case by padding it with air in-plane
and by repeating its first and last slices along z (the tumor and its surroundings unchanged),
and timed the same way: the goal is at most 3 s on this machine.

With ``--robustness`` ten random seeds inside each tumor (uniform within the
tumor eroded by 2 mm, fixed generator, as in tests/segmentation) are segmented
too, and the range of their Dice and the median time per click are printed
(goal: a spread of at most 0.03).

Run: ``python benchmarks/bench_segment.py [--repeats 3] [--robustness] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

GOAL_SECONDS_512 = 3.0
GOAL_SPREAD = 0.03
SEED_DEPTH_MM = 2.0


def _timed(function, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _pad_to_512x512x150(volume, labels):
    """The kidney case padded to 512×512×150: air in-plane, repeated end slices along z."""
    from planning_core.imaging.labels import LabelMap
    from planning_core.imaging.volume import Volume

    nk, nj, ni = volume.shape
    pad_k, pad_j, pad_i = max(150 - nk, 0), max(512 - nj, 0), max(512 - ni, 0)
    before = (pad_k // 2, pad_j // 2, pad_i // 2)
    widths = [(b, p - b) for b, p in zip(before, (pad_k, pad_j, pad_i), strict=True)]
    voxels = np.pad(volume.voxels, [widths[0], (0, 0), (0, 0)], mode="edge")
    voxels = np.pad(voxels, [(0, 0), widths[1], widths[2]], constant_values=-1000)
    label_voxels = np.pad(labels.voxels, widths, constant_values=0)
    start = (-before[0], -before[1], -before[2])
    geometry = volume.geometry.cropped(start, voxels.shape)
    return (
        Volume(voxels, geometry, "CT"),
        LabelMap(label_voxels, geometry, labels.table),
    )


def _seeds_inside(truth, geometry, count: int, rng_seed: int):
    from planning_core.segmentation.morphology import erode_mm

    core = erode_mm(truth, SEED_DEPTH_MM, geometry.spacing_kji_mm)
    candidates = np.argwhere(core)
    rng = np.random.default_rng(rng_seed)
    chosen = candidates[rng.choice(len(candidates), size=count, replace=False)]
    return geometry.index_to_lps(chosen[:, ::-1].astype(np.float64))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--robustness", action="store_true", help="also ten random seeds per case")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from cryoplan_samples import SAMPLE_CASE_NAMES, ensure_sample_case

    from planning_core.errors import SegmentationError
    from planning_core.imaging.loader import load_image
    from planning_core.segmentation.metrics import dice, mean_surface_distance_mm
    from planning_core.segmentation.tumor import segment_tumor

    rows = []
    kidney = None
    for name in SAMPLE_CASE_NAMES:
        case = ensure_sample_case(name)
        volume = load_image(case.image_path)
        labels = case.load_labels(reference=volume.geometry)
        truth = labels.mask("tumor")
        seed = np.asarray(case.manifest["tumor"]["seed_lps_mm"], dtype=np.float64)
        seconds, result = _timed(lambda v=volume, s=seed: segment_tumor(v, s), args.repeats)
        row = {
            "case": name,
            "modality": volume.modality,
            "shape_kji": list(volume.shape),
            "seconds": round(seconds, 3),
            "dice": round(dice(result.mask, truth), 4),
            "msd_mm": round(
                mean_surface_distance_mm(result.mask, truth, volume.geometry.spacing_kji_mm), 3
            ),
            "volume_ml": round(result.volume_ml, 3),
            "truth_volume_ml": round(labels.volume_ml("tumor"), 3),
            "confidence": round(result.confidence, 3),
        }
        if args.robustness:
            scores, click_seconds = [], []
            for point in _seeds_inside(truth, volume.geometry, 10, 2024):
                start = time.perf_counter()
                try:
                    scores.append(dice(segment_tumor(volume, point).mask, truth))
                except SegmentationError:
                    scores.append(0.0)
                click_seconds.append(time.perf_counter() - start)
            row["seed_seconds_median"] = round(statistics.median(click_seconds), 3)
            row["seed_seconds_max"] = round(max(click_seconds), 3)
            row["seed_dice_min"] = round(min(scores), 4)
            row["seed_dice_max"] = round(max(scores), 4)
            row["seed_dice_spread"] = round(max(scores) - min(scores), 4)
        rows.append(row)
        if name == "kidney":
            kidney = (volume, labels, seed)

    big = None
    if kidney is not None:
        volume, labels = _pad_to_512x512x150(kidney[0], kidney[1])
        seed = kidney[2]
        seconds, result = _timed(lambda: segment_tumor(volume, seed), args.repeats)
        big = {
            "case": "kidney padded",
            "shape_kji": list(volume.shape),
            "seconds": round(seconds, 3),
            "dice": round(dice(result.mask, labels.mask("tumor")), 4),
            "goal_seconds": GOAL_SECONDS_512,
            "meets_goal": seconds <= GOAL_SECONDS_512,
        }

    if args.json:
        print(json.dumps({"cases": rows, "ct_512x512x150": big}, indent=2))
        return 0
    print(
        f"{'case':<8} {'modality':<4} {'shape k,j,i':<16} {'time s':>7} {'Dice':>6} "
        f"{'MSD mm':>7} {'ml':>7} {'truth ml':>8} {'conf':>5}"
        + ("  seeds: min   max   spread  median s  max s" if args.robustness else "")
    )
    for row in rows:
        line = (
            f"{row['case']:<8} {row['modality']:<4} {'x'.join(map(str, row['shape_kji'])):<16} "
            f"{row['seconds']:7.2f} {row['dice']:6.3f} {row['msd_mm']:7.2f} "
            f"{row['volume_ml']:7.2f} {row['truth_volume_ml']:8.2f} {row['confidence']:5.2f}"
        )
        if args.robustness:
            line += (
                f"        {row['seed_dice_min']:.3f} {row['seed_dice_max']:.3f} "
                f"{row['seed_dice_spread']:.3f}  {row['seed_seconds_median']:8.2f} "
                f"{row['seed_seconds_max']:6.2f}"
            )
        print(line)
    if big is not None:
        print(
            f"512x512x150 CT ({'x'.join(map(str, big['shape_kji']))}): {big['seconds']:.2f} s "
            f"per one-click tumor (goal <= {GOAL_SECONDS_512:.0f} s: "
            f"{'met' if big['meets_goal'] else 'missed'}), Dice {big['dice']:.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
