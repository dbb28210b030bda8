"""LabelMap: table handling and immutable editing."""

import numpy as np
import pytest

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import STANDARD_LABELS, LabelInfo, LabelMap, standard_label


@pytest.fixture
def geometry() -> Geometry:
    return Geometry((4, 5, 6), (1.0, 1.0, 2.0), (0, 0, 0))


def test_with_mask_uses_standard_value_and_role(geometry):
    mask = np.zeros(geometry.shape, bool)
    mask[1, 2, 3] = True
    label_map = LabelMap.empty(geometry).with_mask("tumor", mask)
    assert label_map.info("tumor") == STANDARD_LABELS["tumor"]
    assert label_map.voxel_count("tumor") == 1
    assert label_map.volume_ml("tumor") == pytest.approx(2.0 / 1000.0)
    assert label_map.names_with_role("target") == ("tumor",)


def test_with_mask_returns_new_map_and_leaves_old_untouched(geometry):
    first = LabelMap.empty(geometry).with_mask("kidney", np.ones(geometry.shape, bool))
    second = first.with_mask("tumor", np.zeros(geometry.shape, bool) | (np.arange(6) < 2))
    assert first.voxel_count("kidney") == 120
    assert second.voxel_count("kidney") == 120 - 40
    assert not first.has("tumor")


def test_no_overwrite_keeps_other_labels(geometry):
    kidney = LabelMap.empty(geometry).with_mask("kidney", np.ones(geometry.shape, bool))
    both = kidney.with_mask("tumor", np.ones(geometry.shape, bool), overwrite=False)
    assert both.voxel_count("tumor") == 0
    assert both.voxel_count("kidney") == 120


def test_custom_label_gets_fresh_value_and_colour(geometry):
    label_map = LabelMap.empty(geometry).with_mask("nerve_root", np.ones(geometry.shape, bool))
    info = label_map.info("nerve_root")
    assert info.value > max(i.value for i in STANDARD_LABELS.values())
    assert len(info.color_rgb) == 3


def test_without_removes_voxels_and_entry(geometry):
    label_map = LabelMap.empty(geometry).with_mask("bone", np.ones(geometry.shape, bool))
    assert label_map.without("bone").names == ()
    assert not label_map.without("bone").voxels.any()


def test_unknown_label_error_lists_known(geometry):
    label_map = LabelMap.empty(geometry).with_mask("bone", np.ones(geometry.shape, bool))
    with pytest.raises(InvalidParameterError, match="it has: bone"):
        label_map.mask("liver")


def test_unknown_standard_label():
    with pytest.raises(InvalidParameterError, match="unknown standard label"):
        standard_label("spleen_tip")


def test_rejects_float_voxels(geometry):
    with pytest.raises(InvalidParameterError, match="uint8 or uint16"):
        LabelMap(np.zeros(geometry.shape, np.float32), geometry)


def test_rejects_duplicate_names(geometry):
    table = (LabelInfo(1, "a", (1, 2, 3)), LabelInfo(2, "a", (1, 2, 3)))
    with pytest.raises(InvalidParameterError, match="unique"):
        LabelMap(np.zeros(geometry.shape, np.uint8), geometry, table)


def test_rejects_background_value(geometry):
    with pytest.raises(InvalidParameterError, match="0 is background"):
        LabelMap(np.zeros(geometry.shape, np.uint8), geometry, (LabelInfo(0, "a", (1, 2, 3)),))
