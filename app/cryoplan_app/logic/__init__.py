"""The application's logic: every background computation and what it keeps, without Qt or VTK.

As in a 3D Slicer scripted module (Widget / Logic / Test), widgets show the
session and forward the user's requests; the computing happens here, in work
functions handed to a :class:`~cryoplan_app.logic.runner.Runner` (the window's
:class:`cryoplan_app.qt.tasks.TaskRunner`), and the results are kept by the
inputs they were computed for (the plan-and-labels
:class:`~cryoplan_app.model.plan_state.InputsKey`; the path analysis by labels
and settings), so that a late result of an old plan never shows as current.

:class:`Logic` bundles one object per computation:

* ``evaluation`` (:class:`~cryoplan_app.logic.evaluation.EvaluationLogic`):
  the full evaluation after edits and the preview during drags;
* ``growth`` (:class:`~cryoplan_app.logic.growth.GrowthLogic`): the ice-growth replay;
* ``optimizer`` (:class:`~cryoplan_app.logic.optimizer.OptimizerLogic`): the
  optimizer run and its proposal;
* ``trajectory`` (:class:`~cryoplan_app.logic.trajectory.TrajectoryLogic`):
  the probes' path checks;
* ``segmentation`` (:class:`~cryoplan_app.logic.segmentation.SegmentationLogic`):
  the tumor by seed, diameter line or strokes, label edits, anatomy and organs;
* ``report`` (:class:`~cryoplan_app.logic.report.ReportLogic`): the PDF report
  and the DICOM export;
* ``practice`` (:class:`~cryoplan_app.logic.practice.PracticeLogic`): the
  assessment of a practice attempt;
* ``cases`` (:class:`~cryoplan_app.logic.case_io.CaseLogic`): opening cases
  (through the core's case sources), label maps and plans; saving plans;
* ``recovery`` (:class:`~cryoplan_app.logic.recovery.RecoveryLogic`): the
  autosave and the recovery of a crashed session;
* ``library`` (:class:`~cryoplan_app.logic.library.LibraryLogic`): the training
  library's work for the Training menu;
* ``approach`` (:class:`~cryoplan_app.logic.approach.ApproachLogic`): patient
  position, table side, gantry check and insertion order of the probes;
* ``protocols`` (:class:`~cryoplan_app.logic.protocols.ProtocolLogic`): the
  organ site and the protocol presets usual for it;
* ``protection`` (:class:`~cryoplan_app.logic.protection.ProtectionLogic`): the
  hydrodissection the user adds, resizes or removes;
* ``pacs`` (:class:`~cryoplan_app.logic.pacs.PacsLogic`): the user's PACS
  nodes, study search, retrieval (then opened by ``cases``) and sending;
* ``confirm`` (:class:`~cryoplan_app.logic.confirm.ConfirmLogic`): the plan
  against a CT taken during the freeze or after the ablation.
"""

from __future__ import annotations

from cryoplan_app.logic.approach import ApproachLogic
from cryoplan_app.logic.case_io import CaseLogic
from cryoplan_app.logic.confirm import ConfirmLogic
from cryoplan_app.logic.evaluation import DISPLAY_SPACING_MM, EvaluationLogic
from cryoplan_app.logic.growth import GrowthLogic
from cryoplan_app.logic.library import LibraryLogic
from cryoplan_app.logic.optimizer import OptimizerLogic
from cryoplan_app.logic.pacs import PacsLogic
from cryoplan_app.logic.practice import PracticeLogic
from cryoplan_app.logic.protection import ProtectionLogic
from cryoplan_app.logic.protocols import ProtocolLogic
from cryoplan_app.logic.recovery import RecoveryLogic
from cryoplan_app.logic.report import ReportLogic
from cryoplan_app.logic.runner import Runner, TaskHandle
from cryoplan_app.logic.segmentation import SegmentationLogic
from cryoplan_app.logic.trajectory import TrajectoryLogic
from cryoplan_app.model.autosave import Autosaver
from cryoplan_app.model.recent import RecentCases
from cryoplan_app.model.session import Session


class Logic:
    """The logic of one session, run on ``runner``.

    ``auto_evaluate=False`` leaves the full evaluation to explicit
    ``evaluation.evaluate_now()`` calls (tests, benchmarks); ``spacing_mm`` is
    the grid of that evaluation. Opened cases are recorded in ``recent`` (nowhere
    when None); the unsaved plan is autosaved with ``autosaver`` (the user's
    autosave folder when None).
    """

    def __init__(
        self,
        session: Session,
        runner: Runner,
        *,
        auto_evaluate: bool = True,
        spacing_mm: float = DISPLAY_SPACING_MM,
        recent: RecentCases | None = None,
        autosaver: Autosaver | None = None,
    ) -> None:
        self.session = session
        self.runner = runner
        self.trajectory = TrajectoryLogic(session, runner)
        self.evaluation = EvaluationLogic(
            session,
            runner,
            auto_evaluate=auto_evaluate,
            spacing_mm=spacing_mm,
            paths=self.trajectory,
        )
        self.growth = GrowthLogic(session, runner)
        self.approach = ApproachLogic(session, runner, self.trajectory)
        self.protocols = ProtocolLogic(session)
        self.protection = ProtectionLogic(session)
        self.optimizer = OptimizerLogic(session, runner)
        self.segmentation = SegmentationLogic(session, runner)
        self.report = ReportLogic(session, runner)
        self.practice = PracticeLogic(session, runner)
        self.cases = CaseLogic(session, runner, recent=recent)
        self.recovery = RecoveryLogic(
            session, runner, self.cases, autosaver if autosaver is not None else Autosaver()
        )
        self.library = LibraryLogic(runner)
        self.pacs = PacsLogic(runner, self.cases, self.report)
        self.confirm = ConfirmLogic(session, runner)


__all__ = [
    "ApproachLogic",
    "CaseLogic",
    "ConfirmLogic",
    "EvaluationLogic",
    "GrowthLogic",
    "LibraryLogic",
    "Logic",
    "OptimizerLogic",
    "PacsLogic",
    "PracticeLogic",
    "ProtocolLogic",
    "RecoveryLogic",
    "ReportLogic",
    "Runner",
    "SegmentationLogic",
    "TaskHandle",
    "TrajectoryLogic",
]
