"""The evaluation logic without widgets: results kept by their inputs, late results kept stale."""

from __future__ import annotations

import numpy as np
from cryoplan_app.logic import Logic
from cryoplan_app.logic.evaluation import ResultsCache
from cryoplan_app.model.plan_state import PlanResults, TemperatureField, inputs_key

from planning_core.imaging.geometry import Geometry
from planning_core.planning.plan import Plan


def _evaluate(logic, runner):
    assert logic.evaluation.evaluate_now() is not None
    runner.run_pending()
    return logic.session.document.results


def test_an_undo_to_evaluated_inputs_shows_their_results_without_simulating(
    logic, runner, tumor_lps
):
    document = logic.session.document
    document.add_probe_at(tumor_lps)
    first = _evaluate(logic, runner)
    assert document.results_fresh and first.metrics is not None
    document.move_probe(0, tip_lps_mm=np.add(document.plan.probes[0].tip_lps_mm, 3.0))
    second = _evaluate(logic, runner)
    assert second is not first and document.results_fresh
    submitted = len(runner.submitted)
    document.history.undo()  # back to the first probe position
    assert document.results is first and document.results_fresh
    assert len(runner.submitted) == submitted and not runner.pending  # nothing recomputed
    document.history.redo()
    assert document.results is second


def test_a_late_result_of_an_old_plan_is_kept_stale(logic, runner, tumor_lps):
    document = logic.session.document
    document.add_probe_at(tumor_lps)
    old_inputs = document.current_inputs()
    logic.evaluation.evaluate_now()
    document.move_probe(0, tip_lps_mm=np.add(document.plan.probes[0].tip_lps_mm, 3.0))
    runner.run_pending()
    results = document.results
    assert results is not None and results.inputs.matches(old_inputs)
    assert not document.results_fresh  # stored, but never shown as the present plan's
    assert logic.evaluation.cache.get(document.current_inputs()) is None


def test_an_automatic_evaluation_is_asked_for_once_the_edits_settle(session, runner, tumor_lps):
    logic = Logic(session, runner, auto_evaluate=True)
    requests = []
    logic.evaluation.settle_requested.connect(lambda: requests.append("settle"))
    session.document.add_probe_at(tumor_lps)
    assert requests == ["settle"]
    assert "Preparing the drag preview" in runner.submitted  # templates before the first drag


def test_the_cache_keeps_the_newest_results_of_distinct_inputs(phantom_image):
    geometry = Geometry((2, 2, 2), np.ones(3), np.zeros(3))
    field = TemperatureField(np.zeros((2, 2, 2), np.float32), geometry)
    cache = ResultsCache(size=2)
    kept = [
        PlanResults(inputs_key(Plan(protocol=code), phantom_image.labels), field)
        for code in ("F1", "F2", "F3")
    ]
    for results in kept:
        cache.put(results)
    assert len(cache) == 2
    assert cache.get(kept[0].inputs) is None  # the oldest went first
    assert cache.get(kept[2].inputs) is kept[2]
    other_labels = inputs_key(Plan(protocol="F3"), None)  # same plan, other labels
    assert cache.get(other_labels) is None
