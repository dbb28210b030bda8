"""Segment-editor operations: exact mm distances on anisotropic grids, undo, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from planning_core.errors import GeometryMismatchError, InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.segmentation.editing import (
    combine,
    edit_between,
    fill_holes,
    grow,
    keep_largest_island,
    paint_sphere,
    remove_small_islands,
    shrink,
    smooth,
    threshold_within,
)

SPACING_IJK = (0.7, 1.1, 2.5)


def _geometry(shape=(24, 40, 48)) -> Geometry:
    return Geometry(shape, SPACING_IJK, (-10.0, 5.0, 20.0))


def _centres_mm(geometry: Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voxel centre offsets (mm) along i, j, k from voxel (0, 0, 0), as [k, j, i] arrays."""
    nk, nj, ni = geometry.shape
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    return i * SPACING_IJK[0], j * SPACING_IJK[1], k * SPACING_IJK[2]


def _single_voxel_map(index_kji=(12, 20, 24)) -> LabelMap:
    geometry = _geometry()
    mask = np.zeros(geometry.shape, dtype=bool)
    mask[index_kji] = True
    return LabelMap.empty(geometry).with_mask("tumor", mask)


def test_grow_is_exact_euclidean_in_mm_on_anisotropic_grid():
    label_map = _single_voxel_map()
    x, y, z = _centres_mm(label_map.geometry)
    cx, cy, cz = 24 * SPACING_IJK[0], 20 * SPACING_IJK[1], 12 * SPACING_IJK[2]
    distance = np.sqrt((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2)
    for margin_mm in (2.4, 5.0, 7.3):
        grown = grow(label_map, "tumor", margin_mm=margin_mm).mask("tumor")
        np.testing.assert_array_equal(grown, distance <= margin_mm + 1e-9)


def test_shrink_removes_exactly_the_voxels_within_margin_of_outside():
    geometry = _geometry()
    x, y, z = _centres_mm(geometry)
    box = (x > 5) & (x < 28) & (y > 6) & (y < 38) & (z > 8) & (z < 50)
    label_map = LabelMap.empty(geometry).with_mask("tumor", box)
    from scipy import ndimage

    outside_distance = ndimage.distance_transform_edt(box, sampling=geometry.spacing_kji_mm)
    for margin_mm in (1.0, 3.2):
        shrunk = shrink(label_map, "tumor", margin_mm=margin_mm).mask("tumor")
        np.testing.assert_array_equal(shrunk, box & (outside_distance > margin_mm + 1e-4))


def test_paint_sphere_covers_voxel_centres_within_radius_and_erases():
    geometry = _geometry()
    center = geometry.index_to_lps([20.3, 18.6, 11.2])
    painted = paint_sphere(LabelMap.empty(geometry), "tumor", center, radius_mm=6.0)
    k, j, i = np.meshgrid(*(np.arange(n) for n in geometry.shape), indexing="ij")
    lps = geometry.index_to_lps(np.stack([i, j, k], axis=-1).astype(float))
    inside = np.linalg.norm(lps - center, axis=-1) <= 6.0
    np.testing.assert_array_equal(painted.mask("tumor"), inside)
    erased = paint_sphere(painted, "tumor", center, radius_mm=3.0, erase=True)
    np.testing.assert_array_equal(
        erased.mask("tumor"), inside & (np.linalg.norm(lps - center, axis=-1) > 3.0)
    )


def test_edit_apply_and_revert_restore_both_states():
    before = _single_voxel_map()
    after = grow(before, "tumor", margin_mm=4.0)
    after = paint_sphere(after, "kidney", before.geometry.center_lps(), radius_mm=3.0)
    edit = edit_between(before, after)
    assert edit.changed_voxels == int(np.count_nonzero(before.voxels != after.voxels))
    redone = edit.apply(before)
    undone = edit.revert(after)
    np.testing.assert_array_equal(redone.voxels, after.voxels)
    assert redone.names == after.names
    np.testing.assert_array_equal(undone.voxels, before.voxels)
    assert undone.names == before.names
    # Operations are pure: the input map is untouched.
    assert before.voxel_count("tumor") == 1


def test_islands_holes_and_smoothing():
    geometry = _geometry()
    x, y, z = _centres_mm(geometry)
    big = (np.abs(x - 15) < 8) & (np.abs(y - 20) < 10) & (np.abs(z - 30) < 15)
    hole = (np.abs(x - 15) < 2) & (np.abs(y - 20) < 2) & (np.abs(z - 30) < 3)
    speck = (np.abs(x - 30) < 1) & (np.abs(y - 35) < 1.2) & (np.abs(z - 30) < 1.5)
    label_map = LabelMap.empty(geometry).with_mask("tumor", (big & ~hole) | speck)
    np.testing.assert_array_equal(
        keep_largest_island(label_map, "tumor").mask("tumor"), big & ~hole
    )
    speck_mm3 = speck.sum() * geometry.voxel_volume_mm3
    kept = remove_small_islands(label_map, "tumor", min_volume_mm3=speck_mm3 + 0.1)
    np.testing.assert_array_equal(kept.mask("tumor"), big & ~hole)
    kept_too = remove_small_islands(label_map, "tumor", min_volume_mm3=speck_mm3)
    np.testing.assert_array_equal(kept_too.mask("tumor"), label_map.mask("tumor"))
    np.testing.assert_array_equal(fill_holes(label_map, "tumor").mask("tumor"), big | speck)
    smoothed = smooth(label_map, "tumor", sigma_mm=2.0).mask("tumor")
    # The speck (smaller than the kernel) disappears; the box keeps its bulk.
    assert not (smoothed & speck).any()
    assert abs(int(smoothed.sum()) - int(big.sum())) < 0.15 * big.sum()


def test_threshold_within_and_combine():
    geometry = _geometry()
    x, _, _ = _centres_mm(geometry)
    volume = Volume(x.astype(np.float32), geometry, "CT")
    region = x < 20
    label_map = LabelMap.empty(geometry).with_mask("kidney", region)
    result = threshold_within(volume, label_map, "tumor", lower=5.0, upper=30.0, within="kidney")
    np.testing.assert_array_equal(result.mask("tumor"), (x >= 5) & (x <= 30) & region)
    other = LabelMap.empty(geometry).with_mask("tumor", x > 10)
    ours = LabelMap.empty(geometry).with_mask("tumor", x < 15)
    expected = {
        "union": (x > 10) | (x < 15),
        "intersection": (x > 10) & (x < 15),
        "subtract": (x < 15) & ~(x > 10),
        "xor": (x > 10) ^ (x < 15),
    }
    for op, mask in expected.items():
        np.testing.assert_array_equal(combine(ours, other, op, name="tumor").mask("tumor"), mask)


def test_grow_rejects_negative_margin():
    with pytest.raises(InvalidParameterError, match="margin_mm"):
        grow(_single_voxel_map(), "tumor", margin_mm=-1.0)


def test_shrink_rejects_nan_margin():
    with pytest.raises(InvalidParameterError, match="margin_mm"):
        shrink(_single_voxel_map(), "tumor", margin_mm=float("nan"))


def test_paint_rejects_zero_radius():
    with pytest.raises(InvalidParameterError, match="radius_mm"):
        paint_sphere(_single_voxel_map(), "tumor", (0.0, 0.0, 0.0), radius_mm=0.0)


def test_smooth_rejects_zero_sigma():
    with pytest.raises(InvalidParameterError, match="sigma_mm"):
        smooth(_single_voxel_map(), "tumor", sigma_mm=0.0)


def test_remove_small_islands_rejects_negative_volume():
    with pytest.raises(InvalidParameterError, match="min_volume_mm3"):
        remove_small_islands(_single_voxel_map(), "tumor", min_volume_mm3=-5.0)


def test_threshold_rejects_inverted_range():
    label_map = _single_voxel_map()
    volume = Volume(np.zeros(label_map.geometry.shape, np.float32), label_map.geometry, "CT")
    with pytest.raises(InvalidParameterError, match="lower"):
        threshold_within(volume, label_map, "tumor", lower=10.0, upper=0.0)


def test_combine_rejects_unknown_op():
    label_map = _single_voxel_map()
    with pytest.raises(InvalidParameterError, match="op must be"):
        combine(label_map, label_map, "and", name="tumor")  # type: ignore[arg-type]


def test_unknown_label_is_named():
    with pytest.raises(InvalidParameterError, match="'liver'"):
        grow(_single_voxel_map(), "liver", margin_mm=1.0)


def test_edit_between_rejects_other_grid():
    other = LabelMap.empty(_geometry((24, 40, 47)))
    with pytest.raises(GeometryMismatchError, match="edit_between"):
        edit_between(_single_voxel_map(), other)
