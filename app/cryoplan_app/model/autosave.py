"""Session autosave and crash recovery.

While a session has unsaved changes, the window writes them here every few
seconds: one folder per running process, ``session-<pid>/``, holding the plan
(``plan.json``), the edited label map when the labels were edited
(``labels.nii.gz``) and ``session.json`` naming the case, written last so that
a folder without it is incomplete and ignored. A clean exit removes the
folder; a folder whose process no longer runs is what a crash left behind,
and the next start offers to recover it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from cryoplan_app.model.case import CaseSource
from planning_core.atomic import write_text_atomic
from planning_core.errors import PlanningError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume_io import read_label_map, write_label_map
from planning_core.planning.plan import Plan
from planning_core.planning.plan_json import load_plan, save_plan

#: Where sessions are autosaved unless a window is given another folder.
DEFAULT_AUTOSAVE_DIR = Path.home() / ".cache" / "cryoplan" / "autosave"
AUTOSAVE_FORMAT = "cryoplan-autosave"
_SESSION_FILE = "session.json"
_PLAN_FILE = "plan.json"
_LABELS_FILE = "labels.nii.gz"


@dataclass(frozen=True)
class AutosaveRecord:
    """An autosaved session left by a process that no longer runs.

    Attributes
    ----------
    folder : Path
        The session's autosave folder.
    source : CaseSource
        The case it was working on.
    saved_at : float
        When it was written (seconds since the epoch).
    has_labels : bool
        Whether edited labels were saved.
    """

    folder: Path
    source: CaseSource
    saved_at: float
    has_labels: bool

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))
        labels = " and edited labels" if self.has_labels else ""
        return f"a plan{labels} for {self.source.title}, autosaved {when}"

    def read_plan(self) -> Plan:
        """The autosaved plan; raises :class:`PlanFileError` when damaged."""
        return load_plan(self.folder / _PLAN_FILE)

    def read_labels(self, geometry: Geometry) -> LabelMap | None:
        """The autosaved labels on the image grid ``geometry`` (``None`` when none were saved)."""
        if not self.has_labels:
            return None
        return read_label_map(self.folder / _LABELS_FILE, reference=geometry)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _process_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process with that id: alive
        return True
    return True


class Autosaver:
    """Writes this process's session to ``folder/session-<pid>`` and finds crashed ones.

    Parameters
    ----------
    folder : Path, optional
        Where autosaves live; :data:`DEFAULT_AUTOSAVE_DIR` by default.
    pid : int, optional
        The process id naming this session's folder (tests give a dead one).
    """

    def __init__(self, folder: str | Path | None = None, *, pid: int | None = None) -> None:
        self.folder = Path(folder) if folder is not None else DEFAULT_AUTOSAVE_DIR
        self.pid = os.getpid() if pid is None else int(pid)
        self._labels_written: LabelMap | None = None

    @property
    def session_folder(self) -> Path:
        return self.folder / f"session-{self.pid}"

    def save(self, *, source: CaseSource, plan: Plan, labels: LabelMap | None) -> Path:
        """Write the session; ``labels`` only when they were edited (``None`` otherwise).

        A label map already written is not written again.

        Raises
        ------
        PlanningError
            When the folder cannot be written.
        """
        folder = self.session_folder
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if labels is not None and labels is not self._labels_written:
                write_label_map(labels, folder / _LABELS_FILE)
                self._labels_written = labels
            save_plan(plan, folder / _PLAN_FILE)
            record = {
                "format": AUTOSAVE_FORMAT,
                "version": 1,
                "pid": self.pid,
                "saved_at": time.time(),
                "source": source.to_dict(),
                "labels": labels is not None,
            }
            write_text_atomic(folder / _SESSION_FILE, json.dumps(record, indent=2) + "\n")
        except OSError as error:
            raise PlanningError(
                f"{folder}: the session could not be autosaved ({error.strerror or error}); "
                "save the plan yourself."
            ) from error
        return folder

    def discard(self) -> None:
        """Remove this session's autosave (after a save, or on a clean exit)."""
        shutil.rmtree(self.session_folder, ignore_errors=True)
        self._labels_written = None

    def recoverable(self) -> list[AutosaveRecord]:
        """Sessions left by processes that no longer run, newest first."""
        records = []
        for folder in self.folder.glob("session-*"):
            record = _read_record(folder)
            if record is not None and folder != self.session_folder:
                pid = int(folder.name.removeprefix("session-"))
                if not _process_running(pid):
                    records.append(record)
        return sorted(records, key=lambda r: r.saved_at, reverse=True)


def _read_record(folder: Path) -> AutosaveRecord | None:
    """The record of an autosave folder; ``None`` when incomplete or not one."""
    if not folder.name.removeprefix("session-").isdigit():
        return None
    try:
        data = json.loads((folder / _SESSION_FILE).read_text("utf-8"))
        if data.get("format") != AUTOSAVE_FORMAT:
            return None
        return AutosaveRecord(
            folder,
            CaseSource.from_dict(data["source"]),
            float(data["saved_at"]),
            bool(data["labels"]),
        )
    except (OSError, ValueError, KeyError, TypeError, PlanningError):
        return None
