"""DIMSE through pynetdicom: C-ECHO, C-FIND, C-GET, C-MOVE (with our storage listener), C-STORE.

Every association is opened by :func:`_association`, which turns the ways a
node can fail (refused connection, unknown host, rejected AE title, silence)
into :class:`~planning_core.errors.PacsError` subclasses with one clear
message. pynetdicom logs to its own logger, which has no handler here.
"""

from __future__ import annotations

import socket
import ssl
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, build_role, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from planning_core.errors import (
    OperationCancelledError,
    PacsAssociationRejectedError,
    PacsConnectionError,
    PacsError,
    PacsResponseError,
    PacsTimeoutError,
)
from planning_core.imaging.pacs.nodes import DimseNode
from planning_core.imaging.pacs.outgoing import read_outgoing
from planning_core.imaging.pacs.query import (
    InstanceRef,
    InstanceSink,
    SeriesMatch,
    StudyMatch,
    StudyQuery,
)
from planning_core.progress import CancelToken

#: The largest PDU we receive: big PDUs move a CT slice in one piece over a fast network.
MAX_PDU_BYTES = 4 * 1024 * 1024
#: A presentation context request holds at most this many abstract syntaxes.
MAX_CONTEXTS = 128
#: What a node's rejection diagnostics mean (PS3.8 9.3.4, source "service user").
_REJECTION_REASONS = {
    1: "no reason given",
    2: "the application context is not supported",
    3: "our calling AE title is not known to the node; register it there or give --calling-aet",
    7: "the called AE title is not the node's; check the AE part of --node",
}


def _tls_arguments(node: DimseNode) -> tuple[ssl.SSLContext, str] | None:
    return (ssl.create_default_context(), node.host) if node.tls else None


def _new_ae(node: DimseNode) -> AE:
    ae = AE(ae_title=node.calling_aet)
    ae.connection_timeout = node.timeout_s
    ae.acse_timeout = node.timeout_s
    ae.dimse_timeout = node.timeout_s
    ae.network_timeout = node.timeout_s
    return ae


def _check_reachable(node: DimseNode) -> None:
    """Open and close a TCP connection, to tell refusal, unknown host and silence apart."""
    try:
        with socket.create_connection((node.host, node.port), timeout=node.timeout_s):
            pass
    except socket.gaierror:
        raise PacsConnectionError(
            f"{node.label}: unknown host {node.host!r}; check the host of --node."
        ) from None
    except TimeoutError:
        raise PacsTimeoutError(
            f"{node.label}: no answer to a connection within {node.timeout_s:g} s; check the "
            "address and any firewall, or raise the node's timeout."
        ) from None
    except ConnectionRefusedError:
        raise PacsConnectionError(
            f"{node.label}: connection refused; the node does not listen on port {node.port} "
            "(check the port of --node and that the PACS is running)."
        ) from None
    except OSError as error:
        raise PacsConnectionError(
            f"{node.label}: cannot connect ({error.strerror or error})."
        ) from None


@contextmanager
def _association(
    node: DimseNode,
    ae: AE,
    *,
    roles: Sequence[object] = (),
    handlers: Sequence[tuple[object, Callable[..., object]]] = (),
) -> Iterator[Association]:
    """An established association with ``node``, released (or aborted) on exit."""
    _check_reachable(node)
    rejection: list[tuple[int, int]] = []

    def remember_rejection(event: evt.Event) -> None:
        primitive = event.primitive
        if getattr(primitive, "result", None) in (1, 2):  # rejected permanently/transiently
            rejection.append((int(primitive.result_source), int(primitive.diagnostic)))

    started = time.monotonic()
    assoc = ae.associate(
        node.host,
        node.port,
        ae_title=node.called_aet,
        max_pdu=MAX_PDU_BYTES,
        ext_neg=list(roles) or None,
        tls_args=_tls_arguments(node),
        evt_handlers=[(evt.EVT_ACSE_RECV, remember_rejection), *handlers],
    )
    if not assoc.is_established:
        if rejection:
            source, diagnostic = rejection[0]
            reason = (
                _REJECTION_REASONS.get(diagnostic, f"diagnostic {diagnostic}")
                if source == 1
                else "the node is busy or refuses associations"
            )
            raise PacsAssociationRejectedError(
                f"{node.label} rejected the association from {node.calling_aet}: {reason}."
            )
        if time.monotonic() - started >= node.timeout_s * 0.9:
            raise PacsTimeoutError(
                f"{node.label}: no answer to the association request within "
                f"{node.timeout_s:g} s; check that the address is a DICOM node, or raise the "
                "node's timeout."
            )
        raise PacsConnectionError(
            f"{node.label}: the node closed the connection without accepting the association "
            "(is this port a DICOM node? is TLS needed?)."
        )
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


def _check_final(node: DimseNode, status: Dataset, what: str) -> None:
    """Raise for an empty (lost association or timeout) or failed final status."""
    if "Status" not in status:
        raise PacsTimeoutError(
            f"{node.label}: no answer to the {what} within {node.timeout_s:g} s or the "
            "connection was lost; try again or raise the node's timeout."
        )
    code = int(status.Status)
    if code not in (0x0000, 0xFF00, 0xFF01, 0xB000):
        comment = str(status.get("ErrorComment", "")).strip()
        raise PacsError(
            f"{node.label}: the {what} failed with status 0x{code:04X}"
            + (f" ({comment})" if comment else "")
            + "."
        )


def echo(node: DimseNode) -> float:
    """C-ECHO ``node``; the round trip in seconds (association included)."""
    ae = _new_ae(node)
    ae.add_requested_context(Verification)
    started = time.monotonic()
    with _association(node, ae) as assoc:
        status = assoc.send_c_echo()
        _check_final(node, status, "C-ECHO")
    return time.monotonic() - started


def _find(node: DimseNode, identifier: Dataset, what: str) -> list[Dataset]:
    ae = _new_ae(node)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    answers: list[Dataset] = []
    # pynetdicom decodes each answer for its log, and pydicom warns (several lines)
    # about odd values; _uid checks the values that matter, with one clear line.
    with _association(node, ae) as assoc, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for status, answer in assoc.send_c_find(
            identifier, StudyRootQueryRetrieveInformationModelFind
        ):
            if status and int(status.get("Status", -1)) in (0xFF00, 0xFF01):
                if answer is None:
                    raise PacsResponseError(f"{node.label}: a {what} answer held no data set.")
                answers.append(answer)
                continue
            _check_final(node, status, what)
    return answers


def _text(dataset: Dataset, keyword: str) -> str:
    with warnings.catch_warnings():  # see _find
        warnings.simplefilter("ignore", UserWarning)
        value = dataset.get(keyword, "")
    return "" if value is None else str(value).strip()


def _number(dataset: Dataset, keyword: str) -> int | None:
    text = _text(dataset, keyword)
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _uid(node: DimseNode, dataset: Dataset, keyword: str) -> str:
    value = _text(dataset, keyword)
    if not value or len(value) > 64 or not all(c.isdigit() or c == "." for c in value):
        raise PacsResponseError(
            f"{node.label}: an answer's {keyword} is missing or malformed ({value[:70]!r})."
        )
    return value


def find_studies(node: DimseNode, query: StudyQuery) -> list[StudyMatch]:
    """C-FIND at study level."""
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = ""
    identifier.PatientID = query.patient_id
    identifier.PatientName = query.patient_name
    identifier.PatientBirthDate = query.birth_date
    identifier.StudyDate = query.study_date
    identifier.ModalitiesInStudy = query.modality
    identifier.AccessionNumber = query.accession
    identifier.StudyDescription = ""
    identifier.NumberOfStudyRelatedSeries = None
    matches = []
    for answer in _find(node, identifier, "study search (C-FIND)"):
        modalities = answer.get("ModalitiesInStudy", "") or ""
        if isinstance(modalities, str):
            modalities = [m for m in modalities.split("\\") if m]
        matches.append(
            StudyMatch(
                study_uid=_uid(node, answer, "StudyInstanceUID"),
                patient_id=_text(answer, "PatientID"),
                patient_name=_text(answer, "PatientName"),
                birth_date=_text(answer, "PatientBirthDate"),
                study_date=_text(answer, "StudyDate"),
                study_description=_text(answer, "StudyDescription"),
                accession=_text(answer, "AccessionNumber"),
                modalities=tuple(str(m) for m in modalities),
                series_count=_number(answer, "NumberOfStudyRelatedSeries"),
            )
        )
    return matches


def find_series(node: DimseNode, study_uid: str) -> list[SeriesMatch]:
    """C-FIND at series level within ``study_uid``."""
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "SERIES"
    identifier.StudyInstanceUID = study_uid
    identifier.SeriesInstanceUID = ""
    identifier.Modality = ""
    identifier.SeriesNumber = None
    identifier.SeriesDescription = ""
    identifier.NumberOfSeriesRelatedInstances = None
    return [
        SeriesMatch(
            study_uid=study_uid,
            series_uid=_uid(node, answer, "SeriesInstanceUID"),
            modality=_text(answer, "Modality"),
            series_number=_number(answer, "SeriesNumber"),
            series_description=_text(answer, "SeriesDescription"),
            instance_count=_number(answer, "NumberOfSeriesRelatedInstances"),
        )
        for answer in _find(node, identifier, "series search (C-FIND)")
    ]


def list_instances(node: DimseNode, study_uid: str, series_uid: str | None) -> list[InstanceRef]:
    """C-FIND at image level: every instance of the study (or series) the node holds."""
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "IMAGE"
    identifier.StudyInstanceUID = study_uid
    identifier.SeriesInstanceUID = series_uid or ""
    identifier.SOPInstanceUID = ""
    identifier.SOPClassUID = ""
    return [
        InstanceRef(
            series_uid=_uid(node, answer, "SeriesInstanceUID"),
            sop_uid=_uid(node, answer, "SOPInstanceUID"),
            sop_class_uid=_uid(node, answer, "SOPClassUID"),
        )
        for answer in _find(node, identifier, "instance search (C-FIND)")
    ]


def _retrieve_identifier(
    study_uid: str, series_uid: str | None, wanted: Sequence[InstanceRef] | None
) -> Dataset:
    identifier = Dataset()
    identifier.StudyInstanceUID = study_uid
    if wanted is None:
        identifier.QueryRetrieveLevel = "STUDY" if series_uid is None else "SERIES"
        if series_uid is not None:
            identifier.SeriesInstanceUID = series_uid
        return identifier
    identifier.QueryRetrieveLevel = "IMAGE"
    series = sorted({ref.series_uid for ref in wanted})
    identifier.SeriesInstanceUID = series[0] if len(series) == 1 else series
    identifier.SOPInstanceUID = [ref.sop_uid for ref in wanted]
    return identifier


def _store_handler(
    wanted: set[str], sink: InstanceSink, failures: list[Exception]
) -> Callable[[evt.Event], int]:
    def handle(event: evt.Event) -> int:
        sop_uid = str(event.request.AffectedSOPInstanceUID)
        if sop_uid not in wanted:
            return 0xA900  # not one we asked for: refuse rather than keep an unknown object
        try:
            sink(sop_uid, bytes(event.encoded_dataset()))
        except Exception as error:  # reported after the transfer (see fetch), never lost
            failures.append(error)
            return 0xA700  # out of resources: the node counts it as failed
        return 0x0000

    return handle


def fetch(
    node: DimseNode,
    study_uid: str,
    series_uid: str | None,
    instances: Sequence[InstanceRef],
    *,
    whole: bool,
    sink: InstanceSink,
    cancel: CancelToken | None = None,
) -> None:
    """Retrieve ``instances`` of ``study_uid`` by C-GET or C-MOVE (``node.retrieve_method``).

    With ``whole`` the request names the study, or the series ``series_uid`` (one
    cheap request); otherwise the instances by UID (resuming). Each instance that
    arrives goes to ``sink``; instances not in ``instances`` are refused.
    Completeness is judged by the caller from what reached ``sink``.
    """
    wanted = {ref.sop_uid for ref in instances}
    identifier = _retrieve_identifier(study_uid, series_uid, None if whole else instances)
    failures: list[Exception] = []
    handler = _store_handler(wanted, sink, failures)
    if node.retrieve_method == "move":
        _move(node, identifier, handler, cancel)
    else:
        _get(node, identifier, sorted({r.sop_class_uid for r in instances}), handler, cancel)
    if failures:
        error = failures[0]
        if isinstance(error, PacsError):
            raise error
        raise PacsError(f"storing a received instance failed: {error}") from None


def _drain(
    node: DimseNode,
    responses: Iterator[tuple[Dataset, Dataset | None]],
    assoc: Association,
    what: str,
    cancel: CancelToken | None,
) -> None:
    for status, _ in responses:
        if cancel is not None and cancel.cancelled:
            assoc.abort()
            raise OperationCancelledError("The retrieval was cancelled by the user.")
        if status and int(status.get("Status", -1)) in (0xFF00, 0xFF01):
            continue
        if not status:
            return  # connection lost: the caller sees which instances are missing
        code = int(status.Status)
        if code not in (0x0000, 0xB000, 0xA702, 0xFE00):  # partial outcomes judged by the caller
            _check_final(node, status, what)


def _get(
    node: DimseNode,
    identifier: Dataset,
    sop_classes: Sequence[str],
    handler: Callable[[evt.Event], int],
    cancel: CancelToken | None,
) -> None:
    if len(sop_classes) > MAX_CONTEXTS - 1:
        raise PacsError(
            f"{node.label}: the study holds {len(sop_classes)} kinds of object, more than one "
            "C-GET can take; retrieve it by series (--series)."
        )
    ae = _new_ae(node)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    for sop_class in sop_classes:
        ae.add_requested_context(sop_class, ALL_TRANSFER_SYNTAXES)
    roles = [build_role(sop_class, scp_role=True) for sop_class in sop_classes]
    with _association(node, ae, roles=roles, handlers=[(evt.EVT_C_STORE, handler)]) as assoc:
        responses = assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet)
        _drain(node, responses, assoc, "retrieval (C-GET)", cancel)


def _move(
    node: DimseNode,
    identifier: Dataset,
    handler: Callable[[evt.Event], int],
    cancel: CancelToken | None,
) -> None:
    listener = AE(ae_title=node.calling_aet)
    listener.network_timeout = node.timeout_s
    listener.acse_timeout = node.timeout_s
    listener.dimse_timeout = node.timeout_s
    listener.maximum_pdu_size = MAX_PDU_BYTES
    for context in AllStoragePresentationContexts:
        listener.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    try:
        server = listener.start_server(
            ("", node.storage_port), block=False, evt_handlers=[(evt.EVT_C_STORE, handler)]
        )
    except OSError as error:
        raise PacsError(
            f"our storage listener cannot take port {node.storage_port} ({error.strerror}); "
            "choose another storage port for the node."
        ) from None
    try:
        ae = _new_ae(node)
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        with _association(node, ae) as assoc:
            responses = assoc.send_c_move(
                identifier, node.calling_aet, StudyRootQueryRetrieveInformationModelMove
            )
            _drain(node, responses, assoc, "retrieval (C-MOVE)", cancel)
    finally:
        server.shutdown()


def send(
    node: DimseNode,
    paths: Sequence[Path],
    *,
    on_sent: Callable[[int], None] | None = None,
    cancel: CancelToken | None = None,
) -> list[tuple[Path, str]]:
    """C-STORE every file of ``paths`` on one association; the failures as (path, reason)."""
    datasets, failures = read_outgoing(paths)
    sop_classes = sorted(
        {(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for _, ds in datasets}
    )
    if not datasets:
        return failures
    ae = _new_ae(node)
    for sop_class in sorted({c for c, _ in sop_classes})[:MAX_CONTEXTS]:
        syntaxes = {ts for c, ts in sop_classes if c == sop_class}
        syntaxes.update((ExplicitVRLittleEndian, ImplicitVRLittleEndian))
        ae.add_requested_context(sop_class, sorted(syntaxes))
    with _association(node, ae) as assoc:
        for n, (path, dataset) in enumerate(datasets):
            if cancel is not None and cancel.cancelled:
                assoc.abort()
                raise OperationCancelledError("Sending was cancelled by the user.")
            try:
                status = assoc.send_c_store(dataset)
            except ValueError as error:  # no accepted context for this object
                failures.append((path, f"the node does not accept this kind of object ({error})"))
                continue
            if "Status" not in status:
                raise PacsTimeoutError(
                    f"{node.label}: no answer while sending {path.name} within "
                    f"{node.timeout_s:g} s, or the connection was lost; "
                    f"{n} of {len(datasets)} objects were sent."
                )
            if int(status.Status) not in (0x0000, 0xB000, 0xB007, 0xB006):
                failures.append((path, f"refused with status 0x{int(status.Status):04X}"))
            elif on_sent is not None:
                on_sent(n + 1)
    return failures
