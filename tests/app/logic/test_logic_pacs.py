"""PacsLogic against a real Orthanc: search, retrieve (cancel, resume), open, send.

The work runs on the queued runner (the window's runner runs the same work in
a worker thread); Orthanc is the session's (``tests/app/pacs_fixtures.py``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from cryoplan_app.logic import Logic
from cryoplan_app.logic.pacs import PacsLogic
from cryoplan_app.logic.pacs_node_form import NodeForm, form_of
from fake_servers import refusing_port
from pacs_fixtures import APP_PATIENT_ID, DICOMWEB_NODE, DIMSE_NODE

from planning_core.errors import InvalidParameterError
from planning_core.imaging.pacs import BasicAuth, StudyCache, load_nodes, save_nodes

#: A coarse grid for the report behind the export: the test checks where it goes.
REPORT_SPACING_MM = 4.0


@pytest.fixture
def pacs(logic: Logic, pacs_user_config: Path, tmp_path: Path):
    """The logic's PACS part on this test's nodes file and its own study cache."""
    logic.pacs.nodes_path = pacs_user_config
    logic.pacs.cache = StudyCache(tmp_path / "cache")
    logic.pacs.reload_nodes()
    return logic.pacs


def test_nodes_come_from_the_user_nodes_file(logic: Logic, pacs_user_config: Path) -> None:
    seen = []
    logic.pacs.nodes_changed.connect(seen.append)
    nodes = logic.pacs.reload_nodes()  # nodes_path None: $CRYOPLAN_PACS_NODES
    assert [n.name for n in nodes] == [DIMSE_NODE, DICOMWEB_NODE]
    assert seen == [nodes]
    with pytest.raises(InvalidParameterError, match=r"'elsewhere' is not configured.*orthanc"):
        logic.pacs.node("elsewhere")


def test_query_form_errors_name_the_field() -> None:
    with pytest.raises(InvalidParameterError, match="PACS Study date") as caught:
        PacsLogic.make_query(study_date="yesterday")
    assert "--" not in str(caught.value)
    assert PacsLogic.make_query(patient_id=f" {APP_PATIENT_ID} ").patient_id == APP_PATIENT_ID


@pytest.mark.parametrize("node_name", [DIMSE_NODE, DICOMWEB_NODE])
def test_search_then_retrieve_opens_the_study(
    pacs, logic: Logic, runner, app_pacs_study, node_name: str
) -> None:
    found = []
    pacs.studies_found.connect(found.append)
    pacs.search(node_name, pacs.make_query(patient_id=APP_PATIENT_ID))
    assert found == []  # nothing happens until the runner runs the work
    runner.run_pending()
    assert [m.study_uid for m in found[0]] == [app_pacs_study.study_uid]
    assert "CT" in found[0][0].modalities

    retrieved, ended = [], []
    pacs.study_retrieved.connect(retrieved.append)
    pacs.retrieval_ended.connect(lambda: ended.append(True))
    task = pacs.retrieve_study(node_name, app_pacs_study.study_uid)
    assert pacs.retrieval is task
    runner.run_pending()
    assert runner.errors == []
    assert retrieved[0].instance_count == app_pacs_study.slices
    assert ended == [True] and pacs.retrieval is None
    case = logic.session.case
    assert case is not None
    assert Path(case.source.location) == retrieved[0].folder
    assert case.volume.geometry.size_ijk[2] == app_pacs_study.slices


def test_cancelled_retrieval_leaves_the_cache_empty_and_is_resumed(
    pacs, logic: Logic, runner, app_pacs_study
) -> None:
    before = logic.session.case
    ended = []
    pacs.retrieval_ended.connect(lambda: ended.append(True))
    pacs.retrieve_study(DIMSE_NODE, app_pacs_study.study_uid)
    pacs.cancel_retrieval()
    runner.run_pending()
    assert ended == [True]
    assert runner.errors == []  # a cancellation is no error
    assert pacs.cache.study(app_pacs_study.study_uid) is None
    assert logic.session.case is before
    pacs.retrieve_study(DIMSE_NODE, app_pacs_study.study_uid)
    runner.run_pending()
    assert runner.errors == []
    assert pacs.cache.study(app_pacs_study.study_uid) is not None
    assert logic.session.case is not before


def test_unreachable_node_fails_with_a_clear_message(
    pacs, logic: Logic, runner, app_orthanc, tmp_path: Path
) -> None:
    with refusing_port() as port:  # nothing listens there: the connection is refused
        dead = replace(app_orthanc.dimse_node(), port=port, timeout_s=2.0)
        save_nodes([dead], pacs.nodes_path)
        pacs.reload_nodes()
        pacs.search(DIMSE_NODE, pacs.make_query())
        runner.run_pending()
    (error,) = runner.errors
    assert str(DIMSE_NODE) in str(error)
    assert "Traceback" not in str(error)


def test_send_files_stores_them_in_the_node(pacs, runner, app_orthanc, app_pacs_study) -> None:
    reports = []
    pacs.sent.connect(reports.append)
    files = sorted(app_pacs_study.dicom_dir.iterdir())[:2]
    pacs.send_files(DICOMWEB_NODE, files)
    runner.run_pending()
    assert runner.errors == []
    assert reports[0].sent == 2 and reports[0].ok


def test_a_plan_on_a_retrieved_study_is_exported_and_sent_back_into_it(
    pacs, logic: Logic, runner, app_orthanc, app_pacs_study, tmp_path: Path
) -> None:
    pacs.retrieve_study(DIMSE_NODE, app_pacs_study.study_uid)
    runner.run_pending()
    logic.cases.open_label_map(app_pacs_study.labels_path)
    runner.run_pending()
    logic.session.document.add_probe_at(np.asarray(app_pacs_study.tumor_center_lps_mm))
    logic.report.spacing_mm = REPORT_SPACING_MM
    reports, done = [], []
    pacs.sent.connect(reports.append)
    pacs.send_plan(DIMSE_NODE, folder=tmp_path / "export", on_done=done.append)
    runner.run_pending()
    assert runner.errors == []
    written = sorted(p for p in (tmp_path / "export").rglob("*.dcm"))
    assert reports == done and reports[0].ok and reports[0].sent == len(written) > 0
    # Orthanc's REST API (not the code under test) places each object in the source study.
    for path in written:
        (found,) = app_orthanc.lookup(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        study = app_orthanc.rest(f"/instances/{found['ID']}/study")
        assert study["MainDicomTags"]["StudyInstanceUID"] == app_pacs_study.study_uid


def test_nodes_are_added_edited_and_removed_keeping_secrets_out_of_messages(
    logic: Logic, tmp_path: Path
) -> None:
    pacs = logic.pacs  # no server needed: only the nodes file is written
    pacs.nodes_path = tmp_path / "nodes.json"
    pacs.save_node(NodeForm(name=DIMSE_NODE, host="127.0.0.1", port="4242", called_aet="PACS"))
    web = NodeForm(
        kind="dicomweb", name="web", url="https://pacs.example.org/dw", auth="basic",
        username="alice", secret="s3cret-pw",
    )  # fmt: skip
    pacs.save_node(web)
    assert [n.name for n in pacs.nodes][-1] == "web"
    assert "s3cret-pw" not in repr(pacs.node("web")) + pacs.node("web").label
    # Editing shows no secret; left empty, the stored password stays.
    shown = form_of(pacs.node("web"))
    assert shown.secret == "" and shown.username == "alice"
    pacs.save_node(replace(shown, name="web2"), replacing="web")
    kept = pacs.node("web2")
    assert isinstance(kept.auth, BasicAuth) and kept.auth.password == "s3cret-pw"
    assert [n.name for n in load_nodes(pacs.nodes_file)][-1] == "web2"
    with pytest.raises(InvalidParameterError, match="another node has this name"):
        pacs.save_node(replace(shown, name=DIMSE_NODE, secret="x"))
    with pytest.raises(InvalidParameterError, match="PACS node Port 'abc'") as caught:
        pacs.save_node(NodeForm(name="bad", host="h", port="abc", called_aet="PACS"))
    with pytest.raises(InvalidParameterError, match="needs a password"):
        pacs.save_node(replace(web, name="web3", secret=""))
    with pytest.raises(InvalidParameterError, match="DICOMweb URL") as caught:
        pacs.save_node(replace(web, name="web3", url="ftp://host/dw"))
    assert "s3cret-pw" not in str(caught.value)
    pacs.remove_node("web2")
    assert "web2" not in [n.name for n in load_nodes(pacs.nodes_file)]
    # A node that only moves keeps its retrieval by C-MOVE and our listener's port.
    mover = NodeForm(name="mover", host="127.0.0.1", port="104", called_aet="PACS",
                     retrieve_method="move", storage_port="11200")  # fmt: skip
    pacs.save_node(mover)
    assert (pacs.node("mover").retrieve_method, pacs.node("mover").storage_port) == ("move", 11200)
    assert form_of(pacs.node("mover")) == mover


def test_echo_reports_how_the_node_answered(pacs, runner, app_orthanc) -> None:
    answers = []
    pacs.echoed.connect(answers.append)
    for node_name in (DIMSE_NODE, DICOMWEB_NODE):
        pacs.echo_node(node_name)
        runner.run_pending()
    assert runner.errors == []
    assert [a.protocol for a in answers] == ["DIMSE C-ECHO", "DICOMweb QIDO-RS"]
