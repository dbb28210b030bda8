"""Solid organs (liver, spleen, kidneys, renal sinus, aorta, IVC) and the TotalSegmentator adapter.

The phantom is a small contrast CT of the upper abdomen built from ellipsoids
with portal-venous HU and noise; its truth masks are the ellipsoids. Variants
remove the contrast, the spleen or the top of the scan, or turn the grid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.errors import (
    GeometryMismatchError,
    InvalidParameterError,
    SegmentationError,
    VolumeFormatError,
)
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import write_volume
from planning_core.segmentation import totalsegmentator as ts
from planning_core.segmentation.abdomen import AbdomenResult, segment_abdomen

SPACING_MM = (1.25, 1.25, 4.0)  # i, j, k
SHAPE_KJI = (64, 224, 224)
LUNG_BASE_Z_MM = 200.0


@dataclass(frozen=True)
class Phantom:
    hu: NDArray[np.float32]
    geometry: Geometry
    body: NDArray[np.bool_]
    bone: NDArray[np.bool_]
    lung: NDArray[np.bool_]
    truth: dict[str, NDArray[np.bool_]]

    def segment(self) -> AbdomenResult:
        return segment_abdomen(
            self.hu, self.geometry, body=self.body, bone=self.bone, lung=self.lung
        )


def _ellipsoid(x, y, z, centre, semi) -> NDArray[np.bool_]:
    return (
        ((x - centre[0]) / semi[0]) ** 2
        + ((y - centre[1]) / semi[1]) ** 2
        + ((z - centre[2]) / semi[2]) ** 2
    ) <= 1.0


#: Typical HU per contrast phase (late arterial: cortex bright, medulla not yet,
#: liver barely enhanced, IVC still unenhanced; portal-venous; no contrast).
_ORGANS = ("liver", "spleen", "cortex", "medulla", "aorta", "ivc", "myocardium", "blood")
PHASE_HU: dict[str, dict[str, float]] = {
    "arterial": dict(zip(_ORGANS, (75, 135, 230, 95, 330, 70, 95, 300), strict=True)),
    "portal": dict(zip(_ORGANS, (110, 120, 190, 150, 200, 150, 108, 160), strict=True)),
    "none": dict(zip(_ORGANS, (58, 50, 35, 32, 45, 45, 45, 42), strict=True)),
}


def make_phantom(*, phase: str = "portal", spleen: bool = True) -> Phantom:
    """Upper abdomen: x toward the patient's left, y toward the back, z toward the head (mm)."""
    nk, nj, ni = SHAPE_KJI
    di, dj, dk = SPACING_MM
    origin = (-(ni - 1) * di / 2, -(nj - 1) * dj / 2, 0.0)
    geometry = Geometry(SHAPE_KJI, SPACING_MM, origin)
    z = (np.arange(nk) * dk)[:, None, None]
    y = (origin[1] + np.arange(nj) * dj)[None, :, None]
    x = (origin[0] + np.arange(ni) * di)[None, None, :]
    shape = SHAPE_KJI
    full = np.ones(shape, dtype=bool)

    def solid(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
        return np.broadcast_to(mask, shape) & full

    hu_of = PHASE_HU[phase]
    body = solid((x / 150.0) ** 2 + (y / 105.0) ** 2 <= 1.0)
    hu = np.full(shape, -1000.0, dtype=np.float32)
    hu[body] = -100.0  # fat
    wall = body & ~solid((x / 140.0) ** 2 + (y / 95.0) ** 2 <= 1.0)
    hu[wall] = 55.0  # abdominal wall muscle
    paraspinal = solid(((np.abs(x) - 35.0) / 25.0) ** 2 + ((y - 75.0) / 18.0) ** 2 <= 1.0)
    hu[paraspinal] = 55.0
    vertebra = solid(x**2 + (y - 35.0) ** 2 <= 20.0**2)
    arch = solid((np.abs(x) <= 8.0) & (y >= 55.0) & (y <= 80.0))
    bone = vertebra | arch
    hu[bone] = 700.0
    hu[solid(x**2 + (y - 35.0) ** 2 <= 16.0**2)] = 250.0  # marrow
    lung = (
        solid(
            (((np.abs(x) - 75.0) / 55.0) ** 2 + ((y - 20.0) / 70.0) ** 2 <= 1.0)
            & (z >= LUNG_BASE_Z_MM)
        )
        & ~bone
    )
    hu[lung] = -850.0
    below_lungs = solid(z < LUNG_BASE_Z_MM)
    truth: dict[str, NDArray[np.bool_]] = {}
    truth["liver"] = _ellipsoid(x, y, z, (-70.0, -5.0, 145.0), (65.0, 70.0, 60.0)) & below_lungs
    truth["liver"] &= ~wall
    if spleen:
        truth["spleen"] = _ellipsoid(x, y, z, (95.0, 35.0, 165.0), (22.0, 40.0, 45.0))
        truth["spleen"] &= below_lungs & ~wall
    kidney = np.zeros(shape, dtype=bool)
    sinus = np.zeros(shape, dtype=bool)
    medulla = np.zeros(shape, dtype=bool)
    for side in (-1.0, 1.0):
        outline = _ellipsoid(x, y, z, (side * 60.0, 45.0, 75.0), (28.0, 28.0, 50.0))
        core = _ellipsoid(x, y, z, (side * 60.0, 45.0, 75.0), (21.0, 21.0, 43.0))
        hilum = _ellipsoid(x, y, z, (side * 42.0, 40.0, 75.0), (14.0, 12.0, 25.0)) & outline
        kidney |= outline & ~hilum
        medulla |= core & ~hilum
        sinus |= hilum
    truth["kidney"] = kidney
    truth["renal_sinus"] = sinus
    truth["aorta"] = solid((x - 15.0) ** 2 + (y - 5.0) ** 2 <= 11.0**2)
    truth["ivc"] = solid((x + 25.0) ** 2 + (y - 5.0) ** 2 <= 12.0**2) & below_lungs
    hu[truth["liver"]] = hu_of["liver"]
    if spleen:
        hu[truth["spleen"]] = hu_of["spleen"]
    hu[kidney] = hu_of["cortex"]
    hu[medulla] = hu_of["medulla"]
    hu[sinus] = -60.0  # sinus fat with the collecting system
    hu[truth["aorta"]] = hu_of["aorta"]
    hu[truth["ivc"]] = hu_of["ivc"]
    # The heart sits on the diaphragm over the liver's dome, its wall as dense as liver.
    heart = _ellipsoid(x, y, z, (10.0, -45.0, 225.0), (40.0, 40.0, 40.0)) & ~bone
    hu[heart] = hu_of["myocardium"]
    hu[_ellipsoid(x, y, z, (10.0, -45.0, 225.0), (22.0, 22.0, 22.0))] = hu_of["blood"]
    lung &= ~heart
    hu[lung] = -850.0
    truth["heart"] = heart
    truth["liver"] &= ~truth["ivc"] & ~heart
    # Scanner noise of a standard-dose abdomen (about 15 HU), fixed for the test.
    hu += np.random.default_rng(15).normal(0.0, 15.0, shape).astype(np.float32)
    return Phantom(hu, geometry, body, bone, lung, truth)


def dice(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    total = int(a.sum()) + int(b.sum())
    return 2.0 * int((a & b).sum()) / total if total else 1.0


@pytest.fixture(scope="module")
def phantom() -> Phantom:
    return make_phantom()


@pytest.fixture(scope="module")
def phantom_result(phantom: Phantom) -> AbdomenResult:
    return phantom.segment()


def test_contrast_phantom_organs_match_truth(phantom: Phantom, phantom_result: AbdomenResult):
    goals = {"liver": 0.90, "spleen": 0.85, "kidney": 0.85, "aorta": 0.75, "ivc": 0.6}
    found = {
        name: dice(phantom_result.masks.get(name, np.zeros(1, bool)), phantom.truth[name])
        for name in goals
    }
    assert all(found[name] >= goal for name, goal in goals.items()), found
    # The heart on the liver's dome, as dense as liver, stays out of it.
    assert (phantom_result.masks["liver"] & phantom.truth["heart"]).sum() <= 0.02 * phantom.truth[
        "heart"
    ].sum()
    sinus = phantom_result.masks["renal_sinus"]
    assert (sinus & phantom.truth["renal_sinus"]).sum() >= 0.5 * phantom.truth["renal_sinus"].sum()
    assert phantom_result.warnings == ()


def test_arterial_phase_organs_match_truth():
    phantom = make_phantom(phase="arterial")
    result = phantom.segment()
    goals = {"liver": 0.90, "spleen": 0.85, "kidney": 0.85, "aorta": 0.75}
    found = {
        name: dice(result.masks.get(name, np.zeros(1, bool)), phantom.truth[name]) for name in goals
    }
    assert all(found[name] >= goal for name, goal in goals.items()), found


def test_noisy_low_dose_arterial_ct():
    """Low-dose noise (about 38 HU in all) on a late-arterial phase, where the liver is
    only 20 HU above muscle and the IVC not yet enhanced: organs are still found, and no
    IVC is invented."""
    phantom = make_phantom(phase="arterial")
    noise = np.random.default_rng(38).normal(0.0, 35.0, phantom.hu.shape).astype(np.float32)
    result = replace(phantom, hu=phantom.hu + noise).segment()
    found = {
        name: dice(result.masks.get(name, np.zeros(1, bool)), phantom.truth[name])
        for name in ("liver", "spleen", "kidney")
    }
    assert all(value >= 0.85 for value in found.values()), found
    assert "ivc" not in result.masks
    assert "no IVC found: no enhanced vein right of the aorta." in result.warnings


def test_fatty_liver_darker_than_muscle_is_found(monkeypatch):
    # Steatosis: a portal-venous liver at 45 HU, below muscle (55 HU) and the spleen.
    fatty = dict(PHASE_HU["portal"], liver=45.0)
    monkeypatch.setitem(PHASE_HU, "fatty", fatty)
    phantom = make_phantom(phase="fatty")
    result = phantom.segment()
    assert dice(result.masks.get("liver", np.zeros(1, bool)), phantom.truth["liver"]) >= 0.9
    assert not any(w.startswith("no liver") for w in result.warnings)


def test_masks_are_disjoint_and_inside_soft_tissue(phantom: Phantom, phantom_result: AbdomenResult):
    masks = list(phantom_result.masks.values())
    total = np.sum([m.astype(np.int8) for m in masks], axis=0)
    assert total.max() == 1
    assert not (total.astype(bool) & (phantom.bone | phantom.lung | ~phantom.body)).any()


def test_non_contrast_ct_says_no_enhancement():
    result = make_phantom(phase="none").segment()
    assert result.masks == {}
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("no contrast enhancement found")
    assert "liver" in result.warnings[0] and "kidneys" in result.warnings[0]


def test_missing_spleen_is_named():
    result = make_phantom(spleen=False).segment()
    assert "spleen" not in result.masks
    assert any(w.startswith("no spleen found") for w in result.warnings)
    assert {"liver", "kidney"} <= set(result.masks)


def test_scan_cut_through_the_liver_says_so(phantom: Phantom):
    # Keep the slices up to the liver's middle: the scan's top slice cuts the liver.
    top = int(145.0 / SPACING_MM[2]) + 1
    geometry = phantom.geometry.with_shape((top, *SHAPE_KJI[1:]))
    cut = replace(
        phantom,
        hu=phantom.hu[:top],
        geometry=geometry,
        body=phantom.body[:top],
        bone=phantom.bone[:top],
        lung=phantom.lung[:top],
    )
    result = cut.segment()
    assert "liver" in result.masks
    assert "liver reaches the scan's highest slice: it is cut there (cropped CT)." in (
        result.warnings
    )
    assert any(w.startswith("no lung bases in this scan") for w in result.warnings)


def _stored_flipped(phantom: Phantom):
    """i toward the patient's right, k toward the feet."""
    geometry = Geometry(
        SHAPE_KJI,
        SPACING_MM,
        phantom.geometry.index_to_lps([SHAPE_KJI[2] - 1, 0, SHAPE_KJI[0] - 1]),
        np.diag([-1.0, 1.0, -1.0]),
    )
    return geometry, lambda array: array[::-1, :, ::-1], lambda array: array[::-1, :, ::-1]


def _stored_coronal(phantom: Phantom):
    """Coronal slices: array axis 0 runs toward the back, axis 1 toward the head."""
    nk, nj, ni = SHAPE_KJI
    direction = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # columns i, j, k
    geometry = Geometry(
        (nj, nk, ni),
        (SPACING_MM[0], SPACING_MM[2], SPACING_MM[1]),
        phantom.geometry.origin_lps_mm,
        direction,
    )

    def store(array):
        return np.transpose(array, (1, 0, 2))

    return geometry, store, store


@pytest.mark.parametrize("stored", [_stored_flipped, _stored_coronal])
def test_grid_axis_order_and_direction_do_not_matter(phantom: Phantom, phantom_result, stored):
    geometry, store, back = stored(phantom)
    result = segment_abdomen(
        store(phantom.hu),
        geometry,
        body=store(phantom.body),
        bone=store(phantom.bone),
        lung=store(phantom.lung),
    )
    assert set(result.masks) == set(phantom_result.masks)
    for name, mask in result.masks.items():
        assert dice(back(mask), phantom_result.masks[name]) >= 0.97, name


def test_mask_of_another_shape_is_refused(phantom: Phantom):
    with pytest.raises(InvalidParameterError, match="bone has shape"):
        segment_abdomen(
            phantom.hu,
            phantom.geometry,
            body=phantom.body,
            bone=phantom.bone[:5],
            lung=phantom.lung,
        )


# -- real CT ------------------------------------------------------------------------------


def _simple_masks(hu: NDArray) -> tuple[NDArray[np.bool_], ...]:
    """Body, bone and lung by plain thresholds, independent of the HU anatomy module."""
    labels, _ = ndimage.label(hu > -500)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    body = labels == int(np.argmax(sizes))
    body = np.stack([ndimage.binary_fill_holes(s) for s in body])
    bone = body & (hu > 400)
    air, _ = ndimage.label(body & (hu < -400))
    top_air = np.unique(air[-1])
    lung = np.isin(air, top_air[top_air > 0])
    return body, bone, lung


@pytest.mark.shared_dicom
def test_tcia_ct_organs_meet_the_goals(shared_dicom: Path):
    """On the real contrast CT, with body, bone and lung from plain thresholds (so that
    only the organ step is measured): Dice against the hand-drawn reference reaches
    issue 15's goals, and the lower-pole kidney lesion site lies in kidney."""
    from anatomy_reference import DICE_GOALS, load_reference

    from planning_core.imaging.loader import load_image

    volume = load_image(shared_dicom / "tcia-pancreas-ct")
    body, bone, lung = _simple_masks(volume.voxels)
    result = segment_abdomen(volume.voxels, volume.geometry, body=body, bone=bone, lung=lung)
    assert not [w for w in result.warnings if w.startswith("no ")], result.warnings
    reference = load_reference(volume.geometry)
    found = {
        organ: round(dice(result.masks[organ], reference.mask(organ)), 3)
        for organ in ("liver", "spleen", "kidney")
    }
    assert all(found[organ] >= DICE_GOALS[organ] for organ in found), found
    # Centre of the 25 mm lesion marked in the right kidney's lower pole (PLAN.md).
    i, j, k = volume.geometry.lps_to_nearest_index([-60.2, 133.4, 268.9])
    assert result.masks["kidney"][k, j, i] or result.masks["renal_sinus"][k, j, i]
    assert result.masks["aorta"].sum() * volume.geometry.voxel_volume_mm3 >= 15_000.0


# -- TotalSegmentator adapter ----------------------------------------------------------


def _write(array: NDArray, geometry: Geometry, path: Path) -> None:
    write_volume(Volume(array, geometry, "OT"), path)


@pytest.fixture()
def small_grid() -> Geometry:
    return Geometry((4, 6, 8), (1.5, 1.5, 3.0), (-10.0, -20.0, 30.0))


def test_names_map_to_our_labels():
    expected = {
        "liver": "liver",
        "kidney_left": "kidney",
        "kidney_cyst_right": "kidney",
        "inferior_vena_cava": "ivc",
        "aorta": "aorta",
        "small_bowel": "bowel",
        "colon": "colon",
        "duodenum": "duodenum",
        "lung_middle_lobe_right": "lung",
        "lung_left": "lung",
        "trachea": "lung",
        "rib_right_11": "bone",
        "vertebrae_L2": "bone",
        "hip_left": "bone",
        "heart_ventricle_left": "heart",
        "iliac_vena_right": "vessel",
        "body_trunc": "body",
        "adrenal_gland_left": None,
        "urinary_bladder": None,
        "gluteus_maximus_left": None,
    }
    assert {name: ts.our_label(name) for name in expected} == expected


def test_multilabel_file_with_total_class_ids(tmp_path: Path, small_grid: Geometry):
    ids = np.zeros(small_grid.shape, dtype=np.uint8)
    ids[0, 0, :2] = 2  # kidney_right
    ids[0, 1, :2] = 3  # kidney_left
    ids[1, 0, :3] = 5  # liver
    ids[1, 1, 0] = 63  # inferior_vena_cava
    ids[2, 0, 0] = 92  # rib_left_1
    ids[2, 0, 1] = 27  # vertebrae_L5
    ids[2, 1, :4] = 12  # lung_upper_lobe_right
    ids[3, 0, 0] = 18  # small_bowel
    ids[3, 5, 7] = 8  # adrenal_gland_right: no label here
    path = tmp_path / "total.nii.gz"
    _write(ids, small_grid, path)
    masks, unmapped = ts.read_totalsegmentator_output(path, small_grid)
    assert set(masks) == {"kidney", "liver", "ivc", "bone", "lung", "bowel"}
    assert masks["kidney"].sum() == 4 and masks["kidney"][0, :2, :2].all()
    assert masks["bone"].sum() == 2 and masks["lung"].sum() == 4
    assert masks["ivc"][1, 1, 0] and masks["liver"].sum() == 3
    assert unmapped == ("class 8",)


def test_folder_of_class_masks(tmp_path: Path, small_grid: Geometry):
    folder = tmp_path / "segmentations"
    folder.mkdir()
    cells = {
        "kidney_left": (0, 0, 0),
        "kidney_right": (0, 0, 7),
        "lung_lower_lobe_left": (3, 2, 2),
        "rib_right_12": (1, 5, 7),
        "adrenal_gland_left": (2, 2, 2),
        "spleen": (1, 1, 1),
    }
    for name, cell in cells.items():
        mask = np.zeros(small_grid.shape, dtype=np.uint8)
        mask[cell] = 1
        _write(mask, small_grid, folder / f"{name}.nii.gz")
    _write(np.zeros(small_grid.shape, np.uint8), small_grid, folder / "liver.nii.gz")  # empty
    masks, unmapped = ts.read_totalsegmentator_output(folder, small_grid)
    assert set(masks) == {"kidney", "lung", "bone", "spleen"}
    assert masks["kidney"].sum() == 2 and masks["kidney"][0, 0, 7]
    assert unmapped == ("adrenal_gland_left",)


def test_output_on_another_grid_is_refused(tmp_path: Path, small_grid: Geometry):
    path = tmp_path / "total.nii.gz"
    _write(np.ones(small_grid.shape, np.uint8), small_grid, path)
    other = Geometry(small_grid.shape, (1.5, 1.5, 3.0), (0.0, 0.0, 0.0))
    with pytest.raises(GeometryMismatchError, match="TotalSegmentator output"):
        ts.read_totalsegmentator_output(path, other)


def test_empty_folder_is_refused(tmp_path: Path, small_grid: Geometry):
    with pytest.raises(VolumeFormatError, match=r"no \.nii\.gz masks"):
        ts.read_totalsegmentator_output(tmp_path, small_grid)


def test_backend_detected_only_with_package_and_weights(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(ts.importlib.util, "find_spec", lambda name: None)
    status = ts.totalsegmentator_status()
    assert not status.available and "not installed" in status.reason
    monkeypatch.setattr(ts.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setenv("TOTALSEG_WEIGHTS_PATH", str(tmp_path))
    status = ts.totalsegmentator_status()
    assert not status.available and "weights" in status.reason
    (tmp_path / "Dataset297_TotalSegmentator_total_3mm_1559subj").mkdir()
    assert ts.totalsegmentator_status().available


def test_running_without_backend_says_what_to_use(monkeypatch, small_grid: Geometry):
    monkeypatch.setattr(ts.importlib.util, "find_spec", lambda name: None)
    volume = Volume(np.zeros(small_grid.shape, np.int16), small_grid, "CT")
    with pytest.raises(SegmentationError, match="built-in automatic anatomy"):
        ts.run_totalsegmentator(volume)
