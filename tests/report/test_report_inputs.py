"""Bad input: missing or altered images are refused clearly; missing results are recomputed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest

from planning_core.cli import main
from planning_core.errors import PlanFileError
from planning_core.report.build import build_report
from planning_core.report.inputs import load_report_inputs


def _edited_plan(plan_path: Path, name: str, edit) -> Path:
    """A copy of the plan beside it (relative companion paths still resolve), edited."""
    data = json.loads(plan_path.read_text())
    edit(data)
    path = plan_path.with_name(f"{name}.cryoplan.json")
    path.write_text(json.dumps(data))
    return path


def test_missing_image_is_a_clear_one_line_cli_error(kidney_plan_path, tmp_path, capsys):
    missing = tmp_path / "gone"

    def edit(data):
        data["case"]["image_path"] = str(missing)

    plan = _edited_plan(kidney_plan_path, "missing-image", edit)
    assert main(["report", str(plan), "--out", str(tmp_path / "r.pdf")]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("cryoplan report: error:")
    assert str(missing) in error and "does not exist" in error
    assert not (tmp_path / "r.pdf").exists()


def test_altered_image_is_refused(kidney_plan_path, kidney_inputs, tmp_path):
    source = Path(kidney_inputs.volume.metadata["source_files"][0]).parent
    copy = tmp_path / "series"
    shutil.copytree(source, copy)
    first = sorted(copy.iterdir())[0]
    dataset = pydicom.dcmread(first)
    pixels = dataset.pixel_array
    pixels[10, 10] += 7
    dataset.PixelData = pixels.tobytes()
    dataset.save_as(first)

    def edit(data):
        data["case"]["image_path"] = str(copy)

    plan = _edited_plan(kidney_plan_path, "altered-image", edit)
    with pytest.raises(PlanFileError, match="made on another image"):
        load_report_inputs(plan)


@pytest.mark.slow
def test_plan_without_results_is_recomputed_and_says_so(kidney_plan_path, kidney_inputs, tmp_path):
    def edit(data):
        data["metrics"] = None
        data.pop("thermal_fields_path", None)
        data.pop("thermal_fields_sha256", None)

    plan = _edited_plan(kidney_plan_path, "no-metrics", edit)
    inputs = load_report_inputs(plan, spacing_mm=2.0)
    assert inputs.recomputed and not inputs.plan.metrics_stale()
    assert any("recomputed" in w and "no metrics" in w for w in inputs.warnings)
    recomputed = inputs.plan.metrics.coverage_at(-40.0).tumor_and_margin_percent
    saved = kidney_inputs.plan.metrics.coverage_at(-40.0).tumor_and_margin_percent
    assert recomputed == pytest.approx(saved, abs=1e-9)  # same inputs, same 2 mm engine
    output = build_report(
        inputs.plan,
        inputs.volume,
        inputs.label_map,
        dose=inputs.dose,
        out_path=tmp_path / "r.pdf",
        warnings=inputs.warnings,
    )
    assert any("no metrics" in w for w in output.content.warnings)


def test_report_command_writes_the_pdf_and_json_summary(kidney_plan_path, tmp_path, capsys):
    out = tmp_path / "cli.pdf"
    assert main(["report", str(kidney_plan_path), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["report"] == str(out) and out.read_bytes().startswith(b"%PDF")
    assert summary["recomputed"] is False
    assert len(summary["checks"]) == 6


def test_export_refuses_a_missing_plan(tmp_path, capsys):
    assert main(["export", str(tmp_path / "none.cryoplan.json"), "--dicom", str(tmp_path)]) == 2
    assert "none.cryoplan.json" in capsys.readouterr().err
