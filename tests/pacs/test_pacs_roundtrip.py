"""Against a real Orthanc: a study found over DIMSE and DICOMweb, retrieved, planned, sent back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import requests
from fake_servers import refusing_port
from orthanc_server import OrthancServer
from seed_case import PATIENT_ID, SeedCase
from small_plan import plan_on_folder

from planning_core.cli import main
from planning_core.errors import PacsConnectionError
from planning_core.imaging.case_sources import open_case, resolve_case
from planning_core.imaging.loader import load_image
from planning_core.imaging.pacs import (
    DimseNode,
    StudyCache,
    StudyQuery,
    find_series,
    find_studies,
    retrieve,
    save_nodes,
)


def _study_in_orthanc(orthanc: OrthancServer, study_uid: str) -> str:
    found = [hit["ID"] for hit in orthanc.lookup(study_uid) if hit["Type"] == "Study"]
    assert len(found) == 1, f"study {study_uid} not in Orthanc"
    return found[0]


def _sop_uids_in_study(orthanc: OrthancServer, study_id: str) -> set[str]:
    instances = orthanc.rest(f"/studies/{study_id}/instances")
    return {instance["MainDicomTags"]["SOPInstanceUID"] for instance in instances}


def test_a_study_is_found_retrieved_planned_and_its_results_sent_back_into_it(
    orthanc: OrthancServer,
    seeded: SeedCase,
    user_config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dimse, web = orthanc.dimse_node(), orthanc.dicomweb_node()
    save_nodes([dimse, web])
    original = load_image(seeded.dicom_dir)

    # Found over both protocols with every kind of matching key.
    query = StudyQuery(
        patient_id=PATIENT_ID,
        patient_name="PACS^*",
        birth_date="19600101",
        study_date="20240101-20241231",
        modality="CT",
        accession="PACS0001",
    )
    for node in (dimse, web):
        matches = find_studies(node, query)
        assert [m.study_uid for m in matches] == [seeded.study_uid], node.label
        assert matches[0].patient_id == PATIENT_ID
        series = find_series(node, seeded.study_uid)
        assert [(s.series_uid, s.modality, s.instance_count) for s in series] == [
            (seeded.series_uid, "CT", seeded.slices)
        ], node.label
        assert find_studies(node, StudyQuery(patient_id=PATIENT_ID, modality="MR")) == []
    address = f"127.0.0.1:{orthanc.dicom_port}:ORTHANC"
    assert main(["pacs", "find", "--node", address, "--patient-id", PATIENT_ID, "--json"]) == 0
    assert [s["study_uid"] for s in json.loads(capsys.readouterr().out)] == [seeded.study_uid]

    # Retrieved by C-GET, C-MOVE and WADO-RS: the same voxels as the seeded series.
    for node in (dimse, orthanc.dimse_node(retrieve_method="move"), web):
        cache = StudyCache(tmp_path / f"cache-{node.name}-{getattr(node, 'retrieve_method', '')}")
        study = retrieve(node, seeded.study_uid, cache=cache)
        assert (study.instance_count, study.fetched) == (seeded.slices, seeded.slices)
        np.testing.assert_array_equal(load_image(study.folder).voxels, original.voxels)

    # Opened as a case through the case sources (retrieved into the user's cache), planned.
    opened = open_case(resolve_case(f"pacs://orthanc/{seeded.study_uid}"), with_labels=False)
    np.testing.assert_array_equal(opened.volume.voxels, original.voxels)
    plan_path = plan_on_folder(
        opened.files.image_path, seeded.labels_path, seeded.tumor_center_lps_mm, tmp_path
    )

    # The results go back into the same study, over DIMSE.
    out = tmp_path / "export"
    argv = ["export", str(plan_path), "--dicom", str(out), "--pacs", address, "--json"]
    assert main([*argv, "--calling-aet", "CRYOPLAN", "--spacing-mm", "3"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["study_instance_uid"] == seeded.study_uid
    assert payload["sent"]["failures"] == []
    assert payload["sent"]["sent"] == len(payload["objects"])
    assert {"SEG", "PDF", "SC"} <= {o["kind"] for o in payload["objects"]}
    study_id = _study_in_orthanc(orthanc, seeded.study_uid)
    sent_uids = {o["sop_instance_uid"] for o in payload["objects"]}
    assert sent_uids <= _sop_uids_in_study(orthanc, study_id)
    modalities = {
        s["MainDicomTags"]["Modality"] for s in orthanc.rest(f"/studies/{study_id}/series")
    }
    assert {"CT", "SEG", "DOC"} <= modalities

    # ... and over DICOMweb (STOW-RS): removed from Orthanc, sent again, back in the study.
    for uid in sent_uids:
        (hit,) = [h for h in orthanc.lookup(uid) if h["Type"] == "Instance"]
        requests.delete(f"{orthanc.url}/instances/{hit['ID']}", timeout=10).raise_for_status()
    assert not sent_uids & _sop_uids_in_study(orthanc, study_id)
    assert main(["pacs", "send", str(out), "--dicomweb", orthanc.dicomweb_url]) == 0
    assert f"Sent {len(sent_uids)} objects" in capsys.readouterr().out
    assert sent_uids <= _sop_uids_in_study(orthanc, study_id)

    # The study now holds our series beside the CT; the CT series alone comes back by itself.
    for node in (dimse, web):
        series_cache = StudyCache(tmp_path / f"series-{node.name}")
        study = retrieve(node, seeded.study_uid, seeded.series_uid, cache=series_cache)
        assert list(study.series_folders) == [seeded.series_uid]
        assert study.instance_count == seeded.slices
        assert study.image_folder == study.series_folders[seeded.series_uid]


def test_a_retrieved_study_reopens_without_the_network(
    orthanc: OrthancServer, seeded: SeedCase, user_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    save_nodes([orthanc.dimse_node()])
    address = f"127.0.0.1:{orthanc.dicom_port}:ORTHANC"
    out = user_config / "out"
    argv = ["pacs", "get", "--node", address, "--study", seeded.study_uid, "--out", str(out)]
    assert main(argv) == 0
    assert "Wrote" in capsys.readouterr().out
    assert len(list((out / seeded.series_uid).iterdir())) == seeded.slices
    with refusing_port() as dead:
        # The node's address now leads nowhere: the case opens from the cache all the same.
        save_nodes([DimseNode("orthanc", "127.0.0.1", dead, "ORTHANC", timeout_s=2.0)])
        opened = open_case(
            resolve_case(f"pacs://orthanc/{seeded.study_uid}/{seeded.series_uid}"),
            with_labels=False,
        )
        assert opened.volume.shape[0] == seeded.slices
        # A second get fetches nothing: every instance is stored once, by SOP Instance UID.
        assert main(["pacs", "get", "--node", address, "--study", seeded.study_uid, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["fetched"] == 0
        # Deleted, the study is gone from the cache and needs the network again.
        assert main(["pacs", "cache", "--delete", seeded.study_uid]) == 0
        assert capsys.readouterr().out.startswith(f"Deleted study {seeded.study_uid}")
        assert main(["pacs", "cache", "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == []
        with pytest.raises(PacsConnectionError, match="connection refused"):
            open_case(resolve_case(f"pacs://orthanc/{seeded.study_uid}"), with_labels=False)
