"""The practice attempt's assessment, run in the background.

The attempt is scored exactly as ``cryoplan score`` scores it
(:func:`assessment_work`: full simulation on the reference's grid, stored in the
library only when complete). One assessment runs at a time;
:class:`PracticeLogic` holds it so that the practice's panel and controller can
follow, and cancel, it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cryoplan_app.logic.runner import ErrorHandler, Runner, TaskHandle
from cryoplan_app.model.plan_state import TemperatureField
from cryoplan_app.model.practice import PracticeResult
from cryoplan_app.model.session import Session
from cryoplan_app.model.signals import Signal
from planning_core.figures import format_score
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.evaluate import simulate_plan
from planning_core.progress import CancelToken, ProgressCallback, sub_progress
from planning_core.thermal.probes import ProbeLibrary
from planning_core.training.assessment import DEFAULT_GRID_MM, assess_plan
from planning_core.training.attempts import AttemptFile, duration_s, record_attempt
from planning_core.training.database import open_library
from planning_core.training.library import LibraryCase
from planning_core.training.undertreatment import undertreated_tumor_mask


def assessment_work(
    attempt: AttemptFile,
    case: LibraryCase,
    *,
    volume: Volume,
    label_map: LabelMap,
    probe_library: ProbeLibrary,
    library_path: Path | None,
) -> Callable[[ProgressCallback, CancelToken], PracticeResult]:
    """The worker function that assesses ``attempt``, stores it and simulates the reference.

    The attempt is scored exactly as ``cryoplan score`` scores it (full
    simulation on the reference's grid); it is stored in the library only
    when the assessment completed. The reference's temperature field, for the
    reveal, is simulated on the same grid. The worker opens its own library
    connection (SQLite connections stay in their thread).
    """

    def work(progress: ProgressCallback, cancel: CancelToken) -> PracticeResult:
        assessment = assess_plan(
            case, attempt.plan, volume=volume, label_map=label_map, probe_library=probe_library,
            progress=sub_progress(progress, 0.0, 0.8), cancel=cancel,
        )  # fmt: skip
        progress(0.8, "Simulating the reference plan for the reveal")
        reference = assessment.reference
        simulation = simulate_plan(
            reference, volume, label_map,
            spacing_mm=case.reference_grid_mm or DEFAULT_GRID_MM, probe_library=probe_library,
            progress=sub_progress(progress, 0.8, 0.97), cancel=cancel,
        )  # fmt: skip
        attempt_simulation = assessment.evaluation.simulation
        mask = undertreated_tumor_mask(
            label_map, attempt_simulation.min_temperature_c, attempt_simulation.geometry,
            lethal_isotherm_c=reference.settings.lethal_isotherm_c,
            target_label=reference.target_label,
        )  # fmt: skip
        cancel.raise_if_cancelled()
        with open_library(library_path) as connection:
            record = record_attempt(
                connection, attempt, assessment.evaluation.plan, assessment.score
            )
        progress(1.0, f"Score {format_score(assessment.score.total)} / 100")
        return PracticeResult(
            assessment=assessment,
            attempt_id=record.id,
            duration_s=duration_s(attempt.started_at, attempt.submitted_at) or 0.0,
            undertreated_mask=mask,
            reference_field=TemperatureField(simulation.min_temperature_c, simulation.geometry),
        )

    return work


class PracticeLogic:
    """Runs the assessment of a submitted practice attempt on ``runner``.

    ``finished`` (a :class:`~cryoplan_app.model.signals.Signal`, no arguments)
    fires once the assessment is over, after ``on_done`` or ``on_error`` and
    also when it was cancelled (then neither was called).
    """

    def __init__(self, session: Session, runner: Runner) -> None:
        self.session = session
        self.runner = runner
        self.finished = Signal()
        self.task: TaskHandle | None = None
        runner.task_finished.connect(self._task_finished)

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done

    def assess(
        self,
        attempt: AttemptFile,
        case: LibraryCase,
        *,
        volume: Volume,
        label_map: LabelMap,
        library_path: Path | None,
        on_done: Callable[[PracticeResult], None],
        on_error: ErrorHandler,
    ) -> TaskHandle:
        """Assess ``attempt`` at ``case`` on ``label_map`` (the case's own labels) and store it.

        ``library_path`` None means the default library.
        """
        work = assessment_work(
            attempt, case, volume=volume, label_map=label_map,
            probe_library=self.session.document.probe_library, library_path=library_path,
        )  # fmt: skip
        plan = attempt.plan
        self.task = self.runner.submit(
            f"Assessing the attempt ({len(plan.probes)} probe(s), {plan.protocol})",
            work,
            on_done=on_done,
            on_error=on_error,
            key="practice",
        )
        return self.task

    def cancel(self) -> None:
        """Stop a running assessment (its attempt is not stored)."""
        if self.task is not None and not self.task.done:
            self.task.cancel()

    def _task_finished(self, task: TaskHandle) -> None:
        if task is self.task:
            self.finished.emit()
