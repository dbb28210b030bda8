"""The report's target section prints the tumor's RECIST long and short axes (issue 16, 1d)."""

from __future__ import annotations

from test_report_pdf import _text

from planning_core.figures import format_length_mm
from planning_core.segmentation.metrics import recist_axes


def test_target_section_prints_the_recist_axes(kidney_report, kidney_inputs):
    text = " ".join(_text(kidney_report.path).split())
    labels = kidney_inputs.label_map
    recist = recist_axes(labels.mask(kidney_inputs.plan.target_label), labels.geometry)
    expected = f"{recist.long_mm:.1f} × {format_length_mm(recist.short_mm)}"
    assert f"RECIST long × short axis {expected}" in text
