"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def shared_dicom_root() -> Path:
    """Folder of real DICOM test files: $CRYOPLAN_SHARED_DICOM or ../shared/dicom."""
    override = os.environ.get("CRYOPLAN_SHARED_DICOM")
    return Path(override) if override else PROJECT_ROOT.parent / "shared" / "dicom"


@pytest.fixture(scope="session")
def shared_dicom() -> Path:
    """The shared real-DICOM folder; skips the test when it is absent."""
    root = shared_dicom_root()
    if not root.is_dir():
        pytest.skip(f"real DICOM files not present at {root} (set CRYOPLAN_SHARED_DICOM)")
    return root
