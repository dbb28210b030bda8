"""A trainee's progress: attempts over time, best score per case, and a history plot."""

from __future__ import annotations

import datetime
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure

from planning_core.report.figures import figure_png
from planning_core.training.attempts import AttemptRecord, list_attempts, parse_time


@dataclass(frozen=True)
class CaseBest:
    """A trainee's record on one case.

    Attributes
    ----------
    case_id : str
    best_score : float
        Highest score over the attempts.
    best_attempt_id : int
        The attempt that reached it (the earliest, on ties).
    attempts : int
        Number of attempts.
    last_submitted_at : str
        When the latest attempt was submitted.
    """

    case_id: str
    best_score: float
    best_attempt_id: int
    attempts: int
    last_submitted_at: str


def trainee_history(connection: sqlite3.Connection, trainee: str) -> tuple[AttemptRecord, ...]:
    """All attempts of ``trainee``, oldest first."""
    return list_attempts(connection, trainee=trainee)


def best_per_case(attempts: Sequence[AttemptRecord]) -> tuple[CaseBest, ...]:
    """Per case, the best score and how many attempts, ordered by case id.

    ``attempts`` must be in submission order (as :func:`trainee_history` returns them).
    """
    by_case: dict[str, list[AttemptRecord]] = {}
    for attempt in attempts:
        by_case.setdefault(attempt.case_id, []).append(attempt)
    results = []
    for case_id in sorted(by_case):
        records = by_case[case_id]
        best = records[0]
        for record in records[1:]:
            if record.score > best.score:
                best = record
        results.append(
            CaseBest(
                case_id=case_id,
                best_score=best.score,
                best_attempt_id=best.id,
                attempts=len(records),
                last_submitted_at=records[-1].submitted_at,
            )
        )
    return tuple(results)


def history_plot_png(
    attempts: Sequence[AttemptRecord], *, trainee: str, size_in: tuple[float, float] = (7.0, 3.5)
) -> bytes:
    """Scores over time, one marker series per case, as PNG bytes (drawn headless).

    Parameters
    ----------
    attempts : sequence of AttemptRecord
        The trainee's attempts.
    trainee : str
        Named in the title.
    size_in : tuple of float
        Figure size in inches.
    """
    figure = Figure(figsize=size_in, dpi=120)
    axes = figure.add_subplot()
    by_case: dict[str, list[tuple[datetime.datetime, float]]] = {}
    for attempt in attempts:
        when = parse_time(attempt.submitted_at, where=f"attempt {attempt.id}")
        by_case.setdefault(attempt.case_id, []).append((when, attempt.score))
    for case_id in sorted(by_case):
        points = sorted(by_case[case_id])
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=case_id)
    axes.set_ylim(0.0, 100.0)
    axes.set_ylabel("Score")
    axes.set_xlabel("Submitted (UTC)")
    axes.set_title(f"Practice history: {trainee}")
    axes.grid(True, alpha=0.3)
    if by_case:
        axes.legend(loc="lower right", fontsize="small")
    else:
        axes.text(0.5, 0.5, "No attempts yet", ha="center", va="center", transform=axes.transAxes)
    figure.autofmt_xdate()
    figure.tight_layout()
    return figure_png(figure)
