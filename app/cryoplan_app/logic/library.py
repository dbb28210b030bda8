"""The training library's work for the Training menu, without Qt.

Choosing a practice reads the library's cases and trainees (importing the
sample cases into an empty library first); starting one opens the library
case's image and labels (through the core's case sources, like any case) with
its hidden reference plan; a case without a reference plan
gets one from the optimizer; a trainee's record is their attempts, the best
score per case and a plot of the scores; the logbook is a PDF. The slow parts
run on the runner; the dialogs that show the results stay in the window.
``library_path`` None everywhere means ``$CRYOPLAN_LIBRARY`` or the default
library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryoplan_app.logic.runner import Runner, TaskHandle
from cryoplan_app.model.case import ImageCase, load_case
from planning_core.imaging.case_sources import resolve_case
from planning_core.planning.plan import Plan
from planning_core.progress import CancelToken, ProgressCallback
from planning_core.training.assessment import optimize_reference
from planning_core.training.attempts import AttemptRecord
from planning_core.training.database import open_library
from planning_core.training.history import (
    CaseBest,
    best_per_case,
    history_plot_png,
    trainee_history,
)
from planning_core.training.library import (
    LibraryCase,
    ensure_sample_cases,
    get_case,
    list_cases,
    load_reference_plan,
    utc_now,
)
from planning_core.training.logbook import write_logbook
from planning_core.training.users import ensure_trainee, list_trainees


@dataclass(frozen=True)
class PracticeChoices:
    """What a practice can be started with: the library's cases and known trainees."""

    cases: tuple[LibraryCase, ...]
    trainees: tuple[str, ...]


@dataclass(frozen=True)
class TraineeRecord:
    """A trainee's attempts (oldest first), best score per case and score plot (PNG bytes)."""

    trainee: str
    attempts: tuple[AttemptRecord, ...]
    bests: tuple[CaseBest, ...]
    plot_png: bytes


def read_practice_choices(
    library_path: Path | None,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> PracticeChoices:
    """The library's cases and trainees; the sample cases are imported into an empty library."""
    with open_library(library_path) as connection:
        if not list_cases(connection):
            ensure_sample_cases(connection, progress=progress, cancel=cancel)
        trainees = tuple(t.name for t in list_trainees(connection))
        return PracticeChoices(list_cases(connection), trainees)


@dataclass(frozen=True, eq=False)
class PracticeCase:
    """A library case opened for practice: its record, hidden reference plan and image."""

    case: LibraryCase
    reference: Plan
    image: ImageCase


def open_practice_case(
    library_path: Path | None,
    trainee: str,
    case_id: str,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> PracticeCase:
    """Open library case ``case_id`` for ``trainee`` (who is added on first use).

    Raises
    ------
    PlanningError
        Its subclasses: an unknown case (the message lists the known ids), a
        missing reference plan, unreadable image files.
    """
    with open_library(library_path) as connection:
        case = get_case(connection, case_id)
        ensure_trainee(connection, trainee, created_at=utc_now())
    reference = load_reference_plan(case)
    source = resolve_case(str(case.image_path), labels_path=case.labels_path)
    return PracticeCase(case, reference, load_case(source, progress=progress, cancel=cancel))


def trainee_names(library_path: Path | None) -> tuple[str, ...]:
    """The names of the library's trainees, by name."""
    with open_library(library_path) as connection:
        return tuple(t.name for t in list_trainees(connection))


def trainee_record(library_path: Path | None, trainee: str) -> TraineeRecord:
    """``trainee``'s attempts, best per case and the plot of their scores."""
    with open_library(library_path) as connection:
        attempts = tuple(trainee_history(connection, trainee))
    return TraineeRecord(
        trainee, attempts, best_per_case(attempts), history_plot_png(attempts, trainee=trainee)
    )


class LibraryLogic:
    """Runs the training library's slow work on ``runner``."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def read_choices(
        self, library_path: Path | None, *, on_done: Callable[[PracticeChoices], None]
    ) -> TaskHandle:
        """Read the cases and trainees (see :func:`read_practice_choices`) in the background."""
        return self.runner.submit(
            "Reading the case library",
            lambda progress, cancel: read_practice_choices(
                library_path, progress=progress, cancel=cancel
            ),
            on_done=on_done,
            key="library",
        )

    def open_practice(
        self,
        library_path: Path | None,
        trainee: str,
        case_id: str,
        *,
        on_done: Callable[[PracticeCase], None],
    ) -> TaskHandle:
        """Open case ``case_id`` for ``trainee`` in the background (:func:`open_practice_case`)."""
        return self.runner.submit(
            f"Opening practice case {case_id}",
            lambda progress, cancel: open_practice_case(
                library_path, trainee, case_id, progress=progress, cancel=cancel
            ),
            on_done=on_done,
            key="load",
        )

    def make_reference(
        self,
        library_path: Path | None,
        case_id: str,
        *,
        on_done: Callable[[LibraryCase], None],
    ) -> TaskHandle:
        """Let the optimizer make case ``case_id``'s reference plan in the background."""

        def work(progress: ProgressCallback, cancel: CancelToken) -> LibraryCase:
            with open_library(library_path) as connection:
                return optimize_reference(connection, case_id, progress=progress, cancel=cancel)

        return self.runner.submit(
            f"Making the reference plan of {case_id}", work, on_done=on_done, key="practice"
        )

    def export_logbook(
        self,
        library_path: Path | None,
        trainee: str,
        path: Path,
        *,
        on_done: Callable[[Path], None],
    ) -> TaskHandle:
        """Write ``trainee``'s logbook PDF to ``path`` in the background."""

        def work(progress: ProgressCallback, cancel: CancelToken) -> Path:
            progress(0.0, f"Writing the logbook of {trainee}")
            with open_library(library_path) as connection:
                return write_logbook(connection, trainee, path)

        return self.runner.submit(
            "Writing the practice logbook", work, on_done=on_done, key="logbook"
        )
