"""Evaluate a plan when its results cannot be used, then write its report: one path for all callers.

``cryoplan report``, ``cryoplan export`` and the desktop application's
File ▸ Export report / DICOM all come through here, so that a report's numbers
always come from the same evaluation (the verification grid, 1 mm by default)
and a report never shows an old iceball or blank numbers.
:func:`fresh_dose` evaluates (or reuses a simulation that is still valid);
:func:`report_plan` adds the PDF.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from planning_core.errors import ReportError
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.evaluate import SIMULATION_MARGIN_MM, evaluate_plan
from planning_core.planning.plan import Plan
from planning_core.progress import CancelToken, ProgressCallback, sub_progress
from planning_core.report.build import ReportOutput, build_report
from planning_core.report.slices import DoseField
from planning_core.thermal.probes import ProbeLibrary
from planning_core.thermal.result import SimulationResult

#: Grid of the evaluation behind a report (mm): the core's verification grid.
REPORT_GRID_MM = 1.0
#: Share of the progress range that a re-evaluation takes before the report's figures.
_EVALUATION_SHARE = 0.6


@dataclass(frozen=True, eq=False)
class FreshDose:
    """A plan with fresh metrics and the lethal-dose field they come from.

    Attributes
    ----------
    plan : Plan
        The plan; its metrics are fresh for its inputs.
    dose : DoseField
        Minimum temperature reached, on the thermal grid.
    recomputed : bool
        True when the plan was evaluated for this call (its warnings then travel in
        ``plan.warnings``).
    """

    plan: Plan
    dose: DoseField
    recomputed: bool


@dataclass(frozen=True, eq=False)
class PlanReport:
    """A written report with the evaluation behind it (DICOM export reuses both)."""

    plan: Plan
    dose: DoseField
    output: ReportOutput
    recomputed: bool


def simulation_usable(plan: Plan, simulation: SimulationResult | None) -> bool:
    """True when ``simulation`` may stand for ``plan``: present, and the plan's metrics fresh."""
    return simulation is not None and not plan.metrics_stale()


def fresh_dose(
    plan: Plan,
    volume: Volume,
    label_map: LabelMap,
    *,
    simulation: SimulationResult | None = None,
    spacing_mm: float = REPORT_GRID_MM,
    box_margin_mm: float = SIMULATION_MARGIN_MM,
    probe_library: ProbeLibrary | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> FreshDose:
    """``plan`` with fresh metrics and its dose: ``simulation`` when usable, else a new evaluation.

    Parameters
    ----------
    plan : Plan
        The plan to report.
    volume, label_map : Volume, LabelMap
        Planning image and labels on one grid.
    simulation : SimulationResult, optional
        A simulation of ``plan`` that is still valid (its file fields, unchanged);
        used only when the plan's metrics are fresh too. Otherwise the plan is
        evaluated on a ``spacing_mm`` grid.
    spacing_mm : float
        Simulation grid spacing of a re-evaluation (``--spacing-mm``).
    box_margin_mm : float
        Simulation box margin around the probes of a re-evaluation (``--box-margin-mm``).
    probe_library : ProbeLibrary, optional
        The probe models; the packaged library by default.
    progress, cancel
        Progress callback and cancel token.

    Raises
    ------
    ReportError
        When the plan has no probes.
    """
    if not plan.probes:
        raise ReportError("the plan has no probes: add probes or run the optimizer first.")
    if simulation_usable(plan, simulation):
        thermal, recomputed = simulation, False
    else:
        evaluation = evaluate_plan(
            plan,
            volume,
            label_map,
            spacing_mm=spacing_mm,
            box_margin_mm=box_margin_mm,
            probe_library=probe_library,
            progress=progress,
            cancel=cancel,
        )
        plan, thermal, recomputed = evaluation.plan, evaluation.simulation, True
    dose = DoseField(thermal.min_temperature_c, thermal.geometry, thermal.body_temperature_c)
    return FreshDose(plan, dose, recomputed)


def report_plan(
    plan: Plan,
    volume: Volume,
    label_map: LabelMap,
    *,
    out_path: str | Path,
    simulation: SimulationResult | None = None,
    spacing_mm: float = REPORT_GRID_MM,
    box_margin_mm: float = SIMULATION_MARGIN_MM,
    probe_library: ProbeLibrary | None = None,
    warnings: tuple[str, ...] = (),
    deidentify: bool = False,
    planned_by: str | None = None,
    approved_by: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> PlanReport:
    """Evaluate ``plan`` unless ``simulation`` is still valid (:func:`fresh_dose`); write its PDF.

    ``warnings`` (loading the plan's files, a re-evaluation's reason) are listed
    after the plan's own; ``deidentify``, ``planned_by`` and ``approved_by`` are
    those of :func:`~planning_core.report.build.build_report`. The other
    parameters are :func:`fresh_dose`'s.

    Raises
    ------
    ReportError
        When the plan has no probes.
    """
    split = 0.0 if simulation_usable(plan, simulation) else _EVALUATION_SHARE
    fresh = fresh_dose(
        plan,
        volume,
        label_map,
        simulation=simulation,
        spacing_mm=spacing_mm,
        box_margin_mm=box_margin_mm,
        probe_library=probe_library,
        progress=sub_progress(progress, 0.0, split),
        cancel=cancel,
    )
    output = build_report(
        fresh.plan,
        volume,
        label_map,
        dose=fresh.dose,
        out_path=out_path,
        deidentify=deidentify,
        warnings=warnings,
        planned_by=planned_by,
        approved_by=approved_by,
        progress=sub_progress(progress, split, 1.0),
        cancel=cancel,
    )
    return PlanReport(fresh.plan, fresh.dose, output, fresh.recomputed)
