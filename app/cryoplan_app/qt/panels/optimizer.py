"""Optimizer panel: the plan settings, a cancellable optimizer run, its proposal, accept or compare.

The settings form is built from :data:`~planning_core.planning.settings.SETTING_RANGES`
(bounds, units and meaning come from there) and edits the session plan's
settings, one undo step per change. The optimizer runs in a worker with a
progress bar and Cancel; its proposal replaces the plan only on Accept (one
undo step), and Compare puts the current and proposed numbers side by side.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

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

from cryoplan_app.model.plan_state import PlanResults, TemperatureField, inputs_key
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
from planning_core.errors import InfeasiblePlanError, PlanningError
from planning_core.imaging.labels import LabelMap
from planning_core.planning.organ_sites import ORGAN_SITES
from planning_core.planning.plan import Plan
from planning_core.planning.settings import SETTING_RANGES, PlanSettings
from planning_core.thermal.result import SimulationResult

#: Settings in the form, in the order a radiologist thinks of them, with their row titles.
SETTING_ROWS = (
    ("margin_mm", "Safety margin"),
    ("lethal_isotherm_c", "Lethal isotherm"),
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
#: Robustness analysis defaults: samples and placement error (σ) per probe.
ROBUSTNESS_SAMPLES = 20
ROBUSTNESS_TIP_ERROR_MM = 3.0


def run_optimizer(volume, label_map, *, progress, cancel, **options):
    """:func:`planning_core.planning.optimizer.optimize_plan` (a seam tests can replace).

    ``options`` are its keywords: settings, probe_model, probe_library,
    target_label, robustness_samples, robustness_tip_error_mm.
    """
    from planning_core.planning.optimizer import optimize_plan

    return optimize_plan(volume, label_map, progress=progress, cancel=cancel, **options)


def _scale(name: str) -> float:
    """Setting value per displayed unit: seconds are shown as minutes."""
    return 60.0 if SETTING_RANGES[name].unit == "s" else 1.0


def _shown_value(name: str, value: float) -> float | int:
    if SETTING_RANGES[name].integer:
        return int(value)
    return value / _scale(name)


class OptimizerPanel(QWidget):
    """See the module docstring. ``result`` is the last proposal (an ``OptimizationResult``)."""

    def __init__(self, window, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self.session = window.session
        self.proposal: Proposal | None = None
        self.task: Task | None = None
        self._started_s = 0.0
        self._updating = False

        self.setting_boxes = {}
        form = QFormLayout()
        defaults = PlanSettings()
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
        self.model_choice = compact_combo()
        self.model_choice.addItem(AUTOMATIC_MODEL, None)
        try:
            add_probe_models(self.model_choice, self.session.probe_library)
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

        self.session.plan_changed.connect(after_drag(self.session, self._show_settings))
        self.session.case_changed.connect(lambda _case: self._on_case())
        self.session.results_changed.connect(lambda _results: self._show_result())
        window.runner.task_progressed.connect(self._task_progressed)
        window.runner.task_finished.connect(self._task_finished)
        self._show_settings()
        self._on_case()

    # -- settings -------------------------------------------------------------------------
    def _show_settings(self) -> None:
        settings = self.session.plan.settings
        self._updating = True
        for name, box in self.setting_boxes.items():
            box.setValue(_shown_value(name, getattr(settings, name)))
        site_index = self.site_choice.findData(settings.organ_site or "")
        self.site_choice.setCurrentIndex(max(0, site_index))
        self._updating = False

    def _site_edited(self) -> None:
        if self._updating:
            return
        try:
            self.session.set_settings(organ_site=self.site_choice.currentData() or None)
        except PlanningError as error:
            self.window.errors.show_error(error)
            self._show_settings()

    def _setting_edited(self, name: str) -> None:
        if self._updating:
            return
        value = self.setting_boxes[name].value()
        if not SETTING_RANGES[name].integer:
            value *= _scale(name)
        try:
            self.session.set_settings(**{name: value})
        except PlanningError as error:
            self.window.errors.show_error(error)
            self._show_settings()

    # -- running --------------------------------------------------------------------------
    def _on_case(self) -> None:
        self.proposal = None
        self._show_result()
        self._show_running(False)

    def _show_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running and self.session.case is not None)
        self.cancel_button.setEnabled(running)
        self.progress.setVisible(running)
        if running:
            self.progress.setValue(0)

    def run(self) -> Task | None:
        """Start the optimizer on the open case's image and labels with the plan's settings."""
        case, labels = self.session.case, self.session.labels
        if case is None:
            return None
        if labels is None or not labels.has(self.session.plan.target_label):
            self.window.errors.show_error(
                PlanningError("There is no tumor label to plan for: segment the tumor first.")
            )
            return None
        volume, settings = case.volume, self.session.plan.settings
        model_id = self.model_choice.currentData()
        library = self.session.probe_library
        probe_model = None if model_id is None else library.get(model_id)
        self.progress_note.setText("Optimizing…")
        self._show_running(True)
        self._started_s = time.monotonic()
        self.task = self.window.runner.submit(
            "Optimizing the plan",
            lambda progress, cancel: run_optimizer(
                volume,
                labels,
                progress=progress,
                cancel=cancel,
                settings=settings,
                probe_model=probe_model,
                probe_library=library,
                target_label=self.session.plan.target_label,
                robustness_samples=self.samples_box.value(),
                robustness_tip_error_mm=self.tip_error_box.value(),
            ),
            on_done=lambda result: self._optimized(result, labels),
            on_error=lambda error, details: self._failed(error, details, labels),
            key="optimizer",
        )
        return self.task

    def _failed(self, error: BaseException, details: str, labels: LabelMap) -> None:
        partial = error.best_partial_plan if isinstance(error, InfeasiblePlanError) else None
        if isinstance(partial, Plan) and partial.probes:
            # Not a failure to hide: the closest plan is a starting point to adjust by hand.
            self.proposal = Proposal(
                partial, None, time.monotonic() - self._started_s, (str(error),), labels,
                shortfall=str(error),
            )  # fmt: skip
            self._show_result()
            self.progress_note.setText(
                f"No plan meets every goal: {error} The closest plan is shown below."
            )
            return
        # The dialog explains; the note keeps the reason in view after it is closed.
        self.proposal = None
        self._show_result()
        self.progress_note.setText(f"No plan: {error}" if isinstance(error, PlanningError) else "")
        self.window.errors.show_error(error, details)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.progress_note.setText("Cancelling…")

    def _task_progressed(self, task: Task) -> None:
        if task is self.task:
            self.progress.setValue(round(1000 * task.fraction))
            self.progress_note.setText(task.message)

    def _task_finished(self, task: Task) -> None:
        if task is not self.task:
            return
        self.task = None
        self._show_running(False)
        if task.token.cancelled:
            self.progress_note.setText("Cancelled; the plan is unchanged.")

    def _optimized(self, result, labels: LabelMap) -> None:
        """Show an ``OptimizationResult`` computed on ``labels`` as the proposal."""
        self.proposal = Proposal(
            result.plan, result.simulation, result.runtime_s, tuple(result.log), labels
        )
        self.progress_note.setText(f"Done in {result.runtime_s:.0f} s.")
        self._show_result()

    # -- the proposal ---------------------------------------------------------------------
    def _show_result(self) -> None:
        proposal = self.proposal
        self.result_box.setVisible(proposal is not None)
        if proposal is None:
            return
        title = "Closest plan (goals not met)" if proposal.shortfall else "Proposal"
        self.result_box.setTitle(title)
        plan = proposal.plan
        metrics = None if plan.metrics_stale() else plan.metrics
        rows = summary_rows(plan, metrics)
        rows.append(("Runtime", f"{proposal.runtime_s:.1f} s"))
        _fill(self.summary_table, rows)
        current = summary_rows(self.session.plan, self._current_metrics())
        current_values = dict(current)
        _fill(self.compare_table, [(k, current_values.get(k, "—"), v) for k, v in rows])
        self.log.setPlainText("\n".join(proposal.log))
        self.compare_table.setVisible(self.compare_button.isChecked())
        self.summary_table.setVisible(not self.compare_button.isChecked())
        for table in (self.summary_table, self.compare_table):
            _fit_height(table)
        self.accept_button.setEnabled(proposal.labels_used is self.session.labels)
        if proposal.labels_used is not self.session.labels:
            self.progress_note.setText("The labels changed since this proposal: run again.")

    def _current_metrics(self):
        """Metrics of the current plan, when fresh."""
        results = self.session.results
        if results is not None and self.session.results_fresh:
            return results.metrics
        plan = self.session.plan
        return None if plan.metrics_stale() else plan.metrics

    def _toggle_compare(self, _checked: bool) -> None:
        self._show_result()

    def accept(self) -> None:
        """Make the proposal the plan (one undo step) and show its verified simulation."""
        proposal = self.proposal
        if proposal is None or proposal.labels_used is not self.session.labels:
            return
        text = "Accept closest plan" if proposal.shortfall else "Accept optimized plan"
        self.session.set_plan(proposal.plan, text=text)
        simulation, metrics = proposal.simulation, proposal.plan.metrics
        if simulation is not None and metrics is not None:
            self.session.set_results(
                PlanResults(
                    inputs_key(self.session.plan, self.session.labels),
                    TemperatureField(simulation.min_temperature_c, simulation.geometry),
                    simulation=simulation,
                    metrics=metrics,
                )
            )


@dataclass(frozen=True, eq=False)
class Proposal:
    """What the optimizer proposes, and the label map it was computed on.

    ``simulation`` is the verification run (``None`` for the closest plan of an
    infeasible search, which the session then evaluates like any edit);
    ``shortfall`` says which goal that closest plan misses ('' for a full plan).
    """

    plan: Plan
    simulation: SimulationResult | None
    runtime_s: float
    log: tuple[str, ...]
    labels_used: LabelMap
    shortfall: str = ""


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
