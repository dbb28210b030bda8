"""The session's Orthanc for the application's PACS tests, seeded with their own small CT.

The server and the seed case come from ``tests/pacs`` (its helper modules, not
its conftest); the fixtures are imported by ``tests/app/conftest.py`` so that
the logic and the Qt tests share one server per session.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_PACS_TESTS = Path(__file__).resolve().parents[1] / "pacs"
if str(_PACS_TESTS) not in sys.path:
    sys.path.insert(0, str(_PACS_TESTS))

from orthanc_server import OrthancServer, orthanc_missing, shared_orthanc  # noqa: E402
from seed_case import SeedCase, write_seed_case  # noqa: E402

from planning_core.imaging.pacs import save_nodes  # noqa: E402

#: The patient of the application tests' study (the PACS tests' patient is another).
APP_PATIENT_ID = "CRYOPLAN-PACS-APP-TEST"
#: The node names in the test nodes file.
DIMSE_NODE = "orthanc"
DICOMWEB_NODE = "orthanc-web"


@pytest.fixture(scope="session")
def app_orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """The session's Orthanc on loopback (shared with ``tests/pacs``); skips when absent."""
    reason = orthanc_missing()
    if reason is not None:
        pytest.skip(reason)
    yield shared_orthanc(tmp_path_factory.mktemp("orthanc"))


@pytest.fixture(scope="session")
def app_pacs_study(
    app_orthanc: OrthancServer, tmp_path_factory: pytest.TempPathFactory
) -> SeedCase:
    """The PACS tests' small liver CT as another patient's study, stored in the session's
    Orthanc (what the application sends into it stays out of the PACS tests' study)."""
    case = write_seed_case(
        tmp_path_factory.mktemp("app-seed-case"),
        uid_seed="pacs-app-test",
        patient_id=APP_PATIENT_ID,
    )
    app_orthanc.upload(sorted(case.dicom_dir.iterdir()))
    return case


@pytest.fixture
def pacs_user_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_orthanc: OrthancServer
) -> Path:
    """This test's nodes file (the Orthanc over DIMSE and DICOMweb) and study cache.

    The user's own nodes file and cache are never touched.
    """
    nodes_file = tmp_path / "pacs-nodes.json"
    save_nodes([app_orthanc.dimse_node(), app_orthanc.dicomweb_node()], nodes_file)
    monkeypatch.setenv("CRYOPLAN_PACS_NODES", str(nodes_file))
    monkeypatch.setenv("CRYOPLAN_PACS_CACHE", str(tmp_path / "study-cache"))
    return nodes_file
