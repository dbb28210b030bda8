"""A fast iceball preview for dragging probes: cached single-probe templates, combined.

One full simulation per (probe model, protocol, medium, body temperature) gives
the minimum temperature around a single probe in a homogeneous medium as an
axisymmetric table ``ΔT(z, r)`` (``z`` along the probe from the middle of its
freezing segment, ``r`` from its axis). A preview places each probe's table
along its axis and combines overlapping probes by two rules:

* the cold core by a p-norm of the temperature drops ``d_i = T_body − T_i``,
  ``d = (Σ d_i^p)^(1/p)``. ``p = 1`` would add the drops (superposition of a
  linear problem: far too cold where two ice balls' latent heat must be removed),
  ``p = ∞`` would take the coldest probe (no synergy);
* the ice edge by adding the heat each probe removed, ``H = H_body − Σ (H_body − H(T_i))``
  with the medium's enthalpy ``H(T)``: before tissue freezes, conduction is
  linear and heat removals superpose.

The two are blended by the p-norm temperature ``T_p``: the enthalpy rule where
``T_p ≥ 0 °C``, the p-norm where ``T_p ≤`` :data:`CORE_C`, linearly between.
:data:`COMBINATION_EXPONENT` and the blend were chosen against the full solver
on two- and three-probe layouts (tests/thermal/test_preview.py gives the numbers).
Heterogeneous tissue, vessels and per-probe protocols are ignored: the preview
answers "where is the ice" while a probe moves; the full solver gives the
numbers that are reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.thermal.probes import PlacedProbe, ProbeModel
from planning_core.thermal.protocol import Protocol
from planning_core.thermal.result import SimulationResult
from planning_core.thermal.setup import box_around_probes, build_setup
from planning_core.thermal.solver import simulate
from planning_core.thermal.tissues import load_tissue_library

#: Exponent of the p-norm that combines the probes' temperature drops (see module doc).
COMBINATION_EXPONENT = 1.5
#: At and below this p-norm temperature the cold-core rule alone applies.
CORE_C = -20.0
#: Grid of the template simulation (isotherms within 0.6 mm of a 1 mm grid; about a
#: second per template) and step of its (r, z) table.
TEMPLATE_SPACING_MM = 2.0
TABLE_STEP_MM = 0.5
#: Radial and axial reach of a template beyond the freezing segment (mm). The drop
#: there is a few °C (3.5 °C for argon-2.4 under 10-8-10): even five overlapping
#: probes stay far above 0 °C at the cut.
TEMPLATE_REACH_MM = 35.0
#: Margin of a preview grid built around the probes.
PREVIEW_MARGIN_MM = 20.0


@dataclass(frozen=True, eq=False)
class ProbeTemplate:
    """Minimum-temperature drop around one probe: ``drop_c[z, r]`` (°C, ≥ 0).

    ``z`` runs from ``z0_mm`` in steps of ``step_mm`` along the probe (tip to
    entry) from the middle of the freezing segment; ``r`` from 0.
    """

    drop_c: NDArray[np.float32]
    z0_mm: float
    step_mm: float

    @property
    def reach_mm(self) -> float:
        return (self.drop_c.shape[1] - 1) * self.step_mm

    def sample(self, z_mm: NDArray[np.float64], r_mm: NDArray[np.float64]) -> NDArray[np.float64]:
        """Bilinear drop at axial / radial positions; zero outside the table."""
        rows = (z_mm - self.z0_mm) / self.step_mm
        columns = r_mm / self.step_mm
        coordinates = np.stack(np.broadcast_arrays(rows, columns)).reshape(2, -1)
        values = ndimage.map_coordinates(self.drop_c, coordinates, order=1, cval=0.0)
        return values.reshape(np.broadcast_shapes(rows.shape, columns.shape))


@lru_cache(maxsize=32)
def probe_template(
    model: ProbeModel, protocol: Protocol, medium: str, body_temperature_c: float
) -> ProbeTemplate:
    """The template of ``model`` under ``protocol`` (one full simulation, then cached)."""
    tip = np.array([0.0, 0.0, -(model.tip_offset_mm + 0.5 * model.active_length_mm)])
    probe = PlacedProbe(model, tip, tip + np.array([0.0, 0.0, 500.0]))
    setup = build_setup(
        [probe],
        medium=medium,
        spacing_mm=TEMPLATE_SPACING_MM,
        margin_mm=TEMPLATE_REACH_MM + 5.0,
        body_temperature_c=body_temperature_c,
    )
    result = simulate(setup, protocol, isotherms_c=())
    half_length = 0.5 * model.active_length_mm + TEMPLATE_REACH_MM
    z = np.arange(-half_length, half_length + TABLE_STEP_MM / 2, TABLE_STEP_MM)
    r = np.arange(0.0, TEMPLATE_REACH_MM + TABLE_STEP_MM / 2, TABLE_STEP_MM)
    zz, rr = np.meshgrid(z, r, indexing="ij")
    # Mean of four azimuths smooths the grid's staircase around the axis.
    samples = []
    for angle in (0.0, 0.5 * math.pi, math.pi, 1.5 * math.pi):
        points = np.stack(
            [rr.ravel() * math.cos(angle), rr.ravel() * math.sin(angle), zz.ravel()], axis=1
        )
        samples.append(result.temperature_at(points))
    minimum = np.mean(samples, axis=0).reshape(zz.shape)
    drop = np.maximum(body_temperature_c - minimum, 0.0).astype(np.float32)
    return ProbeTemplate(drop, float(z[0]), TABLE_STEP_MM)


def preview_min_field(
    probes: Sequence[PlacedProbe],
    protocol: Protocol,
    *,
    grid: Geometry | None = None,
    spacing_mm: float = 2.0,
    medium: str = "soft_tissue",
    body_temperature_c: float = 37.0,
    combination_exponent: float = COMBINATION_EXPONENT,
) -> SimulationResult:
    """Approximate minimum-temperature field of ``probes`` (milliseconds once templates exist).

    Parameters
    ----------
    probes : sequence of PlacedProbe
    protocol : Protocol
        Applied to every probe (per-probe phases are ignored; per-probe powers
        are not: each probe's template runs at its own duty cycle).
    grid : Geometry, optional
        Identity-direction grid of the preview; by default a box around the
        probes with ``spacing_mm`` voxels.
    spacing_mm : float
        Voxel size of the default grid.
    medium : str
        Homogeneous tissue class of the templates.
    body_temperature_c : float
    combination_exponent : float
        ``p`` of the p-norm combining overlapping probes (≥ 1).

    Returns
    -------
    SimulationResult
        ``min_temperature_c`` is the preview; ``final_temperature_c`` repeats it
        (a preview has no time course) and the diagnostics are zero.
    """
    if not probes:
        raise InvalidParameterError("a preview needs at least one probe.")
    if not combination_exponent >= 1.0:
        raise InvalidParameterError(
            f"combination_exponent must be at least 1, got {combination_exponent!r}."
        )
    if grid is None:
        grid = box_around_probes(probes, spacing_mm=spacing_mm, margin_mm=PREVIEW_MARGIN_MM)
    elif not np.allclose(grid.direction, np.eye(3)):
        raise InvalidParameterError("grid must have the identity direction (axis-aligned in LPS).")
    tissue = load_tissue_library().get(medium)
    body_enthalpy = float(tissue.enthalpy_j_m3(body_temperature_c))
    drops = np.zeros(grid.shape, dtype=np.float64)
    removed = np.zeros(grid.shape, dtype=np.float64)
    for number, probe in enumerate(probes):
        if not protocol.freezes_probe(number):
            continue
        template = probe_template(
            probe.model, protocol.for_probe(number), medium, float(body_temperature_c)
        )
        block = _block_around(grid, probe, template.reach_mm)
        if block is None:
            continue
        z, r = _axial_radial_mm(grid, block, probe)
        drop = template.sample(z, r)
        drops[block] += drop**combination_exponent
        removed[block] += body_enthalpy - tissue.enthalpy_j_m3(body_temperature_c - drop)
    core = body_temperature_c - drops ** (1.0 / combination_exponent)
    edge = tissue.temperature_c(body_enthalpy - removed)
    weight = np.clip(core / CORE_C, 0.0, 1.0)
    minimum = (weight * core + (1.0 - weight) * np.minimum(edge, core)).astype(np.float32)
    return SimulationResult(
        geometry=grid,
        protocol=protocol,
        probes=tuple(probes),
        min_temperature_c=minimum,
        final_temperature_c=minimum,
        snapshots_c={},
        point_times_s=np.zeros(0),
        point_temperatures_c=np.zeros((0, 0)),
        isotherms_c=(0.0, -20.0, -40.0),
        probe_power_times_s=np.zeros(0),
        probe_power_w=np.zeros((0, len(probes))),
        probe_energy_j=np.zeros(len(probes)),
        enthalpy_change_j=0.0,
        boundary_drift_c=0.0,
        body_temperature_c=float(body_temperature_c),
        steps=0,
        stages=0,
        voxel_updates=0,
        wall_s=0.0,
        warnings=("preview: template superposition, not a full simulation",),
    )


def _block_around(grid: Geometry, probe: PlacedProbe, reach_mm: float) -> tuple[slice, ...] | None:
    """``[k, j, i]`` slices of the grid within ``reach_mm`` of the freezing segment's box."""
    ends = np.array([probe.active_start_lps_mm, probe.active_end_lps_mm])
    low = grid.lps_to_index((ends.min(axis=0) - reach_mm)[None])[0]
    high = grid.lps_to_index((ends.max(axis=0) + reach_mm)[None])[0]
    size = np.asarray(grid.size_ijk)
    start = np.clip(np.floor(np.minimum(low, high)).astype(int), 0, size)
    stop = np.clip(np.ceil(np.maximum(low, high)).astype(int) + 1, 0, size)
    if np.any(stop <= start):
        return None
    return tuple(slice(int(start[a]), int(stop[a])) for a in (2, 1, 0))


def _axial_radial_mm(
    grid: Geometry, block: tuple[slice, ...], probe: PlacedProbe
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Axial and radial coordinates (mm) of a block's voxel centres relative to a probe.

    The grid is axis-aligned, so the coordinates are sums of per-axis terms (broadcast).
    """
    axis = probe.axis_unit
    centre = probe.active_center_lps_mm
    along = [
        grid.origin_lps_mm[a]
        + np.arange(block[2 - a].start, block[2 - a].stop) * grid.spacing_mm[a]
        - centre[a]
        for a in range(3)
    ]
    x, y, w = along[0][None, None, :], along[1][None, :, None], along[2][:, None, None]
    z = x * axis[0] + y * axis[1] + w * axis[2]
    r = np.sqrt(np.maximum(x * x + y * y + w * w - z * z, 0.0))
    return z, r
