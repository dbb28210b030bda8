"""Undo and redo: a stack of reversible commands, with successive drags merged into one step.

A :class:`Command` carries two callables, ``apply`` and ``revert``, and the text
menus show ("Move probe P1"). Commands that share a ``merge_key`` and follow
each other while merging is open (between the first move of a drag and
:meth:`History.close_merge` at its end) become one undo step: the step keeps
the first command's ``revert`` and the last one's ``apply``.

The history also knows whether the state differs from the last saved one
(:attr:`History.dirty`), also after undoing past the save point. A save that
runs in a worker takes a :class:`Checkpoint` when it copies the state and marks
that state saved when it is done (:meth:`History.mark_saved`), even when edits
came in between.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace

from cryoplan_app.model.signals import Signal

#: Undo steps kept; older ones are forgotten.
DEFAULT_UNDO_LIMIT = 200


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """A state of one history: see :meth:`History.checkpoint`."""

    epoch: int
    depth: int  # steps done since the history was cleared, trimmed ones included
    top: Command | None  # the step on top then (identity: merging replaces it)


@dataclass(frozen=True)
class Command:
    """One reversible edit.

    Parameters
    ----------
    text : str
        What the edit did, for the Edit menu (``"Undo Move probe P1"``).
    apply, revert : callable
        Make the edit, and undo it; each must leave the model consistent.
    merge_key : hashable, optional
        Successive commands with the same key merge into one undo step while
        merging is open (see the module docstring).
    """

    text: str
    apply: Callable[[], None]
    revert: Callable[[], None]
    merge_key: Hashable | None = None


class History:
    """The undo and redo stacks of one session.

    Signals: ``changed`` () after every push, undo, redo, clear or save mark.
    """

    def __init__(self, *, limit: int = DEFAULT_UNDO_LIMIT) -> None:
        self.changed = Signal()
        self._limit = max(int(limit), 1)
        self._done: list[Command] = []
        self._undone: list[Command] = []
        # Number of done commands at the last save; None when that state can never return
        # (it was trimmed away or lay on a discarded redo branch).
        self._clean_depth: int | None = 0
        self._merging = False
        # Checkpoints from before a clear never match again; trimmed steps keep depths comparable.
        self._epoch = 0
        self._trimmed = 0

    # -- editing ------------------------------------------------------------------------
    def push(self, command: Command) -> None:
        """Apply ``command`` and record it (or merge it into the step on top)."""
        command.apply()
        top = self._done[-1] if self._done else None
        if (
            self._merging
            and top is not None
            and command.merge_key is not None
            and command.merge_key == top.merge_key
            and self._clean_depth != len(self._done)  # the saved state must stay reachable
        ):
            self._done[-1] = replace(top, apply=command.apply, text=command.text)
        else:
            if self._clean_depth is not None and self._clean_depth > len(self._done):
                self._clean_depth = None  # the saved state lay on the redo branch
            self._done.append(command)
            if len(self._done) > self._limit:
                del self._done[0]
                self._trimmed += 1
                if self._clean_depth is not None:
                    self._clean_depth = self._clean_depth - 1 if self._clean_depth else None
        self._undone.clear()
        self._merging = command.merge_key is not None
        self.changed.emit()

    def close_merge(self) -> None:
        """End the current drag: the next command starts a new undo step."""
        self._merging = False

    def undo(self) -> bool:
        """Revert the last step; False when there is none."""
        if not self._done:
            return False
        command = self._done.pop()
        command.revert()
        self._undone.append(command)
        self._merging = False
        self.changed.emit()
        return True

    def redo(self) -> bool:
        """Apply the last undone step again; False when there is none."""
        if not self._undone:
            return False
        command = self._undone.pop()
        command.apply()
        self._done.append(command)
        self._merging = False
        self.changed.emit()
        return True

    def clear(self) -> None:
        """Forget every step; the present state counts as saved."""
        self._done.clear()
        self._undone.clear()
        self._clean_depth = 0
        self._merging = False
        self._epoch += 1
        self._trimmed = 0
        self.changed.emit()

    # -- state --------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def undo_text(self) -> str:
        """Text of the step :meth:`undo` reverts ('' when none)."""
        return self._done[-1].text if self._done else ""

    @property
    def redo_text(self) -> str:
        return self._undone[-1].text if self._undone else ""

    @property
    def undo_count(self) -> int:
        return len(self._done)

    @property
    def dirty(self) -> bool:
        """True when the state differs from the one last marked saved."""
        return self._clean_depth != len(self._done)

    def checkpoint(self) -> Checkpoint:
        """The present state, for :meth:`mark_saved` once a save of it has finished."""
        return Checkpoint(self._epoch, self._trimmed + len(self._done), self.top)

    @property
    def top(self) -> Command | None:
        return self._done[-1] if self._done else None

    def mark_saved(self, checkpoint: Checkpoint | None = None) -> bool:
        """The state at ``checkpoint`` (the present one by default) was saved.

        :attr:`dirty` becomes False when the history still is at that state, and
        turns False again when undo or redo return to it. Returns False, and
        changes nothing, when that state can no longer return (the history was
        cleared, the step was merged into or lay on a discarded redo branch).
        """
        depth = len(self._done) if checkpoint is None else self._depth_of(checkpoint)
        if depth is None:
            return False
        self._clean_depth = depth
        self._merging = False
        self.changed.emit()
        return True

    def _depth_of(self, checkpoint: Checkpoint) -> int | None:
        """Where ``checkpoint``'s state lies along done and undone steps; None when gone."""
        if checkpoint.epoch != self._epoch:
            return None
        depth = checkpoint.depth - self._trimmed
        steps = [*self._done, *reversed(self._undone)]
        if not 0 <= depth <= len(steps):
            return None
        top = steps[depth - 1] if depth else None
        return depth if top is checkpoint.top else None
