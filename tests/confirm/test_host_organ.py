"""The organ a confirmation registers on: the plan's organ, the side that holds the tumor."""

from __future__ import annotations

import numpy as np
from intra_phantom import planned

from planning_core.confirm.host_organ import host_organ_mask
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap, standard_label


def test_an_exophytic_kidney_tumor_registers_on_its_kidney_not_the_fat_around_it():
    geometry = Geometry((40, 60, 100), np.ones(3), np.array([-50.0, -30.0, -20.0]))
    k, j, i = np.indices(geometry.shape)
    points = geometry.index_to_lps(np.stack([i, j, k], -1).astype(float))
    right = np.linalg.norm((points - (-25.0, 0.0, 0.0)) / (12.0, 12.0, 18.0), axis=-1) <= 1
    left = np.linalg.norm((points - (25.0, 0.0, 0.0)) / (12.0, 12.0, 18.0), axis=-1) <= 1
    # The tumor bulges out of the right kidney: most of the shell around it is fat.
    tumor = np.linalg.norm(points - (-40.0, 0.0, 0.0), axis=-1) <= 6.0
    labels = LabelMap.empty(geometry)
    for name, mask in (("fat", ~(right | left | tumor)), ("kidney", right | left)):
        labels = labels.with_mask(name, mask, role=standard_label(name).role)
    labels = labels.with_mask("tumor", tumor, role="target")
    organ = host_organ_mask(planned(), labels)
    assert organ is not None
    assert np.array_equal(organ, (right & ~tumor) | tumor)
