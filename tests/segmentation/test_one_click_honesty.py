"""One click says so when it found only part of a heterogeneous lesion (issue 16)."""

from __future__ import annotations

import pytest
from lesion_phantoms import lesion_phantom
from seg_phantoms import kidney_phantom

from planning_core.errors import SegmentationError
from planning_core.segmentation.metrics import dice
from planning_core.segmentation.tumor import segment_tumor


def test_a_click_in_a_necrotic_core_is_flagged_and_asks_for_a_line():
    """Necrotic core, viable layer, host: the click grows the core only (a fifth of the
    lesion); the answer must say so and name the tools that take the whole lesion."""
    phantom = lesion_phantom(rim=False, semi_axes_mm=(24.0, 20.0, 18.0))
    result = segment_tumor(phantom.volume, phantom.core_lps_mm)
    assert dice(result.mask, phantom.truth) < 0.85  # the case the flag is for
    assert result.uncertain
    text = " ".join(result.warnings)
    assert "--diameter" in text and "--background" in text


def test_a_compact_lesion_is_not_flagged():
    phantom = kidney_phantom()
    result = segment_tumor(phantom.volume, phantom.seed_lps_mm)
    assert dice(result.mask, phantom.tumor) >= 0.9
    assert not result.uncertain, result.warnings
    assert result.recist is not None
    assert result.recist.long_mm >= result.recist.short_mm > 0.0


def test_a_click_on_calcification_suggests_a_line():
    phantom = lesion_phantom()
    calcification = [4.0, -3.0, 2.5]
    with pytest.raises(SegmentationError, match="--diameter"):
        segment_tumor(phantom.volume, calcification)
