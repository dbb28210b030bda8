"""One plan, three surfaces: the CLI summary and the PDF report give the same figures.

Tumor volume and largest diameter are measured on the label's own grid with the
one definition of :mod:`planning_core.segmentation.metrics`, and every figure
is written by :mod:`planning_core.figures` (the app's metrics panel is checked
against the same strings in ``tests/app/qt/test_panels_plan.py``).
"""

from __future__ import annotations

import contextlib
import io
import subprocess

import pytest
from report_tools import require_tool
from tiny_dicom_case import tiny_ct, tiny_plan_file

from planning_core.cli import main
from planning_core.figures import format_coverage_percent, format_length_mm, format_volume_ml
from planning_core.planning.plan_json import load_plan
from planning_core.segmentation.metrics import mask_volume_ml, max_diameter_mm


@pytest.fixture(scope="module")
def surfaces(tmp_path_factory):
    """The expected figure strings, the ``cryoplan evaluate`` output and the report text."""
    root = tmp_path_factory.mktemp("figures-agree")
    plan_path = tiny_plan_file(root)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["evaluate", str(plan_path), "--spacing-mm", "2"]) == 0
        pdf = root / "report.pdf"
        assert main(["report", str(plan_path), "--out", str(pdf)]) == 0
    report = subprocess.run(
        [require_tool("pdftotext"), str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    plan = load_plan(plan_path)
    _, labels = tiny_ct()
    tumor = labels.mask("tumor")
    lethal = plan.metrics.coverage_at(plan.metrics.lethal_isotherm_c)
    expected = {
        "volume": format_volume_ml(mask_volume_ml(tumor, labels.geometry)),
        "diameter": format_length_mm(max_diameter_mm(tumor, labels.geometry)),
        "coverage": format_coverage_percent(lethal.tumor_and_margin_percent),
    }
    return expected, buffer.getvalue(), " ".join(report.split())


def test_cli_summary_gives_the_tumor_size_and_coverage_as_written_once(surfaces):
    expected, cli, _ = surfaces
    assert f"tumor: {expected['volume']}, {expected['diameter']} across" in cli
    assert expected["coverage"] in cli


def test_report_gives_the_same_tumor_size_and_coverage(surfaces):
    expected, _, report = surfaces
    assert f"Volume {expected['volume']}" in report
    assert f"Largest diameter {expected['diameter']}" in report
    assert expected["coverage"] in report
    assert " ml" not in report  # one unit spelling: mL
