"""The pectoral muscle on a small thorax phantom built like a chest CT.

The phantom is a 20-slice chest on 2 mm pixels and 4 mm slices: subcutaneous
fat (-100 HU) with a breast gland (30 HU) in it, a muscle layer (50 HU) over a
rib cage (800 HU, intercostal muscle in its gaps), two aerated lungs (-850 HU)
and the mediastinum (40 HU). The truth of the pectoral muscle is the muscle
outside the ribs in front of the lungs' centre, over the lungs' width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray

from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.segmentation.anatomy import AnatomySettings, segment_anatomy
from planning_core.segmentation.anatomy_chest_wall import PECTORAL_NOT_FOUND, anterior_sign
from planning_core.segmentation.metrics import dice

SPACING_IJK_MM = (2.0, 2.0, 4.0)
SHAPE_KJI = (20, 150, 200)
CENTRE_JI = (75.0, 100.0)
HU_ONLY = AnatomySettings(organs=False)


@dataclass
class ChestPhantom:
    volume: Volume
    pectoral: NDArray[np.bool_]
    gland: NDArray[np.bool_]
    lung: NDArray[np.bool_]
    ribs: NDArray[np.bool_]


def _ellipse(j, i, centre, semi):
    inside = ((j - centre[0]) / semi[0]) ** 2 + ((i - centre[1]) / semi[1]) ** 2 <= 1.0
    return np.broadcast_to(inside, SHAPE_KJI)


def build_chest(muscle: bool = True) -> ChestPhantom:
    """A chest CT; without ``muscle`` fat replaces the muscle over the ribs.

    ``pectoral`` holds where the muscle is (or would be, without it).
    """
    rng = np.random.default_rng(21)
    j, i = np.meshgrid(np.arange(SHAPE_KJI[1]), np.arange(SHAPE_KJI[2]), indexing="ij")
    cj, ci = CENTRE_JI
    body = _ellipse(j, i, (cj, ci), (66.0, 90.0))
    wall = _ellipse(j, i, (cj, ci), (52.0, 77.0))
    cage = _ellipse(j, i, (cj, ci), (45.0, 70.0))
    inner = _ellipse(j, i, (cj, ci), (42.0, 67.0))
    # Ribs: the cage's ring cut into arcs, intercostal muscle in the gaps.
    angle = np.degrees(np.arctan2(j - cj, i - ci))
    ribs = cage & ~inner & np.broadcast_to(np.mod(angle, 30.0) < 22.0, SHAPE_KJI)
    lung = _ellipse(j, i, (cj, ci - 32.0), (35.0, 28.0)) | _ellipse(
        j, i, (cj, ci + 32.0), (35.0, 28.0)
    )
    gland = _ellipse(j, i, (14.0, ci - 45.0), (4.0, 10.0))
    hu = np.full(SHAPE_KJI, -1000.0)
    hu[body] = -100.0
    if muscle:
        hu[wall] = 50.0
    hu[cage] = 50.0
    hu[inner] = 40.0
    hu[ribs] = 800.0
    hu[lung] = -850.0
    hu[gland] = 30.0
    hu += rng.normal(0.0, 10.0, SHAPE_KJI)
    lung_width = np.broadcast_to(np.abs(i - ci) <= 60.0, SHAPE_KJI)
    pectoral = wall & ~cage & np.broadcast_to(j < cj, SHAPE_KJI) & lung_width
    geometry = Geometry(SHAPE_KJI, SPACING_IJK_MM, (-ci * 2.0, -cj * 2.0, 0.0))
    volume = Volume(hu.astype(np.float32), geometry, "CT")
    return ChestPhantom(volume, pectoral, gland, lung, ribs)


@pytest.fixture(scope="module")
def chest() -> tuple[ChestPhantom, LabelMap, tuple[str, ...]]:
    phantom = build_chest()
    result = segment_anatomy(phantom.volume, settings=HU_ONLY)
    return phantom, result.label_map, result.warnings


def _pectoral(labels: LabelMap) -> NDArray[np.bool_]:
    assert labels.has("pectoral_muscle"), f"no pectoral muscle among {labels.names}"
    return labels.voxels == labels.info("pectoral_muscle").value


def test_pectoral_muscle_lies_on_the_anterior_chest_wall(chest):
    phantom, labels, warnings = chest
    found = _pectoral(labels)
    assert dice(found, phantom.pectoral) >= 0.8
    # Nothing behind the lungs' centre (back muscles), in the lungs or the ribs.
    assert not found[:, int(CENTRE_JI[0]) + 3 :, :].any()
    assert not (found & (phantom.lung | phantom.ribs)).any()
    assert PECTORAL_NOT_FOUND not in warnings


def test_breast_gland_in_the_fat_is_not_muscle(chest):
    phantom, labels, _ = chest
    assert not (_pectoral(labels) & phantom.gland).any()


def test_thorax_without_muscle_warns_that_the_pectoral_muscle_is_missing():
    result = segment_anatomy(build_chest(muscle=False).volume, settings=HU_ONLY)
    assert not result.label_map.has("pectoral_muscle")
    assert PECTORAL_NOT_FOUND in result.warnings


def test_scan_below_the_thorax_gives_no_pectoral_warning():
    phantom = build_chest()
    hu = phantom.volume.voxels.copy()
    hu[phantom.lung] = 40.0
    result = segment_anatomy(Volume(hu, phantom.volume.geometry, "CT"), settings=HU_ONLY)
    assert not result.label_map.has("pectoral_muscle")
    assert PECTORAL_NOT_FOUND not in result.warnings


def test_front_follows_the_scan_direction():
    # LPS y points to the back: j growing along +y runs posteriorly.
    assert anterior_sign(np.eye(3)) == -1
    assert anterior_sign(np.diag([1.0, -1.0, 1.0])) == 1
    assert anterior_sign(np.array([[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]])) == 0
