"""The metrics panel gives no safety verdict that nothing supports.

A real CT opened with a tumor label alone has no organ at risk and no structure
along the probe paths: the panel must say "not assessed", never "clear" or "safe".
"""

from __future__ import annotations

import dataclasses

import pytest
from cryoplan_app.qt.panels.metrics import oar_note_text, oar_rows, path_rows
from cryoplan_app.qt.panels.summary import paths_text

from planning_core.planning.acceptance import accept_plan
from planning_core.planning.results import (
    AblativeMargin,
    IsothermCoverage,
    OarMetrics,
    PathReport,
    PlanMetrics,
)
from planning_core.planning.settings import PlanSettings


def _path(closest_mm: dict[str, float]) -> PathReport:
    return PathReport((0.0, 90.0, 0.0), 90.0, 0.0, 0.0, 90.0, 170.0, closest_mm=closest_mm)


def _metrics(*, oars: tuple[OarMetrics, ...], paths: tuple[PathReport, ...]) -> PlanMetrics:
    return PlanMetrics(
        computed_with="test",
        inputs_sha256="0" * 64,
        lethal_isotherm_c=-40.0,
        margin_mm=5.0,
        tumor_volume_ml=1.0,
        ice_volume_ml=10.0,
        lethal_volume_ml=5.0,
        coverage=(IsothermCoverage(-40.0, 100.0, 100.0),),
        margin=AblativeMargin(5.0, 5.0, (0.0, 0.0, 0.0)),
        oars=oars,
        probe_count=1,
        total_freeze_s=1200.0,
        min_tip_spacing_mm=None,
        paths=paths,
    )


def test_nothing_labelled_reads_not_assessed():
    metrics = _metrics(oars=(), paths=(_path({"skin": 0.0, "body": 0.0}),))
    ((oar_texts, _),) = oar_rows(metrics)
    ((path_texts, _),) = path_rows(metrics, ["P1"])
    assert oar_texts[-1] == "not assessed"
    assert path_texts[-1].startswith("not assessed")
    assert path_texts[3] == "none labelled"


def test_labelled_structures_keep_their_verdicts():
    metrics = _metrics(
        oars=(OarMetrics("bowel", 12.0, 10.0, 0.0, 0.0),),
        paths=(_path({"skin": 0.0, "bowel": 14.0}),),
    )
    ((oar_texts, _),) = oar_rows(metrics)
    ((path_texts, _),) = path_rows(metrics, ["P1"])
    assert oar_texts[-1] == "clear"
    assert path_texts[-1] == "safe"
    assert path_texts[3].startswith("bowel")


def test_organs_the_site_lists_but_nobody_labelled_read_not_assessed():
    # The right-kidney lesion on a real CT: bowel labelled and clear, the duodenum and
    # the ureter the kidney site lists missing from the labels.
    metrics = dataclasses.replace(
        _metrics(
            oars=(OarMetrics("bowel", 12.0, 10.0, 0.0, 0.0),),
            paths=(_path({"skin": 0.0, "bowel": 14.0}),),
        ),
        organ_site="kidney",
        organ_site_inferred_from="kidney",
        not_assessed=("duodenum", "ureter"),
    )
    rows = oar_rows(metrics)
    assert [texts[0] for texts, _ in rows] == ["bowel", "duodenum", "ureter"]
    assert [texts[-1] for texts, _ in rows] == ["clear", "not assessed", "not assessed"]
    note = oar_note_text(metrics, accept_plan(metrics, PlanSettings()))
    assert "organ site kidney" in note.lower()
    assert "not assessed" in note and "duodenum, ureter" in note and "all clear" not in note


def test_summary_never_calls_paths_checked_against_nothing_safe():
    # The summary panel used to say "all 1 safe" for a path checked against skin alone,
    # while the report said "not assessed": one rule (the paths check) now serves both.
    def text(metrics: PlanMetrics) -> str:
        return paths_text(metrics, accept_plan(metrics, PlanSettings()))

    unchecked = _metrics(oars=(), paths=(_path({"skin": 0.0}),))
    assert text(unchecked).startswith("not assessed")
    on_the_ct = _metrics(oars=(), paths=(_path({"bone on the CT": 4.0}),))
    assert text(on_the_ct) == "all 1 safe"
    crossing = dataclasses.replace(_path({"bone": 0.0}), problems=("crosses bone",))
    assert text(_metrics(oars=(), paths=(crossing,))) == "unsafe: probe 1"


def test_the_summary_states_the_plan_checks_and_the_visible_ice_goal():
    # The optimizer summary judges by the one acceptance rule: a 4.2 mm margin against
    # a 5 mm goal fails there as in the report, and a visible-ice plan shows its own goal.
    from cryoplan_app.qt.panels.summary import summary_rows

    from planning_core.planning.plan import Plan
    from planning_core.planning.results import VisibleIce

    labelled = dataclasses.replace(
        _metrics(
            oars=(OarMetrics("bowel", 12.0, 10.0, 0.0, 0.0),),
            paths=(_path({"skin": 0.0, "bowel": 14.0}),),
        ),
        organ_site="kidney",
        margin=AblativeMargin(4.2, 4.6, (0.0, 0.0, 0.0)),
    )
    plan = Plan()
    with pytest.raises(ValueError, match="acceptance"):  # the panel never judges by itself
        summary_rows(plan, labelled)
    rows = dict(summary_rows(plan, labelled, acceptance=accept_plan(labelled, plan.settings)))
    assert rows["Plan checks"] == "FAIL: minimal ablative margin"
    ice = dataclasses.replace(
        labelled,
        coverage=(IsothermCoverage(-20.0, 100.0, 90.0), IsothermCoverage(-40.0, 100.0, 90.0)),
        visible_ice=VisibleIce(6.0, 99.5, AblativeMargin(6.3, 6.8, (0.0, 0.0, 0.0))),
    )
    plan = Plan(settings=PlanSettings(goal="visible-ice"))
    rows = dict(summary_rows(plan, ice, acceptance=accept_plan(ice, plan.settings)))
    assert rows["0 °C ice edge beyond the tumor"] == "6.3 mm (needs ≥ 6 mm everywhere): met"
    assert rows["Tumor covered by -20 °C"] == "100.0 % (needs ≥ 99 %): met"
    assert rows["Plan checks"] == "all pass"
