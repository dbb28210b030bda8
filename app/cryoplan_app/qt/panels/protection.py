"""Organ protection box of the Probes panel: the plan's hydrodissection, added and edited by hand.

A list of the plan's protective measures (the optimizer's proposals and the
user's own), an organ choice with a fluid thickness and an *Add
hydrodissection* button, the selected measure's thickness and a *Remove*
button. Every edit goes to :class:`~cryoplan_app.logic.protection.ProtectionLogic`
and is undoable; the evaluation, the drag preview and the growth replay then
simulate with the fluid in place.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cryoplan_app.logic.protection import DEFAULT_THICKNESS_MM, THICKNESS_RANGE_MM
from cryoplan_app.qt.context import AppContext
from cryoplan_app.qt.panels.widgets import compact_combo, note, number_box
from planning_core.errors import PlanningError
from planning_core.thermal.protection import HydrodissectionLayer


class ProtectionBox(QWidget):
    """See the module docstring."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.session = context.session
        self.logic = context.logic.protection
        self._updating = False

        self.measures = QListWidget()
        self.measures.setMaximumHeight(80)
        self.measures.setToolTip(
            "Protection the plan simulates: fluid held at its temperature between the tumor "
            "and the organ, which the ice does not cross."
        )
        self.measures.currentRowChanged.connect(lambda _row: self._show_selected())
        self.organ_choice = compact_combo()
        self.organ_choice.setToolTip("Organ at risk to push away from the tumor with fluid")
        low, high = THICKNESS_RANGE_MM
        self.thickness_box = number_box(
            minimum=low, maximum=high, value=DEFAULT_THICKNESS_MM, unit="mm", step=1.0,
            tooltip="Fluid thickness of a new layer, or of the selected one",
        )  # fmt: skip
        self.thickness_box.editingFinished.connect(self._thickness_edited)
        self.add_button = QPushButton("Add hydrodissection")
        self.add_button.clicked.connect(self.add)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        self.message = note()

        form = QFormLayout()
        form.addRow("Organ", self.organ_choice)
        form.addRow("Fluid thickness", self.thickness_box)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button, 1)
        buttons.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.measures)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.message)

        #: What the organ list was made for: labels, target, organ site and organs at risk.
        self._organs_for: tuple[object, ...] | None = None
        self.session.case_changed.connect(lambda _case: self._inputs_changed())
        self.session.document.labels_changed.connect(lambda _labels: self._inputs_changed())
        self.session.document.plan_changed.connect(lambda _plan: self._plan_changed())
        self.refresh()

    # -- model -> widgets -----------------------------------------------------------------
    def _inputs_changed(self) -> None:
        self._organs_for = None
        self.refresh()

    def _plan_changed(self) -> None:
        # A probe drag changes the plan many times a second and never the protection.
        if not self.session.document.dragging:
            self.refresh()

    def refresh(self) -> None:
        """Show the plan's measures and the organs that may get one."""
        self._updating = True
        document = self.session.document
        plan = document.plan
        key = (id(document.labels), plan.target_label, plan.settings.organ_site, plan.oar_labels)
        if key != self._organs_for:
            self._organs_for = key
            organ = self.organ_choice.currentData()
            self.organ_choice.clear()
            for name in self.logic.organs():
                self.organ_choice.addItem(name, name)
            if organ is not None and self.organ_choice.findData(organ) >= 0:
                self.organ_choice.setCurrentIndex(self.organ_choice.findData(organ))
        row = self.measures.currentRow()
        self.measures.clear()
        protection = self.session.document.plan.protection
        for item in protection:
            self.measures.addItem(item.describe())
        if protection:
            self.measures.setCurrentRow(min(max(row, 0), len(protection) - 1))
        self.add_button.setEnabled(self.organ_choice.count() > 0)
        self._updating = False
        self._show_selected()

    def _show_selected(self) -> None:
        selected = self._selected()
        self.remove_button.setEnabled(selected is not None)
        if self._updating or selected is None:
            return
        measure = self.session.document.plan.protection[selected].measure
        if isinstance(measure, HydrodissectionLayer):
            self._updating = True
            self.thickness_box.setValue(measure.thickness_mm)
            self._updating = False

    def _selected(self) -> int | None:
        row = self.measures.currentRow()
        return row if 0 <= row < len(self.session.document.plan.protection) else None

    # -- widgets -> logic -----------------------------------------------------------------
    def add(self) -> None:
        """Add a layer for the chosen organ with the thickness shown."""
        organ = self.organ_choice.currentData()
        if organ is None:
            return
        self._run(lambda: self.logic.add_hydrodissection(organ, thickness_mm=self.thickness))

    def remove_selected(self) -> None:
        selected = self._selected()
        if selected is not None:
            self._run(lambda: self.logic.remove(selected))

    @property
    def thickness(self) -> float:
        return float(self.thickness_box.value())

    def _thickness_edited(self) -> None:
        selected = self._selected()
        if self._updating or selected is None:
            return
        measure = self.session.document.plan.protection[selected].measure
        if isinstance(measure, HydrodissectionLayer) and measure.thickness_mm != self.thickness:
            self._run(lambda: self.logic.set_thickness(selected, self.thickness))

    def _run(self, edit: Callable[[], None]) -> None:
        try:
            edit()
        except PlanningError as error:
            self.message.setText(str(error))
        else:
            self.message.setText("")
