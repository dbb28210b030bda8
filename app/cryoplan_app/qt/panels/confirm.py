"""Confirm panel: the open plan against a CT taken during the freeze or after the ablation.

The user picks the stage and the follow-up series (and, during the freeze,
the elapsed time); the work runs in the application's logic
(:class:`~cryoplan_app.logic.confirm.ConfirmLogic`) with a progress bar and
Cancel. The result is shown as tables: the registration and its verdict; per
detected probe its plan probe and errors with the visible against predicted
ice and the recommendation with each option's predicted margin; or, after the
ablation, the minimal ablative margin, shell coverage, category and the plan
against the result. "Save confirmation PDF…" writes the command line's report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PyQt6.QtCore import Qt, QTime, QTimer
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from cryoplan_app.logic.confirm import (
    ELAPSED_FIELD,
    FREEZE_START_FIELD,
    SERIES_FIELD,
    ConfirmStage,
    IntraRun,
    PostRun,
)
from cryoplan_app.logic.runner import TaskHandle
from cryoplan_app.model.planes import SLICE_VIEWS
from cryoplan_app.qt.context import AppContext
from cryoplan_app.qt.panels.widgets import compact_combo, format_lps, group, note, number_box
from cryoplan_app.qt.tasks import Task
from cryoplan_app.render.confirm_overlay import ConfirmSliceLayer
from planning_core.confirm.as_placed import Outcome
from planning_core.confirm.intra import IntraConfirmation
from planning_core.confirm.margin_evidence import REQUIRED_MARGIN_MM
from planning_core.confirm.post import PostConfirmation
from planning_core.confirm.registration import Registration
from planning_core.errors import PlanningError

#: The stages as the panel offers them.
STAGE_TITLES: dict[ConfirmStage, str] = {
    "intra": "During the freeze (intra-procedural CT)",
    "post": "After the ablation (post-ablation CT)",
}
NOT_ASSESSED = "not assessed"
#: Verdicts of the registration's quality, in words.
VERDICT_WORDS = {"ok": "acceptable", "warning": "check it (warning)", "refused": "refused"}
#: Option kinds of the recommendation, in words.
OPTION_WORDS = {
    "proceed": "Proceed as planned",
    "extend": "Extend the freeze",
    "add_probe": "Add a probe",
}
#: The row of the post-ablation table that leads to the thinnest margin.
THINNEST_ROW = "Thinnest margin at"
#: The widest an elapsed freeze may be entered (min); the plan's protocol bounds it further.
MAX_ELAPSED_MIN = 120.0

Rows = list[tuple[str, ...]]


def _mm(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return NOT_ASSESSED
    return f"{value:+.1f} mm" if signed else f"{value:.1f} mm"


def registration_rows(registration: Registration) -> Rows:
    """Method, verdict and the quality figures of a registration."""
    quality = registration.quality
    rows = [
        ("Registration", registration.method),
        ("Quality", VERDICT_WORDS.get(quality.verdict, quality.verdict)),
        ("", quality.message),
    ]
    if quality.surface_distance_mm is not None:
        rows.append(("Organ surface distance", f"{_mm(quality.surface_distance_mm)} (mean)"))
    if quality.tre_mm is not None:
        rows.append(("Landmark error (TRE)", _mm(quality.tre_mm)))
    return rows


def probe_rows(result: IntraConfirmation) -> Rows:
    """Per detected probe: its plan probe, tip, angle and depth errors; then probes not found."""
    rows: Rows = []
    for number, report in enumerate(result.placed, start=1):
        if report.matched_plan_probe is None:
            rows.append((f"Shaft {number}", "matches no plan probe", "—", "—", "—"))
            continue
        angle = report.angle_error_deg
        rows.append(
            (
                f"Shaft {number}",
                report.plan_label or f"probe {report.matched_plan_probe + 1}",
                _mm(report.tip_error_mm),
                NOT_ASSESSED if angle is None else f"{angle:.1f}°",
                _mm(report.depth_error_mm, signed=True),
            )
        )
    rows.extend(("—", f"{label}: not found", "—", "—", "—") for label in result.missing)
    return rows


def ice_rows(result: IntraConfirmation) -> Rows:
    """Elapsed freeze, visible against predicted ice."""
    ice, comparison = result.visible_ice, result.ice_comparison
    rows = [
        ("Elapsed freeze", f"{result.elapsed_s / 60.0:.1f} min of {result.as_placed.protocol}"),
        ("Visible ice (0 °C edge)", f"{ice.volume_ml:.1f} ml"),
    ]
    if comparison is None:
        rows.append(("Against the prediction", f"{NOT_ASSESSED}: {ice.note or 'no ice predicted'}"))
        return rows
    rows += [
        ("Predicted 0 °C ice now", f"{comparison.predicted_volume_ml:.1f} ml"),
        (
            "Visible edge vs predicted",
            f"{_mm(comparison.mean_signed_mm, signed=True)} mean (+: beyond the prediction)",
        ),
        ("", f"95 % within {_mm(comparison.p95_abs_mm)}"),
    ]
    return rows


def _outcome_text(outcome: Outcome) -> str:
    if outcome.minimal_margin_mm is None:
        margin = f"no {outcome.isotherm_c:g} °C zone"
    else:
        margin = f"minimal margin {outcome.minimal_margin_mm:+.1f} mm at {outcome.isotherm_c:g} °C"
    goal = "goal met" if outcome.meets_goal else "goal not met"
    return f"{margin}; tumor + margin {outcome.zone_covered_percent:.0f} % covered; {goal}"


def option_rows(result: IntraConfirmation) -> Rows:
    """Each option assessed (the recommended one marked ▶) with what it is predicted to reach."""
    chosen = result.recommendation.chosen
    rows: Rows = []
    for option in result.recommendation.options:
        title = OPTION_WORDS.get(option.kind, option.kind)
        if option.kind == "extend" and option.extend_min is not None:
            title = f"Extend the freeze by {option.extend_min:g} min"
        if option.kind == "add_probe" and option.added_probe is not None:
            title = f"Add probe {option.added_probe.label}".rstrip()
        if option is chosen:
            title = f"▶ {title}"
        rows.append((title, _outcome_text(option.outcome)))
        if option.path_problems:
            rows.append(("", f"its path fails: {'; '.join(option.path_problems)}"))
    return rows


def post_rows(result: PostConfirmation) -> Rows:
    """Margin, shell coverage, category, zone, and the plan against the result."""
    margin = result.margin
    counted = margin.counted_margin_mm
    estimated = " (estimated inside the tumor)"
    rows = [
        (
            "Minimal ablative margin",
            _mm(result.minimal_margin_mm, signed=True)
            + (estimated if result.zone.edge_estimated else ""),
        ),
        ("Category", margin.category.value.replace(">=", "≥")),
        (
            "Reference",
            f"≥ {REQUIRED_MARGIN_MM:g} mm: no local progression seen after heat-based ablation "
            "of colorectal liver metastases; not known for cryoablation (sources in the PDF)",
        ),
        (f"{margin.shell_mm:g}-mm shell covered", f"{margin.shell_coverage_percent:.1f} %"),
        ("Ablation zone", f"{margin.zone_volume_ml:.1f} ml ({result.zone_source})"),
        (
            "Tumor",
            f"{margin.tumor_volume_ml:.1f} ml, "
            f"{margin.tumor_outside_zone_ml:.2f} ml outside the zone",
        ),
    ]
    if counted is not None and counted != margin.minimal_margin_mm:
        rows.append(("Without exemptions", _mm(margin.minimal_margin_mm, signed=True)))
    if margin.thinnest_location_lps_mm is not None:
        rows.append((THINNEST_ROW, f"{format_lps(margin.thinnest_location_lps_mm)} mm LPS"))
    for record in margin.exemptions:
        rows.append(("Exempted", record.statement))
    versus = result.plan_vs_result
    if versus is None:
        rows.append(("Plan against result", f"{NOT_ASSESSED}: no predicted field"))
    else:
        rows += [
            (
                f"Predicted {versus.lethal_isotherm_c:g} °C zone",
                f"{versus.predicted_volume_ml:.1f} ml",
            ),
            ("Dice, predicted vs actual", f"{versus.dice:.2f}"),
            ("Mean surface distance", _mm(versus.mean_surface_distance_mm)),
        ]
    return rows


def _table(columns: Sequence[str]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setWordWrap(True)
    table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    if len(columns) > 1:  # row titles fit their text; the values wrap
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    header.setVisible(any(columns))
    # Wrapped rows grow when the columns narrow: refit the height each time.
    header.sectionResized.connect(lambda *_args: _fit_height(table))
    return table


def _fill(table: QTableWidget, rows: Rows, *, bold: bool = False) -> None:
    table.setRowCount(len(rows))
    for row, texts in enumerate(rows):
        for column, text in enumerate(texts):
            item = QTableWidgetItem(text)
            if bold:  # the item's font, so that the row height is measured in it
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            if column == 0 and table.columnCount() > 1:
                item.setForeground(Qt.GlobalColor.darkGray)
            table.setItem(row, column, item)
    _fit_height(table)


def _fit_height(table: QTableWidget) -> None:
    table.resizeRowsToContents()
    header = table.horizontalHeader()
    # isHidden, not isVisible: a table filled while its box is hidden keeps its header.
    height = (0 if header.isHidden() else header.height()) + 2 * table.frameWidth()
    height += sum(table.rowHeight(row) for row in range(table.rowCount()))
    table.setFixedHeight(height)


def table_texts(table: QTableWidget) -> list[list[str]]:
    """What ``table`` shows, row by row (for tests and screenshots' checks)."""
    return [
        [table.item(row, column).text() for column in range(table.columnCount())]
        for row in range(table.rowCount())
    ]


class ConfirmPanel(QWidget):
    """See the module docstring."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.session = context.session
        self.confirm = context.logic.confirm

        self.stage_choice = compact_combo()
        for stage, title in STAGE_TITLES.items():
            self.stage_choice.addItem(title, stage)
        self.stage_choice.currentIndexChanged.connect(lambda _index: self._show_inputs())
        self.series_edit = QLineEdit()
        self.series_edit.setPlaceholderText("DICOM folder or volume file")
        self.series_button = QPushButton("Choose…")
        self.series_button.clicked.connect(self.choose_series)
        series_row = QHBoxLayout()
        series_row.addWidget(self.series_edit, 1)
        series_row.addWidget(self.series_button)
        self.minutes_choice = QRadioButton(ELAPSED_FIELD)
        self.minutes_choice.setChecked(True)
        self.minutes_box = number_box(
            minimum=0.0, maximum=MAX_ELAPSED_MIN, value=0.0, unit="min", step=0.5,
            tooltip="Minutes since the protocol started when the CT was taken.",
        )  # fmt: skip
        self.minutes_box.setSpecialValueText("not given")
        self.start_choice = QRadioButton(FREEZE_START_FIELD)
        self.start_choice.setToolTip(
            "The clock time the protocol started; the series' acquisition time is read from "
            "its DICOM header."
        )
        self.start_edit = QTimeEdit(QTime(0, 0))
        self.start_edit.setDisplayFormat("HH:mm:ss")
        for widget in (self.minutes_choice, self.start_choice):
            widget.toggled.connect(lambda _on: self._show_inputs())
        self.rigid_check = QCheckBox("Rigid registration only")
        self.rigid_check.setToolTip(
            "Leave out the deformable stage that follows the organ's breathing motion "
            "(faster; less exact when the organ moved)."
        )
        form = QFormLayout()
        form.addRow("CT taken", self.stage_choice)
        form.addRow(SERIES_FIELD, series_row)
        form.addRow(self.minutes_choice, self.minutes_box)
        form.addRow(self.start_choice, self.start_edit)
        form.addRow(self.rigid_check)
        inputs = QWidget()
        inputs.setLayout(form)

        self.run_button = QPushButton("Confirm")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.confirm.cancel)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button, 1)
        run_row.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress_note = note()

        self.registration_table = _table(("", ""))
        self.probe_table = _table(("Detected", "Plan probe", "Tip error", "Angle", "Depth"))
        self.probe_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.ice_table = _table(("", ""))
        self.recommendation_table = _table(("",))
        self.option_table = _table(("Option", "Predicted at the end of the protocol"))
        self.post_table = _table(("", ""))
        self.probe_table.setToolTip("Click a shaft to move the crosshair to its detected tip.")
        self.probe_table.cellClicked.connect(lambda row, _column: self._probe_clicked(row))
        self.post_table.setToolTip(
            "Click 'Thinnest margin at' to move the crosshair to the thinnest margin."
        )
        self.post_table.cellClicked.connect(lambda row, _column: self._post_clicked(row))
        self.warnings_table = _table(("",))
        self.overlay_check = QCheckBox("Show on the views")
        self.overlay_check.setChecked(True)
        self.overlay_check.toggled.connect(lambda _on: self._show_overlays())
        self.overlay_legend = note()
        self.pdf_button = QPushButton("Save confirmation PDF…")
        self.pdf_button.clicked.connect(self.choose_pdf_file)
        self.edit_placed_button = QPushButton("Edit probes as placed")
        self.edit_placed_button.setToolTip(
            "Make the probes found on this CT the plan (undo restores it), to correct a "
            "detection by dragging its tip or entry; the metrics follow."
        )
        self.edit_placed_button.clicked.connect(self.edit_as_placed)
        self.probe_box = group(
            "Placed probes against the plan (planning frame)",
            self.probe_table,
            self.edit_placed_button,
        )
        self.ice_box = group("Visible against predicted ice", self.ice_table)
        self.recommendation_box = group(
            "Recommendation", self.recommendation_table, self.option_table
        )
        self.post_box = group("Margin after the ablation", self.post_table)
        self.result_box = group(
            "Result",
            self.overlay_check,
            self.overlay_legend,
            self.registration_table,
            self.probe_box,
            self.ice_box,
            self.recommendation_box,
            self.post_box,
            self.warnings_table,
            self.pdf_button,
        )

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(group("Follow-up CT", inputs))
        layout.addLayout(run_row)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_note)
        layout.addWidget(self.result_box)
        layout.addStretch(1)

        self.session.case_changed.connect(lambda _case: self._show_running())
        self.session.view.crosshair_changed.connect(self._follow_plane)
        self.layers: dict[str, ConfirmSliceLayer] = {}
        self.confirm.changed.connect(self._confirm_changed)
        self.confirm.failed.connect(self.context.errors.show_error)
        context.runner.task_progressed.connect(self._task_progressed)
        self._show_inputs()
        self._confirm_changed()

    # -- inputs -----------------------------------------------------------------------------
    @property
    def stage(self) -> ConfirmStage:
        return self.stage_choice.currentData()

    def set_stage(self, stage: ConfirmStage) -> None:
        self.stage_choice.setCurrentIndex(self.stage_choice.findData(stage))

    def _show_inputs(self) -> None:
        intra = self.stage == "intra"
        for widget in (self.minutes_choice, self.start_choice):
            widget.setEnabled(intra)
        self.minutes_box.setEnabled(intra and self.minutes_choice.isChecked())
        self.start_edit.setEnabled(intra and self.start_choice.isChecked())

    def choose_series(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self.context.dialog_parent, f"Choose the {STAGE_TITLES[self.stage]} folder"
        )
        if folder:
            self.series_edit.setText(folder)

    # -- running ----------------------------------------------------------------------------
    def run(self) -> TaskHandle | None:
        """Confirm the open plan on the chosen series (errors go to the error dialog)."""
        elapsed_min = freeze_start = None
        if self.stage == "intra":
            if self.minutes_choice.isChecked():
                minutes = self.minutes_box.value()
                elapsed_min = minutes if minutes > 0 else None  # "not given"
            else:
                freeze_start = self.start_edit.time().toString("HH:mm:ss")
        try:
            return self.confirm.run(
                self.stage,
                self.series_edit.text().strip(),
                elapsed_min=elapsed_min,
                freeze_start=freeze_start,
                deformable=not self.rigid_check.isChecked(),
            )
        except PlanningError as error:
            self.context.errors.show_error(error)
            return None

    def _confirm_changed(self) -> None:
        self.progress_note.setText(self.confirm.note)
        self._show_running()
        self._show_result()

    def edit_as_placed(self) -> None:
        try:
            self.confirm.edit_as_placed()
        except PlanningError as error:
            self.context.errors.show_error(error)

    def _show_running(self) -> None:
        running = self.confirm.running
        self.run_button.setEnabled(not running and self.session.case is not None)
        self.edit_placed_button.setEnabled(self.confirm.can_edit_as_placed)
        self.cancel_button.setEnabled(running)
        if running and self.progress.isHidden():
            self.progress.setValue(0)
        self.progress.setVisible(running)

    def _task_progressed(self, task: Task) -> None:
        if task is self.confirm.task:
            self.progress.setValue(round(1000 * task.fraction))
            self.progress_note.setText(task.message)

    # -- the result -------------------------------------------------------------------------
    def _show_result(self) -> None:
        kept = self.confirm.result
        self.result_box.setVisible(kept is not None)
        if kept is None:
            self._show_overlays()
            return
        intra = isinstance(kept, IntraRun)
        for box in (self.probe_box, self.ice_box, self.recommendation_box):
            box.setVisible(intra)
        self.post_box.setVisible(not intra)
        series = (
            ("Series", "/".join(kept.series_path.parts[-2:])),
            ("CT taken", STAGE_TITLES["intra" if intra else "post"]),
        )
        _fill(self.registration_table, [*series, *registration_rows(kept.result.registration)])
        if isinstance(kept, IntraRun):
            result = kept.result
            _fill(self.probe_table, probe_rows(result))
            _fill(self.ice_table, ice_rows(result))
            _fill(self.recommendation_table, [(result.recommendation.text,)], bold=True)
            _fill(self.option_table, option_rows(result))
        elif isinstance(kept, PostRun):
            _fill(self.post_table, post_rows(kept.result))
        warnings = kept.result.warnings
        _fill(self.warnings_table, [(f"⚠ {w}",) for w in warnings])
        self.warnings_table.setVisible(bool(warnings))
        self.overlay_legend.setText(
            "On the views, in orange: the probes as placed (lines) and the visible ice edge "
            "(dots), registered to the planning CT; the isotherm lines stay the plan's, at "
            "the end of its protocol."
            if intra
            else "On the views, in orange: the ablation zone, registered to the planning CT; "
            "the isotherm lines stay the plan's prediction."
        )
        self._show_overlays()
        # The boxes shown and hidden above change the panel's height after this call
        # returns; lay it out again once they have.
        QTimer.singleShot(0, self._relayout)

    def _relayout(self) -> None:
        self.layout().invalidate()
        self.layout().activate()

    # -- the views ---------------------------------------------------------------------------
    def _show_overlays(self) -> None:
        """Draw the kept result over the 2-D views (placed probes, ice edge, zone), or hide it."""
        kept, case = self.confirm.result, self.session.case
        shown = kept is not None and case is not None and self.overlay_check.isChecked()
        for view in SLICE_VIEWS:
            layer = self.layers.get(view)
            if not shown:
                if layer is not None:
                    layer.hide()
                continue
            if layer is None:
                frame = self.session.view.frame(view)
                layer = self.layers[view] = ConfirmSliceLayer(
                    self.context.views[view].scene.renderer,
                    view_direction_lps=frame.view_direction_lps,
                    normal_axis=frame.normal_axis,
                )
            plane = self.session.view.crosshair_lps
            if isinstance(kept, IntraRun):
                shafts = [(r.tip_lps_mm, r.entry_lps_mm) for r in kept.result.placed]
                layer.show(
                    case.volume.geometry, shafts=shafts, ice_edge_lps=kept.ice_edge_lps_mm,
                    plane_lps=plane,
                )  # fmt: skip
            elif isinstance(kept, PostRun):
                layer.show(case.volume.geometry, zone=kept.result.zone.mask, plane_lps=plane)
        for view in SLICE_VIEWS:
            self.context.views[view].request_render()

    def _follow_plane(self, lps: object) -> None:
        for view, layer in self.layers.items():
            if layer.shown:
                layer.show_plane(np.asarray(lps, dtype=np.float64))
                self.context.views[view].request_render()

    def _probe_clicked(self, row: int) -> None:
        kept = self.confirm.result
        if isinstance(kept, IntraRun) and row < len(kept.result.placed):
            self.session.view.set_crosshair(kept.result.placed[row].tip_lps_mm)

    def _post_clicked(self, row: int) -> None:
        kept = self.confirm.result
        item = self.post_table.item(row, 0)
        if not isinstance(kept, PostRun) or item is None or item.text() != THINNEST_ROW:
            return
        location = kept.result.margin.thinnest_location_lps_mm
        if location is not None:
            self.session.view.set_crosshair(location)

    # -- the report -------------------------------------------------------------------------
    def choose_pdf_file(self) -> None:
        suggested = ""
        if self.session.document.path is not None:
            suggested = str(self.session.document.path.with_suffix("")) + ".confirmation.pdf"
        path, _ = QFileDialog.getSaveFileName(
            self.context.dialog_parent, "Save confirmation PDF", suggested, "PDF (*.pdf)"
        )
        if path:
            self.save_pdf(path)

    def save_pdf(self, path: str | Path) -> TaskHandle | None:
        """Write the confirmation report to ``path`` in a worker; the status bar says when."""
        try:
            return self.confirm.save_pdf(
                path,
                on_done=lambda written: self.context.status_bar.showMessage(
                    f"Confirmation report saved to {written}", 6000
                ),
            )
        except PlanningError as error:
            self.context.errors.show_error(error)
            return None
