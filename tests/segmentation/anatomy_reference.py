"""Automatic anatomy measured against the hand-drawn reference of the shared TCIA CT.

Shared by tests/segmentation/test_anatomy_real_ct.py and benchmarks/bench_anatomy.py.
The reference (tests/data/tcia_reference/, see its README) labels body, bone,
kidney, liver, spleen, colon and, outside the patient, the CT table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume_io import read_label_map

REFERENCE_PATH = (
    Path(__file__).resolve().parents[1] / "data" / "tcia_reference" / "tcia_reference.nii.gz"
)
#: Folder of the CT under the shared DICOM root.
TCIA_FOLDER = "tcia-pancreas-ct"
#: Issue 15's Dice goals per label.
DICE_GOALS: dict[str, float] = {
    "body": 0.97,
    "bone": 0.90,
    "liver": 0.90,
    "kidney": 0.85,
    "spleen": 0.85,
}
#: Labels measured (colon has no goal: it is printed only).
MEASURED_LABELS: tuple[str, ...] = (*DICE_GOALS, "colon")
#: Gas inside the body counts as found when labelled one of these.
GAS_LABELS: tuple[str, ...] = ("lung", "bowel", "colon")
GAS_GOAL = 0.95
GAS_THRESHOLD_HU = -400.0
#: The skin's partial-volume edge (air blending into skin) is not gas: gas is counted
#: only this deep inside the reference body.
GAS_MIN_DEPTH_MM = 3.0
#: Where the back lies on the pad, the skin's edge is a partial-volume judgement of about
#: two voxels: table voxels this close to the reference body are not counted as table.
TABLE_CONTACT_MM = 2.2


@dataclass(frozen=True)
class AnatomyFigures:
    """Figures of one automatic anatomy against the reference."""

    dice: dict[str, float]
    gas_ml: float
    gas_found_fraction: float
    table_ml: float
    #: Table farther than TABLE_CONTACT_MM from the patient, labelled as patient.
    table_in_body_ml: float
    #: All reference table voxels labelled as patient, the contact row included.
    table_touching_body_ml: float
    #: Share of the reference colon labelled colon or bowel (the reference colon is
    #: only the ascending colon: see the README).
    colon_as_bowel_fraction: float
    #: Reference liver, spleen and kidney labelled lung (the liver dome, an island
    #: inside the lung's outline on axial slices, must not become lung).
    organ_as_lung_ml: float = 0.0


def load_reference(geometry: Geometry) -> LabelMap:
    """The reference label map, checked to lie on the CT's grid."""
    return read_label_map(REFERENCE_PATH, reference=geometry)


def dice(a: NDArray[np.bool_], b: NDArray[np.bool_]) -> float:
    """Dice coefficient; 1.0 when both masks are empty."""
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.count_nonzero(a & b)) / total


def _mask(labels: LabelMap, name: str) -> NDArray[np.bool_]:
    return labels.mask(name) if labels.has(name) else np.zeros(labels.geometry.shape, bool)


def _in_plane_disk(radius_px: float) -> NDArray[np.bool_]:
    """A one-slice disk structuring element of the given radius in pixels."""
    reach = int(radius_px)
    j, i = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    return (j * j + i * i <= radius_px * radius_px)[None]


def reference_body(reference: LabelMap) -> NDArray[np.bool_]:
    """Every labelled voxel except the table: organs lie inside the body."""
    return (reference.voxels != 0) & ~_mask(reference, "table")


def measure(auto: LabelMap, reference: LabelMap, hu: NDArray[np.generic]) -> AnatomyFigures:
    """Dice per label, gas found and table inside the body of ``auto``.

    The automatic body is every voxel ``auto`` labels (skin, bone, organs,
    lung and bowel lie inside the body); the reference body likewise, less the table.
    """
    auto_body = auto.voxels != 0
    ref_body = reference_body(reference)
    scores = {"body": dice(auto_body, ref_body)}
    for name in MEASURED_LABELS[1:]:
        scores[name] = dice(_mask(auto, name), _mask(reference, name))
    pixel_mm = min(reference.geometry.spacing_kji_mm[1:])
    inner = ndimage.binary_erosion(ref_body, structure=_in_plane_disk(GAS_MIN_DEPTH_MM / pixel_mm))
    gas = inner & (hu < GAS_THRESHOLD_HU)
    found = np.zeros_like(gas)
    for name in GAS_LABELS:
        found |= _mask(auto, name)
    voxel_ml = reference.geometry.voxel_volume_mm3 / 1000.0
    gas_count = int(gas.sum())
    table = _mask(reference, "table")
    contact = ndimage.binary_dilation(
        ref_body, structure=_in_plane_disk(TABLE_CONTACT_MM / pixel_mm)
    )
    colon = _mask(reference, "colon")
    bowel = _mask(auto, "colon") | _mask(auto, "bowel")
    colon_count = int(colon.sum())
    return AnatomyFigures(
        dice=scores,
        gas_ml=gas_count * voxel_ml,
        gas_found_fraction=(int(np.count_nonzero(gas & found)) / gas_count) if gas_count else 1.0,
        table_ml=int(table.sum()) * voxel_ml,
        table_in_body_ml=int(np.count_nonzero(table & auto_body & ~contact)) * voxel_ml,
        table_touching_body_ml=int(np.count_nonzero(table & auto_body)) * voxel_ml,
        colon_as_bowel_fraction=(
            int(np.count_nonzero(colon & bowel)) / colon_count if colon_count else 1.0
        ),
        organ_as_lung_ml=int(
            np.count_nonzero(
                _mask(auto, "lung")
                & (
                    _mask(reference, "liver")
                    | _mask(reference, "spleen")
                    | _mask(reference, "kidney")
                )
            )
        )
        * voxel_ml,
    )
