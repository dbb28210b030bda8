"""Faults: refused, wrong AE title, silence, a server stopping mid-transfer, malformed answers.

Orthanc plays the server that stops (over DIMSE); a small fake DICOMweb server
(``fake_servers.wado_server``) stops, goes silent or sends garbage mid-retrieval.

Each is one clear line from the command line (never a traceback) and a
:class:`PacsError` subclass from the API.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from fake_servers import (
    dimse_find_server,
    http_server,
    refusing_port,
    silent_port,
    wado_server,
)
from orthanc_server import OrthancServer, start_orthanc
from pydicom.dataset import Dataset
from seed_case import SeedCase

from planning_core.cli import main
from planning_core.errors import OperationCancelledError, PacsTransferInterruptedError
from planning_core.imaging.loader import load_image
from planning_core.imaging.pacs import DicomWebNode, StudyCache, retrieve
from planning_core.imaging.pacs.cache import PARTIAL_SUFFIX
from planning_core.progress import CancelToken


def _fails_with(capsys: pytest.CaptureFixture[str], argv: list[str], *phrases: str) -> str:
    """Run ``cryoplan ARGV``; it must exit 2 with one error line (after any progress lines)
    holding every phrase."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith(f"cryoplan {argv[0]}: error:")]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]), err
    assert "Traceback" not in err
    for phrase in phrases:
        assert phrase in errors[0], errors[0]
    return errors[0]


def test_refused_connections_and_wrong_ae_titles_are_named(
    orthanc: OrthancServer, capsys: pytest.CaptureFixture[str], user_config: Path
) -> None:
    with refusing_port() as dead:
        _fails_with(capsys, ["pacs", "echo", "--node", f"127.0.0.1:{dead}:ORTHANC"], "refused")
        _fails_with(
            capsys, ["pacs", "echo", "--dicomweb", f"http://127.0.0.1:{dead}/dicom-web"], "connect"
        )
    _fails_with(
        capsys,
        ["pacs", "find", "--node", f"127.0.0.1:{orthanc.dicom_port}:NOT-ORTHANC"],
        "rejected the association",
        "called AE title",
        "--node",
    )
    _fails_with(capsys, ["pacs", "echo", "--node", "127.0.0.1:x:ORTHANC"], "HOST:PORT:AET")
    # The node answers, our AE title aside: the normal echo works.
    assert main(["pacs", "echo", "--node", f"127.0.0.1:{orthanc.dicom_port}:ORTHANC"]) == 0
    assert "answered" in capsys.readouterr().out


def test_silent_nodes_time_out_with_the_timeout_named(
    capsys: pytest.CaptureFixture[str], user_config: Path
) -> None:
    with silent_port() as port:
        _fails_with(
            capsys,
            ["pacs", "echo", "--node", f"127.0.0.1:{port}:PACS", "--timeout-s", "0.5"],
            "no answer",
            "0.5 s",
        )
        _fails_with(
            capsys,
            ["pacs", "find", "--dicomweb", f"http://127.0.0.1:{port}/dw", "--timeout-s", "0.5"],
            "no answer",
            "0.5 s",
        )


@pytest.mark.filterwarnings("error")  # pydicom's warnings about the odd values stay quiet
def test_malformed_answers_are_refused(
    capsys: pytest.CaptureFixture[str], user_config: Path
) -> None:
    with http_server(body=b"<html>a login page</html>") as server:
        _fails_with(capsys, ["pacs", "find", "--dicomweb", server.url], "malformed")
    missing_uid = json.dumps([{"00100020": {"vr": "LO", "Value": ["P1"]}}]).encode()
    with http_server(body=missing_uid) as server:
        _fails_with(capsys, ["pacs", "find", "--dicomweb", server.url], "StudyInstanceUID")
    with warnings.catch_warnings():  # the test itself writes the odd values
        warnings.simplefilter("ignore")
        hostile = _hostile_answer()
    with dimse_find_server([hostile]) as port:
        _fails_with(
            capsys,
            ["pacs", "find", "--node", f"127.0.0.1:{port}:FAKE"],
            "StudyInstanceUID is missing or malformed",
        )
    # The same hostile UID as an instance to retrieve never becomes a file name.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hostile = _hostile_answer(instance=True)
    with dimse_find_server([hostile]) as port:
        argv = ["pacs", "get", "--node", f"127.0.0.1:{port}:FAKE", "--study", "1.2.3"]
        _fails_with(capsys, argv, "SOPInstanceUID is missing or malformed")
    assert not list(user_config.rglob("x"))


def _hostile_answer(*, instance: bool = False) -> Dataset:
    answer = Dataset()
    if not instance:
        answer.QueryRetrieveLevel = "STUDY"
        answer.StudyInstanceUID = "../../etc/passwd"
        return answer
    answer.QueryRetrieveLevel = "IMAGE"
    answer.StudyInstanceUID = "1.2.3"
    answer.SeriesInstanceUID = "1.2.3"
    answer.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    answer.SOPInstanceUID = "../../../x"
    return answer


def test_a_server_stopping_mid_transfer_leaves_the_cache_clean_and_resumes(
    seed_case: SeedCase, tmp_path: Path
) -> None:
    server = start_orthanc(tmp_path / "orthanc")
    try:
        server.upload(sorted(seed_case.dicom_dir.iterdir()))
        cache = StudyCache(tmp_path / "cache")
        stop_after = seed_case.slices // 3

        def stop_the_server(fraction: float, message: str) -> None:
            if message.startswith(f"Received {stop_after} of"):
                server.stop()

        with pytest.raises(PacsTransferInterruptedError) as interrupted:
            retrieve(
                server.dimse_node(), seed_case.study_uid, cache=cache, progress=stop_the_server
            )
        assert (interrupted.value.received, interrupted.value.expected) == (
            stop_after,
            seed_case.slices,
        )
        message = str(interrupted.value)
        assert f"after {stop_after} of {seed_case.slices} instances" in message
        assert "Nothing entered the study cache" in message and "retrieve again" in message
        # Nothing half-written: no study in the cache, only complete instances set aside.
        assert cache.study(seed_case.study_uid) is None
        assert cache.cached_instances(seed_case.study_uid) == set()
        assert not (cache.root / "studies").exists()
        staged = cache.staging(seed_case.study_uid)
        assert len(staged.received()) == stop_after
        assert not list(staged.folder.glob(f"*{PARTIAL_SUFFIX}"))

        server.start()  # back, on new ports
        resumed = retrieve(server.dimse_node(), seed_case.study_uid, cache=cache)
        assert resumed.fetched == seed_case.slices - stop_after
        assert resumed.instance_count == seed_case.slices
        assert not staged.folder.exists()
        np.testing.assert_array_equal(
            load_image(resumed.folder).voxels, load_image(seed_case.dicom_dir).voxels
        )
    finally:
        server.stop()


def test_a_cancelled_retrieval_keeps_nothing_in_the_cache_and_resumes(
    orthanc: OrthancServer, seeded: SeedCase, tmp_path: Path
) -> None:
    cache = StudyCache(tmp_path / "cache")
    cancel = CancelToken()

    def cancel_after_five(fraction: float, message: str) -> None:
        if message.startswith("Received 5 of"):
            cancel.cancel()

    with pytest.raises(OperationCancelledError):
        retrieve(
            orthanc.dimse_node(),
            seeded.study_uid,
            cache=cache,
            progress=cancel_after_five,
            cancel=cancel,
        )
    assert cache.study(seeded.study_uid) is None
    kept = len(cache.staging(seeded.study_uid).received())
    assert 5 <= kept < seeded.slices
    resumed = retrieve(orthanc.dicomweb_node(), seeded.study_uid, cache=cache)
    assert (resumed.fetched, resumed.instance_count) == (seeded.slices - kept, seeded.slices)


def test_a_dicomweb_server_stopping_mid_transfer_leaves_the_cache_clean_and_resumes(
    seed_case: SeedCase, tmp_path: Path
) -> None:
    paths = sorted(seed_case.dicom_dir.iterdir())
    stop_after = 2 * len(paths) // 3
    with wado_server(paths) as server:
        node = DicomWebNode("fake-web", server.url, timeout_s=10.0)
        cache = StudyCache(tmp_path / "cache")
        server.mode = ("stop", stop_after)  # the connection closes inside the next instance
        with pytest.raises(PacsTransferInterruptedError) as interrupted:
            retrieve(node, seed_case.study_uid, cache=cache)
        # The instances read whole before the break are kept aside (how many depends on
        # the reads' chunks), none of the one cut off.
        kept = interrupted.value.received
        assert 0 < kept <= stop_after and interrupted.value.expected == len(paths)
        assert "connection closed in the middle" in str(interrupted.value)
        assert "Nothing entered the study cache" in str(interrupted.value)
        assert cache.study(seed_case.study_uid) is None
        assert not (cache.root / "studies").exists()
        staged = cache.staging(seed_case.study_uid)
        assert len(staged.received()) == kept
        assert not list(staged.folder.glob(f"*{PARTIAL_SUFFIX}"))
        server.mode = ("whole", 0)
        resumed = retrieve(node, seed_case.study_uid, cache=cache)
    assert (resumed.fetched, resumed.instance_count) == (len(paths) - kept, len(paths))
    np.testing.assert_array_equal(
        load_image(resumed.folder).voxels, load_image(seed_case.dicom_dir).voxels
    )


def test_a_server_going_silent_mid_transfer_times_out_with_the_timeout_named(
    seed_case: SeedCase, tmp_path: Path
) -> None:
    paths = sorted(seed_case.dicom_dir.iterdir())
    with wado_server(paths) as server:
        stall_after = 2 * len(paths) // 3
        server.mode = ("stall", stall_after)
        node = DicomWebNode("fake-web", server.url, timeout_s=0.5)
        cache = StudyCache(tmp_path / "cache")
        with pytest.raises(PacsTransferInterruptedError) as interrupted:
            retrieve(node, seed_case.study_uid, cache=cache)
    message = str(interrupted.value)
    assert 0 < interrupted.value.received <= stall_after
    assert "no answer" in message and "0.5 s" in message, message
    assert cache.study(seed_case.study_uid) is None


def test_malformed_instances_are_refused_and_never_cached(
    seed_case: SeedCase, capsys: pytest.CaptureFixture[str], user_config: Path
) -> None:
    paths = sorted(seed_case.dicom_dir.iterdir())
    with wado_server(paths) as server:
        server.mode = ("garbage", 0)
        out = user_config / "out"
        argv = ["pacs", "get", "--dicomweb", server.url, "--study", seed_case.study_uid]
        _fails_with(capsys, [*argv, "--out", str(out)], "malformed")
    assert not out.exists() or not any(out.iterdir())
    assert not (user_config / "cache" / "studies").exists()
