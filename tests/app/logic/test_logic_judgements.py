"""The logic judges and measures, the panels only show: plan checks and the tumor's size.

Issue 17: the metrics and optimizer panels used to call the core's acceptance rule
and the label measurements themselves; now the logic keeps them beside what it holds.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from cryoplan_app.logic import evaluation as evaluation_logic

from planning_core.planning.acceptance import CheckKind, accept_plan
from planning_core.segmentation.metrics import mask_volume_ml, max_diameter_mm


def test_the_evaluation_logic_holds_the_plan_checks_of_its_results(
    logic, runner, tumor_lps, monkeypatch
):
    document, evaluation = logic.session.document, logic.evaluation
    assert evaluation.acceptance is None  # nothing evaluated: nothing to judge
    document.add_probe_at(tumor_lps)
    judged = []
    rule = evaluation_logic.accept_plan

    def counted(metrics, settings, **options):
        judged.append(settings)
        return rule(metrics, settings, **options)

    monkeypatch.setattr(evaluation_logic, "accept_plan", counted)
    evaluation.evaluate_now()
    runner.run_pending()  # the worker judges the results it computed
    metrics, settings = document.results.metrics, document.plan.settings
    assert judged == [settings]
    acceptance = evaluation.acceptance
    assert acceptance == accept_plan(metrics, settings)  # the one rule of report and CLI
    assert evaluation.acceptance is acceptance and judged == [settings]  # kept, not re-judged
    assert {check.kind for check in acceptance.checks} >= {CheckKind.MARGIN, CheckKind.PATHS}
    # Other goals of the same metrics: judged once more, against the new settings.
    tighter = dataclasses.replace(settings, coverage_goal_percent=100.0)
    assert evaluation.judge(metrics, tighter) == accept_plan(metrics, tighter)
    assert judged == [settings, tighter]


def test_the_segmentation_logic_keeps_the_tumor_size_per_label_map(logic):
    labels = logic.session.document.labels
    tumor = labels.mask("tumor")
    size = logic.segmentation.tumor_size(labels, "tumor")
    assert size.volume_ml == pytest.approx(mask_volume_ml(tumor, labels.geometry))
    assert size.max_diameter_mm == pytest.approx(max_diameter_mm(tumor, labels.geometry))
    assert logic.segmentation.tumor_size(labels, "tumor") is size  # measured once
    assert logic.segmentation.tumor_size(labels, "liver") is None  # no such label
    assert logic.segmentation.tumor_size(None, "tumor") is None
    emptied = labels.with_mask("tumor", np.zeros_like(tumor))
    assert logic.segmentation.tumor_size(emptied, "tumor") is None


def test_the_optimizer_proposal_carries_the_optimizers_verdict_while_its_metrics_are_fresh(
    logic, runner, tumor_lps
):
    document = logic.session.document
    document.add_probe_at(tumor_lps)
    logic.evaluation.evaluate_now()
    runner.run_pending()
    plan = document.plan.with_metrics(document.results.metrics)
    verdict = accept_plan(plan.metrics, plan.settings)

    def result(of_plan):  # what optimize_plan returns, as far as the logic reads it
        return SimpleNamespace(plan=of_plan, simulation=None, runtime_s=1.0, log=[],
                               acceptance=verdict)  # fmt: skip

    logic.optimizer.optimized(result(plan), document.labels)
    assert logic.optimizer.proposal.acceptance is verdict
    moved = plan.with_probes(plan.probes[:0])  # metrics kept, probes removed: stale
    logic.optimizer.optimized(result(moved), document.labels)
    assert logic.optimizer.proposal.acceptance is None  # its metrics are of another plan
