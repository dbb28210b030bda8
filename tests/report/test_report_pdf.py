"""The PDF report of the kidney sample plan, checked with poppler's command-line tools."""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text
from report_tools import require_tool

from planning_core.display_colors import isotherm_color
from planning_core.errors import ReportError
from planning_core.figures import (
    format_coverage_percent,
    format_length_mm,
    format_margin_mm,
    format_volume_ml,
)
from planning_core.planning.results import RobustnessSummary
from planning_core.report import figures
from planning_core.report.build import build_report, build_scene, key_planes
from planning_core.report.pdf import SECTIONS, write_report_pdf
from planning_core.report.slices import probe_planes
from planning_core.segmentation.metrics import mask_volume_ml, max_diameter_mm

#: The research-use statement at the top of the README, which every report page repeats.
README_STATEMENT = "Research software. Not a medical device; not for clinical use."


def _run(tool: str, *args: str) -> str:
    return subprocess.run(
        [require_tool(tool), *args], check=True, capture_output=True, text=True
    ).stdout


def _text(pdf: Path) -> str:
    return _run("pdftotext", "-layout", str(pdf), "-")


def test_pdf_opens_as_a4_with_several_pages(kidney_report):
    info = _run("pdfinfo", str(kidney_report.path))
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    assert int(fields["Pages"]) >= 5
    assert fields["Page size"].strip().startswith("595.276 x 841.89")


def test_every_font_is_embedded(kidney_report):
    lines = _run("pdffonts", str(kidney_report.path)).splitlines()[2:]
    assert lines, "the report has no text fonts"
    for line in lines:
        emb = line.split()[-5]
        assert emb == "yes", line


def test_sections_appear_in_order(kidney_report):
    lines = [line.strip() for line in _text(kidney_report.path).splitlines()]
    positions = [lines.index(title) if title in lines else -1 for title in SECTIONS]
    assert all(p >= 0 for p in positions), dict(zip(SECTIONS, positions, strict=True))
    assert positions == sorted(positions)


def test_numbers_match_the_plan_metrics(kidney_report, kidney_inputs):
    text = " ".join(_text(kidney_report.path).split())
    metrics = kidney_inputs.plan.metrics
    lethal = metrics.coverage_at(-40.0)
    tumor = kidney_inputs.label_map.mask(kidney_inputs.plan.target_label)
    geometry = kidney_inputs.label_map.geometry
    # Size and coverage read as on every other screen (planning_core.figures).
    assert f"Volume {format_volume_ml(mask_volume_ml(tumor, geometry))}" in text
    assert f"Largest diameter {format_length_mm(max_diameter_mm(tumor, geometry))}" in text
    assert format_coverage_percent(lethal.tumor_and_margin_percent) in text
    assert format_margin_mm(metrics.margin.minimum_mm) in text
    for oar in metrics.oars:
        assert f"{oar.name} {oar.distance_to_ice_mm:.1f}" in text
    monitored = [oar for oar in metrics.oars if oar.monitored]
    assert monitored  # the kidney's renal sinus and vessels
    for oar in monitored:
        frozen, lethal_ml = map(format_volume_ml, (oar.frozen_volume_ml, oar.lethal_volume_ml))
        assert f"{frozen} {lethal_ml} monitored" in text
    for probe, path in zip(kidney_inputs.plan.probes, metrics.paths, strict=True):
        tip = ", ".join(f"{v:.1f}" for v in probe.tip_lps_mm)
        assert f"{probe.label} {tip}" in text
        assert f"{path.length_in_body_mm:.1f}" in text
    assert text.count("argon-2.4 (Argon cryoprobe") == len(kidney_inputs.plan.probes)
    content = kidney_report.content
    assert f"axial image {content.target.centre_slice} of 104" in text
    assert "F10-T8-F10" in text and "20 min" in text
    assert "Not assessed." in text  # robustness absent: said, not left blank
    assert "SYNTHETIC KIDNEY" in text and "CRYOPLAN-KIDNEY-1101" in text
    assert README_STATEMENT in text
    assert "Page 1 of" in text


def test_images_are_embedded(kidney_report):
    listing = _run("pdfimages", "-list", str(kidney_report.path)).splitlines()[2:]
    images = [line.split() for line in listing if line.split()[2] == "image"]
    probe_count = len(kidney_report.content.probes)
    # protocol, TVH, key images, one view per probe, 3-D overview
    assert len(images) == 4 + probe_count
    assert all(int(row[3]) >= 800 for row in images)  # width in pixels


def test_key_image_page_is_not_blank(kidney_report, tmp_path):
    text = _run("pdftotext", str(kidney_report.path), "-")
    page = next(n for n, p in enumerate(text.split("\f"), start=1) if "Key images" in p)
    _run(
        "pdftoppm",
        "-r",
        "40",
        "-gray",
        "-f",
        str(page),
        "-l",
        str(page),
        str(kidney_report.path),
        str(tmp_path / "page"),
    )
    (rendered,) = tmp_path.glob("page*.pgm")
    header, pixels = _read_pgm(rendered)
    assert header[0] > 200 and header[1] > 300  # A4 at 40 dpi: 331 x 468
    dark = np.count_nonzero(pixels < 60) / pixels.size
    assert dark > 0.15  # CT images cover a good part of the page
    assert pixels.std() > 40


def _read_pgm(path: Path) -> tuple[tuple[int, int], np.ndarray]:
    data = path.read_bytes()
    parts = data.split(maxsplit=4)
    width, height, maxval = int(parts[1]), int(parts[2]), int(parts[3])
    assert maxval == 255
    pixels = np.frombuffer(parts[4][: width * height], dtype=np.uint8).reshape(height, width)
    return (width, height), pixels


@pytest.fixture(scope="module")
def variant_report(kidney_inputs, tmp_path_factory):
    """A de-identified report of the plan with a robustness analysis attached."""
    summary = RobustnessSummary(
        tip_error_mm=2.0,
        samples=16,
        seed=7,
        probability=0.625,
        coverage_goal_percent=99.0,
        coverage_mean_percent=97.4,
        coverage_p05_percent=91.2,
        margin_mean_mm=1.3,
        margin_p05_mm=-0.8,
        grid_spacing_mm=2.0,
    )
    metrics = dataclasses.replace(kidney_inputs.plan.metrics, robustness=summary)
    return build_report(
        kidney_inputs.plan.with_metrics(metrics),
        kidney_inputs.volume,
        kidney_inputs.label_map,
        dose=kidney_inputs.dose,
        out_path=tmp_path_factory.mktemp("variant") / "variant.pdf",
        deidentify=True,
    )


def test_deidentified_report_hides_identifiers(variant_report):
    text = _text(variant_report.path)
    assert "DE-IDENTIFIED: patient name, ID, birth date and accession removed" in text
    for identifier in ("SYNTHETIC", "CRYOPLAN-KIDNEY-1101", "1956", "SYN00001101"):
        assert identifier not in text
    info = _run("pdfinfo", str(variant_report.path))
    pages = int(dict(line.split(":", 1) for line in info.splitlines())["Pages"])
    assert text.count("DE-IDENTIFIED: patient name") == pages


def test_robustness_is_reported_when_assessed(variant_report):
    text = " ".join(_text(variant_report.path).split())
    assert "Not assessed" not in text
    assert "16 simulations" in text and "62 %" in text and "91.2 %" in text
    assert variant_report.figures.robustness is not None
    listing = _run("pdfimages", "-list", str(variant_report.path)).splitlines()[2:]
    images = [line for line in listing if line.split()[2] == "image"]
    assert len(images) == 5 + len(variant_report.content.probes)


def test_unwritable_destination_is_a_report_error(kidney_report, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ReportError, match="cannot write the report"):
        write_report_pdf(kidney_report.content, kidney_report.figures, blocker / "r.pdf")


def _pages(pdf: Path) -> list[str]:
    return [" ".join(page.split()) for page in _text(pdf).split("\f") if page.strip()]


def test_every_footer_carries_the_readme_research_statement(kidney_report):
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert README_STATEMENT in readme
    pages = _pages(kidney_report.path)
    assert all(README_STATEMENT in page for page in pages)


def test_probe_table_says_skin_to_tip_and_has_no_vertical_depth(kidney_report, kidney_inputs):
    # The old "Depth" column measured the tip's drop toward the table: 0 mm for a
    # horizontal 100 mm path. The column now gives the path length inside the body.
    text = " ".join(_text(kidney_report.path).split())
    assert "Depth" not in text
    assert "Skin to tip" in text
    for row, path in zip(
        kidney_report.content.probes, kidney_inputs.plan.metrics.paths, strict=True
    ):
        assert f"{row.label} {path.length_in_body_mm:.1f} " in text


def test_summary_page_has_robustness_and_sign_off_lines(kidney_report, variant_report):
    first = _pages(kidney_report.path)[0]
    assert "Robustness: not assessed" in first
    assert "Planned by ____" in first and "Approved by ____" in first
    assessed = _pages(variant_report.path)[0]
    assert "Robustness: 62 % of 16 simulated placements with σ = 2 mm error" in assessed


@pytest.fixture(scope="module")
def scene(kidney_inputs, kidney_report):
    return build_scene(
        kidney_inputs.plan, kidney_inputs.volume, kidney_inputs.label_map, kidney_inputs.dose,
        kidney_report.content,
    )  # fmt: skip


def test_isotherm_colours_are_the_applications(scene):
    colours = {handle.get_label(): handle.get_color() for handle in figures.legend_handles(scene)}
    assert colours["0 °C isotherm"] == isotherm_color(0.0)  # cyan
    assert colours["-20 °C isotherm"] == isotherm_color(-20.0)  # green
    assert colours["-40 °C isotherm (lethal)"] == isotherm_color(-40.0)  # magenta
    overlays = pytest.importorskip("cryoplan_app.render.plan_overlays")
    assert overlays.isotherm_color is isotherm_color


@pytest.fixture(scope="module")
def key_figure(scene, kidney_inputs, kidney_report):
    planes = key_planes(kidney_report.content, kidney_inputs.volume)
    return figures.slice_views_figure(scene, planes, columns=2)


def test_a_view_along_a_probe_names_only_that_probe(scene):
    probe = scene.probes[1]
    own = dataclasses.replace(scene, labelled_probes=(probe.label,))
    planes = probe_planes(probe.tip_lps_mm, probe.entry_lps_mm, pixel_mm=0.5)
    figure = figures.slice_views_figure(own, planes, columns=2, legend=False)
    names = {p.label for p in scene.probes}
    for ax in figure.axes:
        assert [t.get_text() for t in ax.texts if t.get_text() in names] == [probe.label]


def test_isotherms_are_solid_lines_unlike_the_dashed_margin(key_figure):
    # matplotlib dashes negative contour levels unless told otherwise.
    isotherms = {isotherm_color(t) for t in (0.0, -20.0, -40.0)}
    drawn = 0
    for ax in key_figure.axes:
        for contours in ax.collections:
            colour = tuple(float(c) for c in contours.get_edgecolor()[0][:3])
            if any(np.allclose(colour, iso) for iso in isotherms):
                drawn += 1
                assert all(dashes is None for _, dashes in contours.get_linestyle()), colour
    assert drawn >= 3


def test_probe_names_never_overlap_in_the_key_images(key_figure, kidney_report):
    names = {row.label for row in kidney_report.content.probes}
    canvas = FigureCanvasAgg(key_figure)
    canvas.draw()  # places the annotations
    renderer = canvas.get_renderer()
    for ax in key_figure.axes:
        # The name's own box, without its leader line.
        boxes = [Text.get_window_extent(t, renderer) for t in ax.texts if t.get_text() in names]
        for first, second in itertools.combinations(boxes, 2):
            assert not first.overlaps(second), ax.get_title()


def test_tvh_runs_colder_to_the_right_as_in_the_app(kidney_inputs):
    metrics = kidney_inputs.plan.metrics
    figure = figures.tvh_figure(metrics.histograms, isotherms_c=(0.0, -40.0), colours={})
    assert figure.axes[0].xaxis_inverted()
