"""`cryoplan plan` and `cryoplan evaluate`: arguments, errors, evaluation of an edited plan."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from planning_phantoms import torso_phantom

from planning_core.cli import main
from planning_core.figures import format_margin_mm
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import write_label_map, write_volume
from planning_core.planning.case_files import write_plan_case_files
from planning_core.planning.case_reference import CaseReference
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.plan_json import load_plan, save_plan
from planning_core.planning.settings import PlanSettings


def test_plan_needs_a_tumor_seed_or_labels(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["plan", "kidney", "--out", "p.json"])
    assert exited.value.code == 2
    assert "--tumor-seed" in capsys.readouterr().err


def test_plan_refuses_a_non_json_output(tmp_path, capsys):
    code = main(["plan", "kidney", "--tumor-seed", "0,0,0", "--out", str(tmp_path / "p.txt")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "must end in .json" in err


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [("--max-freeze-min", "200", "200 min is outside its range [1, 120] min"),
     ("--margin-mm", "30", "30 mm is outside its range [0, 20] mm")],
)  # fmt: skip
def test_an_out_of_range_flag_is_named_by_its_flag_in_its_unit(tmp_path, capsys, flag, value, said):
    # Issue 17: error hints name the flag a user typed, never the setting's internal name.
    out = str(tmp_path / "p.json")
    code = main(["plan", "kidney", "--tumor-seed", "0,0,0", "--out", out, flag, value])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"{flag} = {said}" in err
    assert "max_total_freeze_s" not in err and "margin_mm" not in err


def test_plan_seed_must_be_three_numbers(capsys):
    with pytest.raises(SystemExit):
        main(["plan", "kidney", "--tumor-seed", "1,2", "--out", "p.json"])
    assert "three" in capsys.readouterr().err


def test_evaluate_names_a_missing_plan(tmp_path, capsys):
    code = main(["evaluate", str(tmp_path / "none.json")])
    assert code == 2
    assert "no such plan file" in capsys.readouterr().err


@pytest.fixture()
def saved_plan(tmp_path):
    labels = torso_phantom(tumor_radius_mm=5.0)
    volume = Volume(np.where(labels.voxels == 0, -1000, 40).astype(np.int16), labels.geometry, "CT")
    image = tmp_path / "image.nii.gz"
    write_volume(volume, image)
    plan = Plan(
        probes=(PlannedProbe("argon-2.4", (0.0, 20.0, 0.0), (0.0, -60.0, 0.0), "P1"),),
        protocol="F10-T8-F10",
        settings=PlanSettings(margin_mm=2.0),
        case=CaseReference.for_volume(volume),
    )
    path = tmp_path / "edited.json"
    save_plan(write_plan_case_files(plan, plan_path=path, label_map=labels, image_path=image), path)
    return path


def test_evaluate_fills_fresh_metrics_of_an_edited_plan(saved_plan, capsys):
    code = main(["evaluate", str(saved_plan), "--spacing-mm", "2", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["probe_count"] == 1 and not summary["stale"]
    assert summary["tumor_and_margin_coverage_percent"] > 90.0
    assert summary["probes"][0]["skin_to_tip_mm"] == pytest.approx(70.0, abs=1.5)  # skin at y = -50
    plan = load_plan(saved_plan)
    assert not plan.metrics_stale()
    assert plan.thermal_fields_path is not None and plan.thermal_fields_path.exists()
    # Moving the probe makes the saved metrics stale until evaluated again.
    moved = plan.with_probes((dataclasses.replace(plan.probes[0], tip_lps_mm=(3.0, 20.0, 0.0)),))
    assert moved.metrics_stale()


def test_evaluate_prints_a_readable_summary(saved_plan, capsys):
    assert main(["evaluate", str(saved_plan), "--spacing-mm", "2"]) == 0
    out = capsys.readouterr().out
    assert "1 probe(s), protocol F10-T8-F10" in out
    assert "minimal ablative margin" in out and "organs at risk" in out


def test_the_last_line_names_each_failed_check_with_its_numbers_and_flag(saved_plan, capsys):
    # One probe cannot kill 8 mm around the tumor: the final line must say which check
    # fails, by how much, and which option changes it (not "no plan passed").
    plan = load_plan(saved_plan)
    wide = dataclasses.replace(plan, settings=PlanSettings(margin_mm=8.0))
    save_plan(wide, saved_plan)
    assert main(["evaluate", str(saved_plan), "--spacing-mm", "2"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    metrics = load_plan(saved_plan).metrics
    assert last.startswith("plan checks FAIL: ")
    assert f"minimal ablative margin: {format_margin_mm(metrics.margin.minimum_mm)}" in last
    assert "(goal ≥ 8 mm; change --margin-mm / 'Safety margin'" in last


def test_infeasible_plan_is_one_line_and_saves_the_best_partial_plan(tmp_path, capsys):
    labels = torso_phantom(tumor_radius_mm=18.0)
    volume = Volume(np.where(labels.voxels == 0, -1000, 40).astype(np.int16), labels.geometry, "CT")
    write_volume(volume, tmp_path / "image.nii.gz")
    write_label_map(labels, tmp_path / "labels.nii.gz")
    out = tmp_path / "big.json"
    code = main(
        [
            "plan", str(tmp_path / "image.nii.gz"), "--labels", str(tmp_path / "labels.nii.gz"),
            "--out", str(out), "--max-probes", "1", "--robustness-samples", "0",
        ]
    )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert "--max-probes" in err[-1] and "big.partial.json" in err[-1]
    assert len(load_plan(tmp_path / "big.partial.json").probes) == 1
    assert not out.exists()
