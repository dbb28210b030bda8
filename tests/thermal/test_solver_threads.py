"""The solver's stages split over threads (slabs of k-planes) give the one-thread result."""

from __future__ import annotations

import numpy as np
import pytest

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.thermal.probes import PlacedProbe, load_probe_library
from planning_core.thermal.protocol import parse_protocol
from planning_core.thermal.setup import SimulationSetup, build_setup
from planning_core.thermal.solver import simulate
from planning_core.thermal.tissues import load_tissue_library


def _setup() -> SimulationSetup:
    """A probe across fat and soft tissue with an insulated face: slabs cut the iceball."""
    model = load_probe_library().get("argon-2.4")
    tip = np.array([0.0, 0.0, -(model.tip_offset_mm + 0.5 * model.active_length_mm)])
    probe = PlacedProbe(model, tip, tip + np.array([0.0, 0.0, 150.0]))
    library = load_tissue_library()
    geometry = Geometry((21, 17, 19), (2.0, 2.0, 2.0), (-18.0, -16.0, -20.0))
    index = np.zeros(geometry.shape, dtype=np.uint8)
    index[:, :, :6] = 1
    base = build_setup([probe], medium="soft_tissue", grid=geometry)
    return SimulationSetup(
        geometry,
        index,
        (library.get("soft_tissue"), library.get("fat")),
        base.probes,
        insulated_faces=frozenset({"k+"}),
    )


@pytest.mark.parametrize("threads", [2, 3])
def test_threads_reproduce_the_one_thread_result(threads: int) -> None:
    setup, protocol = _setup(), parse_protocol("F2-T1")
    single = simulate(setup, protocol)
    split = simulate(setup, protocol, threads=threads)
    assert single.isotherm_volume_ml(0.0) > 0.5  # there is an iceball to get wrong
    # Each slab computes exactly what the single sweep computes for its planes.
    np.testing.assert_array_equal(split.min_temperature_c, single.min_temperature_c)
    np.testing.assert_array_equal(split.final_temperature_c, single.final_temperature_c)
    assert split.stages == single.stages


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_bad_thread_count_is_refused(threads: object) -> None:
    with pytest.raises(InvalidParameterError, match="threads"):
        simulate(_setup(), parse_protocol("F1"), threads=threads)  # type: ignore[arg-type]
