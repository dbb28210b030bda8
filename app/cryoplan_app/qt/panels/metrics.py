"""Metrics panel: goal checks, coverage, ablative margin, organs at risk, paths and the TVH plot.

Shows the metrics of the session's last evaluation (``session.document.results``), and
says plainly when they are out of date because the plan or the labels changed
since (they stay visible, greyed, until the new evaluation arrives). The plan's
warnings (image, segmentation, optimizer, simulation) stand on top, as in the
report's summary, then the plan's goal with each of its checks (the one rule
of :mod:`planning_core.planning.acceptance`: under visible ice the 0 °C edge
beyond the tumor and -20 °C over it) and the organ protection the plan
simulates. The panel judges and measures nothing itself: the checks come from
the evaluation logic (:meth:`cryoplan_app.logic.evaluation.EvaluationLogic.judge`),
the tumor's size from the segmentation logic
(:meth:`cryoplan_app.logic.segmentation.SegmentationLogic.tumor_size`).
"""

from __future__ import annotations

import html

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cryoplan_app.qt.context import AppContext
from cryoplan_app.qt.panels.summary import goal_text, protection_text
from cryoplan_app.qt.panels.widgets import after_drag, group, note
from planning_core.display_colors import WARNING_AMBER_HEX
from planning_core.figures import (
    format_coverage_percent,
    format_length_mm,
    format_margin_mm,
    format_volume_ml,
)
from planning_core.planning.acceptance import (
    Acceptance,
    AcceptanceCheck,
    CheckKind,
    simulated_protection,
)
from planning_core.planning.metrics import MARGIN_SHELL
from planning_core.planning.organ_sites import metrics_site
from planning_core.planning.results import PlanMetrics

_OK = QColor("#2e7d32")
_BAD = QColor("#c62828")
_UNKNOWN = QColor(WARNING_AMBER_HEX)  # no verdict could be made
_STALE_STYLE = "background: #fff3cd; color: #5c4400; padding: 4px;"
_WARNING_STYLE = (
    f"background: #fefcbf; color: #5c4400; border: 1px solid {WARNING_AMBER_HEX}; padding: 4px;"
)
COVERAGE_COLUMNS = ("Isotherm", "Tumor", "Tumor + margin")
OAR_COLUMNS = ("Organ", "Ice edge", "Needs", "Frozen", "Lethal", "")
PATH_COLUMNS = ("Probe", "In body", "CC / in-plane", "Closest", "")
_VERDICT_COLORS = {True: _OK, False: _BAD, None: _UNKNOWN}


def _table(columns: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return table


def _fill(table: QTableWidget, rows: list[tuple[list[str], QColor | None]]) -> None:
    """Put ``rows`` (texts, colour of the last cell) in ``table`` and fit its height to them."""
    table.setRowCount(len(rows))
    for row, (texts, color) in enumerate(rows):
        for column, text in enumerate(texts):
            item = QTableWidgetItem(text)
            item.setToolTip(text)  # long path problems do not fit their cell
            if column > 0:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if color is not None and column == len(texts) - 1:
                item.setForeground(color)
            table.setItem(row, column, item)
    height = table.horizontalHeader().height() + 4
    height += sum(table.rowHeight(row) for row in range(len(rows)))
    table.setFixedHeight(max(height, 40))


def coverage_rows(metrics: PlanMetrics) -> list[tuple[list[str], QColor | None]]:
    rows = []
    for entry in metrics.coverage:
        name = f"{entry.isotherm_c:g} °C"
        if entry.isotherm_c == metrics.lethal_isotherm_c:
            name += " (lethal)"
        elif entry.isotherm_c == 0.0:
            name += " (ice edge)"
        texts = [
            name,
            format_coverage_percent(entry.tumor_percent),
            format_coverage_percent(entry.tumor_and_margin_percent),
        ]
        rows.append((texts, None))
    return rows


def oar_rows(metrics: PlanMetrics) -> list[tuple[list[str], QColor | None]]:
    """One row per organ at risk and monitored structure, then one per organ not assessed."""
    # Organs the plan's site lists that the labels lack: nothing was measured for them.
    missing = [
        ([name, "not labelled", "—", "—", "—", "not assessed"], _UNKNOWN)
        for name in metrics.not_assessed
    ]
    if not metrics.oars and not missing:
        # No organ labelled: "all clear" would be a verdict nothing supports.
        return [(["none labelled", "—", "—", "—", "—", "not assessed"], _UNKNOWN)]
    rows = []
    for oar in metrics.oars:
        distance = (
            "no ice" if oar.distance_to_ice_mm is None else format_length_mm(oar.distance_to_ice_mm)
        )
        texts = [
            oar.name,
            distance,
            "—" if oar.monitored else f"{oar.clearance_mm:g} mm",
            format_volume_ml(oar.frozen_volume_ml),
            format_volume_ml(oar.lethal_volume_ml),
            "monitored" if oar.monitored else "clear" if oar.clear else "TOO CLOSE",
        ]
        # Monitored structures (heat-sink vessels, renal sinus, ...) may freeze: no verdict.
        rows.append((texts, None if oar.monitored else _OK if oar.clear else _BAD))
    return rows + missing


def check_lines(acceptance: Acceptance) -> list[str]:
    """One line per check of the plan's goal: verdict, what, measured value and goal."""
    return [
        f"{check.status}: {check.name}: {check.value} (goal {check.goal})"
        for check in acceptance.checks
    ]


def checks_html(acceptance: Acceptance) -> str:
    """:func:`check_lines` with the verdicts coloured, for a rich-text label."""
    lines = []
    for check, line in zip(acceptance.checks, check_lines(acceptance), strict=True):
        color = _VERDICT_COLORS[check.passed].name()
        verdict, rest = line.split(": ", 1)
        lines.append(f'<b style="color:{color}">{verdict}</b>: {html.escape(rest)}')
    return "<br>".join(lines)


def oar_note_text(metrics: PlanMetrics, acceptance: Acceptance) -> str:
    """The plan's organ site and the organ-at-risk verdict of the report, in one line."""
    text = acceptance.check(CheckKind.ORGANS).value
    return f"{metrics_site(metrics).sentence().capitalize()}. Organs at risk: {text}."


def path_rows(metrics: PlanMetrics, labels: list[str]) -> list[tuple[list[str], QColor | None]]:
    rows = []
    for label, path in zip(labels, metrics.paths, strict=False):
        closest = min(path.critical_closest_mm.items(), key=lambda item: item[1], default=None)
        if not path.acceptable:
            verdict, color = "; ".join(path.problems), _BAD
        elif path.assessed:
            verdict, color = "safe", _OK
        else:
            verdict, color = "not assessed: no structure labelled", _UNKNOWN
        texts = [
            label,
            format_length_mm(path.length_in_body_mm),
            f"{path.craniocaudal_angle_deg:+.0f}° / {path.in_plane_angle_deg:+.0f}°",
            "none labelled" if closest is None else f"{closest[0]} {format_length_mm(closest[1])}",
            verdict,
        ]
        rows.append((texts, color))
    return rows


def metrics_target(metrics: PlanMetrics) -> str:
    """Name of the tumor's histogram: the first one (:func:`compute_plan_metrics` order)."""
    return metrics.histograms[0].structure if metrics.histograms else ""


class TvhCanvas(FigureCanvasQTAgg):
    """Cumulative temperature-volume histograms: % of each structure at or below a temperature."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=(4.2, 2.8), dpi=100, layout="constrained")
        super().__init__(self.figure)
        self.axes = self.figure.add_subplot()
        self.setMinimumHeight(260)
        self.curves: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {}
        #: Organs at risk left out of the legend: no voxel reached 0 °C.
        self.unfrozen: list[str] = []
        self.show_metrics(None)

    def show_metrics(self, metrics: PlanMetrics | None, *, stale: bool = False) -> None:
        axes = self.axes
        axes.clear()
        self.curves, self.unfrozen = {}, []
        axes.set_xlabel("Lowest temperature reached (°C)")
        axes.set_ylabel("Volume at or below (%)")
        axes.set_ylim(0, 102)
        axes.grid(alpha=0.3)
        if metrics is None:
            axes.text(0.5, 0.5, "No evaluation yet", ha="center", va="center",
                      transform=axes.transAxes, color="grey")  # fmt: skip
            self.draw_idle()
            return
        unfrozen = self.unfrozen
        for histogram in metrics.histograms:
            temperatures = histogram.temperatures_c
            percent = tuple(100.0 * f for f in histogram.fraction_at_or_below)
            self.curves[histogram.structure] = (temperatures, percent)
            target = histogram.structure in (metrics_target(metrics), MARGIN_SHELL)
            if not target and np.interp(0.0, temperatures, percent) == 0.0:
                # An organ without ice lies flat on 0 %: named once, kept out of the legend.
                unfrozen.append(histogram.structure)
                continue
            name = "margin shell" if histogram.structure == MARGIN_SHELL else histogram.structure
            width = 2.2 if target else 1.2
            axes.plot(temperatures, percent, "-" if target else "--", linewidth=width, label=name)
        for temperature, text in ((0.0, "0 °C"), (metrics.lethal_isotherm_c, "lethal")):
            axes.axvline(temperature, color="black", linewidth=0.8, alpha=0.6)
            axes.text(temperature, 101, f" {text}", fontsize=8, va="bottom")
        axes.set_xlim(-100, 37)
        axes.invert_xaxis()  # colder to the right: the curves rise as the ice deepens
        axes.legend(fontsize=7, loc="upper right")
        if stale:
            axes.set_title("out of date", color="#8a6d00", fontsize=9)
        self.draw_idle()


class MetricsPanel(QWidget):
    """See the module docstring."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.session = context.session
        self.stale_note = note(selectable=False)
        self.stale_note.setStyleSheet(_STALE_STYLE)
        self.warnings_note = note()
        self.warnings_note.setStyleSheet(_WARNING_STYLE)
        self.summary_note = note()
        self.goal_note = note()
        self.checks_note = note()
        self.checks_note.setTextFormat(Qt.TextFormat.RichText)
        self.protection_note = note()
        self.margin_note = note()
        self.coverage_table = _table(COVERAGE_COLUMNS)
        self.coverage_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.oar_table = _table(OAR_COLUMNS)
        self.oar_note = note()
        self.path_table = _table(PATH_COLUMNS)
        self.tvh = TvhCanvas()
        self.unfrozen_note = note()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.stale_note)
        layout.addWidget(self.warnings_note)
        layout.addWidget(self.summary_note)
        layout.addWidget(group("Plan goal and checks", self.goal_note, self.checks_note))
        layout.addWidget(group("Organ protection", self.protection_note))
        layout.addWidget(group("Coverage (share of volume at or below)", self.coverage_table))
        layout.addWidget(group("Minimal ablative margin", self.margin_note))
        layout.addWidget(
            group("Organs at risk (distance from the 0 °C edge)", self.oar_note, self.oar_table)
        )
        layout.addWidget(group("Probe paths", self.path_table))
        layout.addWidget(group("Temperature-volume histogram", self.tvh, self.unfrozen_note))
        layout.addStretch(1)
        refresh = after_drag(self.session, self.refresh)
        for signal in (
            self.session.document.results_changed,
            self.session.document.plan_changed,
            self.session.document.labels_changed,
            self.session.case_changed,
        ):
            signal.connect(refresh)
        self.context.runner.task_started.connect(lambda _task: self._show_state())
        self.context.runner.task_finished.connect(lambda _task: self._show_state())
        self.refresh()

    @property
    def metrics(self) -> PlanMetrics | None:
        """The metrics shown: those of the session's last evaluation."""
        results = self.session.document.results
        return None if results is None else results.metrics

    @property
    def stale(self) -> bool:
        return self.metrics is not None and not self.session.document.results_fresh

    def _show_state(self) -> None:
        metrics = self.metrics
        if self.session.case is None:
            text = "Open a case."
        elif not self.session.document.plan.probes:
            text = "No probes yet: add probes or run the optimizer."
        elif metrics is None:
            text = "Not evaluated yet."
        elif self.stale:
            text = "Out of date: the plan or the labels changed since this evaluation."
        else:
            text = ""
        if text and self.context.runner.busy:
            text += " Computing…"
        self.stale_note.setText(text)
        self.stale_note.setVisible(bool(text))

    def refresh(self) -> None:
        """Show the session's metrics (or their absence)."""
        metrics, stale = self.metrics, self.stale
        self._show_state()
        self._show_warnings()
        for widget in (
            self.coverage_table, self.oar_table, self.path_table, self.margin_note,
            self.checks_note,
        ):  # fmt: skip
            widget.setEnabled(not stale)
        plan = self.session.document.plan
        self.goal_note.setText(f"Goal: {goal_text(plan.settings)}.")
        self.protection_note.setText(
            "None." if not plan.protection
            else f"Simulated: {protection_text(plan)}."
        )  # fmt: skip
        self.tvh.show_metrics(metrics, stale=stale)
        unfrozen = ", ".join(self.tvh.unfrozen)
        self.unfrozen_note.setText(f"No ice (0 % at 0 °C): {unfrozen}." if unfrozen else "")
        if metrics is None:
            self.summary_note.setText("")
            self.oar_note.setText("")
            self.margin_note.setText("—")
            self.checks_note.setText("Not evaluated yet.")
            for table in (self.coverage_table, self.oar_table, self.path_table):
                _fill(table, [])
            return
        spacing = (
            "" if metrics.min_tip_spacing_mm is None
            else f", tips ≥ {format_length_mm(metrics.min_tip_spacing_mm)} apart"
        )  # fmt: skip
        self.summary_note.setText(
            f"{metrics.probe_count} probe(s){spacing}; "
            f"freezing {metrics.total_freeze_s / 60:g} min. {self.tumor_text(metrics)}; "
            f"ice (0 °C) {format_volume_ml(metrics.ice_volume_ml)}, lethal "
            f"({metrics.lethal_isotherm_c:g} °C) {format_volume_ml(metrics.lethal_volume_ml)}."
        )
        # The one rule of the report, the command line and the optimizer, judged by the logic.
        acceptance = self.context.logic.evaluation.judge(
            metrics, plan.settings, protection=simulated_protection(plan, metrics)
        )
        _fill(self.coverage_table, coverage_rows(metrics))
        self.oar_note.setText(oar_note_text(metrics, acceptance))
        _fill(self.oar_table, oar_rows(metrics))
        labels = [p.label or str(i + 1) for i, p in enumerate(plan.probes)]
        labels += [str(i + 1) for i in range(len(labels), len(metrics.paths))]
        _fill(self.path_table, path_rows(metrics, labels))
        self.checks_note.setText(checks_html(acceptance))
        self.margin_note.setText(_margin_text(metrics, acceptance.find(CheckKind.MARGIN)))

    def tumor_text(self, metrics: PlanMetrics) -> str:
        """Tumor volume and largest diameter on the label's own grid, as the report gives them.

        Only without a tumor label (a plan opened without its labels) does the
        volume come from the simulation grid, which says so.
        """
        document = self.session.document
        size = self.context.logic.segmentation.tumor_size(
            document.labels, document.plan.target_label
        )
        if size is None:
            return f"Tumor {format_volume_ml(metrics.tumor_volume_ml)} (on the simulation grid)"
        return (
            f"Tumor {format_volume_ml(size.volume_ml)}, "
            f"{format_length_mm(size.max_diameter_mm)} across"
        )

    def _show_warnings(self) -> None:
        warnings = self.session.document.plan_warnings()
        lines = [f"⚠ {warning}" for warning in warnings]
        self.warnings_note.setText("\n".join([f"{len(warnings)} warning(s):", *lines]))
        self.warnings_note.setVisible(bool(warnings))


def _margin_text(metrics: PlanMetrics, check: AcceptanceCheck | None) -> str:
    margin = metrics.margin
    if margin.minimum_mm is None:
        return f"No voxel reached {metrics.lethal_isotherm_c:g} °C: no lethal zone."
    measured = (
        f"{format_margin_mm(margin.minimum_mm)} (5th percentile "
        f"{format_margin_mm(margin.percentile5_mm)})"
    )
    if check is None:  # the plan's goal is visible ice: no lethal margin is required
        text = f"{measured}; not the plan's goal (visible ice)."
    else:
        verdict = "MET" if check.passed else "NOT MET"
        text = f"{measured}; required {metrics.margin_mm:g} mm: {verdict}."
    if margin.minimum_mm < 0:
        text += " Negative: part of the tumor surface lies outside the lethal zone."
    return text
