"""The training library's SQLite database: location, connection settings, schema migrations.

One file holds cases, trainees and attempts. It is opened in WAL mode so that
two application windows (or a window and a script) can read while one writes,
with a busy timeout so that concurrent writers wait instead of failing.
Opening a current library only reads: the write lock is taken by writes
(:func:`write_transaction`) and by a schema upgrade, never by a reader.
The schema carries its version in ``schema_version``; :data:`MIGRATIONS` lists
the steps from an empty file to the current version, each applied in one
transaction after a backup copy of the file was written beside it, so a
library written by an older release is upgraded on opening.

Errors tell apart a library that is busy (another window or command holds the
write lock: retry), one that is damaged (``PRAGMA quick_check`` or SQLite says
so: how to recover) and other failures (permissions, disk).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from planning_core.atomic import atomic_path
from planning_core.errors import PlanningError

#: Environment variable that overrides the library location.
LIBRARY_ENV = "CRYOPLAN_LIBRARY"
#: How long a writer waits for another writer's lock before failing (ms).
BUSY_TIMEOUT_MS = 30_000
#: SQLite result codes of a lock held by another connection.
_BUSY_CODES = ("SQLITE_BUSY", "SQLITE_LOCKED")
#: SQLite result codes and message fragments of a damaged file.
_CORRUPT_CODES = ("SQLITE_CORRUPT",)
_CORRUPT_TEXTS = ("malformed", "corrupt")


class LibraryError(PlanningError):
    """The training library cannot be opened, is newer than this software, or lacks an entry."""


class LibraryBusyError(LibraryError):
    """Another window or command holds the library's write lock longer than the busy timeout."""


class LibraryCorruptError(LibraryError):
    """The library file is damaged (SQLite reports corruption or holds an unreadable version)."""


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


# The nearest structure to avoid (vessel, renal sinus...), which now counts for difficulty;
# cases imported before keep NULL until imported again.
_V3 = (
    "ALTER TABLE cases ADD COLUMN nearest_avoid TEXT",
    "ALTER TABLE cases ADD COLUMN nearest_avoid_mm REAL",
)


# The library's random secret that keys the date shift and UIDs of de-identified imports
# (planning_core.training.deidentify); a library upgraded from an older release gets one here.
_V4 = (
    "CREATE TABLE library_secret (id INTEGER PRIMARY KEY CHECK (id = 1), secret BLOB NOT NULL)",
    "INSERT INTO library_secret (id, secret) VALUES (1, randomblob(32))",
)


# Ablation outcomes: what a plan predicted and what the post-ablation CT showed, one row per
# plan and post-ablation series (planning_core.training.outcomes).
_V5 = (
    """CREATE TABLE outcomes (
        id INTEGER PRIMARY KEY,
        plan_sha256 TEXT NOT NULL,
        post_series_uid TEXT NOT NULL,
        plan_path TEXT NOT NULL,
        organ_site TEXT,
        probe_models TEXT NOT NULL,
        protocol TEXT NOT NULL,
        lethal_isotherm_c REAL NOT NULL,
        predicted_volume_ml REAL NOT NULL,
        actual_volume_ml REAL NOT NULL,
        mean_signed_residual_mm REAL NOT NULL,
        dice REAL NOT NULL,
        best_matching_isotherm_c REAL,
        minimal_ablative_margin_mm REAL NOT NULL,
        registration_method TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        UNIQUE (plan_sha256, post_series_uid)
    )""",
)


#: Schema steps in order: the statements of ``MIGRATIONS[n]`` turn version ``n`` into ``n + 1``.
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3, _V4, _V5)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(connection: sqlite3.Connection, *, where: str = "library") -> int:
    """The schema version stored in the database (0 for an empty file).

    Raises
    ------
    LibraryCorruptError
        When the stored version is not a whole number (the file was altered).
    """
    exists = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    row = connection.execute("SELECT version FROM schema_version").fetchone()
    if row is None:
        return 0
    value = row[0]
    if isinstance(value, int):
        return value
    raise LibraryCorruptError(
        f"{where}: the library's schema version is {value!r}, not a whole number; the file "
        f"was altered or damaged. {_recovery_advice(where)}"
    )


def migrate(
    connection: sqlite3.Connection, *, target_version: int = SCHEMA_VERSION, where: str = "library"
) -> int:
    """Bring the schema up to ``target_version``; each step runs in its own transaction.

    A library already at ``target_version`` is only read (no write lock). Before
    the first step, a copy of the file is written beside it
    (:func:`backup_library`).

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
    version = _checked_version(connection, where)
    if version >= target_version:
        return version
    if version > 0:
        backup_library(connection, version)
    while True:
        # The version is read again inside the write transaction, so two processes
        # opening an old library at once apply each step only once.
        with write_transaction(connection, where=where):
            version = _checked_version(connection, where)
            if version >= target_version:
                return version
            for statement in MIGRATIONS[version]:
                connection.execute(statement)
            connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            connection.execute("DELETE FROM schema_version")
            connection.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))


def _checked_version(connection: sqlite3.Connection, where: str) -> int:
    version = schema_version(connection, where=where)
    if version > SCHEMA_VERSION:
        raise LibraryError(
            f"{where}: the library has schema version {version}, written by a newer "
            f"cryoplan; this software reads up to version {SCHEMA_VERSION}. "
            f"Update cryoplan or set {LIBRARY_ENV} to another file."
        )
    if version < 0:
        raise LibraryCorruptError(
            f"{where}: the library's schema version is {version}; the file was altered or "
            f"damaged. {_recovery_advice(where)}"
        )
    return version


def backup_library(connection: sqlite3.Connection, version: int) -> Path | None:
    """Copy the database to ``<file>.v<version>-<UTC time>.backup`` beside it.

    Made before a schema upgrade, so the library as the older release wrote it
    can be restored. Returns the copy (``None`` for an in-memory database).
    """
    source = database_file(connection)
    if source is None:
        return None
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    destination = source.with_name(f"{source.name}.v{version}-{stamp}.backup")
    try:
        with atomic_path(destination) as temporary:
            copy = sqlite3.connect(temporary)
            try:
                connection.backup(copy)
            finally:
                copy.close()
    except OSError as error:
        raise LibraryError(
            f"{destination}: cannot write the backup made before upgrading the library "
            f"({error.strerror or error}); free disk space or make {source.parent} writable, "
            "then open the library again."
        ) from error
    return destination


def database_file(connection: sqlite3.Connection) -> Path | None:
    """The library database file of ``connection``; ``None`` for an in-memory database."""
    row = connection.execute("PRAGMA database_list").fetchone()
    return Path(row[2]) if row is not None and row[2] else None


def library_backups(path: str | os.PathLike[str]) -> tuple[Path, ...]:
    """The backups made before upgrades of the library ``path``, oldest first."""
    path = Path(path)
    return tuple(sorted(path.parent.glob(f"{path.name}.v*.backup")))


def _recovery_advice(where: str) -> str:
    backups = library_backups(where) if where else ()
    restore = (
        f"restore the copy made before the last upgrade ({backups[-1]}) by copying it over the "
        "file, or "
        if backups
        else ""
    )
    return (
        f"To recover: close every cryoplan window, keep the damaged file, then {restore}save "
        f"what is readable with `sqlite3 {where} .recover | sqlite3 recovered.sqlite3` and set "
        f"{LIBRARY_ENV} to the recovered file; the case files beside it are not affected."
    )


def library_error(error: sqlite3.Error, where: str) -> LibraryError:
    """The user-facing error for an SQLite error on the library ``where``.

    A lock held by another connection becomes :class:`LibraryBusyError` (retry),
    a damaged file :class:`LibraryCorruptError` (how to recover), anything else a
    plain :class:`LibraryError` naming the file and SQLite's message.
    """
    name = getattr(error, "sqlite_errorname", "") or ""
    text = str(error).lower()
    if name.startswith(_BUSY_CODES) or "database is locked" in text or "busy" in text:
        return LibraryBusyError(
            f"{where}: the training library is busy (another cryoplan window or command is "
            f"writing to it for over {BUSY_TIMEOUT_MS / 1000:g} s); retry when it has finished. "
            "The library is not damaged."
        )
    if name.startswith("SQLITE_NOTADB") or "not a database" in text:
        return LibraryCorruptError(
            f"{where}: not an SQLite database ({error}): another kind of file, or a damaged "
            f"library. {_recovery_advice(where)}"
        )
    if name.startswith(_CORRUPT_CODES) or any(t in text for t in _CORRUPT_TEXTS):
        return LibraryCorruptError(
            f"{where}: the training library file is damaged ({error}). {_recovery_advice(where)}"
        )
    return LibraryError(f"{where}: the training library cannot be used ({error}).")


@contextlib.contextmanager
def write_transaction(
    connection: sqlite3.Connection, *, where: str | None = None
) -> Iterator[None]:
    """A transaction that takes the write lock at once (waiting up to the busy timeout).

    Taking the lock at the start, not at the first write, keeps two writers from
    both reading and then failing to upgrade their locks (SQLITE_BUSY). When the
    lock stays taken past the busy timeout, :class:`LibraryBusyError` says so.
    """
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        raise library_error(error, where or str(database_file(connection))) from error
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

    Opening a current library reads only; its integrity is checked with
    ``PRAGMA quick_check`` so that a damaged file is reported at once.

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

    Raises
    ------
    LibraryBusyError, LibraryCorruptError, LibraryError
        See :func:`library_error`.
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
        problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise LibraryCorruptError(
                f"{path}: the training library file is damaged ({'; '.join(problems[:3])}). "
                f"{_recovery_advice(str(path))}"
            )
        migrate(connection, target_version=target_version, where=str(path))
    except sqlite3.Error as error:
        connection.close()
        raise library_error(error, str(path)) from error
    except BaseException:
        connection.close()
        raise
    return connection


@contextlib.contextmanager
def open_library(path: str | os.PathLike[str] | None = None) -> Iterator[sqlite3.Connection]:
    """:func:`connect`, closed afterwards; SQLite errors on the way become library errors.

    A page found damaged by a later query, or a lock held past the busy timeout,
    ends the operation with :func:`library_error`'s message instead of a traceback.
    """
    where = str(default_library_path() if path is None else Path(path))
    connection = connect(path)
    try:
        yield connection
    except sqlite3.Error as error:
        raise library_error(error, where) from error
    finally:
        connection.close()


def library_folder(connection: sqlite3.Connection) -> Path:
    """The folder beside the database file where case files are stored."""
    return Path(database_file(connection) or ".").parent / "cases"
