"""Servers that misbehave on purpose: silent, malformed, demanding credentials, stopping."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from orthanc_server import free_port
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind


class _Handler(BaseHTTPRequestHandler):
    server: AnsweringServer

    def do_GET(self) -> None:
        self.server.requests.append((self.path, dict(self.headers)))
        status, body, content_type = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read what the client says, not the server's log."""


class AnsweringServer(ThreadingHTTPServer):
    """Answers every GET with one fixed response and records the requests."""

    def __init__(self, status: int, body: bytes, content_type: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = (status, body, content_type)
        self.requests: list[tuple[str, dict[str, str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/dicom-web"


@contextmanager
def http_server(
    status: int = 200, body: bytes = b"", content_type: str = "application/dicom+json"
) -> Iterator[AnsweringServer]:
    server = AnsweringServer(status, body, content_type)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def refusing_port() -> Iterator[int]:
    """A port held (bound, not listening) for the test's length: connections are refused,
    and no other process can start listening on it meanwhile."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield int(holder.getsockname()[1])


@contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


@contextmanager
def dimse_find_server(answers: list[Dataset]) -> Iterator[int]:
    """A DIMSE node whose every C-FIND answers ``answers`` (pending) then success."""

    def handle_find(event: evt.Event) -> Iterator[tuple[int, Dataset | None]]:
        for answer in answers:
            yield 0xFF00, answer
        yield 0x0000, None

    ae = AE(ae_title="FAKE")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    port = free_port()
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_FIND, handle_find)]
    )
    try:
        yield port
    finally:
        server.shutdown()


class _WadoHandler(BaseHTTPRequestHandler):
    server: WadoServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith("/instances") and "/series/" not in path:
            body = json.dumps([_instance_json(dataset) for dataset in self.server.datasets])
            self._answer(body.encode(), "application/dicom+json")
            return
        uid = path.rsplit("/", 1)[-1]
        parts = [raw for raw, ds in zip(self.server.files, self.server.datasets, strict=True)
                 if uid in (ds.StudyInstanceUID, ds.SOPInstanceUID)]  # fmt: skip
        mode, count = self.server.mode
        if mode == "garbage":
            parts = [b"this is not DICOM" * 10 for _ in parts]
        body = b"".join(_PART_HEADER + part for part in parts) + _BOUNDARY_END
        if mode == "whole" or mode == "garbage":
            self._answer(body, _MULTIPART)
            return
        # "stop" and "stall": the header and the first `count` parts (with the delimiter
        # that closes the last), then the connection closes or goes silent.
        sent = b"".join(_PART_HEADER + part for part in parts[:count]) + _PART_HEADER
        self._start(len(body), _MULTIPART)
        self.wfile.write(sent)
        self.wfile.flush()
        if mode == "stall":
            self.server.release.wait(timeout=30)

    def _answer(self, body: bytes, content_type: str) -> None:
        self._start(len(body), content_type)
        self.wfile.write(body)

    def _start(self, length: int, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read what the client says, not the server's log."""


_BOUNDARY = "fake-wado-boundary"
_MULTIPART = f'multipart/related; type="application/dicom"; boundary={_BOUNDARY}'
_PART_HEADER = f"\r\n--{_BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
_BOUNDARY_END = f"\r\n--{_BOUNDARY}--".encode()


def _instance_json(dataset: Dataset) -> dict[str, object]:
    return {
        tag: {"vr": "UI", "Value": [str(value)]}
        for tag, value in (
            ("0020000D", dataset.StudyInstanceUID),
            ("0020000E", dataset.SeriesInstanceUID),
            ("00080016", dataset.SOPClassUID),
            ("00080018", dataset.SOPInstanceUID),
        )
    }


class WadoServer(ThreadingHTTPServer):
    """A DICOMweb server holding ``paths`` that lists them truthfully and, by ``mode``,
    sends them whole, stops after some, goes silent after some, or sends garbage."""

    daemon_threads = True

    def __init__(self, paths: list[Path]) -> None:
        super().__init__(("127.0.0.1", 0), _WadoHandler)
        self.files = [path.read_bytes() for path in paths]
        self.datasets = [dcmread(path, stop_before_pixels=True) for path in paths]
        self.mode: tuple[str, int] = ("whole", 0)
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/dicom-web"


@contextmanager
def wado_server(paths: list[Path]) -> Iterator[WadoServer]:
    server = WadoServer(paths)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
