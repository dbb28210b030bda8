"""Organ sites: "not assessed" is never "safe" (issue 15, item 3).

A kidney tumor whose label map lacks the duodenum, ureter or spleen must say so in
its metrics, its plan file and its summary, and never be called clear.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pytest
from planning_phantoms import grid_lps

from planning_core.commands import plan as plan_command
from planning_core.errors import InvalidParameterError, PlanFileError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import STANDARD_LABELS, LabelMap
from planning_core.planning.acceptance import organs_at_risk_check
from planning_core.planning.metrics import compute_plan_metrics, oar_names
from planning_core.planning.organ_sites import ORGAN_SITES, infer_organ_site
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.plan_json import plan_from_dict, plan_to_dict
from planning_core.planning.settings import PlanSettings

GEOMETRY = Geometry((31, 51, 71), (2.0, 2.0, 2.0), (-70.0, -50.0, -30.0))
LPS = grid_lps(GEOMETRY)


def _ball(centre: tuple[float, float, float], radius_mm: float) -> np.ndarray:
    return np.linalg.norm(LPS - np.asarray(centre), axis=-1) <= radius_mm


def _labels(host: str | None = "kidney") -> LabelMap:
    """Body, a host organ of 22 mm radius around a 10 mm tumor, liver and colon nearby."""
    x, y = LPS[..., 0], LPS[..., 1]
    labels = LabelMap.empty(GEOMETRY).with_mask("body", (x / 68) ** 2 + (y / 48) ** 2 <= 1)
    if host is not None:
        labels = labels.with_mask(host, _ball((0, 0, 0), 22.0))
    labels = labels.with_mask("liver", _ball((40, 0, 0), 12.0))
    labels = labels.with_mask("colon", _ball((-45, 0, 0), 5.0))
    labels = labels.with_mask("ureter", np.zeros(GEOMETRY.shape, dtype=bool))  # empty label
    return labels.with_mask("tumor", _ball((0, 0, 0), 10.0))


def _plan(organ_site: str | None = None) -> Plan:
    probe = PlannedProbe("argon-2.4", (0.0, 5.0, 0.0), (0.0, -60.0, 0.0), "P1")
    return Plan(probes=(probe,), settings=PlanSettings(organ_site=organ_site))


def _evaluate(plan: Plan, labels: LabelMap):
    # A radial lethal dose: -40 °C at 14 mm from the centre, 0 °C at 18 mm.
    dose = -40.0 + 10.0 * (np.linalg.norm(LPS, axis=-1) - 14.0)
    return compute_plan_metrics(plan, labels, dose, GEOMETRY, computed_with="radial test field")


@pytest.fixture(scope="module")
def kidney_metrics():
    return _evaluate(_plan(), _labels())


def test_every_site_names_standard_labels_and_hosts():
    for site in ORGAN_SITES.values():
        assert site.organs_at_risk and site.host_labels
        for name in (*site.organs_at_risk, *site.host_labels):
            assert name in STANDARD_LABELS, (site.name, name)


def test_the_site_is_inferred_from_the_organ_around_the_tumor(kidney_metrics):
    assert kidney_metrics.organ_site == "kidney"
    assert kidney_metrics.organ_site_inferred_from == "kidney"
    # The liver (role "anatomy") lies beside a kidney tumor: an organ at risk there.
    assert [o.name for o in kidney_metrics.oars if not o.monitored] == ["colon", "liver"]
    assert all(o.clear for o in kidney_metrics.oars)


def test_organs_the_site_lists_but_the_map_lacks_are_not_assessed(kidney_metrics):
    # The empty ureter label measures nothing either: it is not assessed, not "clear".
    assert kidney_metrics.not_assessed == (
        "bowel", "duodenum", "ureter", "renal_sinus", "spleen", "pancreas", "skin",
    )  # fmt: skip
    assert "ureter" not in [o.name for o in kidney_metrics.oars]
    text, passed = organs_at_risk_check(kidney_metrics)
    assert passed is None
    assert text.startswith("not assessed") and "duodenum" in text


def test_a_complete_label_map_lets_the_organs_pass(kidney_metrics):
    complete = dataclasses.replace(kidney_metrics, not_assessed=())
    assert organs_at_risk_check(complete) == ("all clear", True)


def test_the_site_setting_overrides_the_inference():
    metrics = _evaluate(_plan("liver"), _labels())
    assert (metrics.organ_site, metrics.organ_site_inferred_from) == ("liver", "")
    # The liver site's own organ is never its organ at risk; its list is checked instead.
    assert "liver" not in [o.name for o in metrics.oars]
    assert {"stomach", "bile_duct", "heart"} <= set(metrics.not_assessed)


def test_an_unknown_site_lists_every_sites_organs_and_never_passes():
    labels = _labels(host=None)  # the tumor lies in "body" only
    site = infer_organ_site(labels, "tumor")
    assert site.site is None and "unknown" in site.sentence()
    metrics = _evaluate(_plan(), labels)
    assert metrics.organ_site is None
    assert {"duodenum", "heart", "spinal_cord", "pectoral_muscle"} <= set(metrics.not_assessed)
    text, passed = organs_at_risk_check(metrics)
    assert passed is None and "organ site unknown" in text
    assert f"{len(metrics.not_assessed)} organs not labelled" in text  # the tables name them
    # Without a site, an "anatomy" liver is not made an organ at risk.
    assert "liver" not in oar_names(_plan(), labels)


def test_a_thin_contact_with_an_organ_does_not_make_it_the_host():
    # A tumor in fat touching a kidney over a small part of its border.
    labels = _labels(host=None)
    outside_tumor = ~labels.mask("tumor")
    touching = labels.with_mask("kidney", _ball((29, 0, 0), 20.0) & outside_tumor)  # 7 %
    assert infer_organ_site(touching, "tumor").site is None
    # An exophytic tumor: half its border in the kidney.
    exophytic = labels.with_mask("kidney", _ball((14, 0, 0), 20.0) & outside_tumor)
    assert infer_organ_site(exophytic, "tumor").site == "kidney"


def test_the_plan_file_lists_what_was_not_assessed(kidney_metrics):
    plan = _plan().with_metrics(kidney_metrics)
    data = plan_to_dict(plan)
    assert data["metrics"]["not_assessed"] == list(kidney_metrics.not_assessed)
    assert data["metrics"]["organ_site"] == "kidney"
    assert plan_from_dict(data) == plan
    # Files written before organ sites: they load, their site unknown, nothing listed.
    for key in ("organ_site", "organ_site_inferred_from", "not_assessed"):
        del data["metrics"][key]
    old = plan_from_dict(data).metrics
    assert old is not None and (old.organ_site, old.not_assessed) == (None, ())
    assert organs_at_risk_check(old)[1] is None


def test_the_site_setting_round_trips_and_keeps_old_hashes():
    assert "organ_site" not in PlanSettings().as_dict()  # old plans keep their inputs hash
    plan = _plan("kidney")
    assert plan_from_dict(plan_to_dict(plan)).settings.organ_site == "kidney"
    with pytest.raises(InvalidParameterError, match="organ site 'pancreas' is not known"):
        PlanSettings(organ_site="pancreas")
    data = plan_to_dict(plan)
    data["settings"]["organ_site"] = "spleen"
    with pytest.raises(PlanFileError, match=r"settings: organ site 'spleen'"):
        plan_from_dict(data, source="case.cryoplan.json")


def test_cryoplan_plan_takes_the_site_and_names_what_was_not_assessed(kidney_metrics, capsys):
    parser = argparse.ArgumentParser()
    plan_command.register(parser.add_subparsers())
    args = parser.parse_args(["plan", "kidney", "--labels", "l.nii.gz", "--out", "p.json",
                              "--site", "kidney"])  # fmt: skip
    assert args.site == "kidney"
    summary = plan_command.plan_summary(_plan().with_metrics(kidney_metrics))
    assert summary["not_assessed"] == list(kidney_metrics.not_assessed)
    plan_command.print_plan_summary(summary)
    out = capsys.readouterr().out
    assert "organ site kidney, inferred from the kidney label" in out
    assert "duodenum: not assessed (not labelled)" in out
    assert "all clear" not in out
