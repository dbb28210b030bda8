"""Tissue classes of the synthetic cases: appearance and ground-truth label of each.

A case is first painted as a grid of tissue classes; the image is rendered from
the classes' appearance and the label map from their label names, so the two
always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import STANDARD_LABELS, LabelInfo, LabelMap

#: Labels the samples need that are not in the standard table (value, colour, role).
EXTRA_LABELS: dict[str, LabelInfo] = {
    info.name: info
    for info in (
        LabelInfo(40, "heart", (200, 40, 60), "oar"),
        LabelInfo(41, "stomach", (210, 160, 90), "oar"),
    )
}


@dataclass(frozen=True)
class Tissue:
    """Appearance of one tissue class.

    ``mean`` is HU for CT and echogenicity (0..1) for ultrasound; ``texture`` is
    the standard deviation of the tissue's smooth internal inhomogeneity in the
    same unit; ``label`` is the ground-truth label name (``None``: background);
    ``dependent_per_mm`` raises the value towards the back (+y), as gravity makes
    the dependent lung of a supine patient denser.
    """

    name: str
    mean: float
    texture: float
    label: str | None
    dependent_per_mm: float = 0.0


class TissueTable:
    """Numbered tissue classes; class 0 is the first entry (outside the patient)."""

    def __init__(self, tissues: tuple[Tissue, ...]) -> None:
        self.tissues = tissues
        self._ids = {tissue.name: index for index, tissue in enumerate(tissues)}

    def id(self, name: str) -> int:
        return self._ids[name]

    def ids(self, *names: str) -> tuple[int, ...]:
        return tuple(self._ids[name] for name in names)

    def lookup(self, attribute: str) -> NDArray[np.float32]:
        """Per-class values of a numeric ``attribute`` of :class:`Tissue`, for ``lut[tissue]``."""
        return np.asarray([getattr(t, attribute) for t in self.tissues], dtype=np.float32)

    def label_map(self, tissue: NDArray[np.uint8], geometry: Geometry) -> LabelMap:
        """The ground-truth label map of a painted tissue grid."""
        names = sorted(
            {t.label for t in self.tissues if t.label is not None},
            key=lambda name: _label_info(name).value,
        )
        table = tuple(_label_info(name) for name in names)
        value_of = {info.name: info.value for info in table}
        lut = np.asarray(
            [value_of[t.label] if t.label is not None else 0 for t in self.tissues], dtype=np.uint8
        )
        voxels = lut[tissue]
        present = {int(v) for v in np.unique(voxels)}
        return LabelMap(voxels, geometry, tuple(info for info in table if info.value in present))


def _label_info(name: str) -> LabelInfo:
    return STANDARD_LABELS.get(name) or EXTRA_LABELS[name]


CT_TISSUES = TissueTable(
    (
        Tissue("air", -1000.0, 0.0, None),
        Tissue("table_shell", 250.0, 30.0, None),
        Tissue("table_foam", -920.0, 15.0, None),
        Tissue("skin", 35.0, 8.0, "skin"),
        Tissue("subcutaneous_fat", -105.0, 7.0, "fat"),
        Tissue("visceral_fat", -95.0, 9.0, "fat"),
        Tissue("muscle", 55.0, 6.0, "muscle"),
        Tissue("cortical_bone", 900.0, 90.0, "bone"),
        Tissue("cancellous_bone", 240.0, 45.0, "bone"),
        Tissue("disc", 85.0, 8.0, "bone"),
        Tissue("spinal_canal", 18.0, 4.0, "spinal_cord"),
        Tissue("aortic_blood", 180.0, 5.0, "aorta"),
        Tissue("caval_blood", 150.0, 6.0, "ivc"),
        Tissue("vessel_blood", 165.0, 6.0, "vessel"),
        Tissue("hepatic_vein_blood", 160.0, 5.0, "hepatic_vein"),
        Tissue("renal_cortex", 180.0, 7.0, "kidney"),
        Tissue("renal_medulla", 145.0, 7.0, "kidney"),
        Tissue("sinus_fat", -80.0, 12.0, "renal_sinus"),
        Tissue("urine", 8.0, 4.0, "renal_sinus"),
        Tissue("ureter", 30.0, 6.0, "ureter"),
        Tissue("bowel_wall", 45.0, 6.0, "bowel"),
        Tissue("bowel_fluid", 12.0, 5.0, "bowel"),
        Tissue("bowel_gas", -1000.0, 8.0, "bowel_gas"),
        Tissue("colon_wall", 45.0, 6.0, "colon"),
        Tissue("colon_content", -40.0, 70.0, "colon"),
        Tissue("colon_gas", -1000.0, 8.0, "bowel_gas"),
        Tissue("stomach_wall", 50.0, 6.0, "stomach"),
        Tissue("stomach_fluid", 10.0, 5.0, "stomach"),
        Tissue("stomach_gas", -1000.0, 8.0, "bowel_gas"),
        Tissue("liver", 105.0, 7.0, "liver"),
        Tissue("gallbladder", 6.0, 4.0, "gallbladder"),
        Tissue("spleen", 120.0, 7.0, "spleen"),
        Tissue("diaphragm", 55.0, 6.0, "diaphragm"),
        Tissue("lung", -855.0, 25.0, "lung", dependent_per_mm=0.3),
        Tissue("lung_vessel", 90.0, 20.0, "lung"),
        Tissue("pulmonary_vessel", 150.0, 8.0, "vessel"),
        Tissue("myocardium", 95.0, 7.0, "heart"),
        Tissue("cardiac_blood", 150.0, 6.0, "heart"),
        Tissue("renal_tumor", 95.0, 14.0, "tumor"),
        Tissue("renal_tumor_necrosis", 40.0, 10.0, "tumor"),
        Tissue("liver_tumor", 55.0, 9.0, "tumor"),
        Tissue("liver_tumor_rim", 85.0, 8.0, "tumor"),
        Tissue("lung_tumor", 30.0, 12.0, "tumor"),
        # Heterogeneous lesions (appended, so the classes above keep their numbers).
        # Large colorectal liver metastasis, portal venous phase: liquefied necrosis
        # 15-35 HU, viable tumor hypodense to the liver (60-85 HU), a peripheral ring of
        # enhancement brighter than the liver, and dystrophic (mucinous) calcifications.
        Tissue("liver_met_necrosis", 25.0, 10.0, "tumor"),
        Tissue("liver_met_viable", 75.0, 12.0, "tumor"),
        Tissue("liver_met_rim", 130.0, 10.0, "tumor"),
        Tissue("calcification", 650.0, 150.0, "tumor"),
        # Cystic renal mass (Bosniak IV), nephrographic phase: simple-fluid content
        # 0-15 HU, a thin enhancing wall and an enhancing solid mural nodule.
        Tissue("renal_cyst_fluid", 8.0, 3.0, "tumor"),
        Tissue("renal_cyst_wall", 65.0, 8.0, "tumor"),
        Tissue("renal_mural_nodule", 120.0, 14.0, "tumor"),
        # Part-solid lung nodule: ground glass (denser centrally, fading towards its
        # margin) around a solid core of soft-tissue density; small vessels crossing the
        # ground glass belong to the lesion as a reader outlines it.
        Tissue("ground_glass", -560.0, 45.0, "tumor"),
        Tissue("ground_glass_margin", -660.0, 40.0, "tumor"),
        Tissue("part_solid_core", 30.0, 12.0, "tumor"),
        Tissue("lesion_vessel", 90.0, 20.0, "tumor"),
    )
)
