"""Set-ups of the verification problems and an independent 1-D radial reference solver."""

from __future__ import annotations

import dataclasses
import math

import numba as nb
import numpy as np
from numpy.typing import NDArray

from planning_core.imaging.geometry import Geometry
from planning_core.thermal.analytic import REFERENCE_MEDIUM, SharpFrontMedium
from planning_core.thermal.probes import PlacedProbe, ProbeModel
from planning_core.thermal.result import SimulationResult
from planning_core.thermal.setup import SimulationSetup, box_geometry
from planning_core.thermal.tissues import TissueProperties

#: Width of the phase-change range standing in for the sharp melting point (°C).
MELT_RANGE_C = 0.5
#: Temperature read as the front: the middle of that range.
FRONT_C = -0.5 * MELT_RANGE_C


def reference_tissue(
    medium: SharpFrontMedium = REFERENCE_MEDIUM, *, perfusion_w_m3k: float = 0.0
) -> TissueProperties:
    """The closed-form medium as an enthalpy tissue with a narrow melting range below 0 °C."""
    return TissueProperties(
        key="reference",
        name="verification medium",
        conductivity_unfrozen_w_mk=medium.conductivity_unfrozen_w_mk,
        conductivity_frozen_w_mk=medium.conductivity_frozen_w_mk,
        heat_capacity_unfrozen_j_m3k=medium.heat_capacity_unfrozen_j_m3k,
        heat_capacity_frozen_j_m3k=medium.heat_capacity_frozen_j_m3k,
        latent_heat_j_m3=medium.latent_heat_j_m3,
        solidus_c=medium.melt_c - MELT_RANGE_C,
        liquidus_c=medium.melt_c,
        perfusion_w_m3k=perfusion_w_m3k,
    )


def fixed_wall(conductivity_w_mk: float) -> TissueProperties:
    """An inert region held at its initial temperature (a Dirichlet wall at its voxel centres).

    With the conductivity of the frozen medium next to it, the harmonic-mean face
    conductance equals that conductivity, so the wall sits exactly at the centres.
    """
    return TissueProperties(
        key="wall",
        name="fixed-temperature wall",
        conductivity_unfrozen_w_mk=conductivity_w_mk,
        conductivity_frozen_w_mk=conductivity_w_mk,
        heat_capacity_unfrozen_j_m3k=1.0e6,
        heat_capacity_frozen_j_m3k=1.0e6,
        latent_heat_j_m3=0.0,
        solidus_c=-1.0,
        liquidus_c=0.0,
        inert=True,
    )


def slab_setup(
    spacing_mm: float, *, length_mm: float, wall_c: float, initial_c: float
) -> SimulationSetup:
    """1-D semi-infinite medium along i: voxel 0 is the wall (x = 0), insulated j/k faces."""
    count = round(length_mm / spacing_mm) + 1
    geometry = Geometry((1, 1, count), (spacing_mm,) * 3, (0.0, 0.0, 0.0))
    tissue = reference_tissue()
    index = np.zeros(geometry.shape, dtype=np.uint8)
    index[..., 0] = 1
    initial = np.full(geometry.shape, initial_c, dtype=np.float32)
    initial[..., 0] = wall_c
    return SimulationSetup(
        geometry,
        index,
        (tissue, fixed_wall(tissue.conductivity_frozen_w_mk)),
        body_temperature_c=initial_c,
        initial_temperature_c=initial,
        insulated_faces=frozenset({"i+", "j-", "j+", "k-", "k+"}),
    )


def line_probe_setup(
    spacing_mm: float,
    model: ProbeModel,
    tissue: TissueProperties,
    *,
    half_width_mm: float,
    body_temperature_c: float = 37.0,
) -> SimulationSetup:
    """An infinitely long probe along S: a 5-voxel slab with insulated k faces (2-D problem).

    ``model``'s active length is replaced so that its freezing segment spans the slab.
    """
    depth = 2.5 * spacing_mm
    geometry = box_geometry(
        [-half_width_mm, -half_width_mm, -1.5 * spacing_mm],
        [half_width_mm, half_width_mm, 1.5 * spacing_mm],
        spacing_mm=spacing_mm,
    )
    spanning = dataclasses.replace(model, active_length_mm=1.996 * depth, tip_offset_mm=0.0)
    probe = PlacedProbe(spanning, np.array([0.0, 0.0, -0.998 * depth]), np.array([0.0, 0.0, 100.0]))
    return SimulationSetup(
        geometry,
        np.zeros(geometry.shape, dtype=np.uint8),
        (tissue,),
        (probe,),
        body_temperature_c,
        insulated_faces=frozenset({"k-", "k+"}),
    )


def radial_crossing_mm(
    result: SimulationResult, temperature_c: float, *, which: str = "min", angle_deg: float = 0.0
) -> float:
    """Distance from the S axis at which the field first rises through ``temperature_c``."""
    radii = np.linspace(0.0, 0.5 * float(np.min(result.geometry.extent_mm[:2])), 4001)
    angle = math.radians(angle_deg)
    points = np.stack(
        [radii * math.cos(angle), radii * math.sin(angle), np.zeros_like(radii)], axis=1
    )
    return profile_crossing_mm(radii, result.temperature_at(points, which=which), temperature_c)


def profile_crossing_mm(
    positions_mm: NDArray[np.float64], values_c: NDArray[np.float64], temperature_c: float
) -> float:
    """Linear interpolation of the last position where the profile is below ``temperature_c``."""
    below = np.flatnonzero(values_c <= temperature_c)
    if below.size == 0 or below[-1] + 1 >= len(values_c):
        raise AssertionError(f"the profile does not cross {temperature_c} °C")
    n = int(below[-1])
    fraction = (temperature_c - values_c[n]) / (values_c[n + 1] - values_c[n])
    return float(positions_mm[n] + fraction * (positions_mm[n + 1] - positions_mm[n]))


@nb.njit(cache=True)
def _radial_min_temperature(
    nodes: int,
    dr: float,
    wall_radius: float,
    dt: float,
    steps: int,
    plateau_c: float,
    time_constant_s: float,
    body_c: float,
    properties: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    solidus, liquidus, c_f, c_u, c_m, k_f, k_u, perfusion, arterial, metabolic, h_liq = properties
    centres = wall_radius + (np.arange(nodes) + 0.5) * dr
    faces = wall_radius + np.arange(nodes + 1) * dr
    temperature = np.full(nodes, body_c)
    enthalpy = np.full(nodes, h_liq + (body_c - liquidus) * c_u)
    conductivity = np.full(nodes, k_u)
    minimum = temperature.copy()
    flux = np.zeros(nodes + 1)
    for n in range(steps):
        wall = plateau_c + (body_c - plateau_c) * math.exp(-(n + 0.5) * dt / time_constant_s)
        flux[0] = faces[0] * conductivity[0] * (temperature[0] - wall) / (0.5 * dr)
        for i in range(1, nodes):
            k = (
                2.0
                * conductivity[i]
                * conductivity[i - 1]
                / (conductivity[i] + conductivity[i - 1])
            )
            flux[i] = faces[i] * k * (temperature[i] - temperature[i - 1]) / dr
        flux[nodes] = faces[nodes] * conductivity[-1] * (body_c - temperature[-1]) / (0.5 * dr)
        for i in range(nodes):
            unfrozen = min(max((temperature[i] - solidus) / (liquidus - solidus), 0.0), 1.0)
            source = unfrozen * (perfusion * (arterial - temperature[i]) + metabolic)
            enthalpy[i] += dt * ((flux[i + 1] - flux[i]) / (centres[i] * dr) + source)
            h = enthalpy[i]
            t = solidus + min(h, 0.0) / c_f + min(max(h, 0.0), h_liq) / c_m
            t += max(h - h_liq, 0.0) / c_u
            temperature[i] = t
            fraction = min(max((t - solidus) / (liquidus - solidus), 0.0), 1.0)
            conductivity[i] = k_f + (k_u - k_f) * fraction
            minimum[i] = min(minimum[i], t)
    return centres, minimum


def radial_reference_mm(
    tissue: TissueProperties,
    *,
    wall_radius_mm: float,
    plateau_c: float,
    time_constant_s: float,
    duration_s: float,
    isotherms_c: tuple[float, ...],
    dr_mm: float = 0.2,
    outer_radius_mm: float = 60.0,
    body_temperature_c: float = 37.0,
) -> list[float]:
    """Isotherm radii of the minimum temperature around an infinitely long cylindrical probe.

    An independent explicit 1-D axisymmetric finite-volume solution of the same
    enthalpy model with the wall temperature imposed at the true probe radius
    (no sub-grid model): the reference the 3-D line-probe coupling must approach.
    """
    dr = dr_mm * 1e-3
    alpha = tissue.max_diffusivity_m2_s
    steps = math.ceil(duration_s / (0.2 * dr * dr / alpha))
    properties = np.array(
        [
            tissue.solidus_c,
            tissue.liquidus_c,
            tissue.heat_capacity_frozen_j_m3k,
            tissue.heat_capacity_unfrozen_j_m3k,
            tissue.mushy_heat_capacity_j_m3k,
            tissue.conductivity_frozen_w_mk,
            tissue.conductivity_unfrozen_w_mk,
            tissue.perfusion_w_m3k,
            tissue.arterial_temperature_c(body_temperature_c),
            tissue.metabolic_w_m3,
            tissue.liquidus_enthalpy_j_m3,
        ]
    )
    nodes = int((outer_radius_mm - wall_radius_mm) / dr_mm)
    centres, minimum = _radial_min_temperature(
        nodes,
        dr,
        wall_radius_mm * 1e-3,
        duration_s / steps,
        steps,
        plateau_c,
        time_constant_s,
        body_temperature_c,
        properties,
    )
    return [profile_crossing_mm(centres * 1e3, minimum, t) for t in isotherms_c]
