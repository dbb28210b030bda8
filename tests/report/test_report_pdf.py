"""The PDF report of the kidney sample plan, checked with poppler's command-line tools."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import require_tool

from planning_core.errors import ReportError
from planning_core.planning.results import RobustnessSummary
from planning_core.report.build import build_report
from planning_core.report.pdf import SECTIONS, write_report_pdf


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
    assert f"{metrics.tumor_volume_ml:.2f} ml" in text
    assert f"{lethal.tumor_and_margin_percent:.1f} %" in text
    assert f"{metrics.margin.minimum_mm:.1f} mm" in text
    for oar in metrics.oars:
        assert f"{oar.name} {oar.distance_to_ice_mm:.1f}" in text
    monitored = [oar for oar in metrics.oars if oar.monitored]
    assert monitored  # the kidney's renal sinus and vessels
    for oar in monitored:
        assert f"{oar.frozen_volume_ml:.2f} {oar.lethal_volume_ml:.2f} monitored" in text
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
    assert "For planning support; verify before treatment." in text
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
