"""What the window is doing (planning, a practice, busy with an attempt) and, from that,
which actions the user may take.

:class:`ModeState` holds the mode; :func:`enabled_actions` is the one place
that decides, from the mode and the session's state, which actions (menu
actions, panels, practice buttons) are enabled. The window draws the answer;
practice mode only sets the mode. No Qt, no VTK.
"""

from __future__ import annotations

from enum import Enum

from cryoplan_app.model.practice import PracticeState
from cryoplan_app.model.signals import Signal


class Mode(Enum):
    """The window's mode."""

    #: Planning freely: every action the open case allows.
    PLANNING = "planning"
    #: A trainee places a practice attempt: nothing that plans for the trainee, changes what
    #: is scored or shows the answer.
    PRACTICE = "practice"
    #: The submitted attempt is being assessed in a worker: nothing edits the plan.
    BUSY = "busy"
    #: The attempt is scored: it stays as submitted, beside its score and the reference.
    REVIEW = "review"


class UserAction(Enum):
    """What the user can ask for, from the menus, the toolbar, the panels and practice."""

    OPEN_LABELS = "open label map"
    OPEN_PLAN = "open plan"
    SAVE_PLAN = "save plan"
    EXPORT = "export report or DICOM"
    SCREENSHOT = "save screenshot"
    WINDOW_LEVEL = "window/level preset"
    UNDO = "undo"
    REDO = "redo"
    PLACE_PROBES = "probe tool, add and remove probes"
    SIMULATE = "simulate the plan"
    #: Panels: the segmentation, optimizer, probes and protocol panels as a whole.
    SEGMENT = "segmentation panel"
    OPTIMIZE = "optimizer panel"
    EDIT_PROBES = "probes panel"
    EDIT_PROTOCOL = "protocol panel"
    #: The Confirm panel: the plan against a CT of the procedure.
    CONFIRM = "confirm panel"
    #: Practice: submit the attempt, reveal the reference, end the practice.
    SUBMIT_ATTEMPT = "submit attempt"
    REVEAL_REFERENCE = "reveal reference"
    END_PRACTICE = "end practice"


#: Actions that plan for the trainee, change what is scored or show the answer.
_ANSWER = frozenset(
    {UserAction.OPEN_LABELS, UserAction.OPEN_PLAN, UserAction.SAVE_PLAN, UserAction.EXPORT}
    | {UserAction.SEGMENT, UserAction.OPTIMIZE, UserAction.CONFIRM}
)
#: Actions that edit the plan.
_EDIT = frozenset(
    {
        UserAction.PLACE_PROBES,
        UserAction.UNDO,
        UserAction.REDO,
        UserAction.EDIT_PROBES,
        UserAction.EDIT_PROTOCOL,
    }
)
#: Actions that need an open image.
_NEED_CASE = frozenset(
    {
        UserAction.OPEN_LABELS,
        UserAction.OPEN_PLAN,
        UserAction.SAVE_PLAN,
        UserAction.EXPORT,
        UserAction.SCREENSHOT,
        UserAction.WINDOW_LEVEL,
        UserAction.PLACE_PROBES,
        UserAction.SIMULATE,
        UserAction.CONFIRM,
    }
)


#: The window's mode in each state of a practice.
PRACTICE_MODES = {
    PracticeState.IDLE: Mode.PLANNING,
    PracticeState.PLACING: Mode.PRACTICE,
    PracticeState.ASSESSING: Mode.BUSY,
    PracticeState.ASSESSED: Mode.REVIEW,
    PracticeState.REVEALED: Mode.REVIEW,
}


def enabled_actions(
    mode: Mode, *, has_case: bool, can_undo: bool, can_redo: bool
) -> frozenset[UserAction]:
    """The actions the user may take now.

    Parameters
    ----------
    mode : Mode
        What the window is doing.
    has_case : bool
        True while an image is open.
    can_undo, can_redo : bool
        Whether the plan's history has a step to undo or redo.

    Returns
    -------
    frozenset of UserAction
        Every enabled action; the others are shown disabled.
    """
    enabled = set(UserAction)
    if not has_case:
        enabled -= _NEED_CASE
    if not can_undo:
        enabled.discard(UserAction.UNDO)
    if not can_redo:
        enabled.discard(UserAction.REDO)
    if mode is not Mode.PLANNING:
        enabled -= _ANSWER
    if mode in (Mode.BUSY, Mode.REVIEW):
        enabled -= _EDIT
    if mode is not Mode.PRACTICE:
        enabled.discard(UserAction.SUBMIT_ATTEMPT)
    if mode is not Mode.REVIEW:
        enabled.discard(UserAction.REVEAL_REFERENCE)
    if mode is Mode.PLANNING:
        enabled.discard(UserAction.END_PRACTICE)
    return frozenset(enabled)


class ModeState:
    """The window's present :class:`Mode`; ``changed`` (Mode) after every change."""

    def __init__(self) -> None:
        self.changed = Signal()
        self._mode = Mode.PLANNING

    @property
    def mode(self) -> Mode:
        return self._mode

    def set(self, mode: Mode) -> None:
        """Switch to ``mode``; setting the present mode again signals nothing."""
        if mode is not self._mode:
            self._mode = mode
            self.changed.emit(mode)
