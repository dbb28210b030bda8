"""The fused RKL step kernel against an independent numpy evaluation of the same scheme.

The kernel walks spans that run over row ends (see ``build_runs``); a grid
with several tissues, inert voxels (air and a fixed-temperature block),
insulated faces, point sources and random temperatures across the phase
change checks that this traversal updates exactly the non-inert voxels with
the 7-point finite-volume operator and leaves the boundary pad untouched, on
one thread and with the spans split into slabs of k-planes on threads.
"""

from __future__ import annotations

import numpy as np
import pytest
from numerics_setups import fixed_wall
from numpy.typing import NDArray

from planning_core.imaging.geometry import Geometry
from planning_core.thermal import solver as solver_module
from planning_core.thermal.kernels import build_chains, build_runs, rkl_step
from planning_core.thermal.setup import SimulationSetup
from planning_core.thermal.stability import rkl1_coefficients
from planning_core.thermal.tissues import TissueProperties, load_tissue_library

SPACING_MM = (1.5, 1.0, 2.0)
AIR = TissueProperties(
    key="air",
    name="insulating air",
    conductivity_unfrozen_w_mk=0.0,
    conductivity_frozen_w_mk=0.0,
    heat_capacity_unfrozen_j_m3k=1.0e3,
    heat_capacity_frozen_j_m3k=1.0e3,
    latent_heat_j_m3=0.0,
    solidus_c=-1.0,
    liquidus_c=0.0,
    inert=True,
)


def _mixed_setup() -> SimulationSetup:
    library = load_tissue_library()
    tissues = (
        library.get("soft_tissue"),
        library.get("fat"),
        library.get("muscle"),
        AIR,
        fixed_wall(1.0),
    )
    rng = np.random.default_rng(7)
    shape = (7, 6, 9)
    index = np.zeros(shape, dtype=np.uint8)
    index[1:3] = rng.choice([0, 1, 2], size=(2, *shape[1:]), p=[0.5, 0.3, 0.2])
    index[4, :, 3:5] = 1  # whole columns: spans continue over row ends around them
    index[5, 2:4, :] = 3  # air rows
    index[6, 0, 0:2] = 4  # a fixed-temperature block at a row start
    index[3, 5, 8] = 3  # air at the last voxel of a plane
    initial = rng.uniform(-60.0, 40.0, size=shape).astype(np.float32)
    return SimulationSetup(
        Geometry(shape, SPACING_MM, (0.0, 0.0, 0.0)),
        index,
        tissues,
        initial_temperature_c=initial,
        insulated_faces=frozenset({"i-", "k+"}),
    )


def _reference_step(
    setup: SimulationSetup,
    enthalpy: NDArray[np.float64],
    temperature: NDArray[np.float64],
    conductivity: NDArray[np.float64],
    stages: int,
    step_s: float,
    sources: dict[tuple[int, int, int], float],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The same step in float64 numpy on padded ``[k, j, i]`` arrays; returns (H, T)."""
    index = setup.tissue_index
    updated = ~np.array([t.inert for t in setup.tissues])[index]
    spacing_m = np.asarray(SPACING_MM) * 1e-3
    inner = (slice(1, -1),) * 3

    def operator(t_field: NDArray[np.float64], k_field: NDArray[np.float64]) -> NDArray:
        flux = np.zeros(index.shape)
        centre_t, centre_k = t_field[inner], k_field[inner]
        for axis, h in zip((2, 1, 0), spacing_m, strict=True):
            for shift in (-1, 1):
                neighbour = [slice(1, -1)] * 3
                neighbour[axis] = slice(1 + shift, t_field.shape[axis] - 1 + shift)
                k_n, t_n = k_field[tuple(neighbour)], t_field[tuple(neighbour)]
                total = k_n + centre_k
                conductance = np.divide(
                    k_n * centre_k, total, out=np.zeros_like(total), where=total > 0
                )
                flux += 2.0 / h**2 * conductance * (t_n - centre_t)
        for number, tissue in enumerate(setup.tissues):
            pick = index == number
            unfrozen = tissue.unfrozen_fraction(centre_t[pick])
            arterial = tissue.arterial_temperature_c(setup.body_temperature_c)
            flux[pick] += unfrozen * (
                tissue.perfusion_w_m3k * (arterial - centre_t[pick]) + tissue.metabolic_w_m3
            )
        return flux

    h_prev2 = h_prev = enthalpy.copy()
    t_prev, k_prev = temperature.copy(), conductivity.copy()
    for mu, nu, mu_dt in rkl1_coefficients(stages):
        h_new, t_new, k_new = h_prev.copy(), t_prev.copy(), k_prev.copy()
        stage = mu * h_prev[inner] + nu * h_prev2[inner] + mu_dt * step_s * operator(t_prev, k_prev)
        for (k, j, i), power in sources.items():
            stage[k, j, i] += mu_dt * step_s * power
        h_new[inner][updated] = stage[updated]
        for number, tissue in enumerate(setup.tissues):
            pick = (index == number) & updated
            t_new[inner][pick] = tissue.temperature_c(h_new[inner][pick])
            k_new[inner][pick] = tissue.conductivity_w_mk(t_new[inner][pick])
        h_prev2, h_prev, t_prev, k_prev = h_prev, h_new, t_new, k_new
    return h_prev, t_prev


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_step_kernel_matches_numpy_reference(threads: int) -> None:
    setup = _mixed_setup()
    fields = solver_module._Fields(setup)
    padded = fields.padded_shape
    start = [a.reshape(padded).astype(np.float64) for a in (fields.h[0], fields.t[0], fields.k[0])]
    tissue_padded = np.pad(setup.tissue_index, 1, mode="edge")
    inert = np.array([t.inert for t in setup.tissues])
    chains = build_chains(*build_runs(tissue_padded, inert), padded)
    slab_chains = solver_module._slab_chains(chains, padded, threads)
    assert len(slab_chains) == threads + 1  # 7 planes: every slab gets planes to update
    sources = {(1, 2, 3): -4.0e6, (2, 5, 8): -1.5e6, (4, 0, 0): 2.0e6}
    voxels = np.array([np.ravel_multi_index((k + 1, j + 1, i + 1), padded) for k, j, i in sources])
    stages, step_s = 5, 1.5
    source_tissue = np.array([setup.tissue_index[voxel] for voxel in sources], dtype=np.int64)
    face = (2.0 / (np.asarray(SPACING_MM) * 1e-3) ** 2).astype(np.float32)
    strides = (np.uint64(padded[2]), np.uint64(padded[2] * padded[1]))
    rkl_step(
        fields.h, fields.t, fields.k, fields.t_min, 0, 0, np.asarray(rkl1_coefficients(stages)),
        step_s, face, *strides, *chains, fields.pads, *fields.pad_values, voxels, source_tissue,
        np.array(list(sources.values())), solver_module._parameter_table(setup), slab_chains,
    )  # fmt: skip
    h_kernel = fields.h[stages % 3].reshape(padded)
    t_kernel = fields.t[stages % 2].reshape(padded)
    h_ref, t_ref = _reference_step(setup, *start, stages, step_s, sources)

    scale = np.max(np.abs(h_ref - start[0]))
    assert scale > 1e5  # the step changes the field noticeably
    assert np.max(np.abs(h_kernel - h_ref)) <= 1e-4 * scale + 1e-6 * np.max(np.abs(h_ref))
    assert np.max(np.abs(t_kernel - t_ref)) <= 2e-3
    # Inert voxels and the whole pad keep their values in every buffer the step wrote.
    untouched = np.pad(inert[setup.tissue_index], 1, constant_values=True)
    for buffer, original in ((h_kernel, start[0]), (t_kernel, start[1])):
        assert np.array_equal(buffer[untouched], original[untouched].astype(np.float32))
    minimum = fields.t_min.reshape(padded)[1:-1, 1:-1, 1:-1]
    expected_min = np.minimum(start[1][1:-1, 1:-1, 1:-1], t_ref[1:-1, 1:-1, 1:-1])
    assert np.max(np.abs(minimum - expected_min)) <= 2e-3


def test_spans_cover_exactly_the_updated_voxels_and_row_end_pads() -> None:
    setup = _mixed_setup()
    tissue_padded = np.pad(setup.tissue_index, 1, mode="edge")
    inert = np.array([t.inert for t in setup.tissues])
    start, stop, tissue = build_runs(tissue_padded, inert)
    covered = np.zeros(tissue_padded.size, dtype=np.int64)
    for a, b, t in zip(start, stop, tissue, strict=True):
        covered[int(a) : int(b)] += 1
        span = tissue_padded.ravel()[int(a) : int(b)]
        interior = np.zeros(tissue_padded.shape, dtype=bool)
        interior[1:-1, 1:-1, 1:-1] = True
        inside = interior.ravel()[int(a) : int(b)]
        assert np.all(span[inside] == t)  # one tissue per span
        assert inside[0] and inside[-1]  # spans start and end on grid voxels
    covered = covered.reshape(tissue_padded.shape)
    assert covered.max() == 1
    updated = np.zeros(tissue_padded.shape, dtype=bool)
    updated[1:-1, 1:-1, 1:-1] = ~inert[setup.tissue_index]
    assert np.array_equal(covered[1:-1, 1:-1, 1:-1] == 1, updated[1:-1, 1:-1, 1:-1])
    # Outside the grid only the two pad voxels between rows of one plane are passed over.
    outside = covered.astype(bool) & ~updated
    assert not outside[:, :, 1:-1].any()
    assert not outside[[0, -1]].any() and not outside[:, [0, -1]].any()
    assert len(start) < np.count_nonzero(updated) // 3  # spans are long


def test_chains_cover_the_spans_and_name_each_voxels_tissue() -> None:
    setup = _mixed_setup()
    tissue_padded = np.pad(setup.tissue_index, 1, mode="edge")
    inert = np.array([t.inert for t in setup.tissues])
    runs = build_runs(tissue_padded, inert)
    start, stop, tissue, slots, slot = build_chains(*runs, tissue_padded.shape)
    flat = tissue_padded.ravel()
    spans = np.zeros(flat.size, dtype=bool)
    for a, b in zip(*runs[:2], strict=True):
        spans[int(a) : int(b)] = True
    chained = np.zeros(flat.size, dtype=np.int64)
    for q in range(len(start)):
        a, b = int(start[q]), int(stop[q])
        chained[a:b] += 1
        assert 1 <= slots[q] <= tissue.shape[1]
        members = spans[a:b]
        # Every span voxel in the chain is named by its slot; other voxels are row-end pads.
        assert np.array_equal(tissue[q][slot[a:b][members]], flat[a:b][members])
        assert set(flat[a:b][members]) == set(tissue[q][: slots[q]])
    assert chained.max() == 1
    assert np.array_equal(chained.astype(bool) & spans, spans)  # every span voxel is chained
    extra = chained.astype(bool) & ~spans
    i = np.unravel_index(np.flatnonzero(extra), tissue_padded.shape)[2]
    assert set(i) <= {0, tissue_padded.shape[2] - 1}  # only row-end pads are passed over
    assert len(start) < len(runs[0])  # spans of several tissues share a chain
