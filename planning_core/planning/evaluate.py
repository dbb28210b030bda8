"""Evaluate a plan: full thermal simulation of its probes, then every plan metric.

This is the one place where a plan's reported numbers come from: the optimizer
verifies its final plan through it, ``cryoplan evaluate`` re-runs it for an
edited plan, and the application calls it after probes were dragged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from planning_core import __version__
from planning_core.errors import InvalidParameterError
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.body import body_mask_from_ct
from planning_core.planning.metrics import compute_plan_metrics
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.results import PlanMetrics
from planning_core.planning.trajectory import TrajectoryContext
from planning_core.progress import CancelToken, ProgressCallback, sub_progress
from planning_core.thermal.probes import PlacedProbe, ProbeLibrary, ProbeModel, load_probe_library
from planning_core.thermal.protection import apply_protection
from planning_core.thermal.result import SimulationResult
from planning_core.thermal.setup import build_setup
from planning_core.thermal.solver import simulate

#: Margin of the simulation box around the freezing segments. With the thermal engine's
#: default (30 mm) long double freezes of several probes warm the held box faces beyond
#: its drift warning; 35 mm keeps the reported iceball clear of them.
SIMULATION_MARGIN_MM = 35.0
#: Entry points closer than this beyond the freezing segment are moved out along the shaft.
ENTRY_CLEARANCE_MM = 5.0


@dataclass(frozen=True, eq=False)
class PlanEvaluation:
    """A plan with fresh metrics and the simulation they come from.

    Attributes
    ----------
    plan : Plan
        The evaluated plan, its ``metrics`` filled (fresh for its inputs).
    metrics : PlanMetrics
        The same metrics.
    simulation : SimulationResult
        The full simulation (minimum-temperature field on its own grid).
    warnings : tuple of str
        Tolerable problems of this simulation (from the solver or the set-up);
        ``plan.warnings`` holds them too, with those of the image and earlier steps.
    """

    plan: Plan
    metrics: PlanMetrics
    simulation: SimulationResult
    warnings: tuple[str, ...] = ()


def case_body_mask(volume: Volume | None, label_map: LabelMap) -> NDArray[np.bool_]:
    """The patient's body on the label grid.

    A ``body`` label wins; otherwise every labelled voxel counts, joined for a
    CT by the intensity outline (:func:`body_mask_from_ct`) so that tissue
    without a label still lies in the body.
    """
    labelled = label_map.voxels != 0
    if label_map.has("body") or volume is None or volume.modality != "CT":
        return labelled
    volume.geometry.require_match(label_map.geometry, what="image and label map")
    return labelled | body_mask_from_ct(volume)


def probe_model(library: ProbeLibrary | Mapping[str, ProbeModel], model_id: str) -> ProbeModel:
    """The model ``model_id`` from a library or a mapping of models by id."""
    if isinstance(library, ProbeLibrary):
        return library.get(model_id)
    try:
        return library[model_id]
    except KeyError:
        raise InvalidParameterError(
            f"unknown probe model {model_id!r}; known: {', '.join(library)}."
        ) from None


def placed_probes(
    probes: tuple[PlannedProbe, ...], library: ProbeLibrary | Mapping[str, ProbeModel]
) -> tuple[PlacedProbe, ...]:
    """Thermal-engine probes for planned probes, looking their models up in ``library``.

    An entry point lying within the freezing segment is moved out along the
    shaft; only the direction of a planned probe matters to the solver.
    """
    placed = []
    for probe in probes:
        model = probe_model(library, probe.model_id)
        tip = np.asarray(probe.tip_lps_mm)
        reach = model.tip_offset_mm + model.active_length_mm + ENTRY_CLEARANCE_MM
        length = max(float(np.linalg.norm(np.subtract(probe.entry_lps_mm, tip))), reach)
        placed.append(PlacedProbe(model, tip, tip - probe.direction_lps * length))
    return tuple(placed)


def simulate_plan(
    plan: Plan,
    volume: Volume | None,
    label_map: LabelMap,
    *,
    spacing_mm: float = 1.0,
    probe_library: ProbeLibrary | Mapping[str, ProbeModel] | None = None,
    margin_mm: float = SIMULATION_MARGIN_MM,
    threads: int = 1,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SimulationResult:
    """Run the plan's protocol with its probes over the case's tissues and protection.

    Parameters
    ----------
    plan : Plan
        Probes and protocol.
    volume : Volume, optional
        The image (CT voxels without a label are classed by Hounsfield units).
    label_map : LabelMap
        Tissues by label.
    spacing_mm : float
        Simulation grid spacing.
    probe_library : ProbeLibrary or mapping, optional
        Where probe models are looked up; the packaged library by default.
    margin_mm : float
        Margin of the simulation box around the freezing segments.
    threads : int
        Threads sharing the simulation (slabs of planes, see
        :func:`planning_core.thermal.solver.simulate`).
    progress, cancel
        Progress callback and cancel token.
    """
    if not plan.probes:
        raise InvalidParameterError("the plan has no probes; add a probe before simulating.")
    library = load_probe_library() if probe_library is None else probe_library
    probes = placed_probes(plan.probes, library)
    setup = build_setup(
        probes, volume=volume, labels=label_map, spacing_mm=spacing_mm, margin_mm=margin_mm
    )
    if plan.protection:
        # Hydrodissection fluid and skin packs are part of the tissue the ice meets.
        setup = apply_protection(setup, [item.measure for item in plan.protection])
    return simulate(
        setup,
        plan.parsed_protocol(),
        isotherms_c=plan.settings.metric_isotherms_c(),
        threads=threads,
        progress=progress,
        cancel=cancel,
    )


def evaluate_plan(
    plan: Plan,
    volume: Volume | None,
    label_map: LabelMap,
    *,
    spacing_mm: float = 1.0,
    box_margin_mm: float = SIMULATION_MARGIN_MM,
    probe_library: ProbeLibrary | Mapping[str, ProbeModel] | None = None,
    context: TrajectoryContext | None = None,
    body_mask: NDArray[np.bool_] | None = None,
    threads: int = 1,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> PlanEvaluation:
    """Simulate ``plan`` in full and compute all its metrics, path checks included.

    Parameters
    ----------
    plan : Plan
        The plan (its current metrics, if any, are replaced).
    volume : Volume, optional
        The planning image; used for tissue classes and the body outline.
    label_map : LabelMap
        Tumor, organs at risk and anatomy on the image grid.
    spacing_mm : float
        Simulation grid spacing (1 mm for reported numbers).
    box_margin_mm : float
        Margin of the simulation box around the freezing segments (the command
        line's ``--box-margin-mm``); the solver warns when it is too small.
    probe_library : ProbeLibrary or mapping, optional
        Probe models by id; the packaged library by default.
    context : TrajectoryContext, optional
        Prepared path analysis (reuse it across evaluations of one case).
    body_mask : ndarray of bool, optional
        Body outline for a new context; :func:`case_body_mask` by default.
    threads : int
        Threads sharing the simulation.
    progress, cancel
        Progress callback and cancel token.

    Returns
    -------
    PlanEvaluation
        ``plan`` with fresh metrics, the metrics and the simulation; its
        warnings of the image and of this simulation replace earlier ones.
    """
    if volume is not None:
        volume.geometry.require_match(label_map.geometry, what="image and label map")
    if not label_map.has(plan.target_label):
        raise InvalidParameterError(
            f"the label map has no {plan.target_label!r} label; segment the tumor first."
        )
    simulation = simulate_plan(
        plan,
        volume,
        label_map,
        spacing_mm=spacing_mm,
        probe_library=probe_library,
        margin_mm=box_margin_mm,
        threads=threads,
        progress=sub_progress(progress, 0.0, 0.8),
        cancel=cancel,
    )
    if context is None:
        if body_mask is None:
            body_mask = case_body_mask(volume, label_map)
        context = TrajectoryContext(
            label_map, plan.settings, body_mask=body_mask, target_label=plan.target_label,
            volume=volume,
        )  # fmt: skip
    metrics = compute_plan_metrics(
        plan,
        label_map,
        simulation.min_temperature_c,
        simulation.geometry,
        computed_with=f"cryoplan-thermal {__version__} ({spacing_mm:g} mm grid)",
        context=context,
        progress=sub_progress(progress, 0.8, 1.0),
        cancel=cancel,
    )
    evaluated = plan.with_metrics(metrics).with_step_warnings("simulation", simulation.warnings)
    if volume is not None:
        # On an image without Hounsfield units, say that paths were not checked on it.
        unchecked = () if context.hazards is None or context.hazards.assessed else (
            context.hazards.note,
        )  # fmt: skip
        evaluated = evaluated.with_step_warnings("image", (*volume.warnings, *unchecked))
    return PlanEvaluation(
        plan=evaluated,
        metrics=metrics,
        simulation=simulation,
        warnings=simulation.warnings,
    )
