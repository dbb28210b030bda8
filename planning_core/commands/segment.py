"""``cryoplan segment CASE``: the tumor (and the anatomy) to a label file.

Which method runs follows from what was drawn: ``--diameter`` (with at most one
``--seed``) the diameter line; several ``--seed`` or any ``--background`` the
strokes; one ``--seed`` (or ``--seed-index``) alone the one-click tumor.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from planning_core.commands.common import StderrProgress, add_json_flag, print_json, triple_argument
from planning_core.errors import InvalidParameterError
from planning_core.figures import format_length_mm, format_volume_ml
from planning_core.imaging.case_sources import open_case, resolve_case
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume_io import write_label_map
from planning_core.progress import sub_progress
from planning_core.segmentation.anatomy import segment_anatomy
from planning_core.segmentation.dicom_seg import check_seg_source, write_dicom_seg
from planning_core.segmentation.lesion_line import segment_from_diameter
from planning_core.segmentation.strokes import Strokes, segment_from_strokes
from planning_core.segmentation.tumor import TumorSegmentation, segment_tumor


def _diameter_argument(text: str) -> tuple[float, ...]:
    """``X1,Y1,Z1,X2,Y2,Z2`` into six floats; the error names ``--diameter``."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 6 or not all(np.isfinite(values)):
        raise argparse.ArgumentTypeError(
            f"--diameter must be six numbers X1,Y1,Z1,X2,Y2,Z2 (LPS mm), got {text!r}."
        )
    return values


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segment",
        help="segment the tumor from a click, a diameter line or strokes (and the CT anatomy)",
        description="Segment the tumor from one seed point (compact lesions), a diameter "
        "line (--diameter, the lesion's longest axis as in a RECIST measurement) or strokes "
        "(several --seed and --background points), optionally add the automatic CT anatomy, "
        "and write the label map as NIfTI/NRRD (with a .labels.json table) or as DICOM SEG "
        "(.dcm, CT loaded from DICOM only).",
    )
    parser.add_argument("case", help="DICOM folder, volume file or sample case name")
    seed = parser.add_mutually_exclusive_group()
    seed.add_argument(
        "--seed",
        type=triple_argument("--seed"),
        action="append",
        metavar="X,Y,Z",
        help="point inside the tumor, LPS mm; repeat it to paint lesion strokes",
    )
    seed.add_argument(
        "--seed-index",
        type=triple_argument("--seed-index"),
        metavar="I,J,K",
        help="seed voxel index (column, row, slice)",
    )
    parser.add_argument(
        "--diameter",
        type=_diameter_argument,
        metavar="X1,Y1,Z1,X2,Y2,Z2",
        help="the tumor's longest axis on one slice, end points in LPS mm (heterogeneous "
        "or large tumors); the seed defaults to its midpoint",
    )
    parser.add_argument(
        "--background",
        type=triple_argument("--background"),
        action="append",
        metavar="X,Y,Z",
        help="point that is not tumor, LPS mm (repeatable; selects the strokes method)",
    )
    parser.add_argument(
        "--brush-mm",
        type=float,
        default=2.0,
        metavar="MM",
        help="brush radius around each --seed/--background stroke point (default 2)",
    )
    parser.add_argument(
        "--edge",
        type=triple_argument("--edge"),
        metavar="X,Y,Z",
        help="optional second click on the tumor edge, LPS mm (bounds the tumor)",
    )
    parser.add_argument(
        "--organs",
        action="store_true",
        help="add the automatic CT anatomy: body, skin, bone, lung, bowel, colon, liver, "
        "spleen, kidney, renal sinus, aorta, IVC (alone, without a tumor, when no --seed or "
        "--diameter is given)",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help="output label map: .nii.gz, .nii, .nrrd, .mha, or .dcm for DICOM SEG",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=run_segment)


def _seed_points(args: argparse.Namespace, volume) -> np.ndarray:
    """All seed points, LPS mm, shape ``(N, 3)`` (``N`` may be 0)."""
    if args.seed:
        return np.asarray(args.seed, dtype=np.float64).reshape(-1, 3)
    if args.seed_index is None:
        return np.zeros((0, 3), dtype=np.float64)
    index = np.asarray(args.seed_index, dtype=np.float64)
    if not volume.geometry.contains_index(np.rint(index)):
        raise InvalidParameterError(
            f"--seed-index {index.tolist()} lies outside the image (size i, j, k = "
            f"{list(volume.geometry.size_ijk)})."
        )
    return volume.geometry.index_to_lps(index).reshape(1, 3)


def _check_inside(volume, points_lps_mm: np.ndarray, flag: str) -> None:
    """One-line error naming ``flag`` for the first point outside the image."""
    for point in np.asarray(points_lps_mm, dtype=np.float64).reshape(-1, 3):
        if not volume.geometry.contains_index(volume.geometry.lps_to_nearest_index(point)):
            raise InvalidParameterError(
                f"{flag} {np.round(point, 1).tolist()} mm (LPS) lies outside the image; "
                "give a point inside the volume."
            )


def _check_combination(args: argparse.Namespace) -> None:
    """One-line errors for flag combinations that name no method."""
    seeds = len(args.seed or []) + (args.seed_index is not None)
    backgrounds = len(args.background or [])
    if args.diameter is None and seeds == 0 and not args.organs:
        raise InvalidParameterError(
            "give the tumor with --seed X,Y,Z (one click), --diameter X1,Y1,Z1,X2,Y2,Z2 (its "
            "longest axis) or several --seed and --background points (strokes), or --organs "
            "for the automatic anatomy alone."
        )
    if args.diameter is not None and (seeds > 1 or backgrounds):
        raise InvalidParameterError(
            "--diameter takes at most one --seed and no --background; use either the "
            "diameter line or strokes (--seed/--background)."
        )
    if args.edge is not None and (args.diameter is not None or seeds > 1 or backgrounds):
        raise InvalidParameterError(
            "--edge bounds a one-click tumor; drop it with --diameter or strokes."
        )
    if backgrounds and seeds == 0:
        raise InvalidParameterError("--background needs at least one --seed on the tumor.")
    if not np.isfinite(args.brush_mm) or not 0.0 <= args.brush_mm <= 30.0:
        raise InvalidParameterError(f"--brush-mm must be 0 to 30 mm, got {args.brush_mm!r}.")


def _segment(args: argparse.Namespace, volume, seeds: np.ndarray, progress) -> TumorSegmentation:
    """The tumor by the method the flags select."""
    if args.diameter is not None:
        line = np.asarray(args.diameter, dtype=np.float64).reshape(2, 3)
        return segment_from_diameter(
            volume,
            line[0],
            line[1],
            seed_lps_mm=seeds[0] if len(seeds) else None,
            progress=progress,
        )
    if len(seeds) > 1 or args.background:
        strokes = Strokes(
            seeds,
            np.asarray(args.background or [], dtype=np.float64).reshape(-1, 3),
            brush_radius_mm=args.brush_mm,
        )
        return segment_from_strokes(volume, strokes)
    return segment_tumor(volume, seeds[0], edge_lps_mm=args.edge, progress=progress)


def run_segment(args: argparse.Namespace) -> int:
    out = Path(args.out)
    progress = StderrProgress(enabled=not args.json or sys.stderr.isatty())
    _check_combination(args)
    volume = open_case(
        resolve_case(args.case), with_labels=False, progress=sub_progress(progress, 0.0, 0.2)
    ).volume
    seeds = _seed_points(args, volume)
    _check_inside(volume, seeds, "--seed")
    _check_inside(volume, np.asarray(args.background or [], dtype=np.float64), "--background")
    if args.edge is not None:
        _check_inside(volume, np.asarray(args.edge, dtype=np.float64), "--edge")
    if args.diameter is not None:
        _check_inside(volume, np.asarray(args.diameter, dtype=np.float64), "--diameter")
    if out.suffix.lower() == ".dcm":
        check_seg_source(volume)
    if args.organs and volume.modality != "CT" and not len(seeds) and args.diameter is None:
        raise InvalidParameterError(
            f"--organs: automatic anatomy needs a CT in Hounsfield units; {args.case} is "
            f"{volume.modality} (a NIfTI file does not say it is CT: give the DICOM series, "
            "or a .nrrd/.mha volume that records its modality)."
        )
    tumor = (
        _segment(args, volume, seeds, sub_progress(progress, 0.2, 0.7))
        if len(seeds) or args.diameter is not None
        else None
    )
    recist = tumor.recist if tumor is not None else None
    label_map: LabelMap = tumor.label_map if tumor is not None else LabelMap.empty(volume.geometry)
    warnings = list(tumor.warnings) if tumor is not None else []
    if args.organs:
        if volume.modality == "CT":
            anatomy = segment_anatomy(
                volume, into=label_map, progress=sub_progress(progress, 0.7, 0.95)
            )
            label_map = anatomy.label_map
            warnings.extend(anatomy.warnings)
        else:
            warnings.append(f"--organs: automatic anatomy needs CT; this is {volume.modality}.")
    if out.suffix.lower() == ".dcm":
        write_dicom_seg(label_map, volume, out)
    else:
        write_label_map(label_map, out)
    progress(1.0, f"Wrote {out}")
    report = {
        "case": args.case,
        "out": str(out),
        "seed_lps_mm": seeds[0].round(3).tolist() if len(seeds) else None,
        "seeds_lps_mm": seeds.round(3).tolist(),
        "background_lps_mm": np.asarray(args.background or [], dtype=np.float64).round(3).tolist(),
        "diameter_lps_mm": list(args.diameter) if args.diameter is not None else None,
        "labels": {
            name: {
                "value": label_map.info(name).value,
                "voxel_count": label_map.voxel_count(name),
                "volume_ml": round(label_map.volume_ml(name), 4),
            }
            for name in label_map.names
        },
        "tumor": None
        if tumor is None
        else {
            "volume_ml": round(tumor.volume_ml, 4),
            "max_diameter_mm": round(tumor.max_diameter_mm, 2),
            "confidence": round(tumor.confidence, 3),
            "uncertain": tumor.uncertain,
            "method": str(tumor.method.get("name", "")),
            "recist_long_mm": round(recist.long_mm, 2) if recist else None,
            "recist_short_mm": round(recist.short_mm, 2) if recist else None,
            "recist_slice_index": recist.slice_index if recist else None,
            "warnings": list(tumor.warnings),
        },
        "warnings": warnings,
    }
    if args.json:
        print_json(report)
    else:
        if tumor is not None:
            _print_tumor(tumor)
        for name in label_map.names:
            volume_text = format_volume_ml(label_map.volume_ml(name))
            print(f"  {name:<12} {volume_text:>12} {label_map.voxel_count(name):>10} voxels")
        for warning in warnings:
            print(f"warning: {warning}")
        print(f"wrote {out}")
    return 0


def _print_tumor(tumor: TumorSegmentation) -> None:
    print(
        f"tumor: {format_volume_ml(tumor.volume_ml)}, "
        f"{format_length_mm(tumor.max_diameter_mm)} across, confidence {tumor.confidence:.2f}"
        + (" (uncertain)" if tumor.uncertain else "")
    )
    recist = tumor.recist
    if recist is not None:
        print(
            f"  RECIST long axis {format_length_mm(recist.long_mm)}, short axis "
            f"{format_length_mm(recist.short_mm)} (slice {recist.slice_index})"
        )
