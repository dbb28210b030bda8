"""Opening cases, label maps and plans, saving, autosave and recovery without widgets."""

from __future__ import annotations

import numpy as np
import pytest
from cryoplan_app.logic import Logic
from cryoplan_app.model.autosave import Autosaver
from cryoplan_app.model.recent import RecentCases
from cryoplan_app.model.session import Session

from planning_core.errors import InvalidParameterError, PlanningError
from planning_core.imaging.case_sources import SAMPLE_CASE_KIND, named_cases
from planning_core.imaging.dicom_write import DicomIdentity, write_ct_series
from planning_core.imaging.volume_io import write_label_map

IDENTITY = DicomIdentity(
    patient_name="PHANTOM^CASE",
    patient_id="LOGIC-1",
    patient_birth_date="19700101",
    patient_sex="O",
    study_description="CT PHANTOM",
    study_date="20240115",
    study_time="101500",
    accession_number="ACC1",
    referring_physician_name="",
    institution_name="",
)


@pytest.fixture
def empty_logic(runner, probe_library, tmp_path):
    """Logic of a session with nothing open; recent cases and autosaves kept in ``tmp_path``."""
    session = Session(probe_library=probe_library)
    return Logic(
        session,
        runner,
        auto_evaluate=False,
        recent=RecentCases(tmp_path / "recent.json"),
        autosaver=Autosaver(tmp_path / "autosave"),
    )


def _opened(logic: Logic) -> list:
    opened: list = []
    logic.cases.case_opened.connect(opened.append)
    return opened


def test_a_volume_path_opens_with_its_thumbnail_and_is_recorded(empty_logic, runner, phantom_image):
    cases = empty_logic.cases
    opened, thumbnails = _opened(empty_logic), []
    cases.thumbnails_ready.connect(thumbnails.append)
    cases.open_path(phantom_image.image_path)
    runner.run_pending()
    (case,) = opened
    assert empty_logic.session.case is case and case.source.kind == "volume"
    assert case.volume.geometry.shape == phantom_image.volume.geometry.shape
    assert cases.catalog is None and list(thumbnails[0]) == [""]
    assert cases.recent.entries() == [case.source]


def test_a_missing_path_and_an_unknown_sample_name_the_menu(empty_logic, runner, tmp_path):
    missing = tmp_path / "no-such-scan"
    with pytest.raises(InvalidParameterError, match=rf"File > Open {missing}: no such file"):
        empty_logic.cases.open_path(missing)
    with pytest.raises(InvalidParameterError, match="File > Open sample case: no sample case"):
        empty_logic.cases.open_sample("no-such-sample")
    assert runner.submitted == []  # refused before any work started


def test_a_dicom_folder_is_scanned_then_its_largest_series_opens(
    empty_logic, runner, phantom_image, tmp_path
):
    folder = tmp_path / "dicom"
    write_ct_series(
        phantom_image.volume,
        folder,
        identity=IDENTITY,
        series_description="PHANTOM",
        uid_seed="logic-case-io",
    )
    cases, opened, catalogs, thumbnails = empty_logic.cases, _opened(empty_logic), [], []
    cases.catalog_scanned.connect(catalogs.append)
    cases.thumbnails_ready.connect(thumbnails.append)
    cases.open_path(folder)
    runner.run_pending()
    (catalog,) = catalogs
    (series,) = catalog.series
    (case,) = opened
    # The case, the recent list and the browser name the series that was opened.
    assert case.source.kind == "dicom" and case.source.series_key == series.key
    assert cases.catalog is catalog and list(thumbnails[0]) == [series.key]
    assert cases.recent.entries() == [case.source]
    assert cases.open_series(series.key) is not None


@pytest.mark.skipif(
    "kidney" not in named_cases(SAMPLE_CASE_KIND), reason="the sample generator is not installed"
)
def test_a_sample_case_opens_by_name_with_its_labels(empty_logic, runner):
    opened = _opened(empty_logic)
    empty_logic.cases.open_sample("kidney")
    runner.run_pending()
    (case,) = opened
    assert case.source.kind == SAMPLE_CASE_KIND and case.source.location == "kidney"
    assert case.labels is not None and "tumor" in case.labels.names


def test_a_label_map_needs_an_image_and_is_dropped_when_the_image_changed(
    empty_logic, runner, phantom_image, tmp_path
):
    cases = empty_logic.cases
    with pytest.raises(PlanningError, match="Open an image before its label map"):
        cases.open_label_map(tmp_path / "labels.nrrd")
    labels_path = tmp_path / "labels.nrrd"
    write_label_map(phantom_image.labels, labels_path)
    cases.show_case(phantom_image)
    cases.open_label_map(labels_path)
    runner.run_pending()
    labels = empty_logic.session.document.labels
    assert labels is not phantom_image.labels and labels.names == phantom_image.labels.names
    cases.open_label_map(labels_path)
    cases.open_path(phantom_image.image_path)  # another image opens before the labels arrive
    runner.run_pending()
    assert empty_logic.session.document.labels is not labels
    assert empty_logic.session.case is not phantom_image


def test_a_plan_saved_in_the_background_opens_again(logic, runner, tumor_lps, tmp_path):
    document, cases = logic.session.document, logic.cases
    document.add_probe_at(tumor_lps)
    saved, plans = [], []
    cases.plan_saved.connect(saved.append)
    cases.plan_opened.connect(plans.append)
    path = tmp_path / "plan.json"
    cases.save_plan(path, in_worker=True)
    assert document.history.dirty  # written by the worker, not yet
    runner.run_pending()
    assert saved == [path] and not document.history.dirty and document.path == path
    document.remove_probe(0)
    cases.open_plan(path)
    runner.run_pending()
    assert plans[0].path == path and len(document.plan.probes) == 1


def test_an_autosave_that_cannot_be_written_is_announced(logic, runner, tumor_lps, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the autosave folder should be")
    logic.recovery.autosaver = Autosaver(blocker)
    failures = []
    logic.recovery.autosave_failed.connect(failures.append)
    logic.session.document.add_probe_at(tumor_lps)
    logic.recovery.autosave_now(in_worker=True)
    runner.run_pending()
    (error,) = failures
    assert "could not be autosaved" in str(error) and "save the plan yourself" in str(error)


def test_a_plan_opened_in_an_empty_session_announces_its_image(
    logic, empty_logic, runner, tumor_lps, tmp_path
):
    logic.session.document.add_probe_at(tumor_lps)
    path = tmp_path / "plan.json"
    logic.cases.save_plan(path, in_worker=False)
    opened = _opened(empty_logic)
    empty_logic.cases.open_plan(path)
    runner.run_pending()
    # The study browser lists what case_opened announces: without it, it stayed empty.
    (case,) = opened
    assert case is empty_logic.session.case and empty_logic.cases.catalog is None


def test_an_autosaved_session_is_recovered_as_unsaved_changes(
    logic, runner, tumor_lps, tmp_path, probe_library
):
    logic.recovery.autosaver = Autosaver(tmp_path, pid=999_999_999)  # a process long gone
    logic.session.document.history.mark_saved()
    assert logic.recovery.autosave_now() is None  # nothing unsaved to write
    logic.session.document.add_probe_at(tumor_lps)
    assert logic.recovery.autosave_now() == tmp_path / "session-999999999"
    fresh = Logic(
        Session(probe_library=probe_library),
        runner,
        auto_evaluate=False,
        autosaver=Autosaver(tmp_path),
    )
    (record,) = fresh.recovery.recoverable()
    fresh.recovery.recover(record)
    runner.run_pending()
    document = fresh.session.document
    assert fresh.session.case is not None and fresh.session.case.source == record.source
    assert document.history.dirty and len(document.plan.probes) == 1
    np.testing.assert_allclose(document.plan.probes[0].tip_lps_mm, tumor_lps)
    assert fresh.recovery.recoverable() == []  # the record is gone once recovered
    task = logic.recovery.autosave_now(in_worker=True)
    assert task is not None and fresh.recovery.recoverable() == []  # not yet: a worker writes it
    runner.run_pending()
    declined = fresh.recovery.recoverable()
    fresh.recovery.decline(declined)
    assert len(declined) == 1 and fresh.recovery.recoverable() == []
