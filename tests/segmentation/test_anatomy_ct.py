"""Automatic CT anatomy on small torso phantoms built like a real contrast CT.

Each phantom is a 45-slice trunk on 1 mm pixels and 3 mm slices (real CT
geometry, so every millimetre threshold acts as on a patient) with the
structures that broke the old anatomy on real scans: a CT table under the
back, a gas-filled loop below the lung, stool with gas bubbles, thin rib
cortex, enhanced renal cortex and an enhanced aorta leaning on the spine, and a
vein full of undiluted contrast. The truth is the analytic shape of each part;
"table" holds the cover sheet and the table plate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.segmentation.anatomy import AnatomySettings, segment_anatomy
from planning_core.segmentation.metrics import dice

SPACING_IJK_MM = (1.0, 1.0, 3.0)
SHAPE_KJI = (45, 190, 250)
CENTRE_XY_MM = (125.0, 90.0)
#: Organ HU of a portal-venous contrast CT and of the same patient without contrast.
CONTRAST_HU = {"aorta": 220.0, "cortex": 210.0, "medulla": 130.0}
PLAIN_HU = {"aorta": 45.0, "cortex": 35.0, "medulla": 30.0}


@dataclass(frozen=True)
class PhantomOptions:
    contrast: bool = True
    noise_hu: float = 12.0
    table_gap_mm: float = 10.0
    dense_vein: bool = False
    crop_right_mm: float = 0.0


@dataclass
class TorsoPhantom:
    volume: Volume
    truth: dict[str, NDArray[np.bool_]]


def _ellipse(x, y, centre, semi):
    inside = ((x - centre[0]) / semi[0]) ** 2 + ((y - centre[1]) / semi[1]) ** 2 <= 1.0
    return np.broadcast_to(inside, SHAPE_KJI)


def _shell(x, y, centre, semi, wall_mm):
    inner = (semi[0] - wall_mm, semi[1] - wall_mm)
    return _ellipse(x, y, centre, semi) & ~_ellipse(x, y, centre, inner)


def build_torso(options: PhantomOptions = PhantomOptions()) -> TorsoPhantom:
    """A contrast CT of a trunk from the pelvis-free abdomen to the lung bases."""
    rng = np.random.default_rng(15)
    nk, nj, ni = SHAPE_KJI
    # In-slice coordinates are 2-D and the slice height 1-D: shapes are drawn
    # once per slice plane and stacked by broadcasting, which keeps this quick.
    j, i = np.meshgrid(np.arange(nj), np.arange(ni), indexing="ij")
    x, y = i[np.newaxis] * SPACING_IJK_MM[0], j[np.newaxis] * SPACING_IJK_MM[1]
    z = (np.arange(nk) * SPACING_IJK_MM[2])[:, np.newaxis, np.newaxis]
    cx, cy = CENTRE_XY_MM
    levels = PLAIN_HU if not options.contrast else CONTRAST_HU
    hu = np.full(SHAPE_KJI, -1000.0)
    body = _ellipse(x, y, (cx, cy), (110.0, 72.0))
    hu[body] = -100.0  # subcutaneous and visceral fat
    hu[_ellipse(x, y, (cx, cy), (98.0, 60.0))] = 40.0  # muscle and viscera
    # Under the back, as on the shared real CT: a foam pad (-580 HU) under a cover
    # sheet (-420 HU, just above the body threshold), more foam, then the table,
    # a 10 mm carbon-fibre plate across the field.
    back = cy + 72.0
    pad = (y >= back) & (y < back + 7.0) & ~body[0]
    hu[np.broadcast_to(pad, SHAPE_KJI)] = -580.0
    hu[np.broadcast_to((y >= back + 7.0) & (y < back + 9.0), SHAPE_KJI)] = -420.0
    table_top = back + 9.0 + options.table_gap_mm
    hu[np.broadcast_to((y >= back + 9.0) & (y < table_top), SHAPE_KJI)] = -900.0
    table = np.broadcast_to((y >= table_top) & (y < table_top + 10.0), SHAPE_KJI)
    hu[table] = 150.0
    table = table | np.broadcast_to((y >= back + 7.0) & (y < back + 9.0), SHAPE_KJI)
    truth: dict[str, NDArray[np.bool_]] = {"table": table}
    # Spine: vertebral body (thin cortex, dense young trabecular bone) and arch.
    spine_c = (cx, cy + 38.0)
    vertebra = _ellipse(x, y, spine_c, (16.0, 14.0))
    arch = _ellipse(x, y, (cx, cy + 58.0), (5.0, 9.0))
    hu[vertebra] = 300.0
    hu[_shell(x, y, spine_c, (16.0, 14.0), 1.5)] = 700.0
    hu[arch] = 700.0
    bone = vertebra | arch
    # Enhanced aorta leaning on the vertebral body.
    aorta = _ellipse(x, y, (cx - 6.0, spine_c[1] - 24.0), (11.0, 11.0))
    hu[aorta & ~vertebra] = levels["aorta"]
    # Kidneys: enhanced cortex around the medulla, below the lungs.
    kidneys = np.zeros_like(body)
    for side in (-1.0, 1.0):
        centre = (cx + side * 55.0, cy + 30.0)
        kidney = _ellipse(x, y, centre, (26.0, 20.0)) & (z < 75.0)
        hu[kidney] = levels["cortex"]
        hu[kidney & _ellipse(x, y, centre, (19.0, 13.0))] = levels["medulla"]
        kidneys |= kidney
    # Ribs in the upper half: 11 x 7 mm, 1 mm cortex around marrow.
    ribs = np.zeros_like(body)
    for angle in np.radians([-150.0, -120.0, -60.0, -30.0, 30.0, 150.0]):
        centre = (cx + 92.0 * np.cos(angle), cy + 55.0 * np.sin(angle))
        rib = _ellipse(x, y, centre, (5.5, 3.5)) & (z >= 60.0)
        hu[rib] = 220.0
        hu[_shell(x, y, centre, (5.5, 3.5), 1.0) & (z >= 60.0)] = 650.0
        ribs |= rib
    bone |= ribs
    # Lungs above a diaphragm at z = 96 mm, aerated (-850 HU) with vessels.
    lungs = np.zeros_like(body)
    for side in (-1.0, 1.0):
        lungs |= _ellipse(x, y, (cx + side * 48.0, cy), (34.0, 42.0)) & (z >= 96.0)
    hu[lungs] = -850.0 + rng.normal(0.0, 35.0, size=hu.shape)[lungs]
    vessels = lungs & (rng.random(hu.shape) < 0.01)
    hu[ndimage.binary_dilation(vessels, iterations=1) & lungs] = 60.0
    # A gas-filled loop (24 ml) right under the left lung base: pure gas in a 3 mm wall.
    loop_c = (cx + 48.0, cy - 5.0)
    loop = _ellipse(x, y, loop_c, (24.0, 18.0)) & (z >= 72.0) & (z < 90.0)
    hu[ndimage.binary_dilation(loop, iterations=3) & ~loop & body] = 60.0
    hu[loop] = -1000.0
    # Colon with stool: soft content speckled with 2-3 mm gas bubbles.
    colon_c = (cx - 60.0, cy - 35.0)
    colon = _ellipse(x, y, colon_c, (20.0, 16.0)) & (z >= 6.0) & (z < 60.0)
    hu[colon] = 10.0
    bubbles = colon & (rng.random(hu.shape) < 0.012)
    bubbles = ndimage.binary_dilation(bubbles, structure=np.ones((1, 3, 3), bool)) & colon
    hu[bubbles] = -900.0
    if options.dense_vein:
        vein = _ellipse(x, y, (cx + 20.0, cy - 30.0), (9.0, 9.0)) & (z >= 30.0)
        hu[vein] = 1500.0
        truth["vein"] = vein
    # Scanner blur and noise.
    hu = ndimage.gaussian_filter(hu, sigma=(0.3, 0.6, 0.6))
    hu += rng.normal(0.0, options.noise_hu, size=hu.shape)
    origin = (-cx, -cy, 0.0)
    truth.update(
        body=body, bone=bone & body, ribs=ribs, lung=lungs, loop=loop, colon=colon,
        kidney=kidneys, aorta=aorta & ~vertebra,
    )  # fmt: skip
    if options.crop_right_mm:
        keep = int(options.crop_right_mm / SPACING_IJK_MM[0])
        hu = hu[:, :, keep:]
        truth = {name: mask[:, :, keep:] for name, mask in truth.items()}
        origin = (-cx + keep * SPACING_IJK_MM[0], -cy, 0.0)
    geometry = Geometry(hu.shape, SPACING_IJK_MM, origin)
    return TorsoPhantom(Volume(hu.astype(np.float32), geometry, "CT"), truth)


HU_ONLY = AnatomySettings(organs=False)


@pytest.fixture(scope="module")
def torso() -> tuple[TorsoPhantom, LabelMap, tuple[str, ...]]:
    phantom = build_torso()
    result = segment_anatomy(phantom.volume, settings=HU_ONLY)
    return phantom, result.label_map, result.warnings


def _mask(labels: LabelMap, *names: str) -> NDArray[np.bool_]:
    mask = np.zeros(labels.geometry.shape, dtype=bool)
    for name in names:
        if labels.has(name):
            mask |= labels.mask(name)
    return mask


def test_table_under_the_back_is_not_body(torso):
    phantom, labels, _ = torso
    body = labels.voxels > 0
    assert not (body & phantom.truth["table"]).any()
    assert dice(body, phantom.truth["body"]) >= 0.97
    assert not (_mask(labels, "skin") & phantom.truth["table"]).any()


def test_table_right_under_the_foam_pad_is_not_body():
    phantom = build_torso(PhantomOptions(table_gap_mm=0.0))
    labels = segment_anatomy(phantom.volume, settings=HU_ONLY).label_map
    assert not ((labels.voxels > 0) & phantom.truth["table"]).any()


def test_gas_loop_under_the_lung_is_bowel_not_lung(torso):
    phantom, labels, _ = torso
    loop = phantom.truth["loop"]
    bowel = _mask(labels, "bowel", "colon")
    assert np.count_nonzero(loop & bowel) >= 0.95 * np.count_nonzero(loop)
    assert not (loop & _mask(labels, "lung")).any()
    assert dice(_mask(labels, "lung"), phantom.truth["lung"]) >= 0.9
    assert "bowel_gas" not in labels.names


def test_every_gas_voxel_inside_the_body_is_bowel_or_lung(torso):
    phantom, labels, _ = torso
    gas = (phantom.volume.voxels < -400.0) & ndimage.binary_erosion(
        phantom.truth["body"], iterations=8
    )
    found = _mask(labels, "bowel", "colon", "lung")
    assert np.count_nonzero(gas & found) >= 0.95 * np.count_nonzero(gas)


def test_thin_rib_cortex_is_bone_and_enhanced_organs_are_not(torso):
    phantom, labels, _ = torso
    bone = _mask(labels, "bone")
    ribs = phantom.truth["ribs"]
    assert np.count_nonzero(bone & ribs) >= 0.8 * np.count_nonzero(ribs)
    assert dice(bone, phantom.truth["bone"]) >= 0.85
    for organ in ("kidney", "aorta"):
        inner = ndimage.binary_erosion(phantom.truth[organ], iterations=2)
        assert np.count_nonzero(bone & inner) <= 0.01 * np.count_nonzero(inner), organ


def test_mottled_stool_is_colon(torso):
    phantom, labels, _ = torso
    colon = phantom.truth["colon"]
    found = _mask(labels, "colon")
    assert np.count_nonzero(found & colon) >= 0.6 * np.count_nonzero(colon)
    # Stool is told apart from the gas-filled small-bowel loop.
    assert np.count_nonzero(found & phantom.truth["loop"]) == 0


def test_dense_contrast_vein_is_not_bone():
    phantom = build_torso(PhantomOptions(dense_vein=True))
    result = segment_anatomy(phantom.volume, settings=HU_ONLY)
    bone = _mask(result.label_map, "bone")
    assert not (bone & phantom.truth["vein"]).any()
    assert any("dense contrast" in warning for warning in result.warnings)


def test_contrast_ct_gives_no_image_warnings(torso):
    _, _, warnings = torso
    assert not any("contrast enhancement" in w or "noisy" in w for w in warnings)


def test_plain_ct_warns_that_there_is_no_contrast():
    phantom = build_torso(PhantomOptions(contrast=False))
    result = segment_anatomy(phantom.volume, settings=HU_ONLY)
    assert any("no contrast enhancement" in warning for warning in result.warnings)


def test_noisy_low_dose_ct_warns_and_keeps_body_and_bone():
    phantom = build_torso(PhantomOptions(noise_hu=45.0))
    result = segment_anatomy(phantom.volume, settings=HU_ONLY)
    assert any("noisy image" in warning for warning in result.warnings)
    labels = result.label_map
    assert dice(labels.voxels > 0, phantom.truth["body"]) >= 0.97
    assert not (_mask(labels, "lung") & phantom.truth["loop"]).any()


def test_body_cut_by_the_field_of_view_is_reported():
    phantom = build_torso(PhantomOptions(crop_right_mm=40.0))
    result = segment_anatomy(phantom.volume, settings=HU_ONLY)
    assert any("side edge cuts the body" in warning for warning in result.warnings)
    # The image edge is no skin: in the cut column only the ends of the outline are.
    skin = _mask(result.label_map, "skin")[:, :, 0]
    body = (result.label_map.voxels > 0)[:, :, 0]
    assert np.count_nonzero(skin) <= 0.1 * np.count_nonzero(body)


def test_values_that_are_not_hounsfield_units_are_reported(torso):
    phantom = torso[0]
    raw = phantom.volume.with_voxels(phantom.volume.voxels + 1024.0)
    result = segment_anatomy(raw, settings=HU_ONLY)
    assert any("not be Hounsfield units" in warning for warning in result.warnings)


def test_missing_structures_are_named(torso):
    phantom = torso[0]
    abdomen_only = Volume(
        phantom.volume.voxels[:20],
        phantom.volume.geometry.cropped((0, 0, 0), (20, *SHAPE_KJI[1:])),
        "CT",
    )
    result = segment_anatomy(abdomen_only, settings=HU_ONLY)
    assert any(warning.startswith("no lung found") for warning in result.warnings)


def test_anatomy_fills_only_the_background_of_an_existing_map(torso):
    phantom, _, _ = torso
    tumor = np.zeros(phantom.volume.shape, dtype=bool)
    tumor[10:14, 60:70, 150:160] = True
    existing = LabelMap.empty(phantom.volume.geometry).with_mask("tumor", tumor)
    merged = segment_anatomy(phantom.volume, settings=HU_ONLY, into=existing).label_map
    np.testing.assert_array_equal(merged.mask("tumor"), tumor)
    assert merged.info("tumor").value == existing.info("tumor").value
    assert {"body", "bone", "lung", "bowel"} <= set(merged.names)


def test_ultrasound_is_refused(torso):
    phantom = torso[0]
    with pytest.raises(InvalidParameterError, match="CT"):
        segment_anatomy(replace(phantom.volume, modality="US"))
