"""Training dialogs: choose a trainee and a library case; a trainee's history and best scores."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QPixmap
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cryoplan_app.qt.practice.panel import minutes_seconds
from planning_core.errors import PlanningError
from planning_core.figures import format_score
from planning_core.training.attempts import AttemptRecord, parse_time
from planning_core.training.difficulty import proximity_text, size_text
from planning_core.training.history import CaseBest
from planning_core.training.library import LibraryCase
from planning_core.training.users import clean_name

CASE_COLUMNS = ("Case", "Organ", "Tumor", "Difficulty", "Nearest structures", "Reference")
BEST_COLUMNS = ("Case", "Best score", "Attempts", "Last attempt")
ATTEMPT_COLUMNS = ("#", "Submitted (UTC)", "Case", "Score", "Time spent")


def _when(text: str) -> str:
    """An ISO 8601 time as 'YYYY-MM-DD HH:MM' in UTC."""
    return parse_time(text, where="attempt").astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M")


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> QTableWidget:
    table = QTableWidget(len(rows), len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    for row, texts in enumerate(rows):
        for column, text in enumerate(texts):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            table.setItem(row, column, item)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def case_row(case: LibraryCase) -> tuple[str, ...]:
    """What the case list shows of a case (no hint of the reference plan's content)."""
    tags = case.tags
    reference = (
        "none yet (made on start)"
        if case.reference_author is None
        else f"by {case.reference_author}"
    )
    return (
        f"{case.id}: {case.title}",
        case.organ,
        size_text(tags),
        tags.difficulty,
        proximity_text(tags),
        reference,
    )


class StartPracticeDialog(QDialog):
    """Choose who practises (a new name is added on first use) and on which case."""

    def __init__(
        self,
        cases: Sequence[LibraryCase],
        trainees: Sequence[str],
        parent: QWidget | None = None,
        *,
        trainee: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Start practice")
        self.cases = tuple(cases)
        self.trainee_box = QComboBox()
        self.trainee_box.setEditable(True)
        self.trainee_box.addItems(list(trainees))
        self.trainee_box.setCurrentText(trainee or (trainees[0] if trainees else ""))
        self.trainee_box.lineEdit().setPlaceholderText("Your name (added on first use)")
        self.case_table = _table(CASE_COLUMNS, [case_row(c) for c in self.cases])
        self.case_table.setMinimumWidth(1040)
        if self.cases:
            self.case_table.selectRow(0)
        self.case_table.doubleClicked.connect(lambda _index: self.accept())
        self.problem = QLabel()
        self.problem.setStyleSheet("color: #c62828;")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Trainee", self.trainee_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Case (the reference plan stays hidden until you are scored):"))
        layout.addWidget(self.case_table)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)

    @property
    def trainee(self) -> str:
        return self.trainee_box.currentText()

    @property
    def case(self) -> LibraryCase | None:
        rows = self.case_table.selectionModel().selectedRows()
        return self.cases[rows[0].row()] if rows else None

    def accept(self) -> None:
        try:
            clean_name(self.trainee)
        except PlanningError as error:
            self.problem.setText(f"Trainee: {error}")
            return
        if self.case is None:
            self.problem.setText("Choose a case.")
            return
        super().accept()


class HistoryDialog(QDialog):
    """A trainee's scores over time (plot), best score per case and every attempt."""

    def __init__(
        self,
        trainee: str,
        attempts: Sequence[AttemptRecord],
        bests: Sequence[CaseBest],
        plot_png: bytes,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Practice history: {trainee}")
        pixmap = QPixmap()
        pixmap.loadFromData(plot_png, "PNG")
        self.plot = QLabel()
        self.plot.setPixmap(pixmap)
        self.plot.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.best_table = _table(
            BEST_COLUMNS,
            [
                (b.case_id, format_score(b.best_score), str(b.attempts), _when(b.last_submitted_at))
                for b in bests
            ],
        )
        self.attempt_table = _table(
            ATTEMPT_COLUMNS,
            [
                (
                    str(a.id),
                    _when(a.submitted_at),
                    a.case_id,
                    format_score(a.score),
                    "—" if a.duration_s is None else minutes_seconds(a.duration_s),
                )
                for a in reversed(attempts)
            ],
        )
        self.export_button = QPushButton("Export logbook (PDF)…")
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        close.addButton(self.export_button, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addWidget(self.plot)
        layout.addWidget(QLabel(f"<b>Best per case</b> ({len(attempts)} attempts in all)"))
        self.best_table.setMaximumHeight(
            self.best_table.horizontalHeader().height() + 4 + 26 * max(len(bests), 1)
        )
        layout.addWidget(self.best_table)
        layout.addWidget(QLabel("<b>Attempts</b>, newest first"))
        layout.addWidget(self.attempt_table)
        layout.addWidget(close)
        self.resize(900, 820)
