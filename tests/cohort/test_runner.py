"""The local cluster shares the machine's cores between its workers."""

from __future__ import annotations

import pytest

from planning_core.cohort import runner


@pytest.mark.parametrize(("cores", "workers", "threads"), [(16, 4, "4"), (2, 2, "1"), (2, 8, "1")])
def test_each_local_worker_gets_its_share_of_the_cores(monkeypatch, cores, workers, threads):
    monkeypatch.setattr(runner.os, "cpu_count", lambda: cores)
    environment = runner.local_worker_environment(workers)
    assert environment == {"NUMBA_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
