"""The training library's SQLite database: location, connection settings, schema migrations.

One file holds cases, trainees and attempts. It is opened in WAL mode so that
two application windows (or a window and a script) can read while one writes,
with a busy timeout so that concurrent writers wait instead of failing.
The schema carries its version in ``schema_version``; :data:`MIGRATIONS` lists
the steps from an empty file to the current version, each applied in one
transaction, so a library written by an older release is upgraded on opening.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from planning_core.errors import PlanningError

#: Environment variable that overrides the library location.
LIBRARY_ENV = "CRYOPLAN_LIBRARY"
#: How long a writer waits for another writer's lock before failing (ms).
BUSY_TIMEOUT_MS = 30_000


class LibraryError(PlanningError):
    """The training library cannot be opened, is newer than this software, or lacks an entry."""


def default_library_path() -> Path:
    """``$CRYOPLAN_LIBRARY`` or ``~/.local/share/cryoplan/library.sqlite3``."""
    override = os.environ.get(LIBRARY_ENV)
    if override:
        return Path(override).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "cryoplan" / "library.sqlite3"


_V1 = (
    """CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE cases (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        organ TEXT NOT NULL,
        modality TEXT NOT NULL,
        image_path TEXT NOT NULL,
        labels_path TEXT NOT NULL,
        imported_at TEXT NOT NULL
    )""",
    """CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        case_id TEXT NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
        plan_json TEXT NOT NULL,
        score REAL NOT NULL,
        started_at TEXT,
        submitted_at TEXT NOT NULL
    )""",
)

# Difficulty tags and the reference plan of each case; the scored details of attempts.
_V2 = (
    "ALTER TABLE cases ADD COLUMN description TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE cases ADD COLUMN tumor_diameter_mm REAL",
    "ALTER TABLE cases ADD COLUMN tumor_volume_ml REAL",
    "ALTER TABLE cases ADD COLUMN size_class TEXT",
    "ALTER TABLE cases ADD COLUMN nearest_oar TEXT",
    "ALTER TABLE cases ADD COLUMN nearest_oar_mm REAL",
    "ALTER TABLE cases ADD COLUMN difficulty TEXT",
    "ALTER TABLE cases ADD COLUMN reference_plan_path TEXT",
    "ALTER TABLE cases ADD COLUMN reference_author TEXT",
    "ALTER TABLE cases ADD COLUMN reference_grid_mm REAL",
    "ALTER TABLE attempts ADD COLUMN duration_s REAL",
    "ALTER TABLE attempts ADD COLUMN breakdown_json TEXT",
    "ALTER TABLE attempts ADD COLUMN feedback_json TEXT",
    "CREATE INDEX attempts_by_user ON attempts(user_id, submitted_at)",
    "CREATE INDEX attempts_by_case ON attempts(case_id, score)",
)


#: Schema steps in order: the statements of ``MIGRATIONS[n]`` turn version ``n`` into ``n + 1``.
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(connection: sqlite3.Connection) -> int:
    """The schema version stored in the database (0 for an empty file)."""
    exists = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    row = connection.execute("SELECT version FROM schema_version").fetchone()
    return 0 if row is None else int(row[0])


def migrate(
    connection: sqlite3.Connection, *, target_version: int = SCHEMA_VERSION, where: str = "library"
) -> int:
    """Bring the schema up to ``target_version``; each step runs in its own transaction.

    Parameters
    ----------
    connection : sqlite3.Connection
        An open connection in autocommit mode (as :func:`connect` makes it).
    target_version : int
        Version to reach; the current one by default.
    where : str
        How to name the database in errors.

    Returns
    -------
    int
        The version reached.

    Raises
    ------
    LibraryError
        When the database was written by a newer release.
    """
    if not 0 <= target_version <= SCHEMA_VERSION:
        raise LibraryError(
            f"target_version must lie between 0 and {SCHEMA_VERSION}, got {target_version}."
        )
    while True:
        # The version is read inside the write transaction, so two processes opening
        # an old library at once apply each step only once.
        with write_transaction(connection):
            version = schema_version(connection)
            if version > SCHEMA_VERSION:
                raise LibraryError(
                    f"{where}: the library has schema version {version}, written by a newer "
                    f"cryoplan; this software reads up to version {SCHEMA_VERSION}. "
                    "Update cryoplan or set CRYOPLAN_LIBRARY to another file."
                )
            if version >= target_version:
                return version
            for statement in MIGRATIONS[version]:
                connection.execute(statement)
            connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            connection.execute("DELETE FROM schema_version")
            connection.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))


@contextlib.contextmanager
def write_transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """A transaction that takes the write lock at once (waiting up to the busy timeout).

    Taking the lock at the start, not at the first write, keeps two writers from
    both reading and then failing to upgrade their locks (SQLITE_BUSY).
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def connect(
    path: str | os.PathLike[str] | None = None, *, target_version: int = SCHEMA_VERSION
) -> sqlite3.Connection:
    """Open (creating if needed) the library database and upgrade its schema.

    Parameters
    ----------
    path : path, optional
        The database file; :func:`default_library_path` when omitted.
    target_version : int
        Schema version to migrate to (tests create old versions with it).

    Returns
    -------
    sqlite3.Connection
        In autocommit mode (use :func:`write_transaction` for writes), WAL
        journal, foreign keys on, rows as :class:`sqlite3.Row`.
    """
    path = default_library_path() if path is None else Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000.0, isolation_level=None, check_same_thread=False
        )
    except (OSError, sqlite3.Error) as error:
        raise LibraryError(
            f"{path}: cannot open the training library ({error}); choose a writable location "
            f"with {LIBRARY_ENV}."
        ) from error
    try:
        connection.row_factory = sqlite3.Row
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA foreign_keys = ON")
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise LibraryError(
                f"{path}: the file system does not support SQLite WAL mode (got {mode!r}); "
                f"put the library on a local disk with {LIBRARY_ENV}."
            )
        migrate(connection, target_version=target_version, where=str(path))
    except sqlite3.DatabaseError as error:
        connection.close()
        raise LibraryError(
            f"{path}: not a usable training library ({error}). Move the file away or set "
            f"{LIBRARY_ENV} to another file."
        ) from error
    except BaseException:
        connection.close()
        raise
    return connection


def library_folder(connection: sqlite3.Connection) -> Path:
    """The folder beside the database file where case files are stored."""
    row = connection.execute("PRAGMA database_list").fetchone()
    return Path(row["file"]).parent / "cases"
