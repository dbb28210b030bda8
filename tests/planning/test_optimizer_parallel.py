"""Independent simulations run side by side: same numbers with any thread count.

The robustness samples of the optimizer's plan run side by side
(:mod:`planning_core.planning.optimizer.parallel`) after its full verification,
which runs on every core; these tests check that threads never change a
result, that a dropped batch stops, and that the samples are those of the plan
that is returned.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from planning_phantoms import torso_phantom

from planning_core.errors import InvalidParameterError, OperationCancelledError
from planning_core.imaging.volume import Volume
from planning_core.planning.optimizer import optimize, optimize_plan
from planning_core.planning.optimizer.parallel import SimulationBatch, simulation_workers
from planning_core.planning.optimizer.robustness import assess_robustness
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.settings import PlanSettings
from planning_core.thermal.probes import ProbeModel

ARGON = ProbeModel(
    id="test-argon", name="test argon", cryogen="argon", diameter_mm=2.4,
    active_length_mm=30.0, tip_offset_mm=5.0,
)  # fmt: skip
MODELS = {ARGON.id: ARGON}


@pytest.fixture(scope="module")
def labels():
    return torso_phantom(tumor_radius_mm=5.0)


def test_batch_results_come_in_task_order_from_every_thread():
    ran_by = {}

    def task(number):
        def run(cancel):
            # Later tasks finish first, so completion order differs from task order.
            time.sleep(0.02 * (6 - number))
            ran_by[number] = threading.current_thread().name
            return number * number

        return run

    batch = SimulationBatch([task(n) for n in range(6)], background=2)
    assert batch.results() == [n * n for n in range(6)]
    assert len(set(ran_by.values())) >= 2, ran_by


def test_an_abandoned_batch_never_starts_its_remaining_tasks():
    started, release = [], threading.Event()

    def task(cancel):
        started.append(1)
        release.wait(5.0)
        cancel.raise_if_cancelled()
        return 1

    batch = SimulationBatch([task] * 5, background=1)
    deadline = time.monotonic() + 5.0
    while not started and time.monotonic() < deadline:
        time.sleep(0.01)
    batch.abandon()
    release.set()
    with pytest.raises(OperationCancelledError):
        batch.results()
    assert len(started) == 1


def test_a_failing_task_raises_in_the_caller():
    def bad(cancel):
        raise ValueError("broken sample")

    batch = SimulationBatch([lambda cancel: 1, bad, lambda cancel: 3], background=1)
    with pytest.raises(ValueError, match="broken sample"):
        batch.results()


def test_worker_count_follows_numba():
    import numba

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert simulation_workers() == 1
    finally:
        numba.set_num_threads(before)
    assert simulation_workers() == before


def test_robustness_is_the_same_with_one_or_two_workers(labels):
    plan = Plan(
        probes=(PlannedProbe(ARGON.id, (0.0, 20.0, 0.0), (0.0, -60.0, 0.0), "P1"),),
        protocol="F10-T8-F10",
        settings=PlanSettings(margin_mm=2.0),
    )
    runs = [
        assess_robustness(
            plan,
            None,
            labels,
            tip_error_mm=4.0,
            samples=4,
            seed=3,
            probe_library=MODELS,
            workers=workers,
        )
        for workers in (1, 2)
    ]
    np.testing.assert_array_equal(runs[0].coverage_percent, runs[1].coverage_percent)
    np.testing.assert_array_equal(runs[0].margin_mm, runs[1].margin_mm)
    assert runs[0].summary == runs[1].summary
    # The samples really differ from each other (the perturbations were applied).
    assert len(set(runs[0].coverage_percent)) > 1


def test_verification_takes_every_core_and_robustness_follows_the_returned_plan(
    labels, monkeypatch
):
    events = []
    start, verify = optimize.assess_robustness, optimize.evaluate_plan

    def recording_start(plan, *args, **options):
        events.append(("robustness started", plan.probes))
        return start(plan, *args, **options)

    def recording_verify(plan, *args, **options):
        events.append(("verification", plan.probes, options["threads"]))
        return verify(plan, *args, **options)

    monkeypatch.setattr(optimize, "assess_robustness", recording_start)
    monkeypatch.setattr(optimize, "evaluate_plan", recording_verify)
    hu = np.where(labels.voxels == 0, -1000.0, 40.0)
    hu[labels.mask("bone")] = 700.0
    volume = Volume(hu.astype(np.int16), labels.geometry, "CT")
    result = optimize_plan(
        volume, labels, settings=PlanSettings(margin_mm=3.0), probe_model=ARGON,
        verify_spacing_mm=2.0, robustness_samples=3, protocol_family_name=("F10-T8-F10",),
    )  # fmt: skip
    kinds = [event[0] for event in events]
    # Once, after the verification of the returned plan: no samples of a plan that failed.
    assert kinds.count("robustness started") == 1
    assert kinds[-1] == "robustness started" and kinds[-2] == "verification"
    assert events[-1][1] == events[-2][1] == result.plan.probes
    assert {event[2] for event in events if event[0] == "verification"} == {
        optimize.simulation_workers()
    }
    # The same numbers as an analysis of the returned, verified plan run afterwards.
    fresh = assess_robustness(
        result.evaluation.plan, volume, labels, samples=3, seed=0, probe_library=MODELS
    )
    assert result.plan.metrics.robustness == fresh.summary


def test_placement_error_options_are_refused_before_the_search(labels, monkeypatch):
    def no_search(*args, **options):
        raise AssertionError("the search started before the options were checked")

    monkeypatch.setattr(optimize, "TrajectoryContext", no_search)
    monkeypatch.setattr(optimize, "SimulationBatch", no_search)
    with pytest.raises(InvalidParameterError, match="tip_error_mm"):
        optimize_plan(None, labels, probe_model=ARGON, robustness_tip_error_mm=25.0)
