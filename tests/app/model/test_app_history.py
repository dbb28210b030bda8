"""The undo history: apply/revert order, drag merging, the dirty flag."""

from __future__ import annotations

from cryoplan_app.model.history import Command, History


class Box:
    """A value with commands that set it, to watch the history act."""

    def __init__(self) -> None:
        self.value = 0

    def setter(self, new: int, *, key: object = None) -> Command:
        old = self.value

        def apply() -> None:
            self.value = new

        def revert() -> None:
            self.value = old

        return Command(f"set {new}", apply, revert, key)


def test_undo_redo_restore_values_in_order() -> None:
    box, history = Box(), History()
    history.push(box.setter(1))
    history.push(box.setter(2))
    assert box.value == 2 and history.undo_text == "set 2"
    assert history.undo() and box.value == 1
    assert history.undo() and box.value == 0
    assert not history.undo() and not history.can_undo
    assert history.redo() and box.value == 1
    assert history.redo() and box.value == 2
    assert not history.can_redo


def test_new_edit_discards_redo_branch() -> None:
    box, history = Box(), History()
    history.push(box.setter(1))
    history.undo()
    history.push(box.setter(5))
    assert not history.can_redo
    assert history.undo_count == 1 and box.value == 5


def test_successive_drag_moves_merge_into_one_step() -> None:
    box, history = Box(), History()
    for value in (1, 2, 3):
        history.push(box.setter(value, key="drag"))
    history.close_merge()
    history.push(box.setter(4, key="drag"))  # a second drag: its own step
    assert history.undo_count == 2
    history.undo()
    assert box.value == 3
    history.undo()
    assert box.value == 0
    history.redo()
    assert box.value == 3


def test_different_merge_keys_do_not_merge() -> None:
    box, history = Box(), History()
    history.push(box.setter(1, key="a"))
    history.push(box.setter(2, key="b"))
    assert history.undo_count == 2


def test_dirty_follows_the_saved_point() -> None:
    box, history = Box(), History()
    assert not history.dirty
    history.push(box.setter(1))
    assert history.dirty
    history.mark_saved()
    assert not history.dirty
    history.undo()
    assert history.dirty
    history.redo()
    assert not history.dirty


def test_saved_state_on_discarded_branch_stays_dirty() -> None:
    box, history = Box(), History()
    history.push(box.setter(1))
    history.mark_saved()
    history.undo()
    history.push(box.setter(2))
    history.undo()
    assert history.dirty  # the saved value 1 cannot come back


def test_merging_never_swallows_the_saved_state() -> None:
    box, history = Box(), History()
    history.push(box.setter(1, key="drag"))
    history.mark_saved()
    history.push(box.setter(2, key="drag"))
    assert history.dirty
    history.undo()
    assert box.value == 1 and not history.dirty


def test_limit_forgets_oldest_steps() -> None:
    box, history = Box(), History(limit=3)
    for value in range(1, 6):
        history.push(box.setter(value))
    assert history.undo_count == 3
    while history.undo():
        pass
    assert box.value == 2
    assert history.dirty  # the saved (empty) state was forgotten


def test_changed_signal_fires_on_every_change() -> None:
    box, history = Box(), History()
    calls = []
    history.changed.connect(lambda: calls.append(1))
    history.push(box.setter(1))
    history.undo()
    history.redo()
    history.mark_saved()
    history.clear()
    assert len(calls) == 5


def test_save_finishing_after_more_edits_marks_the_saved_state_only() -> None:
    # A save in a worker copies the state, the user edits on, then the save ends.
    box, history = Box(), History()
    history.push(box.setter(1))
    checkpoint = history.checkpoint()
    history.push(box.setter(2))
    assert history.mark_saved(checkpoint)
    assert history.dirty  # the edit made during the save is not saved
    assert history.undo() and not history.dirty  # back at the saved state
    assert history.redo() and history.dirty


def test_save_of_a_state_that_cannot_return_marks_nothing() -> None:
    box, history = Box(), History()
    history.push(box.setter(1))
    cleared = history.checkpoint()
    history.clear()  # another plan was opened meanwhile
    history.push(box.setter(5))
    assert not history.mark_saved(cleared) and history.dirty
    undone = history.checkpoint()
    history.undo()
    history.push(box.setter(6))  # the saved state lay on the discarded redo branch
    assert not history.mark_saved(undone) and history.dirty


def test_save_of_an_undone_state_is_clean_after_redo() -> None:
    box, history = Box(), History()
    history.push(box.setter(1))
    checkpoint = history.checkpoint()
    history.undo()
    assert history.mark_saved(checkpoint) and history.dirty
    assert history.redo() and not history.dirty
