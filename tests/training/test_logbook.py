"""The trainee logbook PDF (``write_logbook``, ``cryoplan library logbook``) via poppler."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from training_phantom import one_probe_plan, phantom_case, synthetic_metrics

from planning_core.cli import main
from planning_core.imaging.volume_io import write_label_map, write_volume
from planning_core.training.attempts import AttemptFile, record_attempt
from planning_core.training.database import LibraryError, connect
from planning_core.training.library import import_case
from planning_core.training.logbook import collect_logbook, write_logbook
from planning_core.training.scoring import score_attempt
from planning_core.training.users import ensure_trainee

#: (trainee, day of March 2026, tumor coverage %, margin coverage %, minimal margin mm)
ATTEMPTS = (
    ("Ann Resident", 1, 72.0, 55.0, -6.5),
    ("Ann Resident", 3, 96.0, 88.0, 2.5),
    ("Bob", 3, 100.0, 95.0, 5.0),
    ("Ann Resident", 9, 91.0, 80.0, -1.0),
)


def _run(*argv: str) -> str:
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not installed (poppler-utils); run.sh test installs it")
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, dict[int, float]]:
    """A phantom case with four scored attempts (three by Ann) and an idle trainee."""
    folder = tmp_path_factory.mktemp("logbook")
    volume, labels = phantom_case()
    write_volume(volume, folder / "image.mha")
    write_label_map(labels, folder / "labels.nii.gz")
    path = folder / "lib" / "library.sqlite3"
    connection = connect(path)
    import_case(
        connection, folder / "image.mha", folder / "labels.nii.gz", case_id="ph",
        title="Phantom sphere",
    )  # fmt: skip
    reference = synthetic_metrics()
    scores = {}
    for who, day, tumor, zone, margin in ATTEMPTS:
        metrics = synthetic_metrics(tumor=tumor, zone=zone, margin_mm=margin)
        plan = one_probe_plan().with_metrics(metrics)
        score = score_attempt(metrics, reference)
        attempt = AttemptFile(
            plan,
            who,
            "ph",
            f"2026-03-{day:02d}T09:48:00+00:00",
            f"2026-03-{day:02d}T10:00:00+00:00",
        )
        scores[record_attempt(connection, attempt, plan, score).id] = score.total
    ensure_trainee(connection, "Idle Trainee", created_at="2026-03-01T08:00:00+00:00")
    connection.close()
    return path, scores


def test_logbook_content_counts_ann_only(library):
    path, scores = library
    connection = connect(path)
    logbook = collect_logbook(connection, "  Ann   Resident ")
    connection.close()
    assert logbook.trainee == "Ann Resident"
    assert [line.record.id for line in logbook.attempts] == [1, 2, 4]
    assert [line.minimal_margin_mm for line in logbook.attempts] == [-6.5, 2.5, -1.0]
    assert [line.margin_coverage_percent for line in logbook.attempts] == [55.0, 88.0, 80.0]
    assert logbook.total_time_s == pytest.approx(3 * 12 * 60.0)
    (best,) = logbook.bests
    assert best.best_attempt_id == 2 and best.best_score == pytest.approx(scores[2])
    assert logbook.first_at.day == 1 and logbook.last_at.day == 9


def test_logbook_pdf_lists_period_attempts_best_feedback_and_plot(library, tmp_path):
    path, scores = library
    connection = connect(path)
    out = write_logbook(connection, "Ann Resident", tmp_path / "out" / "ann.pdf")
    feedback = [a.feedback[0] for a in _ann_records(connection)]
    connection.close()
    info = dict(
        line.split(":", 1) for line in _run("pdfinfo", str(out)).splitlines() if ":" in line
    )
    assert info["Page size"].strip().startswith("595.276 x 841.89")  # A4, like the report
    assert info["Title"].strip() == "Practice logbook: Ann Resident"
    text = " ".join(_run("pdftotext", str(out), "-").split())
    assert "Practice logbook: Ann Resident" in text
    assert "2026-03-01 to 2026-03-09" in text
    assert "Attempts 3" in text and "Time spent planning 36 min" in text
    assert f"ph Phantom sphere 3 {scores[2]:.1f}" in text
    for attempt_id, (coverage, zone, margin) in {
        1: ("72.0 %", "55.0 %", "-6.5 mm"),
        2: ("96.0 %", "88.0 %", "2.5 mm"),
        4: ("91.0 %", "80.0 %", "-1.0 mm"),
    }.items():
        assert f"{scores[attempt_id]:.1f} {coverage} {zone} {margin} 12 min" in text
    for sentence in feedback:
        assert " ".join(sentence.split()) in text
    assert "Bob" not in text  # another trainee's attempt
    pages = int(info["Pages"])
    assert text.count("Page 1 of") == 1 and f"Page {pages} of {pages}" in text
    listing = _run("pdfimages", "-list", str(out)).splitlines()[2:]
    assert [line.split()[2] for line in listing].count("image") == 1  # the history plot
    for line in _run("pdffonts", str(out)).splitlines()[2:]:
        assert line.split()[-5] == "yes", f"font not embedded: {line}"


def _ann_records(connection):
    from planning_core.training.history import trainee_history

    return trainee_history(connection, "Ann Resident")


def test_logbook_of_a_trainee_without_attempts_says_so(library, tmp_path):
    path, _ = library
    connection = connect(path)
    out = write_logbook(connection, "Idle Trainee", tmp_path / "idle.pdf")
    connection.close()
    text = " ".join(_run("pdftotext", str(out), "-").split())
    assert "no attempts yet" in text and "Attempts 0" in text


def test_logbook_command(library, tmp_path, capsys):
    path, _ = library
    out = tmp_path / "cli.pdf"
    argv = ["library", "logbook", "--trainee", "Ann Resident", "--out", str(out)]
    assert main([*argv, "--library", str(path), "--json"]) == 0
    reply = json.loads(capsys.readouterr().out)
    assert reply == {"trainee": "Ann Resident", "path": str(out), "attempts": 3, "cases": 1}
    assert out.read_bytes().startswith(b"%PDF")
    assert main(["library", "logbook", "--trainee", "Eve", "--out", str(out), "--library",
                 str(path)]) == 2  # fmt: skip
    error = capsys.readouterr().err
    assert "no trainee 'Eve'" in error and "Ann Resident" in error and len(error.splitlines()) == 1


def test_unknown_trainee_is_refused(library, tmp_path):
    path, _ = library
    connection = connect(path)
    with pytest.raises(LibraryError, match="no trainee 'Eve'"):
        write_logbook(connection, "Eve", tmp_path / "eve.pdf")
    connection.close()
    assert not (tmp_path / "eve.pdf").exists()
