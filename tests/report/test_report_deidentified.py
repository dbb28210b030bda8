"""``cryoplan report --deidentify``: nothing taken from the data can identify the patient.

The tiny CT carries a study date, study and series descriptions that name the
patient; the plans name the patient in their name, notes and sign-off, and
loading warns about a file in a folder named after the patient. The
de-identified report, read back with pdftotext and pdfinfo, holds none of it:
no date, no description, no plan name, no file path.
"""

from __future__ import annotations

import dataclasses
import subprocess
from datetime import datetime

import pytest
from pydicom.dataset import Dataset
from report_tools import require_tool
from tiny_dicom_case import IDENTITY, SERIES_DESCRIPTION, tiny_plan_file

from planning_core.cli import main
from planning_core.planning.plan import PlanWarning
from planning_core.planning.plan_json import load_plan, save_plan

#: Recognisable values of the source and the plan, none of which may be printed.
LEAKS = (
    IDENTITY.study_date,  # 20140817
    "2014-08-17",
    "2014",
    "DOE",
    "Doe",
    "JANE",
    "Jane",
    SERIES_DESCRIPTION,
    "ARTERIAL",
    "ABDOMEN",
    "Dr Who",
    "patients",
)


def without_descriptions(dataset: Dataset) -> None:
    """A series as many scanners write it: a study date, no descriptions."""
    for keyword in ("SeriesDescription", "StudyDescription"):
        if keyword in dataset:
            delattr(dataset, keyword)


def _report_text(tmp_path, change, **plan_fields) -> tuple[str, str]:
    plan_path = tiny_plan_file(tmp_path, change)
    plan = dataclasses.replace(load_plan(plan_path), **plan_fields)
    save_plan(plan, plan_path)
    pdf = tmp_path / "report.pdf"
    argv = ["report", str(plan_path), "--out", str(pdf), "--deidentify", "--spacing-mm", "2"]
    assert main(argv) == 0
    text = subprocess.run(
        [require_tool("pdftotext"), str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    info = subprocess.run(
        [require_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    return text, info


@pytest.mark.parametrize(
    ("change", "plan_fields"),
    [
        # Unnamed plan on a series without descriptions: the title once read
        # "study of 2014-08-17" on every page.
        (without_descriptions, {"name": ""}),
        (
            None,
            {
                "name": "Jane Doe right kidney",
                "notes": "Mrs Doe prefers the morning slot.",
                "planned_by": "Dr Who",
                "approved_by": "Dr Who",
                "warnings": (PlanWarning("image", "/data/patients/DOE_JANE/ct/IM7: odd header"),),
            },
        ),
    ],
    ids=["unnamed-plan-no-descriptions", "named-plan-with-notes"],
)
def test_deidentified_report_prints_nothing_from_the_data(tmp_path, change, plan_fields):
    text, info = _report_text(tmp_path, change, **plan_fields)
    assert "De-identified plan" in text and "DE-IDENTIFIED" in text
    today = datetime.now().strftime("%Y-%m-%d")
    leaked = [value for value in (*LEAKS, today) if value in text]
    assert not leaked, leaked
    creation = [line for line in info.splitlines() if line.startswith("CreationDate")]
    assert all(today[:4] not in line for line in creation), creation
    assert "Jane" not in info and "Doe" not in info
