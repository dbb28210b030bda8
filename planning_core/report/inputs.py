"""Everything a report or export needs from a plan file, recomputing what is missing or stale.

A plan file names its image, label map and simulation fields. The image must be
the one the plan was made on (content hash); metrics and fields that are
missing, stale or altered are recomputed with a full evaluation, and the report
says so: a report never shows an old iceball or blank numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from planning_core.errors import ReportError
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.case_files import load_plan_case
from planning_core.planning.evaluate import SIMULATION_MARGIN_MM, evaluate_plan
from planning_core.planning.plan import Plan
from planning_core.planning.plan_json import load_plan
from planning_core.progress import CancelToken, ProgressCallback, sub_progress
from planning_core.report.slices import DoseField


@dataclass(frozen=True, eq=False)
class ReportInputs:
    """A plan with fresh metrics, its image, labels and lethal-dose field.

    Attributes
    ----------
    plan : Plan
        The plan; its metrics are fresh (recomputed when they were not).
    plan_path : Path
        The plan file.
    volume, label_map : Volume, LabelMap
        Planning image and labels.
    dose : DoseField
        Minimum temperature reached, on the thermal grid.
    recomputed : bool
        True when metrics and fields were recomputed for this report.
    warnings : tuple of str
        What was missing or stale; the warnings of a new evaluation travel in
        ``plan.warnings``.
    """

    plan: Plan
    plan_path: Path
    volume: Volume
    label_map: LabelMap
    dose: DoseField
    recomputed: bool
    warnings: tuple[str, ...] = ()


def load_report_inputs(
    plan_path: str | Path,
    *,
    spacing_mm: float = 1.0,
    box_margin_mm: float = SIMULATION_MARGIN_MM,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ReportInputs:
    """Load a plan file and its case; re-evaluate the plan when its results cannot be used.

    Parameters
    ----------
    plan_path : path
        The plan file (``*.cryoplan.json``).
    spacing_mm : float
        Simulation grid spacing for a re-evaluation.
    box_margin_mm : float
        Simulation box margin around the probes for a re-evaluation.
    progress, cancel
        Progress callback and cancel token.

    Raises
    ------
    PlanFileError
        When the plan, its image or its label map is missing, unreadable, or the
        image differs from the one the plan was made on.
    ReportError
        When the plan has no probes.
    """
    plan_path = Path(plan_path)
    plan = load_plan(plan_path)
    if not plan.probes:
        raise ReportError(f"{plan_path}: the plan has no probes; there is nothing to report.")
    if progress is not None:
        progress(0.0, "Loading the planning image")
    case = load_plan_case(plan, plan_path=plan_path)
    if cancel is not None:
        cancel.raise_if_cancelled()
    warnings = list(case.warnings)
    if case.thermal is not None and not plan.metrics_stale():
        thermal = case.thermal
        recomputed = False
    else:
        reason = (
            "the plan had no metrics"
            if plan.metrics is None
            else "the plan's metrics were stale"
            if plan.metrics_stale()
            else "the simulation fields were not available"
        )
        warnings.append(f"Metrics and temperatures were recomputed for this report ({reason}).")
        evaluation = evaluate_plan(
            plan,
            case.volume,
            case.label_map,
            spacing_mm=spacing_mm,
            box_margin_mm=box_margin_mm,
            progress=sub_progress(progress, 0.1, 1.0),
            cancel=cancel,
        )
        plan, thermal, recomputed = evaluation.plan, evaluation.simulation, True
    dose = DoseField(thermal.min_temperature_c, thermal.geometry, thermal.body_temperature_c)
    return ReportInputs(
        plan, plan_path, case.volume, case.label_map, dose, recomputed, tuple(warnings)
    )
