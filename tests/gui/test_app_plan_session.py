"""Plan editing in the headless session: probes, protocol, settings, labels, undo, files."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from cryoplan_app.model.plan_state import PlanResults, TemperatureField
from cryoplan_app.model.session import Session

from planning_core.errors import InvalidParameterError, PlanFileError
from planning_core.imaging.geometry import Geometry
from planning_core.planning.plan_json import load_plan, save_plan


@pytest.fixture
def session(kidney_case, probe_library) -> Session:
    session = Session(probe_library=probe_library)
    session.open_case(kidney_case)
    return session


def _add(session: Session, tip) -> int:
    tip = np.asarray(tip, dtype=float)
    return session.add_probe("test-2.4", tip, tip + np.array((0.0, 80.0, 0.0)))


def test_open_case_starts_a_clean_plan_on_the_image(session, kidney_case) -> None:
    assert session.plan.probes == ()
    assert session.plan.case == kidney_case.reference
    assert session.plan.target_label == "tumor"
    assert not session.dirty and not session.can_undo


def test_add_move_remove_probe_with_undo(session, kidney_tumor_lps) -> None:
    events = []
    session.plan_changed.connect(events.append)
    index = _add(session, kidney_tumor_lps)
    assert index == 0 and session.selected_probe == 0
    assert session.plan.probes[0].label == "P1" and session.dirty
    new_tip = kidney_tumor_lps + np.array((5.0, 0.0, 0.0))
    session.move_probe(0, tip_lps_mm=new_tip)
    np.testing.assert_allclose(session.plan.probes[0].tip_lps_mm, new_tip)
    session.remove_probe(0)
    assert session.plan.probes == () and session.selected_probe is None
    session.undo()
    np.testing.assert_allclose(session.plan.probes[0].tip_lps_mm, new_tip)
    session.undo()
    np.testing.assert_allclose(session.plan.probes[0].tip_lps_mm, kidney_tumor_lps)
    session.undo()
    assert session.plan.probes == () and not session.dirty
    session.redo()
    assert len(session.plan.probes) == 1
    assert len(events) == 7  # add, move, remove, three undos, one redo


def test_drag_moves_are_one_undo_step(session, kidney_tumor_lps) -> None:
    _add(session, kidney_tumor_lps)
    for step in range(1, 6):
        session.move_probe(
            0, tip_lps_mm=kidney_tumor_lps + np.array((step, 0.0, 0.0)), dragging=True
        )
    session.end_drag()
    assert session.history.undo_count == 2
    session.undo()
    np.testing.assert_allclose(session.plan.probes[0].tip_lps_mm, kidney_tumor_lps)


def test_translate_moves_tip_and_entry(session, kidney_tumor_lps) -> None:
    _add(session, kidney_tumor_lps)
    before = session.plan.probes[0]
    session.translate_probe(0, (1.0, 2.0, 3.0))
    after = session.plan.probes[0]
    np.testing.assert_allclose(np.subtract(after.tip_lps_mm, before.tip_lps_mm), (1, 2, 3))
    np.testing.assert_allclose(np.subtract(after.entry_lps_mm, before.entry_lps_mm), (1, 2, 3))


def test_entry_inside_freezing_segment_is_refused(session, kidney_tumor_lps) -> None:
    _add(session, kidney_tumor_lps)
    with pytest.raises(InvalidParameterError, match="freezing"):
        session.move_probe(0, entry_lps_mm=kidney_tumor_lps + np.array((0.0, 20.0, 0.0)))


def test_unknown_probe_model_is_refused(session, kidney_tumor_lps) -> None:
    with pytest.raises(InvalidParameterError, match="unknown probe model"):
        session.add_probe("no-such", kidney_tumor_lps, kidney_tumor_lps + np.array((0, 80, 0)))


def test_bad_probe_index_is_refused(session) -> None:
    with pytest.raises(InvalidParameterError, match="no probes"):
        session.move_probe(0, tip_lps_mm=(0, 0, 0))


def test_protocol_and_settings_edits_are_undoable(session) -> None:
    session.set_protocol("F8-T5-F8")
    session.set_settings(lethal_isotherm_c=-20.0)
    assert session.plan.protocol == "F8-T5-F8"
    assert session.isotherms_c == (0.0, -20.0, -40.0)
    assert session.lethal_isotherm_c == -20.0
    session.undo()
    assert session.lethal_isotherm_c == -40.0
    session.undo()
    assert session.plan.protocol == "F10-T8-F10"


def test_bad_protocol_is_refused(session) -> None:
    with pytest.raises(InvalidParameterError):
        session.set_protocol("freeze a bit")


def test_out_of_range_setting_is_refused(session) -> None:
    with pytest.raises(InvalidParameterError, match="margin_mm"):
        session.set_settings(margin_mm=99.0)


def test_unknown_setting_is_refused(session) -> None:
    with pytest.raises(InvalidParameterError, match="unknown plan setting"):
        session.set_settings(colour="blue")


def test_label_edits_go_through_history_and_keep_display(session) -> None:
    original = session.labels
    session.set_label_visible("bone", False)
    edited = original.without("ureter")
    session.replace_labels(edited, "Delete ureter")
    assert session.labels is edited and session.labels_edited and session.dirty
    assert not session.label_visible("bone")
    session.undo()
    assert session.labels is original and not session.labels_edited
    assert not session.label_visible("bone")


def test_results_turn_stale_and_fresh_again_with_undo(session, kidney_tumor_lps) -> None:
    _add(session, kidney_tumor_lps)
    grid = Geometry((4, 4, 4), np.ones(3), kidney_tumor_lps - 2.0)
    field = TemperatureField(np.full(grid.shape, -50.0, np.float32), grid)
    session.set_results(PlanResults(session.current_inputs(), field))
    assert session.results_fresh and session.temperature_field is field
    session.move_probe(0, tip_lps_mm=kidney_tumor_lps + np.array((3.0, 0.0, 0.0)))
    assert not session.results_fresh
    session.undo()
    assert session.results_fresh


def test_preview_shows_until_fresh_results_arrive(session, kidney_tumor_lps) -> None:
    _add(session, kidney_tumor_lps)
    grid = Geometry((4, 4, 4), np.ones(3), kidney_tumor_lps - 2.0)
    preview = TemperatureField(np.zeros(grid.shape, np.float32), grid, approximate=True)
    session.set_preview(preview)
    assert session.temperature_field is preview
    full = TemperatureField(np.full(grid.shape, -50.0, np.float32), grid)
    session.set_results(PlanResults(session.current_inputs(), full))
    assert session.temperature_field is full


def test_save_and_open_plan_round_trip(session, kidney_tumor_lps, tmp_path) -> None:
    _add(session, kidney_tumor_lps)
    session.set_protocol("F8-T5-F8")
    session.replace_labels(session.labels.without("ureter"), "Delete ureter")
    path = session.save_plan(tmp_path / "plan.json")
    assert not session.dirty and session.plan_path == path
    assert load_plan(path).labels_path.is_file()
    saved = session.plan
    session.move_probe(0, tip_lps_mm=kidney_tumor_lps + np.array((4.0, 0.0, 0.0)))
    session.undo()
    session.undo()  # the labels edit: the ureter is back
    assert session.labels.has("ureter")
    opened = session.open_plan(path)
    assert opened.probes == saved.probes and opened.protocol == "F8-T5-F8"
    assert not session.labels.has("ureter")  # the labels saved with the plan
    assert not session.dirty and not session.can_undo
    assert session.plan_path == path


def test_plan_without_image_opens_on_the_open_image(session, kidney_tumor_lps, tmp_path) -> None:
    _add(session, kidney_tumor_lps)
    save_plan(session.plan, tmp_path / "bare.json")
    session.remove_probe(0)
    session.open_plan(tmp_path / "bare.json")
    assert len(session.plan.probes) == 1


def test_plan_of_another_image_is_refused(session, kidney_tumor_lps, tmp_path) -> None:
    _add(session, kidney_tumor_lps)
    other = replace(session.plan, case=replace(session.plan.case, content_sha256="0" * 64))
    save_plan(other, tmp_path / "other.json")
    with pytest.raises(PlanFileError, match="another image"):
        session.open_plan(tmp_path / "other.json")


def test_saved_plan_is_valid_plan_json(session, kidney_tumor_lps, tmp_path) -> None:
    _add(session, kidney_tumor_lps)
    path = session.save_plan(tmp_path / "p.json")
    assert load_plan(path).probes == session.plan.probes
