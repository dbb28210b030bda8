"""File ▸ Export DICOM / de-identified DICOM / de-identified report from the window."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from cryoplan_app.model.case import CaseSource, load_case
from cryoplan_app.qt.report_action import export_dicom
from qt_helpers import dispose_window

from planning_core.errors import ReportError
from planning_core.imaging.dicom_write import DicomIdentity, write_ct_series
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import write_label_map, write_volume

IDENTITY = DicomIdentity(
    patient_name="DOE^JANE",
    patient_id="MRN-123456",
    patient_birth_date="19600203",
    patient_sex="F",
    study_description="CT",
    study_date="20140817",
    study_time="101500",
    accession_number="ACC987654",
    referring_physician_name="WHO^DOCTOR",
    institution_name="General Hospital",
)


@pytest.fixture(scope="module")
def small_case(tmp_path_factory):
    """A 12 x 40 x 40 CT at 2 mm (DICOM series and MetaImage) with a 6 mm tumor at the origin."""
    root = tmp_path_factory.mktemp("small-case")
    geometry = Geometry((12, 40, 40), (2.0, 2.0, 2.0), (-40.0, -40.0, -12.0))
    k, j, i = np.meshgrid(*(np.arange(n) for n in geometry.shape), indexing="ij")
    lps = geometry.index_to_lps(np.stack([i, j, k], axis=-1).astype(np.float64))
    body = np.hypot(lps[..., 0], lps[..., 1]) <= 36.0
    tumor = np.linalg.norm(lps, axis=-1) <= 6.0
    hu = np.where(body, 40.0, -1000.0)
    hu[tumor] = 60.0
    volume = Volume(hu, geometry, "CT")
    write_ct_series(
        volume, root / "ct", identity=IDENTITY, series_description="small", uid_seed="small"
    )
    write_volume(volume, root / "image.mha")
    labels = (
        LabelMap.empty(geometry)
        .with_mask("muscle", body, role="anatomy")
        .with_mask("tumor", tumor, role="target")
    )
    write_label_map(labels, root / "labels.nii.gz")
    return root


def _window(qapp, case, tmp_path):
    from cryoplan_app.qt.main_window import MainWindow

    window = MainWindow(headless=True, autosave_dir=tmp_path / "autosave", simulate=False)
    window.show()
    window.session.open_case(case)
    qapp.processEvents()
    return window


@pytest.mark.gui
def test_a_case_from_a_volume_file_is_refused_with_the_reason(qapp, small_case, tmp_path):
    case = load_case(
        CaseSource(
            "volume", str(small_case / "image.mha"), labels_path=str(small_case / "labels.nii.gz")
        )
    )
    window = _window(qapp, case, tmp_path)
    try:
        assert all(action.isEnabled() for action in window.export_actions)
        window.session.document.add_probe("argon-2.4", (0.0, -15.0, 0.0), (0.0, 60.0, 0.0))
        with pytest.raises(ReportError, match="loaded from a DICOM series"):
            export_dicom(window.context, tmp_path / "out", deidentify=True)
    finally:
        dispose_window(window)


@pytest.mark.gui
@pytest.mark.slow
def test_the_window_exports_deidentified_dicom(qapp, qtbot, small_case, tmp_path):
    case = load_case(
        CaseSource("dicom", str(small_case / "ct"), labels_path=str(small_case / "labels.nii.gz"))
    )
    window = _window(qapp, case, tmp_path)
    try:
        window.session.document.add_probe("argon-2.4", (0.0, -15.0, 0.0), (0.0, 60.0, 0.0))
        out = tmp_path / "out"
        export_dicom(window.context, out, deidentify=True)
        qtbot.waitUntil(lambda: not window.runner.busy, timeout=120_000)
        assert "de-identified DICOM objects" in window.statusBar().currentMessage()
        files = sorted(out.rglob("*.dcm"))
        assert len(list((out / "CT").iterdir())) == 12 and len(files) > 12
        for path in files:
            dataset = pydicom.dcmread(path)
            assert dataset.PatientIdentityRemoved == "YES"
            raw = path.read_bytes()
            for value in (b"DOE^JANE", b"MRN-123456", b"19600203", b"20140817", b"ACC987654"):
                assert value not in raw, (path.name, value)
        with pytest.raises(ReportError, match="already holds files"):
            export_dicom(window.context, out, deidentify=True)
    finally:
        dispose_window(window)
