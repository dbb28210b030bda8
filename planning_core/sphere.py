"""Evenly spread directions on the unit sphere, shared by segmentation and planning."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from planning_core.errors import InvalidParameterError


def fibonacci_directions(count: int) -> NDArray[np.float64]:
    """``count`` nearly uniformly spread unit vectors (Fibonacci lattice), shape ``(count, 3)``.

    The third component runs from near +1 down to near -1 (the lattice's polar
    axis); the azimuth advances by the golden angle.
    """
    if count < 1:
        raise InvalidParameterError(f"count must be at least 1, got {count}.")
    n = np.arange(count, dtype=np.float64)
    z = 1.0 - (2.0 * n + 1.0) / count
    radius = np.sqrt(1.0 - z * z)
    azimuth = n * np.pi * (3.0 - np.sqrt(5.0))
    return np.column_stack((radius * np.cos(azimuth), radius * np.sin(azimuth), z))
