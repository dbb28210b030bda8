"""The CT sample cases: field of view, tumor and clinical context of each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from cryoplan_samples.canvas import Canvas
from cryoplan_samples.heterogeneous import CysticRenalMass, LiverMetastasis, PartSolidNodule
from cryoplan_samples.render import render_ct
from cryoplan_samples.tissues import CT_TISSUES
from cryoplan_samples.torso import kidney_frame, paint_torso
from cryoplan_samples.tumor import CompactTumor
from planning_core.imaging.dicom_write import DicomIdentity, write_ct_series
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import write_label_map
from planning_core.progress import CancelToken, ProgressCallback, sub_progress


class TumorPainter(Protocol):
    """Paints a case's tumor into the torso canvas from the case's tumor generator."""

    def paint(self, canvas: Canvas, rng: np.random.Generator) -> None: ...


@dataclass(frozen=True)
class CtCaseSpec:
    """Everything that distinguishes one CT sample case from another."""

    name: str
    title: str
    organ: str
    description: str
    approach: str
    host_label: str
    body_part: str
    study_description: str
    series_description: str
    matrix: int
    pixel_mm: float
    slice_mm: float
    z_first_mm: float
    slices: int
    center_y_mm: float
    tumor: TumorPainter
    window_center_hu: float
    window_width_hu: float
    patient_sex: str
    patient_birth_date: str
    default_seed: int
    #: Bumped when the case's bytes change; ``None`` for the cases that predate revisions
    #: (their bytes change only with ``GENERATOR_VERSION``).
    revision: int | None = None
    #: ``"HFS"`` (supine) or ``"HFP"`` (prone): where the table lies, which way gas rises
    #: and lungs grow dense, and the DICOM Patient Position. The anatomy stays the same.
    patient_position: str = "HFS"

    def geometry(self) -> Geometry:
        half = (self.matrix - 1) / 2.0 * self.pixel_mm
        return Geometry(
            (self.slices, self.matrix, self.matrix),
            (self.pixel_mm, self.pixel_mm, self.slice_mm),
            (-half, self.center_y_mm - half, self.z_first_mm),
        )

    def identity(self, seed: int) -> DicomIdentity:
        return DicomIdentity(
            patient_name=f"SYNTHETIC^{self.name.upper()}",
            patient_id=f"CRYOPLAN-{self.name.upper()}-{seed}",
            patient_birth_date=self.patient_birth_date,
            patient_sex=self.patient_sex,
            study_description=self.study_description,
            study_date="20240115",
            study_time="093000",
            accession_number=f"SYN{seed:08d}"[-16:],
            referring_physician_name="SYNTHETIC^REFERRER",
            institution_name="Cryoablation planner sample data",
        )


def _right_kidney_point(along_mm: float, hilar_mm: float, third_mm: float) -> tuple[float, ...]:
    center, frame = kidney_frame(-1.0)
    point = center + along_mm * frame[0] + hilar_mm * frame[1] + third_mm * frame[2]
    return tuple(round(float(v), 2) for v in point)


KIDNEY = CtCaseSpec(
    name="kidney",
    title="Right renal tumor near the sinus, ureter and bowel",
    organ="kidney",
    description=(
        "Contrast-enhanced abdominal CT (nephrographic phase) of a 3 cm heterogeneous, "
        "partly necrotic lower-interpolar right renal mass abutting the renal sinus, with the "
        "ureter and bowel nearby."
    ),
    approach="posterior or posterolateral, below the 12th rib (patient prone)",
    host_label="kidney",
    body_part="ABDOMEN",
    study_description="CT ABDOMEN WITH CONTRAST (SYNTHETIC)",
    series_description="Abdomen 1.25 mm nephrographic",
    matrix=448,
    pixel_mm=0.78125,
    slice_mm=1.25,
    z_first_mm=-86.25,
    slices=104,
    center_y_mm=10.0,
    tumor=CompactTumor(
        center_lps_mm=_right_kidney_point(-38.0, 14.0, 0.0),
        base_diameter_mm=27.0,
        lobulation=0.18,
        tissue="renal_tumor",
        core_tissue="renal_tumor_necrosis",
        core_level=0.4,
    ),
    window_center_hu=40.0,
    window_width_hu=400.0,
    patient_sex="M",
    patient_birth_date="19560412",
    default_seed=1101,
    # Renal cryoablation is done prone, through the back: the planning CT is prone too.
    revision=1,
    patient_position="HFP",
)

LIVER = CtCaseSpec(
    name="liver",
    title="Liver tumor between the right hepatic vein and the diaphragm",
    organ="liver",
    description=(
        "Portal-venous phase CT of the upper abdomen with a 3 cm hypodense tumor in the "
        "posterosuperior right liver (segment 7/8) abutting the right hepatic vein and just "
        "below the diaphragmatic dome."
    ),
    approach="right intercostal, lateral to posterolateral, angled cranially below the lung base",
    host_label="liver",
    body_part="ABDOMEN",
    study_description="CT UPPER ABDOMEN PORTAL VENOUS (SYNTHETIC)",
    series_description="Liver 1.5 mm portal venous",
    matrix=448,
    pixel_mm=0.8,
    slice_mm=1.5,
    z_first_mm=52.0,
    slices=104,
    center_y_mm=10.0,
    tumor=CompactTumor(
        center_lps_mm=(-68.0, 35.0, 123.0),
        base_diameter_mm=29.0,
        lobulation=0.1,
        tissue="liver_tumor_rim",
        core_tissue="liver_tumor",
        core_level=0.8,
    ),
    window_center_hu=60.0,
    window_width_hu=360.0,
    patient_sex="F",
    patient_birth_date="19620907",
    default_seed=1202,
)

LUNG = CtCaseSpec(
    name="lung",
    title="Peripheral nodule in the right lower lobe between two ribs",
    organ="lung",
    description=(
        "Thin-section contrast-enhanced chest CT with an 17 mm solid, slightly lobulated "
        "nodule in the posterolateral right lower lobe, about 2 cm from the pleura, "
        "projecting between the 7th and 8th ribs."
    ),
    approach="posterolateral intercostal between the 7th and 8th ribs (patient prone or lateral)",
    host_label="lung",
    body_part="CHEST",
    study_description="CT CHEST WITH CONTRAST (SYNTHETIC)",
    series_description="Chest 1.0 mm lung",
    matrix=480,
    pixel_mm=0.7,
    slice_mm=1.0,
    z_first_mm=126.0,
    slices=112,
    center_y_mm=0.0,
    tumor=CompactTumor(
        center_lps_mm=(-92.4, 35.9, 180.3),
        base_diameter_mm=16.0,
        lobulation=0.15,
        tissue="lung_tumor",
        core_tissue="lung_tumor",
        core_level=0.0,
    ),
    window_center_hu=-600.0,
    window_width_hu=1500.0,
    patient_sex="M",
    patient_birth_date="19500126",
    default_seed=1303,
)

#: A point on the axis of the right portal vein branch of the torso model and its radius
#: there (see ``torso.paint_vessels``); the liver metastasis is placed against it.
_RIGHT_PORTAL_BRANCH_LPS_MM = (-70.0, 5.0, 105.0)
_RIGHT_PORTAL_BRANCH_RADIUS_MM = 4.5

LIVER_METASTASIS = CtCaseSpec(
    name="liver-metastasis",
    title="Large heterogeneous liver metastasis against a portal vein branch",
    organ="liver",
    description=(
        "Portal-venous phase CT of the upper abdomen with a 5-6 cm (about 80 mL) colorectal "
        "metastasis in the right liver lobe (segments 5/6): hypodense necrotic core, viable "
        "tumor with a peripheral ring of enhancement, clustered calcifications; its upper "
        "surface lies against the right portal vein branch."
    ),
    approach="right intercostal or subcostal, lateral, two or more probes",
    host_label="liver",
    body_part="ABDOMEN",
    study_description="CT UPPER ABDOMEN PORTAL VENOUS (SYNTHETIC)",
    series_description="Liver 1.5 mm portal venous",
    matrix=384,
    pixel_mm=0.86,
    slice_mm=1.5,
    z_first_mm=20.0,
    slices=70,
    center_y_mm=10.0,
    tumor=LiverMetastasis(
        center_lps_mm=(-74.0, 16.0, 72.0),
        vessel_axis_lps_mm=_RIGHT_PORTAL_BRANCH_LPS_MM,
        vessel_radius_mm=_RIGHT_PORTAL_BRANCH_RADIUS_MM,
    ),
    window_center_hu=60.0,
    window_width_hu=360.0,
    patient_sex="M",
    patient_birth_date="19581103",
    default_seed=1404,
    revision=1,
)

KIDNEY_CYSTIC = CtCaseSpec(
    name="kidney-cystic",
    title="Cystic-solid exophytic right renal mass",
    organ="kidney",
    description=(
        "Contrast-enhanced abdominal CT (nephrographic phase) of a 4 cm cystic right renal "
        "mass (Bosniak IV): fluid content, thin enhancing wall and an enhancing mural nodule "
        "on its renal side; about half of the mass bulges laterally out of the interpolar "
        "kidney into the perirenal fat, the ascending colon lies in front of it."
    ),
    approach="posterolateral flank, below the 12th rib (patient prone or lateral decubitus)",
    host_label="kidney",
    body_part="ABDOMEN",
    study_description="CT ABDOMEN WITH CONTRAST (SYNTHETIC)",
    series_description="Abdomen 1.25 mm nephrographic",
    matrix=384,
    pixel_mm=0.86,
    slice_mm=1.25,
    z_first_mm=-80.0,
    slices=84,
    center_y_mm=10.0,
    tumor=CysticRenalMass(
        center_lps_mm=_right_kidney_point(-15.0, -2.0, -27.0),
        kidney_center_lps_mm=tuple(float(v) for v in kidney_frame(-1.0)[0]),
    ),
    window_center_hu=40.0,
    window_width_hu=400.0,
    patient_sex="F",
    patient_birth_date="19610219",
    default_seed=1505,
    revision=1,
)

LUNG_PART_SOLID = CtCaseSpec(
    name="lung-part-solid",
    title="Part-solid nodule in the right lung",
    organ="lung",
    description=(
        "Thin-section chest CT with a 2.5 cm part-solid nodule in the right lung: ground "
        "glass (about -600 HU) with small vessels crossing it, around a spiculated 1 cm "
        "solid component."
    ),
    approach="lateral intercostal (patient supine or lateral)",
    host_label="lung",
    body_part="CHEST",
    study_description="CT CHEST WITH CONTRAST (SYNTHETIC)",
    series_description="Chest 1.25 mm lung",
    matrix=416,
    pixel_mm=0.8,
    slice_mm=1.25,
    z_first_mm=150.0,
    slices=81,
    center_y_mm=0.0,
    # Among small peripheral vessels that cross the ground glass, as they do in patients.
    tumor=PartSolidNodule(center_lps_mm=(-91.0, -42.0, 204.0)),
    window_center_hu=-600.0,
    window_width_hu=1500.0,
    patient_sex="F",
    patient_birth_date="19540730",
    default_seed=1606,
    revision=2,
)

CT_CASES: dict[str, CtCaseSpec] = {
    spec.name: spec
    for spec in (KIDNEY, LIVER, LUNG, LIVER_METASTASIS, KIDNEY_CYSTIC, LUNG_PART_SOLID)
}


def generate_ct_case(
    spec: CtCaseSpec,
    directory: Path,
    *,
    seed: int,
    uid_seed: str,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[Path, LabelMap]:
    """Paint, render and write one CT case into ``directory``.

    Returns the DICOM folder and the ground-truth label map (already written to
    ``directory / "labels.nii.gz"``).
    """
    geometry = spec.geometry()
    canvas = Canvas(geometry, patient_position=spec.patient_position)
    paint_torso(canvas, progress=sub_progress(progress, 0.0, 0.35), cancel=cancel)
    spec.tumor.paint(canvas, np.random.default_rng([seed, 1]))
    if cancel is not None:
        cancel.raise_if_cancelled()
    if progress is not None:
        progress(0.4, "Rendering CT")
    hu = render_ct(
        canvas.tissue,
        geometry,
        CT_TISSUES,
        np.random.default_rng([seed, 2]),
        table_side_y=canvas.table_side_y,
    )
    if cancel is not None:
        cancel.raise_if_cancelled()
    if progress is not None:
        progress(0.6, "Writing DICOM series")
    dicom_dir = directory / "dicom"
    write_ct_series(
        Volume(hu, geometry, "CT"),
        dicom_dir,
        identity=spec.identity(seed),
        series_description=spec.series_description,
        uid_seed=uid_seed,
        window_center_hu=spec.window_center_hu,
        window_width_hu=spec.window_width_hu,
        body_part_examined=spec.body_part,
        patient_position=spec.patient_position,
    )
    if progress is not None:
        progress(0.8, "Writing label map")
    labels = CT_TISSUES.label_map(canvas.tissue, geometry)
    write_label_map(labels, directory / "labels.nii.gz")
    return dicom_dir, labels
