"""The tissue class of a seed: the density mode of its neighbourhood's values."""

from __future__ import annotations

import warnings

import numpy as np

from planning_core.segmentation.region import intensity_mode


def test_a_mode_out_of_the_kernel_reach_is_the_nearest_value():
    """A noise-free, uniform fluid gives a bandwidth at the noise floor: a start level
    between the values (the median of an even count) must move to a value, never stay
    where no value is (an empty class: NaN mean and spread further on)."""
    values = np.array([5.0, 5.0, 7.0, 7.0, 150.0], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        level = intensity_mode(values, 6.0, 1e-3)
    assert level in (5.0, 7.0)
    assert np.count_nonzero(np.abs(values - level) <= 3e-3) >= 1
