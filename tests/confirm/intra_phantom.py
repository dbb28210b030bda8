"""A small CT taken during a freeze, drawn in the test: body, organ, metal shafts with streaks, ice.

Everything is known exactly: the shafts' tips and directions, the ice
ellipsoids' volume. Shafts are drawn with partial volume (a linear ramp one
voxel wide at the metal's surface and flat tip), so the half-height edge lies
on the true tip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap, standard_label
from planning_core.imaging.volume import Volume
from planning_core.planning.plan import Plan, PlannedProbe

#: The planned probes: parallel, along +y (posterior), tips 12 mm apart.
PLANNED_TIPS_LPS_MM = ((6.0, 0.0, 0.0), (-6.0, 0.0, 0.0))
PLANNED_DIRECTION_LPS = (0.0, 1.0, 0.0)
#: The probes as placed in :func:`placed_shafts`: tips off by known amounts, tilted.
PLACED_TIP_OFFSETS_MM = ((0.8, 0.9, 0.5), (-0.6, -1.2, 0.4))
PLACED_DIRECTIONS_LPS = ((0.03, 1.0, -0.02), (-0.04, 1.0, 0.03))

SHAPE_KJI = (56, 112, 112)
SPACING_MM = (1.0, 1.0, 1.5)
ORIGIN_LPS_MM = (-55.5, -55.5, -41.25)
BODY_RADII_MM = (52.0, 44.0)
ORGAN_CENTRE_LPS_MM = (0.0, -2.0, 0.0)
ORGAN_RADIUS_MM = 38.0
TUMOR_CENTRE_LPS_MM = (0.0, -17.0, 0.0)
TUMOR_RADIUS_MM = 7.0
#: The ice seen at the elapsed time in :func:`intra_ct` by default: around both planned
#: freezing segments (argon-2.4: 5-35 mm behind tips at y = 0).
ICE_CENTRE_LPS_MM = (0.0, -20.0, 0.0)
ICE_RADII_MM = (15.0, 22.0, 15.0)
AIR_HU, FAT_HU, ORGAN_HU, BONE_HU, METAL_HU, ICE_HU = -1000.0, -90.0, 60.0, 1100.0, 3000.0, 0.0


@dataclass(frozen=True)
class Shaft:
    """A straight probe: tip, unit direction from entry toward tip, radius."""

    tip_lps_mm: tuple[float, float, float]
    direction_lps: tuple[float, float, float]
    radius_mm: float = 1.2

    @property
    def unit(self) -> NDArray[np.float64]:
        vector = np.asarray(self.direction_lps, dtype=float)
        return vector / np.linalg.norm(vector)


def phantom_geometry() -> Geometry:
    return Geometry(SHAPE_KJI, np.array(SPACING_MM), np.array(ORIGIN_LPS_MM))


def grid_points(geometry: Geometry) -> NDArray[np.float64]:
    """LPS of every voxel centre, shape (nk, nj, ni, 3)."""
    k, j, i = np.meshgrid(*(np.arange(n) for n in geometry.shape), indexing="ij")
    ijk = np.stack([i, j, k], axis=-1).astype(float)
    return geometry.index_to_lps(ijk)


def _ramp(x: NDArray[np.float64], width_mm: float) -> NDArray[np.float64]:
    return np.clip(0.5 + x / width_mm, 0.0, 1.0)


def shaft_coverage(points: NDArray[np.float64], shaft: Shaft) -> NDArray[np.float64]:
    """Share of each voxel in the metal (flat tip; the shaft runs out of the image)."""
    offset = points - np.asarray(shaft.tip_lps_mm)
    back = -(offset @ shaft.unit)  # mm from the tip toward the entry
    radial = np.linalg.norm(offset + back[..., None] * shaft.unit, axis=-1)
    return _ramp(shaft.radius_mm - radial, 1.0) * _ramp(back, 1.0)


def streaks(points: NDArray[np.float64], shaft: Shaft, amplitude_hu: float) -> NDArray[np.float64]:
    """In-slice rays of alternating sign around each shaft's crossing of the slice."""
    unit = shaft.unit
    if abs(unit[2]) < 0.2:
        return np.zeros(points.shape[:-1])
    tip = np.asarray(shaft.tip_lps_mm)
    # Where the shaft crosses each slice plane (z of the voxel).
    t = (points[..., 2] - tip[2]) / unit[2]
    crossing = tip + t[..., None] * unit
    dx, dy = points[..., 0] - crossing[..., 0], points[..., 1] - crossing[..., 1]
    radius = np.hypot(dx, dy)
    angle = np.arctan2(dy, dx)
    on_shaft = t <= 0.0  # slices that the metal reaches
    rays = np.cos(6.0 * angle) ** 9
    return on_shaft * amplitude_hu * rays * np.exp(-radius / 25.0) * (radius > 2.5)


def intra_ct(
    shafts: list[Shaft],
    *,
    ice_centres_lps_mm: list[tuple[float, float, float]] = (ICE_CENTRE_LPS_MM,),
    ice_radii_mm: tuple[float, float, float] = ICE_RADII_MM,
    streak_hu: float = 200.0,
    noise_hu: float = 12.0,
    organ_hu: float = ORGAN_HU,
    seed: int = 3,
) -> Volume:
    """The intra-procedural CT: body in air, organ, a rib, a clip, shafts, streaks, ice."""
    geometry = phantom_geometry()
    points = grid_points(geometry)
    x, y = points[..., 0], points[..., 1]
    body = (x / BODY_RADII_MM[0]) ** 2 + (y / BODY_RADII_MM[1]) ** 2 <= 1.0
    values = np.where(body, FAT_HU, AIR_HU)
    organ = np.linalg.norm(points - np.asarray(ORGAN_CENTRE_LPS_MM), axis=-1) <= ORGAN_RADIUS_MM
    values = np.where(organ, organ_hu, values)
    for centre in ice_centres_lps_mm:
        scaled = (points - np.asarray(centre)) / np.asarray(ice_radii_mm)
        values = np.where(np.sum(scaled**2, axis=-1) <= 1.0, ICE_HU, values)
    rib = np.hypot(x - 40.0, y - 20.0) <= 4.0  # bone runs along z: long, but not metal
    values = np.where(rib & body, BONE_HU, values)
    clip = np.linalg.norm(points - np.array([-30.0, 20.0, 10.0]), axis=-1) <= 2.0
    values = np.where(clip, METAL_HU, values)
    for shaft in shafts:
        values = values + streaks(points, shaft, streak_hu) * body
        coverage = shaft_coverage(points, shaft)
        values = values * (1.0 - coverage) + METAL_HU * coverage
    values = values + np.random.default_rng(seed).normal(0.0, noise_hu, values.shape)
    return Volume(values.astype(np.float32), geometry, "CT", {"series_description": "intra"})


def ellipsoid_volume_ml(radii_mm: tuple[float, float, float]) -> float:
    return 4.0 / 3.0 * np.pi * float(np.prod(radii_mm)) / 1000.0


def placed_shafts() -> list[Shaft]:
    """The planned probes as placed: tips and directions off by known amounts."""
    return [
        Shaft(tuple(np.add(tip, offset)), direction)  # type: ignore[arg-type]
        for tip, offset, direction in zip(
            PLANNED_TIPS_LPS_MM, PLACED_TIP_OFFSETS_MM, PLACED_DIRECTIONS_LPS, strict=True
        )
    ]


def planning_case() -> tuple[Volume, LabelMap]:
    """The planning CT (no probes, no ice, no streaks) and its labels: body, liver, tumor."""
    volume = intra_ct([], ice_centres_lps_mm=[], noise_hu=8.0, seed=5)
    points = grid_points(volume.geometry)
    x, y = points[..., 0], points[..., 1]
    body = (x / BODY_RADII_MM[0]) ** 2 + (y / BODY_RADII_MM[1]) ** 2 <= 1.0
    organ = np.linalg.norm(points - np.asarray(ORGAN_CENTRE_LPS_MM), axis=-1) <= ORGAN_RADIUS_MM
    tumor = np.linalg.norm(points - np.asarray(TUMOR_CENTRE_LPS_MM), axis=-1) <= TUMOR_RADIUS_MM
    labels = LabelMap.empty(volume.geometry)
    for name, mask in (("body", body), ("liver", organ & body), ("tumor", tumor)):
        labels = labels.with_mask(name, mask, role=standard_label(name).role)
    return volume, labels


def planned(tips=PLANNED_TIPS_LPS_MM, direction=PLANNED_DIRECTION_LPS, **fields) -> Plan:
    """A plan of argon-2.4 probes at ``tips`` inserted along ``direction``."""
    unit = np.asarray(direction) / np.linalg.norm(direction)
    probes = tuple(
        PlannedProbe("argon-2.4", tip, tuple(np.asarray(tip) - 60.0 * unit), label=f"P{n + 1}")
        for n, tip in enumerate(tips)
    )
    return Plan(probes=probes, **fields)
