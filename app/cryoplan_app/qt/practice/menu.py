"""The Training menu's actions: start a practice (choosing the trainee and the case), submit,
reveal, end; the trainee's history and logbook.

The library work (importing the sample cases on first use, making a missing
reference plan, reading the history, writing the logbook) is the logic's
(:class:`~cryoplan_app.logic.library.LibraryLogic`); these actions ask and show.
The library is ``$CRYOPLAN_LIBRARY`` or the default one.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from cryoplan_app.logic.library import PracticeChoices, trainee_names, trainee_record
from cryoplan_app.model.mode import UserAction
from cryoplan_app.qt.context import AppContext
from cryoplan_app.qt.practice.controller import PracticeController
from cryoplan_app.qt.practice.dialogs import HistoryDialog, StartPracticeDialog
from cryoplan_app.qt.tasks import Task
from planning_core.training.library import LibraryCase


class TrainingActions:
    """The Training menu's actions: start, submit, reveal, end; history and logbook.

    The main window puts :attr:`practice_actions` and :attr:`record_actions` in
    its Training menu; which are enabled follows the mode.
    """

    def __init__(self, context: AppContext, controller: PracticeController) -> None:
        self.context = context
        self.controller = controller
        actions = context.actions
        self.start = actions.add("Start practice…", self.choose_practice)
        self.submit = actions.add(
            "Submit attempt", controller.submit, command=UserAction.SUBMIT_ATTEMPT
        )
        self.reveal = actions.add(
            "Reveal reference", controller.reveal, command=UserAction.REVEAL_REFERENCE
        )
        self.end = actions.add(
            "End practice", lambda: controller.end(ask=True), command=UserAction.END_PRACTICE
        )
        self.history = actions.add("My history…", self.show_history)
        self.logbook = actions.add("Export logbook (PDF)…", self.choose_logbook)

    @property
    def practice_actions(self) -> tuple[QAction, ...]:
        """Start, submit, reveal and end."""
        return (self.start, self.submit, self.reveal, self.end)

    @property
    def record_actions(self) -> tuple[QAction, ...]:
        """The trainee's history and logbook."""
        return (self.history, self.logbook)

    # -- start ----------------------------------------------------------------------------
    def choose_practice(self) -> Task:
        """Read the library (importing the sample cases into an empty one), then ask."""
        return self.context.logic.library.read_choices(
            self.controller.library_path, on_done=self._ask
        )

    def _ask(self, choices: PracticeChoices) -> None:
        practice = self.controller.practice
        dialog = StartPracticeDialog(
            choices.cases,
            list(choices.trainees),
            self.context.dialog_parent,
            trainee=practice.trainee,
        )
        if dialog.exec() != StartPracticeDialog.DialogCode.Accepted or dialog.case is None:
            return
        case = dialog.case
        if case.reference_author is None:
            self._make_reference(dialog.trainee, case)
        else:
            self.controller.start(dialog.trainee, case.id)

    def _make_reference(self, trainee: str, case: LibraryCase) -> None:
        answer = QMessageBox.question(
            self.context.dialog_parent,
            "No reference plan yet",
            f"Case {case.id} has no reference plan to score against. Let the optimizer make "
            "one now (about a minute; it stays hidden until you are scored)?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.context.logic.library.make_reference(
            self.controller.library_path,
            case.id,
            on_done=lambda _case: self.controller.start(trainee, case.id),
        )

    # -- history and logbook --------------------------------------------------------------
    def _trainee(self) -> str | None:
        """The practising trainee, else one chosen from the library's trainees."""
        if self.controller.practice.trainee is not None:
            return self.controller.practice.trainee
        names = list(trainee_names(self.controller.library_path))
        if not names:
            QMessageBox.information(
                self.context.dialog_parent, "Training", "No trainee yet: start a practice first."
            )
            return None
        name, ok = QInputDialog.getItem(
            self.context.dialog_parent, "Trainee", "Whose history?", names, 0, False
        )
        return name if ok else None

    def show_history(self) -> HistoryDialog | None:
        trainee = self._trainee()
        return None if trainee is None else self.history_dialog(trainee)

    def history_dialog(self, trainee: str) -> HistoryDialog:
        """Show ``trainee``'s history (plot, best per case, attempts); returns the dialog."""
        record = trainee_record(self.controller.library_path, trainee)
        dialog = HistoryDialog(
            trainee, record.attempts, record.bests, record.plot_png, self.context.dialog_parent
        )
        dialog.export_button.clicked.connect(lambda: self._choose_logbook_for(trainee))
        dialog.show()
        return dialog

    def choose_logbook(self) -> None:
        trainee = self._trainee()
        if trainee is not None:
            self._choose_logbook_for(trainee)

    def _choose_logbook_for(self, trainee: str) -> None:
        suggested = f"logbook-{'-'.join(trainee.lower().split())}.pdf"
        path, _ = QFileDialog.getSaveFileName(
            self.context.dialog_parent, "Export practice logbook", suggested, "PDF (*.pdf)"
        )
        if path:
            self.export_logbook(trainee, Path(path))

    def export_logbook(self, trainee: str, path: Path) -> Task:
        """Write ``trainee``'s logbook PDF to ``path`` in a worker."""
        return self.context.logic.library.export_logbook(
            self.controller.library_path,
            trainee,
            path,
            on_done=lambda written: self.context.status_bar.showMessage(
                f"Logbook written to {written}", 10_000
            ),
        )
