"""Warnings travel with the plan: evaluation → plan file → report (summary and Warnings section).

The kidney sample plan is re-evaluated with a 2 mm simulation box margin, far too
small for a 20-minute freeze: the solver's box-too-small warning is deterministic.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from report_tools import require_tool

from planning_core.cli import main
from planning_core.planning.plan_json import load_plan
from planning_core.report.content import collect_report_content

SMALL_BOX_MARGIN_MM = "2"
PLANNED_BY = "Dr. Ada Planner"
APPROVED_BY = "Dr. Bo Approver"


@pytest.fixture(scope="module")
def small_box(kidney_plan_path: Path, tmp_path_factory: pytest.TempPathFactory):
    """The kidney plan evaluated in a too-small simulation box, and its report."""
    folder = tmp_path_factory.mktemp("small-box")
    plan_path = folder / "small-box.cryoplan.json"
    argv = ["evaluate", str(kidney_plan_path), "--out", str(plan_path), "--spacing-mm", "2"]
    assert main([*argv, "--box-margin-mm", SMALL_BOX_MARGIN_MM]) == 0
    pdf = folder / "small-box.pdf"
    argv = ["report", str(plan_path), "--out", str(pdf)]
    assert main([*argv, "--planned-by", PLANNED_BY, "--approved-by", APPROVED_BY]) == 0
    text = subprocess.run(
        [require_tool("pdftotext"), "-layout", str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    pages = [" ".join(page.split()) for page in text.split("\f") if page.strip()]
    return plan_path, pages


def test_the_plan_file_keeps_the_simulation_warning_in_user_words(small_box):
    plan_path, _ = small_box
    data = json.loads(plan_path.read_text())
    (warning,) = [w for w in data["warnings"] if "simulation box is too small" in w["text"]]
    assert warning["source"] == "simulation"
    # The user-facing name and the flag that sets it; never the ablative margin's field name.
    assert "simulation box margin" in warning["text"] and "--box-margin-mm" in warning["text"]
    assert "margin_mm" not in warning["text"]
    assert any(w.source == "simulation" for w in load_plan(plan_path).warnings)


def test_the_report_lists_the_warning_and_flags_it_in_the_summary(small_box):
    _, pages = small_box
    text = " ".join(pages)
    assert "Warnings: none" not in text
    assert "Simulation: the simulation box is too small" in text
    summary = pages[0]
    assert "warning(s), all listed under Warnings and assumptions" in summary
    assert "Simulation: the simulation box is too small" in summary


def test_report_flags_fill_the_sign_off_lines(small_box):
    _, pages = small_box
    assert f"Planned by {PLANNED_BY}" in pages[0]
    assert f"Approved by {APPROVED_BY}" in pages[0]


def test_warnings_of_every_step_reach_the_report_once(kidney_inputs):
    plan = (
        kidney_inputs.plan.with_step_warnings("segmentation", ["the tumor is very small."])
        .with_step_warnings("optimizer", ["colon needs protection."])
        .with_step_warnings("image", ["slice 7 has another spacing."])
    )
    volume = kidney_inputs.volume
    content = collect_report_content(
        plan,
        volume,
        kidney_inputs.label_map,
        extra_warnings=("slice 7 has another spacing.", "fields were recomputed."),
    )
    assert content.warnings[:3] == (
        "Image: slice 7 has another spacing.",
        "Segmentation: the tumor is very small.",
        "Optimizer: colon needs protection.",
    )
    assert "fields were recomputed." in content.warnings
    assert sum("slice 7" in w for w in content.warnings) == 1
