"""`cryoplan batch` on a 2-worker Dask LocalCluster: tiny cases planned, a failing one recorded."""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
from distributed import LocalCluster

from planning_core.cli import main
from planning_core.cohort import runner
from planning_core.cohort.manifest import read_manifest
from planning_core.cohort.results import PlanFigures
from planning_core.cohort.runner import ATTEMPTS_FILE, run_cohort
from planning_core.errors import PlanningError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import write_label_map, write_volume

#: Options that keep a tiny case's planning to a few seconds.
FAST = "max_probes,margin_mm,verify_spacing_mm,robustness_samples"
FAST_VALUES = "2,2,2,2"


def write_tiny_case(folder, name: str, suffix: str, tumor_center_lps_mm) -> None:
    """A 1.5 mm CT of an elliptic body (110 x 80 mm) with a 5 mm tumor, and its label map."""
    geometry = Geometry((27, 61, 81), (1.5, 1.5, 1.5), (-60.0, -45.0, -20.0))
    nk, nj, ni = geometry.shape
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    lps = geometry.index_to_lps(np.stack([i, j, k], axis=-1).astype(np.float64))
    body = (lps[..., 0] / 55.0) ** 2 + (lps[..., 1] / 40.0) ** 2 <= 1.0
    tumor = np.linalg.norm(lps - np.asarray(tumor_center_lps_mm), axis=-1) <= 5.0
    labels = LabelMap.empty(geometry).with_mask("body", body).with_mask("tumor", tumor)
    image = np.where(body, 40, -1000).astype(np.int16)
    write_volume(Volume(image, geometry, "CT"), folder / f"{name}{suffix}")
    write_label_map(labels, folder / f"{name}_labels{suffix}")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Two good tiny cases (.nii.gz and .mha) and one whose seed lies outside its image."""
    folder = tmp_path_factory.mktemp("cohort")
    write_tiny_case(folder, "first", ".nii.gz", (0.0, 0.0, 0.0))
    write_tiny_case(folder, "second", ".mha", (-5.0, 5.0, 0.0))
    manifest = folder / "cohort.csv"
    manifest.write_text(
        f"id,case,labels,tumor_seed,{FAST}\n"
        f"first,first.nii.gz,first_labels.nii.gz,,{FAST_VALUES}\n"
        f'outside,first.nii.gz,,"500,500,500",{FAST_VALUES}\n'
        f"second,second.mha,second_labels.mha,,{FAST_VALUES}\n"
    )
    return manifest


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 single-threaded workers, reached by its address like a remote one."""
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
        silence_logs=logging.CRITICAL,
    ) as local:  # fmt: skip
        yield local


@pytest.fixture(scope="module")
def first_run(cohort, cluster, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch")
    with contextlib.chdir(out.parent):  # --out relative to here; the workers run elsewhere
        code = main(
            ["batch", str(cohort), "--out", out.name, "--scheduler", cluster.scheduler_address]
        )
    return code, out


def test_good_cases_are_planned_and_the_failing_one_recorded(first_run, capsys):
    code, out = first_run
    assert code == 1  # a case failed
    table = pq.read_table(out / "results.parquet").to_pylist()
    by_case = {row["case"]: row for row in table}
    assert [row["case"] for row in table] == ["first", "outside", "second"]  # manifest order
    for name in ("first", "second"):
        row = by_case[name]
        assert row["status"] == "planned" and row["error"] is None and row["attempts"] == 1
        assert 1 <= row["probes"] <= 2 and row["protocol"].startswith("F")
        assert row["coverage_percent"] > 90.0 and row["minimal_margin_mm"] is not None
        assert 0.0 <= row["robustness_percent"] <= 100.0 and row["organs"]
        assert row["time_s"] > 0.0 and row["peak_memory_mb"] > 50.0
        folder = out / "cases" / name
        assert (folder / "plan.json").is_file() and (folder / "report.pdf").read_bytes()[
            :4
        ] == b"%PDF"
        assert json.loads((folder / "result.json").read_text())["result"]["status"] == "planned"
        assert row["plan"] == str(folder / "plan.json")  # absolute: workers may run elsewhere
    failed = by_case["outside"]
    assert failed["status"] == "failed" and failed["attempts"] == 2  # retried once
    assert "outside the image" in failed["error"] and failed["probes"] is None
    assert "Traceback" not in failed["error"]
    with open(out / "results.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["case"] for row in rows] == ["first", "outside", "second"]
    assert rows[1]["probes"] == "" and rows[0]["probes"] == str(by_case["first"]["probes"])
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_rerun_plans_only_the_cases_not_finished(first_run, cohort, capsys):
    _, out = first_run
    capsys.readouterr()
    before = {
        name: (out / "cases" / name / ATTEMPTS_FILE).read_text() for name in ("first", "second")
    }
    rerun = main(["batch", str(cohort), "--out", str(out), "--workers", "2", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert (
        rerun == 1 and payload["kept"] == ["first", "second"] and payload["failed"] == ["outside"]
    )
    for name, text in before.items():  # not started again
        assert (out / "cases" / name / ATTEMPTS_FILE).read_text() == text
    assert (out / "cases" / "outside" / ATTEMPTS_FILE).read_text().count("\n") == 4
    assert len(pq.read_table(out / "results.parquet")) == 3


def flaky_task(case, folder) -> PlanFigures:
    """Fails the first time it runs for a case, then gives fixed figures (a transient fault)."""
    marker = folder / "tried"
    if not marker.exists():
        marker.write_text("once")
        raise PlanningError("transient: the network share went away")
    return PlanFigures(1, "F10-T8-F10", 20.0, 100.0, 5.0, "all clear", None, "lethal-margin",
                       True, "", str(marker), "")  # fmt: skip


def broken_task(case, folder) -> PlanFigures:
    """A fault of the program (not a PlanningError)."""
    raise ZeroDivisionError("division by zero")


def unwritable_task(case, folder) -> PlanFigures:
    """A worker that may not write where the plan goes."""
    raise PermissionError(13, "Permission denied", "/shared/plans/plan.json")


def test_a_transient_failure_is_retried_and_a_fault_is_named(cohort, cluster, tmp_path):
    cases, address = read_manifest(cohort)[:1], cluster.scheduler_address
    run = run_cohort(cases, task=flaky_task, out_dir=tmp_path / "a", scheduler=address)
    (result,) = run.results
    assert result.status == "planned" and result.attempts == 2 and result.figures.probes == 1
    run = run_cohort(cases, task=broken_task, out_dir=tmp_path / "b", scheduler=address)
    (result,) = run.results
    assert result.status == "failed" and result.attempts == 2
    assert result.error == "internal error (ZeroDivisionError: division by zero)"
    run = run_cohort(cases, task=unwritable_task, out_dir=tmp_path / "c", scheduler=address)
    assert run.results[0].error == "/shared/plans/plan.json: Permission denied"


def test_an_unreachable_scheduler_is_named(cohort, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(runner, "CONNECT_TIMEOUT_S", 1)  # the port refuses; no need to wait 20 s
    code = main(["batch", str(cohort), "--out", str(tmp_path), "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--scheduler tcp://127.0.0.1:9: cannot reach the Dask scheduler" in err


def slow_task(case, folder) -> PlanFigures:
    """A case that takes a while."""
    time.sleep(1.5)
    return PlanFigures(1, "F10-T8-F10", 20.0, 100.0, 5.0, "all clear", None, "lethal-margin",
                       True, "", str(folder), "")  # fmt: skip


def test_progress_draws_a_bar_and_says_the_run_is_alive(cohort, cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "HEARTBEAT_S", 0.3)
    lines = []
    run_cohort(
        read_manifest(cohort)[:1], task=slow_task, out_dir=tmp_path,
        scheduler=cluster.scheduler_address, progress=lambda f, m: lines.append((f, m)),
    )  # fmt: skip
    assert any("0/1 cases, 0 failed; 1 to go, running for " in m for _, m in lines)
    assert lines[-1][0] == 1.0 and lines[-1][1].startswith("[" + "#" * 24 + "] 1/1 cases")
    assert " first planned in " in lines[-1][1]


def test_a_scheduler_without_workers_is_named(cohort, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(runner, "CONNECT_TIMEOUT_S", 1)
    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as empty:
        address = empty.scheduler_address
        code = main(["batch", str(cohort), "--out", str(tmp_path), "--scheduler", address])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"--scheduler {address}: the scheduler has no workers; start them with" in err
