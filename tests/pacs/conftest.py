"""One Orthanc per session (shared with the application's PACS tests), seeded with a small
planning CT; per-test nodes file and cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from orthanc_server import OrthancServer, orthanc_missing, shared_orthanc
from seed_case import SeedCase, write_seed_case

from planning_core.imaging.pacs import StudyCache


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """A running Orthanc (DIMSE and DICOMweb on loopback); skips when Orthanc is absent."""
    reason = orthanc_missing()
    if reason is not None:
        pytest.skip(reason)
    yield shared_orthanc(tmp_path_factory.mktemp("orthanc"))


@pytest.fixture(scope="session")
def seed_case(tmp_path_factory: pytest.TempPathFactory) -> SeedCase:
    """The cropped liver CT written as DICOM, with its label map."""
    return write_seed_case(tmp_path_factory.mktemp("seed-case"))


@pytest.fixture(scope="session")
def seeded(orthanc: OrthancServer, seed_case: SeedCase) -> SeedCase:
    """The seed case stored in the session's Orthanc (through its REST API)."""
    orthanc.upload(sorted(seed_case.dicom_dir.iterdir()))
    return seed_case


@pytest.fixture
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own nodes file and study cache (the user's are never touched)."""
    monkeypatch.setenv("CRYOPLAN_PACS_NODES", str(tmp_path / "nodes.json"))
    monkeypatch.setenv("CRYOPLAN_PACS_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def cache(tmp_path: Path) -> StudyCache:
    return StudyCache(tmp_path / "study-cache")
