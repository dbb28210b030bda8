"""Sub-grid coupling of thin probes to the grid: a quasi-steady radial model.

A 1-2.4 mm probe is smaller than a 1-2 mm voxel, so its wall cannot be a set
of fixed-temperature voxels without a grid-dependent iceball. Instead each
freezing segment is sampled at points ``ds`` apart; every point exchanges heat
``q`` (W per metre of probe) with the grid through a line source spread to its
eight surrounding voxels (trilinear weights). ``q`` follows from the grid
temperature ``T_ring`` sampled on a ring of radius ``r_s`` (a few voxels, so
the line source's own discretisation does not affect it) and the steady radial
conduction between the probe wall ``r_w`` and that ring::

    q = 2π (Φ(T_ring) − Φ(T_wall)) / ln(r_s / r_w)

where ``Φ = ∫ k dT`` is the Kirchhoff potential of the tissue at the point,
exact for steady conduction with temperature-dependent conductivity. The far
field of a line source depends only on ``q``, so the iceball outside ``r_s``
no longer depends on the grid; inside ``r_s`` the grid temperature is a
sub-grid representation and may lie below the wall temperature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from planning_core.errors import SolverError
from planning_core.imaging.geometry import Geometry
from planning_core.thermal.kernels import weighted_gather
from planning_core.thermal.setup import SimulationSetup

#: Sample points per voxel along a freezing segment.
SAMPLES_PER_VOXEL = 2
#: Points on each sampling ring.
RING_POINTS = 8
#: Ring radius in voxels (at least) and in probe radii (at least).
RING_RADIUS_VOXELS = 2.5
RING_RADIUS_PROBE_RADII = 2.0
#: Ring radius in mm (at least). The extraction is held over a time step, so the
#: ring must respond more slowly than a step lasts: its diffusion time
#: ``r_s² / α_frozen`` (about 20 s at 5 mm) must exceed the 10-s default step, or
#: the coupling undershoots (0.5 mm grids froze 2 mm too little with a 2.4 mm ring).
RING_RADIUS_MIN_MM = 5.0


def trilinear_stencil(
    geometry: Geometry, points_lps_mm: NDArray[np.float64], *, clamp: bool
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_]]:
    """Eight flat indices into the padded field and trilinear weights per point.

    Parameters
    ----------
    geometry : Geometry
        The (unpadded) simulation grid; the field is padded by one voxel.
    points_lps_mm : ndarray, shape (n, 3)
    clamp : bool
        Clamp points to the grid's voxel centres (weights stay inside it).

    Returns
    -------
    indices, weights : ndarrays of shape (n, 8)
    inside : boolean array, shape (n,)
        Whether each point lies within the grid's extent (half a voxel beyond
        the outer voxel centres).
    """
    ijk = geometry.lps_to_index(np.asarray(points_lps_mm, dtype=np.float64).reshape(-1, 3))
    size = np.asarray(geometry.size_ijk, dtype=np.float64)
    inside = np.all((ijk >= -0.5) & (ijk <= size - 0.5), axis=1)
    if clamp:
        ijk = np.clip(ijk, 0.0, size - 1.0)
    elif not np.all((ijk >= 0.0) & (ijk <= size - 1.0)):
        raise SolverError(
            "a sampling point lies outside the simulation grid; move it inside the box "
            "or enlarge margin_mm."
        )
    base = np.minimum(np.floor(ijk), np.maximum(size - 2.0, 0.0)).astype(np.int64)
    frac = ijk - base
    upper = np.minimum(base + 1, (size - 1).astype(np.int64))
    padded_i, padded_j = geometry.size_ijk[0] + 2, geometry.size_ijk[1] + 2
    indices = np.empty((len(ijk), 8), dtype=np.int64)
    weights = np.empty((len(ijk), 8), dtype=np.float64)
    corner = 0
    for dk in (0, 1):
        kk = (upper if dk else base)[:, 2] + 1
        wk = frac[:, 2] if dk else 1.0 - frac[:, 2]
        for dj in (0, 1):
            jj = (upper if dj else base)[:, 1] + 1
            wj = frac[:, 1] if dj else 1.0 - frac[:, 1]
            for di in (0, 1):
                ii = (upper if di else base)[:, 0] + 1
                wi = frac[:, 0] if di else 1.0 - frac[:, 0]
                indices[:, corner] = (kk * padded_j + jj) * padded_i + ii
                weights[:, corner] = wk * wj * wi
                corner += 1
    return indices, weights, inside


def _perpendicular_basis(axis: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    helper = np.eye(3)[int(np.argmin(np.abs(axis)))]
    first = np.cross(axis, helper)
    first /= np.linalg.norm(first)
    return first, np.cross(axis, first)


@dataclass(frozen=True, eq=False)
class ProbeCoupling:
    """Precomputed sampling and deposition stencils of all probes of a set-up.

    Attributes
    ----------
    sample_probe : ndarray of int
        Probe index of each sample point.
    sample_length_m : ndarray
        Length of probe each sample point stands for.
    ring_indices, ring_weights : ndarrays
        Gather stencil giving the mean ring temperature of each sample point.
    log_ratio : ndarray
        ``ln(r_s / r_w)`` per sample point.
    sample_tissue : ndarray of int
        Tissue index (into ``setup.tissues``) at each sample point.
    deposit : scipy.sparse.csr_matrix
        Maps per-sample power (W) to power density (W/m³) of ``voxels``.
    voxels : ndarray of int
        Flat padded indices of the voxels that receive probe heat.
    voxel_tissue : ndarray of int
        Their tissue indices.
    """

    sample_probe: NDArray[np.int64]
    sample_length_m: NDArray[np.float64]
    ring_indices: NDArray[np.int64]
    ring_weights: NDArray[np.float64]
    log_ratio: NDArray[np.float64]
    sample_tissue: NDArray[np.int64]
    deposit: sparse.csr_matrix
    voxels: NDArray[np.int64]
    voxel_tissue: NDArray[np.int64]
    ring_radius_mm: tuple[float, ...]

    @classmethod
    def build(cls, setup: SimulationSetup) -> ProbeCoupling:
        """Sample every probe's freezing segment on ``setup``'s grid."""
        geometry = setup.geometry
        spacing = float(np.max(geometry.spacing_mm))
        inert = np.array([t.inert for t in setup.tissues])
        tissue_flat = np.pad(setup.tissue_index, 1, mode="edge").ravel()
        parts: dict[str, list[NDArray]] = {
            k: []
            for k in ("probe", "length", "ring_i", "ring_w", "log", "tissue", "dep_i", "dep_w")
        }
        ring_radii = []
        angles = 2.0 * math.pi * np.arange(RING_POINTS) / RING_POINTS
        for number, probe in enumerate(setup.probes):
            model = probe.model
            count = max(4, math.ceil(model.active_length_mm * SAMPLES_PER_VOXEL / spacing))
            fractions = (np.arange(count) + 0.5) / count
            axis = probe.axis_unit
            points = probe.active_start_lps_mm + np.outer(fractions * model.active_length_mm, axis)
            dep_i, dep_w, inside = trilinear_stencil(geometry, points, clamp=True)
            if not np.all(inside):
                raise SolverError(
                    f"probe {number + 1} ({model.id}): part of its freezing segment lies outside "
                    "the simulation grid; enlarge the box (margin_mm) or check tip/entry."
                )
            dep_w = np.where(inert[tissue_flat[dep_i]], 0.0, dep_w)
            totals = dep_w.sum(axis=1)
            if np.any(totals == 0):
                raise SolverError(
                    f"probe {number + 1} ({model.id}): its freezing segment lies in air or "
                    "another inert region; it cannot exchange heat there. Check its position."
                )
            dep_w /= totals[:, None]
            radius_mm = max(
                RING_RADIUS_VOXELS * spacing,
                RING_RADIUS_PROBE_RADII * model.diameter_mm / 2,
                RING_RADIUS_MIN_MM,
            )
            ring_radii.append(radius_mm)
            first, second = _perpendicular_basis(axis)
            offsets = radius_mm * (
                np.outer(np.cos(angles), first) + np.outer(np.sin(angles), second)
            )
            ring_points = (points[:, None, :] + offsets[None, :, :]).reshape(-1, 3)
            ring_i, ring_w, _ = trilinear_stencil(geometry, ring_points, clamp=True)
            parts["probe"].append(np.full(count, number, dtype=np.int64))
            parts["length"].append(np.full(count, model.active_length_mm * 1e-3 / count))
            parts["ring_i"].append(ring_i.reshape(count, 8 * RING_POINTS))
            parts["ring_w"].append(ring_w.reshape(count, 8 * RING_POINTS) / RING_POINTS)
            parts["log"].append(np.full(count, math.log(radius_mm / (model.diameter_mm / 2))))
            nearest = dep_i[np.arange(count), np.argmax(dep_w, axis=1)]
            parts["tissue"].append(tissue_flat[nearest].astype(np.int64))
            parts["dep_i"].append(dep_i)
            parts["dep_w"].append(dep_w)
        if not setup.probes:
            empty_i = np.zeros((0, 8 * RING_POINTS), dtype=np.int64)
            return cls(
                np.zeros(0, np.int64), np.zeros(0), empty_i, np.zeros(empty_i.shape), np.zeros(0),
                np.zeros(0, np.int64), sparse.csr_matrix((0, 0)), np.zeros(0, np.int64),
                np.zeros(0, np.int64), (),
            )  # fmt: skip
        dep_i = np.concatenate(parts["dep_i"])
        dep_w = np.concatenate(parts["dep_w"])
        voxels, inverse = np.unique(dep_i.ravel(), return_inverse=True)
        samples = np.repeat(np.arange(len(dep_i)), 8)
        voxel_volume_m3 = geometry.voxel_volume_mm3 * 1e-9
        deposit = sparse.csr_matrix(
            (dep_w.ravel() / voxel_volume_m3, (inverse.ravel(), samples)),
            shape=(len(voxels), len(dep_i)),
        )
        deposit.eliminate_zeros()
        receiving = np.diff(deposit.indptr) > 0
        deposit, voxels = deposit[receiving], voxels[receiving]
        return cls(
            sample_probe=np.concatenate(parts["probe"]),
            sample_length_m=np.concatenate(parts["length"]),
            ring_indices=np.concatenate(parts["ring_i"]),
            ring_weights=np.concatenate(parts["ring_w"]),
            log_ratio=np.concatenate(parts["log"]),
            sample_tissue=np.concatenate(parts["tissue"]),
            deposit=deposit,
            voxels=voxels.astype(np.int64),
            voxel_tissue=tissue_flat[voxels].astype(np.int64),
            ring_radius_mm=tuple(ring_radii),
        )

    def ring_temperatures_c(self, temperature_flat: NDArray[np.float32]) -> NDArray[np.float64]:
        """Mean grid temperature on each sample point's ring."""
        return weighted_gather(temperature_flat, self.ring_indices, self.ring_weights)

    def extraction_w_m(
        self,
        setup: SimulationSetup,
        temperature_flat: NDArray[np.float32],
        wall_c: NDArray[np.float64],
        fixed_w_m: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """Heat each sample point removes from the tissue, W per metre (negative: heating).

        Parameters
        ----------
        wall_c : ndarray, one per probe
            Wall temperature of probes under a wall-temperature condition; NaN
            for probes that are off or extract a fixed power.
        fixed_w_m : ndarray, one per probe
            Fixed extraction (W/m) of heat-extraction probes; 0 for the others.
        """
        q = fixed_w_m[self.sample_probe].astype(np.float64)
        wall = wall_c[self.sample_probe]
        driven = np.isfinite(wall)
        if np.any(driven):
            ring = self.ring_temperatures_c(temperature_flat)
            potential_gap = np.zeros(len(q))
            for index in np.unique(self.sample_tissue[driven]):
                tissue = setup.tissues[int(index)]
                pick = driven & (self.sample_tissue == index)
                potential_gap[pick] = tissue.kirchhoff_w_m(ring[pick]) - tissue.kirchhoff_w_m(
                    wall[pick]
                )
            q = np.where(driven, 2.0 * math.pi * potential_gap / self.log_ratio, q)
        return q

    def power_density_w_m3(self, extraction_w_m: NDArray[np.float64]) -> NDArray[np.float64]:
        """Source density of the receiving voxels (negative where heat is extracted)."""
        return -(self.deposit @ (extraction_w_m * self.sample_length_m))
