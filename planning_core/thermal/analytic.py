"""Closed-form freezing solutions used to verify the solver.

All three assume a sharp phase change at ``melt_c`` and piecewise-constant
properties (frozen / unfrozen):

* Neumann: 1-D semi-infinite medium, wall held at ``wall_c`` from t = 0.
* Paterson (1952; Carslaw & Jaeger §11.2): line sink of ``Q`` W/m in an
  infinite medium.
* Steady perfused sphere: spherical probe of radius ``r_p`` at ``T_p`` in a
  Pennes-perfused medium; the largest iceball such a probe can make.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

from planning_core.errors import InvalidParameterError


@dataclass(frozen=True)
class SharpFrontMedium:
    """Two-phase medium with a sharp melting point (SI units, °C)."""

    conductivity_frozen_w_mk: float = 2.0
    conductivity_unfrozen_w_mk: float = 0.5
    heat_capacity_frozen_j_m3k: float = 1.8e6
    heat_capacity_unfrozen_j_m3k: float = 3.6e6
    latent_heat_j_m3: float = 3.0e8
    melt_c: float = 0.0

    @property
    def diffusivity_frozen_m2_s(self) -> float:
        return self.conductivity_frozen_w_mk / self.heat_capacity_frozen_j_m3k

    @property
    def diffusivity_unfrozen_m2_s(self) -> float:
        return self.conductivity_unfrozen_w_mk / self.heat_capacity_unfrozen_j_m3k


#: The verification property set of the thermal reference (section 2).
REFERENCE_MEDIUM = SharpFrontMedium()


@dataclass(frozen=True)
class NeumannSolution:
    """Neumann's two-phase solution; ``x`` is the distance from the wall."""

    medium: SharpFrontMedium
    wall_c: float
    initial_c: float
    lam: float

    def front_mm(self, time_s: float) -> float:
        """Position of the freezing front (``melt_c``) at ``time_s``."""
        return 2.0 * self.lam * math.sqrt(self.medium.diffusivity_frozen_m2_s * time_s) * 1e3

    def temperature_c(self, x_mm: ArrayLike, time_s: float) -> NDArray[np.float64]:
        """Temperature at distances ``x_mm`` from the wall."""
        m = self.medium
        x = np.asarray(x_mm, dtype=np.float64) * 1e-3
        nu = math.sqrt(m.diffusivity_frozen_m2_s / m.diffusivity_unfrozen_m2_s)
        frozen = self.wall_c + (m.melt_c - self.wall_c) * special.erf(
            x / (2.0 * math.sqrt(m.diffusivity_frozen_m2_s * time_s))
        ) / special.erf(self.lam)
        unfrozen = self.initial_c - (self.initial_c - m.melt_c) * special.erfc(
            x / (2.0 * math.sqrt(m.diffusivity_unfrozen_m2_s * time_s))
        ) / special.erfc(self.lam * nu)
        return np.where(x * 1e3 <= self.front_mm(time_s), frozen, unfrozen)

    def isotherm_mm(self, temperature_c: float, time_s: float) -> float:
        """Distance from the wall of a frozen-side isotherm (``wall_c < T <= melt_c``)."""
        m = self.medium
        if not self.wall_c < temperature_c <= m.melt_c:
            raise InvalidParameterError(
                f"isotherm {temperature_c} °C is not between the wall and melting temperatures."
            )
        fraction = (temperature_c - self.wall_c) / (m.melt_c - self.wall_c)
        argument = special.erfinv(fraction * special.erf(self.lam))
        return 2.0 * argument * math.sqrt(m.diffusivity_frozen_m2_s * time_s) * 1e3


def neumann_solution(
    *, wall_c: float, initial_c: float, medium: SharpFrontMedium = REFERENCE_MEDIUM
) -> NeumannSolution:
    """Solve the transcendental equation of the two-phase Neumann problem."""
    m = medium
    if not wall_c < m.melt_c < initial_c:
        raise InvalidParameterError("Neumann needs wall_c < melt_c < initial_c.")
    nu = math.sqrt(m.diffusivity_frozen_m2_s / m.diffusivity_unfrozen_m2_s)
    ratio = (m.conductivity_unfrozen_w_mk / m.conductivity_frozen_w_mk) * nu
    drive = (initial_c - m.melt_c) / (m.melt_c - wall_c)
    stefan = m.latent_heat_j_m3 / (m.heat_capacity_frozen_j_m3k * (m.melt_c - wall_c))

    def residual(lam: float) -> float:
        frozen = math.exp(-(lam**2)) / special.erf(lam)
        unfrozen = ratio * drive * math.exp(-(lam**2) * nu**2) / special.erfc(lam * nu)
        return frozen - unfrozen - lam * math.sqrt(math.pi) * stefan

    return NeumannSolution(m, wall_c, initial_c, optimize.brentq(residual, 1e-6, 5.0, xtol=1e-12))


@dataclass(frozen=True)
class PatersonSolution:
    """Line sink of ``power_w_m`` in an infinite medium initially at ``initial_c``."""

    medium: SharpFrontMedium
    power_w_m: float
    initial_c: float
    lam: float

    def front_mm(self, time_s: float) -> float:
        return 2.0 * self.lam * math.sqrt(self.medium.diffusivity_frozen_m2_s * time_s) * 1e3


def paterson_solution(
    *, power_w_m: float, initial_c: float, medium: SharpFrontMedium = REFERENCE_MEDIUM
) -> PatersonSolution:
    """Solve Paterson's equation for the front constant λ (``R = 2 λ sqrt(α_f t)``)."""
    m = medium
    if not (power_w_m > 0 and initial_c > m.melt_c):
        raise InvalidParameterError("Paterson needs power_w_m > 0 and initial_c > melt_c.")
    ratio = m.diffusivity_frozen_m2_s / m.diffusivity_unfrozen_m2_s

    def residual(lam: float) -> float:
        sink = power_w_m / (4.0 * math.pi) * math.exp(-(lam**2))
        argument = lam**2 * ratio
        inflow = (
            m.conductivity_unfrozen_w_mk
            * (initial_c - m.melt_c)
            * math.exp(-argument)
            / special.exp1(argument)
        )
        return sink - inflow - lam**2 * m.diffusivity_frozen_m2_s * m.latent_heat_j_m3

    lam = optimize.brentq(residual, 1e-6, 5.0, xtol=1e-12)
    return PatersonSolution(m, power_w_m, initial_c, lam)


def perfused_sphere_front_mm(
    *,
    probe_radius_mm: float,
    probe_c: float,
    arterial_c: float,
    perfusion_w_m3k: float,
    medium: SharpFrontMedium = REFERENCE_MEDIUM,
) -> float:
    """Steady ice-front radius around a spherical probe in a perfused medium.

    Flux balance at the front ``R``:
    ``k_f (T_m − T_p) / [R² (1/r_p − 1/R)] = k_u (T_a − T_m) (1/R + m)``
    with ``m = sqrt(ω / k_u)``.
    """
    m = medium
    if not (probe_radius_mm > 0 and perfusion_w_m3k > 0 and probe_c < m.melt_c < arterial_c):
        raise InvalidParameterError(
            "perfused sphere needs probe_radius_mm > 0, perfusion > 0 and "
            "probe_c < melt_c < arterial_c."
        )
    r_p = probe_radius_mm * 1e-3
    decay = math.sqrt(perfusion_w_m3k / m.conductivity_unfrozen_w_mk)

    def residual(radius: float) -> float:
        frozen = (
            m.conductivity_frozen_w_mk
            * (m.melt_c - probe_c)
            / (radius**2 * (1.0 / r_p - 1.0 / radius))
        )
        unfrozen = m.conductivity_unfrozen_w_mk * (arterial_c - m.melt_c) * (1.0 / radius + decay)
        return frozen - unfrozen

    return optimize.brentq(residual, r_p * (1.0 + 1e-9), 1.0, xtol=1e-12) * 1e3
