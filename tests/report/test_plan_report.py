"""One evaluate-then-report path for `cryoplan report` and the app: what it reuses and refuses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from planning_core.errors import ReportError
from planning_core.report.inputs import load_report_case
from planning_core.report.plan_report import fresh_dose, simulation_usable


def test_a_valid_simulation_is_used_as_it_is(kidney_plan_path):
    case = load_report_case(kidney_plan_path)
    assert case.simulation is not None and simulation_usable(case.plan, case.simulation)
    fresh = fresh_dose(case.plan, case.volume, case.label_map, simulation=case.simulation)
    assert not fresh.recomputed and fresh.plan is case.plan
    np.testing.assert_array_equal(fresh.dose.min_temperature_c, case.simulation.min_temperature_c)
    assert fresh.dose.body_temperature_c == case.simulation.body_temperature_c
    # The same simulation cannot stand for a plan whose probes moved.
    probe = case.plan.probes[0]
    moved = dataclasses.replace(probe, tip_lps_mm=tuple(np.add(probe.tip_lps_mm, 1.0)))
    edited = dataclasses.replace(case.plan, probes=(moved, *case.plan.probes[1:]))
    assert not simulation_usable(edited, case.simulation)


def test_a_plan_without_probes_is_refused_before_any_work(kidney_plan_path):
    case = load_report_case(kidney_plan_path)
    empty = dataclasses.replace(case.plan, probes=())
    with pytest.raises(ReportError, match="no probes"):
        fresh_dose(empty, case.volume, case.label_map, simulation=case.simulation)
