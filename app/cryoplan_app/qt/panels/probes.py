"""Probes panel: the plan's probes in a table, path safety live, adding, removing, numeric edits.

Each row gives the probe's place in the suggested insertion order (deepest
first), its depth in the body (skin to tip), the craniocaudal and in-plane
angles, the path check of planning_core's
:class:`~planning_core.planning.trajectory.TrajectoryContext` (acceptable, or
the first problem, with the closest structure), the approach check (table
side, gantry bore, the position's angle limit), the model, tip and entry (LPS
mm). The checks come from the application's logic
(:class:`~cryoplan_app.logic.trajectory.TrajectoryLogic` prepares the path
context in the background and keeps each probe's report;
:class:`~cryoplan_app.logic.approach.ApproachLogic` finds the table and orders
the probes); a note under the table gives the patient position. Edits go
through the session (``add_probe_at``, ``move_probe``, ``set_probe_model``,
``remove_probe``) and are undoable. Below, the plan's organ protection
(:class:`~cryoplan_app.qt.panels.protection.ProtectionBox`): hydrodissection
added, resized or removed by hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cryoplan_app.logic.approach import ProbeApproach
from cryoplan_app.qt.context import AppContext
from cryoplan_app.qt.panels.protection import ProtectionBox
from cryoplan_app.qt.panels.widgets import compact_combo, format_lps, group, note, number_box
from planning_core.errors import PlanningError
from planning_core.planning.plan import PlannedProbe
from planning_core.planning.results import PathReport
from planning_core.planning.trajectory import probe_angles_deg
from planning_core.thermal.probes import ProbeLibrary, ProbeModel

#: Table columns, with the unit in the header.
COLUMNS = (
    "Probe",
    "Order",
    "In body (mm)",
    "CC angle (°)",
    "In-plane (°)",
    "Approach",
    "Path",
    "Model",
    "Tip LPS (mm)",
    "Entry LPS (mm)",
)
PATH_COLUMN = COLUMNS.index("Path")
ORDER_COLUMN = COLUMNS.index("Order")
APPROACH_COLUMN = COLUMNS.index("Approach")
#: Distance from a new probe's tip to its entry, straight up from the table.
NEW_PROBE_LENGTH_MM = 120.0
_OK_COLOR = QColor("#2e7d32")
_PROBLEM_COLOR = QColor("#c62828")
_LPS_AXES = ("x (R→L)", "y (A→P)", "z (I→S)")


def model_description(model: ProbeModel) -> str:
    """One line a user chooses a probe model by."""
    cryogen = model.cryogen.replace("_", " ")
    return (
        f"{model.name} — Ø {model.diameter_mm:g} mm, freezing segment "
        f"{model.active_length_mm:g} mm, {cryogen}"
    )


def add_probe_models(combo: QComboBox, library: ProbeLibrary) -> None:
    """List the library's models in ``combo`` (item data: the model id)."""
    for model in library.models.values():
        description = model_description(model)
        combo.addItem(description, model.id)
        combo.setItemData(combo.count() - 1, description, Qt.ItemDataRole.ToolTipRole)


def path_summary(report: PathReport) -> str:
    """'OK' or the first problem, with the closest checked structure."""
    closest = min(report.closest_mm.items(), key=lambda item: item[1], default=None)
    near = f"; closest {closest[0]} {closest[1]:.1f} mm" if closest else ""
    if report.acceptable:
        return f"OK{near}"
    extra = f" (+{len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
    return f"⚠ {report.problems[0]}{extra}{near}"


class ProbesPanel(QWidget):
    """See the module docstring."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.session = context.session
        self.paths = context.logic.trajectory
        self.approach = context.logic.approach
        self.reports: list[PathReport | None] = []
        self._updating = False

        self.model_choice = compact_combo()
        self.model_choice.setToolTip("Probe model of the next probe added")
        self.add_button = QPushButton("Add probe at crosshair")
        self.add_button.setToolTip(
            "A new probe with its tip at the crosshair, entering straight from above; "
            "then drag it in a view or edit its numbers below."
        )
        self.add_button.clicked.connect(self.add_probe)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button, 1)
        buttons.addWidget(self.remove_button)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumHeight(120)
        self.table.itemSelectionChanged.connect(self._row_selected)
        self.context_note = note()
        self.approach_note = note()

        self.tip_boxes = [self._coordinate_box() for _ in range(3)]
        self.entry_boxes = [self._coordinate_box() for _ in range(3)]
        self.depth_box = number_box(
            minimum=1.0, maximum=400.0, value=100.0, unit="mm",
            tooltip="Entry-to-tip distance: changing it advances or withdraws the tip "
            "along the shaft.",
        )  # fmt: skip
        self.cc_box = number_box(
            minimum=-89.0, maximum=89.0, value=0.0, unit="deg",
            tooltip="Tilt out of the axial plane, positive with the tip toward the head; "
            "the tip stays, the entry turns around it.",
        )  # fmt: skip
        self.in_plane_box = number_box(
            minimum=-180.0, maximum=180.0, value=0.0, unit="deg",
            tooltip="Angle from the vertical within the axial plane, positive with the tip "
            "toward the patient's left; the tip stays, the entry turns around it.",
        )  # fmt: skip
        for box in self.tip_boxes + self.entry_boxes:
            box.valueChanged.connect(lambda _value: self._points_edited())
        self.depth_box.valueChanged.connect(lambda _value: self._depth_edited())
        self.cc_box.valueChanged.connect(lambda _value: self._angles_edited())
        self.in_plane_box.valueChanged.connect(lambda _value: self._angles_edited())
        grid = QGridLayout()
        grid.addWidget(QLabel(""), 0, 0)
        for column, axis in enumerate(_LPS_AXES, start=1):
            grid.addWidget(QLabel(axis), 0, column, Qt.AlignmentFlag.AlignCenter)
        grid.addWidget(QLabel("Tip"), 1, 0)
        grid.addWidget(QLabel("Entry"), 2, 0)
        for column in range(3):
            grid.addWidget(self.tip_boxes[column], 1, column + 1)
            grid.addWidget(self.entry_boxes[column], 2, column + 1)
        self.probe_model_choice = compact_combo()
        self.probe_model_choice.setToolTip("Model of the selected probe")
        self.probe_model_choice.currentIndexChanged.connect(lambda _index: self._model_chosen())
        form = QFormLayout()
        form.addRow("Model", self.probe_model_choice)
        form.addRow("Entry → tip", self.depth_box)
        form.addRow("Craniocaudal angle", self.cc_box)
        form.addRow("In-plane angle", self.in_plane_box)
        self.editor = QWidget()
        editor_layout = QVBoxLayout(self.editor)
        editor_layout.setContentsMargins(0, 0, 0, 0)
        editor_layout.addLayout(grid)
        editor_layout.addLayout(form)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        add_row = QFormLayout()
        add_row.addRow("Model", self.model_choice)
        layout.addLayout(add_row)
        layout.addLayout(buttons)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.context_note)
        layout.addWidget(self.approach_note)
        layout.addWidget(group("Selected probe", self.editor))
        self.protection = ProtectionBox(context)
        layout.addWidget(group("Organ protection", self.protection))

        self.session.case_changed.connect(lambda _case: self._inputs_changed())
        self.session.document.labels_changed.connect(lambda _labels: self._inputs_changed())
        self.session.document.plan_changed.connect(lambda _plan: self._plan_changed())
        self.session.document.selected_probe_changed.connect(lambda _index: self._show_selection())
        self.paths.changed.connect(self._inputs_changed)
        self.paths.failed.connect(self.context.errors.show_error)
        self.approach.changed.connect(self._inputs_changed)
        self.approach.failed.connect(self.context.errors.show_error)
        self._fill_models()
        self._inputs_changed()

    @staticmethod
    def _coordinate_box() -> QDoubleSpinBox:
        return number_box(minimum=-2000.0, maximum=2000.0, value=0.0, unit="mm", step=1.0)

    def _fill_models(self) -> None:
        try:
            add_probe_models(self.model_choice, self.session.document.probe_library)
            add_probe_models(self.probe_model_choice, self.session.document.probe_library)
        except PlanningError as error:
            self.context_note.setText(str(error))

    # -- model -> widgets -----------------------------------------------------------------
    def _inputs_changed(self) -> None:
        """Case, labels or the path checks changed: show everything again."""
        self.add_button.setEnabled(self.session.case is not None and self.model_choice.count() > 0)
        self.context_note.setText(self.paths.note)
        self._show_approach_note()
        self._show_probes()

    def _show_approach_note(self) -> None:
        """The case's position and table side; the optimizer's refused entries when recorded."""
        lines = [self.approach.note] if self.approach.note else []
        recorded = self.session.document.plan.approach
        if recorded is not None:
            lines.append(f"Optimizer: {recorded.describe_refusals()}.")
        self.approach_note.setText(" ".join(lines))
        self.approach_note.setVisible(bool(lines))

    def _plan_changed(self) -> None:
        if not (self.session.document.dragging and self._show_dragged_probe()):
            self._show_approach_note()
            self._show_probes()

    def _show_dragged_probe(self) -> bool:
        """During a drag only the moved (selected) probe's row changes; False if more did."""
        plan = self.session.document.plan
        index = _valid_index(self.session.document.selected_probe, len(plan.probes))
        if index is None or self.table.rowCount() != len(plan.probes):
            return False
        self._updating = True
        checks = self.approach.probes(plan)
        self._show_row(
            index, plan.probes[index], plan.settings.table_direction_lps(), checks[index]
        )
        for row, check in enumerate(checks):  # the order of the others may change too
            self.table.setItem(row, ORDER_COLUMN, _order_item(check))
        self._updating = False
        self._show_selection()
        return True

    def _show_probes(self) -> None:
        plan = self.session.document.plan
        down = plan.settings.table_direction_lps()
        self.reports = [None] * len(plan.probes)
        self._updating = True
        self.table.setRowCount(len(plan.probes))
        checks = self.approach.probes(plan)
        for row, probe in enumerate(plan.probes):
            self._show_row(row, probe, down, checks[row])
        self._updating = False
        self._show_selection()

    def _show_row(
        self, row: int, probe: PlannedProbe, down: NDArray[np.float64], check: ProbeApproach
    ) -> None:
        report = self.paths.report(probe)
        self.reports[row] = report
        cc, in_plane, _ = probe_angles_deg(probe.direction_lps, down)
        depth = (
            report.length_in_body_mm
            if report is not None and report.skin_entry_lps_mm is not None
            else math.dist(probe.tip_lps_mm, probe.entry_lps_mm)
        )
        values = (
            probe.label or str(row + 1),
            "",  # the order item is made below
            f"{depth:.1f}",
            f"{float(cc):+.1f}",
            f"{float(in_plane):+.1f}",
            check.text(),
            "not checked" if report is None else path_summary(report),
            probe.model_id,
            format_lps(probe.tip_lps_mm),
            format_lps(probe.entry_lps_mm),
        )
        for column, text in enumerate(values):
            item = QTableWidgetItem(text)
            if column == COLUMNS.index("In body (mm)"):
                item.setToolTip("Shaft length from the skin to the tip")
            if column == PATH_COLUMN and report is not None:
                item.setForeground(_OK_COLOR if report.acceptable else _PROBLEM_COLOR)
                item.setToolTip(_path_details(report))
            if column == APPROACH_COLUMN:
                reasons = "\n".join(f"• {reason}" for reason in check.refusals or ())
                item.setToolTip(_APPROACH_TIP + ("\n" + reasons if reasons else ""))
                if check.refusals is not None:
                    item.setForeground(_PROBLEM_COLOR if check.refusals else _OK_COLOR)
            if column == ORDER_COLUMN:
                item = _order_item(check)
            self.table.setItem(row, column, item)

    def _show_selection(self) -> None:
        plan = self.session.document.plan
        index = _valid_index(self.session.document.selected_probe, len(plan.probes))
        self._updating = True
        if index is None:
            self.table.clearSelection()
        else:
            self.table.selectRow(index)
        self.editor.setEnabled(index is not None)
        self.remove_button.setEnabled(index is not None)
        if index is not None:
            probe = plan.probes[index]
            for box, value in zip(self.tip_boxes, probe.tip_lps_mm, strict=True):
                box.setValue(value)
            for box, value in zip(self.entry_boxes, probe.entry_lps_mm, strict=True):
                box.setValue(value)
            cc, in_plane, _ = probe_angles_deg(
                probe.direction_lps, plan.settings.table_direction_lps()
            )
            self.probe_model_choice.setCurrentIndex(
                self.probe_model_choice.findData(probe.model_id)
            )
            self.depth_box.setValue(math.dist(probe.tip_lps_mm, probe.entry_lps_mm))
            self.cc_box.setValue(float(cc))
            self.in_plane_box.setValue(float(in_plane))
        self._updating = False

    # -- widgets -> model -----------------------------------------------------------------
    def _row_selected(self) -> None:
        if self._updating:
            return
        rows = self.table.selectionModel().selectedRows()
        self.session.document.select_probe(rows[0].row() if rows else None)

    def add_probe(self) -> None:
        """Add a probe of the chosen model with its tip at the crosshair, entering from above."""
        if self.session.case is None or self.model_choice.count() == 0:
            return
        model = self.session.document.probe_library.get(self.model_choice.currentData())
        # Long enough for the freezing segment to lie wholly inside the patient.
        depth = max(NEW_PROBE_LENGTH_MM, model.tip_offset_mm + model.active_length_mm + 20.0)
        tip = self.session.view.crosshair_lps
        self._guarded(
            lambda: self.session.document.add_probe_at(tip, model_id=model.id, depth_mm=depth)
        )

    def remove_selected(self) -> None:
        index = self.session.document.selected_probe
        if index is not None:
            self._guarded(lambda: self.session.document.remove_probe(index))

    def _move(self, tip: NDArray[np.float64] | None, entry: NDArray[np.float64] | None) -> None:
        self._edit_selected(
            lambda index: self.session.document.move_probe(
                index, tip_lps_mm=tip, entry_lps_mm=entry
            )
        )

    def _points_edited(self) -> None:
        probe = self._selected_probe()
        if probe is None or self._updating:
            return
        tip = _typed(self.tip_boxes, probe.tip_lps_mm)
        entry = _typed(self.entry_boxes, probe.entry_lps_mm)
        self._move(tip, entry)

    def _selected_probe(self) -> PlannedProbe | None:
        probes = self.session.document.plan.probes
        index = _valid_index(self.session.document.selected_probe, len(probes))
        return None if index is None else probes[index]

    def _model_chosen(self) -> None:
        index = _valid_index(
            self.session.document.selected_probe, len(self.session.document.plan.probes)
        )
        model_id = self.probe_model_choice.currentData()
        if index is None or self._updating or model_id is None:
            return
        if model_id != self.session.document.plan.probes[index].model_id:
            self._guarded(lambda: self.session.document.set_probe_model(index, model_id))
            self._show_selection()

    def _depth_edited(self) -> None:
        """Advance or withdraw the tip along the shaft; the entry stays."""
        depth_mm = self.depth_box.value()
        self._edit_selected(lambda index: self.session.document.set_probe_depth(index, depth_mm))

    def _angles_edited(self) -> None:
        """Turn the shaft around the tip to the typed angles; its length stays."""
        cc_deg, in_plane_deg = self.cc_box.value(), self.in_plane_box.value()
        self._edit_selected(
            lambda index: self.session.document.set_probe_angles(
                index, craniocaudal_deg=cc_deg, in_plane_deg=in_plane_deg
            )
        )

    def _edit_selected(self, edit: Callable[[int], None]) -> None:
        """Apply ``edit`` to the selected probe; a refused edit puts the numbers back."""
        index = _valid_index(
            self.session.document.selected_probe, len(self.session.document.plan.probes)
        )
        if index is None or self._updating:
            return
        self._guarded(lambda: edit(index))
        self._show_selection()

    def _guarded(self, action) -> None:
        try:
            action()
        except PlanningError as error:
            self.context.errors.show_error(error)


def _typed(boxes: list[QDoubleSpinBox], current: tuple[float, float, float]) -> NDArray:
    """The point the boxes show, keeping the exact coordinates the user did not change.

    The boxes round to their decimals; without this, editing one coordinate
    would round the other five.
    """
    point = np.asarray(current, dtype=np.float64).copy()
    for axis, box in enumerate(boxes):
        if abs(box.value() - point[axis]) > 0.5 * 10.0 ** -box.decimals() + 1e-9:
            point[axis] = box.value()
    return point


_APPROACH_TIP = (
    "Approach rules of the patient position: no entry from the side the patient lies on, "
    "the probe handle inside the gantry bore for check scans, the position's craniocaudal "
    "limit."
)


def _order_item(check: ProbeApproach) -> QTableWidgetItem:
    """The probe's place in the suggested insertion order."""
    item = QTableWidgetItem("—" if check.order is None else str(check.order))
    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
    item.setToolTip("Suggested insertion order: the deepest probe first, then the most tilted.")
    return item


def _valid_index(index: int | None, count: int) -> int | None:
    # While a plan with fewer probes arrives, the selection may still name a removed probe.
    return index if index is not None and index < count else None


def _path_details(report: PathReport) -> str:
    lines = [
        f"Length in body {report.length_in_body_mm:.1f} mm (usable {report.usable_length_mm:g} mm)",
        f"Elevation {report.elevation_deg:.0f}°",
    ]
    lines += [f"• {problem}" for problem in report.problems]
    for name, distance in sorted(report.closest_mm.items(), key=lambda item: item[1]):
        clearance = report.clearance_mm.get(name, 0.0)
        lines.append(f"{name}: {distance:.1f} mm (clearance {clearance:g} mm)")
    if report.exempt:
        lines.append(f"Unavoidable (around the tip): {', '.join(report.exempt)}")
    if not report.hazards_assessed:
        lines.append("Gas, bone, bowel content and vessels not checked on this image")
    return "\n".join(lines)
