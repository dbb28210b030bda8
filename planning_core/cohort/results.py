"""A cohort's results: one row per case, as a CSV file, a Parquet file and a summary figure.

A row holds what the plan of the case came to (probes, protocol, coverage,
minimal margin, organs at risk, robustness) and how it was made (time, peak
memory, attempts), or the error that stopped it. A figure that could not be
known is empty (``null`` in Parquet, an empty cell in CSV), never a made-up number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from planning_core.atomic import atomic_path, write_text_atomic

CaseStatus = Literal["planned", "failed"]


@dataclass(frozen=True)
class PlanFigures:
    """What a case's plan came to (from the plan command's summary).

    Attributes
    ----------
    probes : int
        Number of probes.
    protocol : str
        Freeze-thaw protocol, e.g. ``F10-T8-F10``.
    freeze_min : float
        Total freezing time.
    coverage_percent : float
        Share of tumor + margin the lethal isotherm reaches.
    minimal_margin_mm : float or None
        Minimal ablative margin at the lethal isotherm (None: the tumor is not covered).
    organs : str
        The organs-at-risk check as the plan command words it.
    robustness_percent : float or None
        Share of plans with placement error that still reach the coverage goal (None:
        not assessed, e.g. ``robustness_samples`` 0).
    goal : str
        The plan goal (``lethal-margin`` or ``visible-ice``).
    passed : bool
        Whether every plan check passed.
    failed_checks : str
        The failed checks, as the plan command words them (empty when passed).
    plan : str
        The plan file written.
    report : str
        The PDF report written.
    """

    probes: int
    protocol: str
    freeze_min: float
    coverage_percent: float
    minimal_margin_mm: float | None
    organs: str
    robustness_percent: float | None
    goal: str
    passed: bool
    failed_checks: str
    plan: str
    report: str


@dataclass(frozen=True)
class CaseResult:
    """A row of the results: a case, its plan's figures (when planned) and how it ran.

    Attributes
    ----------
    case : str
        The row's id (its folder under ``cases/``).
    source : str
        The case as the manifest names it (path or sample name).
    row : int
        Its line in the manifest.
    status : {"planned", "failed"}
        Whether a plan was made.
    figures : PlanFigures or None
        The plan's figures; None when it failed.
    time_s : float or None
        Wall time of the last attempt on its worker (None: no word from its worker).
    peak_memory_mb : float or None
        Peak resident memory of the worker process during the last attempt (MiB; it
        includes the worker's own few hundred MiB).
    attempts : int
        How many times the case was started (a failed case is retried once).
    error : str or None
        Why it failed.
    """

    case: str
    source: str
    row: int
    status: CaseStatus
    figures: PlanFigures | None
    time_s: float | None
    peak_memory_mb: float | None
    attempts: int
    error: str | None = None

    def flat(self) -> dict[str, Any]:
        """The row as the tables hold it: one column per figure, empty ones None."""
        head = {"case": self.case, "source": self.source, "row": self.row, "status": self.status}
        figures = (
            asdict(self.figures)
            if self.figures is not None
            else dict.fromkeys(f.name for f in fields(PlanFigures))
        )
        tail = {
            "time_s": self.time_s,
            "peak_memory_mb": self.peak_memory_mb,
            "attempts": self.attempts,
            "error": self.error,
        }
        return head | figures | tail

    def to_json(self) -> dict[str, Any]:
        """The per-case result file's content."""
        return asdict(self)

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> CaseResult:
        """Read back :meth:`to_json` (a ``KeyError`` or ``TypeError`` when it is damaged)."""
        figures = payload["figures"]
        return cls(**(payload | {"figures": None if figures is None else PlanFigures(**figures)}))


#: The table's columns and their Parquet types, in order.
RESULT_SCHEMA = pa.schema(
    [
        ("case", pa.string()),
        ("source", pa.string()),
        ("row", pa.int32()),
        ("status", pa.string()),
        ("probes", pa.int32()),
        ("protocol", pa.string()),
        ("freeze_min", pa.float64()),
        ("coverage_percent", pa.float64()),
        ("minimal_margin_mm", pa.float64()),
        ("organs", pa.string()),
        ("robustness_percent", pa.float64()),
        ("goal", pa.string()),
        ("passed", pa.bool_()),
        ("failed_checks", pa.string()),
        ("plan", pa.string()),
        ("report", pa.string()),
        ("time_s", pa.float64()),
        ("peak_memory_mb", pa.float64()),
        ("attempts", pa.int32()),
        ("error", pa.string()),
    ]
)


def write_results(results: Sequence[CaseResult], out_dir: Path) -> tuple[Path, Path]:
    """Write ``results.csv`` and ``results.parquet`` into ``out_dir`` (each atomically).

    Returns the two paths. Rows are in manifest order.
    """
    rows = [result.flat() for result in sorted(results, key=lambda r: r.row)]
    table = pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)
    parquet_path = out_dir / "results.parquet"
    with atomic_path(parquet_path) as temporary:
        pq.write_table(table, temporary)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_SCHEMA.names, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _csv_cell(value) for key, value in row.items()})
    csv_path = out_dir / "results.csv"
    write_text_atomic(csv_path, buffer.getvalue())
    return csv_path, parquet_path


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value
