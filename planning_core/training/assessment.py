"""Assess a practice attempt: full simulation on the reference's grid, score and feedback.

This is the headless core of the practice mode: the application and
``cryoplan score`` both call :func:`assess_plan`; the reference plan of each
case is evaluated once with :func:`evaluate_reference` and stored in the library.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from planning_core.errors import InfeasiblePlanError, PlanFileError
from planning_core.figures import format_score
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.acceptance import Acceptance, accept_plan
from planning_core.planning.case_reference import CaseReference
from planning_core.planning.evaluate import PlanEvaluation, evaluate_plan
from planning_core.planning.optimizer import optimize_plan
from planning_core.planning.plan import Plan
from planning_core.planning.settings import PlanSettings
from planning_core.progress import CancelToken, ProgressCallback, sub_progress
from planning_core.thermal.probes import ProbeLibrary, ProbeModel
from planning_core.training.library import (
    OPTIMIZER_AUTHOR,
    LibraryCase,
    get_case,
    load_case_data,
    load_reference_plan,
    set_reference_plan,
)
from planning_core.training.scoring import Score, ScoreWeights, score_attempt
from planning_core.training.undertreatment import (
    UndertreatedRegion,
    undertreated_regions,
    undertreated_tumor_mask,
)

#: Simulation grid of reference plans and attempts: coarse enough for feedback within
#: seconds, and the same for both so that the comparison is fair.
DEFAULT_GRID_MM = 2.0


@dataclass(frozen=True, eq=False)
class Assessment:
    """A scored attempt with what the practice view shows.

    Attributes
    ----------
    score : Score
        Total, breakdown and feedback.
    evaluation : PlanEvaluation
        The attempt evaluated (plan with metrics, simulation).
    reference : Plan
        The case's reference plan with its metrics (revealed after submission).
    undertreated : tuple of UndertreatedRegion
        Parts of the tumor above the lethal isotherm, largest first.
    undertreated_surface : ndarray of bool
        Under-treated tumor surface voxels on the image grid (painted red).
    acceptance : Acceptance
        The attempt judged on the case's goals, as every plan is
        (:func:`~planning_core.planning.acceptance.accept_plan`).
    """

    score: Score
    evaluation: PlanEvaluation
    reference: Plan
    undertreated: tuple[UndertreatedRegion, ...]
    undertreated_surface: NDArray[np.bool_]
    acceptance: Acceptance


def attempt_plan_for_case(plan: Plan, reference: Plan, volume: Volume) -> Plan:
    """The trainee's probes and protocol under the reference's target, organs and settings.

    The trainee chooses probes and protocol; margin, lethal isotherm,
    clearances and limits are the case's, so a score cannot be raised by
    relaxing them.

    Raises
    ------
    PlanFileError
        When the plan was made on another image than the case's.
    """
    if plan.case is not None:
        plan.case.require_match(volume, plan_name="the attempt")
    case = reference.case or CaseReference.for_volume(volume)
    return dataclasses.replace(
        plan,
        settings=reference.settings,
        target_label=reference.target_label,
        oar_labels=reference.oar_labels,
        case=case,
        metrics=None,
        thermal_fields_path=None,
        thermal_fields_sha256=None,
    )


def assess_plan(
    case: LibraryCase,
    plan: Plan,
    *,
    volume: Volume | None = None,
    label_map: LabelMap | None = None,
    probe_library: ProbeLibrary | Mapping[str, ProbeModel] | None = None,
    weights: ScoreWeights | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Assessment:
    """Simulate a trainee's plan on a library case and score it against the reference.

    Parameters
    ----------
    case : LibraryCase
        The case; it must have a reference plan.
    plan : Plan
        The trainee's plan (probes and protocol).
    volume, label_map : optional
        The case's image and labels when already loaded (the app has them).
    probe_library : ProbeLibrary or mapping, optional
        Probe models; the packaged library by default.
    weights : ScoreWeights, optional
        Score weights; the documented defaults by default.
    progress, cancel
        Progress callback and cancel token.
    """
    reference = load_reference_plan(case)
    if reference.metrics is None or reference.metrics_stale():
        raise PlanFileError(
            f"{case.reference_plan_path}: the reference plan of case {case.id!r} has no fresh "
            "metrics; set it again with `cryoplan library reference`."
        )
    if volume is None or label_map is None:
        volume, label_map = load_case_data(case)
    attempt = attempt_plan_for_case(plan, reference, volume)
    evaluation = evaluate_plan(
        attempt, volume, label_map,
        spacing_mm=case.reference_grid_mm or DEFAULT_GRID_MM, probe_library=probe_library,
        progress=sub_progress(progress, 0.0, 0.9), cancel=cancel,
    )  # fmt: skip
    simulation = evaluation.simulation
    lethal = attempt.settings.lethal_isotherm_c
    regions = undertreated_regions(
        label_map, simulation.min_temperature_c, simulation.geometry,
        lethal_isotherm_c=lethal, target_label=attempt.target_label,
    )  # fmt: skip
    surface = undertreated_tumor_mask(
        label_map, simulation.min_temperature_c, simulation.geometry,
        lethal_isotherm_c=lethal, target_label=attempt.target_label, surface_only=True,
    )  # fmt: skip
    acceptance = accept_plan(
        evaluation.metrics, attempt.settings, allow_leaving_image=volume.modality == "US"
    )
    score = score_attempt(
        evaluation.metrics,
        reference.metrics,
        probe_labels=[probe.label for probe in attempt.probes],
        undertreated=regions,
        weights=weights,
        acceptance=acceptance,
    )
    if progress is not None:
        progress(1.0, f"Score {format_score(score.total)} / 100")
    return Assessment(score, evaluation, reference, regions, surface, acceptance)


def evaluate_reference(
    connection: sqlite3.Connection,
    case_id: str,
    plan: Plan,
    *,
    author: str,
    spacing_mm: float = DEFAULT_GRID_MM,
    probe_library: ProbeLibrary | Mapping[str, ProbeModel] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> LibraryCase:
    """Evaluate ``plan`` on the case's image and store it as the case's reference plan.

    Parameters
    ----------
    connection : sqlite3.Connection
        The library.
    case_id : str
        The case.
    plan : Plan
        The expert's or the optimizer's plan for this image.
    author : str
        ``"optimizer"`` or the attending's name.
    spacing_mm : float
        Simulation grid; attempts on this case are scored on the same grid.
    probe_library : ProbeLibrary or mapping, optional
        Probe models; the packaged library by default.
    progress, cancel
        Progress callback and cancel token.
    """
    case = get_case(connection, case_id)
    volume, label_map = load_case_data(case)
    if plan.case is not None:
        plan.case.require_match(volume, plan_name="the reference plan")
    # Fields files of the original lie outside the library; attempts are compared on metrics.
    plan = dataclasses.replace(
        plan,
        case=CaseReference.for_volume(volume, description=case.title),
        metrics=None,
        thermal_fields_path=None,
        thermal_fields_sha256=None,
    )
    evaluation = evaluate_plan(
        plan, volume, label_map, spacing_mm=spacing_mm, probe_library=probe_library,
        progress=progress, cancel=cancel,
    )  # fmt: skip
    return set_reference_plan(
        connection, case_id, evaluation.plan, author=author, grid_mm=spacing_mm
    )


def optimize_reference(
    connection: sqlite3.Connection,
    case_id: str,
    *,
    settings: PlanSettings | None = None,
    spacing_mm: float = DEFAULT_GRID_MM,
    probe_library: ProbeLibrary | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> LibraryCase:
    """Let the optimizer plan the case and store its verified plan as the reference.

    The optimizer verifies its plan with a full simulation on ``spacing_mm``,
    the grid attempts are scored on; the robustness analysis is skipped.
    When no plan meets every goal, the optimizer's best partial plan is
    evaluated and stored, since a trainee is compared with what is achievable.

    Parameters
    ----------
    connection : sqlite3.Connection
        The library.
    case_id : str
        The case.
    settings : PlanSettings, optional
        Margin, isotherm, clearances, limits and patient position (defaults otherwise).
    spacing_mm : float
        Verification grid.
    probe_library : ProbeLibrary, optional
        Probe models; the packaged library by default.
    progress, cancel
        Progress callback and cancel token.
    """
    case = get_case(connection, case_id)
    volume, label_map = load_case_data(case)
    reference = CaseReference.for_volume(volume, description=case.title)
    try:
        result = optimize_plan(
            volume, label_map, settings=settings, robustness_samples=0,
            verify_spacing_mm=spacing_mm, case=reference, probe_library=probe_library,
            progress=sub_progress(progress, 0.0, 0.95), cancel=cancel,
        )  # fmt: skip
    except InfeasiblePlanError as error:
        partial = error.best_partial_plan
        if not isinstance(partial, Plan) or not partial.probes:
            raise
        return evaluate_reference(
            connection, case_id, partial, author=OPTIMIZER_AUTHOR, spacing_mm=spacing_mm,
            probe_library=probe_library, progress=sub_progress(progress, 0.95, 1.0),
            cancel=cancel,
        )  # fmt: skip
    return set_reference_plan(
        connection, case_id, result.plan, author=OPTIMIZER_AUTHOR, grid_mm=spacing_mm
    )
