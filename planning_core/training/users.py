"""Trainees: a name each, no password (a teaching tool on one shared workstation)."""

from __future__ import annotations

import sqlite3
import unicodedata
from dataclasses import dataclass

from planning_core.training.database import LibraryError, write_transaction

MAX_NAME_LENGTH = 80


@dataclass(frozen=True)
class Trainee:
    """A user of the training mode."""

    id: int
    name: str
    created_at: str


def clean_name(name: str) -> str:
    """``name`` with surrounding blanks removed; raises for empty, overlong or control text."""
    if not isinstance(name, str):
        raise LibraryError(f"a trainee name must be text, got {name!r}.")
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > MAX_NAME_LENGTH:
        raise LibraryError(f"a trainee name must have 1 to {MAX_NAME_LENGTH} characters.")
    if any(unicodedata.category(c).startswith("C") for c in cleaned):
        raise LibraryError(f"a trainee name must not hold control characters: {name!r}.")
    return cleaned


def _trainee(row: sqlite3.Row) -> Trainee:
    return Trainee(id=int(row["id"]), name=row["name"], created_at=row["created_at"])


def find_trainee(connection: sqlite3.Connection, name: str) -> Trainee | None:
    """The trainee called ``name`` (blanks normalised), or ``None``."""
    row = connection.execute("SELECT * FROM users WHERE name = ?", (clean_name(name),)).fetchone()
    return None if row is None else _trainee(row)


def get_trainee(connection: sqlite3.Connection, name: str) -> Trainee:
    """The trainee called ``name``; raises :class:`LibraryError` naming the known ones."""
    trainee = find_trainee(connection, name)
    if trainee is None:
        known = [t.name for t in list_trainees(connection)]
        raise LibraryError(
            f"no trainee {name!r} in the library; known: {', '.join(known) or 'none'}."
        )
    return trainee


def ensure_trainee(connection: sqlite3.Connection, name: str, *, created_at: str) -> Trainee:
    """The trainee called ``name``, added first when new.

    Parameters
    ----------
    connection : sqlite3.Connection
        The library.
    name : str
        Display name (blanks normalised).
    created_at : str
        ISO 8601 time recorded for a new trainee.
    """
    cleaned = clean_name(name)
    with write_transaction(connection):
        connection.execute(
            "INSERT OR IGNORE INTO users (name, created_at) VALUES (?, ?)", (cleaned, created_at)
        )
    return get_trainee(connection, cleaned)


def list_trainees(connection: sqlite3.Connection) -> tuple[Trainee, ...]:
    """Every trainee, by name."""
    rows = connection.execute("SELECT * FROM users ORDER BY name").fetchall()
    return tuple(_trainee(row) for row in rows)
