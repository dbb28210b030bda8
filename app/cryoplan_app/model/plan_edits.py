"""Pure helpers of plan editing: the plan a case starts with, checked probe points and indices.

:class:`~cryoplan_app.model.plan_document.PlanDocument` makes its undoable
edits with these; they hold no state and emit nothing. No Qt, no VTK.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from cryoplan_app.model.case import ImageCase
from cryoplan_app.model.probe_geometry import ProbeParts, probe_parts
from planning_core.errors import InvalidParameterError
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.settings import TABLE_DIRECTION_LPS, PlanSettings
from planning_core.thermal.probes import ProbeLibrary, ProbeModel


def new_plan_for(case: ImageCase) -> Plan:
    """The empty plan a freshly opened case starts with.

    It references the image, targets the case's first ``target`` label and
    takes the patient position from the image header when it is a known one.
    """
    labels = case.labels
    targets = labels.names_with_role("target") if labels is not None else ()
    position = str(case.volume.metadata.get("patient_position", "") or "").upper()
    settings = PlanSettings(patient_position=position) if position in TABLE_DIRECTION_LPS else None
    return Plan(
        case=case.reference,
        target_label=targets[0] if targets else "tumor",
        settings=settings or PlanSettings(),
    )


def probe_point(value: ArrayLike) -> tuple[float, float, float]:
    """``value`` as an LPS point (mm) of a probe.

    Raises
    ------
    InvalidParameterError
        Unless it is three finite numbers.
    """
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.shape != (3,) or not np.all(np.isfinite(array)):
        raise InvalidParameterError(
            f"a probe point must be three finite LPS mm values, got {value}."
        )
    return (float(array[0]), float(array[1]), float(array[2]))


def check_probe_length(probe: PlannedProbe, model: ProbeModel) -> None:
    """Refuse a probe whose entry lies within the reach of its freezing segment.

    Raises
    ------
    InvalidParameterError
        Naming the distance, the reach and what to do.
    """
    needed = model.tip_offset_mm + model.active_length_mm
    length = math.dist(probe.tip_lps_mm, probe.entry_lps_mm)
    if length < needed:
        raise InvalidParameterError(
            f"probe {probe.label}: the entry lies {length:.1f} mm from the tip but the freezing "
            f"segment of {model.id} reaches {needed:.1f} mm behind the tip; move the entry "
            "farther out."
        )


def probe_at(plan: Plan, index: int) -> PlannedProbe:
    """Probe ``index`` of ``plan``.

    Raises
    ------
    InvalidParameterError
        When there is no such probe.
    """
    probes = plan.probes
    if not (isinstance(index, int | np.integer) and 0 <= index < len(probes)):
        raise InvalidParameterError(
            f"probe index must lie in 0..{len(probes) - 1}, got {index!r}."
            if probes
            else "the plan has no probes; add one first."
        )
    return probes[int(index)]


def next_probe_label(plan: Plan) -> str:
    """``"P<n>"`` with the smallest number no probe of ``plan`` uses."""
    used = {p.label for p in plan.probes}
    number = 1
    while f"P{number}" in used:
        number += 1
    return f"P{number}"


def drawn_probe_parts(plan: Plan, library: ProbeLibrary) -> tuple[ProbeParts, ...]:
    """Tip, entry and freezing segment of every probe of ``plan``, for drawing.

    A probe whose model the library lacks (a plan from another installation)
    is drawn without its freezing segment rather than not at all.
    """
    parts = []
    for probe in plan.probes:
        model = library.models.get(probe.model_id)
        if model is None:
            tip = np.asarray(probe.tip_lps_mm, dtype=np.float64)
            entry = np.asarray(probe.entry_lps_mm, dtype=np.float64)
            parts.append(ProbeParts(probe.label, tip, entry, tip, tip, 0.0))
        else:
            parts.append(probe_parts(probe, model))
    return tuple(parts)
