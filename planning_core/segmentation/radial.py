"""Star-shaped boundary fit: the lesion's surface as a smooth radius per direction.

Why
---
A grown region follows the image voxel by voxel, so it inherits every flaw of
the image near the lesion's edge: noise and texture make its surface ragged
where the lesion/host contrast is low (a liver tumor's rim against liver, 20 HU
under 12 HU noise), a partial-volume layer along a neighbouring organ's edge
has the lesion's intensity and is picked up as a thin sheet (kidney cortex
against fat), and each seed gives a different set of these accidents. A
lesion that can be ablated is compact: seen from its centre every direction
leaves it once. Its surface is therefore fitted as one radius per direction:

* rays leave the centre in evenly spread directions (a Fibonacci sphere),
  sampled every 0.25 mm on a lightly denoised image;
* on each ray the boundary is where the profile crosses halfway between the
  lesion's outer level and the level of the tissue just beyond (the unbiased
  position of a blurred step whatever its contrast); the innermost such
  crossing near the current surface is taken, so a second edge farther out
  (fat beyond the kidney, a partial-volume sheet) is never reached. Tissue of
  another level deeper inside (necrosis under a rim) lies on the lesion's side
  of that halfway level and is never a boundary;
* a ray without contrast (the lesion touches something of similar intensity)
  keeps its current radius, which the region engine's shape-based leak cut drew;
* the radii are regularised on the sphere (weighted median, then mean, of each
  direction's nearest rays), which removes single-ray outliers and the ragged
  noise of a voxel-wise decision, and cannot represent a millimetre-thin sheet.

The lesion's outer level and the radii are re-estimated in turn until the
surface stops moving: the level is the median of the non-host samples within
2 mm of the current surface, so a region that stopped short of a rim still
sees the rim and moves out to its edge. When the converged surface is wrapped
all round by one thin layer that is followed by a further step in the same
direction (core, rim, host), the fit stopped at a core and continues to the
layer's outer edge. Finally the rays are re-centred on the fitted surface's
centroid and the fit is repeated, so the result depends on the lesion, not on
where inside it the user clicked.

Measured on the sample cases (Dice against the ground truth, manifest seed):
the grown region alone gave kidney 0.935, liver 0.879, lung 0.980, breast
0.903; with this fit 0.987, 0.962, 0.997, 0.938.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import cKDTree

from planning_core.segmentation.morphology import Spacing
from planning_core.sphere import fibonacci_directions


@dataclass(frozen=True)
class RadialSettings:
    """How the star-shaped surface is fitted.

    Parameters
    ----------
    step_mm : float
        Sampling step along each ray.
    ray_area_mm2 : float
        One ray per this much of the region's surface, between ``min_rays`` and
        ``max_rays``.
    min_rays, max_rays : int
        Bounds of the number of rays.
    neighbours : int
        Rays (itself included) over which each radius is regularised.
    gap_mm : float
        The tissue beyond the surface is sampled from this far outside it,
        clear of the blurred edge.
    outside_mm : float
        Length of the stretch beyond the surface whose median is the outside level.
    confirm_mm : float
        A crossing counts when the profile stays on each side of the halfway
        level, on average, over this length.
    search_mm : float
        Crossings and outside levels are looked for within this distance of the
        current radius (at least ``search_fraction`` of that radius).
    search_fraction : float
        See ``search_mm``.
    band_mm : float
        The lesion's outer level is measured within this distance of the surface.
    edge_sigmas : float
        A lesion/outside contrast smaller than this many noise sigmas is no edge.
    max_layer_mm : float
        Largest thickness of a wrapping layer (a rim) added to a fitted core.
    wrap_share : float
        Share of the rays on which a layer must wrap the core.
    layer_step_fraction : float
        On each ray the steps into and beyond a layer must reach this fraction
        of the edge contrast. They are read from short medians, and core/rim and
        rim/host steps only a little above the edge contrast (liver) would
        otherwise pass on a share of the rays near ``wrap_share`` that depends
        on the ray set.
    passes : int
        Largest number of level/radius re-estimations per fit.
    converged_mm : float
        The passes stop when the radii move by less than this on average.
    rounds : int
        Fits: the first centred on the grown region's robust centroid, each next
        one on the previous fit's centroid.
    max_radius_ratio : float
        Parts of the grown region farther from its centre than this many times
        the median distance, and radii longer than this many times their median
        (a leak), are left out of the first centre and shortened before a fit.
    """

    step_mm: float = 0.25
    ray_area_mm2: float = 1.5
    min_rays: int = 400
    max_rays: int = 4000
    neighbours: int = 12
    gap_mm: float = 0.75
    outside_mm: float = 2.0
    confirm_mm: float = 1.0
    search_mm: float = 4.0
    search_fraction: float = 0.3
    band_mm: float = 2.0
    edge_sigmas: float = 2.0
    max_layer_mm: float = 5.0
    wrap_share: float = 0.7
    layer_step_fraction: float = 0.5
    passes: int = 20
    converged_mm: float = 0.01
    rounds: int = 3
    max_radius_ratio: float = 1.5


@dataclass(frozen=True)
class RadialFit:
    """The fitted surface on the cropped grid.

    Attributes
    ----------
    mask : ndarray of bool
        Voxels inside the fitted surface.
    center_mm : ndarray
        Centre of the rays (cropped-grid millimetres, ``k, j, i`` order).
    edge_share : float
        Share of the rays whose radius came from a visible edge.
    outer_level : float
        Level of the lesion's outer class used by the last fit.
    """

    mask: NDArray[np.bool_]
    center_mm: NDArray[np.float64]
    edge_share: float
    outer_level: float


def _samples(steps_mm: float, step_mm: float) -> int:
    return max(round(steps_mm / step_mm), 1)


def _window_means(profiles: NDArray[np.float64], length: int) -> NDArray[np.float64]:
    """Mean of ``profiles[:, s - length : s]`` for every ``s`` (NaN where incomplete)."""
    total = np.concatenate([np.zeros((profiles.shape[0], 1)), np.cumsum(profiles, axis=1)], axis=1)
    means = np.full(profiles.shape, np.nan)
    means[:, length:] = (total[:, length:-1] - total[:, : -length - 1]) / length
    return means


def _medians_from(
    profiles: NDArray[np.float64], start_mm: NDArray[np.float64], length_mm: float, step_mm: float
) -> NDArray[np.float64]:
    """Median of each ray over ``[start, start + length)`` mm."""
    start = np.rint(start_mm / step_mm).astype(int)
    index = start[:, None] + np.arange(_samples(length_mm, step_mm))[None, :]
    index = np.clip(index, 0, profiles.shape[1] - 1)
    return np.median(profiles[np.arange(profiles.shape[0])[:, None], index], axis=1)


def _outside_levels(
    profiles: NDArray[np.float64], current: NDArray[np.float64], settings: RadialSettings
) -> NDArray[np.float64]:
    """Level of the tissue beyond each ray's current boundary, clear of the blurred edge."""
    return _medians_from(profiles, current + settings.gap_mm, settings.outside_mm, settings.step_mm)


def lesion_outer_level(
    profiles: NDArray[np.float64],
    current: NDArray[np.float64],
    level: float,
    settings: RadialSettings,
) -> float:
    """Level of the lesion's outermost class, from the band around the current boundary.

    Within ``band_mm`` of each ray's boundary, the samples on the lesion's side of
    the halfway level between ``level`` and the ray's outside level are not host
    tissue; their median is the level the boundary is placed against. A region
    that stopped short of a rim still has the rim in this band, so the estimate
    does not follow the region's error inwards.
    """
    step = settings.step_mm
    outside = _outside_levels(profiles, current, settings)
    offsets = np.arange(-settings.band_mm, settings.band_mm + step / 2, step)
    index = np.rint((current[:, None] + offsets[None, :]) / step).astype(int)
    index = np.clip(index, 0, profiles.shape[1] - 1)
    values = profiles[np.arange(profiles.shape[0])[:, None], index]
    halfway = 0.5 * (level + outside)
    lesion_side = (values - halfway[:, None]) * np.sign(level - outside)[:, None] > 0
    return float(np.median(values[lesion_side])) if lesion_side.any() else level


def wrapping_layer_level(
    profiles: NDArray[np.float64],
    current: NDArray[np.float64],
    level: float,
    threshold: float,
    settings: RadialSettings,
) -> float | None:
    """Level of a thin layer that wraps the fitted surface, or None.

    A rim-enhancing lesion seen from a click in its core first fits the core:
    just beyond that surface lies, on (nearly) every ray, one layer that
    differs from the core, followed a few millimetres further by tissue that
    differs from the layer again in the same direction (core, rim, host). A
    neighbouring organ touches one side only, and the host around a lesion is
    not followed by a further step all round, so neither is taken as a layer.
    """
    step = settings.step_mm
    near = _medians_from(profiles, current + settings.gap_mm, settings.confirm_mm, step)
    far = _medians_from(
        profiles, current + settings.gap_mm + settings.max_layer_mm, settings.outside_mm, step
    )
    layer = float(np.median(near))
    direction = np.sign(layer - level)
    contrast = settings.layer_step_fraction * threshold
    wraps = ((near - level) * direction >= contrast) & ((far - near) * direction >= contrast)
    return layer if np.count_nonzero(wraps) >= settings.wrap_share * wraps.size else None


def _ray_radii(
    profiles: NDArray[np.float64],
    current: NDArray[np.float64],
    radii: NDArray[np.float64],
    level: float,
    threshold: float,
    settings: RadialSettings,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Boundary radius per ray and whether it came from a visible edge."""
    count, length = profiles.shape
    rows = np.arange(count)
    confirm = _samples(settings.confirm_mm, settings.step_mm)
    outside = _outside_levels(profiles, current, settings)
    halfway = 0.5 * (level + outside)
    side = (profiles - halfway[:, None]) * np.sign(level - outside)[:, None]  # > 0: lesion
    before = _window_means(side, confirm)  # mean of [s - confirm, s)
    after = np.full(side.shape, np.nan)
    after[:, : length - confirm] = before[:, confirm:]  # mean of [s, s + confirm)
    previous = np.concatenate([side[:, :1], side[:, :-1]], axis=1)
    search = np.maximum(settings.search_mm, settings.search_fraction * current)
    within = np.abs(radii[None, :] - current[:, None]) <= search[:, None]
    crossing = within & (previous > 0) & (side <= 0) & (before > 0) & (after <= 0)
    crossing[:, 0] = False
    found = crossing.any(axis=1) & (np.abs(level - outside) >= threshold)
    first = np.maximum(np.argmax(crossing, axis=1), 1)
    inner, outer = side[rows, first - 1], side[rows, first]
    edge = radii[first - 1] + inner / np.maximum(inner - outer, 1e-12) * settings.step_mm
    return np.where(found, edge, current), found


def _regularise(
    radius: NDArray[np.float64], weight: NDArray[np.float64], neighbours: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Weighted median of each ray's neighbourhood, then the plain mean of those medians."""
    values = radius[neighbours]
    weights = weight[neighbours]
    order = np.argsort(values, axis=1)
    values = np.take_along_axis(values, order, axis=1)
    weights = np.take_along_axis(weights, order, axis=1)
    cumulative = np.cumsum(weights, axis=1)
    middle = np.argmax(cumulative >= 0.5 * cumulative[:, -1:], axis=1)
    median = values[np.arange(values.shape[0]), middle]
    return median[neighbours].mean(axis=1)


def _converge(
    profiles: NDArray[np.float64],
    current: NDArray[np.float64],
    radii: NDArray[np.float64],
    level: float,
    threshold: float,
    neighbours: NDArray[np.int64],
    settings: RadialSettings,
) -> tuple[NDArray[np.float64], float, NDArray[np.bool_]]:
    """Alternate level and radius estimates until the surface stops moving."""
    found = np.zeros(profiles.shape[0], dtype=bool)
    for _ in range(max(settings.passes, 1)):
        level = lesion_outer_level(profiles, current, level, settings)
        radius, found = _ray_radii(profiles, current, radii, level, threshold, settings)
        previous = current
        current = _regularise(radius, np.where(found, 1.0, 0.25), neighbours)
        if float(np.mean(np.abs(current - previous))) < settings.converged_mm:
            break
    return current, level, found


def _star_mask(
    shape: tuple[int, ...],
    spacing: NDArray[np.float64],
    center_mm: NDArray[np.float64],
    tree: cKDTree,
    radius: NDArray[np.float64],
) -> NDArray[np.bool_]:
    """Voxels whose distance to the centre is within the interpolated radius of their direction."""
    reach = float(radius.max()) + float(spacing.max())
    low = np.maximum(np.floor((center_mm - reach) / spacing).astype(int), 0)
    high = np.minimum(np.ceil((center_mm + reach) / spacing).astype(int) + 1, np.asarray(shape))
    axes = (np.arange(a, b) for a, b in zip(low, high, strict=True))
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    offset = grid * spacing - center_mm
    distance = np.linalg.norm(offset, axis=1)
    direction = offset / np.maximum(distance, 1e-9)[:, None]
    near, rays = tree.query(direction, k=3)
    weights = 1.0 / np.maximum(near, 1e-6)
    boundary = (radius[rays] * weights).sum(axis=1) / weights.sum(axis=1)
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(grid[distance <= boundary].T)] = True
    return mask


def _exit_radii(
    mask: NDArray[np.bool_],
    coordinates: NDArray[np.float64],
    radii: NDArray[np.float64],
    step_mm: float,
) -> NDArray[np.float64]:
    """Where each ray first leaves ``mask`` after entering it (the centre may lie in a cavity)."""
    count = coordinates.shape[1] // radii.size
    inside = ndimage.map_coordinates(mask.astype(np.float32), coordinates, order=0, mode="constant")
    inside = inside.reshape(count, radii.size) > 0.5
    entered = np.maximum.accumulate(inside, axis=1)
    exit_index = np.argmax(entered & ~inside, axis=1)
    return radii[np.maximum(exit_index - 1, 0)] + 0.5 * step_mm


def _robust_centroid(
    mask: NDArray[np.bool_], spacing: NDArray[np.float64], max_ratio: float | None
) -> NDArray[np.float64]:
    """Centroid (mm) of ``mask``; with ``max_ratio``, of its voxels within that many times
    their median distance from the centroid (re-estimated three times)."""
    points = np.argwhere(mask) * spacing
    center = points.mean(axis=0)
    if max_ratio is None:
        return center
    for _ in range(3):
        distance = np.linalg.norm(points - center, axis=1)
        center = points[distance <= max_ratio * float(np.median(distance))].mean(axis=0)
    return center


def fit_star_surface(
    image: NDArray[np.float32],
    region: NDArray[np.bool_],
    spacing_kji: Spacing,
    *,
    outer_level: float,
    noise_sigma: float,
    settings: RadialSettings | None = None,
) -> RadialFit:
    """Fit the star-shaped surface of the lesion around ``region``.

    Parameters
    ----------
    image : ndarray
        Lightly denoised intensities ``[k, j, i]`` of the cropped region of interest.
    region : ndarray of bool
        The grown lesion (after the leak cut); it sets the first centre, the
        search range of every ray and the radius of rays without an edge.
    spacing_kji : tuple of float
        Voxel size in mm in numpy axis order.
    outer_level : float
        First estimate of the lesion's outer level (re-measured on the fit).
    noise_sigma : float
        Noise of ``image``: a contrast below ``edge_sigmas`` times this is no edge.
    settings : RadialSettings, optional

    Returns
    -------
    RadialFit
        An empty region gives an empty fit.
    """
    settings = settings or RadialSettings()
    spacing = np.asarray(spacing_kji, dtype=np.float64)
    threshold = settings.edge_sigmas * noise_sigma
    surface_mm2 = 4.84 * (float(np.count_nonzero(region)) * float(np.prod(spacing))) ** (2 / 3)
    count = int(np.clip(surface_mm2 / settings.ray_area_mm2, settings.min_rays, settings.max_rays))
    # (k, j, i) components, the lattice's polar axis along k.
    directions = fibonacci_directions(count)[:, ::-1]
    tree = cKDTree(directions)
    _, neighbours = tree.query(directions, k=settings.neighbours)
    radii = np.arange(
        0.0, float(np.linalg.norm(np.asarray(region.shape) * spacing)), settings.step_mm
    )
    mask, level, edge_share = region, float(outer_level), 0.0
    center = np.zeros(3)
    first = True
    for _ in range(max(settings.rounds, 1)):
        if not mask.any():
            break
        # A centroid moves little when the region changes at its edges (another seed);
        # the first one ignores the far parts of the grown region (a leak along a
        # thin layer), the next ones are the previous fit's own.
        center = _robust_centroid(mask, spacing, settings.max_radius_ratio if first else None)
        first = False
        points = center[None, None, :] + directions[:, None, :] * radii[None, :, None]
        coordinates = (points / spacing).reshape(-1, 3).T
        profiles = ndimage.map_coordinates(image, coordinates, order=1, mode="nearest")
        profiles = profiles.reshape(count, radii.size).astype(np.float64)
        current = _exit_radii(mask, coordinates, radii, settings.step_mm)
        # A leak is an outlier among the radii; the fit searches near the lesion's own.
        current = np.minimum(current, settings.max_radius_ratio * float(np.median(current)))
        current, level, found = _converge(
            profiles, current, radii, level, threshold, neighbours, settings
        )
        layer = wrapping_layer_level(profiles, current, level, threshold, settings)
        if layer is not None:
            # The fit stopped at a core: the lesion goes on to the layer's outer edge.
            current, level, found = _converge(
                profiles,
                current + settings.max_layer_mm / 2,
                radii,
                layer,
                threshold,
                neighbours,
                settings,
            )
        mask = _star_mask(region.shape, spacing, center, tree, current)
        edge_share = float(np.count_nonzero(found)) / count
    return RadialFit(mask, center, edge_share, level)
