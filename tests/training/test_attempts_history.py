"""Attempt files, stored attempts, trainees and history."""

from __future__ import annotations

import dataclasses

import pytest
from training_phantom import one_probe_plan, phantom_case, synthetic_metrics

from planning_core.cli import main
from planning_core.errors import PlanFileError
from planning_core.imaging.volume_io import write_label_map, write_volume
from planning_core.planning.plan_json import save_plan
from planning_core.training.attempts import (
    AttemptFile,
    list_attempts,
    load_attempt,
    record_attempt,
    save_attempt,
)
from planning_core.training.database import LibraryError, connect
from planning_core.training.history import best_per_case, history_plot_png, trainee_history
from planning_core.training.library import import_case
from planning_core.training.scoring import score_attempt
from planning_core.training.users import clean_name, ensure_trainee, list_trainees

STARTED = "2026-03-01T10:00:00+00:00"
SUBMITTED = "2026-03-01T10:17:30+00:00"


def test_attempt_file_round_trip(tmp_path):
    attempt = AttemptFile(one_probe_plan(), " A.   Resident ", "kidney", STARTED, SUBMITTED)
    assert attempt.trainee == "A. Resident"
    assert attempt.duration_s == pytest.approx(17.5 * 60)
    path = save_attempt(attempt, tmp_path / "attempt.json")
    loaded = load_attempt(path)
    assert loaded == dataclasses.replace(attempt, plan=loaded.plan)
    assert loaded.plan.probes == attempt.plan.probes
    assert load_attempt(path, case_id="liver").case_id == "liver"


def test_plain_plan_needs_a_case(tmp_path):
    path = save_plan(one_probe_plan(), tmp_path / "plan.json")
    with pytest.raises(PlanFileError, match="--case"):
        load_attempt(path)
    attempt = load_attempt(path, case_id="kidney")
    assert attempt.trainee == "anonymous" and attempt.duration_s is None


def test_times_are_checked():
    with pytest.raises(PlanFileError, match="before started_at"):
        AttemptFile(one_probe_plan(), "A", "kidney", SUBMITTED, STARTED)
    with pytest.raises(PlanFileError, match="ISO 8601"):
        AttemptFile(one_probe_plan(), "A", "kidney", "yesterday", SUBMITTED)


def test_trainee_names_are_cleaned_and_checked(tmp_path):
    assert clean_name("  Dr   Who ") == "Dr Who"
    with pytest.raises(LibraryError, match="1 to 80"):
        clean_name("   ")
    with pytest.raises(LibraryError, match="control"):
        clean_name("A\x07B")
    connection = connect(tmp_path / "library.sqlite3")
    first = ensure_trainee(connection, "Dr Who", created_at=STARTED)
    assert ensure_trainee(connection, " Dr  Who", created_at=SUBMITTED) == first
    assert [t.name for t in list_trainees(connection)] == ["Dr Who"]
    connection.close()


def test_recorded_attempts_history_and_best(tmp_path):
    volume, labels = phantom_case()
    write_volume(volume, tmp_path / "image.mha")
    write_label_map(labels, tmp_path / "labels.nii.gz")
    connection = connect(tmp_path / "lib" / "library.sqlite3")
    import_case(connection, tmp_path / "image.mha", tmp_path / "labels.nii.gz", case_id="ph")
    reference = synthetic_metrics()
    plan = one_probe_plan().with_metrics(synthetic_metrics(tumor=90.0))
    scores = {}
    for minute, (who, tumor) in enumerate(
        [("Ann", 80.0), ("Ann", 95.0), ("Bob", 100.0), ("Ann", 90.0)]
    ):
        score = score_attempt(synthetic_metrics(tumor=tumor), reference)
        submitted = f"2026-03-0{minute + 1}T10:00:00+00:00"
        attempt = AttemptFile(plan, who, "ph", f"2026-03-0{minute + 1}T09:50:00+00:00", submitted)
        record = record_attempt(connection, attempt, plan, score)
        scores[record.id] = score.total
        assert record.duration_s == pytest.approx(600.0)
    ann = trainee_history(connection, "Ann")
    assert [a.score for a in ann] == [scores[1], scores[2], scores[4]]
    assert ann[0].breakdown["total"] == scores[1] and ann[0].feedback
    assert ann[0].plan().metrics == plan.metrics
    (best,) = best_per_case(ann)
    assert best.best_attempt_id == 2 and best.attempts == 3 and best.best_score == scores[2]
    assert best.last_submitted_at.startswith("2026-03-04")
    assert len(list_attempts(connection, case_id="ph")) == 4
    with pytest.raises(LibraryError, match="no trainee 'Eve'"):
        trainee_history(connection, "Eve")
    with pytest.raises(LibraryError, match="no case 'zz'"):
        record_attempt(connection, AttemptFile(plan, "Ann", "zz"), plan, score)
    png = history_plot_png(ann, trainee="Ann")
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    connection.close()


@pytest.mark.parametrize(
    ("column", "value"),
    [("score", "abc"), ("breakdown_json", "{not json"), ("submitted_at", "yesterday")],
)
def test_a_tampered_attempt_row_ends_history_in_one_line(tmp_path, capsys, column, value):
    path = tmp_path / "library.sqlite3"
    connection = connect(path)
    with connection:
        connection.execute(
            "INSERT INTO cases (id, title, organ, modality, image_path, labels_path, "
            "imported_at) VALUES ('ph', 'ph', 'kidney', 'CT', 'image.mha', 'l.nii.gz', 'now')"
        )
    ensure_trainee(connection, "Ann", created_at=STARTED)
    with connection:
        connection.execute(
            "INSERT INTO attempts (user_id, case_id, plan_json, score, submitted_at) "
            "VALUES (1, 'ph', '{}', 50.0, ?)",
            (SUBMITTED,),
        )
        connection.execute(f"UPDATE attempts SET {column} = ?", (value,))
    connection.close()
    assert main(["library", "history", "Ann", "--library", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "attempt 1" in error and "altered or damaged" in error
