"""Clicking an organ after automatic anatomy (issue 15, item 4).

Automatic anatomy paints "body" (role anatomy) over every voxel inside the skin, so
a seeded organ must take anatomy voxels; it still never takes the tumor or an organ
at risk, and a click on one says how to proceed.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from planning_core.errors import SegmentationError
from planning_core.imaging.labels import LabelMap
from planning_core.segmentation.metrics import dice
from planning_core.segmentation.organs import segment_organ


def _deepest_point(mask: np.ndarray, geometry) -> np.ndarray:
    depth = ndimage.distance_transform_edt(np.pad(mask, 1), sampling=geometry.spacing_kji_mm)
    k, j, i = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return geometry.index_to_lps([i - 1, j - 1, k - 1])


@pytest.fixture(scope="module")
def after_anatomy(sample_case):
    """The kidney case as automatic anatomy leaves it: body everywhere, tumor, bowel, bone."""
    case = sample_case("kidney")
    truth = case.labels
    labels = LabelMap.empty(case.volume.geometry).with_mask("body", truth.voxels > 0)
    for name in ("bone", "bowel", "tumor"):
        labels = labels.with_mask(name, truth.mask(name))
    return case, labels


def test_an_organ_clicked_after_automatic_anatomy_takes_body_voxels(after_anatomy):
    case, labels = after_anatomy
    kidney = case.labels.mask("kidney")
    parts, _ = ndimage.label(kidney)
    clicked = parts == int(np.argmax(np.bincount(parts.ravel())[1:]) + 1)
    result = segment_organ(
        case.volume, "kidney", _deepest_point(clicked, case.volume.geometry), label_map=labels
    )
    assert dice(result.mask, clicked) >= 0.75
    for name in ("tumor", "bowel"):  # target and organ at risk are kept whole
        np.testing.assert_array_equal(result.label_map.mask(name), labels.mask(name))
    # The kidney came out of "body": the patient's outline is unchanged.
    assert not (result.label_map.mask("body") & result.mask).any()
    np.testing.assert_array_equal(result.label_map.voxels > 0, labels.voxels > 0)


def test_a_click_on_an_organ_at_risk_says_how_to_proceed(after_anatomy):
    case, labels = after_anatomy
    seed = _deepest_point(labels.mask("bowel"), case.volume.geometry)
    with pytest.raises(SegmentationError, match=r"'bowel' label \(an organ at risk\).*erase"):
        segment_organ(case.volume, "kidney", seed, label_map=labels)
