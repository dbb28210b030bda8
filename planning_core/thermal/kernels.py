"""Numba kernels of the enthalpy bioheat solver.

Fields are flat float32 arrays of the padded grid ``(nk + 2, nj + 2, ni + 2)``;
the one-voxel pad holds the boundary condition. Voxels are visited in flat index
order in chains (:func:`build_chains`): consecutive spans of equal tissue with at
most four tissues between them, one loop each, the tissue constants picked per
voxel by selects (loop invariants where a chain holds one tissue). A chain runs
on over the two pad voxels between rows of a plane (their results are discarded
and the boundary values written back), because a loop entry with its scalar
remainder costs as much as a hundred voxels. Indices are unsigned because
numba then skips its negative-index wraparound test, which otherwise blocks
vectorisation. One time step with all its stages is one call
(:func:`rkl_step`), so Python runs once per step, not once per stage.

The kernels run on one core unless :func:`rkl_step` is given slabs of chains
(whole k-planes each), which then run on threads (``prange``). On the 2-core
machine shared with other jobs that did not pay: each stage ends in a barrier
(0.2 ms per stage on the 2 mm grid, 2 ms on 1 mm) that waits for whichever
thread another process has descheduled (benchmarks/bench_thermal.py prints
the 1- and 2-thread figures).

Where a stage's time goes (2 mm reference grid, one core, per CPU second, on a
loaded 2-core machine): the kernel updates about 800 M voxels/s, a bare float32
7-point stencil 2,200-2,400 M/s. With arithmetic instead of harmonic face means
(no divisions) the kernel ran about 1.3-1.5 times faster, without the phase
change (linear T(H), constant k) 1.2 times; storing 1/k (one division per face
without the products) or one shared division per voxel (batch inversion) gained
nothing. A plane sweep that computes T and k once per voxel from the enthalpy
into plane buffers (two enthalpy fields in memory instead of seven fields,
every face flux once) was 4 % slower on the 2 mm grid and 4 % faster on 1 mm,
so the single pass stays. Chains instead of one loop per span: on the liver's
1-mm verification grid (8 tissues, spans of 24 voxels on average) the stage rate
went from about 170 to 330-400 M voxels/s on one core, on bench_thermal.py's
1-mm cube of six tissues in blobs from 129 to 257 M/s (same isotherm volumes);
on one tissue nothing changed. The chain loop is inlined (``inline="always"``)
into the step: as a call per chain it was passed some hundred arguments (numba
splits every array).

Tissue constants are rows of a float32 table (see :data:`PARAMETER_COLUMNS`);
enthalpy is zero at the solidus.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.typing import NDArray

#: Columns of the per-tissue parameter table used by the kernels.
PARAMETER_COLUMNS = (
    "solidus_c",
    "inverse_range_per_k",
    "inverse_frozen_capacity",
    "inverse_mushy_capacity",
    "inverse_unfrozen_capacity",
    "liquidus_enthalpy",
    "frozen_conductivity",
    "conductivity_step",
    "perfusion",
    "arterial_c",
    "metabolic",
)

_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)


@nb.njit(cache=True)
def build_runs(
    tissue_padded: NDArray[np.uint8], inert: NDArray[np.bool_]
) -> tuple[NDArray[np.uint64], NDArray[np.uint64], NDArray[np.int64]]:
    """Spans of equal, non-inert tissue in flat index order, one k-plane at most.

    A span that reaches the end of a row continues into the next row of the
    same plane when that row starts with the same tissue: it then passes over
    the two pad voxels between the rows. The stage kernel updates those pad
    voxels too (one long vectorised loop instead of a short loop and a scalar
    remainder per row) and :func:`restore_pads` puts their boundary values back.

    Returns
    -------
    run_start, run_stop : flat padded indices of each span (half open)
    run_tissue : tissue index of each span
    """
    nk, nj, ni = tissue_padded.shape
    capacity = (nk - 2) * (nj - 2) * 2 + 16
    run_start = np.empty(capacity, np.uint64)
    run_stop = np.empty(capacity, np.uint64)
    run_tissue = np.empty(capacity, np.int64)
    count = 0
    for k in range(1, nk - 1):
        # A span may be continued only by the first run of the next row of this plane.
        open_span = False
        for j in range(1, nj - 1):
            base = (k * nj + j) * ni
            i = 1
            while i < ni - 1:
                t = tissue_padded[k, j, i]
                start = i
                while i < ni - 1 and tissue_padded[k, j, i] == t:
                    i += 1
                if inert[t]:
                    open_span = False
                    continue
                if open_span and start == 1 and run_tissue[count - 1] == t:
                    run_stop[count - 1] = np.uint64(base + i)
                else:
                    if count == capacity:
                        capacity *= 2
                        run_start = _grow_u64(run_start, capacity)
                        run_stop = _grow_u64(run_stop, capacity)
                        run_tissue = _grow_i64(run_tissue, capacity)
                    run_start[count] = np.uint64(base + start)
                    run_stop[count] = np.uint64(base + i)
                    run_tissue[count] = np.int64(t)
                    count += 1
                open_span = i == ni - 1
    return run_start[:count].copy(), run_stop[:count].copy(), run_tissue[:count].copy()


#: Tissues one chain may hold (see :func:`build_chains`); each voxel's constants are
#: picked by selects among them.
CHAIN_SLOTS = 4


@nb.njit(cache=True)
def build_chains(
    run_start: NDArray[np.uint64],
    run_stop: NDArray[np.uint64],
    run_tissue: NDArray[np.int64],
    shape_padded: tuple[int, int, int],
) -> tuple[
    NDArray[np.uint64], NDArray[np.uint64], NDArray[np.int64], NDArray[np.int64], NDArray[np.uint8]
]:
    """Group the spans of :func:`build_runs` into chains the stage kernel updates in one loop.

    A chain is a run of spans that follow each other without a gap (the two pad
    voxels between the rows of one plane excepted) with at most
    :data:`CHAIN_SLOTS` tissues. Why: with AVX-512 the vectorised loop takes 32
    voxels a turn, and each loop entry (overlap checks of the seven fields, the
    scalar remainder) costs about as much as a hundred voxels, so on anatomy
    (spans of about 25 voxels) a loop per span ran at a third of its speed on one
    tissue. Picking each voxel's constants among a chain's tissues by selects (a
    table lookup per voxel does not vectorise) costs about a third of the update,
    and only in chains of more than one tissue.

    Returns
    -------
    chain_start, chain_stop : flat padded indices of each chain (half open)
    chain_tissue : ``(n, CHAIN_SLOTS)`` tissue of each slot (unused slots repeat slot 0)
    chain_slots : number of tissues in each chain
    slot : per flat padded voxel, the slot of its tissue in its chain (0 outside chains)
    """
    _, _, ni = shape_padded
    n = run_start.shape[0]
    chain_start = np.empty(n, np.uint64)
    chain_stop = np.empty(n, np.uint64)
    chain_tissue = np.empty((n, CHAIN_SLOTS), np.int64)
    chain_slots = np.empty(n, np.int64)
    slot = np.zeros(shape_padded[0] * shape_padded[1] * ni, np.uint8)
    count = 0
    for r in range(n):
        start, stop, tissue = run_start[r], run_stop[r], run_tissue[r]
        found = -1
        if count > 0:
            end = chain_stop[count - 1]
            if start == end or (end % ni == ni - 1 and start == end + 2):
                used = chain_slots[count - 1]
                for x in range(used):
                    if chain_tissue[count - 1, x] == tissue:
                        found = x
                if found < 0 and used < CHAIN_SLOTS:
                    found = used
                    chain_tissue[count - 1, used] = tissue
                    chain_slots[count - 1] = used + 1
        if found >= 0:
            chain_stop[count - 1] = stop
            slot[start:stop] = found
            continue
        chain_start[count] = start
        chain_stop[count] = stop
        chain_tissue[count, :] = tissue
        chain_slots[count] = 1
        count += 1
    return (
        chain_start[:count].copy(),
        chain_stop[:count].copy(),
        chain_tissue[:count].copy(),
        chain_slots[:count].copy(),
        slot,
    )


@nb.njit(cache=True)
def row_pads(shape_padded: tuple[int, int, int]) -> NDArray[np.int64]:
    """Flat indices of the pad voxels at both ends of every interior row."""
    nk, nj, ni = shape_padded
    pads = np.empty(2 * (nk - 2) * (nj - 2), np.int64)
    n = 0
    for k in range(1, nk - 1):
        for j in range(1, nj - 1):
            base = (k * nj + j) * ni
            pads[n] = base
            pads[n + 1] = base + ni - 1
            n += 2
    return pads


@nb.njit(cache=True)
def _grow_u64(array: NDArray[np.uint64], size: int) -> NDArray[np.uint64]:
    grown = np.empty(size, np.uint64)
    grown[: array.shape[0]] = array
    return grown


@nb.njit(cache=True)
def _grow_i64(array: NDArray[np.int64], size: int) -> NDArray[np.int64]:
    grown = np.empty(size, np.int64)
    grown[: array.shape[0]] = array
    return grown


_STAGE_OPTIONS = {
    "fastmath": True,
    "boundscheck": False,
    "cache": True,
    # Python semantics would test every division for zero, which blocks vectorisation.
    "error_model": "numpy",
    # No Python objects inside: other threads run on (the optimizer's robustness samples
    # beside its verification, planning_core/planning/optimizer/parallel.py).
    "nogil": True,
}


@nb.njit(**_STAGE_OPTIONS)
def _update_voxel(
    c: np.uint64,
    params: tuple,
    h_prev: NDArray[np.float32],
    h_prev2: NDArray[np.float32],
    t_prev: NDArray[np.float32],
    k_prev: NDArray[np.float32],
    h_new: NDArray[np.float32],
    t_new: NDArray[np.float32],
    k_new: NDArray[np.float32],
    mu: np.float32,
    nu: np.float32,
    mu_dt: np.float32,
    face: NDArray[np.float32],
    stride_j: np.uint64,
    stride_k: np.uint64,
) -> None:
    """One Runge-Kutta-Legendre stage on voxel ``c``: ``H_new = mu H_prev + nu H_prev2 + mu_dt L``.

    ``L`` is the conductive divergence (harmonic-mean face conductivities, so
    zero-conductivity voxels insulate) plus perfusion and metabolic heat scaled
    by the unfrozen fraction. ``face`` holds ``2 / h²`` per axis i, j, k (the 2
    belongs to the harmonic mean). The new temperature and conductivity follow
    from the new enthalpy.
    ``params`` are the voxel's tissue constants (:data:`PARAMETER_COLUMNS`).
    """
    perfusion, arterial, metabolic = params[8], params[9], params[10]
    one = np.uint64(1)
    tc = t_prev[c]
    kc = k_prev[c]
    a = c - one
    b = c + one
    d = c - stride_j
    e = c + stride_j
    g = c - stride_k
    f = c + stride_k
    flux = (
        face[0]
        * (
            k_prev[a] * kc / (k_prev[a] + kc) * (t_prev[a] - tc)
            + k_prev[b] * kc / (k_prev[b] + kc) * (t_prev[b] - tc)
        )
        + face[1]
        * (
            k_prev[d] * kc / (k_prev[d] + kc) * (t_prev[d] - tc)
            + k_prev[e] * kc / (k_prev[e] + kc) * (t_prev[e] - tc)
        )
        + face[2]
        * (
            k_prev[g] * kc / (k_prev[g] + kc) * (t_prev[g] - tc)
            + k_prev[f] * kc / (k_prev[f] + kc) * (t_prev[f] - tc)
        )
    )
    unfrozen = _unfrozen(tc, params)
    source = unfrozen * (perfusion * (arterial - tc) + metabolic)
    h = mu * h_prev[c] + nu * h_prev2[c] + mu_dt * (flux + source)
    h_new[c] = h
    temperature, conductivity = _state(h, params)
    t_new[c] = temperature
    k_new[c] = conductivity


@nb.njit(inline="always", **_STAGE_OPTIONS)
def _state(h: np.float32, params: tuple) -> tuple[np.float32, np.float32]:
    """Temperature and conductivity at enthalpy ``h`` (tissue constants ``params``):
    linear in each of the frozen, mushy and unfrozen ranges."""
    solidus = params[0]
    inv_cf, inv_cm, inv_cu, h_liq, k_frozen, k_step = params[2:8]
    temperature = (
        solidus
        + min(h, _ZERO) * inv_cf
        + min(max(h, _ZERO), h_liq) * inv_cm
        + max(h - h_liq, _ZERO) * inv_cu
    )
    return temperature, k_frozen + k_step * _unfrozen(temperature, params)


@nb.njit(inline="always", **_STAGE_OPTIONS)
def _unfrozen(temperature: np.float32, params: tuple) -> np.float32:
    """Unfrozen share (0-1) of tissue ``params`` at ``temperature``: linear over the
    mushy range; it scales the conductivity step and the perfusion and metabolic heat."""
    return min(max((temperature - params[0]) * params[1], _ZERO), _ONE)


@nb.njit(inline="always", **_STAGE_OPTIONS)
def _tissue_row(params: NDArray[np.float32], t: np.int64) -> tuple:
    return (
        params[t, 0], params[t, 1], params[t, 2], params[t, 3], params[t, 4], params[t, 5],
        params[t, 6], params[t, 7], params[t, 8], params[t, 9], params[t, 10],
    )  # fmt: skip


@nb.njit(inline="always", **_STAGE_OPTIONS)
def _pick(slot: np.uint8, a: np.float32, b: np.float32, c: np.float32, d: np.float32) -> np.float32:
    """The value of ``slot`` among four (selects, not a lookup: it vectorises)."""
    return a if slot == 0 else (b if slot == 1 else (c if slot == 2 else d))


@nb.njit(inline="always", **_STAGE_OPTIONS)
def _update_chain(
    q: int,
    h_prev: NDArray[np.float32],
    h_prev2: NDArray[np.float32],
    t_prev: NDArray[np.float32],
    k_prev: NDArray[np.float32],
    h_new: NDArray[np.float32],
    t_new: NDArray[np.float32],
    k_new: NDArray[np.float32],
    mu: np.float32,
    nu: np.float32,
    mu_dt: np.float32,
    face: NDArray[np.float32],
    stride_j: np.uint64,
    stride_k: np.uint64,
    chain_start: NDArray[np.uint64],
    chain_stop: NDArray[np.uint64],
    chain_tissue: NDArray[np.int64],
    chain_slots: NDArray[np.int64],
    slot: NDArray[np.uint8],
    params: NDArray[np.float32],
) -> None:
    """:func:`_update_voxel` over chain ``q``: one tissue's constants held, or picked per voxel."""
    t0 = chain_tissue[q, 0]
    if chain_slots[q] == 1:
        constants = _tissue_row(params, t0)
        for c in range(chain_start[q], chain_stop[q]):
            _update_voxel(
                c, constants, h_prev, h_prev2, t_prev, k_prev, h_new, t_new, k_new, mu, nu,
                mu_dt, face, stride_j, stride_k,
            )  # fmt: skip
        return
    # The four tissues' constants are loaded once; a per-voxel table lookup would not vectorise.
    p0 = _tissue_row(params, t0)
    p1 = _tissue_row(params, chain_tissue[q, 1])
    p2 = _tissue_row(params, chain_tissue[q, 2])
    p3 = _tissue_row(params, chain_tissue[q, 3])
    for c in range(chain_start[q], chain_stop[q]):
        s = slot[c]
        constants = (
            _pick(s, p0[0], p1[0], p2[0], p3[0]), _pick(s, p0[1], p1[1], p2[1], p3[1]),
            _pick(s, p0[2], p1[2], p2[2], p3[2]), _pick(s, p0[3], p1[3], p2[3], p3[3]),
            _pick(s, p0[4], p1[4], p2[4], p3[4]), _pick(s, p0[5], p1[5], p2[5], p3[5]),
            _pick(s, p0[6], p1[6], p2[6], p3[6]), _pick(s, p0[7], p1[7], p2[7], p3[7]),
            _pick(s, p0[8], p1[8], p2[8], p3[8]), _pick(s, p0[9], p1[9], p2[9], p3[9]),
            _pick(s, p0[10], p1[10], p2[10], p3[10]),
        )  # fmt: skip
        _update_voxel(
            c, constants, h_prev, h_prev2, t_prev, k_prev, h_new, t_new, k_new, mu, nu, mu_dt,
            face, stride_j, stride_k,
        )  # fmt: skip


@nb.njit(parallel=True, **_STAGE_OPTIONS)
def _update_slabs(
    slab_chains: NDArray[np.int64],
    h_prev: NDArray[np.float32],
    h_prev2: NDArray[np.float32],
    t_prev: NDArray[np.float32],
    k_prev: NDArray[np.float32],
    h_new: NDArray[np.float32],
    t_new: NDArray[np.float32],
    k_new: NDArray[np.float32],
    mu: np.float32,
    nu: np.float32,
    mu_dt: np.float32,
    face: NDArray[np.float32],
    stride_j: np.uint64,
    stride_k: np.uint64,
    chain_start: NDArray[np.uint64],
    chain_stop: NDArray[np.uint64],
    chain_tissue: NDArray[np.int64],
    chain_slots: NDArray[np.int64],
    slot: NDArray[np.uint8],
    params: NDArray[np.float32],
) -> None:
    """:func:`_update_chain` on the chains ``slab_chains[s] ..`` of slab ``s``, a thread each."""
    for s in nb.prange(slab_chains.shape[0] - 1):
        for q in range(slab_chains[s], slab_chains[s + 1]):
            _update_chain(
                q, h_prev, h_prev2, t_prev, k_prev, h_new, t_new, k_new, mu, nu, mu_dt, face,
                stride_j, stride_k, chain_start, chain_stop, chain_tissue, chain_slots, slot,
                params,
            )  # fmt: skip


@nb.njit(parallel=True, **_STAGE_OPTIONS)
def _running_min_slabs(
    slab_chains: NDArray[np.int64],
    chain_start: NDArray[np.uint64],
    chain_stop: NDArray[np.uint64],
    t_min: NDArray[np.float32],
    t_end: NDArray[np.float32],
) -> None:
    """:func:`_running_min` over the voxels of each slab's chains, a thread each."""
    for s in nb.prange(slab_chains.shape[0] - 1):
        _running_min(t_min, t_end, chain_start[slab_chains[s]], chain_stop[slab_chains[s + 1] - 1])


@nb.njit(inline="always", **_STAGE_OPTIONS)
def _running_min(
    t_min: NDArray[np.float32], t_end: NDArray[np.float32], start: np.uint64, stop: np.uint64
) -> None:
    """``t_min = min(t_min, t_end)`` on flat voxels ``start .. stop``.

    A pass of its own after the step, not a store in the last stage: there the minimum
    came as a flag of the stage kernel, which the compiler turned into a masked store in
    every stage (slow on AVX2 processors).
    """
    for c in range(start, stop):
        t_min[c] = min(t_min[c], t_end[c])


@nb.njit(**_STAGE_OPTIONS)
def restore_pads(
    h: NDArray[np.float32],
    t: NDArray[np.float32],
    k: NDArray[np.float32],
    pads: NDArray[np.int64],
    pad_h: NDArray[np.float32],
    pad_t: NDArray[np.float32],
    pad_k: NDArray[np.float32],
) -> None:
    """Write the boundary values of the row-end pad voxels back after a stage."""
    for n in range(pads.shape[0]):
        c = pads[n]
        h[c] = pad_h[n]
        t[c] = pad_t[n]
        k[c] = pad_k[n]


@nb.njit(**_STAGE_OPTIONS)
def rkl_step(
    h: NDArray[np.float32],
    t: NDArray[np.float32],
    k: NDArray[np.float32],
    t_min: NDArray[np.float32],
    h_current: int,
    t_current: int,
    coefficients: NDArray[np.float64],
    step_s: float,
    face: NDArray[np.float32],
    stride_j: np.uint64,
    stride_k: np.uint64,
    chain_start: NDArray[np.uint64],
    chain_stop: NDArray[np.uint64],
    chain_tissue: NDArray[np.int64],
    chain_slots: NDArray[np.int64],
    slot: NDArray[np.uint8],
    pads: NDArray[np.int64],
    pad_h: NDArray[np.float32],
    pad_t: NDArray[np.float32],
    pad_k: NDArray[np.float32],
    source_voxels: NDArray[np.int64],
    source_tissue: NDArray[np.int64],
    source_w_m3: NDArray[np.float64],
    params: NDArray[np.float32],
    slab_chains: NDArray[np.int64],
) -> None:
    """One RKL1 time step: all stages, the probe sources and the running minimum.

    ``h`` (3 buffers), ``t`` and ``k`` (2 buffers each) are stacked flat padded
    fields; the state is in ``h[h_current]``, ``t[t_current]``, ``k[t_current]``.
    Stage ``j`` writes enthalpy buffer ``(h_current + j) % 3`` from the two
    before it and temperature/conductivity buffer ``(t_current + j) % 2``, so
    after ``s`` stages the state is in ``(h_current + s) % 3`` and
    ``(t_current + s) % 2``. ``coefficients`` are the ``(mu, nu, mu_tilde)``
    rows of :func:`planning_core.thermal.stability.rkl1_coefficients`. The
    probe sources (W/m³ on ``source_voxels``) are held over the step; the
    minimum temperature is updated from the step's end state. With more than
    one slab in ``slab_chains`` (chain index bounds) the slabs run on threads. The
    chains are those of :func:`build_chains`.
    """
    stages = coefficients.shape[0]
    threaded = slab_chains.shape[0] > 2
    for j in range(1, stages + 1):
        mu = np.float32(coefficients[j - 1, 0])
        nu = np.float32(coefficients[j - 1, 1])
        mu_dt = coefficients[j - 1, 2] * step_s
        h_prev = h[(h_current + j - 1) % 3]
        h_prev2 = h_prev if j == 1 else h[(h_current + j - 2) % 3]
        t_prev = t[(t_current + j - 1) % 2]
        k_prev = k[(t_current + j - 1) % 2]
        h_new = h[(h_current + j) % 3]
        t_new = t[(t_current + j) % 2]
        k_new = k[(t_current + j) % 2]
        if threaded:
            _update_slabs(
                slab_chains, h_prev, h_prev2, t_prev, k_prev, h_new, t_new, k_new, mu, nu,
                np.float32(mu_dt), face, stride_j, stride_k, chain_start, chain_stop,
                chain_tissue, chain_slots, slot, params,
            )  # fmt: skip
        else:
            for q in range(chain_start.shape[0]):
                _update_chain(
                    q, h_prev, h_prev2, t_prev, k_prev, h_new, t_new, k_new, mu, nu,
                    np.float32(mu_dt), face, stride_j, stride_k, chain_start, chain_stop,
                    chain_tissue, chain_slots, slot, params,
                )  # fmt: skip
        restore_pads(h_new, t_new, k_new, pads, pad_h, pad_t, pad_k)
        add_point_sources(
            h_new, t_new, k_new, source_voxels, source_tissue, source_w_m3, mu_dt, params
        )
    # The step's end state, the probe sources' voxels included (pad voxels' minima are
    # never read).
    t_end = t[(t_current + stages) % 2]
    if threaded:
        _running_min_slabs(slab_chains, chain_start, chain_stop, t_min, t_end)
    elif chain_start.shape[0] > 0:
        _running_min(t_min, t_end, chain_start[0], chain_stop[chain_start.shape[0] - 1])


@nb.njit(cache=True)
def add_point_sources(
    h_new: NDArray[np.float32],
    t_new: NDArray[np.float32],
    k_new: NDArray[np.float32],
    voxels: NDArray[np.int64],
    voxel_tissue: NDArray[np.int64],
    power_w_m3: NDArray[np.float64],
    mu_dt: float,
    params: NDArray[np.float32],
) -> None:
    """Add ``mu_dt * power`` to the enthalpy of a few voxels and refresh their state.

    The stage kernel leaves sparse sources (probes) out; adding them afterwards
    is exact because the stage update is linear in the source.
    """
    for n in range(voxels.shape[0]):
        c = voxels[n]
        h = h_new[c] + np.float32(mu_dt * power_w_m3[n])
        h_new[c] = h
        t_new[c], k_new[c] = _state(h, _tissue_row(params, voxel_tissue[n]))


@nb.njit(cache=True)
def weighted_gather(
    field: NDArray[np.float32], indices: NDArray[np.int64], weights: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``sum_j weights[n, j] * field[indices[n, j]]`` for each row n (trilinear sampling)."""
    out = np.empty(indices.shape[0], np.float64)
    # Serial: a few thousand rows cost less than waking a thread pool.
    for n in range(indices.shape[0]):
        total = 0.0
        for j in range(indices.shape[1]):
            total += weights[n, j] * field[indices[n, j]]
        out[n] = total
    return out


@nb.njit(cache=True)
def interior_sum(field: NDArray[np.float32], shape_padded: tuple[int, int, int]) -> float:
    """Sum of a padded flat field over the interior voxels, in float64.

    Serial: called twice per run, and small runs would otherwise start a thread pool.
    """
    nk, nj, ni = shape_padded
    totals = np.zeros(nk, np.float64)
    for k in range(1, nk - 1):
        subtotal = 0.0
        for j in range(1, nj - 1):
            base = (k * nj + j) * ni
            for i in range(1, ni - 1):
                subtotal += field[base + i]
        totals[k] = subtotal
    return totals.sum()
