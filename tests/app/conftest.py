"""Fixtures shared by the desktop application's tests (model, logic and Qt).

The kidney sample case is loaded once per session; the probe library holds one
test probe, independent of the packaged library's contents.
"""

from __future__ import annotations

import numpy as np
import pytest
from cryoplan_app.model.case import CaseSource, ImageCase, load_case
from pacs_fixtures import app_orthanc, app_pacs_study, pacs_user_config  # noqa: F401

from planning_core.thermal.probes import ProbeLibrary, ProbeModel

#: A probe model for tests, independent of the packaged library's contents.
TEST_PROBE = ProbeModel(
    id="test-2.4",
    name="Test probe 2.4 mm",
    cryogen="argon",
    diameter_mm=2.4,
    active_length_mm=30.0,
    tip_offset_mm=5.0,
    plateau_c=-140.0,
    time_constant_s=30.0,
)


@pytest.fixture(scope="session")
def probe_library() -> ProbeLibrary:
    return ProbeLibrary("test", {TEST_PROBE.id: TEST_PROBE})


@pytest.fixture(scope="session")
def kidney_case() -> ImageCase:
    """The kidney sample case, loaded once (generated on first use)."""
    return load_case(CaseSource("sample", "kidney"))


@pytest.fixture(scope="session")
def kidney_tumor_lps(kidney_case: ImageCase) -> np.ndarray:
    """Centroid of the kidney case's tumor label, LPS mm."""
    labels = kidney_case.labels
    assert labels is not None
    indices = np.argwhere(labels.mask("tumor"))[:, ::-1]
    return labels.geometry.index_to_lps(indices.mean(axis=0))
