"""One thread count for every library a confirmation benchmark loads (set before importing them)."""

from __future__ import annotations

import os

#: numba (thermal engine), OpenMP (numpy/scipy), ITK (registration).
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS")


def limit_threads(count: int | None) -> None:
    """Let every library use ``count`` threads (``None``: leave their defaults)."""
    if count:
        for name in THREAD_VARIABLES:
            os.environ[name] = str(count)
