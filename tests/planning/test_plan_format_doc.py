"""docs/plan-format.md stays in step with the code: its example loads, its tables are complete."""

from __future__ import annotations

import json
import re
from pathlib import Path

from planning_core.planning.plan_json import PLAN_SCHEMA_VERSION, plan_from_dict
from planning_core.planning.settings import PlanSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "plan-format.md"


def test_documented_example_is_a_valid_plan():
    example = re.search(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert example is not None
    data = json.loads(example.group(1))
    assert data["schema_version"] == PLAN_SCHEMA_VERSION
    plan = plan_from_dict(data, source=str(DOC))
    assert plan.settings.patient_position == "HFP"
    assert len(plan.probes) == 2


def test_every_setting_is_documented_with_its_default():
    text = DOC.read_text(encoding="utf-8")
    defaults = PlanSettings()
    for name in PlanSettings.__dataclass_fields__:
        row = re.search(rf"^\| `{name}` \|[^|]*\| ([^|]+) \|", text, re.MULTILINE)
        assert row is not None, f"{name} is not in the settings table"
        value = getattr(defaults, name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            assert float(row.group(1)) == value, name
