"""The Practice panel: the case and the clock while placing, Submit / Reveal / End, and after
the assessment the score with its breakdown and the feedback sentences.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cryoplan_app.model.practice import PracticeResult, PracticeState
from cryoplan_app.qt.panels.widgets import group, note
from cryoplan_app.qt.tasks import Task
from planning_core.figures import format_score, format_volume_ml
from planning_core.training.attempts import parse_time
from planning_core.training.difficulty import proximity_text, size_text

if TYPE_CHECKING:
    from cryoplan_app.qt.practice.controller import PracticeController

_BAD = QColor("#c62828")
_STATE_TEXT = {
    PracticeState.IDLE: "No practice running. Training ▸ Start practice… picks a case.",
    PracticeState.PLACING: "Place the probes (Probes panel, or P to drag them) and choose the "
    "protocol, then submit. The reference plan stays hidden until you are scored.",
    PracticeState.ASSESSING: "Simulating your attempt on the case and scoring it…",
    PracticeState.ASSESSED: "Scored. The tumor surface left above the lethal isotherm is painted "
    "red in the views. Reveal the reference plan to compare.",
    PracticeState.REVEALED: "The reference plan is shown beside your attempt.",
}
BREAKDOWN_COLUMNS = ("Component", "Points", "Detail")


class PracticePanel(QWidget):
    """Shows ``controller``'s practice and forwards the three buttons to it.

    Whether a button is enabled is not decided here: the window binds
    ``submit_button``, ``reveal_button`` and ``end_button`` to their
    :class:`~cryoplan_app.model.mode.UserAction`.
    """

    def __init__(self, controller: PracticeController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        practice = controller.practice
        self.case_label = note()
        self.state_label = note()
        self.clock_label = QLabel()
        self.submit_button = QPushButton("Submit attempt")
        self.submit_button.setToolTip("Simulate your plan and score it (once per practice)")
        self.submit_button.clicked.connect(controller.submit)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(controller.cancel_assessment)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.reveal_button = QPushButton("Reveal reference")
        self.reveal_button.clicked.connect(controller.reveal)
        self.end_button = QPushButton("End practice")
        self.end_button.clicked.connect(lambda: controller.end(ask=True))
        buttons = QHBoxLayout()
        for button in (self.submit_button, self.reveal_button, self.end_button):
            buttons.addWidget(button)
        running = QHBoxLayout()
        running.addWidget(self.progress, 1)
        running.addWidget(self.cancel_button)

        self.score_label = QLabel()
        self.score_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.score_label.setStyleSheet("font-size: 22pt; font-weight: bold; padding: 4px;")
        self.breakdown = QTableWidget(0, len(BREAKDOWN_COLUMNS))
        self.breakdown.setHorizontalHeaderLabels(BREAKDOWN_COLUMNS)
        self.breakdown.verticalHeader().hide()
        self.breakdown.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.breakdown.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.breakdown.setWordWrap(True)
        header = self.breakdown.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.breakdown.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.feedback_label = note()
        self.feedback_label.setTextFormat(Qt.TextFormat.RichText)
        self.legend_label = note()
        self.result_box = group(
            "Your score",
            self.score_label,
            self.feedback_label,
            self.legend_label,
            self.breakdown,
        )

        layout = QVBoxLayout(self)
        layout.addWidget(group("Case", self.case_label, self.clock_label, self.state_label))
        layout.addLayout(buttons)
        layout.addLayout(running)
        layout.addWidget(self.result_box)
        layout.addStretch(1)

        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._tick)
        practice.state_changed.connect(self._on_state)
        practice.result_changed.connect(self._on_result)
        runner = controller.context.runner
        runner.task_progressed.connect(self._on_progress)
        self._on_state(practice.state)
        self._on_result(practice.result)

    # -- model -> widgets -----------------------------------------------------------------
    def _on_state(self, state: PracticeState) -> None:
        practice = self.controller.practice
        case = practice.case
        if case is None:
            self.case_label.setText("")
        else:
            tags = case.tags
            self.case_label.setText(
                f"<b>{_escape(case.title)}</b><br>Trainee: {_escape(practice.trainee or '')} · "
                f"{case.organ}, tumor {size_text(tags)}, {tags.difficulty}; nearest: "
                f"{proximity_text(tags)}"
            )
        self.state_label.setText(_STATE_TEXT[state])
        assessing = state == PracticeState.ASSESSING
        self.progress.setVisible(assessing)
        self.cancel_button.setVisible(assessing)
        if assessing:
            self.progress.setValue(0)
        if state == PracticeState.PLACING:
            self._clock.start()
        else:
            self._clock.stop()
        self._tick()

    def _tick(self) -> None:
        practice = self.controller.practice
        if practice.started_at is None:
            self.clock_label.setText("")
            return
        if practice.result is not None:
            spent = practice.result.duration_s
            self.clock_label.setText(f"Time spent: {minutes_seconds(spent)}")
            return
        start = parse_time(practice.started_at, where="practice start")
        spent = (datetime.datetime.now(datetime.UTC) - start).total_seconds()
        self.clock_label.setText(f"Time so far: {minutes_seconds(spent)}")

    def _on_progress(self, task: Task) -> None:
        if task is self.controller.assessment_task:
            self.progress.setValue(round(1000 * task.fraction))
            self.progress.setFormat(task.message or "%p %")

    def _on_result(self, result: PracticeResult | None) -> None:
        self.result_box.setVisible(result is not None)
        if result is None:
            return
        score = result.assessment.score
        self.score_label.setText(f"{format_score(score.total)} / 100")
        items = [(item, False) for item in score.components]
        items += [(item, True) for item in score.penalties]
        self.breakdown.setRowCount(len(items))
        for row, (item, penalty) in enumerate(items):
            points = f"{item.points:.1f}" if penalty else f"{item.points:.1f} / {item.max_points:g}"
            for column, text in enumerate((item.name, points, item.detail)):
                cell = QTableWidgetItem(text)
                cell.setToolTip(text)
                if penalty:
                    cell.setForeground(_BAD)
                self.breakdown.setItem(row, column, cell)
        self.breakdown.resizeRowsToContents()
        height = self.breakdown.horizontalHeader().height() + 4
        height += sum(self.breakdown.rowHeight(row) for row in range(len(items)))
        self.breakdown.setFixedHeight(height)
        sentences = "".join(f"<li>{_escape(s)}</li>" for s in score.feedback)
        self.feedback_label.setText(
            f"<b>Feedback</b><ul style='margin-left: 12px; -qt-list-indent: 0;'>{sentences}</ul>"
            if sentences
            else "<b>Feedback</b>: nothing to improve against the reference."
        )
        under = result.assessment.undertreated
        lethal = result.assessment.reference.settings.lethal_isotherm_c
        self.legend_label.setText(
            f"<span style='color:#e00000'>■</span> Red in the views: tumor surface left above "
            f"{lethal:g} °C ({format_volume_ml(sum(r.volume_ml for r in under))} under-treated)."
            if under
            else f"The whole tumor reaches {lethal:g} °C: nothing is painted red."
        )
        self._tick()


def minutes_seconds(seconds: float) -> str:
    """A duration as '12 min 05 s'."""
    whole = max(int(seconds), 0)
    return f"{whole // 60} min {whole % 60:02d} s"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
