"""The optimizer logic without widgets: its proposal belongs to the labels it was computed on."""

from __future__ import annotations

import pytest
from cryoplan_app.logic import optimizer as optimizer_logic

from planning_core.errors import InfeasiblePlanError, PlanningError

REASON = "max_probes 1: the lethal isotherm covers at best 62.0 % of tumor + 5 mm."
RUN = {"robustness_samples": 0, "robustness_tip_error_mm": 3.0}


def _closest_plan(document, tumor_lps):
    """A one-probe plan, placed as the optimizer's closest plan would be."""
    document.add_probe_at(tumor_lps)
    closest = document.plan
    document.history.undo()
    return closest


def test_the_closest_plan_of_an_infeasible_search_is_offered_for_its_labels(
    logic, runner, tumor_lps, monkeypatch
):
    document, optimizer = logic.session.document, logic.optimizer
    closest = _closest_plan(document, tumor_lps)
    calls = []

    def infeasible(volume, label_map, *, progress, cancel, **options):
        calls.append((label_map, options))
        raise InfeasiblePlanError(REASON, best_partial_plan=closest)

    monkeypatch.setattr(optimizer_logic, "run_optimizer", infeasible)
    assert optimizer.run(**RUN) is not None and optimizer.running
    runner.run_pending()
    ((labels, options),) = calls
    assert labels is document.labels and options["settings"] == document.plan.settings
    assert not optimizer.running and optimizer.proposal.plan is closest
    assert optimizer.proposal.shortfall == REASON and REASON in optimizer.note
    edited = document.labels.without("bone")
    document.replace_labels(edited, "Erase bone")
    assert not optimizer.acceptable and not optimizer.accept()  # computed on other labels
    assert not document.plan.probes
    document.history.undo()
    assert optimizer.accept() and document.plan.probes == closest.probes
    assert document.history.undo_text == "Accept closest plan"


def test_a_cancelled_run_keeps_the_plan_and_says_so(logic, runner, monkeypatch):
    def until_cancelled(volume, label_map, *, progress, cancel, **options):
        cancel.raise_if_cancelled()
        raise AssertionError("the run went on after Cancel")

    monkeypatch.setattr(optimizer_logic, "run_optimizer", until_cancelled)
    before = logic.session.document.plan
    logic.optimizer.run(**RUN)
    logic.optimizer.cancel()
    runner.run_pending()
    assert logic.optimizer.note.startswith("Cancelled") and not logic.optimizer.running
    assert logic.optimizer.proposal is None and logic.session.document.plan is before
    assert not runner.errors


def test_without_a_tumor_label_the_run_is_refused_at_once(logic, runner):
    document = logic.session.document
    document.replace_labels(document.labels.without("tumor"), "Erase tumor")
    with pytest.raises(PlanningError, match="segment the tumor first"):
        logic.optimizer.run(**RUN)
    assert not runner.pending
