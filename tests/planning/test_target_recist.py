"""The tumor's RECIST axes in the plan file and the report's target (issue 16, 1d)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.metrics import compute_plan_metrics
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.plan_json import plan_from_dict, plan_to_dict
from planning_core.report.content import collect_report_content
from planning_core.segmentation.metrics import recist_axes

#: An elliptic tumor 24 mm long (along L) and 12 mm wide (along P), 5 slices of 2 mm thick.
LONG_MM, SHORT_MM = 24.0, 12.0


@pytest.fixture(scope="module")
def evaluated() -> tuple[Plan, LabelMap]:
    geometry = Geometry((9, 30, 40), (1.0, 1.0, 2.0), (-20.0, -15.0, -8.0), np.eye(3))
    k, j, i = np.indices(geometry.shape)
    x, y = i - 19.5, j - 14.5
    tumor = ((x / (LONG_MM / 2)) ** 2 + (y / (SHORT_MM / 2)) ** 2 <= 1.0) & (abs(k - 4) <= 2)
    labels = LabelMap.empty(geometry).with_mask("tumor", tumor, role="target")
    body = np.ones(geometry.shape, dtype=bool)
    labels = labels.with_mask("body", body & ~tumor, role="anatomy")
    probe = PlannedProbe("argon-2.4", (0.0, 0.0, 0.0), (0.0, -60.0, 0.0), "P1")
    plan = Plan(probes=(probe,))
    field = np.full(geometry.shape, -60.0)  # everything frozen: only the target matters here
    metrics = compute_plan_metrics(plan, labels, field, geometry, computed_with="test field")
    return plan.with_metrics(metrics), labels


def test_plan_metrics_hold_the_tumor_recist_axes_and_the_file_keeps_them(evaluated):
    plan, labels = evaluated
    metrics = plan.metrics
    recist = recist_axes(labels.mask("tumor"), labels.geometry)
    assert metrics.tumor_long_axis_mm == pytest.approx(recist.long_mm)
    assert metrics.tumor_short_axis_mm == pytest.approx(recist.short_mm)
    # One voxel of the ellipse's digitisation either way.
    assert metrics.tumor_long_axis_mm == pytest.approx(LONG_MM, abs=1.5)
    assert metrics.tumor_short_axis_mm == pytest.approx(SHORT_MM, abs=1.5)
    data = plan_to_dict(plan)
    assert data["metrics"]["tumor_long_axis_mm"] == metrics.tumor_long_axis_mm
    loaded = plan_from_dict(data, source="plan.json").metrics
    assert loaded.tumor_long_axis_mm == metrics.tumor_long_axis_mm
    assert loaded.tumor_short_axis_mm == metrics.tumor_short_axis_mm


def test_a_plan_file_without_recist_axes_still_loads(evaluated):
    plan, _ = evaluated
    data = plan_to_dict(plan)
    del data["metrics"]["tumor_long_axis_mm"]
    data["metrics"]["tumor_short_axis_mm"] = None
    loaded = plan_from_dict(data, source="old-plan.json").metrics
    assert loaded.tumor_long_axis_mm is None and loaded.tumor_short_axis_mm is None
    assert loaded == dataclasses.replace(
        plan.metrics, tumor_long_axis_mm=None, tumor_short_axis_mm=None
    )


def test_report_target_holds_the_recist_axes(evaluated):
    plan, labels = evaluated
    volume = Volume(np.zeros(labels.geometry.shape, dtype=np.float32), labels.geometry, "CT")
    target = collect_report_content(plan, volume, labels).target
    recist = recist_axes(labels.mask("tumor"), labels.geometry)
    assert (target.recist_long_mm, target.recist_short_mm) == (recist.long_mm, recist.short_mm)
