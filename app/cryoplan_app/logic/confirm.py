"""The Confirm step: the open plan against a CT taken during the freeze or after the ablation.

:class:`ConfirmLogic` runs the core's confirmation in the background, as
``cryoplan confirm`` does, and keeps its result:

* during the freeze (``"intra"``): the series is opened through the core's case
  sources (:func:`~planning_core.imaging.case_sources.open_case`), refused when
  it is the planning CT itself or another patient's, the elapsed freeze is taken
  from the minutes given or from the series time against the protocol's start
  (:mod:`planning_core.confirm.follow_up`), and
  :func:`~planning_core.confirm.intra.confirm_intra` runs on the session's
  plan, planning CT and labels;
* after the ablation (``"post"``):
  :func:`~planning_core.confirm.post.confirm_post` runs on the plan's file
  (it reads the plan's saved simulation fields), so the plan must be saved.

The follow-up series never replaces the session's case: the open plan's case
stays the planning CT. The PDF reports are the command line's
(:mod:`planning_core.report.intra_confirmation_pdf`,
:mod:`planning_core.report.confirmation_pdf`), written in a worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from cryoplan_app.logic.runner import Runner, TaskHandle
from cryoplan_app.model.session import Session
from cryoplan_app.model.signals import Signal
from planning_core.confirm.as_placed import AS_PLACED_SPACING_MM
from planning_core.confirm.follow_up import InputNames, check_intra_series, elapsed_freeze_s
from planning_core.confirm.intra import IntraConfirmation, confirm_intra
from planning_core.confirm.post import PostConfirmation, confirm_post
from planning_core.errors import ConfirmationError, PlanningError
from planning_core.imaging.case_sources import open_case, resolve_case
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.plan import Plan
from planning_core.progress import CancelToken, ProgressCallback, sub_progress
from planning_core.report.confirmation_pdf import write_confirmation_pdf
from planning_core.report.intra_confirmation_pdf import write_intra_confirmation_pdf

#: When the follow-up CT was taken: during the freeze, or after the ablation.
ConfirmStage = Literal["intra", "post"]

#: The Confirm panel's field labels, as messages name them.
SERIES_FIELD = "Series folder"
ELAPSED_FIELD = "Elapsed freeze (min)"
FREEZE_START_FIELD = "Protocol started at"
#: The names of the intra-procedural inputs in the window, for the core's messages.
APP_NAMES = InputNames(
    series=SERIES_FIELD,
    series_choice="a folder holding that series alone",
    elapsed_min=ELAPSED_FIELD,
    freeze_start=FREEZE_START_FIELD,
)
#: The menu command that saves the plan, for the post-ablation step's message.
SAVE_COMMAND = "File > Save plan"


@dataclass(frozen=True, eq=False)
class IntraRun:
    """An intra-procedural confirmation with what it was computed from (for its report).

    Attributes
    ----------
    series_path : Path
        The intra-procedural series the user chose.
    plan : Plan
        The plan followed (the session's plan when the run started).
    planning : Volume
        The planning CT (the session's case).
    labels : LabelMap
        The planning labels.
    intra_ct : Volume
        The intra-procedural CT as read.
    result : IntraConfirmation
    ice_edge_lps_mm : ndarray, shape (n, 3)
        The visible ice's surface points mapped into the planning frame (for the views).
    """

    series_path: Path
    plan: Plan
    planning: Volume
    labels: LabelMap
    intra_ct: Volume
    result: IntraConfirmation
    ice_edge_lps_mm: NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class PostRun:
    """A post-ablation confirmation of the plan file ``plan_path`` on ``series_path``."""

    series_path: Path
    plan_path: Path
    result: PostConfirmation


class ConfirmLogic:
    """Runs the confirmation of ``session``'s plan on ``runner`` and keeps its result.

    ``spacing_mm`` is the grid of the as-placed simulations (the command line's
    by default). Signals (:class:`~cryoplan_app.model.signals.Signal`):

    * ``changed`` (): the result, :attr:`note` or whether a run is going on changed;
    * ``failed`` (error, details): a run failed; the window's error path explains.

    The result is dropped when another case is opened (it belongs to the plan's CT).
    """

    def __init__(
        self, session: Session, runner: Runner, *, spacing_mm: float = AS_PLACED_SPACING_MM
    ) -> None:
        self.session = session
        self.runner = runner
        self.spacing_mm = spacing_mm
        self.changed = Signal()
        self.failed = Signal()
        self.result: IntraRun | PostRun | None = None
        self.task: TaskHandle | None = None
        #: One line on the last run, for the panel.
        self.note = ""
        self._cancelled = False
        runner.task_finished.connect(self._task_finished)
        session.case_changed.connect(lambda _case: self._forget())

    @property
    def running(self) -> bool:
        return self.task is not None

    def run(
        self,
        stage: ConfirmStage,
        series_path: str | Path,
        *,
        elapsed_min: float | None = None,
        freeze_start: str | None = None,
        deformable: bool = True,
    ) -> TaskHandle:
        """Confirm the session's plan on the series at ``series_path``.

        Parameters
        ----------
        stage : {"intra", "post"}
            A CT taken during the freeze, or after the ablation.
        series_path : path
            The follow-up series: a DICOM folder or a volume file.
        elapsed_min, freeze_start
            ``"intra"`` only: minutes since the protocol started, else the
            clock time it started (``HH:MM[:SS]``, the series time is read).
        deformable : bool
            Add the organ-restricted deformable stage to the registration.

        Raises
        ------
        PlanningError
            At once, when there is nothing to confirm: no case, no tumor, no
            probes, no series chosen, or (``"post"``) a plan not saved.
        """
        work = self._work(stage, Path(series_path), elapsed_min, freeze_start, deformable)
        self._cancelled = False
        self.task = self.runner.submit(
            "Confirming the plan",
            work,
            on_done=self._done,
            on_error=self._failed,
            key="confirm",
        )
        self._set_note("Confirming…")
        return self.task

    def cancel(self) -> None:
        """Stop the running confirmation; the last result stays."""
        if self.task is not None:
            self.task.cancel()
            self._cancelled = True  # a cancelled task delivers neither result nor error
            self._set_note("Cancelling…")

    @property
    def can_edit_as_placed(self) -> bool:
        """A confirmation during the freeze is at hand and nothing runs."""
        return isinstance(self.result, IntraRun) and not self.running

    def edit_as_placed(self) -> None:
        """Make the probes as placed (found on the intra-procedural CT) the session's plan.

        Undoable: undo brings the plan back. The probes are then corrected by
        dragging a tip or entry in the views, as any plan's probes, and the
        metrics are computed again for the probes where they really are.

        Raises
        ------
        ConfirmationError
            When no confirmation during the freeze is at hand.
        """
        if not isinstance(self.result, IntraRun):
            raise ConfirmationError(
                "confirm the plan on a CT taken during the freeze first (Confirm step)."
            )
        self.session.document.set_plan(self.result.result.as_placed, text="Probes as placed")
        self.session.focus_on_plan()
        self._set_note(
            "The plan now holds the probes as placed (Edit > Undo restores the plan): drag a "
            "tip or an entry to correct a probe; the metrics follow."
        )

    def save_pdf(self, path: str | Path, *, on_done: Callable[[Path], None]) -> TaskHandle:
        """Write the report of the kept result to ``path`` in a worker; ``on_done(path)`` after.

        Errors go to the runner's error path.

        Raises
        ------
        PlanningError
            At once, when there is no result to report.
        """
        kept, out = self.result, Path(path)
        if kept is None:
            raise ConfirmationError("there is no confirmation to report: run Confirm first.")

        def work(_progress: ProgressCallback, _cancel: CancelToken) -> Path:
            if isinstance(kept, PostRun):
                return write_confirmation_pdf(kept.result, out)
            return write_intra_confirmation_pdf(
                kept.result, kept.plan, kept.planning, kept.labels, kept.intra_ct, out
            )

        return self.runner.submit(
            "Writing the confirmation report", work, on_done=on_done, key="confirm-pdf"
        )

    # -- the work --------------------------------------------------------------------------
    def _work(
        self,
        stage: ConfirmStage,
        series_path: Path,
        elapsed_min: float | None,
        freeze_start: str | None,
        deformable: bool,
    ) -> Callable[[ProgressCallback, CancelToken], IntraRun | PostRun]:
        """The work of one run, its inputs read and checked now, on the calling thread."""
        session, document = self.session, self.session.document
        case, labels, plan = session.case, document.labels, document.plan
        if case is None:
            raise ConfirmationError("no image is open: open the plan to confirm first.")
        if not str(series_path).strip() or series_path == Path():
            raise ConfirmationError(
                f"{SERIES_FIELD}: choose the CT taken "
                + ("during the freeze." if stage == "intra" else "after the ablation.")
            )
        if (
            labels is None
            or not labels.has(plan.target_label)
            or not labels.mask(plan.target_label).any()
        ):
            raise ConfirmationError(
                f"the label map has no '{plan.target_label}' label: open the plan that was "
                "followed (with its tumor) before confirming."
            )
        if not plan.probes:
            raise ConfirmationError(
                "the plan has no probes: open the plan that was followed before confirming."
            )
        if stage == "post":
            plan_path = document.path
            if plan_path is None or document.history.dirty:
                raise ConfirmationError(
                    "the post-ablation confirmation reads the plan from its file: save the "
                    f"plan first ({SAVE_COMMAND})."
                )

            def post_work(progress: ProgressCallback, cancel: CancelToken) -> PostRun:
                result = confirm_post(
                    plan_path, series_path, deformable=deformable,
                    series_option=APP_NAMES.series, series_choice=APP_NAMES.series_choice,
                    progress=progress, cancel=cancel,
                )  # fmt: skip
                return PostRun(series_path, plan_path, result)

            return post_work
        planning, spacing_mm = case.volume, self.spacing_mm
        if elapsed_min is not None:  # refused before the series is read
            elapsed_freeze_s(None, plan.parsed_protocol(), elapsed_min=elapsed_min, names=APP_NAMES)

        def intra_work(progress: ProgressCallback, cancel: CancelToken) -> IntraRun:
            source = resolve_case(str(series_path), case_option=SERIES_FIELD)
            intra = open_case(
                source, with_labels=False, progress=sub_progress(progress, 0.0, 0.1),
                cancel=cancel,
            ).volume  # fmt: skip
            check_intra_series(intra, planning, location=str(series_path), names=APP_NAMES)
            elapsed_s = elapsed_freeze_s(
                intra, plan.parsed_protocol(), elapsed_min=elapsed_min,
                freeze_start=freeze_start, names=APP_NAMES,
            )  # fmt: skip
            result = confirm_intra(
                plan, planning, labels, intra, elapsed_s=elapsed_s, deformable=deformable,
                spacing_mm=spacing_mm, progress=sub_progress(progress, 0.1, 1.0),
                cancel=cancel,
            )  # fmt: skip
            edge = result.visible_ice.surface_lps_mm
            if len(edge):
                edge = result.registration.follow_up_to_planning_lps(np.asarray(edge, float))
            edge = np.asarray(edge, dtype=np.float64).reshape(-1, 3)
            return IntraRun(series_path, plan, planning, labels, intra, result, edge)

        return intra_work

    def _done(self, run: IntraRun | PostRun) -> None:
        self.result = run
        self._set_note(f"Done in {run.result.wall_s:.0f} s.")

    def _failed(self, error: BaseException, details: str) -> None:
        # The dialog explains; the note keeps the reason in view after it is closed.
        self._set_note(
            f"Not confirmed: {error}" if isinstance(error, PlanningError) else "Not confirmed."
        )
        self.failed.emit(error, details)

    def _task_finished(self, task: TaskHandle) -> None:
        if task is not self.task:
            return
        self.task = None
        if self._cancelled:
            self._set_note("Cancelled.")
        else:
            self.changed.emit()

    def _forget(self) -> None:
        self.result = None
        self._set_note("")

    def _set_note(self, note: str) -> None:
        self.note = note
        self.changed.emit()
