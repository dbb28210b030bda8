"""Library database: settings, migrations, backups, newer and damaged files, concurrency."""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from planning_core.cli import main
from planning_core.training import database
from planning_core.training.database import (
    LIBRARY_ENV,
    SCHEMA_VERSION,
    LibraryBusyError,
    LibraryCorruptError,
    LibraryError,
    connect,
    default_library_path,
    library_backups,
    open_library,
    schema_version,
    write_transaction,
)
from planning_core.training.library import list_cases

# The schema as release 1 wrote it, frozen here so the upgrade test does not
# depend on the migration code it checks.
V1_SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
CREATE TABLE cases (id TEXT PRIMARY KEY, title TEXT NOT NULL, organ TEXT NOT NULL,
    modality TEXT NOT NULL, image_path TEXT NOT NULL, labels_path TEXT NOT NULL,
    imported_at TEXT NOT NULL);
CREATE TABLE attempts (id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    case_id TEXT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    plan_json TEXT NOT NULL, score REAL NOT NULL, started_at TEXT, submitted_at TEXT NOT NULL);
CREATE TABLE schema_version (version INTEGER);
INSERT INTO schema_version VALUES (1);
INSERT INTO users VALUES (1, 'A. Resident', '2025-01-01T00:00:00+00:00');
INSERT INTO cases VALUES ('kidney', 'Kidney', 'kidney', 'CT', 'dicom', 'labels.nii.gz',
    '2025-01-01T00:00:00+00:00');
INSERT INTO attempts VALUES (1, 1, 'kidney', '{}', 71.5, NULL, '2025-01-02T00:00:00+00:00');
"""


def test_default_location_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(LIBRARY_ENV, str(tmp_path / "lib.sqlite3"))
    assert default_library_path() == tmp_path / "lib.sqlite3"
    monkeypatch.delenv(LIBRARY_ENV)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_library_path() == tmp_path / "data" / "cryoplan" / "library.sqlite3"


def test_new_library_is_current_with_wal_and_foreign_keys(tmp_path):
    connection = connect(tmp_path / "library.sqlite3")
    assert schema_version(connection) == SCHEMA_VERSION
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError), write_transaction(connection):
        connection.execute(
            "INSERT INTO attempts (user_id, case_id, plan_json, score, submitted_at) "
            "VALUES (99, 'missing', '{}', 1.0, 'now')"
        )
    connection.close()
    # Opening again changes nothing.
    again = connect(tmp_path / "library.sqlite3")
    assert schema_version(again) == SCHEMA_VERSION
    again.close()


def test_v1_file_is_upgraded_keeping_its_rows(tmp_path):
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(V1_SCHEMA)
    old.commit()
    old.close()
    connection = connect(path)
    assert schema_version(connection) == SCHEMA_VERSION == 5
    case = connection.execute("SELECT * FROM cases").fetchone()
    assert case["title"] == "Kidney" and case["description"] == ""
    assert case["difficulty"] is None and case["reference_plan_path"] is None
    attempt = connection.execute("SELECT * FROM attempts").fetchone()
    assert attempt["score"] == 71.5 and attempt["breakdown_json"] is None
    indexes = {
        r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='index'")
    }
    assert {"attempts_by_user", "attempts_by_case"} <= indexes
    connection.close()


def test_migrating_to_v1_then_current_matches_a_fresh_library(tmp_path):
    staged = connect(tmp_path / "staged.sqlite3", target_version=1)
    assert schema_version(staged) == 1
    staged.close()
    upgraded = connect(tmp_path / "staged.sqlite3")
    fresh = connect(tmp_path / "fresh.sqlite3")

    def columns(connection, table):
        return [r["name"] for r in connection.execute(f"PRAGMA table_info({table})")]

    for table in ("users", "cases", "attempts"):
        assert columns(upgraded, table) == columns(fresh, table)
    upgraded.close()
    fresh.close()


def test_newer_library_is_refused(tmp_path):
    path = tmp_path / "future.sqlite3"
    connect(path).close()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE schema_version SET version = 99")
    raw.commit()
    raw.close()
    with pytest.raises(LibraryError, match="newer"):
        connect(path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "notes.sqlite3"
    path.write_bytes(b"these are not the pages of a database " * 200)
    with pytest.raises(LibraryCorruptError, match="not an SQLite database") as caught:
        connect(path)
    assert ".recover" in str(caught.value)


def _insert_attempts(path: str, user: str, count: int) -> None:
    connection = connect(path)
    with write_transaction(connection):
        connection.execute("INSERT INTO users (name, created_at) VALUES (?, 'now')", (user,))
    user_id = connection.execute("SELECT id FROM users WHERE name = ?", (user,)).fetchone()[0]
    for index in range(count):
        with write_transaction(connection):
            connection.execute(
                "INSERT INTO attempts (user_id, case_id, plan_json, score, submitted_at) "
                "VALUES (?, 'kidney', '{}', ?, ?)",
                (user_id, float(index), f"2026-01-01T00:00:{index:02d}"),
            )
    connection.close()


def test_two_processes_write_at_once(tmp_path):
    path = tmp_path / "shared.sqlite3"
    connection = connect(path)
    with write_transaction(connection):
        connection.execute(
            "INSERT INTO cases (id, title, organ, modality, image_path, labels_path, imported_at)"
            " VALUES ('kidney', 'Kidney', 'kidney', 'CT', 'dicom', 'labels.nii.gz', 'now')"
        )
    context = multiprocessing.get_context("spawn")
    writers = [
        context.Process(target=_insert_attempts, args=(str(path), name, 40))
        for name in ("first", "second")
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0
    rows = connection.execute(
        "SELECT u.name, COUNT(*) FROM attempts a JOIN users u ON u.id = a.user_id GROUP BY u.name"
    ).fetchall()
    assert {name: count for name, count in rows} == {"first": 40, "second": 40}
    connection.close()


def _holding_the_write_lock(path):
    """A second connection in the middle of a write (an import in another window)."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO users (name, created_at) VALUES ('writer', 'now')")
    return holder


def test_readers_take_no_write_lock_and_a_busy_writer_is_told_to_retry(tmp_path, monkeypatch):
    path = tmp_path / "library.sqlite3"
    connect(path).close()
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 200)
    holder = _holding_the_write_lock(path)
    try:
        with open_library(path) as reader:  # opening and listing read only
            assert list_cases(reader) == ()
            with pytest.raises(LibraryBusyError, match="busy") as caught, write_transaction(reader):
                pass
        message = str(caught.value)
        assert "retry" in message and "not damaged" in message and "Move the file" not in message
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def _damaged_library(path):
    """A library of 300 cases with one page overwritten (a disk error)."""
    connection = connect(path)
    with write_transaction(connection):
        for index in range(300):
            connection.execute(
                "INSERT INTO cases (id, title, organ, modality, image_path, labels_path, "
                "imported_at) VALUES (?, ?, 'kidney', 'CT', 'dicom', 'labels.nii.gz', 'now')",
                (f"case-{index}", "T" * 100),
            )
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    data = bytearray(path.read_bytes())
    page = len(data) // 4096 // 2
    data[page * 4096 : (page + 1) * 4096] = b"\xff" * 4096
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("argv", [["list", "--no-samples"], ["history", "A. Resident"]])
def test_a_damaged_page_ends_in_one_line_with_how_to_recover(tmp_path, capsys, argv):
    path = tmp_path / "library.sqlite3"
    _damaged_library(path)
    assert main(["library", *argv, "--library", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "damaged" in error and ".recover" in error


def test_a_damaged_page_met_by_a_query_is_reported_as_damage(tmp_path):
    path = tmp_path / "library.sqlite3"
    connect(path).close()
    with pytest.raises(LibraryCorruptError, match="damaged"), open_library(path):
        raise sqlite3.DatabaseError("database disk image is malformed")
    with pytest.raises(LibraryBusyError), open_library(path):
        raise sqlite3.OperationalError("database is locked")


def test_a_schema_version_that_is_no_number_is_reported_as_damage(tmp_path):
    path = tmp_path / "library.sqlite3"
    connect(path).close()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE schema_version SET version = 'abc'")
    raw.commit()
    raw.close()
    with pytest.raises(LibraryCorruptError, match="'abc'"):
        connect(path)


def test_an_upgrade_first_backs_the_library_up(tmp_path):
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(V1_SCHEMA)
    old.commit()
    old.close()
    assert library_backups(path) == ()
    connect(path).close()
    (backup,) = library_backups(path)
    assert backup.name.startswith("old.sqlite3.v1-")
    copy = sqlite3.connect(backup)
    assert copy.execute("SELECT version FROM schema_version").fetchone()[0] == 1
    assert copy.execute("SELECT score FROM attempts").fetchone()[0] == 71.5
    copy.close()
    connect(path).close()  # a current library is not backed up again
    assert len(library_backups(path)) == 1
