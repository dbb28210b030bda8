"""The study browser's PACS tab in the real window, against the session's Orthanc.

Search the node, see the study, retrieve it (in a worker, with progress, the
window answering meanwhile) and see it open; a wrong search field is reported
with its label.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from cryoplan_app.qt.report_action import send_plan_to_pacs
from pacs_fixtures import APP_PATIENT_ID, DICOMWEB_NODE, DIMSE_NODE
from panel_helpers import wait_idle

pytestmark = pytest.mark.gui

SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
SECONDARY_CAPTURE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"

#: A coarse grid for the report behind the export: the test checks where it goes.
REPORT_SPACING_MM = 4.0


@pytest.fixture
def pacs_tab(main_window, pacs_user_config: Path, qtbot):
    """The PACS tab, shown (which reads this test's nodes file)."""
    main_window.browser.show_pacs()
    tab = main_window.browser.pacs_tab
    assert tab is not None
    tab.reload_nodes()  # the module's window may have read the nodes of an earlier test
    return tab


def test_pacs_tab_lists_the_user_nodes(pacs_tab) -> None:
    names = [pacs_tab.node_combo.itemText(i) for i in range(pacs_tab.node_combo.count())]
    assert names == [DIMSE_NODE, DICOMWEB_NODE]
    assert pacs_tab.search_button.isEnabled()
    assert not pacs_tab.cancel_button.isEnabled()


def test_nodes_are_added_and_edited_in_the_node_editor(main_window, pacs_tab, qtbot) -> None:
    reported = []
    main_window.errors.reported.connect(reported.append)
    dialog = pacs_tab.edit_node(None)
    dialog.kind.setCurrentIndex(1)  # DICOMweb
    assert not dialog.edits["host"].isVisible() and dialog.edits["url"].isVisible()
    dialog.auth.setCurrentIndex(2)  # bearer token
    for key, text in (("name", "web-token"), ("url", "https://pacs.example.org/dw"),
                      ("secret", "tok-s3cret")):  # fmt: skip
        dialog.edits[key].setText(text)
    dialog.save()
    assert not dialog.isVisible() and reported == []
    assert pacs_tab.node_combo.currentText() == "web-token"
    # Editing shows the token masked as unchanged, never its text.
    editor = pacs_tab.edit_node("web-token")
    assert editor.edits["secret"].text() == ""
    assert editor.edits["secret"].placeholderText() == "(unchanged)"
    editor.kind.setCurrentIndex(0)  # DIMSE, with a port that is no number
    assert not editor.edits["storage_port"].isVisible()
    editor.retrieve_method.setCurrentIndex(1)  # C-MOVE needs our listener's port
    assert editor.edits["storage_port"].isVisible()
    for key, text in (("host", "127.0.0.1"), ("port", "eleven"), ("called_aet", "PACS")):
        editor.edits[key].setText(text)
    editor.save()
    assert editor.isVisible() and len(reported) == 1 and "PACS node Port" in reported[0]
    editor.reject()
    pacs_tab.remove_node()
    names = [pacs_tab.node_combo.itemText(i) for i in range(pacs_tab.node_combo.count())]
    assert names == [DIMSE_NODE, DICOMWEB_NODE]


def test_sending_a_plan_on_a_non_dicom_image_is_refused_clearly(
    main_window, pacs_tab, kidney_case, tmp_path: Path
) -> None:
    reported = []
    main_window.errors.reported.connect(reported.append)
    volume = replace(kidney_case.volume, metadata={})  # as read from a volume file
    main_window.session.open_case(replace(kidney_case, volume=volume))
    main_window.session.document.add_probe_at(np.asarray(volume.geometry.center_lps()))
    pacs_tab.send_plan(str(tmp_path / "export"))
    assert len(reported) == 1 and "DICOM export needs" in reported[0]
    assert not (tmp_path / "export").exists()
    main_window.session.open_case(kidney_case)


def test_search_retrieve_open_and_send_back_keep_the_window_responsive(
    main_window, pacs_tab, app_orthanc, app_pacs_study, qtbot
) -> None:
    window, browser = main_window, main_window.browser
    pacs_tab.node_combo.setCurrentText(DIMSE_NODE)
    pacs_tab.fields["patient_id"].setText(APP_PATIENT_ID)
    pacs_tab.search_button.click()
    qtbot.waitUntil(lambda: pacs_tab.results.rowCount() == 1, timeout=30_000)
    assert pacs_tab.selected_study_uid() == app_pacs_study.study_uid
    assert "CT" in pacs_tab.results.item(0, 3).text()
    wait_idle(qtbot, window)

    before = window.session.case
    values = []
    pacs_tab.progress.valueChanged.connect(values.append)
    pacs_tab.retrieve_button.click()
    # The click returned before the study arrived: the retrieval runs in a worker
    # (the event loop goes on meanwhile), cancellable.
    task = window.logic.pacs.retrieval
    assert task is not None and not task.done
    assert pacs_tab.cancel_button.isEnabled() and not pacs_tab.retrieve_button.isEnabled()
    qtbot.waitUntil(lambda: window.session.case is not before, timeout=60_000)
    wait_idle(qtbot, window)
    assert any(0 < v < 100 for v in values)  # per-instance progress was shown
    case = window.session.case
    assert case.volume.geometry.size_ijk[2] == app_pacs_study.slices
    assert browser.tabs.currentIndex() == 0  # the Folder tab lists the retrieved study
    assert browser.tree.topLevelItemCount() == 1
    assert not pacs_tab.cancel_button.isEnabled() and pacs_tab.retrieve_button.isEnabled()

    # Plan on the retrieved CT and send the plan's export back into its study.
    window.open_label_map(app_pacs_study.labels_path)
    wait_idle(qtbot, window)
    window.session.document.add_probe_at(np.asarray(app_pacs_study.tumor_center_lps_mm))
    window.logic.report.spacing_mm = REPORT_SPACING_MM
    # File > Send plan to PACS node, here over DICOMweb (STOW-RS), keeping no export folder.
    (study,) = app_orthanc.lookup(app_pacs_study.study_uid)

    def instances() -> set[str]:
        return {i["ID"] for i in app_orthanc.rest(f"/studies/{study['ID']}/instances")}

    before_send = instances()
    messages = []
    window.statusBar().messageChanged.connect(messages.append)
    send_plan_to_pacs(window.context, DICOMWEB_NODE)
    qtbot.waitUntil(lambda: pacs_tab.status.text().startswith("Sent"), timeout=120_000)
    # Orthanc's REST API (not the code under test) holds the objects in the CT's study.
    arrived = instances() - before_send
    classes = {app_orthanc.rest(f"/instances/{i}/tags?simplify")["SOPClassUID"] for i in arrived}
    assert {SEG_STORAGE, ENCAPSULATED_PDF_STORAGE, SECONDARY_CAPTURE_STORAGE} <= classes
    label = window.logic.pacs.node(DICOMWEB_NODE).label
    assert pacs_tab.status.text() == f"Sent {len(arrived)} object(s) to {label}."
    assert f"Sent {len(arrived)} DICOM objects to {label}" in messages


def test_a_malformed_search_field_is_reported_by_its_label(main_window, pacs_tab) -> None:
    reported = []
    main_window.errors.reported.connect(reported.append)
    pacs_tab.fields["study_date"].setText("last week")
    pacs_tab.search_button.click()
    pacs_tab.fields["study_date"].setText("")
    assert len(reported) == 1 and "PACS Study date" in reported[0]
