"""What panels and practice mode are given to work with, instead of the main window.

The main window builds one :class:`AppContext` and hands it to every panel it
composes; a panel reads the session, submits work to the runner, reports
errors to the presenter, asks the logic for computations and makes its
actions through ``actions``; it never reaches into the window.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from PyQt6.QtWidgets import QStatusBar, QWidget

from cryoplan_app.logic import Logic
from cryoplan_app.model.mode import ModeState
from cryoplan_app.model.session import Session
from cryoplan_app.qt.actions import Actions
from cryoplan_app.qt.errors import ErrorPresenter
from cryoplan_app.qt.tasks import TaskRunner
from cryoplan_app.qt.vtk_widget import RenderWidget


@dataclass(eq=False)
class AppContext:
    """The application's services, as the main window shares them.

    Attributes
    ----------
    session : Session
        The open case, the plan and what the views show.
    runner : TaskRunner
        Worker threads for long work (progress, cancel, results on the GUI thread).
    errors : ErrorPresenter
        Where every error ends.
    logic : Logic
        Every background computation and its cache (evaluation, growth replay,
        path checks, report, practice assessment).
    actions : Actions
        Makes menu actions and binds widgets to the commands they stand for.
    mode : ModeState
        Planning, practice or busy: what decides which commands are enabled.
    views : mapping of str to RenderWidget
        The view area's views by name (``"axial"``, ``"3d"``...).
    status_bar : QStatusBar
        Where short messages go (``status_bar.showMessage(text, ms)``).
    dialog_parent : QWidget
        The parent of file dialogs and questions.
    confirm_discard : callable
        ``confirm_discard(doing) -> bool``: asks what to do with unsaved plan
        changes before ``doing``; True to go on.
    headless : bool
        Screenshot and test mode: nothing ever waits for an answer.
    """

    session: Session
    runner: TaskRunner
    errors: ErrorPresenter
    logic: Logic
    actions: Actions
    mode: ModeState
    views: Mapping[str, RenderWidget]
    status_bar: QStatusBar
    dialog_parent: QWidget
    confirm_discard: Callable[[str], bool]
    headless: bool = False
