"""The window's mode and the one decision of which commands are enabled (model/mode.py).

The model tests need no display; the last test drives the real window.
"""

from __future__ import annotations

import pytest
from cryoplan_app.model.mode import (
    PRACTICE_MODES,
    Mode,
    ModeState,
    UserAction,
    enabled_actions,
)
from cryoplan_app.model.practice import PRACTICE_STATES

#: What would plan for the trainee, change what is scored or show the answer.
ANSWER = {
    UserAction.OPEN_PLAN,
    UserAction.OPEN_LABELS,
    UserAction.SAVE_PLAN,
    UserAction.EXPORT,
    UserAction.SEGMENT,
    UserAction.OPTIMIZE,
}
#: What edits the plan.
EDIT = {
    UserAction.PLACE_PROBES,
    UserAction.EDIT_PROBES,
    UserAction.EDIT_PROTOCOL,
    UserAction.UNDO,
    UserAction.REDO,
}
PRACTICE_STEPS = {
    UserAction.SUBMIT_ATTEMPT,
    UserAction.REVEAL_REFERENCE,
    UserAction.END_PRACTICE,
}


def allowed(mode: Mode, *, has_case: bool = True) -> frozenset[UserAction]:
    return enabled_actions(mode, has_case=has_case, can_undo=True, can_redo=True)


def test_planning_allows_every_command_but_the_practice_steps():
    assert allowed(Mode.PLANNING) == frozenset(UserAction) - PRACTICE_STEPS


def test_without_an_image_only_the_panels_and_the_history_stay():
    enabled = enabled_actions(Mode.PLANNING, has_case=False, can_undo=False, can_redo=False)
    assert enabled == {
        UserAction.SEGMENT,
        UserAction.OPTIMIZE,
        UserAction.EDIT_PROBES,
        UserAction.EDIT_PROTOCOL,
    }


def test_a_practice_hides_the_answer_and_lets_the_trainee_place_probes():
    enabled = allowed(Mode.PRACTICE)
    assert not enabled & ANSWER
    assert EDIT | {UserAction.SUBMIT_ATTEMPT, UserAction.END_PRACTICE} <= enabled
    assert UserAction.REVEAL_REFERENCE not in enabled


@pytest.mark.parametrize("mode", [Mode.BUSY, Mode.REVIEW])
def test_a_submitted_attempt_is_frozen(mode):
    enabled = allowed(mode)
    assert not enabled & (ANSWER | EDIT | {UserAction.SUBMIT_ATTEMPT})
    assert {UserAction.END_PRACTICE, UserAction.SIMULATE, UserAction.SCREENSHOT} <= enabled
    assert (UserAction.REVEAL_REFERENCE in enabled) == (mode is Mode.REVIEW)


def test_every_practice_state_has_its_mode():
    assert set(PRACTICE_MODES) == set(PRACTICE_STATES)
    assert PRACTICE_MODES["idle"] is Mode.PLANNING
    assert PRACTICE_MODES["placing"] is Mode.PRACTICE


def test_the_mode_signals_each_change_once():
    state = ModeState()
    seen: list[Mode] = []
    state.changed.connect(seen.append)
    state.set(Mode.PRACTICE)
    state.set(Mode.PRACTICE)
    state.set(Mode.PLANNING)
    assert seen == [Mode.PRACTICE, Mode.PLANNING] and state.mode is Mode.PLANNING


@pytest.mark.gui
def test_the_window_draws_the_mode(main_window):
    window = main_window
    panel = window.practice_panel
    answer_actions = (
        window.open_plan_action,
        window.open_labels_action,
        window.save_plan_action,
        window.report_action,
        *window.export_actions,
    )
    try:
        window.mode.set(Mode.PRACTICE)
        assert window.practice_dock.isVisible()
        assert not any(action.isEnabled() for action in answer_actions)
        assert not window.panels["optimizer"].isEnabled()
        assert not window.panels["segmentation"].isEnabled()
        assert window.add_probe_action.isEnabled() and window.panels["probes"].isEnabled()
        assert window.training_actions.submit.isEnabled() and panel.submit_button.isEnabled()
        assert not panel.reveal_button.isEnabled()

        window.mode.set(Mode.REVIEW)
        assert not window.add_probe_action.isEnabled() and not window.panels["protocol"].isEnabled()
        assert not panel.submit_button.isEnabled() and panel.reveal_button.isEnabled()
        assert window.training_actions.end.isEnabled()
    finally:
        window.mode.set(Mode.PLANNING)
    assert not window.practice_dock.isVisible()
    assert all(action.isEnabled() for action in answer_actions)
    assert window.panels["optimizer"].isEnabled() and window.add_probe_action.isEnabled()
    assert not window.training_actions.end.isEnabled()
