"""Produce the plan report: collect its content, render its figures, lay out the PDF."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.metrics import margin_zone_mask, oar_names
from planning_core.planning.plan import Plan
from planning_core.progress import CancelToken, ProgressCallback, checked_progress
from planning_core.report import figures
from planning_core.report.content import ReportContent, collect_report_content
from planning_core.report.pdf import ReportFigures, write_report_pdf
from planning_core.report.slices import (
    DoseField,
    SlicePlane,
    oriented_plane,
    probe_planes,
    probe_view_size_mm,
    standard_planes,
)

#: Pixels across a key-image panel; about 0.3 mm per pixel at 60 mm across.
PANEL_PIXELS = 360
#: Space shown around tumor + margin in the zoomed key images.
KEY_IMAGE_SURROUND_MM = 25.0


@dataclass(frozen=True)
class ReportOutput:
    """A written report: its file, its facts and its figures (reused by DICOM export)."""

    path: Path
    content: ReportContent
    figures: ReportFigures


def build_scene(
    plan: Plan, volume: Volume, label_map: LabelMap, dose: DoseField | None, content: ReportContent
) -> figures.Scene:
    """The drawable case: masks, organs at risk, dose, isotherms and probes (skin entry to tip)."""
    tumor = label_map.mask(plan.target_label)
    return figures.Scene(
        volume=volume,
        label_map=label_map,
        tumor=tumor,
        margin_zone=margin_zone_mask(tumor, label_map.geometry, plan.settings.margin_mm),
        oars=oar_names(plan, label_map),
        dose=dose,
        isotherms_c=plan.settings.metric_isotherms_c(),
        probes=tuple(
            figures.SceneProbe(row.label, row.entry_lps_mm, row.tip_lps_mm)
            for row in content.probes
        ),
        window_level=content.window_level,
        lethal_isotherm_c=plan.settings.lethal_isotherm_c,
    )


def key_planes(content: ReportContent, volume: Volume) -> tuple[SlicePlane, ...]:
    """Axial, coronal and sagittal zooms on the tumor centre, and the whole axial slice."""
    target = content.target
    half = 0.5 * target.max_diameter_mm + content.metrics.margin_mm + KEY_IMAGE_SURROUND_MM
    zoomed = standard_planes(
        target.centre_lps_mm, half_size_mm=half, pixel_mm=2.0 * half / PANEL_PIXELS
    )
    corners = volume.geometry.corners_lps()
    low, high = corners.min(axis=0), corners.max(axis=0)
    whole_half = 0.5 * float(np.max(high[:2] - low[:2]))
    centre = np.array([0.5 * (low[0] + high[0]), 0.5 * (low[1] + high[1]), target.centre_lps_mm[2]])
    whole = oriented_plane(
        centre,
        (0.0, 0.0, 1.0),
        half_width_mm=whole_half,
        half_height_mm=whole_half,
        pixel_mm=2.0 * whole_half / PANEL_PIXELS,
        title="Axial, whole slice",
    )
    return (*zoomed, whole)


def render_figures(
    content: ReportContent,
    scene: figures.Scene,
    *,
    lethal_isotherm_c: float,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ReportFigures:
    """Render every report figure as PNG."""

    step = checked_progress(progress, cancel)

    step(0.0, "Drawing the key images")
    key_images = figures.slice_views_png(scene, key_planes(content, scene.volume), columns=2)
    views = []
    for index, probe in enumerate(scene.probes):
        step(0.3 + 0.3 * index / len(scene.probes), f"Drawing the view along {probe.label}")
        length = float(np.linalg.norm(np.subtract(probe.tip_lps_mm, probe.entry_lps_mm)))
        planes = probe_planes(
            probe.tip_lps_mm,
            probe.entry_lps_mm,
            label=probe.label,
            pixel_mm=max(probe_view_size_mm(length), 80.0) / PANEL_PIXELS,
        )
        own = dataclasses.replace(scene, labelled_probes=(probe.label,))
        views.append(figures.slice_views_png(own, planes, columns=2, legend=False))
    step(0.6, "Drawing the 3-D overview")
    overview = figures.overview_3d_png(scene, lethal_isotherm_c=lethal_isotherm_c)
    step(0.8, "Drawing the charts")
    colours = {content.target.label: (0.9, 0.1, 0.1), "margin_shell": (0.95, 0.55, 0.55)}
    tvh = figures.tvh_png(
        content.metrics.histograms, isotherms_c=scene.isotherms_c, colours=colours
    )
    protocol = figures.protocol_png(content.phases)
    robustness = (
        None
        if content.robustness is None
        else figures.robustness_png(
            content.robustness, required_margin_mm=content.metrics.margin_mm
        )
    )
    step(1.0, "Figures ready")
    return ReportFigures(key_images, tuple(views), overview, tvh, protocol, robustness)


def build_report(
    plan: Plan,
    volume: Volume,
    label_map: LabelMap,
    *,
    dose: DoseField | None,
    out_path: str | Path,
    deidentify: bool = False,
    report_date: datetime | None = None,
    warnings: tuple[str, ...] = (),
    planned_by: str | None = None,
    approved_by: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ReportOutput:
    """Write the PDF report of a plan with fresh metrics.

    Parameters
    ----------
    plan : Plan
        The plan; its metrics must be fresh.
    volume, label_map : Volume, LabelMap
        Planning image and labels on one grid.
    dose : DoseField or None
        Lethal-dose field of the plan's simulation; without it the key images show
        no isotherms and the report says so among its warnings.
    out_path : path
        The PDF to write.
    deidentify : bool
        Remove patient identifiers (a banner on every page says so).
    report_date : datetime, optional
        Date printed on the report; now by default.
    warnings : tuple of str
        Further warnings to list after the plan's own (loading, re-evaluation).
    planned_by, approved_by : str, optional
        Names for the sign-off lines instead of the plan's; empty leaves a line
        to sign.
    progress, cancel
        Progress callback and cancel token.

    Returns
    -------
    ReportOutput
    """
    if dose is None:
        warnings = (
            *warnings,
            "No temperature field was available: the images show no isotherms.",
        )
    content = collect_report_content(
        plan,
        volume,
        label_map,
        deidentify=deidentify,
        report_date=report_date,
        extra_warnings=warnings,
        planned_by=planned_by,
        approved_by=approved_by,
    )
    scene = build_scene(plan, volume, label_map, dose, content)

    def figure_progress(fraction: float, message: str) -> None:
        if progress is not None:
            progress(0.9 * fraction, message)

    rendered = render_figures(
        content,
        scene,
        lethal_isotherm_c=plan.settings.lethal_isotherm_c,
        progress=figure_progress,
        cancel=cancel,
    )
    if progress is not None:
        progress(0.9, "Laying out the PDF")
    path = write_report_pdf(content, rendered, out_path)
    if progress is not None:
        progress(1.0, f"Report written to {path}")
    return ReportOutput(path, content, rendered)
