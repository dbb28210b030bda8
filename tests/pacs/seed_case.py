"""A small planning CT for the PACS tests: the liver sample case cropped around its tumor.

The liver sample's CT is cropped to a box around the tumor and thinned in-plane,
so that it travels in a fraction of a second, and written as a DICOM series
with the project's CT writer; the label map is cropped the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cryoplan_samples import ensure_sample_case

from planning_core.imaging.dicom_write import DicomIdentity, write_ct_series
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.loader import load_image
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import write_label_map

#: Patient ID of the seeded study (found by the tests' queries).
PATIENT_ID = "CRYOPLAN-PACS-TEST"


@dataclass(frozen=True)
class SeedCase:
    """The written case: its DICOM folder, label map, tumor centre and UIDs."""

    dicom_dir: Path
    labels_path: Path
    tumor_center_lps_mm: tuple[float, float, float]
    study_uid: str
    series_uid: str
    slices: int


def _crop(voxels: np.ndarray, lo: np.ndarray, hi: np.ndarray, stride: int) -> np.ndarray:
    return np.ascontiguousarray(
        voxels[lo[2] : hi[2], lo[1] : hi[1] : stride, lo[0] : hi[0] : stride]
    )


def write_seed_case(
    folder: Path,
    *,
    half_size_mm: float = 40.0,
    stride: int = 2,
    uid_seed: str = "pacs-test",
    patient_id: str = PATIENT_ID,
) -> SeedCase:
    """Write the cropped liver case into ``folder`` (``dicom/`` and ``labels.nii.gz``).

    Another ``uid_seed`` and ``patient_id`` make another patient's study, which
    searches for the first patient do not find.
    """
    case = ensure_sample_case("liver")
    volume = load_image(case.image_path)
    labels = case.load_labels(volume.geometry)
    centre = np.asarray(case.manifest["tumor"]["center_lps_mm"], dtype=float)
    geometry = volume.geometry
    centre_ijk = np.asarray(geometry.lps_to_nearest_index(centre), dtype=int)
    half = np.ceil(half_size_mm / geometry.spacing_mm).astype(int)
    lo = np.maximum(centre_ijk - half, 0)
    hi = np.minimum(centre_ijk + half + 1, np.asarray(geometry.shape[::-1]))
    spacing = geometry.spacing_mm * np.array([stride, stride, 1.0])
    cropped = Geometry(
        shape=tuple(
            int(n) for n in (hi - lo + np.array([stride - 1, stride - 1, 0])) // [stride, stride, 1]
        )[::-1],
        spacing_mm=spacing,
        origin_lps_mm=geometry.index_to_lps(lo.astype(float)),
        direction=geometry.direction,
    )
    ct = Volume(_crop(np.asarray(volume.voxels), lo, hi, stride), cropped, "CT")
    label_map = LabelMap(_crop(np.asarray(labels.voxels), lo, hi, stride), cropped, labels.table)
    identity = DicomIdentity(
        patient_name="PACS^TEST",
        patient_id=patient_id,
        patient_birth_date="19600101",
        patient_sex="F",
        study_description="CT LIVER (PACS TEST)",
        study_date="20240301",
        study_time="101500",
        accession_number="PACS0001",
        referring_physician_name="",
        institution_name="cryoplan tests",
    )
    written = write_ct_series(
        ct, folder / "dicom", identity=identity, series_description="Liver crop",
        uid_seed=uid_seed,
    )  # fmt: skip
    labels_path = folder / "labels.nii.gz"
    write_label_map(label_map, labels_path)
    reread = load_image(folder / "dicom")
    return SeedCase(
        dicom_dir=folder / "dicom",
        labels_path=labels_path,
        tumor_center_lps_mm=tuple(float(v) for v in centre),
        study_uid=str(reread.metadata["study_instance_uid"]),
        series_uid=str(reread.metadata["series_instance_uid"]),
        slices=len(written),
    )
