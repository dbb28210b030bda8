"""A plan's warnings and sign-off names in its file: round trip, old files, bad values."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from planning_core.errors import PlanFileError
from planning_core.planning.plan import Plan, PlannedProbe, PlanWarning, image_title
from planning_core.planning.plan_json import load_plan, save_plan

DOC = Path(__file__).resolve().parents[2] / "docs" / "plan-format.md"


def _plan() -> Plan:
    probe = PlannedProbe("argon-2.4", (0.0, 0.0, 0.0), (0.0, 90.0, 0.0), "P1")
    return Plan(probes=(probe,), planned_by="Dr. A", approved_by="Dr. B").with_step_warnings(
        "simulation", ["the simulation box is too small."]
    )


def test_warnings_and_names_round_trip(tmp_path):
    plan = _plan().with_step_warnings("segmentation", ["the tumor is very small."])
    loaded = load_plan(save_plan(plan, tmp_path / "p.json"))
    assert loaded.warnings == (
        PlanWarning("segmentation", "the tumor is very small."),
        PlanWarning("simulation", "the simulation box is too small."),
    )
    assert (loaded.planned_by, loaded.approved_by) == ("Dr. A", "Dr. B")
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["warnings"][1] == {
        "source": "simulation",
        "text": "the simulation box is too small.",
    }


def test_a_new_evaluation_replaces_only_its_own_step():
    plan = _plan().with_step_warnings("optimizer", ["colon needs protection."])
    again = plan.with_step_warnings("simulation", [])
    assert again.warnings == (PlanWarning("optimizer", "colon needs protection."),)
    assert again.inputs_sha256() == plan.inputs_sha256()  # warnings do not make metrics stale


def test_files_without_the_optional_keys_load(tmp_path):
    path = save_plan(_plan(), tmp_path / "p.json")
    data = json.loads(path.read_text())
    for key in ("warnings", "planned_by", "approved_by"):
        del data[key]
    path.write_text(json.dumps(data))
    plan = load_plan(path)
    assert plan.warnings == () and plan.planned_by == plan.approved_by == ""


def test_a_warning_of_an_unknown_step_names_its_json_path(tmp_path):
    path = save_plan(_plan(), tmp_path / "p.json")
    data = json.loads(path.read_text())
    data["warnings"][0]["source"] = "guesswork"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanFileError, match=r"warnings\[0\]: warning source must be one of"):
        load_plan(path)


def test_the_format_document_describes_the_new_fields():
    text = DOC.read_text(encoding="utf-8")
    for field in ("warnings", "planned_by", "approved_by"):
        assert re.search(rf"^\| `{field}`", text, re.MULTILINE), field


def test_image_title_is_a_description_never_a_path():
    assert image_title({"series_description": "Abdomen 1.25 mm", "study_description": "CT"}) == (
        "Abdomen 1.25 mm"
    )
    assert image_title({"study_date": "20120706"}) == "study of 2012-07-06"
    assert image_title({}, fallback="/work/shared/dicom/tcia-pancreas-ct") == "tcia-pancreas-ct"
    assert image_title({}, fallback="kidney") == "kidney"
