"""Numba kernels of the enthalpy bioheat solver.

Fields are flat float32 arrays of the padded grid ``(nk + 2, nj + 2, ni + 2)``;
the one-voxel pad holds the boundary condition and is never written. Voxels are
visited as runs of equal tissue along i, so the per-tissue constants are loop
invariants and the inner loop vectorises. Indices are unsigned because numba
then skips its negative-index wraparound test, which otherwise blocks
vectorisation.

Tissue constants are rows of a float32 table (see :data:`PARAMETER_COLUMNS`);
enthalpy is zero at the solidus.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba import prange
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
) -> tuple[
    NDArray[np.uint64], NDArray[np.int64], NDArray[np.uint64], NDArray[np.uint64], NDArray[np.int64]
]:
    """Runs of equal, non-inert tissue along i for every interior (k, j) row.

    Returns
    -------
    row_base : flat index of voxel (k, j, 0) of each interior row
    row_ptr : runs of row r are ``row_ptr[r]:row_ptr[r + 1]``
    run_lo, run_hi : i range of each run (padded indices, half open)
    run_tissue : tissue index of each run
    """
    nk, nj, ni = tissue_padded.shape
    rows = (nk - 2) * (nj - 2)
    row_base = np.empty(rows, np.uint64)
    row_ptr = np.zeros(rows + 1, np.int64)
    capacity = rows * 2 + 16
    run_lo = np.empty(capacity, np.uint64)
    run_hi = np.empty(capacity, np.uint64)
    run_tissue = np.empty(capacity, np.int64)
    count = 0
    row = 0
    for k in range(1, nk - 1):
        for j in range(1, nj - 1):
            row_base[row] = np.uint64((k * nj + j) * ni)
            i = 1
            while i < ni - 1:
                t = tissue_padded[k, j, i]
                start = i
                while i < ni - 1 and tissue_padded[k, j, i] == t:
                    i += 1
                if not inert[t]:
                    if count == capacity:
                        capacity *= 2
                        run_lo = _grow_u64(run_lo, capacity)
                        run_hi = _grow_u64(run_hi, capacity)
                        run_tissue = _grow_i64(run_tissue, capacity)
                    run_lo[count] = np.uint64(start)
                    run_hi[count] = np.uint64(i)
                    run_tissue[count] = np.int64(t)
                    count += 1
            row += 1
            row_ptr[row] = count
    return (
        row_base,
        row_ptr,
        run_lo[:count].copy(),
        run_hi[:count].copy(),
        run_tissue[:count].copy(),
    )


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


def _rkl_stage(
    h_prev: NDArray[np.float32],
    h_prev2: NDArray[np.float32],
    t_prev: NDArray[np.float32],
    k_prev: NDArray[np.float32],
    h_new: NDArray[np.float32],
    t_new: NDArray[np.float32],
    k_new: NDArray[np.float32],
    t_min: NDArray[np.float32],
    mu: np.float32,
    nu: np.float32,
    mu_dt: np.float32,
    face_i: np.float32,
    face_j: np.float32,
    face_k: np.float32,
    stride_j: np.uint64,
    stride_k: np.uint64,
    row_base: NDArray[np.uint64],
    row_ptr: NDArray[np.int64],
    run_lo: NDArray[np.uint64],
    run_hi: NDArray[np.uint64],
    run_tissue: NDArray[np.int64],
    params: NDArray[np.float32],
    track_min: bool,
) -> None:
    """One Runge-Kutta-Legendre stage: ``H_new = mu H_prev + nu H_prev2 + mu_dt L(H_prev)``.

    ``L`` is the conductive divergence (harmonic-mean face conductivities, so
    zero-conductivity voxels insulate) plus perfusion and metabolic heat scaled
    by the unfrozen fraction. ``face_*`` are ``2 / h²`` per axis (the 2 belongs
    to the harmonic mean). The new temperature and conductivity follow from
    the new enthalpy; with ``track_min`` the running minimum is updated.
    """
    one = np.uint64(1)
    for r in prange(row_base.shape[0]):
        base = row_base[r]
        for q in range(row_ptr[r], row_ptr[r + 1]):
            t = run_tissue[q]
            solidus = params[t, 0]
            inv_range = params[t, 1]
            inv_cf = params[t, 2]
            inv_cm = params[t, 3]
            inv_cu = params[t, 4]
            h_liq = params[t, 5]
            k_frozen = params[t, 6]
            k_step = params[t, 7]
            perfusion = params[t, 8]
            arterial = params[t, 9]
            metabolic = params[t, 10]
            for c in range(base + run_lo[q], base + run_hi[q]):
                tc = t_prev[c]
                kc = k_prev[c]
                a = c - one
                b = c + one
                d = c - stride_j
                e = c + stride_j
                g = c - stride_k
                f = c + stride_k
                flux = (
                    face_i
                    * (
                        k_prev[a] * kc / (k_prev[a] + kc) * (t_prev[a] - tc)
                        + k_prev[b] * kc / (k_prev[b] + kc) * (t_prev[b] - tc)
                    )
                    + face_j
                    * (
                        k_prev[d] * kc / (k_prev[d] + kc) * (t_prev[d] - tc)
                        + k_prev[e] * kc / (k_prev[e] + kc) * (t_prev[e] - tc)
                    )
                    + face_k
                    * (
                        k_prev[g] * kc / (k_prev[g] + kc) * (t_prev[g] - tc)
                        + k_prev[f] * kc / (k_prev[f] + kc) * (t_prev[f] - tc)
                    )
                )
                unfrozen = min(max((tc - solidus) * inv_range, _ZERO), _ONE)
                source = unfrozen * (perfusion * (arterial - tc) + metabolic)
                h = mu * h_prev[c] + nu * h_prev2[c] + mu_dt * (flux + source)
                h_new[c] = h
                temperature = (
                    solidus
                    + min(h, _ZERO) * inv_cf
                    + min(max(h, _ZERO), h_liq) * inv_cm
                    + max(h - h_liq, _ZERO) * inv_cu
                )
                t_new[c] = temperature
                k_new[c] = k_frozen + k_step * min(
                    max((temperature - solidus) * inv_range, _ZERO), _ONE
                )
                if track_min:
                    t_min[c] = min(t_min[c], temperature)


_STAGE_OPTIONS = {
    "fastmath": True,
    "boundscheck": False,
    "cache": True,
    # Python semantics would test every division for zero, which blocks vectorisation.
    "error_model": "numpy",
}
#: The stage kernel on all cores, and on one core for small grids, where waking
#: threads costs more than it saves (and hurts when other work holds the cores).
rkl_stage_parallel = nb.njit(parallel=True, **_STAGE_OPTIONS)(_rkl_stage)
rkl_stage_serial = nb.njit(parallel=False, **_STAGE_OPTIONS)(_rkl_stage)
#: Grids with fewer voxels than this use :data:`rkl_stage_serial`.
PARALLEL_MIN_VOXELS = 200_000


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
        t = voxel_tissue[n]
        h = h_new[c] + np.float32(mu_dt * power_w_m3[n])
        h_new[c] = h
        solidus = params[t, 0]
        h_liq = params[t, 5]
        temperature = (
            solidus
            + min(h, _ZERO) * params[t, 2]
            + min(max(h, _ZERO), h_liq) * params[t, 3]
            + max(h - h_liq, _ZERO) * params[t, 4]
        )
        t_new[c] = temperature
        fraction = min(max((temperature - solidus) * params[t, 1], _ZERO), _ONE)
        k_new[c] = params[t, 6] + params[t, 7] * fraction


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
