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
from planning_core.planning.evaluate import SIMULATION_MARGIN_MM
from planning_core.planning.plan import Plan
from planning_core.planning.plan_json import load_plan
from planning_core.progress import CancelToken, ProgressCallback, sub_progress
from planning_core.report.plan_report import fresh_dose, simulation_usable
from planning_core.report.slices import DoseField
from planning_core.thermal.result import SimulationResult


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


@dataclass(frozen=True, eq=False)
class ReportCase:
    """A plan file's plan, image and labels, with its simulation when that is still valid.

    Attributes
    ----------
    plan : Plan
        The plan as saved.
    plan_path : Path
        The plan file.
    volume, label_map : Volume, LabelMap
        Planning image and labels.
    simulation : SimulationResult or None
        The plan's saved simulation fields; ``None`` when they are missing or the
        plan's metrics are stale, so the plan must be evaluated again.
    warnings : tuple of str
        What was missing or stale, the re-evaluation's reason included.
    """

    plan: Plan
    plan_path: Path
    volume: Volume
    label_map: LabelMap
    simulation: SimulationResult | None
    warnings: tuple[str, ...] = ()


def load_report_case(
    plan_path: str | Path,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ReportCase:
    """Load a plan file and its case, keeping its simulation only when it is still valid.

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
    simulation = case.thermal if simulation_usable(plan, case.thermal) else None
    if simulation is None:
        reason = (
            "the plan had no metrics"
            if plan.metrics is None
            else "the plan's metrics were stale"
            if plan.metrics_stale()
            else "the simulation fields were not available"
        )
        warnings.append(f"Metrics and temperatures were recomputed for this report ({reason}).")
    return ReportCase(plan, plan_path, case.volume, case.label_map, simulation, tuple(warnings))


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
    case = load_report_case(plan_path, progress=progress, cancel=cancel)
    fresh = fresh_dose(
        case.plan,
        case.volume,
        case.label_map,
        simulation=case.simulation,
        spacing_mm=spacing_mm,
        box_margin_mm=box_margin_mm,
        progress=sub_progress(progress, 0.1, 1.0),
        cancel=cancel,
    )
    return ReportInputs(
        fresh.plan,
        case.plan_path,
        case.volume,
        case.label_map,
        fresh.dose,
        fresh.recomputed,
        case.warnings,
    )
