"""Practice mode: the state machine, then a full attempt in the window on the kidney case.

The library is a temporary one (``$CRYOPLAN_LIBRARY``) holding the kidney sample
with a hand-made three-probe reference evaluated on the 2-mm grid, so that no
optimizer runs here. The trainee's single probe under-treats the 28-mm tumor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cryoplan_app.model.practice import (
    PracticeSession,
    PracticeStateError,
    comparison_rows,
)
from qt_helpers import dispose_window, view_pixel

from planning_core.errors import InvalidParameterError
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.results import (
    AblativeMargin,
    IsothermCoverage,
    OarMetrics,
    PlanMetrics,
)
from planning_core.planning.settings import PlanSettings
from planning_core.training.attempts import list_attempts
from planning_core.training.database import LIBRARY_ENV, LibraryError, connect
from planning_core.training.difficulty import DifficultyTags
from planning_core.training.library import LibraryCase, import_sample_case
from planning_core.training.users import find_trainee

PROBE = "argon-2.4"
#: Reference tips relative to the tumor centre (LPS mm): three probes from posterior (HFP).
REFERENCE_OFFSETS_MM = ((-7.0, -18.0, -5.0), (7.0, -18.0, -5.0), (0.0, -18.0, 8.0))


def _case(reference: bool = True) -> LibraryCase:
    tags = DifficultyTags(
        "kidney", 28.0, 11.0, "20-30 mm", "colon", 7.0, "advanced", "renal_sinus", 0.8
    )
    return LibraryCase(
        "kidney", "Kidney", "kidney", "CT", "", None, None, tags, None,  # type: ignore[arg-type]
        "optimizer" if reference else None, 2.0, "2026-03-01T00:00:00+00:00",
    )  # fmt: skip


def _clock():
    times = iter(f"2026-03-01T10:{minute:02d}:00+00:00" for minute in range(60))
    return lambda: next(times)


def test_practice_state_machine_hides_the_reference_and_submits_once():
    reference = Plan(
        probes=(PlannedProbe(PROBE, (0, 0, 0), (0, 100, 0), "R1"),),
        protocol="F15-T8-F15",
        settings=PlanSettings(margin_mm=4.0, patient_position="HFP"),
    )
    practice = PracticeSession(clock=_clock())
    states = []
    practice.state_changed.connect(states.append)
    with pytest.raises(PracticeStateError, match="no practice is running"):
        practice.submit(reference)
    with pytest.raises(LibraryError, match="1 to 80 characters"):
        practice.start(trainee=" \t", case=_case(), reference=reference)
    practice.start(trainee="Ann", case=_case(), reference=reference)
    with pytest.raises(PracticeStateError, match="a practice is running"):
        practice.start(trainee="Ann", case=_case(), reference=reference)
    with pytest.raises(PracticeStateError, match="revealed only after"):
        _ = practice.reference
    start = practice.starting_plan(Plan())
    assert start.probes == () and start.settings == reference.settings
    assert start.protocol != reference.protocol  # the protocol is the trainee's choice
    with pytest.raises(InvalidParameterError, match="no probes"):
        practice.submit(Plan())
    assert practice.unsubmitted and practice.can_submit
    attempt = practice.submit(Plan(probes=reference.probes))
    assert (attempt.trainee, attempt.case_id) == ("Ann", "kidney")
    assert attempt.duration_s == 60.0  # the clock ticks a minute per call
    with pytest.raises(PracticeStateError, match="already submitted"):
        practice.submit(Plan(probes=reference.probes))
    with pytest.raises(PracticeStateError, match="revealed only after"):
        practice.reveal()
    practice.submission_failed()  # a cancelled assessment reopens the attempt
    assert practice.state == "placing" and practice.attempt is None
    practice.submit(Plan(probes=reference.probes))
    practice.end()
    assert states == ["placing", "assessing", "placing", "assessing", "idle"]
    assert practice.case is None and not practice.active


def _metrics(
    *, tumor: float, zone: float, margin_mm: float, probes: int, freeze_s: float, colon_ml: float
) -> PlanMetrics:
    colon = OarMetrics("colon", -2.0 if colon_ml else 8.0, 5.0, colon_ml, 0.0)
    sinus = OarMetrics("renal_sinus", -9.0, 0.0, 3.0, 1.0, monitored=True)
    return PlanMetrics(
        computed_with="test", inputs_sha256="0" * 64, lethal_isotherm_c=-40.0, margin_mm=5.0,
        tumor_volume_ml=11.0, ice_volume_ml=60.0, lethal_volume_ml=25.0,
        coverage=(IsothermCoverage(0.0, 100.0, 100.0), IsothermCoverage(-40.0, tumor, zone)),
        margin=AblativeMargin(margin_mm, margin_mm, (0.0, 0.0, 0.0)), oars=(colon, sinus),
        probe_count=probes, total_freeze_s=freeze_s, min_tip_spacing_mm=None,
    )  # fmt: skip


def test_comparison_rows_name_the_differences():
    metrics = _metrics
    attempt = metrics(
        tumor=80.0, zone=60.0, margin_mm=-3.0, probes=1, freeze_s=1200.0, colon_ml=1.5
    )
    reference = metrics(
        tumor=100.0, zone=97.0, margin_mm=4.2, probes=3, freeze_s=1800.0, colon_ml=0.0
    )
    rows = {name: (a, r) for name, a, r in comparison_rows(attempt, reference)}
    assert rows["Probes"] == ("1", "3")
    assert rows["Total freeze time"] == ("20 min", "30 min")
    assert rows["Tumor covered by -40 °C"] == ("80.0 %", "100.0 %")
    assert rows["Tumor + 5 mm covered"] == ("60.0 %", "97.0 %")
    # The case's goal (the settings' 5 mm) is named; each plan's own result beside it.
    assert rows["Minimal ablative margin (goal 5.0 mm)"] == ("-3.0 mm", "4.2 mm")
    assert rows["Organs at risk frozen (0 °C)"] == ("colon 1.50 mL", "none")
    assert rows["Closer than their clearance"] == ("colon", "none")
    # A nearly complete coverage never reads as complete (rounded down, as in the score).
    almost = metrics(
        tumor=99.96, zone=99.84, margin_mm=4.2, probes=3, freeze_s=1800.0, colon_ml=0.0
    )
    rows = {name: (a, r) for name, a, r in comparison_rows(almost, reference)}
    assert rows["Tumor covered by -40 °C"] == ("99.9 %", "100.0 %")
    assert rows["Tumor + 5 mm covered"] == ("99.8 %", "97.0 %")


@pytest.mark.gui
def test_the_start_dialog_needs_a_name_and_a_case(qapp):
    from cryoplan_app.qt.practice.dialogs import StartPracticeDialog

    dialog = StartPracticeDialog([_case(), _case(reference=False)], ["Ann", "Bob"])
    assert dialog.trainee == "Ann" and dialog.case is not None and dialog.case.id == "kidney"
    assert dialog.case_table.item(1, 5).text() == "none yet (made on start)"
    # Sizes and distances read as everywhere else (planning_core.figures): 0.1 mm.
    assert dialog.case_table.item(0, 2).text() == "28.0 mm (20-30 mm)"
    assert dialog.case_table.item(0, 4).text() == "colon 7.0 mm, renal sinus 0.8 mm"
    dialog.trainee_box.setCurrentText("   ")
    dialog.accept()
    assert dialog.result() != dialog.DialogCode.Accepted and "1 to 80" in dialog.problem.text()
    dialog.trainee_box.setCurrentText("New Resident")
    dialog.accept()
    assert dialog.result() == dialog.DialogCode.Accepted and dialog.trainee == "New Resident"


def _reference_plan(tumor_lps: np.ndarray) -> Plan:
    probes = []
    for number, offset in enumerate(REFERENCE_OFFSETS_MM, start=1):
        tip = tumor_lps + np.asarray(offset)
        entry = tip + np.array([0.0, 110.0, 0.0])
        probes.append(PlannedProbe(PROBE, tuple(tip), tuple(entry), f"P{number}"))
    return Plan(
        probes=tuple(probes), protocol="F10-T8-F10", settings=PlanSettings(patient_position="HFP")
    )


@pytest.fixture(scope="module")
def practice_library(tmp_path_factory, kidney_tumor_lps) -> Path:
    """A library holding the kidney case and its hand-made reference (evaluated once)."""
    from planning_core.training.assessment import evaluate_reference

    library = tmp_path_factory.mktemp("practice") / "library.sqlite3"
    connection = connect(library)
    import_sample_case(connection, "kidney")
    evaluate_reference(
        connection, "kidney", _reference_plan(np.asarray(kidney_tumor_lps)),
        author="Dr. Attending", spacing_mm=2.0,
    )  # fmt: skip
    connection.close()
    return library


@pytest.fixture()
def practice_window(qapp, tmp_path, monkeypatch, practice_library):
    """A window on an empty desk; ``$CRYOPLAN_LIBRARY`` names the practice library."""
    from cryoplan_app.qt.main_window import MainWindow

    monkeypatch.setenv(LIBRARY_ENV, str(practice_library))
    window = MainWindow(headless=True, autosave_dir=tmp_path / "autosave", simulate=False)
    window.resize(1600, 1000)
    window.show()
    qapp.processEvents()
    yield window
    window.runner.wait(60_000)
    dispose_window(window)


@pytest.mark.gui
@pytest.mark.slow
def test_a_full_practice_attempt(practice_window, qtbot, kidney_tumor_lps, tmp_path):
    window = practice_window
    controller = window.practice
    session = window.session
    reported: list[str] = []
    window.errors.reported.connect(reported.append)
    with qtbot.waitSignal(controller.started, timeout=60_000):
        controller.start("test", "kidney")
    assert window.practice_dock.isVisible()
    from cryoplan_app.qt.practice.dialogs import case_row

    case = controller.practice.case
    # The panel shows the tumor size and the nearest structures as the case list does.
    assert case_row(case)[2] in window.practice_panel.case_label.text()
    assert case_row(case)[4] in window.practice_panel.case_label.text()

    # The reference is nowhere: not in the plan, the probe table, the views or the history.
    assert session.document.plan.probes == () and not session.document.history.can_undo
    assert window.panels["probes"].table.rowCount() == 0
    assert session.document.probe_parts() == ()
    with pytest.raises(PracticeStateError):
        _ = controller.practice.reference
    assert (
        session.document.plan.settings.patient_position == "HFP"
    )  # the case's goals are the trainee's
    assert not window.panels["optimizer"].isEnabled()  # it would plan for the trainee
    assert not window.panels["segmentation"].isEnabled()  # nor may the tumor be redrawn
    connection = connect(None)
    assert find_trainee(connection, "test") is not None  # added on first use
    connection.close()

    # One probe through the tumor centre, from posterior: it under-treats the tumor's rim.
    tumor = np.asarray(kidney_tumor_lps)
    session.view.set_crosshair(tumor + np.array([0.0, -12.0, 0.0]))
    window.add_probe_at_crosshair()
    assert window.panels["probes"].table.rowCount() == 1
    session.document.set_protocol("F10-T8-F10")

    # A cancelled assessment stores nothing and leaves the attempt open.
    cancelled = controller.submit()
    assert cancelled is not None and controller.practice.state == "assessing"
    assert not window.add_probe_action.isEnabled()
    with qtbot.waitSignal(
        window.runner.task_finished, timeout=60_000, check_params_cb=lambda t: t is cancelled
    ):
        controller.cancel_assessment()
    assert controller.practice.state == "placing" and window.add_probe_action.isEnabled()

    with qtbot.waitSignal(controller.assessed, timeout=120_000) as assessed:
        task = controller.submit()
        assert task is not None
        assert controller.submit() is None  # a second submit is refused
        assert "already submitted" in reported[-1]
    result = assessed.args[0]
    score = result.assessment.score
    panel = window.practice_panel
    assert panel.result_box.isVisible()
    assert panel.score_label.text() == f"{score.total:.1f} / 100"  # as in the history
    assert 0.0 <= score.total < 60.0  # one probe for a 28-mm tumor
    assert score.feedback and score.feedback[0][:40] in panel.feedback_label.text()
    assert panel.breakdown.rowCount() == len(score.components) + len(score.penalties)
    assert not panel.submit_button.isEnabled() and panel.reveal_button.isEnabled()
    assert not window.add_probe_action.isEnabled() and not session.document.history.can_undo

    # The under-treated tumor surface is red in the axial view, on its own slice.
    surface = result.assessment.undertreated_surface
    assert surface.any()
    k, j, i = np.argwhere(surface)[len(np.argwhere(surface)) // 2]
    point = session.case.volume.geometry.index_to_lps(np.array([i, j, k], dtype=float))
    session.view.set_crosshair(point)
    session.view.set_layout("axial")
    qtbot.wait(50)
    axial = window.view_area.views["axial"]
    # Away from the crosshair lines, on a neighbouring red voxel of the same slice.
    red_here = np.argwhere(surface[k])
    far = red_here[np.argmax(np.abs(red_here - (j, i)).min(axis=1))]
    red_point = session.case.volume.geometry.index_to_lps(np.array([far[1], far[0], k], float))
    r, g, b = view_pixel(axial, red_point)
    assert r > 200 and g < 60 and b < 60, (r, g, b)
    assert controller.undertreated_shown

    # The attempt is in the library with its score and time spent.
    connection = connect(None)
    (stored,) = list_attempts(connection, trainee="test")
    connection.close()
    assert stored.id == result.attempt_id and stored.score == pytest.approx(score.total)
    assert stored.case_id == "kidney" and stored.duration_s is not None

    # The reveal shows the reference beside the attempt, on the same slice.
    with qtbot.waitSignal(controller.revealed, timeout=10_000) as revealed:
        controller.reveal()
    reveal = revealed.args[0]
    assert len(reveal.reference_session.document.plan.probes) == len(REFERENCE_OFFSETS_MM)
    assert len(reveal.attempt_session.document.plan.probes) == 1
    assert reveal.reference_session.document.temperature_field is not None
    assert reveal.reference_session.view.slice_index("axial") == session.view.slice_index("axial")
    assert reveal.table.item(0, 1).text() == "1" and reveal.table.item(0, 2).text() == "3"
    session.view.step_slice("axial", 2)  # scrolling the main window scrolls both sides
    assert reveal.reference_session.view.slice_index("axial") == session.view.slice_index("axial")
    reference_view = reveal.slice_views[1]
    reference_view.render_now()
    assert len(reveal.reference_session.document.probe_parts()) == 3

    # Training ▸ My history… and the logbook.
    history = window.training_actions.history_dialog("test")
    assert history.best_table.item(0, 0).text() == "kidney"
    assert history.best_table.item(0, 1).text() == f"{score.total:.1f}"
    assert not history.plot.pixmap().isNull()
    history.close()
    logbook = tmp_path / "logbook.pdf"
    with qtbot.waitSignal(window.runner.idle, timeout=30_000):
        window.training_actions.export_logbook("test", logbook)
    assert logbook.read_bytes().startswith(b"%PDF")

    controller.end(ask=True)  # submitted: nothing to lose, no question
    assert controller.practice.state == "idle" and session.case is None
    assert controller.reveal_window is None and not window.practice_dock.isVisible()
    assert window.panels["optimizer"].isEnabled()


@pytest.mark.gui
def test_leaving_an_unsubmitted_practice_asks(practice_window, qtbot, monkeypatch, kidney_case):
    from PyQt6.QtWidgets import QMessageBox

    window = practice_window
    controller = window.practice
    with qtbot.waitSignal(controller.started, timeout=60_000):
        controller.start("test", "kidney")
    window.headless = False  # a trainee at the screen is asked
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    questions = []

    def answer(_parent, _title, text, *_args):
        questions.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", answer)
    assert not controller.end(ask=True)  # "No": the practice goes on
    assert controller.practice.state == "placing" and window.session.case is not None
    assert controller.end(ask=True) and controller.practice.state == "idle"
    assert len(questions) == 2 and "without a score" in questions[0]
    window.headless = True

    # Opening another case in the middle of a practice ends it (the attempt is dropped).
    with qtbot.waitSignal(controller.started, timeout=60_000):
        controller.start("test", "kidney")
    window.session.open_case(kidney_case)
    assert controller.practice.state == "idle" and not window.practice_dock.isVisible()
    assert window.add_probe_action.isEnabled()
