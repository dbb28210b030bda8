"""The window's Qt actions, each enabled as :func:`~cryoplan_app.model.mode.enabled_actions`
decides.

Menus, the toolbar and practice mode make their actions here; panels and
buttons that stand for a user action are bound to it. Nothing else enables or
disables them: :meth:`Actions.refresh` redraws every one after the mode, the
open case or the plan's history changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PyQt6.QtCore import QObject
from PyQt6.QtGui import QAction, QKeySequence

from cryoplan_app.model.mode import ModeState, UserAction, enabled_actions
from cryoplan_app.model.session import Session

#: A keyboard shortcut as Qt takes it.
Shortcut = str | QKeySequence | QKeySequence.StandardKey


class Enableable(Protocol):
    """Anything the user can find enabled or disabled (an action, a panel, a button)."""

    def setEnabled(self, enabled: bool) -> None: ...  # noqa: N802 (Qt's name)


class Actions:
    """Makes the window's actions and draws which are enabled.

    Parameters
    ----------
    owner : QObject
        The actions' Qt parent (the main window).
    session : Session
        Whose open case and history the decision reads.
    mode : ModeState
        The window's mode.
    """

    def __init__(self, owner: QObject, session: Session, mode: ModeState) -> None:
        self._owner = owner
        self._session = session
        self._mode = mode
        self._bound: list[tuple[UserAction, Enableable]] = []
        session.case_changed.connect(lambda _case: self.refresh())
        session.document.history.changed.connect(self.refresh)
        mode.changed.connect(lambda _mode: self.refresh())

    def add(
        self,
        text: str,
        slot: Callable[[], object] | None = None,
        shortcut: Shortcut | None = None,
        *,
        command: UserAction | None = None,
    ) -> QAction:
        """A new action showing ``text`` that calls ``slot`` when triggered.

        ``command`` None means always enabled; otherwise the action follows
        that user action's enablement.
        """
        action = QAction(text, self._owner)
        if slot is not None:
            action.triggered.connect(lambda _checked=False: slot())
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if command is not None:
            self.bind(command, action)
        return action

    def bind(self, command: UserAction, target: Enableable) -> None:
        """Enable ``target`` exactly when ``command`` (a user action) is enabled, from now on."""
        self._bound.append((command, target))
        target.setEnabled(command in self.decide())

    def decide(self) -> frozenset[UserAction]:
        """The actions enabled in the present mode and session state."""
        session = self._session
        return enabled_actions(
            self._mode.mode,
            has_case=session.case is not None,
            can_undo=session.document.history.can_undo,
            can_redo=session.document.history.can_redo,
        )

    def refresh(self) -> None:
        """Enable and disable every bound action and widget as :meth:`decide` says."""
        enabled = self.decide()
        for command, target in self._bound:
            target.setEnabled(command in enabled)
