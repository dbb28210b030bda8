"""``cryoplan confirm --intra``: the JSON it promises, its files, and its messages for bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "confirm"))
from intra_phantom import intra_ct, placed_shafts, planned, planning_case

from planning_core.cli import main
from planning_core.imaging.loader import load_image
from planning_core.imaging.volume_io import write_volume
from planning_core.planning.case_files import write_plan_case_files
from planning_core.planning.case_reference import CaseReference
from planning_core.planning.plan_json import load_plan, save_plan


@pytest.fixture(scope="module")
def case_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("confirm")
    volume, labels = planning_case()
    image = folder / "planning.mha"
    write_volume(volume, image)
    plan_path = folder / "plan.json"
    plan = planned(case=CaseReference.for_volume(load_image(image)))
    save_plan(
        write_plan_case_files(plan, plan_path=plan_path, label_map=labels, image_path=image),
        plan_path,
    )
    intra = folder / "intra.mha"
    write_volume(intra_ct(placed_shafts()), intra)
    empty = folder / "no-probes.mha"
    write_volume(intra_ct([], ice_centres_lps_mm=[]), empty)
    return {"plan": plan_path, "intra": intra, "empty": empty, "folder": folder}


def test_confirm_intra_json_and_files(case_files, capsys):
    out = case_files["folder"] / "out"
    # The phantoms share one frame: four landmark pairs give the identity registration.
    fiducials = case_files["folder"] / "pairs.csv"
    points = ["0,-40,0", "30,0,10", "-30,10,-20", "0,30,30"]
    fiducials.write_text("".join(f"{p},{p}\n" for p in points))
    code = main([
        "confirm", str(case_files["plan"]), "--intra", str(case_files["intra"]),
        "--elapsed-min", "5", "--fiducials", str(fiducials), "--json", "--out", str(out),
    ])  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["registration"]["method"] == "fiducials"
    probes = data["detected_probes"]
    assert [p["matched_plan_probe"] for p in probes] == ["P1", "P2"]
    for probe in probes:
        assert len(probe["tip_lps_mm"]) == 3 and len(probe["entry_lps_mm"]) == 3
        assert probe["tip_error_mm"] < 3.0 and probe["angle_error_deg"] < 5.0
    assert data["visible_ice"]["volume_ml"] > 0
    assert data["visible_ice"]["surface_distance_to_prediction_mm"] is not None
    assert data["recommendation"]["action"] in ("proceed", "extend", "add_probe")
    assert data["recommendation"]["chosen"]["predicted_minimal_margin_mm"] is not None
    assert json.loads((out / "confirmation.json").read_text())["elapsed_s"] == 300.0
    assert (out / "confirmation.pdf").stat().st_size > 10_000
    as_placed = load_plan(out / "as-placed.plan.json")
    assert as_placed.probes[0].tip_lps_mm == pytest.approx(probes[0]["tip_lps_mm"])


def test_the_elapsed_freeze_is_asked_for_by_its_options(case_files, capsys):
    code = main(["confirm", str(case_files["plan"]), "--intra", str(case_files["intra"])])
    assert code == 2
    error = capsys.readouterr().err
    assert "--elapsed-min" in error and "--freeze-start" in error and "Traceback" not in error


def test_a_volume_file_without_series_time_needs_the_elapsed_minutes(case_files, capsys):
    code = main([
        "confirm", str(case_files["plan"]), "--intra", str(case_files["intra"]),
        "--freeze-start", "10:00",
    ])  # fmt: skip
    assert code == 2
    assert "no acquisition or series time; give --elapsed-min" in capsys.readouterr().err


def test_a_series_without_probes_is_refused_in_one_line(case_files, capsys):
    code = main([
        "confirm", str(case_files["plan"]), "--intra", str(case_files["empty"]),
        "--elapsed-min", "5",
    ])  # fmt: skip
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()  # progress lines, then the error
    assert lines[-1].startswith("cryoplan confirm: error: no probe shaft")
    assert "--intra" in lines[-1] and "--metal-hu" in lines[-1]
    assert not any("Traceback" in line for line in lines)


def test_a_missing_intra_series_is_named(case_files, capsys):
    missing = case_files["folder"] / "nowhere"
    code = main([
        "confirm", str(case_files["plan"]), "--intra", str(missing), "--elapsed-min", "5",
    ])  # fmt: skip
    assert code == 2
    assert f"--intra {missing}" in capsys.readouterr().err


def test_malformed_fiducials_are_named(case_files, capsys):
    fiducials = case_files["folder"] / "fiducials.csv"
    fiducials.write_text("px,py,pz,fx,fy,fz\n1,2,3,4,5\n")
    code = main([
        "confirm", str(case_files["plan"]), "--intra", str(case_files["intra"]),
        "--elapsed-min", "5", "--fiducials", str(fiducials),
    ])  # fmt: skip
    assert code == 2
    assert "--fiducials" in capsys.readouterr().err


def test_a_missing_post_ablation_series_is_named(case_files, capsys):
    missing = case_files["folder"] / "no-post"
    code = main(["confirm", str(case_files["plan"]), "--post", str(missing)])
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--post" in error and str(missing) in error
