"""The summary figure of a cohort: probes, coverage, minimal margin, time and memory per case."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from planning_core.atomic import atomic_path
from planning_core.cohort.results import CaseResult

#: Above this many cases each panel is a histogram instead of a bar per case.
MAX_BARS = 30
#: (column, axis label) of each panel, in order.
PANELS = (
    ("probes", "probes"),
    ("coverage_percent", "tumor + margin covered (%)"),
    ("minimal_margin_mm", "minimal ablative margin (mm)"),
    ("time_s", "time (s)"),
    ("peak_memory_mb", "peak worker memory (MiB)"),
)
_FAILED_COLOR = "#c0392b"
_PASSED_COLOR = "#2e86c1"
_CHECKS_FAILED_COLOR = "#e59866"


def write_summary_figure(results: Sequence[CaseResult], path: Path) -> Path:
    """Draw the cohort's summary PNG to ``path`` (atomically) and return it.

    With few cases a bar per case (blue: every plan check passed, orange: a check
    failed; a failed case is named in red with no bar); with many, a histogram per
    figure over the cases that have it. Empty figures (not assessed) are left out.
    """
    ordered = sorted(results, key=lambda r: r.row)
    rows = [result.flat() for result in ordered]
    planned = sum(result.status == "planned" for result in ordered)
    passed = sum(bool(row["passed"]) for row in rows)
    many = len(rows) > MAX_BARS
    height_in = 3.2 if many else 1.6 + 0.28 * len(rows)
    figure = Figure(figsize=(3.0 * len(PANELS), height_in), dpi=110)
    axes = figure.subplots(1, len(PANELS), sharey=not many)
    for axis, (column, label) in zip(axes, PANELS, strict=True):
        values = [row[column] for row in rows]
        if many:
            _histogram(axis, [v for v in values if v is not None], label)
        else:
            _bars(axis, rows, values, label)
    figure.suptitle(
        f"{len(rows)} case(s): {planned} planned, {len(rows) - planned} failed; "
        f"{passed} pass every plan check"
        + ("" if many else "  (blue: every check passes, orange: a check fails, red: failed)")
    )
    figure.tight_layout()
    with atomic_path(path) as temporary:
        FigureCanvasAgg(figure).print_png(temporary)
    return path


def _bars(axis: Axes, rows: list[dict], values: list, label: str) -> None:
    positions = list(range(len(rows)))
    colors = [
        _FAILED_COLOR
        if row["status"] == "failed"
        else (_PASSED_COLOR if row["passed"] else _CHECKS_FAILED_COLOR)
        for row in rows
    ]
    axis.barh(positions, [0.0 if v is None else v for v in values], color=colors)
    for position, row, value in zip(positions, rows, values, strict=True):
        if row["status"] == "failed" and value is None:
            axis.text(0.0, position, " failed", va="center", color=_FAILED_COLOR, fontsize=8)
    axis.set_yticks(positions, [row["case"] for row in rows], fontsize=8)
    axis.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=label == "probes"))
    axis.invert_yaxis()
    axis.set_xlabel(label, fontsize=9)
    axis.grid(axis="x", alpha=0.3)


def _histogram(axis: Axes, values: list[float], label: str) -> None:
    if values:
        axis.hist(values, bins=min(20, max(5, len(values) // 5)), color=_PASSED_COLOR)
    else:
        axis.text(0.5, 0.5, "not assessed", ha="center", transform=axis.transAxes)
    axis.set_xlabel(label, fontsize=9)
    axis.set_ylabel("cases", fontsize=9)
    axis.yaxis.set_major_locator(MaxNLocator(integer=True))
