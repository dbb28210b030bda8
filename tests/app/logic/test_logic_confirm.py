"""The Confirm step's logic: the kidney plan against its CT taken during the freeze, no Qt.

The confirmation itself is computed once per process (``confirm_helpers``);
these tests check what :class:`~cryoplan_app.logic.confirm.ConfirmLogic` does
with it: the series opened through the case sources, the elapsed freeze, the
result kept and signalled, the planning case kept, the errors and the PDF.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from confirm_helpers import KIDNEY_ELAPSED_MIN, TEST_SPACING_MM, confirm_intra_once
from cryoplan_app.logic import confirm as confirm_logic
from cryoplan_app.logic.confirm import ELAPSED_FIELD, SERIES_FIELD, ConfirmLogic, IntraRun
from cryoplan_app.model.plan_files import OpenedPlan, read_plan_files
from cryoplan_app.model.plan_io import show_opened_plan
from cryoplan_app.model.session import Session

from planning_core.errors import ConfirmationError, InvalidParameterError


@pytest.fixture(scope="module")
def kidney_intra():
    from cryoplan_samples.confirmation import ensure_confirmation_case

    return ensure_confirmation_case("kidney", "intra", variant="complete")


@pytest.fixture(scope="module")
def kidney_plan(kidney_intra) -> OpenedPlan:
    """The kidney confirmation plan with its planning CT and labels, read once."""
    return read_plan_files(kidney_intra.plan_path, reference=None)


@pytest.fixture
def confirming(kidney_plan, runner, monkeypatch) -> ConfirmLogic:
    """The Confirm logic of a session showing the kidney confirmation plan (packaged probes).

    Only the Confirm logic is made: the other computations (path checks, preview)
    would be prepared for the plan and take the runner's time.
    """
    monkeypatch.setattr(confirm_logic, "confirm_intra", confirm_intra_once)
    session = Session()
    show_opened_plan(session, kidney_plan)
    assert session.document.plan.probes and not session.document.history.dirty
    return ConfirmLogic(session, runner, spacing_mm=TEST_SPACING_MM)


def test_the_logic_bundles_the_confirm_step(logic):
    assert isinstance(logic.confirm, ConfirmLogic) and logic.confirm.session is logic.session


@pytest.mark.slow
def test_the_intra_confirmation_is_kept_and_the_planning_case_stays(
    confirming, runner, kidney_intra, tmp_path
):
    confirm, session = confirming, confirming.session
    planning_case = session.case
    seen = []
    confirm.changed.connect(lambda: seen.append(confirm.running))

    confirm.run("intra", kidney_intra.ct_dir, elapsed_min=KIDNEY_ELAPSED_MIN, deformable=False)
    assert confirm.running
    runner.run_pending()

    assert not runner.errors and not confirm.running and seen[-1] is False
    kept = confirm.result
    assert isinstance(kept, IntraRun)
    result = kept.result
    assert result.elapsed_s == KIDNEY_ELAPSED_MIN * 60.0
    assert result.registration.method == "rigid"
    # Each placed probe found and matched to its plan probe, near the truth's placement.
    truth = {p["plan_probe"]: p for p in kidney_intra.truth["placed_probes"]}
    assert sorted(r.plan_label for r in result.placed) == sorted(truth)
    for report in result.placed:
        placed = truth[report.plan_label]
        assert np.linalg.norm(np.subtract(report.tip_lps_mm, placed["tip_lps_mm"])) < 3.0
        assert report.tip_error_mm == pytest.approx(placed["tip_error_mm"], abs=3.0)
    assert result.recommendation.options and result.recommendation.text
    # The follow-up CT never replaces the planning case.
    assert session.case is planning_case
    assert kept.planning is planning_case.volume and kept.intra_ct is not planning_case.volume
    assert "Done" in confirm.note

    written = []
    confirm.save_pdf(tmp_path / "confirmation.pdf", on_done=written.append)
    runner.run_pending()
    assert written == [tmp_path / "confirmation.pdf"]
    assert written[0].read_bytes().startswith(b"%PDF")

    session.close_case()
    assert confirm.result is None  # it belonged to that plan's CT


def test_an_elapsed_time_beyond_the_protocol_is_refused_at_once(confirming, kidney_intra):
    with pytest.raises(InvalidParameterError, match=re.escape(ELAPSED_FIELD)) as raised:
        confirming.run("intra", kidney_intra.ct_dir, elapsed_min=600.0)
    assert "--" not in str(raised.value) and not confirming.running


def test_a_series_that_is_no_ct_of_the_freeze_fails_through_the_error_path(
    confirming, runner, tmp_path
):
    confirm = confirming
    failures = []
    confirm.failed.connect(lambda error, _details: failures.append(error))
    confirm.run("intra", tmp_path / "missing", elapsed_min=KIDNEY_ELAPSED_MIN)
    runner.run_pending()
    assert len(failures) == 1 and isinstance(failures[0], InvalidParameterError)
    assert str(failures[0]).startswith(SERIES_FIELD)
    assert confirm.result is None and "Not confirmed" in confirm.note


def test_the_post_ablation_step_needs_the_plan_saved(confirming, kidney_intra):
    confirm = confirming
    document = confirm.session.document
    document.set_protocol("F5-T5-F5")  # an unsaved change
    with pytest.raises(ConfirmationError, match="File > Save plan"):
        confirm.run("post", kidney_intra.ct_dir)
    with pytest.raises(ConfirmationError, match="Series folder"):
        confirm.run("intra", "")


def test_the_planning_ct_as_post_ablation_ct_is_refused_naming_the_field(confirming, runner):
    from cryoplan_samples.cases import ensure_sample_case

    confirm = confirming
    failures = []
    confirm.failed.connect(lambda error, _details: failures.append(error))
    confirm.run("post", ensure_sample_case("kidney").image_path)
    runner.run_pending()
    assert len(failures) == 1 and isinstance(failures[0], ConfirmationError)
    message = str(failures[0])
    assert message.startswith(SERIES_FIELD) and "planning CT itself" in message
    assert "--" not in message and confirm.result is None


def test_a_cancelled_run_keeps_no_result(confirming, runner, kidney_intra):
    confirm = confirming
    confirm.run("intra", kidney_intra.ct_dir, elapsed_min=KIDNEY_ELAPSED_MIN)
    confirm.cancel()
    runner.run_pending()
    assert confirm.result is None and not confirm.running and confirm.note == "Cancelled."
    assert not runner.errors
