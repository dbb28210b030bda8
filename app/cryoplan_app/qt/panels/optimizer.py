"""Optimizer panel: the plan settings, a cancellable optimizer run, its proposal, accept or compare.

The settings form is built from :data:`~planning_core.planning.settings.SETTING_RANGES`
(bounds, units and meaning come from there) and edits the session plan's
settings, one undo step per change. The optimizer runs in the application's
logic (:class:`~cryoplan_app.logic.optimizer.OptimizerLogic`), shown here with a
progress bar and Cancel; its proposal replaces the plan only on Accept (one
undo step), and Compare puts the current and proposed numbers side by side.
"""

from __future__ import annotations

from dataclasses import replace

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cryoplan_app.logic.optimizer import Proposal
from cryoplan_app.logic.runner import TaskHandle
from cryoplan_app.qt.context import AppContext
from cryoplan_app.qt.panels.probes import add_probe_models
from cryoplan_app.qt.panels.summary import summary_rows
from cryoplan_app.qt.panels.widgets import (
    after_drag,
    compact_combo,
    group,
    note,
    number_box,
    range_box,
)
from cryoplan_app.qt.tasks import Task
from planning_core.errors import PlanningError
from planning_core.planning.acceptance import Acceptance
from planning_core.planning.organ_sites import ORGAN_SITES
from planning_core.planning.results import PlanMetrics
from planning_core.planning.settings import (
    SETTING_RANGES,
    TABLE_DIRECTION_LPS,
    PlanGoal,
    PlanSettings,
)

#: Settings in the form, in the order a radiologist thinks of them, with their row titles.
SETTING_ROWS = (
    ("margin_mm", "Safety margin"),
    ("lethal_isotherm_c", "Lethal isotherm"),
    ("coverage_goal_percent", "Coverage goal"),
    ("ice_margin_mm", "Ice margin"),
    ("max_probes", "Max probes"),
    ("max_total_freeze_s", "Max total freeze"),
    ("min_probe_spacing_mm", "Min tip spacing"),
    ("max_probe_spacing_mm", "Max tip spacing"),
    ("max_tip_to_tumor_edge_mm", "Max tip to tumor edge"),
    ("default_oar_clearance_mm", "Organ clearance (default)"),
    ("default_path_clearance_mm", "Path clearance (default)"),
    ("max_craniocaudal_angle_deg", "Max craniocaudal angle"),
    ("min_shaft_elevation_deg", "Min shaft elevation"),
    ("usable_length_mm", "Usable shaft length"),
)
AUTOMATIC_MODEL = "Automatic"
AUTOMATIC_SITE = "Automatic (from the labels)"
#: The patient positions the position menu offers, in words (DICOM Patient Position codes).
POSITION_WORDS = {
    "HFS": "supine, head first",
    "FFS": "supine, feet first",
    "HFP": "prone, head first",
    "FFP": "prone, feet first",
    "HFDL": "left side down, head first",
    "FFDL": "left side down, feet first",
    "HFDR": "right side down, head first",
    "FFDR": "right side down, feet first",
}
#: Robustness analysis defaults: samples and placement error (σ) per probe.
ROBUSTNESS_SAMPLES = 20
ROBUSTNESS_TIP_ERROR_MM = 3.0


def _scale(name: str) -> float:
    """Setting value per displayed unit: seconds are shown as minutes."""
    return 60.0 if SETTING_RANGES[name].unit == "s" else 1.0


def _shown_value(name: str, value: float) -> float | int:
    if SETTING_RANGES[name].integer:
        return int(value)
    return value / _scale(name)


class OptimizerPanel(QWidget):
    """See the module docstring. ``result`` is the last proposal (an ``OptimizationResult``)."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.session = context.session
        self.optimizer = context.logic.optimizer
        self._updating = False

        self.setting_boxes = {}
        form = QFormLayout()
        defaults = PlanSettings()
        self.goal_choice = compact_combo()
        for goal in PlanGoal:
            self.goal_choice.addItem(goal.value, goal)
        self.goal_choice.setToolTip(
            "lethal-margin: the lethal isotherm covers tumor + safety margin. visible-ice: the "
            "0 °C edge reaches the ice margin beyond the tumor everywhere and -20 °C covers "
            "the tumor, as practice plans it."
        )
        self.goal_choice.currentIndexChanged.connect(lambda _index: self._goal_edited())
        form.addRow("Goal", self.goal_choice)
        for name, title in SETTING_ROWS:
            declared = SETTING_RANGES[name]
            if declared.unit == "s":  # durations read as minutes at the bedside
                declared = replace(
                    declared,
                    unit="min",
                    minimum=declared.minimum / 60.0,
                    maximum=declared.maximum / 60.0,
                )
            box = range_box(declared, _shown_value(name, getattr(defaults, name)))
            box.valueChanged.connect(lambda _value, name=name: self._setting_edited(name))
            self.setting_boxes[name] = box
            form.addRow(title, box)
        self.site_choice = compact_combo()
        self.site_choice.addItem(AUTOMATIC_SITE, "")  # empty: inferred
        for site in ORGAN_SITES:
            self.site_choice.addItem(site, site)
        self.site_choice.setToolTip(
            "Organ the tumor lies in: it decides which organs at risk must be labelled "
            "(those missing are reported as not assessed). Automatic infers it from the label "
            "around the tumor."
        )
        self.site_choice.currentIndexChanged.connect(lambda _index: self._site_edited())
        form.addRow("Organ site", self.site_choice)
        self.position_choice = compact_combo()
        for code in TABLE_DIRECTION_LPS:
            self.position_choice.addItem(f"{code} ({POSITION_WORDS.get(code, code)})", code)
        self.position_choice.setToolTip(
            "How the patient lies on the CT table: entries from the table side, probes whose "
            "handle leaves the gantry bore and tilts beyond the position's limit are refused; "
            "the Probes panel shows the check and the insertion order."
        )
        self.position_choice.currentIndexChanged.connect(lambda _index: self._position_edited())
        form.addRow("Patient position", self.position_choice)
        self.model_choice = compact_combo()
        self.model_choice.addItem(AUTOMATIC_MODEL, None)
        try:
            add_probe_models(self.model_choice, self.session.document.probe_library)
        except PlanningError as error:
            self.model_choice.setToolTip(str(error))
        self.model_choice.setToolTip("Probe model the optimizer places; Automatic lets it choose.")
        form.addRow("Probe model", self.model_choice)
        self.samples_box = QSpinBox()
        self.samples_box.setRange(0, 200)
        self.samples_box.setValue(ROBUSTNESS_SAMPLES)
        self.samples_box.setSuffix(" plans")
        self.samples_box.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.samples_box.setToolTip(
            "Monte-Carlo plans with displaced probes simulated to tell how robust the plan is "
            "to placement error (0 skips it and saves time)."
        )
        self.tip_error_box = number_box(
            minimum=0.5, maximum=10.0, value=ROBUSTNESS_TIP_ERROR_MM, unit="mm", step=0.5,
            tooltip="Standard deviation of the placement error of each tip and entry.",
        )  # fmt: skip
        form.addRow("Robustness check", self.samples_box)
        form.addRow("Placement error", self.tip_error_box)
        settings_box = QWidget()
        settings_box.setLayout(form)

        self.run_button = QPushButton("Optimize plan")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress_note = note()
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button, 1)
        run_row.addWidget(self.cancel_button)

        self.summary_table = QTableWidget(0, 2)
        self.summary_table.setHorizontalHeaderLabels(("", "Proposed plan"))
        self.compare_table = QTableWidget(0, 3)
        self.compare_table.setHorizontalHeaderLabels(("", "Current plan", "Proposed plan"))
        for table in (self.summary_table, self.compare_table):
            table.verticalHeader().hide()
            table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            header = table.horizontalHeader()
            header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
            table.setWordWrap(True)
            table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            # Wrapped rows grow when the columns narrow: refit the height each time.
            header.sectionResized.connect(lambda *_args, table=table: _fit_height(table))
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumHeight(90)
        self.accept_button = QPushButton("Accept")
        self.accept_button.setToolTip("Replace the current plan by the proposal (undoable).")
        self.accept_button.clicked.connect(self.accept)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setCheckable(True)
        self.compare_button.toggled.connect(self._toggle_compare)
        result_row = QHBoxLayout()
        result_row.addWidget(self.accept_button)
        result_row.addWidget(self.compare_button)
        self.result_box = group("Proposal", self.summary_table, self.compare_table, self.log)
        self.result_box.layout().insertLayout(0, result_row)  # the decision first

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(group("Plan settings", settings_box))
        layout.addLayout(run_row)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_note)
        layout.addWidget(self.result_box)
        layout.addStretch(1)

        self.session.document.plan_changed.connect(after_drag(self.session, self._show_settings))
        self.session.case_changed.connect(lambda _case: self._show_running())
        self.session.document.results_changed.connect(lambda _results: self._show_result())
        self.optimizer.changed.connect(self._optimizer_changed)
        self.optimizer.failed.connect(self.context.errors.show_error)
        context.runner.task_progressed.connect(self._task_progressed)
        self._show_settings()
        self._optimizer_changed()

    # -- settings -------------------------------------------------------------------------
    def _show_settings(self) -> None:
        settings = self.session.document.plan.settings
        self._updating = True
        for name, box in self.setting_boxes.items():
            box.setValue(_shown_value(name, getattr(settings, name)))
        site_index = self.site_choice.findData(settings.organ_site or "")
        self.site_choice.setCurrentIndex(max(0, site_index))
        self.goal_choice.setCurrentIndex(max(0, self.goal_choice.findData(settings.goal)))
        position_index = self.position_choice.findData(settings.patient_position)
        self.position_choice.setCurrentIndex(max(0, position_index))
        self._updating = False

    def _position_edited(self) -> None:
        if self._updating:
            return
        try:
            self.session.document.set_settings(patient_position=self.position_choice.currentData())
        except PlanningError as error:
            self.context.errors.show_error(error)
            self._show_settings()

    def _goal_edited(self) -> None:
        if self._updating:
            return
        self.session.document.set_settings(goal=self.goal_choice.currentData())

    def _site_edited(self) -> None:
        if self._updating:
            return
        try:
            self.session.document.set_settings(organ_site=self.site_choice.currentData() or None)
        except PlanningError as error:
            self.context.errors.show_error(error)
            self._show_settings()

    def _setting_edited(self, name: str) -> None:
        if self._updating:
            return
        value = self.setting_boxes[name].value()
        if not SETTING_RANGES[name].integer:
            value *= _scale(name)
        try:
            self.session.document.set_settings(**{name: value})
        except PlanningError as error:
            self.context.errors.show_error(error)
            self._show_settings()

    # -- running --------------------------------------------------------------------------
    @property
    def proposal(self) -> Proposal | None:
        """The optimizer's last proposal (kept by the application's logic)."""
        return self.optimizer.proposal

    def _optimizer_changed(self) -> None:
        self.progress_note.setText(self.optimizer.note)
        self._show_running()
        self._show_result()

    def _show_running(self) -> None:
        running = self.optimizer.running
        self.run_button.setEnabled(not running and self.session.case is not None)
        self.cancel_button.setEnabled(running)
        if running and self.progress.isHidden():
            self.progress.setValue(0)
        self.progress.setVisible(running)

    def run(self) -> TaskHandle | None:
        """Start the optimizer on the open case's image and labels with the plan's settings."""
        try:
            return self.optimizer.run(
                probe_model_id=self.model_choice.currentData(),
                robustness_samples=self.samples_box.value(),
                robustness_tip_error_mm=self.tip_error_box.value(),
            )
        except PlanningError as error:
            self.context.errors.show_error(error)
            return None

    def cancel(self) -> None:
        self.optimizer.cancel()

    def _task_progressed(self, task: Task) -> None:
        if task is self.optimizer.task:
            self.progress.setValue(round(1000 * task.fraction))
            self.progress_note.setText(task.message)

    # -- the proposal ---------------------------------------------------------------------
    def _show_result(self) -> None:
        proposal = self.proposal
        self.result_box.setVisible(proposal is not None)
        if proposal is None:
            return
        title = "Closest plan (goals not met)" if proposal.shortfall else "Proposal"
        self.result_box.setTitle(title)
        plan = proposal.plan
        # The proposal carries the optimizer's verdict exactly while its metrics are fresh.
        metrics = None if proposal.acceptance is None else plan.metrics
        approach = self.context.logic.approach
        rows = summary_rows(
            plan,
            metrics,
            acceptance=proposal.acceptance,
            insertion_order=approach.insertion_labels(plan),
        )
        rows.append(("Runtime", f"{proposal.runtime_s:.1f} s"))
        _fill(self.summary_table, rows)
        current_metrics, current_acceptance = self._current_evaluation()
        current = summary_rows(
            self.session.document.plan,
            current_metrics,
            acceptance=current_acceptance,
            insertion_order=approach.insertion_labels(),
        )
        current_values = dict(current)
        _fill(self.compare_table, [(k, current_values.get(k, "—"), v) for k, v in rows])
        self.log.setPlainText("\n".join(proposal.log))
        self.compare_table.setVisible(self.compare_button.isChecked())
        self.summary_table.setVisible(not self.compare_button.isChecked())
        for table in (self.summary_table, self.compare_table):
            _fit_height(table)
        self.accept_button.setEnabled(self.optimizer.acceptable)
        if not self.optimizer.acceptable:
            self.progress_note.setText("The labels changed since this proposal: run again.")

    def _current_evaluation(self) -> tuple[PlanMetrics | None, Acceptance | None]:
        """Metrics of the current plan, when fresh, and their plan checks (by the logic)."""
        document = self.session.document
        results = document.results
        plan = document.plan
        if results is not None and document.results_fresh:
            metrics = results.metrics
        else:
            metrics = None if plan.metrics_stale() else plan.metrics
        if metrics is None:
            return None, None
        return metrics, self.context.logic.evaluation.judge(metrics, plan.settings)

    def _toggle_compare(self, _checked: bool) -> None:
        self._show_result()

    def accept(self) -> None:
        """Make the proposal the plan (one undo step) and show its verified simulation."""
        self.optimizer.accept()


def _fill(table: QTableWidget, rows: list[tuple[str, ...]]) -> None:
    table.setRowCount(len(rows))
    for row, texts in enumerate(rows):
        for column, text in enumerate(texts):
            item = QTableWidgetItem(text)
            if column == 0:
                item.setForeground(Qt.GlobalColor.darkGray)
            table.setItem(row, column, item)
    _fit_height(table)


def _fit_height(table: QTableWidget) -> None:
    table.resizeRowsToContents()
    height = table.horizontalHeader().height() + 2 * table.frameWidth()
    height += sum(table.rowHeight(row) for row in range(table.rowCount()))
    table.setFixedHeight(height)
