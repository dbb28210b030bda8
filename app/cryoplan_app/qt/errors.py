"""The one place where errors reach the user: one dialog per error, never a raw traceback.

A :class:`~planning_core.errors.PlanningError` is a message written for the
user and is shown as it is. Anything else is a bug: the dialog says so in one
sentence and keeps the traceback under "Show Details…" for a bug report.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from types import TracebackType

from PyQt6.QtCore import QObject, Qt, pyqtSignal
from PyQt6.QtWidgets import QMessageBox, QWidget

from planning_core.errors import OperationCancelledError, PlanningError


class ErrorPresenter(QObject):
    """Shows errors in a window-modal message box (non-blocking, so tests can inspect it).

    ``dialog`` is the box on screen, if any; ``shown`` counts the errors shown.
    A new error closes the previous box first, so at most one is ever open.
    With ``headless=True`` (screenshot mode) nothing is shown; ``reported``
    signals each message, and the caller decides (print it, exit).
    """

    reported = pyqtSignal(str)

    def __init__(self, parent: QWidget, *, headless: bool = False) -> None:
        super().__init__(parent)
        self._parent = parent
        self._headless = headless
        self.dialog: QMessageBox | None = None
        self.shown = 0

    def show_error(self, error: BaseException, details: str | None = None) -> None:
        """Present ``error``; ``details`` is the traceback text for unexpected errors."""
        if isinstance(error, OperationCancelledError):
            return
        if isinstance(error, PlanningError):
            title, text, details = "Cannot complete the action", str(error), None
        else:
            title = "Unexpected error"
            text = (
                f"An unexpected error occurred ({type(error).__name__}: {error}). The session "
                "is still usable; please report this problem with the details below."
            )
            details = details or "".join(traceback.format_exception(error))
        self.reported.emit(text)
        if self._headless:
            if details:  # no dialog to hold the traceback: keep it for the bug report
                sys.stderr.write(details)
            return
        if self.dialog is not None:
            self.dialog.close()
        box = QMessageBox(self._parent)
        box.setIcon(
            QMessageBox.Icon.Warning
            if isinstance(error, PlanningError)
            else QMessageBox.Icon.Critical
        )
        box.setWindowTitle(title)
        box.setText(text)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        if details:
            box.setDetailedText(details)
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.finished.connect(lambda _result: self._forget(box))
        self.dialog = box
        self.shown += 1
        box.open()

    def _forget(self, box: QMessageBox) -> None:
        if self.dialog is box:
            self.dialog = None
        box.deleteLater()


def install_excepthook(presenter: ErrorPresenter) -> Callable[..., None]:
    """Route exceptions escaping Qt slots to ``presenter`` instead of aborting the process.

    Returns the previous hook, to restore it.
    """
    previous = sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, error, trace)
            return
        presenter.show_error(error, "".join(traceback.format_exception(kind, error, trace)))

    sys.excepthook = hook
    return previous
