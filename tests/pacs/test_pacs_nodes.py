"""Per-user nodes: saved for the user alone, read back, and credentials never shown."""

from __future__ import annotations

import base64
import json
import logging
import stat
from pathlib import Path

import pytest
from fake_servers import http_server

from planning_core.cli import main
from planning_core.errors import InvalidParameterError, PacsError
from planning_core.imaging.pacs import (
    BasicAuth,
    BearerAuth,
    DicomWebNode,
    DimseNode,
    StudyQuery,
    find_studies,
    load_nodes,
    parse_dimse_address,
    save_nodes,
)
from planning_core.report.dicom_export import DicomExport
from planning_core.report.pacs_send import send_export

PASSWORD = "pw-s3cret-1"
TOKEN = "tok-s3cret-2"


def _nodes(url: str = "http://pacs.example.org/dicom-web") -> list:
    return [
        DimseNode("ct-pacs", "pacs.example.org", 104, "PACS", calling_aet="CRYO", tls=True),
        DicomWebNode("web-basic", url, auth=BasicAuth("alice", PASSWORD)),
        DicomWebNode("web-token", url, auth=BearerAuth(TOKEN), timeout_s=5.0),
    ]


def test_nodes_are_saved_for_the_user_alone_and_read_back(tmp_path: Path) -> None:
    path = save_nodes(_nodes(), tmp_path / "config" / "nodes.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_nodes(path) == _nodes()
    assert all(PASSWORD not in repr(n) and TOKEN not in repr(n) for n in load_nodes(path))
    assert load_nodes(tmp_path / "absent.json") == []
    with pytest.raises(InvalidParameterError, match="names must be unique"):
        save_nodes([*_nodes(), _nodes()[0]], path)


def test_credentials_never_reach_messages_or_logs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    with http_server(status=401, body=b"{}") as server:
        for node in _nodes(server.url)[1:]:
            with pytest.raises(PacsError, match=r"HTTP 401.*credentials") as refused:
                find_studies(node, StudyQuery(patient_name="DOE^*"))
            assert PASSWORD not in str(refused.value) and TOKEN not in str(refused.value)
        sent = [headers.get("Authorization") for _, headers in server.requests]
        basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
        assert sent == [f"Basic {basic}", f"Bearer {TOKEN}"]  # the credentials did travel
        # Through the command line, naming the configured server.
        monkeypatch.setenv(
            "CRYOPLAN_PACS_NODES", str(save_nodes(_nodes(server.url), tmp_path / "n"))
        )
        assert main(["pacs", "find", "--dicomweb", "web-token"]) == 2
    err = capsys.readouterr().err
    assert "HTTP 401" in err and TOKEN not in err
    assert PASSWORD not in caplog.text and TOKEN not in caplog.text


def test_bad_nodes_and_addresses_are_named(tmp_path: Path) -> None:
    path = tmp_path / "nodes.json"
    entry = {
        "kind": "dicomweb",
        "name": "w",
        "url": "http://h/dw",
        "auth": {"type": "x", "token": TOKEN},
    }
    path.write_text(json.dumps({"format": "cryoplan-pacs-nodes", "nodes": [entry]}))
    with pytest.raises(InvalidParameterError, match=r"nodes.json: node 1: 'auth' must") as bad:
        load_nodes(path)
    assert TOKEN not in str(bad.value)
    with pytest.raises(InvalidParameterError, match=r"'http://\*\*\*@h/dw'.*authentication") as bad:
        DicomWebNode("w", f"http://alice:{PASSWORD}@h/dw")
    assert PASSWORD not in str(bad.value)
    with pytest.raises(InvalidParameterError, match=r"--node 'h:104'.*HOST:PORT:AET"):
        parse_dimse_address("h:104")
    with pytest.raises(InvalidParameterError, match="AE title is 1 to 16"):
        parse_dimse_address("h:104:A-TITLE-LONGER-THAN-16")
    node = parse_dimse_address("pacs.example.org:11112:PACS", calling_aet="ME")
    assert (node.host, node.port, node.called_aet, node.calling_aet) == (
        "pacs.example.org", 11112, "PACS", "ME",
    )  # fmt: skip


def test_export_names_its_destinations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = str(tmp_path / "plan.cryoplan.json")
    assert main(["export", plan]) == 2
    assert "give --dicom DIR, --pacs HOST:PORT:AET or --dicomweb URL" in capsys.readouterr().err
    assert main(["export", plan, "--pacs", "h:104:PACS", "--deidentify"]) == 2
    assert "--deidentify makes a new study" in capsys.readouterr().err
    assert main(["export", plan, "--pacs", "h:104:PACS", "--dicomweb", "http://h/dw"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["export", plan, "--dicomweb", "http://h/dw", "--calling-aet", "ME"]) == 2
    assert "--calling-aet goes with --pacs (DIMSE)" in capsys.readouterr().err


def test_a_deidentified_or_empty_export_is_not_sent(tmp_path: Path) -> None:
    # No node is contacted: nothing listens at this address.
    node = parse_dimse_address("127.0.0.1:9:NOBODY", timeout_s=0.5)
    deidentified = DicomExport(tmp_path, "1.2.3", "1.2.3.4", (), deidentified=True)
    with pytest.raises(InvalidParameterError, match="de-identified export makes a new study"):
        send_export(deidentified, node)
    with pytest.raises(InvalidParameterError, match="holds no DICOM object"):
        send_export(DicomExport(tmp_path, "1.2.3", "1.2.3.4", ()), node)
