"""The training library's work for the Training menu, without widgets."""

from __future__ import annotations

from cryoplan_app.logic.library import LibraryLogic, trainee_names, trainee_record

from planning_core.training.database import open_library
from planning_core.training.library import UnknownCaseError
from planning_core.training.users import ensure_trainee


def test_a_trainees_record_and_logbook_come_from_the_library(runner, tmp_path):
    library = tmp_path / "library.sqlite"
    with open_library(library) as connection:
        ensure_trainee(connection, "Ada Lovelace", created_at="2024-01-15T10:00:00+00:00")
    assert trainee_names(library) == ("Ada Lovelace",)
    record = trainee_record(library, "Ada Lovelace")
    assert record.attempts == () and record.bests == ()
    assert record.plot_png.startswith(b"\x89PNG")
    written = []
    path = tmp_path / "logbook.pdf"
    LibraryLogic(runner).export_logbook(library, "Ada Lovelace", path, on_done=written.append)
    assert not path.exists()  # written in the background
    runner.run_pending()
    assert written == [path] and path.read_bytes().startswith(b"%PDF")


def test_an_unknown_practice_case_is_refused_in_the_background(runner, tmp_path):
    library = tmp_path / "library.sqlite"
    LibraryLogic(runner).open_practice(library, "Ada Lovelace", "no-such-case", on_done=print)
    assert runner.submitted == ["Opening practice case no-such-case"]
    runner.run_pending()
    (error,) = runner.errors
    assert isinstance(error, UnknownCaseError) and "no-such-case" in str(error)
