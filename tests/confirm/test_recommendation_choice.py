"""Which option the intra-procedural confirmation recommends."""

from __future__ import annotations

from planning_core.confirm.as_placed import Outcome
from planning_core.confirm.recommendation import TreatmentOption, choose_option
from planning_core.planning.plan import PlannedProbe


def _option(kind, margin_mm: float, *, meets_goal: bool = False, problems=()) -> TreatmentOption:
    outcome = Outcome(
        isotherm_c=-40.0, minimal_margin_mm=margin_mm, tumor_covered_percent=100.0,
        zone_covered_percent=90.0, meets_goal=meets_goal,
    )  # fmt: skip
    probe = PlannedProbe("argon-2.4", (0.0, 0.0, 0.0), (0.0, -80.0, 0.0), "P3")
    return TreatmentOption(
        kind, f"{kind} option.", outcome, "F10-T8-F10",
        added_probe=probe if kind == "add_probe" else None, path_problems=tuple(problems),
    )  # fmt: skip


def test_an_added_probe_whose_path_fails_is_listed_but_never_recommended():
    proceed = _option("proceed", -6.8)
    extend = _option("extend", -6.2)
    from_the_table = _option("add_probe", -3.6, problems=("enters from the table side",))
    chosen = choose_option([proceed, extend, from_the_table])
    assert chosen.chosen is extend
    assert from_the_table in chosen.options
    meets_but_unsafe = _option("add_probe", 5.5, meets_goal=True, problems=("crosses bone",))
    assert choose_option([proceed, meets_but_unsafe]).chosen is proceed


def test_the_first_option_meeting_the_goal_is_recommended():
    proceed = _option("proceed", 2.0)
    extend = _option("extend", 5.2, meets_goal=True)
    added = _option("add_probe", 6.0, meets_goal=True)
    assert choose_option([proceed, extend, added]).chosen is extend
