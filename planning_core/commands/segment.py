"""``cryoplan segment CASE --seed X,Y,Z``: one-click tumor (and anatomy) to a label file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from planning_core.commands.common import StderrProgress, add_json_flag, print_json, triple_argument
from planning_core.commands.info import resolve_image_path
from planning_core.errors import InvalidParameterError
from planning_core.figures import format_length_mm, format_volume_ml
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.loader import load_image
from planning_core.imaging.volume_io import write_label_map
from planning_core.progress import sub_progress
from planning_core.segmentation.anatomy import segment_anatomy
from planning_core.segmentation.dicom_seg import check_seg_source, write_dicom_seg
from planning_core.segmentation.tumor import segment_tumor


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "segment",
        help="segment the tumor from one seed point (and the CT anatomy)",
        description="Grow the tumor holding the seed point, optionally add the automatic CT "
        "anatomy (body, skin, bone, lung, bowel gas), and write the label map as NIfTI/NRRD "
        "(with a .labels.json table) or as DICOM SEG (.dcm, CT loaded from DICOM only).",
    )
    parser.add_argument("case", help="DICOM folder, volume file or sample case name")
    seed = parser.add_mutually_exclusive_group(required=True)
    seed.add_argument(
        "--seed", type=triple_argument("--seed"), metavar="X,Y,Z", help="seed point, LPS mm"
    )
    seed.add_argument(
        "--seed-index",
        type=triple_argument("--seed-index"),
        metavar="I,J,K",
        help="seed voxel index (column, row, slice)",
    )
    parser.add_argument(
        "--edge",
        type=triple_argument("--edge"),
        metavar="X,Y,Z",
        help="optional second click on the tumor edge, LPS mm (bounds the tumor)",
    )
    parser.add_argument(
        "--organs", action="store_true", help="add body, skin, bone, lung and bowel gas (CT)"
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help="output label map: .nii.gz, .nii, .nrrd, .mha, or .dcm for DICOM SEG",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=run_segment)


def _seed_lps(args: argparse.Namespace, volume) -> np.ndarray:
    if args.seed is not None:
        return np.asarray(args.seed, dtype=np.float64)
    index = np.asarray(args.seed_index, dtype=np.float64)
    if not volume.geometry.contains_index(np.rint(index)):
        raise InvalidParameterError(
            f"--seed-index {index.tolist()} lies outside the image (size i, j, k = "
            f"{list(volume.geometry.size_ijk)})."
        )
    return volume.geometry.index_to_lps(index)


def run_segment(args: argparse.Namespace) -> int:
    out = Path(args.out)
    progress = StderrProgress(enabled=not args.json or sys.stderr.isatty())
    volume = load_image(resolve_image_path(args.case), progress=sub_progress(progress, 0.0, 0.2))
    seed_lps = _seed_lps(args, volume)
    if out.suffix.lower() == ".dcm":
        check_seg_source(volume)
    tumor = segment_tumor(
        volume, seed_lps, edge_lps_mm=args.edge, progress=sub_progress(progress, 0.2, 0.7)
    )
    label_map: LabelMap = tumor.label_map
    warnings = list(tumor.warnings)
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
        "seed_lps_mm": seed_lps.round(3).tolist(),
        "labels": {
            name: {
                "value": label_map.info(name).value,
                "voxel_count": label_map.voxel_count(name),
                "volume_ml": round(label_map.volume_ml(name), 4),
            }
            for name in label_map.names
        },
        "tumor": {
            "volume_ml": round(tumor.volume_ml, 4),
            "max_diameter_mm": round(tumor.max_diameter_mm, 2),
            "confidence": round(tumor.confidence, 3),
            "warnings": list(tumor.warnings),
        },
        "warnings": warnings,
    }
    if args.json:
        print_json(report)
    else:
        print(
            f"tumor: {format_volume_ml(tumor.volume_ml)}, "
            f"{format_length_mm(tumor.max_diameter_mm)} across, confidence {tumor.confidence:.2f}"
        )
        for name in label_map.names:
            volume_text = format_volume_ml(label_map.volume_ml(name))
            print(f"  {name:<12} {volume_text:>12} {label_map.voxel_count(name):>10} voxels")
        for warning in warnings:
            print(f"warning: {warning}")
        print(f"wrote {out}")
    return 0
