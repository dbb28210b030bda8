"""PDF report of an intra-procedural confirmation: placed probes, visible ice, what to do next.

One A4 document laid out like the plan report: the recommendation (framed in
green when the probes as placed reach the plan's goal, amber when another
option does, red when none does), the options with their predicted margins,
each probe's placement error, the visible against the predicted ice, an axial
slice of the intra-procedural CT through the tumor with the planned and placed
probes and both ice edges, and the warnings.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import NDArray
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, Spacer, Table, TableStyle
from scipy import ndimage

from planning_core import __version__
from planning_core.confirm.intra import IntraConfirmation
from planning_core.figures import format_margin_mm
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.plan import Plan
from planning_core.report.figures import figure_png
from planning_core.report.pdf import (
    FAIL_COLOUR,
    PASS_COLOUR,
    TEXT_WIDTH,
    WARNING_EDGE,
    escape_markup,
    follow_up_furniture,
    paragraph_styles,
    png_flowable,
    register_fonts,
    styled_table,
    write_story_pdf,
)
from planning_core.thermal.result import ICE_EDGE_C

#: Half the field of view of the slice around the tumor (mm) and its sampling step.
VIEW_HALF_WIDTH_MM = 45.0
VIEW_STEP_MM = 0.5


def write_intra_confirmation_pdf(
    result: IntraConfirmation,
    plan: Plan,
    planning: Volume,
    label_map: LabelMap,
    intra: Volume,
    path: str | Path,
    *,
    now: datetime.datetime | None = None,
) -> Path:
    """Write the report of an intra-procedural confirmation to ``path`` (atomically).

    Parameters
    ----------
    result : IntraConfirmation
    plan : Plan
        The plan that was followed.
    planning, label_map : Volume, LabelMap
        Its planning CT and labels.
    intra : Volume
        The intra-procedural CT.
    path : path
        The PDF to write.

    Raises
    ------
    ReportError
        When the file cannot be written.
    """
    register_fonts()
    styles = paragraph_styles()
    when = (now or datetime.datetime.now()).strftime("%Y-%m-%d %H:%M")
    plan_name = plan.name or Path(path).stem
    furniture = follow_up_furniture(
        planning, plan_name=plan_name, when=when, software=f"cryoplan {__version__}"
    )
    story = _story(result, plan, planning, label_map, intra, styles)
    return write_story_pdf(
        story, path, draw_furniture=furniture,
        title=f"Intra-procedural confirmation: {plan_name}",
        subject="Cryoablation intra-procedural confirmation",
        software=f"cryoplan {__version__}", what="confirmation report",
    )  # fmt: skip


def _story(
    result: IntraConfirmation, plan: Plan, planning: Volume, label_map: LabelMap,
    intra: Volume, styles: dict,
) -> list:  # fmt: skip
    recommendation = result.recommendation
    chosen = recommendation.chosen
    if chosen is not None and chosen.outcome.meets_goal:
        colour = PASS_COLOUR if chosen.kind == "proceed" else WARNING_EDGE
    else:
        colour = FAIL_COLOUR
    verdict = Table(
        [[Paragraph(escape_markup(recommendation.text), styles["verdict"])]],
        colWidths=[TEXT_WIDTH],
    )
    verdict.setStyle(TableStyle([
        ("BOX", (0, 0), (-1, -1), 1.5, colour),
        ("BACKGROUND", (0, 0), (-1, -1), colors.Color(*colour.rgb(), alpha=0.12)),
        ("TOPPADDING", (0, 0), (-1, -1), 6), ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
    ]))  # fmt: skip
    registration = result.registration
    registration_text = f"Registration ({registration.method}): {registration.quality.message}"
    story: list = [
        Paragraph("Intra-procedural confirmation", styles["title"]),
        Spacer(1, 3 * mm),
        verdict,
        Paragraph("Options", styles["h1"]),
        styled_table(
            _option_rows(result),
            [0.56 * TEXT_WIDTH, 0.16 * TEXT_WIDTH, 0.16 * TEXT_WIDTH, 0.12 * TEXT_WIDTH],
            styles,
        ),
        Paragraph(
            f"Predicted over the whole protocol for the probes as placed, on the planning CT "
            f"after registration, against the plan's goal ({plan.settings.zone_isotherm_c:g} °C "
            f"at {plan.settings.zone_margin_mm:g} mm beyond the tumor).",
            styles["small"],
        ),
        Paragraph("Placed probes", styles["h1"]),
        styled_table(_probe_rows(result), [0.2 * TEXT_WIDTH] + [0.16 * TEXT_WIDTH] * 5, styles),
        Paragraph("Visible and predicted ice", styles["h1"]),
        styled_table(_ice_rows(result), [0.5 * TEXT_WIDTH, 0.5 * TEXT_WIDTH], styles),
        # The heading stays with its slice: alone at the foot of a page it reads as missing.
        KeepTogether(
            [
                Paragraph("Axial slice through the tumor", styles["h1"]),
                png_flowable(
                    _slice_png(result, plan, label_map, intra),
                    TEXT_WIDTH * 0.7,
                    max_height=95 * mm,
                ),
                Paragraph(
                    "The intra-procedural CT registered to the planning CT. Radiological "
                    "convention: the patient's left on the right, anterior at the top.",
                    styles["small"],
                ),
            ]
        ),
        Paragraph("Registration and warnings", styles["h1"]),
        Paragraph(escape_markup(registration_text), styles["body"]),
    ]
    for warning in result.warnings:
        story.append(Paragraph(f"• {escape_markup(warning)}", styles["body"]))
    return story


def _option_rows(result: IntraConfirmation) -> list[list[str]]:
    rows = [["Option", "Minimal margin", "Tumor + margin", "Goal"]]
    for option in result.recommendation.options:
        outcome = option.outcome
        rows.append([
            option.text, format_margin_mm(outcome.minimal_margin_mm),
            f"{outcome.zone_covered_percent:.0f} %", "met" if outcome.meets_goal else "not met",
        ])  # fmt: skip
    return rows


def _probe_rows(result: IntraConfirmation) -> list[list[str]]:
    rows = [["Probe", "Tip error", "Angle error", "Depth error", "Lateral error", "Entry"]]

    def mm_text(value: float | None, signed: bool = False) -> str:
        if value is None:
            return "—"
        return f"{value:+.1f} mm" if signed else f"{value:.1f} mm"

    for report in result.placed:
        rows.append([
            report.plan_label or "not in the plan", mm_text(report.tip_error_mm),
            "—" if report.angle_error_deg is None else f"{report.angle_error_deg:.1f}°",
            mm_text(report.depth_error_mm, signed=True), mm_text(report.lateral_error_mm),
            "skin" if report.entry_on_skin else "image edge",
        ])  # fmt: skip
    rows += [[label, "not found", "—", "—", "—", "—"] for label in result.missing]
    return rows


def _ice_rows(result: IntraConfirmation) -> list[list[str]]:
    ice, comparison = result.visible_ice, result.ice_comparison
    rows = [
        ["Figure", "Value"],
        ["Elapsed time since the protocol started", f"{result.elapsed_s / 60.0:.1f} min"],
        ["Visible ice volume", f"{ice.volume_ml:.1f} ml"],
    ]
    if comparison is None:
        rows.append(["Against the prediction", f"not assessed ({ice.note or 'no ice predicted'})"])
        return rows
    rows += [
        ["Predicted ice (0 °C) volume at that time", f"{comparison.predicted_volume_ml:.1f} ml"],
        ["Mean signed distance, visible to predicted edge",
         f"{comparison.mean_signed_mm:+.1f} mm (positive: beyond the prediction)"],
        ["Median / 95th percentile of the distance",
         f"{comparison.median_abs_mm:.1f} / {comparison.p95_abs_mm:.1f} mm"],
        ["Farthest beyond / short of the prediction",
         f"{comparison.max_beyond_mm:.1f} / {comparison.max_short_mm:.1f} mm"],
    ]  # fmt: skip
    return rows


def _slice_png(result: IntraConfirmation, plan: Plan, label_map: LabelMap, intra: Volume) -> bytes:
    """The registered intra-procedural CT on the planning axial plane through the tumor."""
    geometry = label_map.geometry
    tumor = label_map.mask(plan.target_label)
    centre = geometry.index_to_lps(np.argwhere(tumor).mean(axis=0)[::-1])
    offsets = np.arange(-VIEW_HALF_WIDTH_MM, VIEW_HALF_WIDTH_MM + 1e-9, VIEW_STEP_MM)
    x, y = np.meshgrid(centre[0] + offsets, centre[1] + offsets, indexing="xy")
    points = np.stack([x, y, np.full(x.shape, centre[2])], axis=-1).reshape(-1, 3)
    on_intra = result.registration.planning_to_follow_up_lps(points)
    image = _sample(intra.voxels, intra.geometry.lps_to_index(on_intra), order=1, outside=-1000.0)
    tumor_plane = _sample(tumor.astype(np.float32), geometry.lps_to_index(points), order=0)
    ice_plane = _sample(
        result.visible_ice.mask.astype(np.float32),
        result.visible_ice.geometry.lps_to_index(on_intra), order=0,
    )  # fmt: skip
    prediction = result.prediction
    predicted = prediction.temperature_at(points, which=float(result.elapsed_s))
    shape = x.shape
    figure = Figure(figsize=(5.0, 5.0), dpi=130)
    ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    extent = (offsets[0], offsets[-1], offsets[-1], offsets[0])
    # Radiological convention: patient's left (+x) on the right is the plain x axis; anterior
    # (-y) at the top is y increasing downwards.
    ax.imshow(image.reshape(shape), cmap="gray", vmin=-160, vmax=240, extent=extent)
    for values, level, colour, style in (
        (tumor_plane, 0.5, "#e53e3e", "-"),
        (ice_plane, 0.5, "#00b5d8", "-"),
        (predicted, ICE_EDGE_C, "#ecc94b", "--"),
    ):
        if np.nanmin(values) < level < np.nanmax(values):
            ax.contour(offsets, offsets, values.reshape(shape), levels=[level], colors=colour,
                       linestyles=style, linewidths=1.2)  # fmt: skip
    for probe in plan.probes:
        _draw_probe(ax, probe.tip_lps_mm, probe.direction_lps, centre, "#f6e05e", ":")
    for report in result.placed:
        _draw_probe(ax, report.tip_lps_mm, report.direction_lps, centre, "#ffffff", "-")
    ax.set_xlim(offsets[0], offsets[-1])
    ax.set_ylim(offsets[-1], offsets[0])
    ax.set_axis_off()
    ax.legend(
        handles=[
            Line2D([], [], color="#e53e3e", label="tumor"),
            Line2D([], [], color="#00b5d8", label="visible ice"),
            Line2D([], [], color="#ecc94b", linestyle="--", label="predicted 0 °C now"),
            Line2D([], [], color="#f6e05e", linestyle=":", label="planned probe"),
            Line2D([], [], color="#ffffff", label="placed probe"),
        ],
        loc="lower left", fontsize=7, framealpha=0.6,
    )  # fmt: skip
    return figure_png(figure)


def _draw_probe(ax, tip, direction, centre, colour: str, style: str) -> None:
    """A probe projected on the axial plane, from 60 mm behind its tip to the tip."""
    tip = np.asarray(tip) - centre
    back = tip - 60.0 * np.asarray(direction)
    ax.plot([back[0], tip[0]], [back[1], tip[1]], color=colour, linestyle=style, linewidth=1.5)


def _sample(
    values: NDArray, ijk: NDArray[np.float64], *, order: int, outside: float = 0.0
) -> NDArray[np.float64]:
    return ndimage.map_coordinates(
        np.asarray(values, dtype=np.float32), ijk[:, ::-1].T, order=order, mode="constant",
        cval=outside,
    )  # fmt: skip
