"""The plan's warnings in the application: shown in the Metrics panel, kept when saving."""

from __future__ import annotations

import numpy as np
import pytest
from cryoplan_app.model import plan_io
from panel_helpers import wait_idle

from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.plan_json import load_plan

pytestmark = pytest.mark.gui


def test_metrics_panel_shows_the_plans_warnings_and_saving_keeps_them(
    main_window, kidney_tumor_lps, probe_library, qtbot, tmp_path
):
    session = main_window.session
    wait_idle(qtbot, main_window)
    panel = main_window.panels["metrics"]
    session.document.set_plan(Plan(), text="Reset plan")
    assert panel.warnings_note.isHidden()
    model = next(iter(probe_library.models.values()))
    tip = np.asarray(kidney_tumor_lps, dtype=np.float64)
    probe = PlannedProbe(model.id, tuple(tip), tuple(np.add(tip, (0.0, 120.0, 0.0))), "P1")
    plan = Plan(probes=(probe,)).with_step_warnings(
        "segmentation", ["the tumor is very small (0.05 ml): check the seed."]
    )
    session.document.set_plan(plan, text="Plan with a warning")
    assert not panel.warnings_note.isHidden()
    assert "Segmentation: the tumor is very small" in panel.warnings_note.text()
    saved = load_plan(plan_io.save_plan(session, tmp_path / "warned.cryoplan.json"))
    assert saved.warnings == plan.warnings
    session.document.set_plan(Plan(), text="Reset plan")
    wait_idle(qtbot, main_window)
