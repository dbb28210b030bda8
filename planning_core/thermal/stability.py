"""Time-step limits of the explicit enthalpy scheme and its super-time-stepping.

The semi-discrete system ``dH/dt = L(H)`` has the Jacobian spectrum bounded
(Gershgorin) by ``λ_max = 4 α_max Σ_axes 1/h² + max(ω/C)``, where ``α_max`` is
the largest ``k/C`` over all tissues and temperatures (``dT/dH ≤ 1/C`` with the
*sensible* heat capacity; latent heat only lowers it) and ``ω/C`` is the
perfusion relaxation rate. Forward Euler is stable for ``Δt ≤ 2/λ_max``.

The solver advances with the first-order Runge-Kutta-Legendre scheme (RKL1,
Meyer, Balsara & Aslam, J Comput Phys 2014): ``s`` stages, each one stencil
evaluation, are stable for ``λ_max Δt ≤ s² + s``, so a step of ``Δt`` costs
``s ≈ sqrt(λ_max Δt)`` evaluations instead of ``λ_max Δt / 2``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from planning_core.errors import InvalidParameterError
from planning_core.thermal.tissues import TissueProperties

#: Fraction of the RKL1 stability interval the solver uses.
STAGE_SAFETY = 0.8


def stiffness_bound_per_s(tissues: Sequence[TissueProperties], spacing_mm: ArrayLike) -> float:
    """``λ_max``: bound of the Jacobian spectrum of the discrete operator (1/s)."""
    spacing_m = np.asarray(spacing_mm, dtype=np.float64).reshape(-1) * 1e-3
    if spacing_m.size != 3 or np.any(spacing_m <= 0):
        raise InvalidParameterError("spacing_mm must be three positive numbers.")
    active = [t for t in tissues if not t.inert]
    if not active:
        return 0.0
    alpha = max(t.max_diffusivity_m2_s for t in active)
    relaxation = max(
        t.perfusion_w_m3k / min(t.heat_capacity_frozen_j_m3k, t.heat_capacity_unfrozen_j_m3k)
        for t in active
    )
    return 4.0 * alpha * float(np.sum(1.0 / spacing_m**2)) + relaxation


def forward_euler_limit_s(tissues: Sequence[TissueProperties], spacing_mm: ArrayLike) -> float:
    """Largest stable forward-Euler step ``2 / λ_max`` (s)."""
    bound = stiffness_bound_per_s(tissues, spacing_mm)
    return math.inf if bound == 0 else 2.0 / bound


def rkl1_stages(step_s: float, stiffness_per_s: float, *, safety: float = STAGE_SAFETY) -> int:
    """Fewest RKL1 stages ``s`` with ``λ_max Δt ≤ safety (s² + s)`` (s = 1 is forward Euler)."""
    if not (step_s > 0 and 0 < safety <= 1):
        raise InvalidParameterError("step_s must be positive and safety in (0, 1].")
    need = stiffness_per_s * step_s / safety
    stages = max(1, math.ceil((math.sqrt(1.0 + 4.0 * need) - 1.0) / 2.0))
    while stages * stages + stages < need:
        stages += 1
    return stages


def rkl1_coefficients(stages: int) -> list[tuple[float, float, float]]:
    """``(mu_j, nu_j, mu_tilde_j)`` of RKL1 stages ``j = 1..s``.

    ``Y_j = mu_j Y_{j-1} + nu_j Y_{j-2} + mu_tilde_j Δt L(Y_{j-1})`` with
    ``Y_0 = u^n`` and ``u^{n+1} = Y_s``.
    """
    if stages < 1:
        raise InvalidParameterError("stages must be at least 1.")
    weight = 2.0 / (stages * stages + stages)
    coefficients = [(1.0, 0.0, weight)]
    for j in range(2, stages + 1):
        mu = (2.0 * j - 1.0) / j
        coefficients.append((mu, (1.0 - j) / j, mu * weight))
    return coefficients
