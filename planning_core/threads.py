"""The planning thread budget: how many threads planning work may use at once."""

from __future__ import annotations

import numba


def thread_budget() -> int:
    """numba's thread count in the calling thread (``numba.set_num_threads``, or the
    ``NUMBA_NUM_THREADS`` environment variable).

    The solver's slabs, the robustness samples run side by side, the path
    analysis' distance transforms and its vessel search all follow it, so one
    setting (``benchmarks/bench_plan.py --threads``, a cohort worker's share of
    the cores) bounds every part of a plan.
    """
    return max(1, int(numba.get_num_threads()))
