"""The cohort's tables and summary figure: manifest order, empty cells for what is unknown."""

from __future__ import annotations

import csv

import pyarrow as pa
import pyarrow.parquet as pq

from planning_core.cohort.figure import MAX_BARS, write_summary_figure
from planning_core.cohort.results import CaseResult, PlanFigures, write_results

PNG = b"\x89PNG\r\n\x1a\n"


def planned(row: int, probes: int, robustness: float | None) -> CaseResult:
    figures = PlanFigures(
        probes, "F10-T8-F10", 20.0, 99.5, 4.2, "all clear", robustness, "lethal-margin",
        False, "minimal ablative margin", "p.json", "r.pdf",
    )  # fmt: skip
    return CaseResult(f"case{row}", f"/data/ct{row}", row, "planned", figures, 12.5, 900.0, 1)


def failed(row: int) -> CaseResult:
    return CaseResult(f"case{row}", "kidney", row, "failed", None, 0.5, 400.0, 2, error="no tumor")


def test_tables_hold_a_row_per_case_in_manifest_order(tmp_path):
    results = [planned(4, 3, None), failed(3), planned(2, 2, 85.0)]
    csv_path, parquet_path = write_results(results, tmp_path)
    table = pq.read_table(parquet_path)
    assert table.schema.field("probes").type == pa.int32()
    rows = table.to_pylist()
    assert [row["case"] for row in rows] == ["case2", "case3", "case4"]
    assert rows[1]["probes"] is None and rows[1]["error"] == "no tumor"
    assert rows[2]["robustness_percent"] is None and rows[0]["robustness_percent"] == 85.0
    with open(csv_path, newline="") as stream:
        cells = list(csv.DictReader(stream))
    assert [row["case"] for row in cells] == ["case2", "case3", "case4"]
    assert cells[1]["probes"] == "" and cells[2]["robustness_percent"] == ""
    assert cells[0]["coverage_percent"] == "99.5" and cells[1]["attempts"] == "2"


def test_the_summary_figure_draws_bars_for_few_cases_and_histograms_for_many(tmp_path):
    few = write_summary_figure([planned(2, 2, 85.0), failed(3)], tmp_path / "few.png")
    many = [planned(row, 1 + row % 4, None) for row in range(2, MAX_BARS + 3)] + [failed(99)]
    drawn = write_summary_figure(many, tmp_path / "many.png")
    assert few.read_bytes()[:8] == PNG and drawn.read_bytes()[:8] == PNG
    assert not list(tmp_path.glob(".*.tmp*"))  # written atomically, nothing left behind
