"""Margin of an ablation zone around the tumor: minimal ablative margin, shell coverage, map.

Everything here works on masks on one grid (the planning grid, after the
post-ablation CT was registered onto it). The signed margin of each tumor
surface vertex is the distance to the zone's surface, positive where the
vertex lies inside the zone and negative where tumor lies outside it
(:func:`planning_core.planning.metrics.signed_surface_distances`, the rule the
plan's own margin uses). Both masks are smoothed by one and a half voxels before
their surfaces are taken, so that the surfaces lie between the voxel
staircases instead of on them (a staircase alone errs by up to half a voxel).

ACCLAIM-style exemptions leave out, when chosen, the tumor surface where a
margin cannot be made or seen: on the organ's capsule side (the shell would
leave the organ) and beside vessels wider than 3 mm (heat sinks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.confirm.margin_evidence import MarginCategory
from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.planning.masks import bounding_box
from planning_core.planning.metrics import margin_zone_mask, signed_surface_distances

Exemption = Literal["capsule", "vessels"]
EXEMPTIONS: tuple[Exemption, ...] = ("capsule", "vessels")
#: Smoothing of the masks before their surfaces are taken, in voxels (1.5 halves the
#: staircase error of 1.0 on spheres; curvature moves a 10 mm sphere by under 0.1 mm).
SURFACE_SMOOTHING_VOXELS = 1.5


@dataclass(frozen=True)
class MarginOptions:
    """Settings of the margin analysis.

    Parameters
    ----------
    shell_mm : float
        Thickness of the margin shell around the tumor whose coverage is reported.
    exemptions : tuple of {"capsule", "vessels"}
        Tumor sides left out of the minimal margin (ACCLAIM): where the shell
        leaves the organ, and beside vessels wider than ``vessel_min_diameter_mm``.
    vessel_min_diameter_mm : float
        Smallest vessel diameter that exempts the tumor side next to it.
    """

    shell_mm: float = 5.0
    exemptions: tuple[Exemption, ...] = ()
    vessel_min_diameter_mm: float = 3.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.shell_mm) or not 0.0 < self.shell_mm <= 30.0:
            raise InvalidParameterError(f"--shell-mm must lie in (0, 30] mm, got {self.shell_mm}.")
        unknown = [e for e in self.exemptions if e not in EXEMPTIONS]
        if unknown:
            raise InvalidParameterError(
                f"--exempt: unknown exemption {unknown[0]!r}; choose from {', '.join(EXEMPTIONS)}."
            )
        if not np.isfinite(self.vessel_min_diameter_mm) or self.vessel_min_diameter_mm <= 0:
            raise InvalidParameterError(
                f"--vessel-diameter-mm must be positive, got {self.vessel_min_diameter_mm}."
            )
        object.__setattr__(self, "exemptions", tuple(dict.fromkeys(self.exemptions)))


@dataclass(frozen=True)
class ExemptionRecord:
    """One exemption applied: what it left out and why."""

    kind: Exemption
    surface_percent: float
    statement: str


@dataclass(frozen=True, eq=False)
class MarginAnalysis:
    """The margin of an ablation zone around a tumor.

    Attributes
    ----------
    minimal_margin_mm : float
        Signed minimal ablative margin over the whole tumor surface (mm).
    counted_margin_mm : float or None
        The minimal margin over the surface not exempted: the one the category
        uses; ``None`` when the exemptions leave no surface.
    thinnest_location_lps_mm : tuple of float or None
        Where the counted minimal margin lies on the tumor surface (LPS mm).
    percentile5_mm : float
        5th percentile of the signed margin over the counted surface.
    shell_mm, shell_coverage_percent : float
        The shell thickness and the share of the shell (outside the tumor) that
        the zone covers; exempted shell voxels left out when exemptions apply.
    tumor_volume_ml, zone_volume_ml, tumor_outside_zone_ml : float
        Volumes; the last one is tumor the zone misses.
    category : MarginCategory
        Of ``counted_margin_mm`` (incomplete when it is ``None`` and tumor lies outside).
    exemptions : tuple of ExemptionRecord
        The exemptions applied.
    surface_lps_mm, signed_margin_mm, exempt : ndarray
        The tumor surface vertices (n, 3), their signed margins (n,) and whether
        each is exempt (n,): the margin map.
    warnings : tuple of str
        Why an exemption could not be assessed.
    """

    minimal_margin_mm: float
    counted_margin_mm: float | None
    thinnest_location_lps_mm: tuple[float, float, float] | None
    percentile5_mm: float | None
    shell_mm: float
    shell_coverage_percent: float
    tumor_volume_ml: float
    zone_volume_ml: float
    tumor_outside_zone_ml: float
    category: MarginCategory
    exemptions: tuple[ExemptionRecord, ...]
    surface_lps_mm: NDArray[np.float64] = field(repr=False)
    signed_margin_mm: NDArray[np.float64] = field(repr=False)
    exempt: NDArray[np.bool_] = field(repr=False)
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        """The figures (not the map) as JSON-ready values."""
        location = self.thinnest_location_lps_mm
        return {
            "minimal_ablative_margin_mm": round(self.minimal_margin_mm, 2),
            "counted_minimal_margin_mm": (
                None if self.counted_margin_mm is None else round(self.counted_margin_mm, 2)
            ),
            "thinnest_margin_lps_mm": None if location is None else [round(v, 2) for v in location],
            "percentile5_margin_mm": (
                None if self.percentile5_mm is None else round(self.percentile5_mm, 2)
            ),
            "shell_mm": self.shell_mm,
            "shell_coverage_percent": round(self.shell_coverage_percent, 1),
            "tumor_volume_ml": round(self.tumor_volume_ml, 3),
            "tumor_outside_zone_ml": round(self.tumor_outside_zone_ml, 3),
            "category": self.category.value,
            "exemptions": [
                {
                    "kind": e.kind,
                    "surface_percent": round(e.surface_percent, 1),
                    "statement": e.statement,
                }
                for e in self.exemptions
            ],
            "surface_vertices": len(self.signed_margin_mm),
        }


def smoothed_outside(mask: NDArray[np.bool_], geometry: Geometry) -> NDArray[np.float32]:
    """``1 - mask`` smoothed by :data:`SURFACE_SMOOTHING_VOXELS`: its 0.5 level is the
    mask's surface between the voxel staircases (below 0.5 inside)."""
    return 1.0 - ndimage.gaussian_filter(
        mask.astype(np.float32), SURFACE_SMOOTHING_VOXELS, truncate=3.0
    )


def analyze_margin(
    tumor: NDArray[np.bool_],
    zone: NDArray[np.bool_],
    geometry: Geometry,
    *,
    options: MarginOptions | None = None,
    organ: NDArray[np.bool_] | None = None,
    vessels: NDArray[np.bool_] | None = None,
) -> MarginAnalysis:
    """The margin of ``zone`` around ``tumor``.

    Parameters
    ----------
    tumor, zone : ndarray of bool
        Tumor and ablation zone on ``geometry``.
    geometry : Geometry
        The grid (spacing in mm).
    options : MarginOptions, optional
        Shell thickness and exemptions; the defaults without exemptions.
    organ : ndarray of bool, optional
        The host organ (parenchyma, without the tumor), for the capsule exemption.
    vessels : ndarray of bool, optional
        Labelled vessels, for the vessel exemption.

    Returns
    -------
    MarginAnalysis

    Raises
    ------
    InvalidParameterError
        When the tumor or the zone is empty, or the masks are not on ``geometry``.
    """
    options = options or MarginOptions()
    for name, mask in (("tumor", tumor), ("ablation zone", zone)):
        if mask.shape != tuple(geometry.shape):
            raise InvalidParameterError(f"the {name} mask is not on the planning grid.")
    if not tumor.any():
        raise InvalidParameterError("the tumor label is empty; segment the tumor first.")
    if not zone.any():
        raise InvalidParameterError(
            "the ablation zone is empty; segment it on the post-ablation CT first."
        )
    spacing = np.asarray(geometry.spacing_kji_mm)
    # The box holds the whole zone as well, so that no margin is cut short at its faces.
    tumor_box = bounding_box(tumor, np.ceil(options.shell_mm / spacing).astype(int) + 4)
    zone_box = bounding_box(zone, 3)
    box = tuple(
        slice(min(a.start, b.start), max(a.stop, b.stop))
        for a, b in zip(tumor_box, zone_box, strict=True)
    )
    sub_geometry = geometry.cropped(tuple(s.start for s in box), tumor[box].shape)
    tumor_box, zone_box = tumor[box], zone[box]
    tumor_field = 1.0 - smoothed_outside(tumor_box, sub_geometry)
    distances = signed_surface_distances(
        smoothed_outside(zone_box, sub_geometry), tumor_field, sub_geometry, 0.5
    )
    if distances is None:  # the zone lies wholly outside the box around the tumor
        raise InvalidParameterError(
            "the ablation zone does not reach the tumor; check the registration and the zone."
        )
    surface, signed = distances
    shell = margin_zone_mask(tumor_box, sub_geometry, options.shell_mm) & ~tumor_box
    exempt = np.zeros(len(signed), dtype=bool)
    shell_kept = shell.copy()
    records: list[ExemptionRecord] = []
    warnings: list[str] = []
    ijk = sub_geometry.lps_to_index(surface)
    for kind in options.exemptions:
        region = _exempt_region(kind, box, sub_geometry, options, organ, vessels, tumor_box)
        if region is None:
            warnings.append(_not_assessed(kind))
            continue
        near = _sample(region.distance_mm, ijk) <= options.shell_mm
        exempt |= near
        shell_kept &= ~region.mask
        records.append(ExemptionRecord(kind, 100.0 * float(near.mean()), region.statement))
    counted = signed[~exempt]
    worst = int(np.argmin(np.where(exempt, np.inf, signed))) if counted.size else None
    voxel_ml = geometry.voxel_volume_mm3 / 1000.0
    outside_ml = float(np.count_nonzero(tumor_box & ~zone_box)) * voxel_ml
    counted_mm = None if worst is None else float(signed[worst])
    if counted_mm is None:
        category = MarginCategory.INCOMPLETE if outside_ml > 0 else MarginCategory.AT_LEAST_5_MM
    else:
        category = MarginCategory.of(counted_mm)
    shell_voxels = int(np.count_nonzero(shell_kept))
    coverage = (
        100.0 * float(np.count_nonzero(shell_kept & zone_box)) / shell_voxels
        if shell_voxels else 100.0
    )  # fmt: skip
    return MarginAnalysis(
        minimal_margin_mm=float(signed.min()),
        counted_margin_mm=counted_mm,
        thinnest_location_lps_mm=(
            None if worst is None else tuple(float(v) for v in surface[worst])
        ),
        percentile5_mm=float(np.percentile(counted, 5.0)) if counted.size else None,
        shell_mm=options.shell_mm,
        shell_coverage_percent=coverage,
        tumor_volume_ml=float(np.count_nonzero(tumor_box)) * voxel_ml,
        zone_volume_ml=float(np.count_nonzero(zone)) * voxel_ml,
        tumor_outside_zone_ml=outside_ml,
        category=category,
        exemptions=tuple(records),
        surface_lps_mm=surface,
        signed_margin_mm=signed,
        exempt=exempt,
        warnings=tuple(warnings),
    )


@dataclass(frozen=True, eq=False)
class _Region:
    """An exempting region in the box: its mask, the distance to it (mm), the statement."""

    mask: NDArray[np.bool_]
    distance_mm: NDArray[np.float32]
    statement: str


def _exempt_region(
    kind: Exemption,
    box: tuple[slice, ...],
    geometry: Geometry,
    options: MarginOptions,
    organ: NDArray[np.bool_] | None,
    vessels: NDArray[np.bool_] | None,
    tumor: NDArray[np.bool_],
) -> _Region | None:
    spacing = geometry.spacing_kji_mm
    if kind == "capsule":
        if organ is None or not organ[box].any():
            return None
        # Outside the organ (and the tumor in it): where the shell would leave the organ.
        mask = ~(organ[box] | tumor)
        statement = (
            "tumor surface within the shell of the organ capsule left out (ACCLAIM: the "
            "margin cannot extend beyond the organ)"
        )
    else:
        if vessels is None or not vessels[box].any():
            return None
        mask = wide_vessels(vessels[box], spacing, options.vessel_min_diameter_mm)
        statement = (
            f"tumor surface within the shell of vessels wider than "
            f"{options.vessel_min_diameter_mm:g} mm left out (ACCLAIM: heat sink)"
        )
    if not mask.any():
        return _Region(mask, np.full(mask.shape, np.inf, np.float32), statement)
    distance = ndimage.distance_transform_edt(~mask, sampling=spacing).astype(np.float32)
    return _Region(mask, distance, statement)


def wide_vessels(
    vessels: NDArray[np.bool_], spacing_kji_mm: tuple[float, float, float], min_diameter_mm: float
) -> NDArray[np.bool_]:
    """The vessel voxels that lie in a lumen at least ``min_diameter_mm`` wide.

    A voxel whose distance to the vessel wall is at least half the diameter is
    the centre of a ball of that diameter inside the lumen; the union of those
    balls is the wide part.
    """
    radius_mm = min_diameter_mm / 2.0
    # Distances run between voxel centres: the wall lies half a voxel before the first
    # voxel outside.
    half_voxel_mm = min(spacing_kji_mm) / 2.0
    depth = ndimage.distance_transform_edt(vessels, sampling=spacing_kji_mm) - half_voxel_mm
    centres = depth >= radius_mm
    if not centres.any():
        return centres
    reach = ndimage.distance_transform_edt(~centres, sampling=spacing_kji_mm)
    # One voxel of slack: the balls' centres lie on the grid, not on the lumen's axis.
    return vessels & (reach <= radius_mm + max(spacing_kji_mm))


def _sample(values: NDArray[np.float32], ijk: NDArray[np.float64]) -> NDArray[np.float64]:
    return ndimage.map_coordinates(
        values, [ijk[:, 2], ijk[:, 1], ijk[:, 0]], order=1, mode="nearest"
    )


def _not_assessed(kind: Exemption) -> str:
    if kind == "capsule":
        return (
            "capsule exemption not assessed: the label map holds no host organ around the "
            "tumor; label the organ or leave out --exempt capsule."
        )
    return (
        "vessel exemption not assessed: the label map holds no vessel near the tumor; label "
        "the vessels or leave out --exempt vessels."
    )
