"""Where the real-CT benchmarks find the real DICOM of ../shared (as tests/conftest.py does)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def shared_dicom_root() -> Path:
    """``$CRYOPLAN_SHARED_DICOM`` or ``../shared/dicom`` beside the project."""
    override = os.environ.get("CRYOPLAN_SHARED_DICOM")
    return Path(override) if override else PROJECT_ROOT.parent / "shared" / "dicom"


def default_real_ct() -> Path:
    """The TCIA contrast CT the real-CT benchmarks run on by default."""
    return shared_dicom_root() / "tcia-pancreas-ct"
