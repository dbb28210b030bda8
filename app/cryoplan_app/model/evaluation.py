"""The two thermal computations the application runs in workers: full evaluation and drag preview.

:func:`evaluate_for_display` runs :func:`planning_core.planning.evaluate.evaluate_plan`
(full simulation and every metric) and packs the result for the session.
:func:`preview_for_display` combines cached single-probe templates
(:func:`planning_core.thermal.preview.preview_min_field`), fast enough to follow a
dragged probe; it is marked approximate and never feeds metrics.
:func:`warm_preview` builds those templates ahead of the first drag.
"""

from __future__ import annotations

from cryoplan_app.model.plan_state import (
    InputsKey,
    PlanResults,
    TemperatureField,
    simulation_results,
)
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.evaluate import evaluate_plan, placed_probes
from planning_core.planning.plan import Plan
from planning_core.progress import CancelToken, ProgressCallback
from planning_core.thermal.preview import preview_min_field, probe_template
from planning_core.thermal.probes import ProbeLibrary

#: Grid of the interactive full evaluation; 1 mm is the reporting grid of the core, 2 mm
#: keeps the refresh after a drag within seconds while staying within about a millimetre.
DISPLAY_SPACING_MM = 2.0
#: Grid of the drag preview: the display grid; the templates make it milliseconds.
PREVIEW_SPACING_MM = 2.0
#: Tissue of the preview's homogeneous templates (the solver's default medium).
PREVIEW_MEDIUM = "soft_tissue"
#: Body temperature of the preview templates (°C).
PREVIEW_BODY_TEMPERATURE_C = 37.0


def evaluate_for_display(
    plan: Plan,
    volume: Volume,
    labels: LabelMap,
    *,
    inputs: InputsKey,
    probe_library: ProbeLibrary,
    spacing_mm: float = DISPLAY_SPACING_MM,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> PlanResults:
    """Full simulation and metrics of ``plan``, stamped with the ``inputs`` they belong to."""
    evaluation = evaluate_plan(
        plan,
        volume,
        labels,
        spacing_mm=spacing_mm,
        probe_library=probe_library,
        progress=progress,
        cancel=cancel,
    )
    return simulation_results(inputs, evaluation.simulation, evaluation.metrics)


def preview_for_display(
    plan: Plan,
    *,
    probe_library: ProbeLibrary,
) -> TemperatureField:
    """An approximate lowest-temperature field of ``plan`` from single-probe templates.

    Tissue classes, vessels and per-probe phases are ignored (homogeneous
    :data:`PREVIEW_MEDIUM`); the first call per probe model and protocol builds
    a template (about half a second), later ones take milliseconds.
    """
    preview = preview_min_field(
        placed_probes(plan.probes, probe_library),
        plan.parsed_protocol(),
        spacing_mm=PREVIEW_SPACING_MM,
        medium=PREVIEW_MEDIUM,
        body_temperature_c=PREVIEW_BODY_TEMPERATURE_C,
    )
    return TemperatureField(preview.min_temperature_c, preview.geometry, approximate=True)


def warm_preview(plan: Plan, *, probe_library: ProbeLibrary) -> None:
    """Build the preview templates of ``plan``'s probe models so that a first drag is fast."""
    protocol = plan.parsed_protocol()
    for probe in placed_probes(plan.probes, probe_library):
        probe_template(probe.model, protocol, PREVIEW_MEDIUM, PREVIEW_BODY_TEMPERATURE_C)
