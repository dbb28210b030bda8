"""Plan editing in the headless session: probes, protocol, settings, labels, undo, files."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from cryoplan_app.model import plan_io
from cryoplan_app.model.plan_state import PlanResults, TemperatureField
from cryoplan_app.model.session import Session
from cryoplan_app.model.view_state import Layout, Tool

from planning_core.errors import InvalidParameterError, PlanFileError
from planning_core.imaging.geometry import Geometry
from planning_core.planning.plan_json import load_plan, save_plan
from planning_core.planning.trajectory import probe_angles_deg


@pytest.fixture
def session(kidney_case, probe_library) -> Session:
    session = Session(probe_library=probe_library)
    session.open_case(kidney_case)
    return session


def _add(session: Session, tip) -> int:
    tip = np.asarray(tip, dtype=float)
    return session.document.add_probe("test-2.4", tip, tip + np.array((0.0, 80.0, 0.0)))


def test_open_case_starts_a_clean_plan_on_the_image(session, kidney_case) -> None:
    assert session.document.plan.probes == ()
    assert session.document.plan.case == kidney_case.reference
    assert session.document.plan.target_label == "tumor"
    assert not session.document.history.dirty and not session.document.history.can_undo


def test_add_move_remove_probe_with_undo(session, kidney_tumor_lps) -> None:
    events = []
    session.document.plan_changed.connect(events.append)
    index = _add(session, kidney_tumor_lps)
    assert index == 0 and session.document.selected_probe == 0
    assert session.document.plan.probes[0].label == "P1" and session.document.history.dirty
    new_tip = kidney_tumor_lps + np.array((5.0, 0.0, 0.0))
    session.document.move_probe(0, tip_lps_mm=new_tip)
    np.testing.assert_allclose(session.document.plan.probes[0].tip_lps_mm, new_tip)
    session.document.remove_probe(0)
    assert session.document.plan.probes == () and session.document.selected_probe is None
    session.document.history.undo()
    np.testing.assert_allclose(session.document.plan.probes[0].tip_lps_mm, new_tip)
    session.document.history.undo()
    np.testing.assert_allclose(session.document.plan.probes[0].tip_lps_mm, kidney_tumor_lps)
    session.document.history.undo()
    assert session.document.plan.probes == () and not session.document.history.dirty
    session.document.history.redo()
    assert len(session.document.plan.probes) == 1
    assert len(events) == 7  # add, move, remove, three undos, one redo


def test_drag_moves_are_one_undo_step(session, kidney_tumor_lps) -> None:
    _add(session, kidney_tumor_lps)
    for step in range(1, 6):
        session.document.move_probe(
            0, tip_lps_mm=kidney_tumor_lps + np.array((step, 0.0, 0.0)), dragging=True
        )
    session.document.end_drag()
    assert session.document.history.undo_count == 2
    session.document.history.undo()
    np.testing.assert_allclose(session.document.plan.probes[0].tip_lps_mm, kidney_tumor_lps)


def test_translate_moves_tip_and_entry(session, kidney_tumor_lps) -> None:
    _add(session, kidney_tumor_lps)
    before = session.document.plan.probes[0]
    session.document.translate_probe(0, (1.0, 2.0, 3.0))
    after = session.document.plan.probes[0]
    np.testing.assert_allclose(np.subtract(after.tip_lps_mm, before.tip_lps_mm), (1, 2, 3))
    np.testing.assert_allclose(np.subtract(after.entry_lps_mm, before.entry_lps_mm), (1, 2, 3))


def test_entry_inside_freezing_segment_is_refused(session, kidney_tumor_lps) -> None:
    _add(session, kidney_tumor_lps)
    with pytest.raises(InvalidParameterError, match="freezing"):
        session.document.move_probe(0, entry_lps_mm=kidney_tumor_lps + np.array((0.0, 20.0, 0.0)))


def test_unknown_probe_model_is_refused(session, kidney_tumor_lps) -> None:
    with pytest.raises(InvalidParameterError, match="unknown probe model"):
        session.document.add_probe(
            "no-such", kidney_tumor_lps, kidney_tumor_lps + np.array((0, 80, 0))
        )


def test_bad_probe_index_is_refused(session) -> None:
    with pytest.raises(InvalidParameterError, match="no probes"):
        session.document.move_probe(0, tip_lps_mm=(0, 0, 0))


def test_protocol_and_settings_edits_are_undoable(session) -> None:
    session.document.set_protocol("F8-T5-F8")
    session.document.set_settings(lethal_isotherm_c=-20.0)
    assert session.document.plan.protocol == "F8-T5-F8"
    assert session.document.isotherms_c == (0.0, -20.0, -40.0)
    assert session.document.lethal_isotherm_c == -20.0
    session.document.history.undo()
    assert session.document.lethal_isotherm_c == -40.0
    session.document.history.undo()
    assert session.document.plan.protocol == "F10-T8-F10"


def test_bad_protocol_is_refused(session) -> None:
    with pytest.raises(InvalidParameterError):
        session.document.set_protocol("freeze a bit")


def test_out_of_range_setting_is_refused(session) -> None:
    with pytest.raises(InvalidParameterError, match="margin_mm"):
        session.document.set_settings(margin_mm=99.0)


def test_unknown_setting_is_refused(session) -> None:
    with pytest.raises(InvalidParameterError, match="unknown plan setting"):
        session.document.set_settings(colour="blue")


def test_label_edits_go_through_history_and_keep_display(session) -> None:
    original = session.document.labels
    session.view.set_label_visible("bone", False)
    edited = original.without("ureter")
    session.document.replace_labels(edited, "Delete ureter")
    assert (
        session.document.labels is edited
        and session.document.labels_edited
        and session.document.history.dirty
    )
    assert not session.view.label_visible("bone")
    session.document.history.undo()
    assert session.document.labels is original and not session.document.labels_edited
    assert not session.view.label_visible("bone")


def test_results_turn_stale_and_fresh_again_with_undo(session, kidney_tumor_lps) -> None:
    _add(session, kidney_tumor_lps)
    grid = Geometry((4, 4, 4), np.ones(3), kidney_tumor_lps - 2.0)
    field = TemperatureField(np.full(grid.shape, -50.0, np.float32), grid)
    session.document.set_results(PlanResults(session.document.current_inputs(), field))
    assert session.document.results_fresh and session.document.temperature_field is field
    session.document.move_probe(0, tip_lps_mm=kidney_tumor_lps + np.array((3.0, 0.0, 0.0)))
    assert not session.document.results_fresh
    session.document.history.undo()
    assert session.document.results_fresh


def test_preview_shows_until_fresh_results_arrive(session, kidney_tumor_lps) -> None:
    _add(session, kidney_tumor_lps)
    grid = Geometry((4, 4, 4), np.ones(3), kidney_tumor_lps - 2.0)
    preview = TemperatureField(np.zeros(grid.shape, np.float32), grid, approximate=True)
    session.document.set_preview(preview)
    assert session.document.temperature_field is preview
    full = TemperatureField(np.full(grid.shape, -50.0, np.float32), grid)
    session.document.set_results(PlanResults(session.document.current_inputs(), full))
    assert session.document.temperature_field is full


def test_save_and_open_plan_round_trip(session, kidney_tumor_lps, tmp_path) -> None:
    _add(session, kidney_tumor_lps)
    session.document.set_protocol("F8-T5-F8")
    session.document.replace_labels(session.document.labels.without("ureter"), "Delete ureter")
    path = plan_io.save_plan(session, tmp_path / "plan.json")
    assert not session.document.history.dirty and session.document.path == path
    assert load_plan(path).labels_path.is_file()
    saved = session.document.plan
    session.document.move_probe(0, tip_lps_mm=kidney_tumor_lps + np.array((4.0, 0.0, 0.0)))
    session.document.history.undo()
    session.document.history.undo()  # the labels edit: the ureter is back
    assert session.document.labels.has("ureter")
    opened = plan_io.open_plan(session, path)
    assert opened.probes == saved.probes and opened.protocol == "F8-T5-F8"
    assert not session.document.labels.has("ureter")  # the labels saved with the plan
    assert not session.document.history.dirty and not session.document.history.can_undo
    assert session.document.path == path


def test_plan_without_image_opens_on_the_open_image(session, kidney_tumor_lps, tmp_path) -> None:
    _add(session, kidney_tumor_lps)
    save_plan(session.document.plan, tmp_path / "bare.json")
    session.document.remove_probe(0)
    plan_io.open_plan(session, tmp_path / "bare.json")
    assert len(session.document.plan.probes) == 1


def test_plan_of_another_image_is_refused(session, kidney_tumor_lps, tmp_path) -> None:
    _add(session, kidney_tumor_lps)
    other = replace(
        session.document.plan, case=replace(session.document.plan.case, content_sha256="0" * 64)
    )
    save_plan(other, tmp_path / "other.json")
    with pytest.raises(PlanFileError, match="another image"):
        plan_io.open_plan(session, tmp_path / "other.json")


def test_saved_plan_is_valid_plan_json(session, kidney_tumor_lps, tmp_path) -> None:
    _add(session, kidney_tumor_lps)
    path = plan_io.save_plan(session, tmp_path / "p.json")
    assert load_plan(path).probes == session.document.plan.probes


def test_layout_and_tool_are_enumerated_states(session) -> None:
    view = session.view
    view.set_layout("axial")
    assert view.layout is Layout.AXIAL
    with pytest.raises(InvalidParameterError, match="layout must be one of 4up, axial"):
        view.set_layout("5up")
    view.set_tool(Tool.PROBE)
    assert view.tool is Tool.PROBE and view.tool == "probe"
    with pytest.raises(InvalidParameterError, match="tool must be one of navigate, probe"):
        view.set_tool("scalpel")


def test_reopening_the_case_drops_edited_labels(session, kidney_case) -> None:
    session.document.replace_labels(session.document.labels.without("ureter"), "Delete ureter")
    session.open_case(kidney_case)
    assert session.document.labels is kidney_case.labels and not session.document.labels_edited
    assert session.view.label_visible("ureter")


def test_depth_and_angle_edits_keep_the_entry_or_the_length(session, kidney_tumor_lps) -> None:
    index = _add(session, kidney_tumor_lps)
    document = session.document
    document.set_probe_depth(index, 60.0)
    probe = document.plan.probes[index]
    assert math.dist(probe.tip_lps_mm, probe.entry_lps_mm) == pytest.approx(60.0)
    assert probe.entry_lps_mm == pytest.approx(tuple(kidney_tumor_lps + np.array((0.0, 80.0, 0.0))))

    tip = probe.tip_lps_mm
    document.set_probe_angles(index, craniocaudal_deg=20.0, in_plane_deg=30.0)
    turned = document.plan.probes[index]
    angles = probe_angles_deg(
        np.asarray(turned.direction_lps), document.plan.settings.table_direction_lps()
    )
    assert turned.tip_lps_mm == tip
    assert math.dist(turned.tip_lps_mm, turned.entry_lps_mm) == pytest.approx(60.0)
    assert (float(angles[0]), float(angles[1])) == pytest.approx((20.0, 30.0), abs=1e-6)

    document.history.undo()
    assert document.plan.probes[index] == probe
