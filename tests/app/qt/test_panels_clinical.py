"""What practice plans by, shown in the panels: goal checks, organ presets, approach, order.

The kidney sample case (prone, the table on the image under the patient's
front; the tumor inside the kidney label) in one window for the module.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from cryoplan_app.model.plan_edits import new_plan_for
from cryoplan_app.qt.panels.metrics import check_lines
from cryoplan_app.qt.panels.probes import APPROACH_COLUMN, ORDER_COLUMN
from cryoplan_app.qt.panels.protocol import CUSTOM
from cryoplan_app.qt.panels.summary import summary_rows
from panel_helpers import wait_idle
from PyQt6.QtCore import Qt
from PyQt6.QtTest import QTest

from planning_core.planning.acceptance import accept_plan
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.plan_approach import PlanApproach, PlannedProtection, PositionReading
from planning_core.planning.results import (
    AblativeMargin,
    IsothermCoverage,
    PlanMetrics,
    VisibleIce,
)
from planning_core.planning.settings import PlanSettings
from planning_core.thermal.protection import HydrodissectionLayer

pytestmark = pytest.mark.gui


@pytest.fixture
def window(main_window, kidney_case, qtbot):
    """The module's window with the case's own labels and an empty plan."""
    session = main_window.session
    wait_idle(qtbot, main_window)
    if session.document.labels is not kidney_case.labels:
        session.document.replace_labels(kidney_case.labels, "Reset labels")
    if session.document.plan != Plan():
        session.document.set_plan(Plan(), text="Reset plan")
    wait_idle(qtbot, main_window)
    yield main_window
    wait_idle(qtbot, main_window)


def _column(panel, column: int) -> list[str]:
    return [panel.table.item(row, column).text() for row in range(panel.table.rowCount())]


def test_probes_panel_numbers_the_insertion_order_and_refuses_the_table_side(
    window, kidney_tumor_lps, qtbot
):
    document, panel = window.session.document, window.panels["probes"]
    tumor = np.asarray(kidney_tumor_lps)
    # A new plan of the prone planning CT takes HFP from its header; new probes enter from
    # the back, away from the table.
    document.set_plan(new_plan_for(window.session.case), text="New plan")
    assert document.plan.settings.patient_position == "HFP"
    document.add_probe_at(tumor + np.array([0.0, 0.0, 4.0]))
    document.add_probe_at(tumor + np.array([0.0, -15.0, -4.0]))  # 15 mm deeper
    document.add_probe_at(tumor)
    assert all(p.entry_lps_mm[1] > p.tip_lps_mm[1] for p in document.plan.probes)
    # From the front, where the prone patient lies on the table.
    document.move_probe(2, entry_lps_mm=tumor + np.array([0.0, -60.0, 0.0]))
    wait_idle(qtbot, window)
    order = [int(text) for text in _column(panel, ORDER_COLUMN)]
    assert sorted(order) == [1, 2, 3] and order[1] < order[0]  # the deeper one first
    approach = _column(panel, APPROACH_COLUMN)
    assert approach[:2] == ["OK", "OK"] and approach[2].startswith("⚠ table side")
    tooltip = panel.table.item(2, APPROACH_COLUMN).toolTip()
    assert "entry on the side the patient lies on" in tooltip
    note = panel.approach_note.text()
    assert "Patient position HFP" in note and "table on the patient's front (image)" in note
    # Supine chosen by hand: the table found on the image does not fit it.
    window.panels["optimizer"].position_choice.setCurrentIndex(
        window.panels["optimizer"].position_choice.findData("HFS")
    )
    assert document.plan.settings.patient_position == "HFS"
    wait_idle(qtbot, window)
    assert "HFS" in panel.approach_note.text()
    assert "does not fit patient position HFS" in panel.approach_note.text()
    document.history.undo()
    assert document.plan.settings.patient_position == "HFP"


def test_protocol_menu_offers_the_organ_presets_first_with_their_source(window, qtbot):
    panel = window.panels["protocol"]
    choice = panel.preset_choice
    wait_idle(qtbot, window)
    # The tumor lies in the kidney label: its presets first, then a separator, then the rest.
    assert [choice.itemText(i) for i in range(3)] == [CUSTOM, "10-8-10", "10-5-10"]
    assert choice.itemText(3) == "" and choice.itemText(4) != ""
    assert "kidney" in panel.site_note.text() and "10-8-10, 10-5-10" in panel.site_note.text()
    # The plan's F10-T8-F10 is the 10-8-10 preset spelled out.
    assert choice.currentText() == "10-8-10" and "Usual for kidney" in panel.preset_note.text()
    tooltip = choice.itemData(1, Qt.ItemDataRole.ToolTipRole)
    assert tooltip.startswith("F10-T8-F10") and "Source: " in tooltip
    window.session.document.set_settings(organ_site="lung")
    assert choice.itemText(1) == "lung-3-7-10" and choice.itemText(2) == ""
    assert "Lyons" in choice.itemData(1, Qt.ItemDataRole.ToolTipRole)
    choice.setCurrentText("lung-3-7-10")
    assert window.session.document.plan.protocol == "lung-3-7-10"


def _visible_ice_metrics(ice_margin_mm: float, freeze_percent: float) -> PlanMetrics:
    return PlanMetrics(
        computed_with="test",
        inputs_sha256="0" * 64,
        lethal_isotherm_c=-40.0,
        margin_mm=5.0,
        tumor_volume_ml=1.0,
        ice_volume_ml=10.0,
        lethal_volume_ml=5.0,
        coverage=(
            IsothermCoverage(0.0, 100.0, 100.0),
            IsothermCoverage(-20.0, freeze_percent, 90.0),
            IsothermCoverage(-40.0, 90.0, 80.0),
        ),
        margin=AblativeMargin(1.0, 1.0, (0.0, 0.0, 0.0)),
        oars=(),
        probe_count=1,
        total_freeze_s=1200.0,
        min_tip_spacing_mm=None,
        visible_ice=VisibleIce(6.0, 100.0, AblativeMargin(ice_margin_mm, ice_margin_mm, (0, 0, 0))),
    )


def test_goal_checks_state_the_visible_ice_edge_and_the_tumor_freeze():
    settings = PlanSettings(goal="visible-ice")
    lines = check_lines(accept_plan(_visible_ice_metrics(4.5, 100.0), settings))
    assert "FAIL: 0 °C ice edge beyond the tumor: 4.5 mm (goal ≥ 6 mm everywhere)" in lines
    assert "PASS: Tumor covered by -20 °C: 100.0 % (goal ≥ 99 %)" in lines
    lines = check_lines(accept_plan(_visible_ice_metrics(7.0, 80.0), settings))
    assert any(line.startswith("PASS: 0 °C ice edge") for line in lines)
    assert any(line.startswith("FAIL: Tumor covered by -20 °C") for line in lines)


def test_summary_rows_state_goal_insertion_order_and_protection():
    probe = PlannedProbe("argon-2.4", (0.0, 0.0, 0.0), (0.0, -100.0, 0.0), label="P1")
    layer = HydrodissectionLayer((10.0, 0.0, 0.0), (1.0, 0.0, 0.0), 10.0, 25.0)
    plan = Plan(
        probes=(probe, dataclasses.replace(probe, label="P2")),
        settings=PlanSettings(goal="visible-ice"),
        protection=(PlannedProtection("colon", layer),),
    )
    rows = dict(summary_rows(plan, None, insertion_order=("P2", "P1")))
    assert rows["Goal"].startswith("visible ice: 0 °C edge ≥ 6 mm beyond the tumor")
    assert rows["Insertion order"] == "P2 → P1"
    assert "colon" in rows["Organ protection"] and "mm" in rows["Organ protection"]
    assert rows["Patient position / approach"] == "not recorded (plan position HFS)"
    rows = dict(summary_rows(Plan(), None))
    assert rows["Goal"].startswith("lethal margin: ≤ -40 °C over the tumor + 5 mm")
    assert rows["Organ protection"] == "none" and rows["Insertion order"] == "—"


def _recorded_approach() -> PlanApproach:
    """An approach as the optimizer records it: 30 of 120 candidate entries refused."""
    return PlanApproach(
        PositionReading("HFS", "header", "HFS"),
        table_down_lps=(0.0, 1.0, 0.0),
        table_source="image",
        candidate_entries=120,
        refused_entries={"entry on the side the patient lies on": 30},
        refused_total=30,
    )


def test_the_optimizer_refused_entries_show_in_probes_note_and_summary(window, qtbot):
    document, panel = window.session.document, window.panels["probes"]
    assert "candidate entries" not in panel.approach_note.text()
    document.set_plan(dataclasses.replace(Plan(), approach=_recorded_approach()), text="Plan")
    expected = (
        "the approach rules refused 30 of the 120 candidate entries the path checks allow "
        "(30 entry on the side the patient lies on)"
    )
    assert f"Optimizer: {expected}." in panel.approach_note.text()
    rows = dict(summary_rows(document.plan, None))
    assert rows["Patient position / approach"] == (
        "patient position HFS (from the image header); table on the patient's back (image); "
        + expected
    )


def test_protection_box_adds_resizes_and_removes_hydrodissection(window, qtbot):
    document = window.session.document
    box = window.panels["probes"].protection
    organs = [box.organ_choice.itemData(i) for i in range(box.organ_choice.count())]
    assert "colon" in organs and "body" not in organs
    box.organ_choice.setCurrentIndex(box.organ_choice.findData("colon"))
    box.thickness_box.setValue(8.0)
    QTest.mouseClick(box.add_button, Qt.MouseButton.LeftButton)
    (item,) = document.plan.protection
    assert item.structure == "colon" and item.measure.thickness_mm == 8.0
    assert box.measures.count() == 1 and "for the colon" in box.measures.item(0).text()
    box.measures.setCurrentRow(0)
    box.thickness_box.setValue(12.0)
    box.thickness_box.editingFinished.emit()
    assert document.plan.protection[0].measure.thickness_mm == 12.0
    QTest.mouseClick(box.remove_button, Qt.MouseButton.LeftButton)
    assert document.plan.protection == () and box.measures.count() == 0
    document.history.undo()
    assert box.measures.count() == 1 and box.thickness_box.value() == 12.0
    box.thickness_box.setValue(40.0)  # beyond the range: the box keeps its maximum
    assert box.thickness_box.value() == 25.0
    wait_idle(qtbot, window)
