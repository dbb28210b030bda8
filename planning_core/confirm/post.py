"""Post-ablation confirmation: register the CT after ablation, segment the zone, measure margins.

``confirm_post`` is the one computation behind ``cryoplan confirm PLAN --post DIR``
and the app's Confirm step for a post-ablation series:

1. the plan's case (planning CT, labels, saved simulation fields) is loaded;
2. the post-ablation CT is registered onto the planning CT
   (:func:`~planning_core.confirm.registration.register_follow_up`, restricted
   to the host organ) and resampled onto its grid;
3. the ablation zone is grown from the tumor centre and probe tips
   (:func:`~planning_core.confirm.ablation_zone.segment_ablation_zone`) where
   the plan's predicted ice (saved fields, else a new simulation) could have
   reached, or read from an edited label file;
4. the margin (:func:`~planning_core.confirm.margin.analyze_margin`) and the plan
   against the result (:func:`~planning_core.confirm.plan_vs_result.compare_zones`);
5. on request, the DICOM SEGs and SR
   (:func:`~planning_core.confirm.structured_report.write_confirmation_dicom`).

The PDF report is written by the report layer
(:func:`planning_core.report.confirmation_pdf.write_confirmation_pdf`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from planning_core.confirm.ablation_zone import (
    MIN_CONTRAST_HU,
    ZONE_LABEL,
    AblationZone,
    estimate_edge_in_tumor,
    segment_ablation_zone,
    segment_lung_ablation_zone,
)
from planning_core.confirm.follow_up import check_follow_up_series
from planning_core.confirm.host_organ import host_organ_names
from planning_core.confirm.margin import MarginAnalysis, MarginOptions, analyze_margin
from planning_core.confirm.margin_evidence import (
    EVIDENCE_LIMITS,
    MARGIN_EVIDENCE,
    REQUIRED_MARGIN_MM,
)
from planning_core.confirm.plan_vs_result import PlanVersusResult, compare_zones
from planning_core.confirm.registration import (
    Registration,
    register_follow_up,
    target_organ_mask,
)
from planning_core.confirm.structured_report import WrittenObject, write_confirmation_dicom
from planning_core.errors import DicomLoadError, PlanningError, SegmentationError
from planning_core.imaging.loader import load_image
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import read_label_map
from planning_core.planning.case_files import PlanCase, load_plan_case
from planning_core.planning.evaluate import simulate_plan
from planning_core.planning.field_resample import resample_field
from planning_core.planning.masks import bounding_box
from planning_core.planning.metrics import (
    BODY_TEMPERATURE_C,
    margin_zone_mask,
)
from planning_core.planning.plan import Plan
from planning_core.planning.plan_json import load_plan
from planning_core.progress import CancelToken, ProgressCallback, checked_progress, sub_progress
from planning_core.thermal.result import ICE_EDGE_C

#: Vessel labels the vessel exemption looks at.
VESSEL_LABELS = ("aorta", "ivc", "hepatic_vein", "portal_vein", "vessel")
#: Grid spacing of the simulation run when the plan carries no saved fields (mm).
COMPARISON_SIMULATION_SPACING_MM = 1.5
#: How far beyond the plan's predicted 0 °C ice the zone may reach (probe placement, mm).
PLACEMENT_TOLERANCE_MM = 10.0
#: The post-ablation CT is resampled within this distance of the tumor (mm).
RESAMPLED_REACH_MM = 70.0
AIR_HU = -1024.0


@dataclass(frozen=True, eq=False)
class PostConfirmation:
    """A post-ablation confirmation: registration, zone, margin, plan against result.

    Every array lies on the planning CT's grid.
    """

    plan: Plan
    plan_path: Path
    post_ct_path: Path
    planning_volume: Volume = field(repr=False)
    post_on_planning: Volume = field(repr=False)
    registration: Registration
    zone: AblationZone
    zone_source: str
    margin: MarginAnalysis
    tumor: NDArray[np.bool_] = field(repr=False)
    shell: NDArray[np.bool_] = field(repr=False)
    predicted_lethal: NDArray[np.bool_] | None = field(repr=False)
    plan_vs_result: PlanVersusResult | None
    options: MarginOptions
    dicom: tuple[WrittenObject, ...] = ()
    warnings: tuple[str, ...] = ()
    wall_s: float = 0.0

    @property
    def minimal_margin_mm(self) -> float:
        """The minimal margin that counts (with the chosen exemptions)."""
        counted = self.margin.counted_margin_mm
        return self.margin.minimal_margin_mm if counted is None else counted

    def to_json(self) -> dict[str, object]:
        """The confirmation as JSON-ready values (``cryoplan confirm --post --json``)."""
        margin = self.margin.to_json()
        return {
            "stage": "post",
            "plan": str(self.plan_path),
            "post_ct": str(self.post_ct_path),
            "minimal_ablative_margin_mm": margin.pop("minimal_ablative_margin_mm"),
            "shell_coverage_percent": margin.pop("shell_coverage_percent"),
            "category": margin.pop("category"),
            "margin": margin,
            "ablation_zone": {
                **self.zone.to_json(),
                "volume_ml": round(self.margin.zone_volume_ml, 3),
                "source": self.zone_source,
            },
            "registration": self.registration.to_json(),
            "plan_vs_result": (
                None if self.plan_vs_result is None else self.plan_vs_result.to_json()
            ),
            "calibration_residuals": (
                None if self.plan_vs_result is None else self.plan_vs_result.residuals(self.plan)
            ),
            "evidence": {
                "required_margin_mm": REQUIRED_MARGIN_MM,
                "figures": [{"finding": e.finding, "source": e.source} for e in MARGIN_EVIDENCE],
                "limits": EVIDENCE_LIMITS,
            },
            "dicom": [o.to_json() for o in self.dicom],
            "warnings": list(self.warnings),
            "wall_s": round(self.wall_s, 1),
        }


def confirm_post(
    plan_path: str | Path,
    post_ct_path: str | Path,
    *,
    series_uid: str | None = None,
    fiducials: ArrayLike | None = None,
    deformable: bool = True,
    options: MarginOptions | None = None,
    zone_labels_path: str | Path | None = None,
    dicom_dir: str | Path | None = None,
    series_option: str = "--post",
    series_choice: str = "--series",
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> PostConfirmation:
    """Confirm an ablation on the CT taken after it.

    Parameters
    ----------
    plan_path : path
        The plan file (its planning CT and labels are loaded from it).
    post_ct_path : path
        The post-ablation contrast CT: DICOM folder or volume file.
    series_uid : str, optional
        Which series of the folder (``--series``).
    fiducials : array_like, shape (n, 2, 3), optional
        Point pairs (planning, post) in LPS mm for a fiducial registration.
    deformable : bool
        Allow the organ-restricted deformable stage of the registration.
    options : MarginOptions, optional
        Shell thickness and exemptions.
    zone_labels_path : path, optional
        A label map on the planning grid holding an edited ``ablation_zone``
        label; used instead of the automatic segmentation.
    dicom_dir : path, optional
        Write the SEGs and the SR there.
    series_option, series_choice : str
        How the user gives the post-ablation series and chooses one of a folder's, as the
        messages name them (the command line's flags, or the app's field labels).
    progress, cancel
        Progress callback and cancel token.

    Raises
    ------
    PlanningError
        For a plan, CT or label file that cannot be used, a refused
        registration or a zone that cannot be segmented; the message names
        the file or option.
    """
    started = time.perf_counter()
    options = options or MarginOptions()
    plan_path, post_ct_path = Path(plan_path), Path(post_ct_path)

    step = checked_progress(progress, cancel)

    step(0.0, "Loading the plan and its case")
    plan = load_plan(plan_path)
    case = load_plan_case(plan, plan_path=plan_path)
    planning, label_map = case.volume, case.label_map
    warnings = list(case.warnings)
    tumor = label_map.mask(plan.target_label)
    if not tumor.any():
        raise PlanningError(
            f"{plan_path}: the tumor label {plan.target_label!r} is empty; segment the tumor "
            "and re-plan before confirming."
        )
    hosts = host_organ_names(plan, label_map)
    organ = np.zeros_like(tumor)
    for name in hosts:
        organ |= label_map.mask(name)
    organ &= ~tumor
    if not hosts:
        warnings.append(
            "the organ the tumor lies in is unknown (set the plan's organ site): the "
            "registration is not restricted to it and the capsule exemption is not assessed."
        )
    step(0.05, "Loading the post-ablation CT")
    try:
        post = load_image(
            post_ct_path, series_uid=series_uid, progress=sub_progress(progress, 0.05, 0.15)
        )
    except DicomLoadError as error:
        raise DicomLoadError(f"{series_option}: {error}") from error
    if post.modality != "CT":
        raise PlanningError(
            f"{series_option} {post_ct_path}: the image is {post.modality}, not CT; give the "
            "contrast CT taken after the ablation."
        )
    check_follow_up_series(
        post, planning, location=str(post_ct_path), series_option=series_option,
        series_choice=series_choice, wanted="the contrast CT taken after the ablation",
    )  # fmt: skip
    registration = register_follow_up(
        planning,
        post,
        # The side of a paired organ that holds the tumor: the other side moves on its own.
        organ_mask=target_organ_mask(organ | tumor, tumor) if hosts else None,
        # The ablation changed the tissue around the tumor: left out of the metric.
        target_mask=tumor,
        fiducials=fiducials,
        deformable=deformable,
        progress=sub_progress(progress, 0.15, 0.6),
        cancel=cancel,
    )
    registration.require_usable()
    warnings += list(registration.warnings)
    step(0.6, "Resampling the post-ablation CT onto the planning CT")
    geometry = planning.geometry
    post_on_planning = _resample_near(registration, post, tumor, planning)
    step(0.65, "Predicted ice and lethal zone of the plan")
    field_c, field_source = _predicted_field(plan, case, sub_progress(progress, 0.65, 0.8), cancel)
    possible = None
    if field_c is not None:
        # Tissue the plan's ice never reached (with room for probe placement) cannot be ablated.
        possible = margin_zone_mask(field_c <= ICE_EDGE_C, geometry, PLACEMENT_TOLERANCE_MM)
    seeds = np.vstack(
        [geometry.index_to_lps(np.argwhere(tumor).mean(axis=0)[::-1])]
        + [np.asarray(p.tip_lps_mm) for p in plan.probes]
    )
    segmented: AblationZone | None = None
    zone_progress = sub_progress(progress, 0.8, 0.88)
    try:
        if "lung" in hosts:
            # In aerated lung the zone is a halo denser than the lung, not a region that
            # lost its contrast uptake.
            segmented = segment_lung_ablation_zone(
                post_on_planning.voxels,
                geometry,
                seeds,
                lung=target_organ_mask(organ | tumor, tumor),
                tumor=tumor,
                before_hu=planning.voxels,
                possible=possible,
                progress=zone_progress,
                cancel=cancel,
            )
        else:
            segmented = segment_ablation_zone(
                post_on_planning.voxels,
                geometry,
                seeds,
                possible=possible,
                progress=zone_progress,
                cancel=cancel,
            )
    except SegmentationError as error:
        # A zone drawn by hand needs no segmentation; without one, say how to give it.
        if zone_labels_path is None:
            raise SegmentationError(
                f"{str(error).rstrip('.')} (or give a zone drawn by hand with --zone-labels)."
            ) from None
    if zone_labels_path is not None:
        zone = _edited_zone(segmented, zone_labels_path, planning, post_on_planning)
        zone_source = f"edited label map {zone_labels_path}"
    else:
        assert segmented is not None
        zone, zone_source = segmented, "segmented from the seeds"
        zone, tumor_like = _tumor_like_zone(planning, tumor, zone)
        warnings += tumor_like
    warnings += list(zone.warnings)
    step(0.88, "Margin analysis")
    vessels = np.zeros_like(tumor)
    for name in VESSEL_LABELS:
        if label_map.has(name):
            vessels |= label_map.mask(name)
    margin = analyze_margin(
        tumor,
        zone.mask,
        geometry,
        options=options,
        organ=organ if hosts else None,
        vessels=vessels if vessels.any() else None,
    )
    warnings += list(margin.warnings)
    shell = margin_zone_mask(tumor, geometry, options.shell_mm) & ~tumor
    step(0.9, "Predicted lethal zone against the actual zone")
    predicted = comparison = None
    if field_c is not None:
        lethal = plan.settings.lethal_isotherm_c
        predicted = field_c <= lethal
        comparison = compare_zones(
            field_c, zone.mask, geometry, lethal_isotherm_c=lethal, source=field_source
        )
    written: tuple[WrittenObject, ...] = ()
    if dicom_dir is not None:
        step(0.92, "Writing DICOM SEG and SR")
        written = write_confirmation_dicom(planning, tumor, zone.mask, shell, margin, dicom_dir)
    step(1.0, "Confirmation done")
    return PostConfirmation(
        plan=plan,
        plan_path=plan_path,
        post_ct_path=post_ct_path,
        planning_volume=planning,
        post_on_planning=post_on_planning,
        registration=registration,
        zone=zone,
        zone_source=zone_source,
        margin=margin,
        tumor=tumor,
        shell=shell,
        predicted_lethal=predicted,
        plan_vs_result=comparison,
        options=options,
        dicom=written,
        warnings=tuple(dict.fromkeys(warnings)),
        wall_s=time.perf_counter() - started,
    )


def _tumor_like_zone(
    planning: Volume, tumor: NDArray[np.bool_], zone: AblationZone
) -> tuple[AblationZone, list[str]]:
    """The zone and a warning when the tumor itself reads like it (cystic or necrotic
    tumors that do not enhance): the segmentation cannot tell viable tumor at the zone's
    edge from the zone. Where the tumor reaches the zone's edge, the edge inside it is
    estimated (:func:`estimate_edge_in_tumor`)."""
    tumor_hu = float(np.median(planning.voxels[tumor]))
    if abs(tumor_hu - zone.zone_hu) >= MIN_CONTRAST_HU:
        return zone, []
    alike = (
        f"the tumor reads {tumor_hu:.0f} HU on the planning CT, like the ablation zone "
        f"({zone.zone_hu:.0f} HU): viable tumor at the zone's edge cannot be told from the zone"
    )
    estimated = estimate_edge_in_tumor(zone, tumor, planning.geometry)
    if not estimated.edge_estimated:
        return zone, [
            f"{alike}, so the margin may be overstated where the tumor reaches the edge; "
            "compare with the planning CT and correct the zone by hand there."
        ]
    return estimated, [
        f"{alike}. The tumor reaches the zone's edge, so the ablation is incomplete there; "
        "the zone's edge inside the tumor is estimated (the margin seen around the tumor, "
        "continued smoothly into it): the negative margin there is an estimate (within "
        "2 mm on the test phantoms and sample cases); check it on the images and correct "
        "the zone by hand with --zone-labels."
    ]


def _edited_zone(
    segmented: AblationZone | None, path: str | Path, planning: Volume, post_on_planning: Volume
) -> AblationZone:
    """The zone of an edited label map (``--zone-labels``) in place of the segmented one.

    Its intensities are the segmentation's when it ran; otherwise they are read on the
    post-ablation CT inside the zone and in a ring 1-6 mm around it.
    """
    try:
        labels = read_label_map(path, reference=planning.geometry)
    except PlanningError as error:
        raise PlanningError(f"--zone-labels {path}: {error}") from error
    if not labels.has(ZONE_LABEL) or not labels.mask(ZONE_LABEL).any():
        raise PlanningError(
            f"--zone-labels {path}: holds no non-empty {ZONE_LABEL!r} label; save the edited "
            "zone under that name."
        )
    mask = labels.mask(ZONE_LABEL)
    if segmented is not None:
        zone_hu, parenchyma_hu = segmented.zone_hu, segmented.parenchyma_hu
        threshold_hu = segmented.threshold_hu
    else:
        values = np.asarray(post_on_planning.voxels)
        ring = margin_zone_mask(mask, planning.geometry, 6.0) & ~margin_zone_mask(
            mask, planning.geometry, 1.0
        )
        zone_hu = float(np.median(values[mask]))
        parenchyma_hu = float(np.median(values[ring])) if ring.any() else zone_hu
        threshold_hu = 0.5 * (zone_hu + parenchyma_hu)
    return AblationZone(
        mask=mask,
        volume_ml=float(np.count_nonzero(mask)) * planning.geometry.voxel_volume_mm3 / 1000.0,
        zone_hu=zone_hu,
        parenchyma_hu=parenchyma_hu,
        threshold_hu=threshold_hu,
        warnings=(),
        beside=segmented.beside if segmented is not None else "tissue around it",
    )


def _predicted_field(
    plan: Plan,
    case: PlanCase,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> tuple[NDArray[np.float32] | None, str]:
    """The plan's lethal-dose field on the planning grid, and where it came from."""
    if not plan.probes:
        return None, "not assessed: the plan has no probes"
    if case.thermal is not None:
        field_c, field_geometry = case.thermal.min_temperature_c, case.thermal.geometry
        source = "the plan's saved simulation"
    else:
        simulation = simulate_plan(
            plan,
            case.volume,
            case.label_map,
            spacing_mm=COMPARISON_SIMULATION_SPACING_MM,
            progress=progress,
            cancel=cancel,
        )
        field_c, field_geometry = simulation.min_temperature_c, simulation.geometry
        source = f"a new simulation of the plan at {COMPARISON_SIMULATION_SPACING_MM:g} mm"
    geometry = case.volume.geometry
    return resample_field(field_c, field_geometry, geometry, fill_value=BODY_TEMPERATURE_C), source


def _resample_near(
    registration: Registration, post: Volume, tumor: NDArray[np.bool_], planning: Volume
) -> Volume:
    """The post-ablation CT on the planning grid, resampled only near the tumor (air elsewhere).

    The zone, the margin and the report's views all lie within
    :data:`RESAMPLED_REACH_MM` of the tumor; the rest of the grid would cost seconds.
    """
    geometry = planning.geometry
    pad = np.ceil(RESAMPLED_REACH_MM / np.asarray(geometry.spacing_kji_mm)).astype(int)
    box = bounding_box(tumor, pad)
    start = tuple(s.start for s in box)
    near = dataclasses.replace(
        registration, planning_geometry=geometry.cropped(start, tumor[box].shape)
    )
    local = near.resample_to_planning(post, labels=False)
    voxels = np.full(geometry.shape, AIR_HU, dtype=np.float32)
    voxels[box] = local.voxels
    return Volume(voxels, geometry, post.modality, dict(post.metadata))
