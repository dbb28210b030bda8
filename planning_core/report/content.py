"""The facts a plan report states, collected into plain records (no drawing, no layout).

:func:`collect_report_content` turns a plan with fresh metrics, its image and
label map into a :class:`ReportContent`: header identifiers, the target, one row
per probe, the protocol, coverage/margin/OAR checks with pass or fail against
the plan's settings, robustness (or an explicit "not assessed"), warnings and
assumptions. Figures and the PDF layout read only this record and the arrays
passed alongside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from planning_core import __version__
from planning_core.errors import InvalidParameterError, ReportError
from planning_core.figures import format_length_mm
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.acceptance import (
    Acceptance,
    AcceptanceCheck,
    accept_plan,
    simulated_protection,
)
from planning_core.planning.approach import (
    probe_approach_checks,
    recorded_approach_checks,
    suggested_insertion_order,
)
from planning_core.planning.masks import bounding_box
from planning_core.planning.organ_sites import not_assessed_warning
from planning_core.planning.plan import (
    Plan,
    PlannedProbe,
    PlanWarning,
    image_title,
    looks_like_path,
)
from planning_core.planning.results import PathReport, PlanMetrics, RobustnessSummary
from planning_core.segmentation.metrics import mask_volume_ml, max_diameter_mm, recist_axes
from planning_core.thermal.probes import load_probe_library
from planning_core.thermal.tissues import load_tissue_library

#: Shown in place of every patient identifier in de-identified reports.
DEIDENTIFIED = "DE-IDENTIFIED"
#: The plan's title in de-identified reports (a plan name or description may name the patient).
DEIDENTIFIED_TITLE = "De-identified plan"
#: Printed on every page: the research-use statement of the README, word for word.
DISCLAIMER = "Research software. Not a medical device; not for clinical use."
#: File system paths in a message: quoted text holding a separator (spaces allowed);
#: a word from a leading separator, ``~/``, ``./`` or a drive letter on; a word with two
#: separators or more (``cases/DOE/ct``, but not ``mm/s``).
_PATHS = (
    re.compile(r"""(['"])[^'"\n]*[/\\][^'"\n]*\1"""),
    re.compile(r"""(?:(?<=^)|(?<=[\s(=]))(?:~|\.{1,2}|[A-Za-z]:)?[/\\][^\s'")]*"""),
    re.compile(r"""[^\s'"(]+(?:[/\\][^\s'")/\\]*){2,}"""),
)


@dataclass(frozen=True)
class HeaderInfo:
    """Identifiers printed in the page header (all ``DEIDENTIFIED`` in de-identified mode)."""

    patient_name: str
    patient_id: str
    birth_date: str
    accession_number: str
    study_date: str
    study_description: str
    series_description: str
    plan_name: str
    report_date: str
    software: str
    deidentified: bool
    planned_by: str = ""
    approved_by: str = ""


@dataclass(frozen=True)
class TargetInfo:
    """Size and location of the tumor."""

    label: str
    volume_ml: float
    max_diameter_mm: float
    extent_lr_ap_si_mm: tuple[float, float, float]
    centre_lps_mm: tuple[float, float, float]
    centre_slice: int
    slice_count: int
    surroundings: str
    recist_long_mm: float | None = None  # RECIST long and short axes (one image slice)
    recist_short_mm: float | None = None


@dataclass(frozen=True)
class ProbeRow:
    """One line of the probe table; angles and lengths from the plan's path report."""

    label: str
    model_id: str
    model_name: str
    tip_lps_mm: tuple[float, float, float]
    entry_lps_mm: tuple[float, float, float]
    tip_slice: int
    entry_slice: int | None
    path_length_mm: float | None
    craniocaudal_deg: float | None
    in_plane_deg: float | None
    elevation_deg: float | None
    closest_structure: str
    closest_mm: float | None
    problems: tuple[str, ...]

    @property
    def path_passed(self) -> bool | None:
        """False on a problem; ``None`` when no structure along the path was labelled."""
        if self.problems:
            return False
        return None if self.closest_mm is None else True


@dataclass(frozen=True)
class PhaseRow:
    kind: str
    start_min: float
    end_min: float


@dataclass(frozen=True)
class ApproachInfo:
    """Patient position, approach, gantry check, insertion order and organ protection.

    Attributes
    ----------
    position : str
        One line: the patient position and the table side, or that they are unknown.
    assessed : bool
        False for a plan made before the approach was recorded (then only that is said).
    entries : str
        The candidate entries the approach rules refused.
    notes : tuple of str
        What the user should know (unknown position, image and header disagree).
    gantry : tuple of (str, bool or None)
        Per probe, the gantry/approach check sentence and whether it passed
        (``None``: not assessed).
    insertion_order : tuple of str
        Probe labels in the suggested order of insertion.
    protection : tuple of str
        The organ protection measures the simulation includes, one sentence each.
    """

    position: str
    assessed: bool
    entries: str = ""
    notes: tuple[str, ...] = ()
    gantry: tuple[tuple[str, bool | None], ...] = ()
    insertion_order: tuple[str, ...] = ()
    protection: tuple[str, ...] = ()


def approach_info(plan: Plan) -> ApproachInfo:
    """What the report says about the approach and the protection of ``plan``."""
    protection = tuple(item.describe() for item in plan.protection)
    order = tuple(
        plan.probes[step.probe_index].label or f"probe {step.probe_index + 1}"
        for step in suggested_insertion_order(plan)
    )
    record = plan.approach
    if record is None:
        return ApproachInfo(
            position="patient position and approach not assessed (plan made before they were "
            "recorded)",
            assessed=False,
            insertion_order=order,
            protection=protection,
        )
    return ApproachInfo(
        position=record.describe(),
        assessed=True,
        entries=record.describe_refusals(),
        notes=tuple(note for note in record.notes if note != record.describe()),
        gantry=tuple((check.describe(), check.passed) for check in probe_approach_checks(plan)),
        insertion_order=order,
        protection=protection,
    )


@dataclass(frozen=True)
class ReportContent:
    """Everything the report states, as plain values."""

    header: HeaderInfo
    target: TargetInfo
    probes: tuple[ProbeRow, ...]
    protocol_code: str
    phases: tuple[PhaseRow, ...]
    total_freeze_s: float
    metrics: PlanMetrics
    acceptance: Acceptance
    robustness: RobustnessSummary | None
    warnings: tuple[str, ...]
    assumptions: tuple[str, ...]
    window_level: tuple[float, float]
    notes: str = ""
    approach: ApproachInfo | None = None

    @property
    def checks(self) -> tuple[AcceptanceCheck, ...]:
        """The plan's checks (:func:`~planning_core.planning.acceptance.accept_plan`)."""
        return self.acceptance.checks

    @property
    def passed(self) -> bool:
        """True when every check was made and passed."""
        return self.acceptance.passed

    @property
    def failed(self) -> bool:
        """True when at least one check was made and failed."""
        return bool(self.acceptance.failed)

    @property
    def not_assessed(self) -> tuple[str, ...]:
        """Names of the checks that could not be made."""
        return tuple(check.name for check in self.acceptance.not_assessed)

    @property
    def verdict(self) -> str:
        """One sentence for the summary box and the command line."""
        return self.acceptance.verdict()


def collect_report_content(
    plan: Plan,
    volume: Volume,
    label_map: LabelMap,
    *,
    deidentify: bool = False,
    report_date: datetime | None = None,
    extra_warnings: tuple[str, ...] = (),
    planned_by: str | None = None,
    approved_by: str | None = None,
) -> ReportContent:
    """Collect the report's facts from a plan, its image and label map.

    Parameters
    ----------
    plan : Plan
        A plan whose metrics are present and fresh (:meth:`Plan.metrics_stale` is False).
    volume : Volume
        The planning image (identifiers come from its metadata and, for DICOM,
        from the first source file).
    label_map : LabelMap
        Tumor and organs on the image grid.
    deidentify : bool
        Replace every patient identifier with ``DE-IDENTIFIED``.
    report_date : datetime, optional
        Date printed as the report date; now by default.
    extra_warnings : tuple of str
        Further warnings (loading the plan's files, re-evaluation) to list
        after the plan's own (:attr:`Plan.warnings`).
    planned_by, approved_by : str, optional
        Names printed in the sign-off lines instead of the plan's; empty leaves
        a line to sign.

    Returns
    -------
    ReportContent

    Raises
    ------
    ReportError
        When the plan has no metrics or stale ones (re-evaluate it first), has no
        probes, or its target label is empty.
    """
    metrics = plan.metrics
    if metrics is None:
        raise ReportError(
            "the plan has no metrics; evaluate it ('cryoplan evaluate PLAN') before reporting."
        )
    if plan.metrics_stale():
        raise ReportError(
            "the plan's metrics are stale (probes, protocol or settings changed since they were "
            "computed); re-evaluate the plan before reporting."
        )
    if not plan.probes:
        raise ReportError("the plan has no probes; there is nothing to report.")
    volume.geometry.require_match(label_map.geometry, what="image and label map")
    tumor = label_map.mask(plan.target_label)
    if not tumor.any():
        raise ReportError(f"label {plan.target_label!r} is empty; segment the tumor first.")
    if deidentify:
        # Names stored in the plan are left out like every other person's name
        # (PS3.15 removes operators and physicians); names given here are meant.
        stored_planned_by, stored_approved_by = "", ""
    else:
        stored_planned_by, stored_approved_by = plan.planned_by, plan.approved_by
    header = _header(
        plan,
        volume,
        deidentify=deidentify,
        report_date=report_date,
        planned_by=stored_planned_by if planned_by is None else planned_by,
        approved_by=stored_approved_by if approved_by is None else approved_by,
    )
    target = _target(plan.target_label, tumor, label_map)
    paths = metrics.paths if len(metrics.paths) == len(plan.probes) else (None,) * len(plan.probes)
    probes = tuple(
        _probe_row(index, probe, path, label_map)
        for index, (probe, path) in enumerate(zip(plan.probes, paths, strict=True))
    )
    protocol = plan.parsed_protocol()
    phases = tuple(
        PhaseRow(phase.kind, start / 60.0, (start + phase.duration_s) / 60.0)
        for phase, start in zip(protocol.phases, protocol.phase_starts_s(), strict=True)
    )
    warnings = _warnings(plan, volume, probes, extra_warnings)
    if deidentify:
        warnings = tuple(dict.fromkeys(without_paths(w) for w in warnings))
    return ReportContent(
        header=header,
        target=target,
        probes=probes,
        protocol_code=protocol.code,
        phases=phases,
        total_freeze_s=protocol.freeze_time_s,
        metrics=metrics,
        acceptance=accept_plan(
            metrics,
            plan.settings,
            approach=recorded_approach_checks(plan),
            protection=simulated_protection(plan),
            allow_leaving_image=volume.modality == "US",
        ),
        robustness=metrics.robustness,
        warnings=warnings,
        assumptions=_assumptions(plan, metrics),
        window_level=window_level(volume),
        # Free text: it may name the patient.
        notes="" if deidentify else plan.notes,
        approach=approach_info(plan),
    )


def plan_checks(
    plan: Plan, metrics: PlanMetrics, *, allow_leaving_image: bool = False
) -> tuple[AcceptanceCheck, ...]:
    """Pass/fail of the plan's goals and limits, in the order the summary lists them.

    The checks of :func:`~planning_core.planning.acceptance.accept_plan` on the
    plan's settings: the report judges by the rule every other summary applies.
    """
    return accept_plan(
        metrics, plan.settings, approach=recorded_approach_checks(plan),
        protection=simulated_protection(plan), allow_leaving_image=allow_leaving_image,
    ).checks  # fmt: skip


def window_level(volume: Volume) -> tuple[float, float]:
    """Display window width and level: soft tissue for CT, the 1-99 % range otherwise."""
    if volume.modality == "CT":
        return 400.0, 40.0
    low, high = np.percentile(volume.voxels[::2, ::4, ::4], (1.0, 99.0))
    return float(max(high - low, 1e-6)), float(0.5 * (low + high))


def _header(
    plan: Plan,
    volume: Volume,
    *,
    deidentify: bool,
    report_date: datetime | None,
    planned_by: str,
    approved_by: str,
) -> HeaderInfo:
    if deidentify:
        # Descriptions, plan names and dates are free text or dates taken from the
        # data: any of them may name the patient or date the procedure.
        return HeaderInfo(
            patient_name=DEIDENTIFIED,
            patient_id=DEIDENTIFIED,
            birth_date=DEIDENTIFIED,
            accession_number=DEIDENTIFIED,
            study_date=DEIDENTIFIED,
            study_description="",
            series_description="",
            plan_name=DEIDENTIFIED_TITLE,
            report_date=DEIDENTIFIED,
            software=f"cryoplan {__version__}",
            deidentified=True,
            planned_by=planned_by.strip(),
            approved_by=approved_by.strip(),
        )
    metadata = volume.metadata
    identity = {
        "patient_name": str(metadata.get("patient_name", "") or ""),
        "patient_id": str(metadata.get("patient_id", "") or ""),
        "study_date": str(metadata.get("study_date", "") or ""),
        **source_identifiers(volume),
    }
    when = report_date or datetime.now()
    return HeaderInfo(
        patient_name=identity["patient_name"].replace("^", " ").strip() or "unknown",
        patient_id=identity["patient_id"] or "unknown",
        birth_date=_date_text(identity.get("birth_date", "")),
        accession_number=identity.get("accession_number", "") or "none",
        study_date=_date_text(identity["study_date"]),
        study_description=str(metadata.get("study_description", "") or ""),
        series_description=str(
            metadata.get("series_description", "")
            or (plan.case.description if plan.case else "")
            or ""
        ),
        plan_name=_plan_title(plan, volume),
        report_date=when.strftime("%Y-%m-%d %H:%M"),
        software=f"cryoplan {__version__}",
        deidentified=False,
        planned_by=planned_by.strip(),
        approved_by=approved_by.strip(),
    )


def _plan_title(plan: Plan, volume: Volume) -> str:
    """The plan's name, or the image's description when it has none or names a file path."""
    name = plan.name.strip()
    if name and not looks_like_path(name):
        return name
    fallback = plan.case.description if plan.case is not None else ""
    return image_title(volume.metadata, fallback=fallback) or "cryoablation plan"


def without_paths(text: str) -> str:
    """``text`` with every file system path replaced by ``[file]`` (folders may name people)."""
    for pattern in _PATHS:
        text = pattern.sub("[file]", text)
    return text


def source_identifiers(volume: Volume) -> dict[str, str]:
    """Birth date and accession number from the first DICOM source file, when there is one."""
    files = volume.metadata.get("source_files") or []
    if not files:
        return {}
    try:
        dataset = pydicom.dcmread(
            files[0], stop_before_pixels=True, specific_tags=["PatientBirthDate", "AccessionNumber"]
        )
    except (OSError, pydicom.errors.InvalidDicomError):
        return {}
    return {
        "birth_date": str(dataset.get("PatientBirthDate", "") or ""),
        "accession_number": str(dataset.get("AccessionNumber", "") or ""),
    }


def _date_text(value: str) -> str:
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or "unknown"


def _target(name: str, tumor: NDArray[np.bool_], label_map: LabelMap) -> TargetInfo:
    geometry = label_map.geometry
    kji = np.argwhere(tumor)
    centre_ijk = kji.mean(axis=0)[::-1]
    centre = geometry.index_to_lps(centre_ijk)
    points = geometry.index_to_lps(kji[:, ::-1].astype(np.float64))
    voxel_extent = np.abs(geometry.direction @ geometry.spacing_mm)
    extent = points.max(axis=0) - points.min(axis=0) + voxel_extent
    recist = recist_axes(tumor, geometry)
    return TargetInfo(
        label=name,
        # The definitions every screen uses, so that the report reads as the app.
        volume_ml=mask_volume_ml(tumor, geometry),
        max_diameter_mm=max_diameter_mm(tumor, geometry),
        recist_long_mm=None if recist is None else recist.long_mm,
        recist_short_mm=None if recist is None else recist.short_mm,
        extent_lr_ap_si_mm=(float(extent[0]), float(extent[1]), float(extent[2])),
        centre_lps_mm=(float(centre[0]), float(centre[1]), float(centre[2])),
        centre_slice=slice_number(geometry, centre),
        slice_count=geometry.shape[0],
        surroundings=surroundings(tumor, label_map),
    )


def slice_number(geometry: Geometry, point_lps_mm: ArrayLike) -> int:
    """1-based number of the image slice (k) nearest to a point: what a console shows."""
    return int(np.rint(geometry.lps_to_index(point_lps_mm)[2])) + 1


def surroundings(tumor: NDArray[np.bool_], label_map: LabelMap, *, count: int = 3) -> str:
    """The labels bordering the tumor with their share of its one-voxel shell, largest first."""
    box = bounding_box(tumor, 1)
    if box is None:
        return "unknown"
    crop = tumor[box]
    shell = ndimage.binary_dilation(crop) & ~crop
    values = label_map.voxels[box][shell]
    shares = np.bincount(values, minlength=1) / max(values.size, 1)
    names = {info.value: info.name.replace("_", " ") for info in label_map.table}
    order = [v for v in np.argsort(shares)[::-1] if shares[v] > 0][:count]
    parts = [f"{names.get(int(v), 'unlabelled')} {100.0 * shares[v]:.0f} %" for v in order]
    return ", ".join(parts) + " of the tumor border" if parts else "unknown"


def _probe_row(
    index: int,
    probe: PlannedProbe,
    path: PathReport | None,
    label_map: LabelMap,
) -> ProbeRow:
    geometry = label_map.geometry
    try:
        model = load_probe_library().get(probe.model_id)
        model_name = model.name
    except (InvalidParameterError, OSError):
        model_name = "not in the probe library"
    tip_slice = slice_number(geometry, probe.tip_lps_mm)
    if path is None:
        return ProbeRow(
            probe.label or f"P{index + 1}",
            probe.model_id,
            model_name,
            probe.tip_lps_mm,
            probe.entry_lps_mm,
            tip_slice,
            None,
            None,
            None,
            None,
            None,
            "not analysed",
            None,
            ("path not analysed",),
        )
    entry = path.skin_entry_lps_mm or probe.entry_lps_mm
    entry_slice = slice_number(geometry, entry)
    closest = path.critical_closest_mm
    name = min(closest, key=closest.get) if closest else "none labelled"
    return ProbeRow(
        label=probe.label or f"P{index + 1}",
        model_id=probe.model_id,
        model_name=model_name,
        tip_lps_mm=probe.tip_lps_mm,
        entry_lps_mm=tuple(float(v) for v in entry),  # type: ignore[arg-type]
        tip_slice=tip_slice,
        entry_slice=entry_slice,
        path_length_mm=path.length_in_body_mm,
        craniocaudal_deg=path.craniocaudal_angle_deg,
        in_plane_deg=path.in_plane_angle_deg,
        elevation_deg=path.elevation_deg,
        closest_structure=name,
        closest_mm=closest.get(name),
        problems=tuple(path.problems),
    )


def _warnings(
    plan: Plan, volume: Volume, probes: tuple[ProbeRow, ...], extra: tuple[str, ...]
) -> tuple[str, ...]:
    """Every warning, each once: the plan's (with their step), the image's, then the rest."""
    known = {w.text for w in plan.warnings}
    warnings = [str(w) for w in plan.warnings]
    warnings += [str(PlanWarning("image", text)) for text in volume.warnings if text not in known]
    warnings += [text for text in extra if text not in known]
    for row in probes:
        warnings += [f"{row.label}: {problem}" for problem in row.problems]
        if row.model_name == "not in the probe library":
            warnings.append(f"{row.label}: probe model {row.model_id!r} is not in the library.")
    metrics = plan.metrics
    if metrics is not None:
        missing = not_assessed_warning(metrics)
        if missing is not None:
            warnings.append(missing)
        for oar in metrics.oars:
            if not oar.clear and oar.distance_to_ice_mm is not None:
                warnings.append(
                    f"{oar.name}: 0 °C ice edge at {format_length_mm(oar.distance_to_ice_mm)}, "
                    f"clearance {oar.clearance_mm:g} mm required."
                )
    return tuple(dict.fromkeys(warnings))


def _assumptions(plan: Plan, metrics: PlanMetrics) -> tuple[str, ...]:
    lines = [f"Temperatures computed with {metrics.computed_with}."]
    try:
        lines.append(f"Tissue property data version {load_tissue_library().version}.")
    except (InvalidParameterError, OSError):
        lines.append("Tissue property data: not found.")
    try:
        library = load_probe_library()
    except (InvalidParameterError, OSError):
        library = None
        lines.append("Probe library: not found; calibration sources unknown.")
    if library is not None:
        lines.append(f"Probe library version {library.version}.")
        for model_id in dict.fromkeys(p.model_id for p in plan.probes):
            if model_id in library.models:
                source = library.models[model_id].calibration.get("source", "unstated")
                lines.append(f"Probe {model_id} calibrated against: {source}.")
    lines += [
        "Isotherms show the lowest temperature each voxel reached during the whole protocol.",
        "Probes are straight rigid shafts placed exactly as planned; deflection and "
        "placement error are not modelled unless a robustness analysis is shown.",
        "Organ positions are those of the planning image (no breathing or deformation).",
        f"Planning goal {plan.settings.goal.value}: coverage passes at "
        f"≥ {plan.settings.coverage_goal_percent:g} % of tumor + "
        f"{plan.settings.zone_margin_mm:g} mm voxels at or below "
        f"{plan.settings.zone_isotherm_c:g} °C.",
    ]
    return tuple(lines)


def report_file_stem(plan_path: str | Path) -> str:
    """``case.cryoplan.json`` → ``case``: the stem report files are named after."""
    name = Path(plan_path).name
    for suffix in (".cryoplan.json", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem
