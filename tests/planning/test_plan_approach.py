"""The plan records patient position, approach, gantry check, insertion order and protection."""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import pytest
from planning_phantoms import torso_phantom

from planning_core.cli import main
from planning_core.commands.plan import with_protection
from planning_core.errors import PlanFileError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap, standard_label
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import write_label_map, write_volume
from planning_core.planning.acceptance import CheckKind, accept_plan, simulated_protection
from planning_core.planning.approach import (
    approach_for_case,
    probe_approach_checks,
    record_approach,
    refusal_counts,
    suggested_insertion_order,
)
from planning_core.planning.evaluate import evaluate_plan
from planning_core.planning.metrics import oar_ice_metrics
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.plan_approach import (
    POSITION_UNKNOWN_NOTE,
    PlanApproach,
    PlannedProtection,
    PositionReading,
)
from planning_core.planning.plan_json import load_plan, plan_to_dict, save_plan
from planning_core.planning.settings import PlanSettings
from planning_core.report.content import approach_info
from planning_core.thermal.probes import load_probe_library
from planning_core.thermal.protection import HydrodissectionLayer, SkinPack, propose_protection

# Body: 200 mm wide (L), 140 mm deep (P) elliptic cylinder, 4 mm voxels, no table plate.
GEOMETRY = Geometry((12, 80, 80), (4.0, 4.0, 5.0), (-158.0, -158.0, -30.0))


def _body_ct(position: str | None) -> tuple[Volume, np.ndarray]:
    ni, nj, _ = GEOMETRY.size_ijk
    x = (GEOMETRY.origin_lps_mm[0] + 4.0 * np.arange(ni))[None, None, :]
    y = (GEOMETRY.origin_lps_mm[1] + 4.0 * np.arange(nj))[None, :, None]
    body = np.broadcast_to((x / 100.0) ** 2 + (y / 70.0) ** 2 <= 1.0, GEOMETRY.shape).copy()
    hu = np.where(body, 20.0, -1000.0).astype(np.float32)
    metadata = {} if position is None else {"patient_position": position}
    return Volume(hu, GEOMETRY, "CT", metadata), body


def _probes() -> tuple[PlannedProbe, ...]:
    # P1 from the front (allowed supine), P2 shallower from the back (on the table),
    # P3 the deepest, from the front.
    return (
        PlannedProbe("argon-2.4", (0.0, 0.0, 0.0), (0.0, -70.0, 0.0), "P1"),
        PlannedProbe("argon-2.4", (0.0, 40.0, 0.0), (0.0, 70.0, 0.0), "P2"),
        PlannedProbe("argon-2.4", (10.0, 10.0, 0.0), (10.0, -69.0, 0.0), "P3"),
    )


def _recorded_plan(position: str | None) -> Plan:
    volume, body = _body_ct(position)
    approach = approach_for_case(volume, body_mask=body)
    entries = np.array([[0.0, -70.0, 0.0], [0.0, 70.0, 0.0]])
    insertion = np.array([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]])
    candidates, refused, per_reason = refusal_counts(approach, entries, insertion, [70.0, 30.0])
    record = record_approach(
        approach, candidate_entries=candidates, refused_total=refused, refused_entries=per_reason
    )
    layer = HydrodissectionLayer((0.0, 25.0, 0.0), (0.0, 1.0, 0.0), 6.0, 20.0, 40.0)
    pack = SkinPack((0.0, -70.0, 0.0), radius_mm=30.0)
    return Plan(
        probes=_probes(),
        settings=PlanSettings(patient_position=position or "HFS"),
        approach=record,
        protection=(
            PlannedProtection("colon", layer, "the 0 °C edge reaches into it"),
            PlannedProtection("body", pack),
        ),
    )


def test_plan_with_approach_and_protection_round_trips(tmp_path):
    plan = _recorded_plan("HFS")
    assert plan.approach.position == PositionReading("HFS", "header", "HFS")
    assert plan.approach.table_side == "back"
    assert (plan.approach.candidate_entries, plan.approach.refused_total) == (2, 1)
    path = save_plan(plan, tmp_path / "plan.json")
    loaded = load_plan(path)
    assert loaded == plan
    assert loaded.inputs_sha256() == plan.inputs_sha256()
    data = json.loads(path.read_text(encoding="utf-8"))
    written = data["approach"]
    assert written["patient_position"] == "HFS" and written["table_side"] == "back"
    assert written["refused_entries"] == 1
    # The back entry lies on the table, and its handle would reach below the table top.
    assert written["refused_by_reason"] == {
        "entry on the side the patient lies on": 1,
        "probe handle outside the gantry bore or below the table top": 1,
    }
    # Derived for readers: the back entry (P2) is refused, P3 is the deepest and goes first.
    assert [p["passed"] for p in written["probes"]] == [True, False, True]
    assert written["insertion_order"] == ["P3", "P1", "P2"]
    assert [item["kind"] for item in data["protection"]] == ["hydrodissection", "skin_pack"]
    assert data["protection"][0]["temperature_c"] == 40.0


def test_protection_enters_the_inputs_hash_only_when_there_is_some():
    plan = _recorded_plan("HFS")
    bare = Plan(probes=plan.probes, settings=plan.settings)
    assert plan.inputs_sha256() != bare.inputs_sha256()
    # The approach record does not change what the simulation computes.
    with_approach = Plan(probes=plan.probes, settings=plan.settings, approach=plan.approach)
    assert with_approach.inputs_sha256() == bare.inputs_sha256()


def test_old_plan_file_without_approach_or_protection_loads(tmp_path):
    plan = _recorded_plan("HFS")
    data = plan_to_dict(plan)
    del data["approach"], data["protection"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    loaded = load_plan(path)
    assert loaded.approach is None and loaded.protection == ()
    assert probe_approach_checks(loaded) == ()


def test_unknown_position_is_said_and_no_probe_is_judged():
    plan = _recorded_plan(None)
    assert not plan.approach.position.known and not plan.approach.table_known
    assert plan.approach.describe() == POSITION_UNKNOWN_NOTE
    assert POSITION_UNKNOWN_NOTE in plan.approach.notes
    assert plan.approach.refused_total == 0
    assert {check.passed for check in probe_approach_checks(plan)} == {None}
    assert "not assessed" in probe_approach_checks(plan)[0].describe()


def test_gantry_check_follows_the_bore_of_the_record():
    plan = _recorded_plan("HFS")
    # A probe entering from the side, level with the table top: its handle reaches
    # below the table top and out of a narrow bore.
    side = PlannedProbe("argon-2.4", (-20.0, 60.0, 0.0), (-80.0, 60.0, 0.0), "P4")
    narrow = Plan(
        probes=(*plan.probes, side),
        approach=PlanApproach(**{**plan.approach.__dict__, "bore_diameter_mm": 300.0}),
    )
    check = probe_approach_checks(narrow)[-1]
    assert check.gantry_ok is False and not check.passed
    assert any("gantry" in reason for reason in check.reasons)
    steps = suggested_insertion_order(narrow)
    assert sorted(step.probe_index for step in steps) == [0, 1, 2, 3]


def test_damaged_approach_block_names_its_path(tmp_path):
    data = plan_to_dict(_recorded_plan("HFS"))
    data["approach"]["table_down_lps"] = [0.5, 0.5, 0.0]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PlanFileError, match="approach"):
        load_plan(path)


def _colon_plan(protection: tuple[PlannedProtection, ...]) -> tuple[Plan, LabelMap]:
    """A tumor (8 mm radius) at the origin, the colon beyond P = 12 mm, one probe along S."""
    geometry = Geometry((41, 41, 41), (1.5, 1.5, 1.5), (-30.0, -30.0, -30.0))
    k, j, i = np.meshgrid(*(1.5 * np.arange(41) - 30.0,) * 3, indexing="ij")
    tumor, colon = standard_label("tumor"), standard_label("colon")
    voxels = np.zeros(geometry.shape, dtype=np.uint8)
    voxels[j >= 12.0] = colon.value
    voxels[i * i + j * j + k * k <= 64.0] = tumor.value
    model = load_probe_library().get("argon-2.4")
    tip = (0.0, 0.0, -(model.tip_offset_mm + 0.5 * model.active_length_mm))
    probe = PlannedProbe(model.id, tip, (0.0, 0.0, 150.0), "P1")
    plan = Plan(probes=(probe,), protocol="F6", protection=protection)
    return plan, LabelMap(voxels, geometry, (tumor, colon))


def test_evaluation_puts_the_plan_protection_into_the_simulation():
    layer = HydrodissectionLayer((0.0, 15.0, 0.0), (0.0, 1.0, 0.0), 6.0, 25.0, 37.0)
    bare_plan, labels = _colon_plan(())
    protected_plan, _ = _colon_plan((PlannedProtection("colon", layer),))
    bare = evaluate_plan(bare_plan, None, labels, spacing_mm=1.5, box_margin_mm=20.0)
    protected = evaluate_plan(protected_plan, None, labels, spacing_mm=1.5, box_margin_mm=20.0)
    colon = labels.mask("colon")
    bare_c = bare.simulation.resampled(labels.geometry)[colon].min()
    protected_c = protected.simulation.resampled(labels.geometry)[colon].min()
    # The held fluid keeps the ice off the colon behind it.
    assert bare_c < 0.0 < protected_c
    (bare_colon,) = [o for o in bare.metrics.oars if o.name == "colon"]
    (protected_colon,) = [o for o in protected.metrics.oars if o.name == "colon"]
    assert protected_colon.frozen_volume_ml < bare_colon.frozen_volume_ml
    assert not protected.plan.metrics_stale()


def test_report_states_position_approach_gantry_order_and_protection():
    info = approach_info(_recorded_plan("HFS"))
    assert info.assessed
    assert info.position == (
        "patient position HFS (from the image header); table on the patient's back "
        "(patient position)"
    )
    assert info.entries.startswith("the approach rules refused 1 of the 2 candidate entries")
    assert [passed for _, passed in info.gantry] == [True, False, True]
    assert "entry on the side the patient lies on" in info.gantry[1][0]
    assert info.insertion_order == ("P3", "P1", "P2")
    assert info.protection[0].startswith("hydrodissection 6 mm (infused, 40 °C")
    assert info.protection[0].endswith("for the colon")
    unknown = approach_info(_recorded_plan(None))
    assert unknown.position == POSITION_UNKNOWN_NOTE
    assert {passed for _, passed in unknown.gantry} == {None}
    old = approach_info(Plan(probes=_probes()))
    assert not old.assessed and "not assessed" in old.position


@pytest.fixture(scope="module")
def phantom_case(tmp_path_factory):
    """A torso phantom CT without Patient Position and without a table, with its labels."""
    folder = tmp_path_factory.mktemp("phantom")
    labels = torso_phantom(tumor_radius_mm=6.0)
    hu = np.where(labels.voxels == 0, -1000, 40).astype(np.int16)
    write_volume(Volume(hu, labels.geometry, "CT"), folder / "image.nii.gz")
    write_label_map(labels, folder / "labels.nii.gz")
    return folder


def _plan_json(folder, capsys, *extra: str) -> dict:
    out = folder / f"plan{len(extra)}.json"
    arguments = [
        "plan", str(folder / "image.nii.gz"), "--labels", str(folder / "labels.nii.gz"),
        "--out", str(out), "--robustness-samples", "0", "--verify-spacing-mm", "2", "--json",
        *extra,
    ]  # fmt: skip
    assert main(arguments) == 0
    return json.loads(capsys.readouterr().out)


def test_plan_says_an_unknown_position_and_records_a_given_one(phantom_case, capsys):
    unknown = _plan_json(phantom_case, capsys)["approach"]
    assert unknown["summary"] == POSITION_UNKNOWN_NOTE
    assert unknown["patient_position"] is None and unknown["refused_entries"] == 0
    assert {probe["passed"] for probe in unknown["probes"]} == {None}
    given = _plan_json(phantom_case, capsys, "--patient-position", "HFP", "--bore-mm", "650")
    approach = given["approach"]
    assert approach["patient_position"] == "HFP" and approach["position_source"] == "given"
    assert approach["table_side"] == "front" and approach["bore_diameter_mm"] == 650.0
    # Prone: the path checks already keep entries off the front (the table side);
    # the approach rules judged the rest and every placed probe passes them.
    assert approach["candidate_entries"] > 0
    assert 0 <= approach["refused_entries"] < approach["candidate_entries"]
    assert all(probe["passed"] for probe in approach["probes"])
    assert all(probe["skin_entry_lps_mm"][1] > -30.0 for probe in given["probes"])
    assert approach["insertion_order"]
    saved = load_plan(phantom_case / "plan4.json")
    assert saved.approach.position.position == "HFP"
    assert saved.settings.patient_position == "HFP"


def test_cryoplan_plan_records_proposed_protection_and_reports_the_protected_ice():
    bare_plan, labels = _colon_plan(())
    bare = evaluate_plan(bare_plan, None, labels, spacing_mm=1.5, box_margin_mm=20.0)
    proposals = propose_protection(bare.simulation, labels, {"colon": 5.0}, thickness_mm=6.0)
    assert [p.structure for p in proposals] == ["colon"]
    flags = argparse.Namespace(verify_spacing_mm=1.5, box_margin_mm=20.0)
    plan, simulation = with_protection(bare.plan, proposals, None, labels, flags)
    assert [item.structure for item in plan.protection] == ["colon"]
    assert "reaches into it" in plan.protection[0].reason
    assert not plan.metrics_stale()
    colon = labels.mask("colon")
    assert simulation.resampled(labels.geometry)[colon].min() > (
        bare.simulation.resampled(labels.geometry)[colon].min()
    )
    (frozen,) = [o.frozen_volume_ml for o in plan.metrics.oars if o.name == "colon"]
    (bare_frozen,) = [o.frozen_volume_ml for o in bare.metrics.oars if o.name == "colon"]
    assert frozen < bare_frozen


def test_an_organ_behind_simulated_hydrodissection_is_measured_behind_the_fluid():
    # The layer fills the colon's first 6 mm (P 12-18 mm): the colon the ice meets lies
    # behind it, and the organs check names the protection it credits.
    layer = HydrodissectionLayer((0.0, 15.0, 0.0), (0.0, 1.0, 0.0), 6.0, 25.0, 37.0)
    plan, labels = _colon_plan((PlannedProtection("colon", layer),))
    evaluation = evaluate_plan(plan, None, labels, spacing_mm=1.5, box_margin_mm=20.0)
    dose = evaluation.simulation.resampled(labels.geometry)
    (undisplaced,) = oar_ice_metrics(
        dose, {"colon": labels.mask("colon")}, labels.geometry,
        clearances_mm={"colon": 10.0}, lethal_isotherm_c=-40.0,
    )  # fmt: skip
    (colon,) = [o for o in evaluation.metrics.oars if o.name == "colon"]
    assert undisplaced.distance_to_ice_mm < 3.0  # the ice stops at the fluid's near face
    assert colon.distance_to_ice_mm >= undisplaced.distance_to_ice_mm + 4.0
    protected = evaluation.plan
    check = accept_plan(
        protected.metrics, protected.settings, protection=simulated_protection(protected)
    ).check(CheckKind.ORGANS)
    assert "with the simulated hydrodissection 6 mm (infused, 37 °C" in check.value
    # Metrics not simulated with the protection (it was removed since) credit nothing.
    removed = dataclasses.replace(protected, protection=())
    assert simulated_protection(removed) == ()
    assert (
        "hydrodissection"
        not in accept_plan(
            removed.metrics, removed.settings, protection=simulated_protection(removed)
        )
        .check(CheckKind.ORGANS)
        .value
    )
