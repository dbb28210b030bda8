"""What keeps a probe drag fast: a template preview, panel refreshes held until the drag ends."""

from __future__ import annotations

import numpy as np
import pytest
from cryoplan_app.logic.evaluation import preview_for_display
from cryoplan_app.model.session import Session
from cryoplan_app.qt.panels.widgets import after_drag


@pytest.fixture
def session(kidney_case, probe_library) -> Session:
    session = Session(probe_library=probe_library)
    session.open_case(kidney_case)
    return session


def _add(session: Session, tip) -> None:
    tip = np.asarray(tip, dtype=float)
    session.document.add_probe("test-2.4", tip, tip + np.array((0.0, 80.0, 0.0)))


def test_after_drag_refreshes_once_when_the_drag_ends(session, kidney_tumor_lps) -> None:
    _add(session, kidney_tumor_lps)
    refreshes = []
    session.document.plan_changed.connect(
        after_drag(session, lambda: refreshes.append(session.document.plan))
    )
    session.document.move_probe(0, tip_lps_mm=kidney_tumor_lps + np.array((1.0, 0.0, 0.0)))
    assert len(refreshes) == 1  # not dragging: at once
    for step in range(2, 6):
        session.document.move_probe(
            0, tip_lps_mm=kidney_tumor_lps + np.array((step, 0.0, 0.0)), dragging=True
        )
    assert len(refreshes) == 1
    session.document.end_drag()
    assert len(refreshes) == 2 and refreshes[-1] is session.document.plan
    session.document.end_drag()  # no drag, nothing held back
    assert len(refreshes) == 2


def test_preview_freezes_around_the_probe_only(session, kidney_tumor_lps) -> None:
    _add(session, kidney_tumor_lps)
    field = preview_for_display(session.document.plan, probe_library=session.document.probe_library)
    assert field.approximate
    assert np.allclose(field.geometry.spacing_mm, 2.0)
    probe = session.document.probe_parts()[0]
    middle = 0.5 * (np.asarray(probe.active_start) + np.asarray(probe.active_end))
    centre_kji = np.rint(field.geometry.lps_to_index(middle[None])[0][::-1]).astype(int)
    # Beside the freezing segment (within a voxel of the shaft) the tissue freezes hard; the
    # preview box reaches beyond the ice, so its corners stay unfrozen and at most body-warm.
    assert field.min_temperature_c[tuple(centre_kji)] < -40.0
    assert 0.0 < field.min_temperature_c[0, 0, 0] <= 37.0
    assert 0.0 < field.min_temperature_c[-1, -1, -1] <= 37.0
