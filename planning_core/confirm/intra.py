"""Intra-procedural confirmation: the CT taken during the freeze against the plan.

In order: register the intra-procedural CT to the planning CT
(:mod:`.registration`), find the metal shafts on it (:mod:`.probe_detection`),
map them into the planning frame and match them to the plan's probes
(:mod:`.probe_matching`), re-simulate the probes as placed from the start of
the protocol (:mod:`.as_placed`), segment the ice seen on the CT and compare it
with the predicted 0 °C edge at the elapsed time (:mod:`.visible_ice`), and
weigh proceeding, freezing longer or adding a probe (:mod:`.recommendation`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from planning_core.confirm.as_placed import (
    AS_PLACED_SPACING_MM,
    as_placed_plan,
    check_elapsed,
    simulate_placed,
)
from planning_core.confirm.host_organ import host_organ_mask
from planning_core.confirm.probe_detection import (
    METAL_THRESHOLD_HU,
    DetectedShaft,
    detect_probe_shafts,
)
from planning_core.confirm.probe_matching import PlacedProbeReport, match_placed_probes
from planning_core.confirm.recommendation import Recommendation, recommend
from planning_core.confirm.registration import Registration, register_follow_up
from planning_core.confirm.visible_ice import (
    IceComparison,
    ShaftSegment,
    VisibleIce,
    compare_with_prediction,
    segment_visible_ice,
)
from planning_core.errors import ConfirmationError
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.plan import Plan
from planning_core.progress import CancelToken, ProgressCallback, sub_progress
from planning_core.thermal.probes import load_probe_library
from planning_core.thermal.result import SimulationResult


@dataclass(frozen=True, eq=False)
class IntraConfirmation:
    """Everything the intra-procedural confirmation found and predicts.

    Attributes
    ----------
    registration : Registration
        Intra-procedural CT to planning CT.
    shafts : tuple of DetectedShaft
        Shafts found, in the intra-procedural CT's frame.
    placed : tuple of PlacedProbeReport
        The same probes in the planning frame, matched to the plan's.
    missing : tuple of str
        Labels of plan probes no detected shaft matched.
    elapsed_s : float
        Time since the protocol started when the CT was taken.
    as_placed : Plan
        The plan with the detected probes (planning frame).
    prediction : SimulationResult
        Its simulation over the whole protocol, the field at ``elapsed_s`` recorded.
    visible_ice : VisibleIce
    ice_comparison : IceComparison or None
        ``None`` when no ice is seen (or none predicted) at the elapsed time.
    recommendation : Recommendation
    warnings : tuple of str
    wall_s : float
    """

    registration: Registration
    shafts: tuple[DetectedShaft, ...]
    placed: tuple[PlacedProbeReport, ...]
    missing: tuple[str, ...]
    elapsed_s: float
    as_placed: Plan
    prediction: SimulationResult
    visible_ice: VisibleIce
    ice_comparison: IceComparison | None
    recommendation: Recommendation
    warnings: tuple[str, ...]
    wall_s: float

    def to_json(self) -> dict[str, object]:
        comparison = self.ice_comparison
        visible: dict[str, object] = {
            "volume_ml": self.visible_ice.volume_ml,
            "ice_hu": _finite(self.visible_ice.ice_hu),
            "tissue_hu": _finite(self.visible_ice.tissue_hu),
            "far_side_tissue_hu": _finite(self.visible_ice.far_tissue_hu),
            "note": self.visible_ice.note or None,
            "comparison": None if comparison is None else comparison.to_json(),
            "surface_distance_to_prediction_mm": (
                None if comparison is None else comparison.mean_signed_mm
            ),
        }
        if comparison is None:
            visible["comparison_note"] = "not assessed: no visible or no predicted ice"
        return {
            "elapsed_s": self.elapsed_s,
            "registration": self.registration.to_json(),
            "detected_probes": [report.to_json() for report in self.placed],
            "plan_probes_not_found": list(self.missing),
            "visible_ice": visible,
            "as_placed_protocol": self.as_placed.protocol,
            "recommendation": self.recommendation.to_json(),
            "warnings": list(self.warnings),
            "wall_s": self.wall_s,
        }


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def freezing_segments(
    plan: Plan, shafts: tuple[DetectedShaft, ...], placed: tuple[PlacedProbeReport, ...]
) -> tuple[ShaftSegment, ...]:
    """The freezing segment of each detected shaft (its CT's frame), from its probe model.

    ``shafts`` and ``placed`` are in the same order.
    """
    library = load_probe_library()
    segments = []
    for shaft, report in zip(shafts, placed, strict=True):
        index = 0 if report.matched_plan_probe is None else report.matched_plan_probe
        model = library.get(plan.probes[index].model_id)
        tip = np.asarray(shaft.tip_lps_mm)
        outward = -shaft.direction_lps
        start = tip + outward * model.tip_offset_mm
        segments.append(ShaftSegment(start, start + outward * model.active_length_mm))
    return tuple(segments)


def confirm_intra(
    plan: Plan,
    planning: Volume,
    label_map: LabelMap,
    intra: Volume,
    *,
    elapsed_s: float,
    registration: Registration | None = None,
    fiducials: np.ndarray | None = None,
    deformable: bool = True,
    metal_threshold_hu: float = METAL_THRESHOLD_HU,
    spacing_mm: float = AS_PLACED_SPACING_MM,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> IntraConfirmation:
    """Check the probes placed and the ice seen during the freeze against the plan.

    Parameters
    ----------
    plan : Plan
        The plan followed (its probes, protocol and settings).
    planning, label_map : Volume, LabelMap
        The planning CT and its labels (tumor, organs).
    intra : Volume
        The CT taken during the freeze, probes in place.
    elapsed_s : float
        Time since the protocol started when ``intra`` was taken.
    registration : Registration, optional
        A registration already made (e.g. corrected by hand); found otherwise.
    fiducials : array_like, shape (n, 2, 3), optional
        Point pairs (planning, intra-procedural) for a fiducial registration.
    deformable : bool
        Add the organ-restricted deformable stage to the registration.
    metal_threshold_hu : float
        Voxels at or above it are metal (``--metal-hu``).
    spacing_mm : float
        Grid of the as-placed simulations.
    progress, cancel
        Progress callback and cancel token.

    Raises
    ------
    ConfirmationError
        When no shaft is found, or none matches the plan.
    RegistrationError
        When the registration is refused.
    """
    started = time.perf_counter()
    if not plan.probes:
        raise ConfirmationError("the plan has no probes; there is nothing placed to confirm.")
    check_elapsed(plan.parsed_protocol(), elapsed_s)
    if intra.modality != "CT":
        raise ConfirmationError(
            f"the intra-procedural series is {intra.modality!r}, not CT; give the CT taken "
            "during the freeze with --intra."
        )
    warnings: list[str] = list(intra.warnings)
    # Shafts first: an intra-procedural CT without probes is refused before registering.
    shafts = detect_probe_shafts(
        intra, metal_threshold_hu=metal_threshold_hu,
        progress=sub_progress(progress, 0.0, 0.05), cancel=cancel,
    )  # fmt: skip
    if not shafts:
        raise ConfirmationError(
            f"no probe shaft (metal at or above {metal_threshold_hu:g} HU, at least 15 mm "
            "long) was found on the intra-procedural series; check that --intra names the CT "
            "taken with the probes in place, or lower --metal-hu."
        )
    if registration is None:
        # The deformable stage follows the organ that holds the tumor (its side only); the
        # tumor's surroundings, changed by probes and ice, are left out of the quality figure.
        tumor = label_map.mask(plan.target_label)
        organ = host_organ_mask(plan, label_map)
        registration = register_follow_up(
            planning, intra, organ_mask=organ, target_mask=tumor if tumor.any() else None,
            fiducials=fiducials, deformable=deformable,
            progress=sub_progress(progress, 0.05, 0.4), cancel=cancel,
        )  # fmt: skip
    registration.require_usable()
    warnings.extend(registration.warnings)
    if registration.quality.verdict == "warning":
        warnings.append(registration.quality.message)
    tips = registration.follow_up_to_planning_lps(np.array([s.tip_lps_mm for s in shafts]))
    entries = registration.follow_up_to_planning_lps(np.array([s.entry_lps_mm for s in shafts]))
    placed = match_placed_probes(plan, list(tips), list(entries), [s.entry_on_skin for s in shafts])
    # Plan order first, then probes the plan lacks; shafts and reports stay paired.
    order = sorted(
        range(len(shafts)),
        key=lambda d: len(plan.probes) if placed[d].matched_plan_probe is None
        else placed[d].matched_plan_probe,
    )  # fmt: skip
    shafts = tuple(shafts[d] for d in order)
    placed = tuple(placed[d] for d in order)
    if all(report.matched_plan_probe is None for report in placed):
        raise ConfirmationError(
            f"{len(shafts)} probe shaft(s) were found but none lies near a probe of the plan; "
            "check that --intra belongs to this plan's patient and procedure (or that the "
            "registration is right: give --fiducials)."
        )
    matched = {r.matched_plan_probe for r in placed}
    missing = tuple(
        p.label or f"probe {i + 1}" for i, p in enumerate(plan.probes) if i not in matched
    )
    if missing:
        warnings.append(
            f"plan probe(s) {', '.join(missing)} not found on the intra-procedural CT; "
            "the prediction runs without them."
        )
    extra = sum(r.matched_plan_probe is None for r in placed)
    if extra:
        warnings.append(
            f"{extra} detected probe(s) match no plan probe; they are simulated as "
            f"{plan.probes[0].model_id}."
        )
    as_placed = as_placed_plan(
        plan,
        [(r.matched_plan_probe, np.asarray(r.tip_lps_mm), np.asarray(r.entry_lps_mm))
         for r in placed],
    )  # fmt: skip
    prediction = simulate_placed(
        as_placed, planning, label_map, elapsed_s=elapsed_s, spacing_mm=spacing_mm,
        progress=sub_progress(progress, 0.4, 0.6), cancel=cancel,
    )  # fmt: skip
    warnings.extend(prediction.warnings)
    if progress is not None:
        progress(0.6, "Segmenting the visible ice")
    visible = segment_visible_ice(
        intra,
        freezing_segments(plan, shafts, placed),
        # The tissue before the freeze, through the registration.
        before_hu=lambda points: planning.values_at_lps(
            registration.follow_up_to_planning_lps(points)
        ),
    )
    comparison = compare_with_prediction(
        visible,
        registration.follow_up_to_planning_lps,
        prediction.snapshots_c[float(elapsed_s)],
        prediction.geometry,
        body_temperature_c=prediction.body_temperature_c,
    )
    recommendation = recommend(
        as_placed, planning, label_map, elapsed_s=elapsed_s,
        proceed_dose_c=prediction.min_temperature_c, proceed_geometry=prediction.geometry,
        spacing_mm=spacing_mm, progress=sub_progress(progress, 0.65, 1.0), cancel=cancel,
    )  # fmt: skip
    if progress is not None:
        progress(1.0, "Confirmation done")
    return IntraConfirmation(
        registration=registration,
        shafts=shafts,
        placed=placed,
        missing=missing,
        elapsed_s=float(elapsed_s),
        as_placed=as_placed,
        prediction=prediction,
        visible_ice=visible,
        ice_comparison=comparison,
        recommendation=recommendation,
        warnings=tuple(dict.fromkeys(warnings)),
        wall_s=time.perf_counter() - started,
    )
