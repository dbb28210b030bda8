"""``cryoplan pacs echo|find|get|send|cache``: talk to a PACS node or DICOMweb server."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path

from planning_core.commands.common import StderrProgress, add_json_flag, print_json
from planning_core.errors import InvalidParameterError
from planning_core.imaging.pacs import (
    DicomWebNode,
    DimseNode,
    Node,
    StudyCache,
    StudyQuery,
    echo,
    find_node,
    find_series,
    find_studies,
    parse_dimse_address,
    retrieve,
    send,
)
from planning_core.imaging.pacs.nodes import DEFAULT_TIMEOUT_S, check_ae_title


def add_node_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """``--node HOST:PORT:AET | NAME``, ``--calling-aet``, ``--dicomweb URL | NAME``, ..."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument(
        "--node",
        metavar="HOST:PORT:AET",
        help="a DIMSE node (C-ECHO, C-FIND, C-GET/C-MOVE, C-STORE), or the name of a "
        "configured node",
    )
    group.add_argument(
        "--dicomweb",
        metavar="URL",
        help="a DICOMweb server's root URL (QIDO-RS, WADO-RS, STOW-RS), or the name of a "
        "configured server (credentials only there, never on the command line)",
    )
    parser.add_argument(
        "--calling-aet", metavar="AET", default=None, help="our AE title (default CRYOPLAN)"
    )
    parser.add_argument(
        "--timeout-s",
        type=float,
        default=None,
        help=f"longest wait for any answer (default {DEFAULT_TIMEOUT_S:g} s)",
    )


def node_from_arguments(args: argparse.Namespace) -> Node:
    """The node ``--node`` or ``--dicomweb`` names, with ``--calling-aet`` and ``--timeout-s``."""
    timeout_s = DEFAULT_TIMEOUT_S if args.timeout_s is None else args.timeout_s
    node: Node
    if args.node is not None:
        if args.node.count(":") >= 2:
            node = parse_dimse_address(args.node, calling_aet=args.calling_aet, timeout_s=timeout_s)
        else:
            node = find_node(args.node, option="--node")
            if not isinstance(node, DimseNode):
                raise InvalidParameterError(
                    f"--node {args.node!r} is a DICOMweb server; give it with --dicomweb."
                )
    else:
        if args.dicomweb.startswith(("http://", "https://")):
            node = DicomWebNode(args.dicomweb, args.dicomweb, timeout_s=timeout_s)
        else:
            node = find_node(args.dicomweb, option="--dicomweb")
            if not isinstance(node, DicomWebNode):
                raise InvalidParameterError(
                    f"--dicomweb {args.dicomweb!r} is a DIMSE node; give it with --node."
                )
    return _with_overrides(node, args)


def _with_overrides(node: Node, args: argparse.Namespace) -> Node:
    if args.timeout_s is not None:
        node = replace(node, timeout_s=args.timeout_s)
    if args.calling_aet is not None:
        if not isinstance(node, DimseNode):
            raise InvalidParameterError("--calling-aet applies to --node (DIMSE) only.")
        node = replace(node, calling_aet=check_ae_title(args.calling_aet, option="--calling-aet"))
    if getattr(args, "move", False):
        if not isinstance(node, DimseNode):
            raise InvalidParameterError("--move applies to --node (DIMSE) only.")
        node = replace(node, retrieve_method="move", storage_port=args.storage_port)
    return node


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pacs",
        help="query, retrieve from and send to a PACS node or DICOMweb server",
        description="Talk to a PACS over DIMSE (--node HOST:PORT:AET) or DICOMweb "
        "(--dicomweb URL). Retrieved studies are kept in the local study cache "
        "($CRYOPLAN_PACS_CACHE or ~/.cache/cryoplan/pacs) and open again without the network "
        "as pacs://NODE/STUDY_UID (configured nodes). Nodes with credentials are configured "
        "in ~/.config/cryoplan/pacs-nodes.json ($CRYOPLAN_PACS_NODES).",
    )
    actions = parser.add_subparsers(dest="pacs_action", metavar="ACTION", required=True)

    echo_parser = actions.add_parser("echo", help="check that the node answers (C-ECHO)")
    add_node_arguments(echo_parser, required=True)
    add_json_flag(echo_parser)
    echo_parser.set_defaults(handler=run_echo)

    find_parser = actions.add_parser(
        "find", help="search studies (or the series of --study) on the node"
    )
    add_node_arguments(find_parser, required=True)
    for option, help_text in (
        ("--patient-id", "patient ID"),
        ("--patient-name", "patient name; * and ? are wild cards"),
        ("--birth-date", "birth date YYYYMMDD or range YYYYMMDD-YYYYMMDD"),
        ("--study-date", "study date YYYYMMDD or range YYYYMMDD-YYYYMMDD"),
        ("--modality", "a modality in the study (CT, MR, ...)"),
        ("--accession", "accession number"),
    ):
        find_parser.add_argument(option, default="", help=help_text)
    find_parser.add_argument(
        "--study", metavar="UID", default=None, help="list this study's series instead"
    )
    add_json_flag(find_parser)
    find_parser.set_defaults(handler=run_find)

    get_parser = actions.add_parser(
        "get", help="retrieve a study or series into the cache and write it to --out"
    )
    add_node_arguments(get_parser, required=True)
    get_parser.add_argument("--study", metavar="UID", required=True, help="StudyInstanceUID")
    get_parser.add_argument("--series", metavar="UID", default=None, help="SeriesInstanceUID")
    get_parser.add_argument(
        "--out", type=Path, default=None, help="also write the instances into this new folder"
    )
    get_parser.add_argument(
        "--move",
        action="store_true",
        help="retrieve by C-MOVE to our storage listener (for nodes without C-GET); the node "
        "must know our AE title with this host and --storage-port",
    )
    get_parser.add_argument(
        "--storage-port", type=int, default=11113, help="our listener's port for --move"
    )
    add_cache_argument(get_parser)
    add_json_flag(get_parser)
    get_parser.set_defaults(handler=run_get)

    send_parser = actions.add_parser("send", help="send DICOM files or folders to the node")
    send_parser.add_argument("paths", nargs="+", type=Path, help="DICOM files or folders")
    add_node_arguments(send_parser, required=True)
    add_json_flag(send_parser)
    send_parser.set_defaults(handler=run_send)

    cache_parser = actions.add_parser(
        "cache", help="list the cached studies, or delete one (--delete UID)"
    )
    cache_parser.add_argument("--delete", metavar="UID", default=None, help="study to delete")
    add_cache_argument(cache_parser)
    add_json_flag(cache_parser)
    cache_parser.set_defaults(handler=run_cache)


def add_cache_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="study cache folder (default $CRYOPLAN_PACS_CACHE or ~/.cache/cryoplan/pacs)",
    )


def run_echo(args: argparse.Namespace) -> int:
    result = echo(node_from_arguments(args))
    if args.json:
        print_json(result.to_dict())
    else:
        print(f"{result.node} answered ({result.protocol}, {1000 * result.round_trip_s:.0f} ms).")
    return 0


def run_find(args: argparse.Namespace) -> int:
    node = node_from_arguments(args)
    if args.study is not None:
        series = find_series(node, args.study)
        if args.json:
            print_json([s.to_dict() for s in series])
            return 0
        print(f"{len(series)} series in study {args.study} on {node.label}:")
        for s in series:
            print(
                f"  {s.series_uid}  {s.modality:<3} #{s.series_number or '-'}  "
                f"{s.instance_count or '?'} instances  {s.series_description}"
            )
        return 0
    query = StudyQuery(
        patient_id=args.patient_id,
        patient_name=args.patient_name,
        birth_date=args.birth_date,
        study_date=args.study_date,
        modality=args.modality,
        accession=args.accession,
    )
    studies = find_studies(node, query)
    if args.json:
        print_json([s.to_dict() for s in studies])
        return 0
    print(f"{len(studies)} studies on {node.label}:")
    for s in studies:
        print(
            f"  {s.study_uid}  {s.study_date or '--------'}  {s.patient_id}  {s.patient_name}  "
            f"{'/'.join(s.modalities)}  {s.study_description}"
        )
    return 0


def _cache(args: argparse.Namespace) -> StudyCache:
    return StudyCache(args.cache) if args.cache is not None else StudyCache()


def run_get(args: argparse.Namespace) -> int:
    node = node_from_arguments(args)
    if (
        args.out is not None
        and args.out.exists()
        and (not args.out.is_dir() or any(args.out.iterdir()))
    ):
        raise InvalidParameterError(
            f"--out {args.out}: must be a new or empty folder; choose another one."
        )
    progress = StderrProgress(enabled=not args.json or sys.stderr.isatty())
    study = retrieve(node, args.study, args.series, cache=_cache(args), progress=progress)
    written = 0
    if args.out is not None:
        written = _copy_out(study.series_folders, args.series, args.out)
    if args.json:
        payload = study.to_dict()
        payload["out"] = None if args.out is None else str(args.out)
        print_json(payload)
    else:
        origin = "from the cache" if study.fetched == 0 else f"{study.fetched} fetched"
        print(
            f"Retrieved study {study.study_uid}: {study.instance_count} instances "
            f"({origin}, {study.size_bytes / 1e6:.1f} MB, {study.duration_s:.1f} s)."
        )
        print(f"Cached in {study.image_folder}")
        if args.out is not None:
            print(f"Wrote {written} instances to {args.out}")
    return 0


def _copy_out(series_folders: dict[str, Path], series_uid: str | None, out: Path) -> int:
    """Copy the cached instances into ``out/<series>/`` (hard links where possible)."""
    written = 0
    for uid, folder in series_folders.items():
        if series_uid is not None and uid != series_uid:
            continue
        target = out / uid
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted(folder.iterdir()):
            try:
                os.link(source, target / source.name)
            except OSError:  # another file system, or links refused
                shutil.copyfile(source, target / source.name)
            written += 1
    return written


def run_send(args: argparse.Namespace) -> int:
    node = node_from_arguments(args)
    progress = StderrProgress(enabled=not args.json or sys.stderr.isatty())
    report = send(node, args.paths, progress=progress)
    if args.json:
        print_json(report.to_dict())
    else:
        print(f"Sent {report.sent} objects to {report.node}.")
        for path, reason in report.failures:
            print(f"  not sent: {path}: {reason}")
    return 0 if report.ok else 1


def run_cache(args: argparse.Namespace) -> int:
    cache = _cache(args)
    if args.delete is not None:
        deleted = cache.delete_study(args.delete)
        if not deleted:
            raise InvalidParameterError(
                f"--delete {args.delete}: no such study in the cache {cache.root}."
            )
        print(f"Deleted study {args.delete} from {cache.root}.")
        return 0
    studies = cache.studies()
    if args.json:
        print_json(
            [
                {"study_uid": uid, "node": node, "instance_count": count, "size_bytes": size}
                for uid, node, count, size in studies
            ]
        )
        return 0
    print(f"{len(studies)} studies in {cache.root} ({cache.size_bytes() / 1e6:.1f} MB):")
    for uid, node, count, size in studies:
        print(f"  {uid}  {count} instances  {size / 1e6:.1f} MB  from {node}")
    return 0
