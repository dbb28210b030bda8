"""``cryoplan library`` and ``cryoplan score`` end to end on the phantom case."""

from __future__ import annotations

import json

import pytest
from training_phantom import one_probe_plan, phantom_case

from planning_core.cli import main
from planning_core.imaging.volume_io import write_label_map, write_volume
from planning_core.planning.plan_json import save_plan
from planning_core.training.attempts import AttemptFile, save_attempt


def run_json(capsys, *argv: str):
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_import_reference_score_history_export(tmp_path, capsys):
    volume, labels = phantom_case()
    write_volume(volume, tmp_path / "image.mha")
    write_label_map(labels, tmp_path / "labels.nii.gz")
    db = str(tmp_path / "lib" / "library.sqlite3")
    library = ("--library", db)

    (case,) = run_json(
        capsys, "library", "import", str(tmp_path / "image.mha"), "--labels",
        str(tmp_path / "labels.nii.gz"), "--id", "ph", "--title", "Phantom", "--json", *library,
    )  # fmt: skip
    assert case["id"] == "ph" and case["size_class"] == "<20 mm"
    listed = run_json(capsys, "library", "list", "--no-samples", "--json", *library)
    assert [c["id"] for c in listed] == ["ph"] and listed[0]["reference_author"] is None

    save_plan(one_probe_plan(), tmp_path / "expert.json")
    reference = run_json(
        capsys, "library", "reference", "ph", "--plan", str(tmp_path / "expert.json"),
        "--author", "Dr. Attending", "--json", *library,
    )  # fmt: skip
    assert reference["reference_author"] == "Dr. Attending"

    shifted = one_probe_plan((0.0, 0.0, 4.0))
    attempt = AttemptFile(shifted, "A. Resident", "ph", "2026-03-01T10:00:00+00:00",
                          "2026-03-01T10:12:00+00:00")  # fmt: skip
    save_attempt(attempt, tmp_path / "attempt.json")
    result = run_json(
        capsys, "score", str(tmp_path / "attempt.json"), "--record", "--json", *library
    )
    assert result["case_id"] == "ph" and result["trainee"] == "A. Resident"
    assert 0.0 < result["total"] < 60.0
    assert any("inferior" in sentence for sentence in result["feedback"])
    assert result["recorded_attempt_id"] == 1

    capsys.readouterr()
    assert main(["score", str(tmp_path / "attempt.json"), *library]) == 0
    text = capsys.readouterr().out
    assert text.startswith("A. Resident on ph: score") and "Feedback:" in text

    history = run_json(
        capsys, "library", "history", "A. Resident", "--plot", str(tmp_path / "h.png"),
        "--json", *library,
    )  # fmt: skip
    assert [a["score"] for a in history["attempts"]] == [pytest.approx(result["total"])]
    assert history["attempts"][0]["duration_s"] == 720.0
    assert history["best_per_case"][0]["case_id"] == "ph"
    assert (tmp_path / "h.png").read_bytes().startswith(b"\x89PNG")

    exported = run_json(capsys, "library", "export", "--out", str(tmp_path / "out"), "--json",
                        *library)  # fmt: skip
    assert exported == [str(tmp_path / "out" / "ph")]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["library", "import", "image.mha"], "--labels"),
        (["library", "reference", "ph", "--plan", "plan.json"], "no case 'ph'"),
        (["score", "missing.json", "--case", "ph"], "no such attempt file"),
        (["library", "history", "Nobody"], "no trainee 'Nobody'"),
    ],
)
def test_user_errors_exit_2_with_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "image.mha").write_bytes(b"")
    assert main([*argv, "--library", str(tmp_path / "library.sqlite3")]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
