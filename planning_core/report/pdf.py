"""PDF layout of the plan report with reportlab: A4 portrait, embedded TrueType fonts.

Every page carries a header (patient identifiers, or a DE-IDENTIFIED banner)
and a footer (page x of y, software version, the planning-support disclaimer).
Text stays vector text in an embedded DejaVu Sans (shipped with matplotlib);
figures are PNG images rendered by :mod:`planning_core.report.figures`.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.platypus import (
    CondPageBreak,
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from planning_core.atomic import atomic_path
from planning_core.display_colors import WARNING_AMBER_HEX
from planning_core.errors import ReportError
from planning_core.figures import (
    format_coverage_percent,
    format_length_mm,
    format_margin_mm,
    format_volume_ml,
)
from planning_core.imaging.volume import Volume
from planning_core.planning.acceptance import AcceptanceCheck
from planning_core.planning.organ_sites import metrics_site
from planning_core.report.content import (
    DISCLAIMER,
    HeaderInfo,
    ReportContent,
    TargetInfo,
    source_identifiers,
)

FONT = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"
PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 15 * mm
HEADER_HEIGHT = 20 * mm
FOOTER_HEIGHT = 10 * mm
TEXT_WIDTH = PAGE_WIDTH - 2 * MARGIN
PASS_COLOUR = colors.HexColor("#2f855a")
FAIL_COLOUR = colors.HexColor("#c53030")
GRID_COLOUR = colors.HexColor("#a0aec0")
HEAD_FILL = colors.HexColor("#edf2f7")
WARNING_FILL = colors.HexColor("#fefcbf")
WARNING_EDGE = colors.HexColor(WARNING_AMBER_HEX)

#: Section titles, in the order the report prints them.
SECTIONS = (
    "Summary",
    "Target",
    "Probes",
    "Approach and protection",
    "Protocol timeline",
    "Metrics",
    "Temperature-volume histogram",
    "Robustness",
    "Key images",
    "Views along the probes",
    "3-D overview",
    "Warnings and assumptions",
)


@dataclass(frozen=True)
class ReportFigures:
    """PNG images of the report's figures."""

    key_images: bytes
    probe_views: tuple[bytes, ...]
    overview_3d: bytes
    tvh: bytes
    protocol: bytes
    robustness: bytes | None


def register_fonts() -> None:
    """Register DejaVu Sans (regular, bold) with reportlab; fonts are embedded as subsets."""
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    try:
        pdfmetrics.registerFont(TTFont(FONT, str(folder / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(FONT_BOLD, str(folder / "DejaVuSans-Bold.ttf")))
    except Exception as error:  # reportlab raises its own TTFError or OSError
        raise ReportError(
            f"cannot load the report font from {folder} ({error}); reinstall matplotlib."
        ) from error
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD)


def paragraph_styles() -> dict[str, ParagraphStyle]:
    """The report's paragraph styles by name (body, small, cell, title, h1, ...), DejaVu fonts."""
    base = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=11.5)
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9),
        "title": ParagraphStyle("title", parent=base, fontName=FONT_BOLD, fontSize=16, leading=20),
        "h1": ParagraphStyle(
            "h1",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=12,
            leading=15,
            spaceBefore=8,
            spaceAfter=4,
            textColor=colors.HexColor("#1a365d"),
        ),
        "verdict": ParagraphStyle(
            "verdict",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=11,
            leading=14,
            alignment=TA_CENTER,
        ),
    }


def write_report_pdf(content: ReportContent, figures: ReportFigures, path: str | Path) -> Path:
    """Lay out ``content`` and ``figures`` as a PDF at ``path`` (written atomically).

    Returns
    -------
    Path
        The file written.
    """
    register_fonts()
    styles = paragraph_styles()
    story = _story(content, figures, styles)
    return write_story_pdf(
        story,
        path,
        draw_furniture=lambda page, total: _draw_furniture(page, content.header, total),
        title=f"Cryoablation plan report: {content.header.plan_name}",
        subject="Cryoablation plan",
        software=content.header.software,
        what="report",
        # The file's creation date would date the treatment a de-identified report hides.
        undated=content.header.deidentified,
    )


def write_story_pdf(
    story: list,
    path: str | Path,
    *,
    draw_furniture: Callable[[canvas.Canvas, int], None],
    title: str,
    subject: str,
    software: str,
    what: str,
    header_height: float = HEADER_HEIGHT,
    undated: bool = False,
) -> Path:
    """Lay out ``story`` on A4 pages with the report's margins and write it atomically.

    ``draw_furniture(canvas, page_count)`` draws each page's header and footer;
    ``what`` names the document in the error raised when ``path`` cannot be written;
    ``undated`` writes reportlab's fixed creation date (2000-01-01) instead of today's.

    Raises
    ------
    ReportError
        When the file cannot be written.
    """
    path = Path(path)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + header_height,
        bottomMargin=MARGIN + FOOTER_HEIGHT,
        title=title,
        author=software,
        subject=subject,
        creator=software,
        # Otherwise every page references the standard (unembedded) Helvetica.
        initialFontName=FONT,
        invariant=1 if undated else None,
    )
    # Binary image streams: ASCII85 would grow them by a quarter and cost seconds.
    saved_a85 = rl_config.useA85
    rl_config.useA85 = 0
    try:
        document.build(story, canvasmaker=numbered_page_canvas(draw_furniture))
    finally:
        rl_config.useA85 = saved_a85
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as staging:
            Path(staging).write_bytes(buffer.getvalue())
    except OSError as error:
        raise ReportError(
            f"{path}: cannot write the {what} ({error.strerror or error}); choose a folder "
            "you can write to."
        ) from error
    return path


# -- page furniture ------------------------------------------------------------------------
def numbered_page_canvas(
    draw_furniture: Callable[[canvas.Canvas, int], None],
) -> type[canvas.Canvas]:
    """A canvas class calling ``draw_furniture(canvas, page_count)`` on every page at save.

    Pages are held back until the document is complete so that headers and
    footers can say "page N of M".
    """

    class PageCanvas(canvas.Canvas):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._saved_pages: list[dict] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab API name)
            self._saved_pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._saved_pages)
            for state in self._saved_pages:
                self.__dict__.update(state)
                draw_furniture(self, total)
                super().showPage()
            super().save()

    return PageCanvas


def follow_up_furniture(
    planning: Volume, *, plan_name: str, when: str, software: str
) -> Callable[[canvas.Canvas, int], None]:
    """Page header and footer of the confirmation reports: the planning CT's patient
    (name, ID, birth date), the report time, the plan; the disclaimer and page numbers."""
    metadata = planning.metadata
    name = str(metadata.get("patient_name", "") or "").replace("^", " ").strip()
    patient_id = str(metadata.get("patient_id", "") or "")
    birth_date = source_identifiers(planning).get("birth_date", "")

    def draw(page: canvas.Canvas, total: int) -> None:
        top, left, right = PAGE_HEIGHT - MARGIN, MARGIN, PAGE_WIDTH - MARGIN
        page.saveState()
        page.setFont(FONT_BOLD, 10)
        page.drawString(left, top - 4 * mm, name or "unknown")
        page.setFont(FONT, 8)
        page.drawString(
            left, top - 8.5 * mm,
            f"ID {patient_id or 'unknown'}   Born {birth_date or 'unknown'}",
        )  # fmt: skip
        page.drawRightString(right, top - 4 * mm, f"Report {when}")
        page.drawString(left, top - 13.5 * mm, f"Plan: {plan_name}   {software}")
        page.setStrokeColor(GRID_COLOUR)
        page.line(left, top - 15.5 * mm, right, top - 15.5 * mm)
        page.line(left, MARGIN + 6 * mm, right, MARGIN + 6 * mm)
        page.setFont(FONT, 7.5)
        page.drawString(left, MARGIN + 2 * mm, f"{software}   {DISCLAIMER}")
        page.drawRightString(right, MARGIN + 2 * mm, f"Page {page.getPageNumber()} of {total}")
        page.restoreState()

    return draw


def _draw_furniture(page: canvas.Canvas, header: HeaderInfo, total: int) -> None:
    top = PAGE_HEIGHT - MARGIN
    left, right = MARGIN, PAGE_WIDTH - MARGIN
    page.saveState()
    if header.deidentified:
        page.setFillColor(colors.HexColor("#fefcbf"))
        page.setStrokeColor(WARNING_EDGE)
        page.rect(left, top - 9 * mm, right - left, 9 * mm, fill=1, stroke=1)
        page.setFillColor(colors.black)
        page.setFont(FONT_BOLD, 10)
        page.drawCentredString(
            PAGE_WIDTH / 2,
            top - 6 * mm,
            "DE-IDENTIFIED: patient name, ID, birth date and accession removed",
        )
    else:
        page.setFont(FONT_BOLD, 10)
        page.drawString(left, top - 4 * mm, header.patient_name)
        page.setFont(FONT, 8)
        page.drawString(
            left,
            top - 8.5 * mm,
            f"ID {header.patient_id}   Born {header.birth_date}   "
            f"Accession {header.accession_number}",
        )
    page.setFont(FONT, 8)
    if header.deidentified:
        # No date at all: study and report dates tell when the patient was treated.
        page.drawString(left, top - 13.5 * mm, f"{header.plan_name}   {header.software}")
    else:
        page.drawRightString(right, top - 4 * mm, f"Study date {header.study_date}")
        page.drawRightString(right, top - 8.5 * mm, header.study_description[:70])
        page.drawString(
            left,
            top - 13.5 * mm,
            f"Plan: {header.plan_name}   Report: {header.report_date}   {header.software}",
        )
    page.setStrokeColor(GRID_COLOUR)
    page.line(left, top - 15.5 * mm, right, top - 15.5 * mm)
    bottom = MARGIN
    page.line(left, bottom + 6 * mm, right, bottom + 6 * mm)
    page.setFont(FONT, 7.5)
    page.drawString(left, bottom + 2 * mm, f"{header.software}   {DISCLAIMER}")
    page.drawRightString(right, bottom + 2 * mm, f"Page {page.getPageNumber()} of {total}")
    page.restoreState()


# -- content -------------------------------------------------------------------------------
def _story(content: ReportContent, figures: ReportFigures, styles: dict) -> list:
    header = content.header
    story: list = [
        Paragraph("Cryoablation plan report", styles["title"]),
        Paragraph(f"<b>{escape_markup(header.plan_name)}</b>", styles["body"]),
    ]
    if header.deidentified:
        story.append(
            Paragraph(
                "<b>De-identified report</b>: patient identifiers, dates, image and study "
                "descriptions, the plan's name and notes, and file names are left out.",
                styles["body"],
            )
        )
    else:
        image = header.series_description or "planning image"
        story.append(
            Paragraph(
                f"Planning image: {escape_markup(image)}; study date {header.study_date}.",
                styles["body"],
            )
        )
    story += _summary(content, styles)
    story += _target(content, styles)
    story += _probes(content, styles)
    story += _approach(content, styles)
    story += _protocol(content, figures, styles)
    story += _metrics(content, styles)
    story += [
        CondPageBreak(95 * mm),
        _heading("Temperature-volume histogram", styles),
        Paragraph(
            "Share of each structure whose lowest temperature during the protocol was at or "
            "below T.",
            styles["small"],
        ),
        png_flowable(figures.tvh, TEXT_WIDTH),
    ]
    story += _robustness(content, figures, styles)
    story += [
        PageBreak(),
        _heading("Key images", styles),
        Paragraph(
            f"Slices through the tumor centre (axial image {content.target.centre_slice} of "
            f"{content.target.slice_count}); bottom right: the whole axial slice. Radiological "
            f"convention (patient's right on the viewer's left). Window "
            f"W {content.window_level[0]:g} / L {content.window_level[1]:g}.",
            styles["small"],
        ),
        png_flowable(figures.key_images, TEXT_WIDTH, max_height=205 * mm),
        PageBreak(),
        _heading("Views along the probes", styles),
        Paragraph(
            "For each probe, the plane of the shaft closest to axial and the plane of the shaft "
            "perpendicular to it, framed from the skin entry to the tip; colours as in the key "
            "images.",
            styles["small"],
        ),
    ]
    for view in figures.probe_views:
        story.append(png_flowable(view, TEXT_WIDTH * 0.8, max_height=100 * mm))
    story += [
        CondPageBreak(130 * mm),
        _heading("3-D overview", styles),
        png_flowable(figures.overview_3d, TEXT_WIDTH * 0.85, max_height=150 * mm),
    ]
    story += _warnings(content, styles)
    return story


def _heading(text: str, styles: dict) -> Paragraph:
    return Paragraph(text, styles["h1"])


def escape_markup(text: str) -> str:
    """``text`` safe inside a reportlab Paragraph (its mini-markup reads ``&``, ``<``, ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def png_flowable(png: bytes, width: float, *, max_height: float | None = None) -> Image:
    """A PNG as a flowable ``width`` points wide (aspect kept, shrunk to ``max_height``)."""
    pixels_w, pixels_h = ImageReader(io.BytesIO(png)).getSize()
    height = width * pixels_h / pixels_w
    if max_height is not None and height > max_height:
        width, height = max_height * pixels_w / pixels_h, max_height
    return Image(io.BytesIO(png), width=width, height=height)


def styled_table(
    rows: list[list], widths: list[float], styles: dict, *, header_rows: int = 1
) -> Table:
    """A grid table in the report's style; the first ``header_rows`` rows are shaded."""
    cells = [
        [
            cell if not isinstance(cell, str) else Paragraph(escape_markup(cell), styles["cell"])
            for cell in row
        ]
        for row in rows
    ]
    table = Table(cells, colWidths=widths, repeatRows=header_rows, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("GRID", (0, 0), (-1, -1), 0.4, GRID_COLOUR),
                ("BACKGROUND", (0, 0), (-1, header_rows - 1), HEAD_FILL),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _bold(text: str, styles: dict) -> Paragraph:
    return Paragraph(f"<b>{escape_markup(text)}</b>", styles["cell"])


def _status(passed: bool | None, styles: dict) -> Paragraph:
    """PASS green, FAIL red, NOT ASSESSED amber (a check nothing could support)."""
    if passed is None:
        colour, word = WARNING_EDGE, "NOT ASSESSED"
    else:
        colour, word = (PASS_COLOUR, "PASS") if passed else (FAIL_COLOUR, "FAIL")
    return Paragraph(f'<font color="{colour.hexval()}"><b>{word}</b></font>', styles["cell"])


def _mm(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _margin(value_mm: float | None) -> str:
    return "n/a" if value_mm is None else format_margin_mm(value_mm)


def _lps(point: tuple[float, float, float]) -> str:
    return ", ".join(f"{v:.1f}" for v in point)


def _summary(content: ReportContent, styles: dict) -> list:
    verdict = content.verdict
    colour = FAIL_COLOUR if content.failed else PASS_COLOUR if content.passed else WARNING_EDGE
    rows: list[list] = [
        [
            _bold("Check", styles),
            _bold("Value", styles),
            _bold("Requirement", styles),
            _bold("Status", styles),
        ]
    ]
    rows += [_check_row(check, styles) for check in content.checks]
    table = styled_table(rows, [68 * mm, 44 * mm, 42 * mm, 18 * mm], styles)
    box = Table(
        [
            [Paragraph(f'<font color="{colour.hexval()}">{verdict}</font>', styles["verdict"])],
            [table],
        ],
        colWidths=[TEXT_WIDTH],
    )
    box.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("BOX", (0, 0), (-1, -1), 1.2, colour),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    return [
        _heading("Summary", styles),
        box,
        Spacer(1, 2 * mm),
        Paragraph(
            f"{len(content.probes)} probe(s), protocol {content.protocol_code}, total freeze "
            f"time {content.total_freeze_s / 60.0:g} min. Lethal isotherm "
            f"{content.metrics.lethal_isotherm_c:g} °C, required margin "
            f"{content.metrics.margin_mm:g} mm.",
            styles["body"],
        ),
        Paragraph(f"<b>Robustness</b>: {robustness_sentence(content)}", styles["body"]),
        *_summary_warnings(content, styles),
        Spacer(1, 3 * mm),
        _sign_off(content.header, styles),
    ]


def robustness_sentence(content: ReportContent) -> str:
    """The robustness result in one sentence (or that it was not assessed)."""
    summary = content.robustness
    if summary is None:
        return (
            "not assessed; the metrics assume every probe lands exactly as planned "
            "(see Robustness)."
        )
    return (
        f"{100.0 * summary.probability:.0f} % of {summary.samples} simulated placements with "
        f"σ = {summary.tip_error_mm:g} mm error still cover at least "
        f"{summary.coverage_goal_percent:g} % of {summary.zone_text()} "
        f"(coverage 5th percentile {format_coverage_percent(summary.coverage_p05_percent)})."
    )


#: Most warnings the summary lists before pointing to the full list.
SUMMARY_WARNINGS = 4


def _summary_warnings(content: ReportContent, styles: dict) -> list:
    """A highlighted box on the first page when there are warnings; nothing otherwise."""
    warnings = content.warnings
    if not warnings:
        return []
    lines = [
        Paragraph(
            f"<b>⚠ {len(warnings)} warning(s)</b>, all listed under "
            "<i>Warnings and assumptions</i>:",
            styles["body"],
        )
    ]
    lines += [
        Paragraph(f"• {escape_markup(w)}", styles["small"]) for w in warnings[:SUMMARY_WARNINGS]
    ]
    if len(warnings) > SUMMARY_WARNINGS:
        lines.append(Paragraph(f"… and {len(warnings) - SUMMARY_WARNINGS} more.", styles["small"]))
    box = Table([[line] for line in lines], colWidths=[TEXT_WIDTH])
    box.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("BACKGROUND", (0, 0), (-1, -1), WARNING_FILL),
                ("BOX", (0, 0), (-1, -1), 0.8, WARNING_EDGE),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return [Spacer(1, 2 * mm), box]


def _sign_off(header: HeaderInfo, styles: dict) -> Table:
    """Planned by / approved by, with the names given or lines to sign."""
    blank = "_" * 28
    rows = [
        [
            _bold("Planned by", styles),
            header.planned_by or blank,
            _bold("Signature, date", styles),
            blank,
        ],
        [
            _bold("Approved by", styles),
            header.approved_by or blank,
            _bold("Signature, date", styles),
            blank,
        ],
    ]
    return styled_table(rows, [26 * mm, 64 * mm, 28 * mm, 62 * mm], styles, header_rows=0)


def _check_row(check: AcceptanceCheck, styles: dict) -> list:
    return [check.name, check.value, check.goal, _status(check.passed, styles)]


def _recist_text(target: TargetInfo) -> str:
    """``31.2 × 24.0 mm`` (long and short axis on one image slice); ``—`` when not measured."""
    if target.recist_long_mm is None or target.recist_short_mm is None:
        return "—"
    return f"{target.recist_long_mm:.1f} × {format_length_mm(target.recist_short_mm)}"


def _target(content: ReportContent, styles: dict) -> list:
    target = content.target
    lr, ap, si = target.extent_lr_ap_si_mm
    rows = [
        [_bold("Tumor label", styles), target.label],
        [_bold("Volume", styles), format_volume_ml(target.volume_ml)],
        [_bold("Largest diameter", styles), format_length_mm(target.max_diameter_mm)],
        [_bold("RECIST long × short axis", styles), _recist_text(target)],
        [_bold("Extent R-L × A-P × S-I", styles), f"{lr:.1f} × {ap:.1f} × {si:.1f} mm"],
        [_bold("Centre (LPS)", styles), f"{_lps(target.centre_lps_mm)} mm"],
        [
            _bold("Centre slice", styles),
            f"axial image {target.centre_slice} of {target.slice_count} "
            f"(z = {target.centre_lps_mm[2]:.1f} mm)",
        ],
        [_bold("Surroundings", styles), target.surroundings],
    ]
    return [
        _heading("Target", styles),
        styled_table(rows, [50 * mm, 130 * mm], styles, header_rows=0),
    ]


def _probes(content: ReportContent, styles: dict) -> list:
    position_rows: list[list] = [
        [
            _bold(text, styles)
            for text in (
                "Probe",
                "Model",
                "Tip LPS (mm)",
                "Tip image",
                "Skin entry LPS (mm)",
                "Entry image",
            )
        ]
    ]
    path_rows: list[list] = [
        [
            _bold(text, styles)
            for text in (
                "Probe",
                "Skin to tip (mm)",
                "CC angle (°)",
                "In-plane (°)",
                "Elevation (°)",
                "Closest critical structure",
                "Path check",
            )
        ]
    ]
    for row in content.probes:
        position_rows.append(
            [
                row.label,
                f"{row.model_id} ({row.model_name})",
                _lps(row.tip_lps_mm),
                str(row.tip_slice),
                _lps(row.entry_lps_mm),
                "n/a" if row.entry_slice is None else str(row.entry_slice),
            ]
        )
        closest = (
            row.closest_structure
            if row.closest_mm is None
            else f"{row.closest_structure} {row.closest_mm:.1f} mm"
        )
        path_rows.append(
            [
                row.label,
                _mm(row.path_length_mm),
                _mm(row.craniocaudal_deg),
                _mm(row.in_plane_deg),
                _mm(row.elevation_deg),
                closest,
                _status(row.path_passed, styles),
            ]
        )
    return [
        _heading("Probes", styles),
        styled_table(position_rows, [14 * mm, 42 * mm, 36 * mm, 18 * mm, 52 * mm, 18 * mm], styles),
        Spacer(1, 2 * mm),
        # Captioned, so that the table still says what it is when it starts a new page.
        KeepTogether(
            [
                Paragraph("<b>Probe paths</b> (skin entry to tip)", styles["body"]),
                styled_table(
                    path_rows,
                    [14 * mm, 26 * mm, 20 * mm, 18 * mm, 18 * mm, 63 * mm, 21 * mm],
                    styles,
                ),
            ]
        ),
        Paragraph(
            "Image numbers count axial slices from 1 in the planning series. Skin to tip: length "
            "of the path inside the body, from the skin entry to the tip. Angles follow the plan "
            "format (CC, cranio-caudal: tilt out of the axial plane, + toward the head; in-plane: "
            "0 = vertical; elevation: 90° = vertical). Closest critical structure excludes "
            "structures the path cannot avoid (hosting the tumor or holding the tip).",
            styles["small"],
        ),
    ]


def _approach(content: ReportContent, styles: dict) -> list:
    """Patient position, approach, gantry check, insertion order and organ protection."""
    info = content.approach
    if info is None:
        return []
    story: list = [
        _heading("Approach and protection", styles),
        Paragraph(f"<b>Patient position</b>: {escape_markup(info.position)}.", styles["body"]),
    ]
    if info.assessed:
        story.append(Paragraph(f"<b>Entries</b>: {escape_markup(info.entries)}.", styles["body"]))
    for note in info.notes:
        story.append(Paragraph(f"Note: {escape_markup(note)}.", styles["small"]))
    if info.gantry:
        rows: list[list] = [[_bold("Gantry and approach check", styles), _bold("Check", styles)]]
        rows += [[escape_markup(text), _status(passed, styles)] for text, passed in info.gantry]
        story.append(styled_table(rows, [150 * mm, 30 * mm], styles))
    if info.insertion_order:
        story.append(
            Paragraph(
                "<b>Suggested insertion order</b> (deepest first, then the most tilted): "
                + escape_markup(", ".join(info.insertion_order))
                + ".",
                styles["body"],
            )
        )
    protection = "; ".join(info.protection) if info.protection else "none planned"
    story.append(
        Paragraph(
            f"<b>Organ protection</b> (included in the simulation): {escape_markup(protection)}.",
            styles["body"],
        )
    )
    return [KeepTogether(story)]


def _protocol(content: ReportContent, figures: ReportFigures, styles: dict) -> list:
    return [
        KeepTogether(
            [
                _heading("Protocol timeline", styles),
                Paragraph(
                    f"Protocol {content.protocol_code}: total {content.phases[-1].end_min:g} min, "
                    f"of which {content.total_freeze_s / 60.0:g} min freezing.",
                    styles["body"],
                ),
                png_flowable(figures.protocol, TEXT_WIDTH),
            ]
        )
    ]


def _metrics(content: ReportContent, styles: dict) -> list:
    metrics = content.metrics
    lethal = metrics.lethal_isotherm_c
    coverage_rows: list[list] = [
        [_bold(text, styles) for text in ("Isotherm", "Tumor covered", "Tumor + margin covered")]
    ]
    for entry in metrics.coverage:
        name = f"{entry.isotherm_c:g} °C" + (" (lethal)" if entry.isotherm_c == lethal else "")
        coverage_rows.append(
            [
                name,
                format_coverage_percent(entry.tumor_percent),
                format_coverage_percent(entry.tumor_and_margin_percent),
            ]
        )
    margin = metrics.margin
    location = (
        "n/a"
        if margin.minimum_location_lps_mm is None
        else f"{_lps(margin.minimum_location_lps_mm)} mm"
    )
    margin_rows = [
        [_bold("Minimal ablative margin", styles), _margin(margin.minimum_mm)],
        [_bold("5th percentile of the margin", styles), _margin(margin.percentile5_mm)],
        [_bold("Where the margin is smallest (LPS)", styles), location],
        [_bold("Ice volume (≤ 0 °C)", styles), format_volume_ml(metrics.ice_volume_ml)],
        [
            _bold(f"Lethal volume (≤ {lethal:g} °C)", styles),
            format_volume_ml(metrics.lethal_volume_ml),
        ],
        [_bold("Smallest tip spacing", styles), f"{_mm(metrics.min_tip_spacing_mm)} mm"],
    ]
    oar_rows: list[list] = [
        [
            _bold(text, styles)
            for text in (
                "Organ at risk",
                "Distance to 0 °C edge (mm)",
                "Required (mm)",
                "Frozen",
                f"≤ {lethal:g} °C",
                "Status",
            )
        ]
    ]
    for oar in metrics.oars:
        distance = "no ice" if oar.distance_to_ice_mm is None else f"{oar.distance_to_ice_mm:.1f}"
        oar_rows.append(
            [
                oar.name,
                distance,
                "—" if oar.monitored else f"{oar.clearance_mm:g}",
                format_volume_ml(oar.frozen_volume_ml),
                format_volume_ml(oar.lethal_volume_ml),
                "monitored" if oar.monitored else _status(oar.clear, styles),
            ]
        )
    # Organs the site lists that the label map lacks: nothing was measured for them.
    site = metrics_site(metrics).sentence()
    for name in metrics.not_assessed:
        oar_rows.append([name, "not labelled", "—", "—", "—", _status(None, styles)])
    story = [
        _heading("Metrics", styles),
        styled_table(coverage_rows, [50 * mm, 45 * mm, 50 * mm], styles),
        Spacer(1, 2 * mm),
        styled_table(margin_rows, [70 * mm, 75 * mm], styles, header_rows=0),
        Spacer(1, 2 * mm),
        Paragraph(escape_markup(f"{site.capitalize()}."), styles["body"]),
    ]
    if len(oar_rows) > 1:
        story.append(
            styled_table(oar_rows, [36 * mm, 38 * mm, 24 * mm, 24 * mm, 24 * mm, 28 * mm], styles)
        )
    else:
        story.append(Paragraph("No organ at risk is labelled in this case.", styles["body"]))
    story.append(
        Paragraph(
            "Negative distances: the 0 °C edge reaches into the organ by that depth. "
            "Monitored structures (large vessels, renal sinus, diaphragm, pectoral muscle) "
            "tolerate freezing; their exposure is shown, not judged. "
            f"Metrics computed with {escape_markup(metrics.computed_with)}.",
            styles["small"],
        )
    )
    return story


def _robustness(content: ReportContent, figures: ReportFigures, styles: dict) -> list:
    story: list = [CondPageBreak(60 * mm), _heading("Robustness", styles)]
    summary = content.robustness
    if summary is None:
        story.append(
            Paragraph(
                "<b>Not assessed.</b> No placement-error analysis was run for this plan; the "
                "metrics above assume every probe lands exactly as planned.",
                styles["body"],
            )
        )
        return story
    story.append(
        Paragraph(
            f"{summary.samples} simulations with each probe displaced by a Gaussian placement "
            f"error of σ = {summary.tip_error_mm:g} mm (seed {summary.seed}, "
            f"{summary.grid_spacing_mm:g} mm grid). Probability that the lethal isotherm covers "
            f"at least {summary.coverage_goal_percent:g} % of tumor + margin: "
            f"<b>{100.0 * summary.probability:.0f} %</b>. Coverage mean "
            f"{format_coverage_percent(summary.coverage_mean_percent)}, 5th percentile "
            f"{format_coverage_percent(summary.coverage_p05_percent)}; margin mean "
            f"{_margin(summary.margin_mean_mm)}, 5th percentile {_margin(summary.margin_p05_mm)}.",
            styles["body"],
        )
    )
    if figures.robustness is not None:
        story.append(png_flowable(figures.robustness, TEXT_WIDTH))
    return story


def _warnings(content: ReportContent, styles: dict) -> list:
    story: list = [CondPageBreak(60 * mm), _heading("Warnings and assumptions", styles)]
    if content.warnings:
        story.append(Paragraph("<b>Warnings</b>", styles["body"]))
        story += [Paragraph(f"• {escape_markup(w)}", styles["small"]) for w in content.warnings]
    else:
        story.append(Paragraph("<b>Warnings</b>: none.", styles["body"]))
    story.append(Spacer(1, 2 * mm))
    story.append(Paragraph("<b>Assumptions</b>", styles["body"]))
    story += [Paragraph(f"• {escape_markup(a)}", styles["small"]) for a in content.assumptions]
    if content.notes:
        story += [
            Spacer(1, 2 * mm),
            Paragraph("<b>Plan notes</b>", styles["body"]),
            Paragraph(escape_markup(content.notes), styles["small"]),
        ]
    return story
