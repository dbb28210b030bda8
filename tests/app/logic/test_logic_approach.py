"""Approach rules, insertion order and organ presets in the logic, without widgets."""

from __future__ import annotations

import numpy as np
from cryoplan_app.logic.approach import position_note

from planning_core.planning.approach import DOWN_SIDE, GANTRY, reasons_for

#: A probe entering from the table side: on the mattress, its handle below the table top.
FROM_BELOW = reasons_for(DOWN_SIDE | GANTRY)


def _probe(document, tip, entry) -> None:
    document.add_probe_at(np.asarray(tip, dtype=float))
    document.move_probe(len(document.plan.probes) - 1, entry_lps_mm=np.asarray(entry, dtype=float))


def test_probes_are_ordered_deepest_first_and_checked_against_the_table_side(
    logic, runner, tumor_lps
):
    document, approach = logic.session.document, logic.approach
    # The phantom's body: an ellipse of half-axes 70 mm (x) and 50 mm (y); HFS: back on the table.
    _probe(document, tumor_lps, (0.0, -45.0, 0.0))  # from the front, 45 mm deep
    _probe(document, (10.0, 0.0, 0.0), (10.0, 45.0, 0.0))  # from the back, a shallower path
    _probe(document, (-10.0, 0.0, 0.0), (-70.0, 0.0, 0.0))  # from the right flank, deepest
    checks = approach.probes()
    assert [check.order for check in checks] == [2, 3, 1]
    assert approach.insertion_labels() == ("P3", "P1", "P2")
    assert all(check.refusals is None and check.text() == "not checked" for check in checks)
    runner.run_pending()  # the path analysis, then the table
    assert approach.approach is not None
    assert "table on the patient's back" in approach.note
    assert "no patient position" in approach.note  # the phantom's header has none
    checks = approach.probes()
    assert checks[0].text() == "OK" and checks[2].text() == "OK"
    assert checks[1].refusals == FROM_BELOW
    document.set_settings(patient_position="HFP")  # prone: the front lies on the table
    assert approach.approach is None  # found again for the new position
    runner.run_pending()
    checks = approach.probes()
    assert "table on the patient's front" in approach.note
    assert checks[0].refusals == FROM_BELOW and checks[1].text() == "OK"


def test_position_note_names_the_header_disagreement():
    assert position_note("HFS", "HFS") == ""
    assert "header says HFP, the plan HFS" in position_note("HFP", "HFS")
    assert "no patient position" in position_note(None, "HFS")


def test_presets_of_the_plan_organ_come_first_with_their_source(logic):
    protocols, document = logic.protocols, logic.session.document
    assert protocols.site().site is None  # the phantom's tumor lies in no organ label
    assert not any(choice.usual for choice in protocols.presets())
    document.set_settings(organ_site="lung")
    choices = protocols.presets()
    assert choices[0].name == "lung-3-7-10" and choices[0].usual
    assert "Source: " in choices[0].description and "Lyons" in choices[0].description
    assert [c.name for c in choices if c.usual] == ["lung-3-7-10"]
    document.set_settings(organ_site="kidney")
    assert [c.name for c in protocols.presets() if c.usual] == ["10-8-10", "10-5-10"]


def test_a_protocol_spelled_out_is_its_preset(logic):
    protocols = logic.protocols
    assert protocols.preset_of("F10-T8-F10") == "10-8-10" == protocols.preset_of("10-8-10")
    assert protocols.preset_of("F10-T8-F11") is None and protocols.preset_of("nonsense") is None
