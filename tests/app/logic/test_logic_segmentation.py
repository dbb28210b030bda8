"""The segmentation logic without widgets: each result is one undo step; figures kept per map."""

from __future__ import annotations

import numpy as np
import pytest

from planning_core.errors import PlanningError
from planning_core.segmentation import editing


def test_a_label_edit_is_one_undo_step_and_an_unknown_label_is_refused_at_once(logic, runner):
    document, segmentation = logic.session.document, logic.segmentation
    before = document.labels
    segmentation.edit_label(
        "Grow by 2 mm", "tumor", lambda labels: editing.grow(labels, "tumor", margin_mm=2.0)
    )
    assert document.labels is before  # computed in the background
    runner.run_pending()
    assert document.labels.mask("tumor").sum() > before.mask("tumor").sum()
    assert document.history.undo_text == "Grow by 2 mm (tumor)"
    with pytest.raises(PlanningError, match="'liver' does not exist yet"):
        segmentation.edit_label("Grow", "liver", lambda labels: labels)
    assert not runner.pending


def test_a_segmented_tumor_is_measured_once_per_label_map(logic, runner, tumor_lps):
    document, segmentation = logic.session.document, logic.segmentation
    original = document.labels
    document.replace_labels(original.without("tumor"), "Erase tumor")
    shown = []
    segmentation.segment_tumor(
        tumor_lps,
        on_done=lambda result, strokes: shown.append(result),
        on_error=runner.record_error,
    )
    runner.run_pending()
    (result,) = shown
    labels = document.labels
    assert labels.has("tumor") and document.history.undo_text == "Segment tumor"
    assert segmentation.known_figures(labels) == (True, result.figures)  # no second measuring
    document.history.undo()
    document.history.undo()
    assert document.labels is original and segmentation.known_figures(original) == (False, None)
    measured = []
    segmentation.measure(original, on_done=measured.append, on_error=runner.record_error)
    runner.run_pending()
    assert segmentation.known_figures(original) == (True, measured[0])
    assert measured[0] is not None and measured[0].text()


def test_a_brush_stroke_is_painted_in_the_logic_and_is_one_undo_step(logic, tumor_lps):
    document = logic.session.document
    before = document.labels
    stroke = logic.segmentation.start_brush("tumor", radius_mm=4.0, erase=True)
    stroke.paint(tumor_lps)
    stroke.paint(tumor_lps + np.array((2.0, 0.0, 0.0)))
    assert document.labels is before  # nothing reaches the document before the release
    stroke.finish()
    assert document.labels.mask("tumor").sum() < before.mask("tumor").sum()
    assert document.history.undo_text == "Erase tumor"
    document.history.undo()
    assert document.labels is before
