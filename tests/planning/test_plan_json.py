"""Plan files: round trip, atomic save, validation with JSON paths, schema versions, staleness."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from planning_core.errors import InvalidParameterError, PlanFileError
from planning_core.planning.case_reference import CaseReference
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.plan_json import (
    PLAN_SCHEMA_VERSION,
    load_plan,
    plan_from_dict,
    plan_to_dict,
    save_plan,
)
from planning_core.planning.results import (
    AblativeMargin,
    IsothermCoverage,
    OarMetrics,
    PathReport,
    PlanMetrics,
    RobustnessSummary,
    TemperatureVolumeHistogram,
)
from planning_core.planning.settings import PlanSettings


def _plan() -> Plan:
    plan = Plan(
        probes=(
            PlannedProbe("argon-2.4", (10.0, -5.5, 3.25), (60.0, -90.0, 10.0), "P1"),
            PlannedProbe("argon-2.4", (-5.0, -4.0, 3.0), (-40.0, -95.0, 12.5), "P2"),
        ),
        protocol="F10-T8-F10",
        settings=PlanSettings(margin_mm=6.0, oar_clearances_mm={"colon": 12.0}),
        case=CaseReference("ab" * 32, "1.2", "1.2.3", "1.2.9", "CT abdomen — arterial"),
        target_label="tumor",
        oar_labels=("colon", "ureter"),
        name="right kidney",
        notes="ureter close",
    )
    path = PathReport(
        skin_entry_lps_mm=(58.0, -88.0, 9.9),
        length_in_body_mm=101.5,
        craniocaudal_angle_deg=-4.2,
        in_plane_angle_deg=-27.0,
        elevation_deg=62.5,
        usable_length_mm=175.0,
        closest_mm={"bone": 12.5, "colon": 30.0},
        clearance_mm={"bone": 2.0, "colon": 5.0},
        crossings={"pleura": 1},
        exempt=("lung",),
        problems=("passes pleura at 0.0 mm (clearance 2 mm)",),
    )
    metrics = PlanMetrics(
        computed_with="cryoplan-thermal 0.1.0",
        inputs_sha256=plan.inputs_sha256(),
        lethal_isotherm_c=-40.0,
        margin_mm=6.0,
        tumor_volume_ml=4.2,
        ice_volume_ml=40.5,
        lethal_volume_ml=15.0,
        coverage=(IsothermCoverage(0.0, 100.0, 100.0), IsothermCoverage(-40.0, 98.5, 80.25)),
        margin=AblativeMargin(-1.5, 0.5, (12.0, -3.0, 4.0)),
        oars=(
            OarMetrics("colon", 8.5, 12.0, 0.0, 0.0),
            OarMetrics("ureter", None, 5.0, 0.0, 0.0),
            OarMetrics("hepatic_vein", -2.5, 0.0, 0.4, 0.1, monitored=True),
        ),
        probe_count=2,
        total_freeze_s=1200.0,
        min_tip_spacing_mm=15.2,
        paths=(path, path),
        histograms=(
            TemperatureVolumeHistogram("tumor", 4.2, (-190.0, 0.0, 37.0), (0.0, 0.9, 1.0)),
        ),
    )
    return plan.with_metrics(metrics)


def test_round_trip_through_a_file_gives_an_equal_plan(tmp_path):
    plan = _plan()
    path = save_plan(plan, tmp_path / "plans" / "case.cryoplan.json")
    loaded = load_plan(path)
    assert loaded == plan
    assert not loaded.metrics_stale()
    assert save_plan(loaded, tmp_path / "again.json").read_text() == path.read_text()


def test_file_has_the_documented_top_level_fields(tmp_path):
    data = json.loads(save_plan(_plan(), tmp_path / "p.json").read_text(encoding="utf-8"))
    assert data["schema_version"] == PLAN_SCHEMA_VERSION == 1
    assert data["probes"][0] == {
        "model": "argon-2.4",
        "label": "P1",
        "tip_lps_mm": [10.0, -5.5, 3.25],
        "entry_lps_mm": [60.0, -90.0, 10.0],
    }
    assert data["protocol"] == "F10-T8-F10"
    assert data["settings"]["margin_mm"] == 6.0
    assert data["metrics"]["coverage"][1]["tumor_percent"] == 98.5
    assert data["metrics"]["minimal_ablative_margin"]["minimum_mm"] == -1.5
    assert data["metrics"]["oars"][0]["distance_to_ice_mm"] == 8.5
    assert data["metrics"]["stale"] is False


def test_monitored_flag_is_written_and_older_files_without_it_load(tmp_path):
    data = plan_to_dict(_plan())
    assert [o["monitored"] for o in data["metrics"]["oars"]] == [False, False, True]
    vein = plan_from_dict(data).metrics.oars[2]
    assert vein.monitored and vein.clear  # frozen, yet a monitored structure never fails
    for oar in data["metrics"]["oars"]:
        del oar["monitored"]
    assert not any(o.monitored for o in plan_from_dict(data).metrics.oars)
    data["metrics"]["oars"][0]["monitored"] = "yes"
    with pytest.raises(PlanFileError, match=r"metrics\.oars\[0\]\.monitored"):
        plan_from_dict(data, source="p.json")


def test_robustness_and_file_references_round_trip(tmp_path):
    plan = _plan()
    robust = RobustnessSummary(3.0, 20, 7, 0.85, 99.0, 99.2, 97.5, 3.1, 1.2, 3.0)
    plan = plan.with_metrics(dataclasses.replace(plan.metrics, robustness=robust))
    plan = plan.with_files(
        image_path=tmp_path / "dicom",
        labels_path=tmp_path / "case.labels.nii.gz",
        thermal_fields_path=tmp_path / "case.fields.npz",
        thermal_fields_sha256="cd" * 32,
    )
    path = save_plan(plan, tmp_path / "case.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["case"]["image_path"] == "dicom"
    assert data["thermal_fields_path"] == "case.fields.npz"
    assert data["metrics"]["robustness"]["probability"] == 0.85
    assert load_plan(path) == plan
    assert not load_plan(path).metrics_stale()  # file references are no metric inputs


def test_robustness_probability_outside_zero_to_one_is_refused(tmp_path):
    data = plan_to_dict(_plan())
    data["metrics"]["robustness"] = {
        "tip_error_mm": 3.0, "samples": 20, "seed": 0, "probability": 1.5,
        "coverage_goal_percent": 99.0, "coverage_mean_percent": 99.0,
        "coverage_p05_percent": 98.0, "margin_mean_mm": 1.0, "margin_p05_mm": 0.5,
        "grid_spacing_mm": 3.0,
    }  # fmt: skip
    with pytest.raises(PlanFileError, match=r"metrics\.robustness"):
        plan_from_dict(data, source="p.json")


def test_plan_without_case_or_metrics_round_trips(tmp_path):
    plan = Plan(probes=(PlannedProbe("ln2-13g", (0, 0, 0), (0, -50, 0)),), protocol="10-8-10")
    assert load_plan(save_plan(plan, tmp_path / "p.json")) == plan


def test_editing_probes_makes_metrics_stale_but_editing_notes_does_not():
    plan = _plan()
    moved = PlannedProbe("argon-2.4", (11.0, -5.5, 3.25), (60.0, -90.0, 10.0), "P1")
    assert plan.with_probes((moved, plan.probes[1])).metrics_stale()
    assert not dataclasses.replace(plan, notes="edited").metrics_stale()
    assert dataclasses.replace(plan, settings=PlanSettings(margin_mm=7.0)).metrics_stale()
    assert Plan().metrics_stale()


def test_file_saying_fresh_is_still_stale_when_its_inputs_were_edited(tmp_path):
    path = save_plan(_plan(), tmp_path / "p.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    data["probes"][0]["tip_lps_mm"][0] = 20.0
    assert plan_from_dict(data).metrics_stale()


def test_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = save_plan(_plan(), tmp_path / "p.json")
    before = path.read_text(encoding="utf-8")

    def broken_replace(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(PlanFileError, match="cannot write the plan"):
        save_plan(Plan(), path)
    assert path.read_text(encoding="utf-8") == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def _saved(tmp_path, edit) -> str:
    data = plan_to_dict(_plan())
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_newer_schema_version_says_which_version_is_read(tmp_path):
    path = _saved(tmp_path, lambda d: d.update(schema_version=2))
    with pytest.raises(PlanFileError, match=r"schema version 2.*reads schema version 1"):
        load_plan(path)


def test_schema_version_zero_is_refused(tmp_path):
    path = _saved(tmp_path, lambda d: d.update(schema_version=0))
    with pytest.raises(PlanFileError, match="schema_version: invalid schema version 0"):
        load_plan(path)


def test_missing_schema_version_is_named(tmp_path):
    path = _saved(tmp_path, lambda d: d.pop("schema_version"))
    with pytest.raises(PlanFileError, match=r"bad\.json: schema_version: required field"):
        load_plan(path)


def test_malformed_probe_point_names_its_json_path_and_the_file(tmp_path):
    path = _saved(tmp_path, lambda d: d["probes"][1].update(tip_lps_mm=[1.0, 2.0]))
    with pytest.raises(
        PlanFileError, match=r"bad\.json: probes\[1\]\.tip_lps_mm: expected \[x, y, z\]"
    ):
        load_plan(path)


def test_text_coordinate_is_a_type_error_at_its_path(tmp_path):
    path = _saved(tmp_path, lambda d: d["probes"][0].update(entry_lps_mm=[1.0, "2", 3.0]))
    with pytest.raises(PlanFileError, match=r"probes\[0\]\.entry_lps_mm\[1\]: expected a number"):
        load_plan(path)


def test_missing_probe_model_is_named(tmp_path):
    path = _saved(tmp_path, lambda d: d["probes"][0].pop("model"))
    with pytest.raises(PlanFileError, match=r"probes\[0\]\.model: required field is missing"):
        load_plan(path)


def test_probe_with_tip_on_entry_is_refused_at_its_path(tmp_path):
    path = _saved(tmp_path, lambda d: d["probes"][0].update(entry_lps_mm=[10.0, -5.5, 3.25]))
    with pytest.raises(PlanFileError, match=r"probes\[0\]: .*at least 1 mm"):
        load_plan(path)


def test_out_of_range_setting_names_the_setting(tmp_path):
    path = _saved(tmp_path, lambda d: d["settings"].update(margin_mm=40))
    with pytest.raises(PlanFileError, match="settings: margin_mm = 40 mm is outside its range"):
        load_plan(path)


def test_unknown_setting_is_refused(tmp_path):
    path = _saved(tmp_path, lambda d: d["settings"].update(margn_mm=4))
    with pytest.raises(PlanFileError, match=r"settings\.margn_mm: unknown setting"):
        load_plan(path)


def test_missing_setting_takes_its_default(tmp_path):
    path = _saved(tmp_path, lambda d: d["settings"].pop("max_probes"))
    assert load_plan(path).settings.max_probes == PlanSettings().max_probes


def test_probes_not_a_list_is_refused(tmp_path):
    path = _saved(tmp_path, lambda d: d.update(probes={"model": "x"}))
    with pytest.raises(PlanFileError, match="probes: expected a list, got an object"):
        load_plan(path)


def test_malformed_metric_names_its_path(tmp_path):
    path = _saved(tmp_path, lambda d: d["metrics"]["oars"][1].update(clearance_mm=None))
    with pytest.raises(PlanFileError, match=r"metrics\.oars\[1\]\.clearance_mm: expected a number"):
        load_plan(path)


def test_histogram_lengths_must_agree(tmp_path):
    path = _saved(tmp_path, lambda d: d["metrics"]["histograms"][0]["fraction_at_or_below"].pop())
    with pytest.raises(PlanFileError, match=r"histograms\[0\]\.fraction_at_or_below: expected 3"):
        load_plan(path)


def test_bad_content_hash_is_refused(tmp_path):
    path = _saved(tmp_path, lambda d: d["case"].update(content_sha256="xyz"))
    with pytest.raises(PlanFileError, match=r"case\.content_sha256: expected 64"):
        load_plan(path)


def test_empty_protocol_is_refused(tmp_path):
    path = _saved(tmp_path, lambda d: d.update(protocol="  "))
    with pytest.raises(PlanFileError, match="protocol: protocol '  ' is not a preset"):
        load_plan(path)


def test_non_finite_number_is_refused(tmp_path):
    path = tmp_path / "bad.json"
    text = json.dumps(plan_to_dict(_plan())).replace('"margin_mm": 6.0', '"margin_mm": NaN', 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PlanFileError, match=r"settings\.margin_mm: expected a finite number"):
        load_plan(path)


def test_other_json_document_is_not_a_plan(tmp_path):
    path = _saved(tmp_path, lambda d: d.update(format="cryoplan-case"))
    with pytest.raises(PlanFileError, match="not a plan file"):
        load_plan(path)


def test_truncated_file_is_reported_as_invalid_json(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text(json.dumps(plan_to_dict(_plan()))[:200], encoding="utf-8")
    with pytest.raises(PlanFileError, match=r"cut\.json: not valid JSON \(line 1"):
        load_plan(path)


def test_top_level_list_is_refused(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(PlanFileError, match="expected an object, got a list"):
        load_plan(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(PlanFileError, match="no such plan file"):
        load_plan(tmp_path / "absent.json")


def test_probe_constructor_refuses_non_finite_points():
    with pytest.raises(InvalidParameterError, match="tip_lps_mm"):
        PlannedProbe("argon-2.4", (float("inf"), 0.0, 0.0), (0.0, -50.0, 0.0))


def test_unknown_protocol_phase_is_refused():
    with pytest.raises(InvalidParameterError, match="'F10-X8' is not a preset"):
        Plan(protocol="F10-X8")
