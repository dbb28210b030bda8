"""``cryoplan plan CASE``: optimize probes and freeze for a tumor, verify, save the plan."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from planning_core.commands.common import (
    StderrProgress,
    add_box_margin_argument,
    add_json_flag,
    add_robustness_arguments,
    print_json,
    triple_argument,
)
from planning_core.errors import InfeasiblePlanError, InvalidParameterError, PlanningError
from planning_core.figures import (
    format_coverage_percent,
    format_length_mm,
    format_margin_mm,
    format_volume_ml,
)
from planning_core.imaging.case_sources import open_case, resolve_case
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import read_label_map
from planning_core.planning.acceptance import (
    SETTING_OPTIONS,
    CheckKind,
    accept_plan,
    simulated_protection,
)
from planning_core.planning.approach import (
    DEFAULT_BORE_DIAMETER_MM,
    Approach,
    ApproachRules,
    approach_for_case,
    probe_approach_checks,
    read_patient_position,
    recorded_approach_checks,
    suggested_insertion_order,
)
from planning_core.planning.case_files import companion_path, write_plan_case_files
from planning_core.planning.case_reference import CaseReference
from planning_core.planning.evaluate import case_body_mask, evaluate_plan
from planning_core.planning.optimizer import optimize_plan
from planning_core.planning.optimizer.duration import PROTOCOL_FAMILIES
from planning_core.planning.optimizer.parallel import simulation_workers
from planning_core.planning.organ_sites import ORGAN_SITES, metrics_site
from planning_core.planning.plan import Plan, image_title
from planning_core.planning.plan_approach import PlannedProtection, PositionReading
from planning_core.planning.plan_json import save_plan
from planning_core.planning.results import RobustnessSummary
from planning_core.planning.settings import (
    DEFAULT_COVERAGE_GOAL_PERCENT,
    DEFAULT_ICE_MARGIN_MM,
    SETTING_RANGES,
    TABLE_DIRECTION_LPS,
    PlanGoal,
    PlanSettings,
)
from planning_core.planning.trajectory import TrajectoryContext
from planning_core.progress import ProgressCallback, sub_progress
from planning_core.segmentation.anatomy import segment_anatomy
from planning_core.segmentation.metrics import mask_volume_ml, max_diameter_mm
from planning_core.segmentation.tumor import segment_tumor
from planning_core.thermal.protection import ProtectionProposal
from planning_core.thermal.result import SimulationResult


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="optimize probe count, paths, tips and freeze for a tumor; verify; save the plan",
        description="Segment the tumor from a seed point (or read a label map), find the plan "
        "with the fewest probes and the shortest freeze whose lethal isotherm covers tumor + "
        "margin with safe paths and spared organs, verify it with the full simulation, assess "
        "its robustness to placement error, and save it with its label map and fields.",
    )
    parser.add_argument("case", help="DICOM folder, volume file or sample case name")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--tumor-seed",
        type=triple_argument("--tumor-seed"),
        metavar="X,Y,Z",
        help="a point inside the tumor, LPS mm (the tumor is segmented from it)",
    )
    source.add_argument(
        "--labels", type=Path, metavar="FILE", help="label map with a 'tumor' label and organs"
    )
    parser.add_argument(
        "--organs",
        action="store_true",
        help="with --labels: add the automatic CT anatomy (bone, lung, bowel, colon, liver, "
        "spleen, kidney, vessels ...) where the label map has no label; the file's own labels "
        "are kept (with --tumor-seed the anatomy is always added on a CT)",
    )
    parser.add_argument("--out", required=True, type=Path, help="plan file to write (.json)")
    parser.add_argument("--margin-mm", type=float, default=5.0, help="safety margin (default 5)")
    parser.add_argument(
        "--isotherm", type=float, default=-40.0, help="lethal isotherm in °C (default -40)"
    )
    parser.add_argument("--max-probes", type=int, default=8, help="most probes (default 8)")
    parser.add_argument(
        "--goal",
        choices=[goal.value for goal in PlanGoal],
        default=PlanGoal.LETHAL_MARGIN.value,
        help="lethal-margin: the lethal isotherm covers tumor + margin (default); visible-ice: "
        "the 0 °C edge reaches --ice-margin-mm beyond the tumor everywhere and -20 °C covers "
        "the tumor, as practice plans it",
    )
    parser.add_argument(
        "--ice-margin-mm",
        type=float,
        default=DEFAULT_ICE_MARGIN_MM,
        help=f"with --goal visible-ice: 0 °C edge beyond the tumor (default "
        f"{DEFAULT_ICE_MARGIN_MM:g}, range 5-10)",
    )
    parser.add_argument(
        "--coverage-goal-percent",
        type=float,
        default=DEFAULT_COVERAGE_GOAL_PERCENT,
        help="share of tumor + margin the lethal isotherm must reach "
        f"(default {DEFAULT_COVERAGE_GOAL_PERCENT:g})",
    )
    parser.add_argument(
        "--site",
        choices=list(ORGAN_SITES),
        help="organ the tumor lies in; decides which organs at risk must be labelled "
        "(default: inferred from the label around the tumor)",
    )
    parser.add_argument(
        "--probe-model", metavar="ID", help="probe model id (`cryoplan probes`); default by organ"
    )
    parser.add_argument(
        "--protocol-family",
        choices=sorted(PROTOCOL_FAMILIES),
        help="freeze-thaw family to choose the freeze from; default by organ and cryogen",
    )
    parser.add_argument(
        "--max-freeze-min", type=float, default=30.0, help="longest total freeze (default 30)"
    )
    add_robustness_arguments(parser, default_samples=20)
    parser.add_argument(
        "--verify-spacing-mm",
        type=float,
        default=1.0,
        help="grid of the verification simulation (default 1 mm)",
    )
    parser.add_argument(
        "--patient-position",
        choices=list(TABLE_DIRECTION_LPS),
        help="how the patient lies on the table (DICOM Patient Position); default: the CT "
        "header's. Entries are refused on the side the patient lies on, the probe handle must "
        "stay inside the gantry bore; unknown, the table side is taken from the table on the "
        "image or not assessed (said in the plan)",
    )
    parser.add_argument(
        "--bore-mm",
        type=float,
        default=DEFAULT_BORE_DIAMETER_MM,
        help=f"CT gantry bore diameter (default {DEFAULT_BORE_DIAMETER_MM:g})",
    )
    add_box_margin_argument(parser)
    add_json_flag(parser)
    parser.set_defaults(handler=run_plan)


def case_label_map(
    case: str,
    volume: Volume,
    *,
    tumor_seed: tuple[float, float, float] | None,
    labels_path: Path | None,
    progress: ProgressCallback,
    add_anatomy: bool = False,
    case_labels: LabelMap | None = None,
) -> tuple[LabelMap, list[str]]:
    """The label map to plan on, and warnings.

    With ``labels_path`` the file is used as it is, or with ``add_anatomy`` the
    automatic CT anatomy fills what it leaves unlabelled. With a seed the tumor
    is segmented from it and joined to the organs: those of ``case_labels``, the
    label map the case brings (a sample case's ground truth, its own tumor
    removed), otherwise the automatic CT anatomy.
    """
    if labels_path is not None:
        labels = read_label_map(labels_path, reference=volume.geometry)
        if not add_anatomy:
            return labels, []
        if volume.modality != "CT":
            raise InvalidParameterError(
                f"--organs: automatic anatomy needs a CT in Hounsfield units; {case} is "
                f"{volume.modality}. Leave out --organs and label the organs in --labels."
            )
        anatomy = segment_anatomy(volume, into=labels, progress=progress)
        return anatomy.label_map, list(anatomy.warnings)
    assert tumor_seed is not None
    tumor = segment_tumor(volume, tumor_seed, progress=sub_progress(progress, 0.0, 0.6))
    warnings = list(tumor.warnings)
    organs = None
    if case_labels is not None:
        organs = case_labels.without("tumor") if case_labels.has("tumor") else case_labels
    if organs is None:
        if volume.modality != "CT":
            raise InvalidParameterError(
                f"{case}: organs at risk are segmented automatically only on CT; this image is "
                f"{volume.modality}. Give --labels with the tumor and organs."
            )
        anatomy = segment_anatomy(volume, progress=sub_progress(progress, 0.6, 1.0))
        organs = anatomy.label_map
        warnings.extend(anatomy.warnings)
    return organs.with_mask("tumor", tumor.mask), warnings


def plan_summary(
    plan: Plan, label_map: LabelMap | None = None, *, allow_leaving_image: bool = False
) -> dict[str, Any]:
    """The figures a user reads about a plan (also the ``--json`` payload).

    With ``label_map`` (on the image grid) the tumor's volume and largest
    diameter are included, measured as the report and the app measure them.
    The checks are :func:`~planning_core.planning.acceptance.accept_plan`'s on
    the plan's settings (``allow_leaving_image`` for an ultrasound image).
    """
    metrics = plan.metrics
    if metrics is None:
        raise PlanningError("the plan has no metrics; evaluate it first.")
    acceptance = accept_plan(
        metrics, plan.settings, approach=recorded_approach_checks(plan),
        protection=simulated_protection(plan), allow_leaving_image=allow_leaving_image,
    )  # fmt: skip
    probes = []
    for probe, path in zip(plan.probes, metrics.paths, strict=True):
        probes.append(
            {
                "label": probe.label,
                "model": probe.model_id,
                "tip_lps_mm": [round(v, 2) for v in probe.tip_lps_mm],
                "skin_entry_lps_mm": (
                    None
                    if path.skin_entry_lps_mm is None
                    else [round(v, 2) for v in path.skin_entry_lps_mm]
                ),
                "skin_to_tip_mm": round(path.length_in_body_mm, 1),
                "craniocaudal_angle_deg": round(path.craniocaudal_angle_deg, 1),
                "in_plane_angle_deg": round(path.in_plane_angle_deg, 1),
                "path_problems": list(path.problems),
            }
        )
    lethal = metrics.coverage_at(metrics.lethal_isotherm_c)
    tumor = None
    if label_map is not None and label_map.has(plan.target_label):
        mask = label_map.mask(plan.target_label)
        tumor = {
            "volume_ml": mask_volume_ml(mask, label_map.geometry),
            "max_diameter_mm": max_diameter_mm(mask, label_map.geometry),
        }
    return {
        "tumor": tumor,
        "probe_count": len(plan.probes),
        "protocol": plan.protocol,
        "total_freeze_min": metrics.total_freeze_s / 60.0,
        "probes": probes,
        "lethal_isotherm_c": metrics.lethal_isotherm_c,
        "margin_mm": metrics.margin_mm,
        "coverage": [dataclasses.asdict(c) for c in metrics.coverage],
        "tumor_and_margin_coverage_percent": lethal.tumor_and_margin_percent,
        "minimal_margin_mm": metrics.margin.minimum_mm,
        "oars": [
            {
                "name": o.name,
                "distance_to_ice_mm": o.distance_to_ice_mm,
                "clearance_mm": o.clearance_mm,
                "frozen_volume_ml": o.frozen_volume_ml,
                "clear": o.clear,
                "monitored": o.monitored,
            }
            for o in metrics.oars
        ],
        "organ_site": metrics.organ_site,
        "organ_site_note": metrics_site(metrics).sentence(),
        "not_assessed": list(metrics.not_assessed),
        "organs_at_risk_check": acceptance.check(CheckKind.ORGANS).value,
        "checks": [
            {
                "name": check.name,
                "value": check.value,
                "goal": check.goal,
                "status": check.status,
                "change": [
                    {"flag": option.flag, "field": option.field} for option in check.options
                ],
            }
            for check in acceptance.checks
        ],
        "goal": plan.settings.goal.value,
        "visible_ice": (
            None
            if metrics.visible_ice is None
            else {
                "ice_margin_mm": metrics.visible_ice.ice_margin_mm,
                "coverage_percent": metrics.visible_ice.coverage_percent,
                "minimal_ice_margin_mm": metrics.visible_ice.margin.minimum_mm,
            }
        ),
        "passed": acceptance.passed,
        "verdict": acceptance.verdict(),
        "failed_checks": acceptance.describe_failure(),
        "robustness": None
        if metrics.robustness is None
        else dataclasses.asdict(metrics.robustness),
        "approach": approach_summary(plan),
        "protection": [item.describe() for item in plan.protection],
        "stale": plan.metrics_stale(),
        "computed_with": metrics.computed_with,
    }


def approach_summary(plan: Plan) -> dict[str, Any] | None:
    """Patient position, table side, refused entries, gantry check per probe, insertion order.

    ``None`` for a plan whose approach was not assessed (made before it was recorded).
    """
    record = plan.approach
    if record is None:
        return None
    return {
        "patient_position": record.position.position,
        "position_source": record.position.source,
        "table_side": record.table_side,
        "summary": record.describe(),
        "bore_diameter_mm": record.bore_diameter_mm,
        "candidate_entries": record.candidate_entries,
        "refused_entries": record.refused_total,
        "refused_by_reason": dict(record.refused_entries),
        "refusals": record.describe_refusals(),
        "notes": list(record.notes),
        "probes": [
            {
                "label": check.label,
                "passed": check.passed,
                "gantry_ok": check.gantry_ok,
                "reasons": list(check.reasons),
                "text": check.describe(),
            }
            for check in probe_approach_checks(plan)
        ],
        "insertion_order": [
            plan.probes[step.probe_index].label or f"probe {step.probe_index + 1}"
            for step in suggested_insertion_order(plan)
        ],
    }


def print_approach(summary: dict[str, Any]) -> None:
    """The approach and protection lines of :func:`print_plan_summary`."""
    approach = summary["approach"]
    if approach is None:
        print("approach: not assessed (plan made before patient position was recorded)")
    else:
        print(f"approach: {approach['summary']}")
        notes = [note for note in approach["notes"] if note != approach["summary"]]
        for note in notes:
            print(f"  note: {note}")
        print(f"  entries: {approach['refusals']}")
        print(f"  gantry check (bore {approach['bore_diameter_mm']:g} mm):")
        for probe in approach["probes"]:
            print(f"    {probe['text']}")
        print(
            "  suggested insertion order (deepest, then most tilted, first): "
            + ", ".join(approach["insertion_order"])
        )
    protection = summary["protection"]
    print("organ protection: " + ("; ".join(protection) if protection else "none planned"))


def print_plan_summary(summary: dict[str, Any]) -> None:
    """The human-readable form of :func:`plan_summary`."""
    tumor = summary.get("tumor")
    if tumor is not None:
        print(
            f"tumor: {format_volume_ml(tumor['volume_ml'])}, "
            f"{format_length_mm(tumor['max_diameter_mm'])} across"
        )
    print(
        f"{summary['probe_count']} probe(s), protocol {summary['protocol']} "
        f"({summary['total_freeze_min']:g} min freezing)"
    )
    for probe in summary["probes"]:
        entry = probe["skin_entry_lps_mm"]
        print(
            f"  {probe['label'] or '-'} {probe['model']}: entry {entry} -> tip "
            f"{probe['tip_lps_mm']} mm LPS, skin to tip {probe['skin_to_tip_mm']:g} mm, "
            "craniocaudal "
            f"{probe['craniocaudal_angle_deg']:g}°, in-plane {probe['in_plane_angle_deg']:g}°"
            + (f"  PROBLEM: {'; '.join(probe['path_problems'])}" if probe["path_problems"] else "")
        )
    print("coverage (tumor / tumor + margin):")
    for item in summary["coverage"]:
        print(
            f"  {item['isotherm_c']:g} °C: {format_coverage_percent(item['tumor_percent'])} / "
            f"{format_coverage_percent(item['tumor_and_margin_percent'])}"
        )
    margin = summary["minimal_margin_mm"]
    # Under the visible-ice goal the lethal margin is shown, but it is not the goal.
    goal = (
        f"goal {summary['margin_mm']:g} mm at {summary['lethal_isotherm_c']:g} °C"
        if summary["goal"] == PlanGoal.LETHAL_MARGIN.value
        else f"at {summary['lethal_isotherm_c']:g} °C"
    )
    print(
        f"minimal ablative margin: {'none' if margin is None else format_margin_mm(margin)} "
        f"({goal})"
    )
    ice = summary["visible_ice"]
    if ice is not None:
        reached = ice["minimal_ice_margin_mm"]
        edge = "none" if reached is None else format_margin_mm(reached)
        goal_mm = ice["ice_margin_mm"]
        print(
            f"goal visible-ice: 0 °C edge {edge} beyond the tumor (goal {goal_mm:g} mm "
            f"everywhere); tumor + {goal_mm:g} mm at 0 °C: "
            f"{format_coverage_percent(ice['coverage_percent'])}"
        )
    print(f"{summary['organ_site_note']}")
    print(f"organs at risk: {summary['organs_at_risk_check']}")
    if not any(not oar["monitored"] for oar in summary["oars"]):
        print("  (label the organs in --labels, or add --organs to find them on the CT)")
    else:
        print("  distance to the 0 °C edge / clearance:")
    for oar in summary["oars"]:
        if oar["monitored"]:
            continue
        distance = oar["distance_to_ice_mm"]
        shown = "no ice" if distance is None else format_length_mm(distance)
        flag = "" if oar["clear"] else f"  FROZEN {format_volume_ml(oar['frozen_volume_ml'])}"
        if distance is not None and distance >= 0 and not oar["clear"]:
            flag = "  within clearance"
        print(f"  {oar['name']}: {shown} / {oar['clearance_mm']:g} mm{flag}")
    for name in summary["not_assessed"]:
        print(f"  {name}: not assessed (not labelled)")
    monitored = [oar for oar in summary["oars"] if oar["monitored"]]
    if monitored:
        print("monitored structures, may freeze (distance to the 0 °C edge, frozen volume):")
    for oar in monitored:
        distance = oar["distance_to_ice_mm"]
        shown = "no ice" if distance is None else format_length_mm(distance)
        print(f"  {oar['name']}: {shown}, {format_volume_ml(oar['frozen_volume_ml'])}")
    robustness = summary["robustness"]
    if robustness is not None:
        print(
            f"robustness: {100 * robustness['probability']:.0f} % of {robustness['samples']} "
            f"plans with {robustness['tip_error_mm']:g} mm placement error still cover "
            f"{robustness['coverage_goal_percent']:g} % of "
            f"{RobustnessSummary(**robustness).zone_text()}"
        )
    print_approach(summary)
    if summary["stale"]:
        print("WARNING: these metrics are stale (the plan changed); run `cryoplan evaluate`.")


def print_plan_verdict(summary: dict[str, Any]) -> None:
    """The last line a user reads: the plan checks' verdict, naming each failed check."""
    if summary["failed_checks"]:
        print(f"plan checks FAIL: {summary['failed_checks']}.")
    else:
        print(f"plan checks: {summary['verdict']}.")


#: Flags that set a ranged setting, with the setting and the seconds per flag unit.
_RANGED_FLAGS = (
    ("margin_mm", "margin_mm", 1.0),
    ("isotherm", "lethal_isotherm_c", 1.0),
    ("coverage_goal_percent", "coverage_goal_percent", 1.0),
    ("ice_margin_mm", "ice_margin_mm", 1.0),
    ("max_probes", "max_probes", 1.0),
    ("max_freeze_min", "max_total_freeze_s", 60.0),
)


def plan_settings(args: argparse.Namespace, *, patient_position: str | None = None) -> PlanSettings:
    """The settings the flags give; a value out of range is named by its flag, in its unit.

    ``patient_position`` (the one read from the image or given by the flag) sets
    the angle reference; unknown, the default supine one is kept for angles only
    (the plan's approach says the position is unknown).
    """
    for attribute, setting, scale in _RANGED_FLAGS:
        declared = SETTING_RANGES[setting]
        if scale != 1.0:  # --max-freeze-min is in minutes, the setting in seconds
            declared = dataclasses.replace(
                declared,
                unit="min",
                minimum=declared.minimum / scale,
                maximum=declared.maximum / scale,
            )
        declared.validate(getattr(args, attribute), where=SETTING_OPTIONS[setting].flag or "")
    if not 300.0 <= args.bore_mm <= 1500.0:
        raise InvalidParameterError(
            f"--bore-mm must be between 300 and 1500 mm, got {args.bore_mm:g}."
        )
    return PlanSettings(
        margin_mm=args.margin_mm,
        lethal_isotherm_c=args.isotherm,
        coverage_goal_percent=args.coverage_goal_percent,
        goal=args.goal,
        ice_margin_mm=args.ice_margin_mm,
        max_probes=args.max_probes,
        max_total_freeze_s=args.max_freeze_min * 60.0,
        organ_site=args.site,
        **({} if patient_position is None else {"patient_position": patient_position}),
    )


def case_approach(
    volume: Volume, label_map: LabelMap, args: argparse.Namespace
) -> tuple[Approach, NDArray[np.bool_]]:
    """The approach rules of the case: the position given or read from the header, the table.

    Returns the approach and the body mask it was found with (the optimizer reuses it).
    """
    body_mask = case_body_mask(volume, label_map)
    position = (
        read_patient_position(volume.metadata)
        if args.patient_position is None
        else PositionReading(args.patient_position, "given", args.patient_position)
    )
    approach = approach_for_case(
        volume, body_mask=body_mask, position=position,
        rules=ApproachRules(bore_diameter_mm=args.bore_mm),
    )  # fmt: skip
    return approach, body_mask


def with_protection(
    plan: Plan,
    proposals: tuple[ProtectionProposal, ...],
    volume: Volume | None,
    label_map: LabelMap,
    args: argparse.Namespace,
    body_mask: NDArray[np.bool_] | None = None,
    context: TrajectoryContext | None = None,
) -> tuple[Plan, SimulationResult]:
    """The plan holding the protection the optimizer proposed, evaluated with it.

    The reported ice must be the protected one: the verified plan is simulated
    again with the fluid in place (its robustness, assessed without, is kept), on
    every core numba may use, with the optimizer's path analysis when given.
    """
    protected = dataclasses.replace(
        plan, protection=tuple(PlannedProtection.from_proposal(p) for p in proposals)
    )
    evaluation = evaluate_plan(
        protected, volume, label_map, spacing_mm=args.verify_spacing_mm,
        box_margin_mm=args.box_margin_mm, body_mask=body_mask, context=context,
        threads=simulation_workers(),
    )  # fmt: skip
    robustness = None if plan.metrics is None else plan.metrics.robustness
    metrics = dataclasses.replace(evaluation.metrics, robustness=robustness)
    return evaluation.plan.with_metrics(metrics), evaluation.simulation


@dataclasses.dataclass(frozen=True, eq=False)
class PlannedCase:
    """What :func:`plan_case` made: the saved plan, what it was planned on, and its summary.

    Attributes
    ----------
    plan : Plan
        The verified plan as saved (its label map and fields written beside it).
    volume : Volume
        The image it was planned on.
    label_map : LabelMap
        The tumor and organs it was planned on (image grid).
    simulation : SimulationResult
        The verification simulation behind the plan's metrics (a report reuses it).
    summary : dict
        :func:`plan_summary` with the files written, runtime and warnings (the ``--json``
        payload).
    """

    plan: Plan
    volume: Volume
    label_map: LabelMap
    simulation: SimulationResult
    summary: dict[str, Any]


def plan_case(args: argparse.Namespace, progress: ProgressCallback) -> PlannedCase:
    """Open the case, plan, verify and save: the whole of ``cryoplan plan`` but the printing.

    ``args`` are the ``plan`` subcommand's parsed flags (``cryoplan batch`` parses
    a manifest row into the same flags, so both plan by the same rules).
    """
    out = Path(args.out)
    if out.suffix.lower() != ".json":
        raise InvalidParameterError(f"--out {out}: the plan file must end in .json.")
    plan_settings(args)  # flags are checked before the case is opened
    # A sample case brings its ground-truth organs; with --labels the file is read below.
    case = open_case(
        resolve_case(args.case, labels_path=args.labels),
        with_labels=args.labels is None,
        progress=sub_progress(progress, 0.0, 0.05),
    )
    image_path, volume = case.files.image_path, case.volume
    # Titles name the image, never its path (a DICOM folder on a real CT).
    title = image_title(volume.metadata, fallback=args.case)
    label_map, warnings = case_label_map(
        args.case, volume, tumor_seed=args.tumor_seed, labels_path=args.labels,
        add_anatomy=args.organs, case_labels=case.labels,
        progress=sub_progress(progress, 0.05, 0.15),
    )  # fmt: skip
    approach, body_mask = case_approach(volume, label_map, args)
    settings = plan_settings(args, patient_position=approach.position.position)
    try:
        result = optimize_plan(
            volume, label_map, settings=settings, probe_model=args.probe_model,
            approach=approach, body_mask=body_mask,
            protocol_family_name=args.protocol_family, robustness_samples=args.robustness_samples,
            robustness_tip_error_mm=args.tip_error_mm, verify_spacing_mm=args.verify_spacing_mm,
            verify_box_margin_mm=args.box_margin_mm,
            case=CaseReference.for_volume(volume, description=title),
            progress=sub_progress(progress, 0.15, 0.97),
        )  # fmt: skip
    except InfeasiblePlanError as error:
        partial = error.best_partial_plan
        if not isinstance(partial, Plan):
            raise
        partial_path = companion_path(out, ".partial.json")
        partial = dataclasses.replace(partial, name=title)
        save_plan(partial.with_step_warnings("segmentation", warnings), partial_path)
        raise InfeasiblePlanError(
            f"{error} The best partial plan was saved to {partial_path}.",
            best_partial_plan=partial,
        ) from error
    plan = dataclasses.replace(result.plan, name=title).with_step_warnings("segmentation", warnings)
    simulation = result.simulation
    if result.protection and not plan.protection:  # else the optimizer simulated it already
        plan, simulation = with_protection(
            plan, result.protection, volume, label_map, args, body_mask, result.context
        )
    plan = write_plan_case_files(
        plan, plan_path=out, label_map=label_map, simulation=simulation,
        image_path=image_path.resolve(),
    )  # fmt: skip
    save_plan(plan, out)
    progress(1.0, f"Wrote {out}")
    summary = plan_summary(plan, label_map, allow_leaving_image=volume.modality == "US")
    summary.update(
        plan=str(out),
        labels=str(plan.labels_path),
        thermal_fields=str(plan.thermal_fields_path),
        runtime_s=round(result.runtime_s, 2),
        rule_of_thumb_probes=result.rule_of_thumb_probes,
        needs_protection=list(result.needs_protection),
        warnings=[str(w) for w in plan.warnings],
        log=list(result.log),
    )
    return PlannedCase(plan, volume, label_map, simulation, summary)


def run_plan(args: argparse.Namespace) -> int:
    progress = StderrProgress(enabled=not args.json or sys.stderr.isatty())
    planned = plan_case(args, progress)
    summary, plan, out = planned.summary, planned.plan, Path(args.out)
    if args.json:
        print_json(summary)
        return 0
    print_plan_summary(summary)
    for warning in summary["warnings"]:
        print(f"warning: {warning}")
    print(
        f"planned in {summary['runtime_s']:.1f} s (rule of thumb: "
        f"{summary['rule_of_thumb_probes']} "
        f"probe(s)); wrote {out}, {plan.labels_path.name}, {plan.thermal_fields_path.name}"
    )
    print_plan_verdict(summary)
    return 0
