"""DICOMweb: QIDO-RS (search), WADO-RS (retrieve) and STOW-RS (store, both by dicomweb-client).

Credentials travel in the requests session's authentication, never in headers
handed to dicomweb-client (which logs its headers) nor in URLs; messages name
the server by its URL, which holds no credentials (:class:`DicomWebNode`
refuses them).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from fnmatch import fnmatchcase
from pathlib import Path
from urllib.parse import urlencode

import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from urllib3.exceptions import ReadTimeoutError

from planning_core.errors import (
    OperationCancelledError,
    PacsConnectionError,
    PacsError,
    PacsResponseError,
    PacsTimeoutError,
)
from planning_core.imaging.pacs.nodes import BasicAuth, BearerAuth, DicomWebNode
from planning_core.imaging.pacs.outgoing import read_outgoing
from planning_core.imaging.pacs.query import (
    InstanceRef,
    InstanceSink,
    SeriesMatch,
    StudyMatch,
    StudyQuery,
)
from planning_core.progress import CancelToken

#: Results asked for per QIDO-RS request.
QIDO_PAGE = 500
#: The tags that tell QIDO-RS results apart (study, series, instance).
_UID_TAGS = ("0020000D", "0020000E", "00080018")
#: Instances per STOW-RS request: small enough to keep memory flat, large enough to be fast.
STOW_BATCH = 16
#: Bytes read at a time from a WADO-RS stream. dicomweb-client's default (1 MB)
#: holds back every instance of a small series until a megabyte arrived: progress
#: stalls, and a stream that breaks keeps nothing of what came before.
WADO_CHUNK_BYTES = 64 * 1024


class _Bearer(requests.auth.AuthBase):
    """Adds the bearer token when a request is prepared (after dicomweb-client logged it)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


def _client(node: DicomWebNode) -> DICOMwebClient:
    client = DICOMwebClient(
        node.url, session=_session(node), timeout=node.timeout_s, chunk_size=WADO_CHUNK_BYTES
    )
    client.set_http_retry_params(retry=False)  # a user waits: say what failed at once
    return client


@contextmanager
def _talking_to(node: DicomWebNode, what: str) -> Iterator[None]:
    """Turn what the HTTP layer and the decoding raise into one-line :class:`PacsError`."""
    try:
        yield
    except (
        requests.exceptions.InvalidJSONError,  # before RequestException, its base
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        InvalidDicomError,
    ):
        raise PacsResponseError(
            f"{node.label}: the answer to the {what} is malformed (not DICOM JSON or DICOM "
            "data as the standard describes); is the URL the DICOMweb root?"
        ) from None
    except requests.exceptions.Timeout:
        raise PacsTimeoutError(
            f"{node.label}: no answer to the {what} within {node.timeout_s:g} s; check the "
            "server or raise the node's timeout."
        ) from None
    except requests.exceptions.ChunkedEncodingError:
        raise PacsConnectionError(
            f"{node.label}: the connection closed in the middle of the {what} (the server "
            "stopped or the network failed)."
        ) from None
    except requests.exceptions.ConnectionError as error:
        # requests reports a read timeout inside a streamed body as a connection error.
        if isinstance(error.args[0] if error.args else None, ReadTimeoutError):
            raise PacsTimeoutError(
                f"{node.label}: no answer to the {what} within {node.timeout_s:g} s; check "
                "the server or raise the node's timeout."
            ) from None
        raise PacsConnectionError(
            f"{node.label}: cannot connect for the {what} (refused or unreachable); check the "
            "URL given with --dicomweb and that the server is running."
        ) from None
    except requests.exceptions.HTTPError as error:
        code = error.response.status_code if error.response is not None else 0
        hint = {
            401: "authentication required or refused; check the node's credentials",
            403: "access refused; check the node's credentials and rights",
            404: "not found; check the URL (the DICOMweb root) and the UIDs",
        }.get(code, "the server refused the request")
        raise PacsError(f"{node.label}: the {what} failed with HTTP {code}: {hint}.") from None
    except requests.exceptions.RequestException as error:
        raise PacsConnectionError(
            f"{node.label}: the {what} failed ({type(error).__name__})."
        ) from None


def _value(item: dict, tag: str) -> str:
    """The first value of ``tag`` in a DICOM JSON object, as text."""
    element = item.get(tag)
    if element is None:
        return ""
    if not isinstance(element, dict):
        raise ValueError(f"{tag} is not a DICOM JSON element")
    values = element.get("Value") or [""]
    value = values[0]
    if isinstance(value, dict):  # person name
        return str(value.get("Alphabetic", ""))
    return "" if value is None else str(value)


def _values(item: dict, tag: str) -> tuple[str, ...]:
    element = item.get(tag) or {}
    return tuple(str(v) for v in element.get("Value") or [])


def _uid(node: DicomWebNode, item: dict, tag: str, name: str) -> str:
    value = _value(item, tag)
    if not value or len(value) > 64 or not all(c.isdigit() or c == "." for c in value):
        raise PacsResponseError(
            f"{node.label}: an answer's {name} is missing or malformed ({value[:70]!r})."
        )
    return value


def _number(item: dict, tag: str) -> int | None:
    text = _value(item, tag)
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _objects(answer: object) -> list[dict]:
    if not isinstance(answer, list) or not all(isinstance(item, dict) for item in answer):
        raise ValueError("QIDO-RS answer is not a list of DICOM JSON objects")
    return answer


def _session(node: DicomWebNode) -> requests.Session:
    session = requests.Session()
    if isinstance(node.auth, BasicAuth):
        session.auth = requests.auth.HTTPBasicAuth(node.auth.username, node.auth.password)
    elif isinstance(node.auth, BearerAuth):
        session.auth = _Bearer(node.auth.token)
    return session


def _search_all(node: DicomWebNode, path: str, params: dict[str, object]) -> list[dict]:
    """Every result of a QIDO-RS search under ``path``, page by page.

    The query is written here rather than by dicomweb-client, which
    percent-encodes ``*``, ``?`` and ``^``: servers that match the raw text
    (Orthanc 1.10) would then find nothing for ``SMITH^*``. A page without new
    results ends the paging, for servers that ignore ``offset`` for some keys.
    """
    results: list[dict] = []
    seen: set[tuple[str, ...]] = set()
    with _session(node) as session:
        while True:
            query = urlencode(
                {**params, "limit": QIDO_PAGE, "offset": len(results)}, doseq=True, safe="*?^,"
            )
            request = session.prepare_request(
                requests.Request(
                    "GET", f"{node.url.rstrip('/')}/{path}",
                    headers={"Accept": "application/dicom+json"},
                )
            )  # fmt: skip
            request.url = f"{request.url}?{query}"  # as written: requests would encode ^
            response = session.send(request, timeout=node.timeout_s)
            response.raise_for_status()
            page = _objects(response.json()) if response.content.strip() else []
            keys = [tuple(_value(item, tag) for tag in _UID_TAGS) for item in page]
            new = [item for item, key in zip(page, keys, strict=True) if key not in seen]
            seen.update(keys)
            results.extend(new)
            if len(page) < QIDO_PAGE or not new:
                return results


def echo(node: DicomWebNode) -> None:
    """Check that ``node`` answers a QIDO-RS search (DICOMweb has no echo)."""
    with _talking_to(node, "study search (QIDO-RS)"):
        _search_all(node, "studies", {"StudyInstanceUID": "0"})


def find_studies(node: DicomWebNode, query: StudyQuery) -> list[StudyMatch]:
    """QIDO-RS study search."""
    filters = {
        key: value
        for key, value in (
            ("PatientID", query.patient_id),
            ("PatientName", query.patient_name.replace("^", "?")),
            ("PatientBirthDate", query.birth_date),
            ("StudyDate", query.study_date),
            ("ModalitiesInStudy", query.modality),
            ("AccessionNumber", query.accession),
        )
        if value
    }
    fields = ["StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
              "PatientBirthDate"]  # fmt: skip
    with _talking_to(node, "study search (QIDO-RS)"):
        answer = _search_all(node, "studies", {**filters, "includefield": fields})
        matches = [
            StudyMatch(
                study_uid=_uid(node, item, "0020000D", "StudyInstanceUID"),
                patient_id=_value(item, "00100020"),
                patient_name=_value(item, "00100010"),
                birth_date=_value(item, "00100030"),
                study_date=_value(item, "00080020"),
                study_description=_value(item, "00081030"),
                accession=_value(item, "00080050"),
                modalities=_values(item, "00080061"),
                series_count=_number(item, "00201206"),
            )
            for item in answer
        ]
    return [m for m in matches if _name_matches(m.patient_name, query.patient_name)]


def _name_matches(name: str, pattern: str) -> bool:
    """Whether ``name`` matches the wild-card ``pattern`` (case-insensitive; empty: all).

    The search sends a name's ``^`` (the component separator) as the wild card
    ``?``: a URL must percent-encode ``^`` and some servers (Orthanc 1.10) then
    match the encoded text. The answers are narrowed to the true pattern here.
    """
    return not pattern or fnmatchcase(name.upper(), pattern.upper().replace("[", "[[]"))


def find_series(node: DicomWebNode, study_uid: str) -> list[SeriesMatch]:
    """QIDO-RS series search within ``study_uid``."""
    with _talking_to(node, "series search (QIDO-RS)"):
        answer = _search_all(
            node,
            f"studies/{study_uid}/series",
            {"includefield": ["SeriesDescription", "NumberOfSeriesRelatedInstances"]},
        )
        return [
            SeriesMatch(
                study_uid=study_uid,
                series_uid=_uid(node, item, "0020000E", "SeriesInstanceUID"),
                modality=_value(item, "00080060"),
                series_number=_number(item, "00200011"),
                series_description=_value(item, "0008103E"),
                instance_count=_number(item, "00201209"),
            )
            for item in answer
        ]


def list_instances(node: DicomWebNode, study_uid: str, series_uid: str | None) -> list[InstanceRef]:
    """QIDO-RS instance search: every instance of the study (or series)."""
    with _talking_to(node, "instance search (QIDO-RS)"):
        path = f"studies/{study_uid}" + (f"/series/{series_uid}" if series_uid else "")
        answer = _search_all(node, f"{path}/instances", {"includefield": ["SOPClassUID"]})
        return [
            InstanceRef(
                series_uid=_uid(node, item, "0020000E", "SeriesInstanceUID"),
                sop_uid=_uid(node, item, "00080018", "SOPInstanceUID"),
                sop_class_uid=_uid(node, item, "00080016", "SOPClassUID"),
            )
            for item in answer
        ]


def _encoded(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def fetch(
    node: DicomWebNode,
    study_uid: str,
    series_uid: str | None,
    instances: Sequence[InstanceRef],
    *,
    whole: bool,
    sink: InstanceSink,
    cancel: CancelToken | None = None,
) -> None:
    """WADO-RS retrieval of ``instances``: the whole study (or series ``series_uid``) in
    one stream, or one by one (resuming)."""
    wanted = {ref.sop_uid for ref in instances}
    client = _client(node)
    with _talking_to(node, "retrieval (WADO-RS)"):
        if whole and series_uid is not None:
            received = client.iter_series(study_uid, series_uid)
        elif whole:
            received = client.iter_study(study_uid)
        else:
            received = (
                client.retrieve_instance(study_uid, ref.series_uid, ref.sop_uid)
                for ref in instances
            )
        for dataset in received:
            if cancel is not None and cancel.cancelled:
                raise OperationCancelledError("The retrieval was cancelled by the user.")
            sop_uid = str(dataset.SOPInstanceUID)
            if sop_uid in wanted:
                sink(sop_uid, _encoded(dataset))


def send(
    node: DicomWebNode,
    paths: Sequence[Path],
    *,
    on_sent: Callable[[int], None] | None = None,
    cancel: CancelToken | None = None,
) -> list[tuple[Path, str]]:
    """STOW-RS every file of ``paths`` in batches; the failures as (path, reason)."""
    readable, failures = read_outgoing(paths)
    client = _client(node)
    sent = 0
    for start in range(0, len(readable), STOW_BATCH):
        if cancel is not None and cancel.cancelled:
            raise OperationCancelledError("Sending was cancelled by the user.")
        batch = readable[start : start + STOW_BATCH]
        with _talking_to(node, "store (STOW-RS)"):
            answer = client.store_instances([dataset for _, dataset in batch])
            failed = {
                str(item.get("ReferencedSOPInstanceUID", "")): int(item.get("FailureReason", 0))
                for item in (answer.get("FailedSOPSequence") or [])
            }
        for path, dataset in batch:
            reason = failed.get(str(dataset.SOPInstanceUID))
            if reason is not None:
                failures.append((path, f"refused with failure reason 0x{reason:04X}"))
            else:
                sent += 1
        if on_sent is not None:
            on_sent(sent)
    return failures
