"""One API over both protocols: echo, find, retrieve into the study cache, send.

The functions take a :class:`DimseNode` or a :class:`DicomWebNode` and pick the
protocol. :func:`retrieve` lists the instances first, takes what the cache
already holds, fetches the rest into the cache's staging area and commits the
study only when every instance arrived, so that an interrupted retrieval is
resumed by calling it again.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from planning_core.errors import (
    InvalidParameterError,
    OperationCancelledError,
    PacsError,
    PacsTransferInterruptedError,
)
from planning_core.imaging.pacs.cache import StudyCache
from planning_core.imaging.pacs.nodes import DicomWebNode, DimseNode, Node
from planning_core.imaging.pacs.query import (
    InstanceRef,
    SeriesMatch,
    StudyMatch,
    StudyQuery,
    check_uid,
)
from planning_core.progress import CancelToken, ProgressCallback


def _protocol(node: Node) -> ModuleType:
    """The module that speaks ``node``'s protocol, imported on first use: pynetdicom,
    requests and dicomweb-client would otherwise slow every start of the command line."""
    if isinstance(node, DimseNode):
        return importlib.import_module("planning_core.imaging.pacs.dimse")
    if isinstance(node, DicomWebNode):
        return importlib.import_module("planning_core.imaging.pacs.dicomweb")
    raise InvalidParameterError(f"not a PACS node: {type(node).__name__}.")


@dataclass(frozen=True)
class EchoResult:
    """A node answered: how and how fast."""

    node: str
    protocol: str
    round_trip_s: float

    def to_dict(self) -> dict[str, object]:
        return {"node": self.node, "protocol": self.protocol, "round_trip_s": self.round_trip_s}


@dataclass(frozen=True)
class RetrievedStudy:
    """A retrieved study (or series), complete in the cache, ready for the DICOM loader.

    ``folder`` is the study's folder; ``series_folders`` each series' folder.
    ``fetched`` counts the instances transferred by this call (0 when the cache
    already held them all).
    """

    study_uid: str
    series_uid: str | None
    folder: Path
    series_folders: dict[str, Path]
    instance_count: int
    size_bytes: int
    fetched: int
    duration_s: float

    @property
    def image_folder(self) -> Path:
        """The folder to open: the series' own when one series was asked for."""
        if self.series_uid is not None and self.series_uid in self.series_folders:
            return self.series_folders[self.series_uid]
        return self.folder

    def to_dict(self) -> dict[str, object]:
        return {
            "study_uid": self.study_uid,
            "series_uid": self.series_uid,
            "folder": str(self.folder),
            "series_folders": {uid: str(path) for uid, path in self.series_folders.items()},
            "instance_count": self.instance_count,
            "size_bytes": self.size_bytes,
            "fetched": self.fetched,
            "duration_s": self.duration_s,
        }


@dataclass(frozen=True)
class SendReport:
    """What :func:`send` sent and what the node refused."""

    node: str
    sent: int
    failures: tuple[tuple[Path, str], ...]

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, object]:
        return {
            "node": self.node,
            "sent": self.sent,
            "failures": [{"path": str(p), "reason": r} for p, r in self.failures],
        }


def echo(node: Node) -> EchoResult:
    """Check that ``node`` answers (C-ECHO; for DICOMweb a one-study QIDO-RS search)."""
    started = time.monotonic()
    _protocol(node).echo(node)
    protocol = "DIMSE C-ECHO" if isinstance(node, DimseNode) else "DICOMweb QIDO-RS"
    return EchoResult(node.label, protocol, time.monotonic() - started)


def find_studies(node: Node, query: StudyQuery) -> list[StudyMatch]:
    """The studies on ``node`` that match ``query``."""
    return _protocol(node).find_studies(node, query)


def find_series(node: Node, study_uid: str) -> list[SeriesMatch]:
    """The series of ``study_uid`` on ``node``."""
    check_uid(study_uid, option="--study")
    return _protocol(node).find_series(node, study_uid)


def retrieve(
    node: Node,
    study_uid: str,
    series_uid: str | None = None,
    *,
    cache: StudyCache | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> RetrievedStudy:
    """Retrieve a study (or one series) into the study cache.

    Parameters
    ----------
    node : DimseNode or DicomWebNode
        Where the study is.
    study_uid, series_uid : str
        What to retrieve; the whole study without ``series_uid``.
    cache : StudyCache, optional
        Where to keep it; the user's default cache when None.
    progress, cancel
        Progress ``(fraction, message)`` per instance, and a cancel token. A
        cancelled retrieval keeps what arrived aside, like an interrupted one.

    Raises
    ------
    PacsTransferInterruptedError
        When some instances did not arrive; those that did are kept outside the
        cache and the same call fetches only the rest.
    PacsError
        Its other subclasses for refused, silent or malformed answers.
    """
    check_uid(study_uid, option="--study")
    if series_uid is not None:
        check_uid(series_uid, option="--series")
    cache = StudyCache() if cache is None else cache
    started = time.monotonic()
    protocol = _protocol(node)
    if progress is not None:
        progress(0.0, f"Listing the instances on {node.label}")
    instances = protocol.list_instances(node, study_uid, series_uid)
    if not instances:
        what = f"series {series_uid} of study {study_uid}" if series_uid else f"study {study_uid}"
        raise PacsError(
            f"{node.label} holds no instance of {what}; check --study/--series with "
            "`cryoplan pacs find`."
        )
    cached = cache.cached_instances(study_uid)
    staging = cache.staging(study_uid)
    staged = staging.received()
    missing = [ref for ref in instances if ref.sop_uid not in cached | staged]
    expected = len(instances)
    done = [expected - len(missing)]

    def keep(sop_uid: str, encoded: bytes) -> None:
        staging.store(sop_uid, encoded)
        done[0] += 1
        if progress is not None:
            progress(done[0] / expected, f"Received {done[0]} of {expected} instances")

    if missing:
        whole = len(missing) == expected  # one request for the study or series
        try:
            protocol.fetch(
                node, study_uid, series_uid, missing, whole=whole, sink=keep, cancel=cancel
            )
        except OperationCancelledError:
            raise
        except PacsError as error:
            if not staging.received():
                raise
            _raise_interrupted(node, study_uid, instances, cached, staging.received(), error)
    arrived = staging.received()
    absent = [ref for ref in instances if ref.sop_uid not in cached | arrived]
    if absent:
        _raise_interrupted(node, study_uid, instances, cached, arrived, None)
    cache.commit(staging, node=node.name, series_of={r.sop_uid: r.series_uid for r in instances})
    study = cache.study(study_uid, series_uid)
    if study is None:
        raise PacsError(f"study {study_uid}: the cache lost it while storing; retrieve it again.")
    if progress is not None:
        progress(1.0, f"Retrieved {study.instance_count} instances of study {study_uid}")
    return RetrievedStudy(
        study_uid=study_uid,
        series_uid=series_uid,
        folder=study.folder,
        series_folders=study.series_folders,
        instance_count=study.instance_count,
        size_bytes=study.size_bytes,
        fetched=len(missing),
        duration_s=time.monotonic() - started,
    )


def _raise_interrupted(
    node: Node,
    study_uid: str,
    instances: Sequence[InstanceRef],
    cached: set[str],
    arrived: set[str],
    cause: PacsError | None,
) -> None:
    have = len({ref.sop_uid for ref in instances} & (cached | arrived))
    reason = f" ({cause})" if cause is not None else ""
    raise PacsTransferInterruptedError(
        f"{node.label}: the retrieval of study {study_uid} stopped after {have} of "
        f"{len(instances)} instances{reason}. Nothing entered the study cache; retrieve "
        "again to fetch only the missing instances.",
        received=have,
        expected=len(instances),
    )


def send(
    node: Node,
    paths: Sequence[str | Path],
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SendReport:
    """Send DICOM files (C-STORE or STOW-RS) to ``node``.

    Raises
    ------
    InvalidParameterError
        When ``paths`` holds no file.
    PacsError
        When the node cannot be reached or stops answering.
    """
    files = _dicom_files(paths)
    if not files:
        raise InvalidParameterError(
            "nothing to send: the given paths hold no files; give DICOM files or folders."
        )
    total = len(files)

    def sent(count: int) -> None:
        if progress is not None:
            progress(count / total, f"Sent {count} of {total} objects")

    failures = _protocol(node).send(node, files, on_sent=sent, cancel=cancel)
    return SendReport(node.label, total - len(failures), tuple(failures))


def _dicom_files(paths: Sequence[str | Path]) -> list[Path]:
    """The files of ``paths``, folders searched recursively (hidden files skipped)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(
                p for p in sorted(path.rglob("*")) if p.is_file() and not p.name.startswith(".")
            )
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidParameterError(f"{path}: no such file or folder; give DICOM files.")
    return files
