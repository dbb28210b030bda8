"""Autosave of a session and recovery of what a crashed process left."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from cryoplan_app.model.autosave import Autosaver
from cryoplan_app.model.case import CaseSource

from planning_core.planning.plan import Plan, PlannedProbe


def _dead_pid() -> int:
    """The id of a process that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _plan(kidney_case) -> Plan:
    probe = PlannedProbe("test-2.4", (1.0, 2.0, 3.0), (1.0, 90.0, 3.0), "P1")
    return Plan(probes=(probe,), case=kidney_case.reference, protocol="F8-T5-F8")


def test_crashed_session_is_recoverable(tmp_path, kidney_case) -> None:
    crashed = Autosaver(tmp_path, pid=_dead_pid())
    edited = kidney_case.labels.without("ureter")
    crashed.save(source=CaseSource("sample", "kidney"), plan=_plan(kidney_case), labels=edited)
    records = Autosaver(tmp_path).recoverable()
    assert len(records) == 1
    record = records[0]
    assert record.source == CaseSource("sample", "kidney") and record.has_labels
    assert record.read_plan().probes == _plan(kidney_case).probes
    labels = record.read_labels(kidney_case.volume.geometry)
    np.testing.assert_array_equal(labels.voxels, edited.voxels)
    assert "kidney" in record.describe()
    record.discard()
    assert Autosaver(tmp_path).recoverable() == []


def test_running_sessions_are_not_offered(tmp_path, kidney_case) -> None:
    mine = Autosaver(tmp_path)
    mine.save(source=CaseSource("sample", "kidney"), plan=_plan(kidney_case), labels=None)
    assert Autosaver(tmp_path, pid=_dead_pid()).recoverable() == []  # this process runs
    mine.discard()
    assert not mine.session_folder.exists()


def test_incomplete_folder_is_ignored(tmp_path) -> None:
    (tmp_path / f"session-{_dead_pid()}").mkdir()
    assert Autosaver(tmp_path).recoverable() == []
