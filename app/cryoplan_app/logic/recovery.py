"""Autosave and crash recovery of the unsaved plan, without Qt.

While the plan has unsaved changes the window asks :class:`RecoveryLogic` to
autosave it (after a pause in editing); a session that a crash left behind is
offered at the next start and, when the user agrees, opened again with its
plan and edited labels put back as unsaved changes. The questions stay in the
window.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryoplan_app.logic.case_io import CaseLogic
from cryoplan_app.logic.runner import Runner, TaskHandle
from cryoplan_app.model.autosave import Autosaver, AutosaveRecord
from cryoplan_app.model.case import ImageCase, load_case
from cryoplan_app.model.session import Session
from cryoplan_app.model.signals import Signal
from planning_core.imaging.labels import LabelMap
from planning_core.planning.plan import Plan


@dataclass(frozen=True)
class RecoveredSession:
    """What a recovery read: the case, the autosaved plan and the edited labels (if any)."""

    case: ImageCase
    plan: Plan
    labels: LabelMap | None


class RecoveryLogic:
    """Autosaves ``session`` with ``autosaver`` and recovers crashed sessions through ``cases``.

    Signals
    -------
    autosave_failed : Signal
        ``(error)`` when an autosave written in the background could not be written.
    """

    def __init__(
        self, session: Session, runner: Runner, cases: CaseLogic, autosaver: Autosaver
    ) -> None:
        self.session = session
        self.runner = runner
        self.cases = cases
        self.autosaver = autosaver
        self.autosave_failed = Signal()

    def autosave_now(self, *, in_worker: bool = False) -> TaskHandle | Path | None:
        """Write the unsaved session; None when there is nothing unsaved to write.

        The session is captured at once (plans and label maps are replaced, never
        changed in place, when edited); with ``in_worker`` the files are written in
        the background, so a large edited label map never stalls the window, and a
        failure is announced by :attr:`autosave_failed`. Otherwise they are written
        before returning and the folder is returned.

        Raises
        ------
        PlanningError
            When the autosave folder cannot be written (not ``in_worker``).
        """
        session = self.session
        case = session.case
        document = session.document
        if case is None or not document.history.dirty:
            return None
        source, plan = case.source, document.plan
        labels = document.labels if document.labels_edited else None
        if not in_worker:
            return self.autosaver.save(source=source, plan=plan, labels=labels)
        return self.runner.submit(
            "Autosave",
            lambda progress, cancel: self.autosaver.save(source=source, plan=plan, labels=labels),
            on_done=lambda folder: None,
            on_error=lambda error, details: self.autosave_failed.emit(error),
            key="autosave",
        )

    def discard(self) -> None:
        """Remove this session's autosave: nothing is left that a crash could lose."""
        self.autosaver.discard()

    def recoverable(self) -> list[AutosaveRecord]:
        """Sessions that crashed processes left behind, newest first."""
        return self.autosaver.recoverable()

    def decline(self, records: list[AutosaveRecord]) -> None:
        """Remove crashed sessions the user chose not to recover."""
        for record in records:
            record.discard()

    def recover(self, record: AutosaveRecord) -> TaskHandle:
        """Open the record's case (unless it is open), then put its plan and labels back
        as unsaved changes; the record is removed once recovered."""
        open_case = self.session.case
        reuse = open_case if open_case is not None and open_case.source == record.source else None

        def work(progress, cancel) -> RecoveredSession:
            case = reuse or load_case(record.source, progress=progress, cancel=cancel)
            return RecoveredSession(
                case, record.read_plan(), record.read_labels(case.volume.geometry)
            )

        def done(recovered: RecoveredSession) -> None:
            if recovered.case is not self.session.case:
                self.cases.show_case(recovered.case)
            self.session.document.restore(recovered.plan, labels=recovered.labels)
            record.discard()

        return self.runner.submit(
            f"Recovering {record.source.title}", work, on_done=done, key="load"
        )
