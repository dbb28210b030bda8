"""A trainee's logbook as PDF: period, attempts, best score per case, every attempt with its
numbers and feedback, and the history plot.

The layout reuses the plan report's fonts (embedded DejaVu Sans), styles, tables
and page size (:mod:`planning_core.report.pdf`); the page header names the
trainee instead of a patient.
"""

from __future__ import annotations

import datetime
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas
from reportlab.platypus import CondPageBreak, Paragraph, Spacer, TableStyle

from planning_core import __version__
from planning_core.errors import PlanFileError
from planning_core.figures import format_coverage_percent, format_margin_mm, format_score
from planning_core.planning.results import PlanMetrics
from planning_core.report.pdf import (
    FONT,
    FONT_BOLD,
    GRID_COLOUR,
    HEADER_HEIGHT,
    MARGIN,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    TEXT_WIDTH,
    escape_markup,
    paragraph_styles,
    png_flowable,
    register_fonts,
    styled_table,
    write_story_pdf,
)
from planning_core.training.attempts import AttemptRecord, parse_time
from planning_core.training.history import (
    CaseBest,
    best_per_case,
    history_plot_png,
    trainee_history,
)
from planning_core.training.library import list_cases
from planning_core.training.users import get_trainee

#: Feedback sentences quoted per attempt in the logbook (the most important come first).
FEEDBACK_SENTENCES = 2
FOOTER_NOTE = "Practice scores compare each attempt with the case's reference plan."


@dataclass(frozen=True)
class AttemptLine:
    """One attempt as the logbook lists it.

    Attributes
    ----------
    record : AttemptRecord
        The stored attempt.
    tumor_coverage_percent, margin_coverage_percent : float or None
        Tumor and tumor + margin covered by the lethal isotherm (``None`` when
        the stored plan has no metrics).
    minimal_margin_mm : float or None
        Signed minimal ablative margin.
    """

    record: AttemptRecord
    tumor_coverage_percent: float | None
    margin_coverage_percent: float | None
    minimal_margin_mm: float | None


@dataclass(frozen=True)
class Logbook:
    """Everything the logbook prints, in print order.

    Attributes
    ----------
    trainee : str
    first_at, last_at : datetime or None
        First and last submission (``None`` without attempts).
    attempts : tuple of AttemptLine
        Oldest first.
    bests : tuple of CaseBest
        Per case, ordered by case id.
    case_titles : dict of str to str
        Titles of the cases still in the library.
    total_time_s : float
        Sum of the recorded times spent.
    """

    trainee: str
    first_at: datetime.datetime | None
    last_at: datetime.datetime | None
    attempts: tuple[AttemptLine, ...]
    bests: tuple[CaseBest, ...]
    case_titles: dict[str, str]
    total_time_s: float


def _attempt_line(record: AttemptRecord) -> AttemptLine:
    try:
        metrics: PlanMetrics | None = record.plan().metrics
    except PlanFileError:  # an attempt stored by a release whose plan format we cannot read
        metrics = None
    if metrics is None:
        return AttemptLine(record, None, None, None)
    try:
        lethal = metrics.coverage_at(metrics.lethal_isotherm_c)
    except KeyError:
        tumor = zone = None
    else:
        tumor, zone = lethal.tumor_percent, lethal.tumor_and_margin_percent
    return AttemptLine(record, tumor, zone, metrics.margin.minimum_mm)


def collect_logbook(connection: sqlite3.Connection, trainee: str) -> Logbook:
    """Gather ``trainee``'s attempts from the library.

    Raises
    ------
    LibraryError
        When the library has no such trainee (the message lists the known ones).
    """
    name = get_trainee(connection, trainee).name
    records = trainee_history(connection, name)
    times = [parse_time(r.submitted_at, where=f"attempt {r.id}") for r in records]
    return Logbook(
        trainee=name,
        first_at=min(times) if times else None,
        last_at=max(times) if times else None,
        attempts=tuple(_attempt_line(r) for r in records),
        bests=best_per_case(records),
        case_titles={case.id: case.title for case in list_cases(connection)},
        total_time_s=float(sum(r.duration_s or 0.0 for r in records)),
    )


def _percent(value: float | None) -> str:
    return "n/a" if value is None else format_coverage_percent(value)


def _minutes(duration_s: float | None) -> str:
    if duration_s is None:
        return "n/a"
    minutes = duration_s / 60.0
    return f"{minutes:.0f} min" if minutes >= 10.0 else f"{minutes:.1f} min"


def _date(value: datetime.datetime | None) -> str:
    return "—" if value is None else value.astimezone(datetime.UTC).strftime("%Y-%m-%d")


def _summary(logbook: Logbook, styles: dict) -> list:
    period = (
        "no attempts yet"
        if logbook.first_at is None
        else f"{_date(logbook.first_at)} to {_date(logbook.last_at)}"
    )
    rows = [
        ["Trainee", logbook.trainee],
        ["Period", period],
        ["Attempts", str(len(logbook.attempts))],
        ["Cases practised", str(len(logbook.bests))],
        ["Time spent planning", f"{logbook.total_time_s / 60.0:.0f} min"],
    ]
    return [styled_table(rows, [50 * mm, 130 * mm], styles, header_rows=0)]


def _bests(logbook: Logbook, styles: dict) -> list:
    rows: list[list] = [["Case", "Title", "Attempts", "Best score", "Last attempt"]]
    for best in logbook.bests:
        rows.append(
            [
                best.case_id,
                logbook.case_titles.get(best.case_id, "(no longer in the library)"),
                str(best.attempts),
                format_score(best.best_score),
                _date(parse_time(best.last_submitted_at, where=best.case_id)),
            ]
        )
    if len(rows) == 1:
        return [Paragraph("No attempts yet.", styles["body"])]
    return [styled_table(rows, [24 * mm, 86 * mm, 18 * mm, 22 * mm, 30 * mm], styles)]


def _attempts(logbook: Logbook, styles: dict) -> list:
    header = ["#", "Date", "Case", "Score", "Tumor", "Tumor + margin", "Min. margin", "Time"]
    rows: list[list] = [header]
    spans = []
    for line in logbook.attempts:
        record = line.record
        rows.append(
            [
                str(record.id),
                _date(parse_time(record.submitted_at, where=f"attempt {record.id}")),
                record.case_id,
                format_score(record.score),
                _percent(line.tumor_coverage_percent),
                _percent(line.margin_coverage_percent),
                "n/a"
                if line.minimal_margin_mm is None
                else format_margin_mm(line.minimal_margin_mm),
                _minutes(record.duration_s),
            ]
        )
        sentences = record.feedback[:FEEDBACK_SENTENCES]
        summary = " ".join(sentences) if sentences else "No feedback: on a par with the reference."
        rows.append(["", Paragraph(f"<i>{escape_markup(summary)}</i>", styles["cell"])])
        spans.append(len(rows) - 1)
    if len(rows) == 1:
        return [Paragraph("No attempts yet.", styles["body"])]
    widths = [12 * mm, 22 * mm, 22 * mm, 16 * mm, 18 * mm, 26 * mm, 22 * mm, 42 * mm]
    table = styled_table(rows, widths, styles)
    commands = [("SPAN", (1, row), (-1, row)) for row in spans]
    # An attempt and its feedback stay on one page.
    commands += [("NOSPLIT", (0, row - 1), (-1, row)) for row in spans]
    commands += [("LINEABOVE", (0, row), (-1, row), 0, colors.white) for row in spans]
    table.setStyle(TableStyle(commands))
    return [table]


def _draw_furniture(page: canvas.Canvas, logbook: Logbook, generated: str, total: int) -> None:
    top, left, right = PAGE_HEIGHT - MARGIN, MARGIN, PAGE_WIDTH - MARGIN
    page.saveState()
    page.setFont(FONT_BOLD, 10)
    page.drawString(left, top - 4 * mm, f"Practice logbook: {logbook.trainee}")
    page.setFont(FONT, 8)
    page.drawRightString(right, top - 4 * mm, f"Generated {generated}")
    page.setStrokeColor(GRID_COLOUR)
    page.line(left, top - 7 * mm, right, top - 7 * mm)
    page.line(left, MARGIN + 6 * mm, right, MARGIN + 6 * mm)
    page.setFont(FONT, 7.5)
    page.drawString(left, MARGIN + 2 * mm, f"cryoplan {__version__}   {FOOTER_NOTE}")
    page.drawRightString(right, MARGIN + 2 * mm, f"Page {page.getPageNumber()} of {total}")
    page.restoreState()


def write_logbook(
    connection: sqlite3.Connection,
    trainee: str,
    out_path: str | Path,
    *,
    generated_at: datetime.datetime | None = None,
) -> Path:
    """Write ``trainee``'s logbook PDF to ``out_path`` (atomically) and return the path.

    Parameters
    ----------
    connection : sqlite3.Connection
        The library.
    trainee : str
        The trainee's name.
    out_path : path
        The PDF file.
    generated_at : datetime, optional
        Printed in the header; now by default.

    Raises
    ------
    LibraryError
        When the trainee is unknown.
    ReportError
        When the file cannot be written.
    """
    logbook = collect_logbook(connection, trainee)
    generated = (generated_at or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%d %H:%M")
    register_fonts()
    styles = paragraph_styles()
    records = [line.record for line in logbook.attempts]
    story: list = [
        Paragraph("Practice logbook", styles["title"]),
        Paragraph(
            "Cryoablation planning practice on library cases, scored against each case's "
            "reference plan (0-100).",
            styles["body"],
        ),
        Spacer(1, 3 * mm),
        *_summary(logbook, styles),
        Paragraph("Best score per case", styles["h1"]),
        *_bests(logbook, styles),
        CondPageBreak(90 * mm),
        Paragraph("Scores over time", styles["h1"]),
        png_flowable(history_plot_png(records, trainee=logbook.trainee), TEXT_WIDTH * 0.9),
        CondPageBreak(60 * mm),
        Paragraph("Attempts", styles["h1"]),
        Paragraph(
            "Coverage of the tumor and of tumor + margin by the lethal isotherm, minimal "
            "ablative margin (negative: tumor outside the lethal zone), time from the start of "
            "the practice to the submission; below each attempt the first feedback sentences.",
            styles["small"],
        ),
        Spacer(1, 2 * mm),
        *_attempts(logbook, styles),
    ]
    return write_story_pdf(
        story,
        out_path,
        draw_furniture=lambda page, total: _draw_furniture(page, logbook, generated, total),
        title=f"Practice logbook: {logbook.trainee}",
        subject="Cryoablation planning practice logbook",
        software=f"cryoplan {__version__}",
        what="logbook",
        header_height=HEADER_HEIGHT * 0.6,
    )
