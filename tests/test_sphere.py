"""Fibonacci directions on the unit sphere."""

import numpy as np
import pytest

from planning_core.errors import InvalidParameterError
from planning_core.sphere import fibonacci_directions


def test_directions_are_unit_and_spread_evenly():
    directions = fibonacci_directions(2000)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0)
    # Evenly spread unit vectors average to (nearly) zero ...
    assert np.linalg.norm(directions.mean(axis=0)) < 0.01
    # ... and each octant gets an eighth of them, give or take a few.
    octants = np.packbits(directions > 0, axis=1, bitorder="little")[:, 0]
    assert np.bincount(octants, minlength=8) == pytest.approx(np.full(8, 250), abs=8)


def test_count_must_be_positive():
    with pytest.raises(InvalidParameterError, match="count"):
        fibonacci_directions(0)
