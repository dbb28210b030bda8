"""``cryoplan info PATH``: what a DICOM folder, DICOM file, volume file or sample case holds."""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from planning_core.commands.common import StderrProgress, add_json_flag, print_json
from planning_core.imaging.case_sources import locate_case, resolve_case
from planning_core.imaging.dicom import DicomCatalog, SeriesInfo, load_series, scan_dicom
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import is_volume_file, read_volume
from planning_core.progress import sub_progress

_AXIS_PLANES = ("sagittal", "coronal", "axial")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="list the series in a DICOM folder or describe a volume file",
        description="List studies and series (modality, size, spacing, orientation, warnings, "
        "skipped files) of a DICOM folder or file without reading pixel data, or load one "
        "series (--series) or a volume file and describe it fully.",
    )
    parser.add_argument(
        "path", help="DICOM folder, DICOM file, DICOMDIR, volume file or sample case name"
    )
    parser.add_argument(
        "--series", metavar="UID", help="load this series (UID or UID#n) and describe it"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="refuse tilted, irregularly spaced or incompletely described series "
        "(values assumed, damaged files left out) instead of loading them with a warning",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=run_info)


def run_info(args: argparse.Namespace) -> int:
    progress = StderrProgress(enabled=sys.stderr.isatty())
    source = resolve_case(args.path, case_option="PATH")
    path = locate_case(source, progress=sub_progress(progress, 0.0, 0.1)).image_path
    if path.is_file() and is_volume_file(path):
        report = {"path": str(path), "kind": "volume", "volume": describe_volume(read_volume(path))}
    else:
        catalog = scan_dicom(path, progress=sub_progress(progress, 0.1, 0.3))
        report = describe_catalog(catalog)
        if args.series is not None:
            series = catalog.select(args.series)
            volume = load_series(
                series, strict=args.strict, progress=sub_progress(progress, 0.3, 1.0)
            )
            report["volume"] = describe_volume(volume)
    if args.json:
        print_json(report)
    else:
        print(format_report(report))
    return 0


# -- dictionaries (the --json output)
def describe_geometry(geometry: Geometry) -> dict[str, object]:
    """Size, spacing, orientation, origin and extent of a grid, JSON-ready."""
    return {
        "size_ijk": list(geometry.size_ijk),
        "spacing_mm": geometry.spacing_mm.tolist(),
        "origin_lps_mm": geometry.origin_lps_mm.tolist(),
        "direction": geometry.direction.tolist(),
        "orientation": describe_orientation(geometry),
        "extent_mm": geometry.extent_mm.tolist(),
    }


def describe_orientation(geometry: Geometry) -> str:
    """``axial``/``coronal``/``sagittal``, or ``oblique`` with the angle to the nearest of them."""
    normal = geometry.direction[:, 2]
    axis = int(np.argmax(np.abs(normal)))
    angle_deg = math.degrees(math.acos(min(1.0, float(abs(normal[axis])))))
    if angle_deg < 0.5:
        return _AXIS_PLANES[axis]
    return f"oblique ({angle_deg:.1f}° from {_AXIS_PLANES[axis]})"


def describe_series(series: SeriesInfo) -> dict[str, object]:
    geometry = series.geometry
    described = None if geometry is None else describe_geometry(geometry)
    if described is not None and series.frames[0].plane.orientation is None:
        described["orientation"] = "unknown (no patient orientation in the file)"
    return {
        "key": series.key,
        "series_instance_uid": series.series_uid,
        "modality": series.modality,
        "description": series.description,
        "series_number": series.series_number,
        "sop_class_uid": series.sop_class_uid,
        "instances": len(series.instances),
        "frames": series.frame_count,
        "rows": series.rows,
        "columns": series.columns,
        "slices": series.estimated_slices,
        "geometry": described,
        "resampled": None if series.layout is None else series.layout.resampled,
        "loadable": series.error is None,
        "error": series.error,
        "warnings": list(series.warnings),
        "files": [str(p) for p in series.files],
    }


def describe_catalog(catalog: DicomCatalog) -> dict[str, object]:
    return {
        "path": str(catalog.root),
        "kind": "dicom",
        "studies": [
            {
                "study_instance_uid": study.study_uid,
                "description": study.description,
                "date": study.date,
                "patient_name": study.patient_name,
                "patient_id": study.patient_id,
                "series": [describe_series(s) for s in study.series],
            }
            for study in catalog.studies
        ],
        "skipped": [s.to_dict() for s in catalog.skipped],
        "warnings": list(catalog.warnings),
    }


def describe_volume(volume: Volume) -> dict[str, object]:
    voxels = volume.voxels
    metadata = {k: v for k, v in volume.metadata.items() if not isinstance(v, list)}
    return {
        "modality": volume.modality,
        "units": volume.units,
        "dtype": str(voxels.dtype),
        "value_range": [float(np.min(voxels)), float(np.max(voxels))],
        "geometry": describe_geometry(volume.geometry),
        "warnings": list(volume.warnings),
        "metadata": metadata,
    }


# -- human text
def format_report(report: dict) -> str:
    lines: list[str] = []
    if report["kind"] == "volume":
        lines.append(f"Volume file {report['path']}")
        lines.extend(_volume_lines(report["volume"]))
        return "\n".join(lines)
    for study in report["studies"]:
        patient = f"{study['patient_name'] or '(no name)'} ({study['patient_id'] or 'no ID'})"
        description = f"  '{study['description']}'" if study["description"] else ""
        lines.append(
            f"Study {study['study_instance_uid']}  {study['date'] or '(no date)'}{description}  "
            f"patient {patient}"
        )
        for series in study["series"]:
            lines.extend(_series_lines(series))
    if not report["studies"]:
        lines.append(f"No image series in {report['path']}.")
    for note in report["warnings"]:
        lines.append(f"warning: {note}")
    if report["skipped"]:
        lines.append(f"Skipped {len(report['skipped'])} file(s):")
        lines.extend(f"  {s['path']}: {s['reason']}" for s in report["skipped"])
    if "volume" in report:
        lines.append("Loaded series:")
        lines.extend(_volume_lines(report["volume"]))
    return "\n".join(lines)


def _series_lines(series: dict) -> list[str]:
    frames = f"{series['frames']} frame(s) in {series['instances']} file(s)"
    description = f" '{series['description']}'" if series["description"] else ""
    lines = [
        f"  Series {series['key']}  [{series['modality']}] #{series['series_number'] or '-'}"
        f"{description}  {frames}, {series['columns']}×{series['rows']} pixels"
    ]
    if series["geometry"] is not None:
        lines.extend("    " + line for line in _geometry_lines(series["geometry"]))
    if series["error"]:
        lines.append(f"    cannot be loaded: {series['error']}")
    lines.extend(f"    warning: {w}" for w in series["warnings"])
    return lines


def _geometry_lines(geometry: dict) -> list[str]:
    ni, nj, nk = geometry["size_ijk"]
    si, sj, sk = geometry["spacing_mm"]
    ei, ej, ek = geometry["extent_mm"]
    origin = ", ".join(f"{v:.2f}" for v in geometry["origin_lps_mm"])
    return [
        f"grid {ni}×{nj}×{nk} (i×j×k), spacing {si:.4g} × {sj:.4g} × {sk:.4g} mm, "
        f"{geometry['orientation']}",
        f"origin ({origin}) mm LPS, extent {ei:.1f} × {ej:.1f} × {ek:.1f} mm",
    ]


def _volume_lines(volume: dict) -> list[str]:
    low, high = volume["value_range"]
    lines = [f"  modality {volume['modality']}, voxels {volume['dtype']}"]
    lines.extend("  " + line for line in _geometry_lines(volume["geometry"]))
    lines.append(f"  value range {low:.6g} .. {high:.6g} {volume['units']}")
    lines.extend(f"  warning: {w}" for w in volume["warnings"])
    return lines
