"""Practice attempts: the attempt file a trainee submits, and attempts stored with their score.

An attempt file is a plan file (``docs/plan-format.md``) with one more
top-level object, ``attempt``::

    "attempt": {"trainee": "A. Resident", "case_id": "kidney",
                "started_at": "2026-03-01T10:02:11+00:00",
                "submitted_at": "2026-03-01T10:19:40+00:00"}

so every plan reader opens it as a plan, and the training tools know who
planned which library case and how long it took.
"""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planning_core.atomic import write_text_atomic
from planning_core.errors import PlanFileError
from planning_core.input_files import parse_json_text, read_json_file
from planning_core.planning.plan import Plan
from planning_core.planning.plan_json import plan_from_dict, plan_to_dict
from planning_core.training.database import (
    LibraryCorruptError,
    database_file,
    write_transaction,
)
from planning_core.training.library import get_case, utc_now
from planning_core.training.scoring import Score
from planning_core.training.users import clean_name, ensure_trainee, get_trainee

ATTEMPT_KEY = "attempt"


def parse_time(text: str, *, where: str) -> datetime.datetime:
    """An ISO 8601 time; one without a zone is taken as UTC."""
    try:
        value = datetime.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise PlanFileError(
            f"{where}: expected an ISO 8601 time such as 2026-03-01T10:02:11+00:00, got {text!r}."
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def duration_s(started_at: str | None, submitted_at: str | None) -> float | None:
    """Seconds from start to submission; ``None`` when either is unknown."""
    if started_at is None or submitted_at is None:
        return None
    start = parse_time(started_at, where="started_at")
    end = parse_time(submitted_at, where="submitted_at")
    return (end - start).total_seconds()


@dataclass(frozen=True)
class AttemptFile:
    """A trainee's plan for a library case, as submitted.

    Attributes
    ----------
    plan : Plan
        The trainee's probes and protocol.
    trainee : str
        Who planned.
    case_id : str
        Which library case.
    started_at, submitted_at : str or None
        ISO 8601 times; their difference is the time spent.
    """

    plan: Plan
    trainee: str
    case_id: str
    started_at: str | None = None
    submitted_at: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "trainee", clean_name(self.trainee))
        if not isinstance(self.case_id, str) or not self.case_id:
            raise PlanFileError(f"case_id must name a library case, got {self.case_id!r}.")
        spent = duration_s(self.started_at, self.submitted_at)
        if spent is not None and spent < 0:
            raise PlanFileError(
                f"submitted_at ({self.submitted_at}) lies before started_at ({self.started_at})."
            )

    @property
    def duration_s(self) -> float | None:
        return duration_s(self.started_at, self.submitted_at)


def attempt_to_dict(attempt: AttemptFile, *, base_dir: str | Path | None = None) -> dict[str, Any]:
    """The JSON-ready content of an attempt file."""
    data = plan_to_dict(attempt.plan, base_dir=base_dir)
    data[ATTEMPT_KEY] = {
        "trainee": attempt.trainee,
        "case_id": attempt.case_id,
        "started_at": attempt.started_at,
        "submitted_at": attempt.submitted_at,
    }
    return data


def save_attempt(attempt: AttemptFile, path: str | Path) -> Path:
    """Write an attempt file atomically."""
    path = Path(path)
    text = json.dumps(attempt_to_dict(attempt, base_dir=path.parent), indent=2, allow_nan=False)
    try:
        write_text_atomic(path, text + "\n")
    except OSError as error:
        raise PlanFileError(f"{path}: cannot write the attempt ({error}).") from error
    return path


def load_attempt(path: str | Path, *, case_id: str | None = None) -> AttemptFile:
    """Read an attempt file (or a plain plan file together with ``case_id``).

    Parameters
    ----------
    path : path
        The file.
    case_id : str, optional
        Overrides (or, for a plain plan file, supplies) the library case.

    Raises
    ------
    PlanFileError
        When the file is not a valid plan, or lacks the trainee or case.
    """
    path = Path(path)
    data = read_json_file(path, what="attempt file", error=PlanFileError, hint="Check the path.")
    plan = plan_from_dict(data, source=str(path), base_dir=Path(os.path.abspath(path)).parent)
    info = data.get(ATTEMPT_KEY) if isinstance(data, dict) else None
    info = info if isinstance(info, dict) else {}
    chosen_case = case_id or info.get("case_id")
    if not isinstance(chosen_case, str) or not chosen_case:
        raise PlanFileError(f"{path}: names no library case (attempt.case_id); pass --case ID.")
    times = {}
    for key in ("started_at", "submitted_at"):
        value = info.get(key)
        if value is not None:
            parse_time(value, where=f"{path}: attempt.{key}")
        times[key] = value
    trainee = info.get("trainee")
    if not isinstance(trainee, str) or not trainee.strip():
        trainee = "anonymous"
    return AttemptFile(plan=plan, trainee=trainee, case_id=chosen_case, **times)


@dataclass(frozen=True)
class AttemptRecord:
    """An attempt stored in the library with its score."""

    id: int
    trainee: str
    case_id: str
    score: float
    started_at: str | None
    submitted_at: str
    duration_s: float | None
    plan_json: str
    breakdown: dict[str, Any]
    feedback: tuple[str, ...]

    def plan(self) -> Plan:
        """The attempt's plan with its metrics."""
        source = f"attempt {self.id}"
        data = parse_json_text(self.plan_json, source=source, error=PlanFileError)
        return plan_from_dict(data, source=source)


def record_attempt(
    connection: sqlite3.Connection, attempt: AttemptFile, plan: Plan, score: Score
) -> AttemptRecord:
    """Store a scored attempt (the trainee is added when new).

    Parameters
    ----------
    connection : sqlite3.Connection
        The library.
    attempt : AttemptFile
        Who, which case and when; submitted now when it has no submission time.
    plan : Plan
        The evaluated plan (with the metrics the score came from).
    score : Score
        Its score.
    """
    get_case(connection, attempt.case_id)
    submitted = attempt.submitted_at or utc_now()
    trainee = ensure_trainee(connection, attempt.trainee, created_at=submitted)
    breakdown = score.as_dict()
    feedback = breakdown.pop("feedback")
    with write_transaction(connection):
        cursor = connection.execute(
            """INSERT INTO attempts (user_id, case_id, plan_json, score, started_at,
               submitted_at, duration_s, breakdown_json, feedback_json)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                trainee.id, attempt.case_id, json.dumps(plan_to_dict(plan), allow_nan=False),
                score.total, attempt.started_at, submitted,
                duration_s(attempt.started_at, submitted), json.dumps(breakdown),
                json.dumps(feedback),
            ),
        )  # fmt: skip
        attempt_id = int(cursor.lastrowid or 0)
    return _records(connection, "a.id = ?", (attempt_id,))[0]


def list_attempts(
    connection: sqlite3.Connection, *, trainee: str | None = None, case_id: str | None = None
) -> tuple[AttemptRecord, ...]:
    """Stored attempts, oldest first, optionally of one trainee and/or one case."""
    conditions, values = ["1 = 1"], []
    if trainee is not None:
        conditions.append("a.user_id = ?")
        values.append(get_trainee(connection, trainee).id)
    if case_id is not None:
        conditions.append("a.case_id = ?")
        values.append(case_id)
    return _records(connection, " AND ".join(conditions), tuple(values))


def _records(
    connection: sqlite3.Connection, condition: str, values: tuple[object, ...]
) -> tuple[AttemptRecord, ...]:
    rows = connection.execute(
        f"""SELECT a.*, u.name AS trainee FROM attempts a JOIN users u ON u.id = a.user_id
            WHERE {condition} ORDER BY a.submitted_at, a.id""",
        values,
    ).fetchall()
    return tuple(_record(connection, row) for row in rows)


def _record(connection: sqlite3.Connection, row: sqlite3.Row) -> AttemptRecord:
    """One stored attempt; a row whose values are not what cryoplan writes is reported."""
    try:
        score = float(row["score"])
        duration_s = None if row["duration_s"] is None else float(row["duration_s"])
        for column in ("started_at", "submitted_at"):
            if row[column] is not None:
                parse_time(row[column], where=column)
        breakdown = json.loads(row["breakdown_json"] or "{}")
        feedback = json.loads(row["feedback_json"] or "[]")
        if not isinstance(breakdown, dict) or not isinstance(feedback, list):
            raise ValueError("breakdown or feedback of the wrong kind")
    except (TypeError, ValueError, RecursionError, PlanFileError) as error:
        where = database_file(connection)
        raise LibraryCorruptError(
            f"{where}: attempt {row['id']} holds values cryoplan does not write ({error}); the "
            "library was altered or damaged. Restore a backup of the file, or remove that "
            "attempt with an SQLite tool."
        ) from error
    return AttemptRecord(
        id=int(row["id"]),
        trainee=row["trainee"],
        case_id=row["case_id"],
        score=score,
        started_at=row["started_at"],
        submitted_at=row["submitted_at"],
        duration_s=duration_s,
        plan_json=row["plan_json"],
        breakdown=breakdown,
        feedback=tuple(str(sentence) for sentence in feedback),
    )
