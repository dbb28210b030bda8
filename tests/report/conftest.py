"""Shared fixtures: one evaluated kidney sample plan, its report and its DICOM export."""

from __future__ import annotations

from pathlib import Path

import pytest
from kidney_plan import kidney_plan_file

from planning_core.report.build import ReportOutput, build_report
from planning_core.report.inputs import ReportInputs, load_report_inputs


@pytest.fixture(scope="session")
def kidney_plan_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kidney sample plan saved with labels and fields (2 mm grid for speed)."""
    folder = tmp_path_factory.mktemp("kidney-plan")
    plan_path, _ = kidney_plan_file(folder)
    return plan_path


@pytest.fixture(scope="session")
def kidney_inputs(kidney_plan_path: Path) -> ReportInputs:
    return load_report_inputs(kidney_plan_path)


@pytest.fixture(scope="session")
def kidney_report(
    kidney_inputs: ReportInputs, tmp_path_factory: pytest.TempPathFactory
) -> ReportOutput:
    out = tmp_path_factory.mktemp("kidney-report") / "report.pdf"
    return build_report(
        kidney_inputs.plan,
        kidney_inputs.volume,
        kidney_inputs.label_map,
        dose=kidney_inputs.dose,
        out_path=out,
        warnings=kidney_inputs.warnings,
    )
