"""Iceball dimensions as reported clinically: volume, length along the probes, cross-section.

The cross-section lies in the plane perpendicular to the mean probe axis through
the mean centre of the freezing segments; it is sampled finely (trilinear
interpolation of the temperature field) so that its area and diameters are
sub-voxel accurate.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import ConvexHull, QhullError
from skimage import measure

from planning_core.errors import InvalidParameterError
from planning_core.thermal.probes import PlacedProbe
from planning_core.thermal.result import FieldName, SimulationResult

#: Cross-section pixel size as a fraction of the simulation voxel.
SECTION_SAMPLES_PER_VOXEL = 4


@dataclass(frozen=True)
class IsothermDimensions:
    """Size of the region at or below one isotherm.

    Attributes
    ----------
    temperature_c : float
    volume_ml : float
        Enclosed volume (marching-cubes surface).
    axial_length_mm : float
        Extent along the mean probe axis.
    area_mm2 : float
        Area of the cross-section through the middle of the freezing segments.
    equivalent_diameter_mm : float
        ``2 sqrt(area / π)``.
    max_diameter_mm : float
        Largest distance between two points of the cross-section's outline.
    """

    temperature_c: float
    volume_ml: float
    axial_length_mm: float
    area_mm2: float
    equivalent_diameter_mm: float
    max_diameter_mm: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def probe_frame(
    probes: Sequence[PlacedProbe],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean unit axis (tip toward entry) and mean centre of the freezing segments (LPS mm)."""
    if not probes:
        raise InvalidParameterError("the result has no probes to measure the iceball along.")
    reference = probes[0].axis_unit
    axes = [p.axis_unit if p.axis_unit @ reference >= 0 else -p.axis_unit for p in probes]
    axis = np.mean(axes, axis=0)
    norm = float(np.linalg.norm(axis))
    if norm < 1e-6:
        raise InvalidParameterError("the probes' axes cancel out; no mean probe axis exists.")
    center = np.mean([p.active_center_lps_mm for p in probes], axis=0)
    return axis / norm, center


def _plane_basis(axis: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    helper = np.eye(3)[int(np.argmin(np.abs(axis)))]
    first = np.cross(axis, helper)
    first /= np.linalg.norm(first)
    return first, np.cross(axis, first)


def isotherm_dimensions(
    result: SimulationResult,
    isotherms_c: Sequence[float] | None = None,
    *,
    which: FieldName | float = "min",
) -> list[IsothermDimensions]:
    """Volume, axial length and mid-plane cross-section of each isotherm.

    Parameters
    ----------
    result : SimulationResult
        A simulation with at least one probe.
    isotherms_c : sequence of float, optional
        Isotherms to measure; the result's own isotherms by default.
    which : {"min", "final"} or float
        Field measured: the minimum temperature (lethal dose, default), the
        final one, or a recorded time (s).

    Returns
    -------
    list of IsothermDimensions
        In the order of ``isotherms_c``; zeros where nothing reached the isotherm.
    """
    temperatures = result.isotherms_c if isotherms_c is None else tuple(isotherms_c)
    axis, center = probe_frame(result.probes)
    first, second = _plane_basis(axis)
    geometry = result.geometry
    pixel_mm = float(np.min(geometry.spacing_mm)) / SECTION_SAMPLES_PER_VOXEL
    half_mm = 0.5 * float(np.max(np.asarray(geometry.size_ijk) * geometry.spacing_mm))
    offsets = np.arange(-half_mm, half_mm + pixel_mm, pixel_mm)
    u, v = np.meshgrid(offsets, offsets, indexing="ij")
    plane_points = center + u.reshape(-1, 1) * first + v.reshape(-1, 1) * second
    section = result.temperature_at(plane_points, which=which).reshape(u.shape)
    dimensions = []
    for temperature in temperatures:
        vertices, _ = result.isotherm_surface(temperature, which=which)
        if len(vertices) == 0:
            dimensions.append(IsothermDimensions(float(temperature), 0.0, 0.0, 0.0, 0.0, 0.0))
            continue
        along = (vertices - center) @ axis
        area = float(np.count_nonzero(section <= temperature)) * pixel_mm**2
        dimensions.append(
            IsothermDimensions(
                temperature_c=float(temperature),
                volume_ml=result.isotherm_volume_ml(temperature, which=which),
                axial_length_mm=float(along.max() - along.min()),
                area_mm2=area,
                equivalent_diameter_mm=2.0 * math.sqrt(area / math.pi),
                max_diameter_mm=_max_outline_distance(section, temperature) * pixel_mm,
            )
        )
    return dimensions


def _max_outline_distance(section: NDArray[np.float64], temperature_c: float) -> float:
    """Largest distance (pixels) between points of the isotherm outlines in a plane."""
    contours = measure.find_contours(section, level=temperature_c)
    if not contours:
        return 0.0
    points = np.concatenate(contours)
    # A degenerate (collinear) outline has no hull; all its points are then used.
    if len(points) > 3:
        with contextlib.suppress(QhullError):
            points = points[ConvexHull(points).vertices]
    gaps = points[:, None, :] - points[None, :, :]
    return float(np.sqrt(np.max(np.einsum("ijk,ijk->ij", gaps, gaps))))
