"""A real Orthanc for the PACS tests and the benchmark: loopback, free ports, its own storage.

``Orthanc CONFIG.json`` runs with the DICOMweb plugin, checks the called AE
title (so that a wrong one is rejected) and knows our AE title as a C-MOVE
destination on a port chosen here.
"""

from __future__ import annotations

import atexit
import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from planning_core.imaging.pacs import DicomWebNode, DimseNode

ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
AET = "ORTHANC"
OUR_AET = "CRYOPLAN"


def orthanc_missing() -> str | None:
    """Why Orthanc cannot run here, or None."""
    binary = shutil.which("Orthanc") or str(ORTHANC)
    if not Path(binary).is_file():
        return (
            "Orthanc is not installed (/usr/sbin/Orthanc); `bash run.sh test` installs the "
            "Debian packages orthanc and orthanc-dicomweb"
        )
    if not DICOMWEB_PLUGIN.is_file():
        return f"the Orthanc DICOMweb plugin is not installed ({DICOMWEB_PLUGIN}; orthanc-dicomweb)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class OrthancServer:
    """One running Orthanc; :meth:`stop` and :meth:`start` keep its storage."""

    folder: Path
    move_port: int
    dicom_port: int = 0
    http_port: int = 0
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def dimse_node(self, **options: object) -> DimseNode:
        fields: dict[str, object] = {"timeout_s": 10.0, "storage_port": self.move_port}
        fields.update(options)
        return DimseNode("orthanc", "127.0.0.1", self.dicom_port, AET, **fields)

    def dicomweb_node(self, **options: object) -> DicomWebNode:
        fields: dict[str, object] = {"timeout_s": 10.0}
        fields.update(options)
        return DicomWebNode("orthanc-web", self.dicomweb_url, **fields)

    def start(self, *, timeout_s: float = 30.0) -> None:
        """Start on fresh free ports (a restarted server may not get its old ones back)."""
        self.dicom_port, self.http_port = free_port(), free_port()
        storage = self.folder / "storage"
        config = {
            "Name": "cryoplan-test",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": AET,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomCheckCalledAet": True,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True,
            "DicomAlwaysAllowMove": True,
            "DicomModalities": {"cryoplan": [OUR_AET, "127.0.0.1", self.move_port]},
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "LimitFindResults": 0,
            "LimitFindInstances": 0,
            "StorageCompression": False,
        }
        config_path = self.folder / "orthanc.json"
        config_path.write_text(json.dumps(config))
        log = open(self.folder / "orthanc.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [shutil.which("Orthanc") or str(ORTHANC), str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if requests.get(f"{self.url}/system", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        tail = (self.folder / "orthanc.log").read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"Orthanc did not start:\n{tail}")

    def stop(self) -> None:
        """Stop at once (SIGKILL: as a crash or a pulled cable would)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def upload(self, paths: list[Path]) -> None:
        """Store files through the REST API (not through the code under test)."""
        with requests.Session() as session:
            for path in paths:
                response = session.post(f"{self.url}/instances", data=path.read_bytes())
                response.raise_for_status()

    def rest(self, path: str) -> object:
        response = requests.get(f"{self.url}{path}", timeout=10)
        response.raise_for_status()
        return response.json()

    def lookup(self, uid: str) -> list[dict]:
        response = requests.post(f"{self.url}/tools/lookup", data=uid, timeout=10)
        response.raise_for_status()
        return response.json()


def start_orthanc(folder: Path) -> OrthancServer:
    folder.mkdir(parents=True, exist_ok=True)
    server = OrthancServer(folder, move_port=free_port())
    server.start()
    return server


_shared: OrthancServer | None = None


def shared_orthanc(folder: Path) -> OrthancServer:
    """The test session's one Orthanc, started in ``folder`` on first use, stopped at exit.

    The PACS tests and the application's PACS tests share it (each seeds its own
    patient's study); only the test that stops a server mid-transfer starts another.
    """
    global _shared
    if _shared is None:
        _shared = start_orthanc(folder)
        atexit.register(_shared.stop)
    return _shared
