"""Automatic CT anatomy and seeded organs against the sample cases' ground truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from planning_core.errors import InvalidParameterError, SegmentationError
from planning_core.imaging.labels import STANDARD_LABELS, LabelMap
from planning_core.imaging.volume import Volume
from planning_core.segmentation.anatomy import ANATOMY_LABELS, AnatomySettings, segment_anatomy
from planning_core.segmentation.metrics import dice
from planning_core.segmentation.organs import segment_organ


def _slab(case, start: int, stop: int) -> tuple[Volume, LabelMap]:
    """Axial slices ``start:stop`` of a case (image and truth), to keep the tests quick."""
    geometry = case.volume.geometry.cropped((start, 0, 0), (stop - start, *case.volume.shape[1:]))
    volume = Volume(case.volume.voxels[start:stop], geometry, "CT")
    labels = LabelMap(case.labels.voxels[start:stop], geometry, case.labels.table)
    return volume, labels


def _deepest_point(mask: np.ndarray, volume: Volume) -> np.ndarray:
    """A click in the organ: the voxel farthest from its boundary (largest part)."""
    parts, _ = ndimage.label(mask)
    sizes = np.bincount(parts.ravel())
    sizes[0] = 0
    part = parts == int(np.argmax(sizes))
    box = ndimage.find_objects(part.astype(np.uint8))[0]
    depth = ndimage.distance_transform_edt(
        np.pad(part[box], 1), sampling=volume.geometry.spacing_kji_mm
    )
    k, j, i = np.unravel_index(int(np.argmax(depth)), depth.shape)
    k, j, i = k - 1 + box[0].start, j - 1 + box[1].start, i - 1 + box[2].start
    return volume.geometry.index_to_lps([i, j, k])


def test_anatomy_on_kidney_case_slab(sample_case):
    case = sample_case("kidney")
    volume, truth = _slab(case, 30, 50)
    result = segment_anatomy(volume, settings=AnatomySettings(organs=False))
    labels = result.label_map
    # Gas is part of the bowel it fills: automatic anatomy writes no bowel_gas.
    assert set(labels.names) <= set(ANATOMY_LABELS)
    assert {"body", "skin", "bone", "bowel"} <= set(labels.names)
    for name in labels.names:
        assert labels.info(name).color_rgb == STANDARD_LABELS[name].color_rgb
    scores = {name: dice(labels.mask(name), truth.mask(name)) for name in ("bone", "skin")}
    body = dice(labels.voxels > 0, truth.voxels > 0)
    gas = truth.mask("bowel_gas")
    bowel = labels.mask("bowel") | (labels.mask("colon") if labels.has("colon") else False)
    gas_found = np.count_nonzero(gas & bowel) / np.count_nonzero(gas)
    print(
        f"\n[segment] anatomy (kidney slab): body {body:.3f}, gas found as bowel "
        f"{gas_found:.3f}, " + ", ".join(f"{name} {score:.3f}" for name, score in scores.items())
    )
    assert body > 0.98
    assert scores["bone"] > 0.75
    assert gas_found >= 0.95
    assert scores["skin"] > 0.7


def test_anatomy_keeps_existing_labels_and_finds_lung(sample_case):
    case = sample_case("lung")
    volume, truth = _slab(case, 50, 62)
    tumor = LabelMap.empty(volume.geometry).with_mask("tumor", truth.mask("tumor"))
    labels = segment_anatomy(volume, into=tumor).label_map
    np.testing.assert_array_equal(labels.mask("tumor"), truth.mask("tumor"))
    lung = dice(labels.mask("lung"), truth.mask("lung"))
    print(f"\n[segment] anatomy (lung slab): lung {lung:.3f}")
    assert lung > 0.95


def test_anatomy_refuses_ultrasound(sample_case):
    case = sample_case("breast")
    with pytest.raises(InvalidParameterError, match="CT"):
        segment_anatomy(case.volume)


def test_anatomy_without_body_is_an_error(sample_case):
    volume, _ = _slab(sample_case("kidney"), 30, 32)
    empty = volume.with_voxels(np.full(volume.shape, -1000.0, dtype=np.float32))
    with pytest.raises(SegmentationError, match="no body"):
        segment_anatomy(empty)


@pytest.mark.parametrize(("name", "min_dice"), [("kidney", 0.75), ("aorta", 0.75)])
def test_seeded_organ_on_kidney_case(sample_case, name, min_dice):
    case = sample_case("kidney")
    truth = case.labels.mask(name)
    parts, _ = ndimage.label(truth)
    sizes = np.bincount(parts.ravel())
    sizes[0] = 0
    clicked = parts == int(np.argmax(sizes))
    result = segment_organ(case.volume, name, _deepest_point(truth, case.volume))
    score = dice(result.mask, clicked)
    print(
        f"\n[segment] organ {name}: Dice {score:.3f} vs the clicked part "
        f"({result.volume_ml:.1f} ml)"
    )
    assert score >= min_dice
    assert result.label_map.info(name).color_rgb == STANDARD_LABELS[name].color_rgb


def test_seeded_organ_keeps_other_labels(sample_case):
    case = sample_case("kidney")
    tumor = LabelMap.empty(case.volume.geometry).with_mask("tumor", case.labels.mask("tumor"))
    seed = _deepest_point(case.labels.mask("kidney"), case.volume)
    result = segment_organ(case.volume, "kidney", seed, label_map=tumor)
    np.testing.assert_array_equal(result.label_map.mask("tumor"), tumor.mask("tumor"))
    assert not (result.mask & tumor.mask("tumor")).any()


def test_unknown_organ_names_the_parameter(sample_case):
    case = sample_case("kidney")
    with pytest.raises(InvalidParameterError, match="name must be one of"):
        segment_organ(case.volume, "pancreas", case.seed_lps_mm)
