"""PDF report of a post-ablation margin confirmation, laid out like the plan report.

One A4 document: the verdict (minimal ablative margin and its category), the
figures (margin, shell coverage, volumes, registration), slices through the
thinnest margin with the tumor, zone, shell and predicted lethal zone, the
3-D margin map, the plan against the result, the exemptions applied, what the
literature says about the category, and the warnings.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, Spacer, Table, TableStyle

from planning_core import __version__
from planning_core.confirm.margin_evidence import (
    EVIDENCE_LIMITS,
    MARGIN_EVIDENCE,
    REQUIRED_MARGIN_MM,
    MarginCategory,
)
from planning_core.confirm.post import PostConfirmation
from planning_core.figures import (
    format_coverage_percent,
    format_length_mm,
    format_margin_mm,
    format_volume_ml,
)
from planning_core.report.confirmation_figures import margin_map_png, slice_views_png
from planning_core.report.content import slice_number
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

CATEGORY_COLOURS = {
    MarginCategory.INCOMPLETE: FAIL_COLOUR,
    MarginCategory.BELOW_5_MM: WARNING_EDGE,
    MarginCategory.AT_LEAST_5_MM: PASS_COLOUR,
}
CATEGORY_TEXT = {
    MarginCategory.INCOMPLETE: "INCOMPLETE: tumor lies outside the ablation zone",
    MarginCategory.BELOW_5_MM: f"MARGIN BELOW {REQUIRED_MARGIN_MM:g} MM",
    MarginCategory.AT_LEAST_5_MM: f"MARGIN AT LEAST {REQUIRED_MARGIN_MM:g} MM",
}


def write_confirmation_pdf(
    result: PostConfirmation, path: str | Path, *, now: datetime.datetime | None = None
) -> Path:
    """Write the confirmation report of ``result`` to ``path`` (atomically).

    Raises
    ------
    ReportError
        When the file cannot be written.
    """
    register_fonts()
    styles = paragraph_styles()
    when = (now or datetime.datetime.now()).strftime("%Y-%m-%d %H:%M")
    plan_name = result.plan.name or result.plan_path.stem
    furniture = follow_up_furniture(
        result.planning_volume, plan_name=plan_name, when=when, software=f"cryoplan {__version__}"
    )
    story = _story(result, styles)
    return write_story_pdf(
        story,
        path,
        draw_furniture=furniture,
        title=f"Post-ablation margin confirmation: {plan_name}",
        subject="Cryoablation margin confirmation",
        software=f"cryoplan {__version__}",
        what="confirmation report",
    )


def _story(result: PostConfirmation, styles: dict) -> list:
    margin = result.margin
    story: list = [
        Paragraph("Post-ablation margin confirmation", styles["title"]),
        Spacer(1, 3 * mm),
        _verdict(result, styles),
        Spacer(1, 3 * mm),
        Paragraph("Figures", styles["h1"]),
        styled_table(_figure_rows(result), [0.42 * TEXT_WIDTH, 0.58 * TEXT_WIDTH], styles),
        KeepTogether(
            [
                Paragraph("Slices through the thinnest margin", styles["h1"]),
                png_flowable(slice_views_png(result), TEXT_WIDTH, max_height=80 * mm),
                Paragraph(
                    "Registered post-ablation CT on the planning grid. Radiological "
                    "convention: the patient's left is on the right of the axial and coronal "
                    "views.",
                    styles["small"],
                ),
            ]
        ),
        KeepTogether(
            [
                Paragraph("Margin map on the tumor surface", styles["h1"]),
                png_flowable(margin_map_png(result), TEXT_WIDTH, max_height=85 * mm),
                Paragraph(
                    "Each point of the tumor surface coloured by its signed distance to the "
                    "edge of the ablation zone: red where the margin is thin or tumor lies "
                    "outside, green where it is wide; grey points are exempt; the cross marks "
                    "the thinnest margin.",
                    styles["small"],
                ),
            ]
        ),
    ]
    story += _plan_versus_result(result, styles)
    story += [Paragraph("Exemptions", styles["h1"]), Paragraph(_exemptions(result), styles["body"])]
    story += _evidence(styles)
    notes = list(result.warnings)
    story.append(Paragraph("Warnings and assumptions", styles["h1"]))
    notes.append(
        "Measured on the planning CT's grid after registration; the margin and the zone are "
        "only as good as the registration and the zone's boundary: check both on the slices."
    )
    if margin.exemptions:
        notes.append("The category uses the margin with the exemptions listed above.")
    for note in notes:
        story.append(Paragraph(f"• {escape_markup(note)}", styles["body"]))
    return story


def _verdict(result: PostConfirmation, styles: dict) -> Table:
    category = result.margin.category
    colour = CATEGORY_COLOURS[category]
    text = (
        f"{CATEGORY_TEXT[category]}<br/>minimal ablative margin "
        f"{escape_markup(format_margin_mm(result.minimal_margin_mm))} · shell "
        f"{result.options.shell_mm:g} mm covered "
        f"{escape_markup(format_coverage_percent(result.margin.shell_coverage_percent))}"
    )
    if result.zone.edge_estimated:
        text += "<br/>(margin estimated inside the tumor: see the warnings)"
    table = Table([[Paragraph(text, styles["verdict"])]], colWidths=[TEXT_WIDTH])
    table.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 1.5, colour),
                ("BACKGROUND", (0, 0), (-1, -1), colors.Color(*colour.rgb(), alpha=0.12)),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    return table


def _figure_rows(result: PostConfirmation) -> list[list[str]]:
    margin = result.margin
    geometry = result.planning_volume.geometry
    registration = result.registration
    rows = [
        ["Figure", "Value"],
        [
            "Minimal ablative margin (signed, whole tumor surface)",
            format_margin_mm(margin.minimal_margin_mm),
        ],
    ]
    if margin.exemptions:
        rows.append(
            ["Minimal ablative margin with exemptions", format_margin_mm(margin.counted_margin_mm)]
        )
    location = margin.thinnest_location_lps_mm
    if location is not None:
        rows.append(
            [
                "Thinnest margin at (LPS)",
                f"{location[0]:.1f}, {location[1]:.1f}, {location[2]:.1f} mm "
                f"(planning slice {slice_number(geometry, location)})",
            ]
        )
    rows += [
        ["5th percentile of the margin", format_margin_mm(margin.percentile5_mm)],
        [
            f"Share of the {margin.shell_mm:g} mm shell covered",
            format_coverage_percent(margin.shell_coverage_percent),
        ],
        ["Tumor volume", format_volume_ml(margin.tumor_volume_ml)],
        ["Tumor outside the ablation zone", format_volume_ml(margin.tumor_outside_zone_ml)],
        ["Ablation zone volume", format_volume_ml(margin.zone_volume_ml)],
        [
            "Ablation zone found",
            f"{result.zone_source}; zone {result.zone.zone_hu:.0f} HU, {result.zone.beside} "
            f"{result.zone.parenchyma_hu:.0f} HU, edge at {result.zone.threshold_hu:.0f} HU",
        ],
        ["Registration", f"{registration.method}: {registration.quality.message}"],
    ]
    return rows


def _plan_versus_result(result: PostConfirmation, styles: dict) -> list:
    section: list = [Paragraph("Plan against result", styles["h1"])]
    comparison = result.plan_vs_result
    if comparison is None:
        section.append(
            Paragraph("Not assessed: the plan has no probes or no lethal zone.", styles["body"])
        )
        return section
    rows = [
        ["Figure", "Value"],
        [
            f"Predicted lethal zone (at or below {comparison.lethal_isotherm_c:g} °C)",
            format_volume_ml(comparison.predicted_volume_ml),
        ],
        ["Actual ablation zone", format_volume_ml(comparison.actual_volume_ml)],
        ["Dice overlap", f"{comparison.dice:.2f}"],
        ["Mean surface distance", format_length_mm(comparison.mean_surface_distance_mm)],
        ["95 % surface distance", format_length_mm(comparison.hausdorff95_mm)],
        [
            "Mean signed residual (positive: actual zone beyond the prediction)",
            format_length_mm(comparison.mean_signed_residual_mm),
        ],
        [
            "Isotherm whose predicted volume matches the actual zone best",
            f"{comparison.best_matching_isotherm_c:g} °C",
        ],
        ["Prediction from", comparison.source],
    ]
    section.append(styled_table(rows, [0.58 * TEXT_WIDTH, 0.42 * TEXT_WIDTH], styles))
    return section


def _exemptions(result: PostConfirmation) -> str:
    applied = result.margin.exemptions
    if not result.options.exemptions:
        return (
            "None chosen: the minimal margin covers the whole tumor surface (ACCLAIM-style "
            "exemptions for the capsule side and vessels over 3 mm can be chosen)."
        )
    if not applied:
        return "Chosen but not assessed (see the warnings): the whole surface counts."
    return "<br/>".join(
        escape_markup(
            f"{e.statement[0].upper()}{e.statement[1:]}: {e.surface_percent:.0f} % of the "
            "tumor surface."
        )
        for e in applied
    )


def _evidence(styles: dict) -> list:
    rows = [["What the literature reports", "Source"]]
    rows += [[e.finding, e.source] for e in MARGIN_EVIDENCE]
    return [
        Paragraph("Margin categories and local tumor progression", styles["h1"]),
        styled_table(rows, [0.6 * TEXT_WIDTH, 0.4 * TEXT_WIDTH], styles),
        Spacer(1, 2 * mm),
        Paragraph(escape_markup(EVIDENCE_LIMITS), styles["small"]),
    ]
