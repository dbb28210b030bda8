"""The confirmation's DICOM SEGs and TID 1500 SR re-read with highdicom and pydicom."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest

from planning_core.confirm.margin import MarginOptions, analyze_margin
from planning_core.confirm.structured_report import write_confirmation_dicom
from planning_core.imaging.dicom_write import DicomIdentity, write_ct_series
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.loader import load_image
from planning_core.imaging.volume import Volume
from planning_core.planning.metrics import margin_zone_mask
from planning_core.segmentation.dicom_seg import read_dicom_seg

GEOMETRY = Geometry((20, 48, 48), (1.0, 1.0, 1.5), (-23.5, -23.5, -14.25))
IDENTITY = DicomIdentity(
    patient_name="TEST^MARGIN",
    patient_id="M-1",
    patient_birth_date="19500101",
    patient_sex="O",
    study_description="POST ABLATION CT",
    study_date="20260101",
    study_time="120000",
    accession_number="A-1",
    referring_physician_name="",
    institution_name="",
    study_id="S-1",
)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("post-dicom")
    k, j, i = np.meshgrid(*(np.arange(n) for n in GEOMETRY.shape), indexing="ij")
    lps = GEOMETRY.index_to_lps(np.stack([i, j, k], axis=-1).astype(np.float64))
    radius = np.linalg.norm(lps, axis=-1)
    tumor = radius <= 6.0
    zone = np.linalg.norm(lps - (2.0, 0.0, 0.0), axis=-1) <= 10.0
    write_ct_series(
        Volume(np.where(zone, 40.0, 150.0), GEOMETRY, "CT"),
        folder / "ct",
        identity=IDENTITY,
        series_description="PLANNING CT",
        uid_seed="post-dicom-test",
    )
    volume = load_image(folder / "ct")
    analysis = analyze_margin(tumor, zone, volume.geometry, options=MarginOptions(shell_mm=5.0))
    shell = margin_zone_mask(tumor, volume.geometry, 5.0) & ~tumor
    objects = write_confirmation_dicom(volume, tumor, zone, shell, analysis, folder / "out")
    return volume, zone, analysis, {o.kind + o.path.name: o for o in objects}


def test_sr_names_the_measurements_for_highdicom(written):
    _, _, analysis, objects = written
    sr = hd.sr.srread(objects["SRSR_margin.dcm"].path)
    groups = sr.content.get_volumetric_roi_measurement_groups()
    found = {
        (str(g.finding_type.meaning), str(m.name.meaning)): (m.value, m.unit.value)
        for g in groups
        for m in g.get_measurements()
    }
    margin, unit = found[("Tumor", "Minimal ablative margin")]
    assert unit == "mm" and margin == pytest.approx(analysis.minimal_margin_mm, abs=0.01)
    assert 1.0 < margin < 5.0  # zone radius 10, offset 2, tumor radius 6
    coverage, unit = found[("Ablation margin shell", "Margin shell coverage")]
    assert unit == "%" and coverage == pytest.approx(analysis.shell_coverage_percent, abs=0.01)
    volume_cm3, unit = found[("Ablation zone", "Volume")]
    assert unit == "cm3" and volume_cm3 == pytest.approx(4 / 3 * np.pi, rel=0.05)
    assert found[("Tumor", "Volume")][0] == pytest.approx(analysis.tumor_volume_ml, abs=1e-3)


def test_sr_reads_with_pydicom_and_references_the_segs(written):
    _, _, _, objects = written
    dataset = pydicom.dcmread(objects["SRSR_margin.dcm"].path)
    assert dataset.SOPClassUID == pydicom.uid.Comprehensive3DSRStorage
    assert dataset.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    names = set()

    def walk(items):
        for item in items:
            if "ConceptNameCodeSequence" in item:
                names.add(item.ConceptNameCodeSequence[0].CodeMeaning)
            walk(item.get("ContentSequence", []))

    walk(dataset.ContentSequence)
    assert {"Minimal ablative margin", "Margin shell coverage", "Volume"} <= names
    evidence = {
        ref.ReferencedSOPInstanceUID
        for study in dataset.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
        for ref in series.ReferencedSOPSequence
    }
    segs = {o.sop_instance_uid for o in objects.values() if o.kind == "SEG"}
    assert segs <= evidence


def test_zone_seg_reads_back_on_the_planning_ct(written):
    volume, zone, _, objects = written
    imported = read_dicom_seg(objects["SEGSEG_ablation_zone.dcm"].path, volume)
    assert np.array_equal(imported.label_map.mask("ablation_zone"), zone)
    margin = read_dicom_seg(objects["SEGSEG_margin.dcm"].path, volume).label_map
    assert {"tumor", "margin_shell"} <= set(margin.names)
