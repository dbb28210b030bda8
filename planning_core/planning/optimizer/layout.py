"""Rule-of-thumb probe count and the tip patterns the search moves around.

Rule of thumb: enough parallel probes that every point of the target lies
within one probe's own lethal radius ``R`` (reference protocol, host tissue) of
a probe axis, ignoring that neighbouring iceballs reinforce each other. The
target is taken as a disk of radius ``D / 2`` (``D``: largest width of tumor +
margin) and the count is the least number of disks of radius ``R`` that cover
it (known optimal coverings of a disk up to 10 disks; beyond, the hexagonal
covering of a disk grown by ``R / 2``). This layout covers the target in
homogeneous tissue whatever the synergy, so it bounds what the optimizer,
which exploits the synergy, may need; clinical counts ("one probe per
centimetre of tumor plus one") are lower because they aim at the tumor and a
warmer lethal isotherm.

Patterns are tip offsets in the plane perpendicular to the common insertion
direction: one probe on the axis; two on a line; three to five on a ring;
six and more a centre probe inside a ring of the others (hexagonal packing).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from planning_core.errors import InvalidParameterError

#: Smallest ratio (disk radius / covered disk radius) at which n equal disks cover a disk,
#: n = 1 ... 10 (optimal coverings of a disk by equal disks: classical for n <= 7, from
#: published computer searches for 8-10).
DISK_COVERING_RATIOS = (
    1.0,
    1.0,
    0.866025,
    0.707107,
    0.609383,
    0.555905,
    0.5,
    0.445042,
    0.414214,
    0.394931,
)
#: Covered area per disk of the hexagonal covering, in units of the disk's area.
HEXAGONAL_COVERING_EFFICIENCY = 3.0 * math.sqrt(3.0) / (2.0 * math.pi)


def rule_of_thumb_probe_count(zone_diameter_mm: float, lethal_radius_mm: float) -> int:
    """Probes of the rule-of-thumb layout (module docstring); at least 1."""
    if lethal_radius_mm <= 0:
        raise InvalidParameterError(
            "the probe reaches no lethal temperature with the reference protocol; choose a "
            "larger probe model or a longer protocol."
        )
    ratio = lethal_radius_mm / max(0.5 * zone_diameter_mm, 1e-9)
    for count, needed in enumerate(DISK_COVERING_RATIOS, start=1):
        if ratio >= needed - 1e-9:
            return count
    grown = 0.5 * zone_diameter_mm + 0.5 * lethal_radius_mm
    return math.ceil((grown / lethal_radius_mm) ** 2 / HEXAGONAL_COVERING_EFFICIENCY)


def pattern_offsets(count: int, radius_mm: float, angle_rad: float) -> NDArray[np.float64]:
    """In-plane tip offsets ``(count, 2)`` of the standard pattern.

    Parameters
    ----------
    count : int
        Number of probes (>= 1).
    radius_mm : float
        Distance of the outer probes from the pattern centre.
    angle_rad : float
        Rotation of the pattern in its plane.
    """
    if count < 1:
        raise InvalidParameterError(f"count must be at least 1, got {count}.")
    if count == 1:
        return np.zeros((1, 2))
    ring = count - 1 if count >= 6 else count
    angles = angle_rad + 2.0 * np.pi * np.arange(ring) / ring
    offsets = radius_mm * np.column_stack((np.cos(angles), np.sin(angles)))
    if count >= 6:
        offsets = np.vstack((np.zeros((1, 2)), offsets))
    return offsets


def ring_radius_for_spacing(count: int, spacing_mm: float) -> float:
    """Pattern radius at which neighbouring outer tips lie ``spacing_mm`` apart."""
    if count == 1:
        return 0.0
    if count == 2:
        return 0.5 * spacing_mm
    ring = count - 1 if count >= 6 else count
    radius = spacing_mm / (2.0 * math.sin(math.pi / ring))
    return max(radius, spacing_mm) if count >= 6 else radius


def plane_basis(axis_lps: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two unit vectors completing ``axis_lps`` to a right-handed orthonormal frame."""
    axis = np.asarray(axis_lps, dtype=np.float64)
    helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    first = np.cross(axis, helper)
    first /= np.linalg.norm(first)
    return first, np.cross(axis, first)


def spacing_ok(
    tips_lps_mm: NDArray[np.float64], *, min_spacing_mm: float, max_spacing_mm: float
) -> bool:
    """Every pair at least ``min_spacing_mm`` apart, each tip's nearest neighbour within max."""
    if len(tips_lps_mm) < 2:
        return True
    distance = np.linalg.norm(tips_lps_mm[:, None, :] - tips_lps_mm[None, :, :], axis=-1)
    np.fill_diagonal(distance, np.inf)
    nearest = distance.min(axis=1)
    return bool(nearest.min() >= min_spacing_mm - 1e-6 and nearest.max() <= max_spacing_mm + 1e-6)
