"""Training in the window: the Training menu, the Practice panel and the practice dialogs.

:func:`install_training` adds them to the main window. Library work (importing
the sample cases on first use, making a missing reference plan, reading the
history, writing the logbook) runs in the window's task runner; the library
is ``$CRYOPLAN_LIBRARY`` or the default one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from cryoplan_app.qt.practice.controller import PracticeController
from cryoplan_app.qt.practice.dialogs import HistoryDialog, StartPracticeDialog
from cryoplan_app.qt.practice.panel import PracticePanel
from cryoplan_app.qt.tasks import Task
from planning_core.training.assessment import optimize_reference
from planning_core.training.database import open_library
from planning_core.training.history import best_per_case, history_plot_png, trainee_history
from planning_core.training.library import LibraryCase, ensure_sample_cases, list_cases
from planning_core.training.logbook import write_logbook
from planning_core.training.users import list_trainees

if TYPE_CHECKING:
    from cryoplan_app.qt.main_window import MainWindow


def install_training(window: MainWindow, *, library_path: Path | None = None) -> PracticeController:
    """Add the Training menu and the Practice panel to ``window``; returns the controller.

    Afterwards ``window.practice`` is the controller and ``window.practice_panel`` the panel.
    """
    controller = PracticeController(window, library_path=library_path)
    panel = PracticePanel(controller)
    dock = window._add_dock("Practice", panel, Qt.DockWidgetArea.RightDockWidgetArea)
    docks = getattr(window, "panel_docks", {})
    if "segmentation" in docks:
        window.tabifyDockWidget(docks["segmentation"], dock)
    dock.hide()
    actions = TrainingActions(window, controller)

    def on_state(state: str) -> None:
        dock.setVisible(state != "idle")
        if state != "idle":
            dock.raise_()
        actions.sync(state)

    controller.practice.state_changed.connect(on_state)
    window.practice = controller
    window.practice_panel = panel
    window.practice_dock = dock
    window.training_actions = actions
    return controller


class TrainingActions:
    """The Training menu: start, submit, reveal, end; history and logbook."""

    def __init__(self, window: MainWindow, controller: PracticeController) -> None:
        self.window = window
        self.controller = controller
        menu = window.menuBar().addMenu("&Training")
        self.start = window._action("Start practice…", self.choose_practice)
        self.submit = window._action("Submit attempt", controller.submit)
        self.reveal = window._action("Reveal reference", controller.reveal)
        self.end = window._action("End practice", lambda: controller.end(ask=True))
        self.history = window._action("My history…", self.show_history)
        self.logbook = window._action("Export logbook (PDF)…", self.choose_logbook)
        menu.addActions([self.start, self.submit, self.reveal, self.end])
        menu.addSeparator()
        menu.addActions([self.history, self.logbook])
        self.sync(controller.practice.state)

    def sync(self, state: str) -> None:
        practice = self.controller.practice
        self.submit.setEnabled(practice.can_submit)
        self.reveal.setEnabled(state == "assessed")
        self.end.setEnabled(practice.active)

    # -- start ----------------------------------------------------------------------------
    def choose_practice(self) -> Task:
        """Read the library (importing the sample cases into an empty one), then ask."""
        path = self.controller.library_path

        def work(progress, cancel):
            with open_library(path) as connection:
                if not list_cases(connection):
                    ensure_sample_cases(connection, progress=progress, cancel=cancel)
                return list_cases(connection), [t.name for t in list_trainees(connection)]

        return self.window.runner.submit(
            "Reading the case library", work, on_done=lambda r: self._ask(*r), key="library"
        )

    def _ask(self, cases: tuple[LibraryCase, ...], trainees: list[str]) -> None:
        practice = self.controller.practice
        dialog = StartPracticeDialog(cases, trainees, self.window, trainee=practice.trainee)
        if dialog.exec() != StartPracticeDialog.DialogCode.Accepted or dialog.case is None:
            return
        case = dialog.case
        if case.reference_author is None:
            self._make_reference(dialog.trainee, case)
        else:
            self.controller.start(dialog.trainee, case.id)

    def _make_reference(self, trainee: str, case: LibraryCase) -> None:
        answer = QMessageBox.question(
            self.window,
            "No reference plan yet",
            f"Case {case.id} has no reference plan to score against. Let the optimizer make "
            "one now (about a minute; it stays hidden until you are scored)?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        path = self.controller.library_path

        def work(progress, cancel):
            with open_library(path) as connection:
                return optimize_reference(connection, case.id, progress=progress, cancel=cancel)

        self.window.runner.submit(
            f"Making the reference plan of {case.id}",
            work,
            on_done=lambda _case: self.controller.start(trainee, case.id),
            key="practice",
        )

    # -- history and logbook --------------------------------------------------------------
    def _trainee(self) -> str | None:
        """The practising trainee, else one chosen from the library's trainees."""
        if self.controller.practice.trainee is not None:
            return self.controller.practice.trainee
        with open_library(self.controller.library_path) as connection:
            names = [t.name for t in list_trainees(connection)]
        if not names:
            QMessageBox.information(
                self.window, "Training", "No trainee yet: start a practice first."
            )
            return None
        name, ok = QInputDialog.getItem(self.window, "Trainee", "Whose history?", names, 0, False)
        return name if ok else None

    def show_history(self) -> HistoryDialog | None:
        trainee = self._trainee()
        return None if trainee is None else self.history_dialog(trainee)

    def history_dialog(self, trainee: str) -> HistoryDialog:
        """Show ``trainee``'s history (plot, best per case, attempts); returns the dialog."""
        with open_library(self.controller.library_path) as connection:
            attempts = trainee_history(connection, trainee)
        dialog = HistoryDialog(
            trainee,
            attempts,
            best_per_case(attempts),
            history_plot_png(attempts, trainee=trainee),
            self.window,
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
            self.window, "Export practice logbook", suggested, "PDF (*.pdf)"
        )
        if path:
            self.export_logbook(trainee, Path(path))

    def export_logbook(self, trainee: str, path: Path) -> Task:
        """Write ``trainee``'s logbook PDF to ``path`` in a worker."""
        library_path = self.controller.library_path

        def work(progress, cancel):
            progress(0.0, f"Writing the logbook of {trainee}")
            with open_library(library_path) as connection:
                return write_logbook(connection, trainee, path)

        return self.window.runner.submit(
            "Writing the practice logbook",
            work,
            on_done=lambda written: self.window.statusBar().showMessage(
                f"Logbook written to {written}", 10_000
            ),
            key="logbook",
        )
