"""Seeded region growing for lesions and organs: robust start, layers, leak cut, local edges.

This is the engine behind the one-click tumor and the seeded organs. On a
cropped, denoised image it

1. finds the tissue class of the seed: the density peak of the intensities in
   a small ball, reached uphill from the seed's own value (mean shift), so a
   click on a blurred edge still picks the class it is closest to; its spread
   comes from the cleaner tail of the distribution, as the ball may reach into
   a neighbour;
2. grows a conservative region of that class (confidence-connected
   iterations: the window ``mean ± k·sigma`` is re-estimated from the region's
   interior until stable), and fills its cavities (necrosis, calcification);
3. checks whether that region is wrapped in one other class (the seed fell
   into a necrotic core, or into the centre of a rim-enhancing lesion): the
   enclosing layer is added when lesion and layer together stay a bounded
   blob, not an organ; when the enclosing class is the host organ itself,
   everything on the lesion's side of the host's intensity window up to the
   host is added instead (a thin rim between core and host);
4. cuts leaks into touching structures of similar intensity by shape: a
   marker-controlled watershed of the distance map splits the region at its
   necks, basins whose neck is wide compared with the larger of the two joined
   bodies are merged back (lobes of one lesion), and an opening with limited
   restoration removes thin appendages (vessels, bridges of noise);
5. moves every stretch of boundary to its own edge: within a band, each voxel
   joins the side (inside or outside) whose nearby intensity it is closer to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from skimage.morphology import h_maxima
from skimage.segmentation import watershed

from planning_core.errors import SegmentationError
from planning_core.progress import CancelToken
from planning_core.segmentation.morphology import (
    FACE_CONNECTIVITY,
    Spacing,
    ball_offsets,
    component_containing,
    dilate_mm,
    distance_to_mask_mm,
    erode_mm,
    fill_holes_3d,
    inside_distance_mm,
    largest_component,
    padded_box,
    surface_voxels,
)

Index = tuple[int, int, int]

#: A boundary follows an edge where inside and outside differ by this many noise sigmas.
EDGE_SIGMAS = 2.0


@dataclass(frozen=True)
class RegionSettings:
    """How a seeded region is grown.

    Parameters
    ----------
    smoothing_mm : float
        Standard deviation of the Gaussian denoising filter.
    median_radius_mm : float
        Radius of a median filter applied before the Gaussian (speckle); 0 for none.
    seed_radius_mm : float
        Radius of the ball around the seed whose intensities give the seed's class.
    bandwidth_sigmas : float
        Intensity resolution (mode search kernel, smallest class spread) in units
        of the image's local noise.
    window_sigmas : float
        Half-width, in robust standard deviations, of the class window.
    shell_gap_mm, shell_mm : float
        Neighbours are sampled between these distances outside the region: the
        gap skips the blurred edge, whose partial-volume values lie between classes.
    layer_gap_mm, layer_shell_mm : float
        The enclosing layer is looked for between these distances outside the
        inner region: close, so a rim a few millimetres thick dominates it.
    layer_max_ratio : float
        An enclosing layer is part of the lesion only if lesion and layer together
        are at most this many times the volume of the inner region.
    merge_neck_ratio : float
        Two watershed basins are one structure when their neck radius is at least
        this fraction of the larger basin's inscribed radius.
    opening_fraction : float
        Radius of the appendage-removing opening as a fraction of the inscribed
        radius of the structure.
    max_opening_mm : float
        Upper bound of that radius (large organs keep their vessels' entries).
    band_mm : float
        Half-width of the band in which the boundary is moved to the local edge.
    edge_smoothing_mm : float
        Gaussian denoising of the image the boundary is fitted on: lighter than
        ``smoothing_mm``, so edges stay sharp and thin layers (a rim) keep their level.
    edge_gap_mm : float
        Inside and outside levels of the boundary fit are sampled this far from it.
    refine_passes : int
        Boundary fits repeated until the boundary moves by less than 0.5 % of its voxels;
        0 keeps the region as the leak cut left it (a later fit places the boundary).
    fill_holes : bool
        Fill enclosed cavities (necrosis, calcification, renal sinus).
    """

    smoothing_mm: float = 1.0
    median_radius_mm: float = 0.0
    seed_radius_mm: float = 3.0
    bandwidth_sigmas: float = 2.0
    window_sigmas: float = 2.5
    shell_gap_mm: float = 2.0
    shell_mm: float = 5.0
    layer_gap_mm: float = 2.0
    layer_shell_mm: float = 5.0
    layer_max_ratio: float = 40.0
    merge_neck_ratio: float = 0.55
    opening_fraction: float = 0.5
    max_opening_mm: float = 8.0
    band_mm: float = 3.0
    edge_smoothing_mm: float = 0.5
    edge_gap_mm: float = 1.5
    refine_passes: int = 3
    flood_sigmas: float = 3.5
    fill_holes: bool = True


@dataclass(frozen=True)
class IntensityModel:
    """Intensity of the structure and of its nearest neighbours on the denoised image.

    ``lower``/``upper`` is the class window the region was grown with; a
    neighbour level is ``None`` when no neighbour on that side was seen.
    """

    mean: float
    sigma: float
    lower: float
    upper: float
    darker_neighbour: float | None = None
    brighter_neighbour: float | None = None

    @property
    def contrast_sigmas(self) -> float:
        """Smallest structure/neighbour contrast in units of the structure's spread."""
        gaps = [
            abs(self.mean - value)
            for value in (self.darker_neighbour, self.brighter_neighbour)
            if value is not None
        ]
        return min(gaps) / self.sigma if gaps else 0.0


@dataclass(frozen=True)
class SeededRegion:
    """A grown region on the cropped grid and how it was obtained.

    Attributes
    ----------
    mask : ndarray of bool
        The final region.
    grown : ndarray of bool
        The region before the leak cut (for diagnostics and as forbidden zone).
    smoothed : ndarray
        The denoised image the region was grown on.
    intensity : IntensityModel
        Class of the region's outer part and its neighbours.
    inscribed_radius_mm : float
        Radius of the largest ball inside the region before refinement.
    cut_fraction : float
        Share of ``grown`` removed by the leak cut.
    edge_support : float
        Share of the final boundary that lies on a visible edge.
    layered : bool
        True when an enclosing layer (viable rim around a necrotic seed) was added.
    edge_image : ndarray
        The lightly denoised image the boundary was fitted on.
    """

    mask: NDArray[np.bool_]
    grown: NDArray[np.bool_]
    smoothed: NDArray[np.float32]
    intensity: IntensityModel
    inscribed_radius_mm: float
    cut_fraction: float
    edge_support: float
    layered: bool
    edge_image: NDArray[np.float32]


def denoise(
    image: NDArray[np.generic], spacing_kji: Spacing, sigma_mm: float, median_radius_mm: float
) -> NDArray[np.float32]:
    """Median (when ``median_radius_mm > 0``) then Gaussian filtering with physical radii."""
    spacing = np.asarray(spacing_kji)
    result = np.asarray(image, dtype=np.float32)
    if median_radius_mm > 0:
        reach = np.maximum(np.rint(median_radius_mm / spacing).astype(int), 0)
        result = ndimage.median_filter(result, size=tuple(2 * reach + 1))
    if sigma_mm > 0:
        result = ndimage.gaussian_filter(result, sigma_mm / spacing, truncate=3.0)
    return result.astype(np.float32, copy=False)


def local_noise(smoothed: NDArray[np.float32]) -> float:
    """Typical standard deviation of the image within 3x3x3 neighbourhoods.

    Most neighbourhoods lie inside one tissue, so the median of the local
    standard deviations measures noise and fine texture, not edges.
    """
    mean = ndimage.uniform_filter(smoothed, size=3)
    mean_square = ndimage.uniform_filter(smoothed * smoothed, size=3)
    return float(np.sqrt(max(float(np.median(mean_square - mean * mean)), 0.0)))


def _robust(values: NDArray[np.floating]) -> tuple[float, float]:
    median = float(np.median(values))
    return median, 1.4826 * float(np.median(np.abs(values - median)))


def _ball_values(
    smoothed: NDArray[np.float32], seed: Index, radius_mm: float, spacing_kji: Spacing
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    offsets = ball_offsets(max(radius_mm, max(spacing_kji)), spacing_kji)
    points = offsets + np.asarray(seed)
    inside = np.all((points >= 0) & (points < np.asarray(smoothed.shape)), axis=1)
    points = points[inside]
    return points, smoothed[tuple(points.T)]


def intensity_mode(values: NDArray[np.floating], start: float, bandwidth: float) -> float:
    """The density peak of ``values`` reached uphill from ``start`` (Gaussian mean shift).

    A seed on a blurred edge has an in-between value; climbing the density of
    its neighbourhood's values leads to the tissue class it is closest to.
    """
    level = float(start)
    for _ in range(100):
        weights = np.exp(-0.5 * ((values - level) / bandwidth) ** 2)
        total = float(weights.sum())
        if total <= 1e-12:
            # No value lies within reach of the kernel (a noise-free, uniform fluid
            # gives a bandwidth at the noise floor, and a median between two values):
            # the nearest value is the nearest class; staying here would leave a level
            # no value has, and an empty class around it (a NaN mean and spread).
            return float(values.flat[int(np.argmin(np.abs(values - level)))])
        moved = float((weights * values).sum() / total)
        if abs(moved - level) < 1e-3 * bandwidth:
            return moved
        level = moved
    return level


def clean_tail_sigma(values: NDArray[np.floating], mode: float, bandwidth: float) -> float:
    """Spread of the class at ``mode`` from the cleaner of its two tails.

    Values sampled near a boundary include a neighbouring tissue, which fattens
    one tail of the distribution and would widen a window into that tissue;
    the tail with the smaller one-sided median deviation measures the class.
    """
    near = values[np.abs(values - mode) <= 3.0 * bandwidth]
    spreads = [
        1.4826 * float(np.median(np.abs(side - mode)))
        for side in (near[near <= mode], near[near >= mode])
        if side.size >= 8
    ]
    return max(min(spreads) if spreads else 0.0, 0.5 * bandwidth)


def _interior(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    interior = ndimage.binary_erosion(mask, structure=FACE_CONNECTIVITY)
    return interior if interior.sum() >= 8 else mask


def _component_near(
    window: NDArray[np.bool_], starts: NDArray[np.int64], smoothed: NDArray[np.float32], mean: float
) -> NDArray[np.bool_]:
    """Component of ``window`` holding the first start voxel inside it.

    ``starts`` lists candidate voxels, best first; when the first lies outside
    the window, the candidate whose value is closest to ``mean`` is used.
    """
    first = tuple(int(v) for v in starts[0])
    if window[first]:
        return component_containing(window, first)  # type: ignore[arg-type]
    inside = starts[window[tuple(starts.T)]]
    if inside.size == 0:
        return np.zeros_like(window)
    best = inside[int(np.argmin(np.abs(smoothed[tuple(inside.T)] - mean)))]
    return component_containing(window, tuple(int(v) for v in best))  # type: ignore[arg-type]


def confidence_connected(
    smoothed: NDArray[np.float32],
    starts: NDArray[np.int64],
    mean: float,
    sigma: float,
    *,
    window_sigmas: float,
    min_sigma: float,
    allowed: NDArray[np.bool_] | None = None,
    iterations: int = 3,
) -> tuple[NDArray[np.bool_], float, float]:
    """Grow the class ``mean ± window_sigmas·sigma`` from ``starts``, re-estimating it.

    Returns the region and the class mean and robust sigma measured in its
    interior. The region is empty when no start voxel falls in the window.
    """
    region = np.zeros(smoothed.shape, dtype=bool)
    for _ in range(iterations):
        half_width = window_sigmas * sigma
        window = (smoothed >= mean - half_width) & (smoothed <= mean + half_width)
        if allowed is not None:
            window &= allowed
        region = _component_near(window, starts, smoothed, mean)
        if not region.any():
            break
        mean, sigma = _robust(smoothed[_interior(region)])
        sigma = max(sigma, min_sigma)
    return region, mean, sigma


def _shell(
    region: NDArray[np.bool_], spacing_kji: Spacing, gap_mm: float, outer_mm: float
) -> NDArray[np.bool_]:
    near = distance_to_mask_mm(region, spacing_kji, within_mm=outer_mm)
    return (near > gap_mm) & (near <= outer_mm)


def _touches_array_border(mask: NDArray[np.bool_]) -> bool:
    return bool(
        mask[0].any()
        or mask[-1].any()
        or mask[:, 0].any()
        or mask[:, -1].any()
        or mask[:, :, 0].any()
        or mask[:, :, -1].any()
    )


def enclosing_layer(
    smoothed: NDArray[np.float32],
    region: NDArray[np.bool_],
    seed: Index,
    spacing_kji: Spacing,
    settings: RegionSettings,
    *,
    mean: float,
    sigma: float,
    bandwidth: float,
    allowed: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.bool_], float, float] | None:
    """The region wrapped in the one class that encloses it, if that stays a lesion.

    The shell just outside ``region`` must be dominated (70 %) by one class
    distinct from the region's; that class is grown from the shell voxels
    nearest to the seed. The union (cavities filled, leaks cut) is returned
    with the layer's mean and sigma when it still holds the whole region, does
    not reach the border of the cropped image and is at most
    ``layer_max_ratio`` times the region: a viable tumor around necrosis, a rim
    around a hypodense centre. An organ around a lesion is larger and reaches
    the border, so it is refused (``None``).
    """
    shell = _shell(region, spacing_kji, settings.layer_gap_mm, settings.layer_shell_mm)
    if allowed is not None:
        shell &= allowed
    values = smoothed[shell]
    if values.size < 8:
        return None
    level = intensity_mode(values, float(np.median(values)), bandwidth)
    _, spread = _robust(values[np.abs(values - level) <= 3.0 * bandwidth])
    spread = max(spread, 0.5 * bandwidth)
    in_class = np.abs(values - level) <= settings.window_sigmas * spread
    distinct = abs(level - mean) > settings.window_sigmas * max(sigma, spread)
    if not distinct or np.count_nonzero(in_class) < 0.7 * values.size:
        return None
    candidates = np.argwhere(shell)[in_class]
    order = np.argsort(((candidates - np.asarray(seed)) * np.asarray(spacing_kji)) ** 2 @ [1, 1, 1])
    layer, layer_mean, layer_sigma = confidence_connected(
        smoothed,
        candidates[order[:64]],
        level,
        clean_tail_sigma(values, level, bandwidth),
        window_sigmas=settings.window_sigmas,
        min_sigma=0.5 * bandwidth,
        allowed=allowed,
    )
    accepted = _bounded_union(layer, region, seed, spacing_kji, settings)
    if accepted is not None:
        return accepted, layer_mean, layer_sigma
    # The enclosing class is the host organ itself: the lesion then holds everything
    # up to the host's edge (a thin rim between a necrotic core and the host), all
    # voxels on the lesion's side of the host's class window.
    host_sigma = clean_tail_sigma(values, level, bandwidth)
    if level > mean:
        lesion_side = smoothed < level - settings.window_sigmas * host_sigma
    else:
        lesion_side = smoothed > level + settings.window_sigmas * host_sigma
    if allowed is not None:
        lesion_side &= allowed
    lesion = component_containing(lesion_side | region, _any_index(region, seed))
    accepted = _bounded_union(lesion, region, seed, spacing_kji, settings)
    if accepted is None:
        return None
    # The class of the lesion's outermost millimetre sets the boundary fit's inside level.
    outer = accepted & ~erode_mm(accepted, 0.5 * settings.shell_gap_mm, spacing_kji)
    outer_mean, outer_sigma = _robust(smoothed[outer])
    return accepted, outer_mean, max(outer_sigma, 0.5 * bandwidth)


def _bounded_union(
    layer: NDArray[np.bool_],
    region: NDArray[np.bool_],
    seed: Index,
    spacing_kji: Spacing,
    settings: RegionSettings,
) -> NDArray[np.bool_] | None:
    """``layer | region`` (holes filled, leaks cut) if it stays a bounded blob, else None."""
    if not layer.any():
        return None
    union, _ = cut_leaks(
        fill_holes_3d(layer | region), _any_index(region, seed), spacing_kji, settings
    )
    if _touches_array_border(union) or not np.all(union[region]):
        return None
    if np.count_nonzero(union) > settings.layer_max_ratio * np.count_nonzero(region):
        return None
    return union


def neighbour_levels(
    smoothed: NDArray[np.float32],
    mask: NDArray[np.bool_],
    spacing_kji: Spacing,
    settings: RegionSettings,
    *,
    mean: float,
    sigma: float,
    allowed: NDArray[np.bool_] | None = None,
) -> tuple[float | None, float | None]:
    """Levels of the nearest darker and brighter classes just outside ``mask``.

    Among shell values beyond the class window on one side, the quartile
    closest to the structure lies in the nearest class when that class holds a
    quarter of them, so a farther class never sets the contrast. A side is
    ``None`` when it holds less than 5 % of the shell.
    """
    shell = _shell(mask, spacing_kji, settings.shell_gap_mm, settings.shell_mm)
    if allowed is not None:
        shell &= allowed
    values = smoothed[shell]
    half_width = settings.window_sigmas * sigma
    darker = values[values < mean - half_width]
    brighter = values[values > mean + half_width]
    minimum = max(0.05 * values.size, 1.0)
    darker_level = float(np.quantile(darker, 0.75)) if darker.size >= minimum else None
    brighter_level = float(np.quantile(brighter, 0.25)) if brighter.size >= minimum else None
    return darker_level, brighter_level


def _basin_pairs(
    basins: NDArray[np.int32], distance: NDArray[np.float64]
) -> dict[tuple[int, int], float]:
    """Neck radius (largest min distance across the contact) of each touching basin pair."""
    necks: dict[tuple[int, int], float] = {}
    for axis in range(3):
        front = [slice(None)] * 3
        back = [slice(None)] * 3
        front[axis] = slice(1, None)
        back[axis] = slice(None, -1)
        a, b = basins[tuple(back)], basins[tuple(front)]
        touching = (a > 0) & (b > 0) & (a != b)
        if not touching.any():
            continue
        low = np.minimum(a[touching], b[touching])
        high = np.maximum(a[touching], b[touching])
        depth = np.minimum(distance[tuple(back)][touching], distance[tuple(front)][touching])
        order = np.lexsort((depth, high, low))
        low, high, depth = low[order], high[order], depth[order]
        last = np.ones(low.size, dtype=bool)
        last[:-1] = (low[1:] != low[:-1]) | (high[1:] != high[:-1])
        for first_label, second_label, neck in zip(low[last], high[last], depth[last], strict=True):
            key = (int(first_label), int(second_label))
            necks[key] = max(necks.get(key, 0.0), float(neck))
    return necks


def split_at_necks(
    mask: NDArray[np.bool_],
    seed: Index,
    spacing_kji: Spacing,
    *,
    merge_neck_ratio: float,
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """The part of ``mask`` around ``seed`` after splitting it at narrow necks.

    Returns the kept part and the inside distance map of ``mask`` (mm). The
    work runs on the bounding box of ``mask`` (one voxel of background around
    it), so its cost follows the structure, not the region of interest.
    """
    box = padded_box(mask, np.ones(3, dtype=np.int64))
    if box is None:
        return mask.copy(), np.zeros(mask.shape)
    local_seed = tuple(int(s) - b.start for s, b in zip(seed, box, strict=True))
    inside = tuple(0 <= v < b.stop - b.start for v, b in zip(local_seed, box, strict=True))
    anchor = local_seed if all(inside) else _any_index(mask[box], (0, 0, 0))
    kept_box, distance_box = _split_in_box(
        mask[box], anchor, spacing_kji, merge_neck_ratio=merge_neck_ratio
    )
    kept = np.zeros_like(mask)
    kept[box] = kept_box
    distance = np.zeros(mask.shape)
    distance[box] = distance_box
    return kept, distance


def _split_in_box(
    mask: NDArray[np.bool_],
    seed: Index,
    spacing_kji: Spacing,
    *,
    merge_neck_ratio: float,
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    distance = inside_distance_mm(mask, spacing_kji)
    # Maxima lower than a voxel above their saddle are noise in the distance map.
    height = 1.01 * max(spacing_kji)
    peaks, _ = ndimage.label(h_maxima(distance, height) & mask)
    basins = watershed(-distance, peaks, mask=mask, connectivity=1).astype(np.int32)
    count = int(basins.max())
    if count <= 1:
        return mask, distance
    peak_radius = ndimage.maximum(distance, basins, index=np.arange(count + 1))
    parent = list(range(count + 1))

    def root(label: int) -> int:
        while parent[label] != label:
            parent[label] = parent[parent[label]]
            label = parent[label]
        return label

    necks = _basin_pairs(basins, distance)
    group_radius = {label: float(peak_radius[label]) for label in range(count + 1)}
    for (a, b), neck in sorted(necks.items(), key=lambda item: -item[1]):
        ra, rb = root(a), root(b)
        if ra == rb:
            continue
        if neck >= merge_neck_ratio * max(group_radius[ra], group_radius[rb]):
            parent[rb] = ra
            group_radius[ra] = max(group_radius[ra], group_radius[rb])
    seed_basin = int(basins[seed]) if basins[seed] else int(basins[tuple(np.argwhere(mask)[0])])
    keep_root = root(seed_basin)
    keep = np.array([root(label) == keep_root for label in range(count + 1)])
    keep[0] = False
    return keep[basins], distance


def remove_appendages(
    mask: NDArray[np.bool_],
    seed: Index,
    spacing_kji: Spacing,
    *,
    radius_mm: float,
) -> NDArray[np.bool_]:
    """Remove parts thinner than ``2 * radius_mm`` that reach farther than ``radius_mm``.

    The mask is opened with a ball of ``radius_mm``; the body holding the seed
    (or the largest body) is then allowed back up to ``radius_mm`` beyond
    itself, which restores short bumps and the shape detail the opening
    rounded off, but not a long vessel or bridge.
    """
    opened = dilate_mm(erode_mm(mask, radius_mm, spacing_kji), radius_mm, spacing_kji) & mask
    if not opened.any():
        return mask
    labels, _ = ndimage.label(opened, structure=FACE_CONNECTIVITY)
    if labels[seed]:
        body = labels == labels[seed]
    else:
        # The seed sat in a removed appendage: keep the body nearest to it.
        nearest = ndimage.distance_transform_edt(
            labels == 0, sampling=spacing_kji, return_distances=False, return_indices=True
        )
        body = labels == labels[tuple(int(axis[seed]) for axis in nearest)]
    restored = dilate_mm(body, radius_mm, spacing_kji) & mask
    return component_containing(restored, _any_index(restored, seed))


def _any_index(mask: NDArray[np.bool_], preferred: Index) -> Index:
    if mask[preferred]:
        return preferred
    k, j, i = (int(v) for v in np.argwhere(mask)[0])
    return k, j, i


def _nearest_value(
    smoothed: NDArray[np.float32], sample: NDArray[np.bool_], spacing_kji: Spacing
) -> NDArray[np.float32]:
    """Each voxel gets the intensity of the nearest ``sample`` voxel (mm distance).

    No averaging: a window would mix the tissues that meet around a lesion
    (air and chest wall around a juxtapleural nodule) into one meaningless level.
    """
    nearest = ndimage.distance_transform_edt(
        ~sample, sampling=spacing_kji, return_distances=False, return_indices=True
    )
    return smoothed[tuple(nearest)]


def refine_boundary(
    smoothed: NDArray[np.float32],
    body: NDArray[np.bool_],
    seed: Index,
    spacing_kji: Spacing,
    *,
    sigma: float,
    band_mm: float,
    gap_mm: float,
    forbidden: NDArray[np.bool_] | None = None,
    outer_class: tuple[float, float, float] | None = None,
) -> tuple[NDArray[np.bool_], float]:
    """Move the boundary of ``body`` to the local halfway level between inside and outside.

    Within ``band_mm`` of the boundary each voxel joins the side whose local
    intensity it is closer to: the intensity of the nearest voxel deeper than
    ``gap_mm`` inside the body, or of the nearest voxel ``gap_mm`` to
    ``gap_mm + band_mm`` outside it (or in ``forbidden``). This is the pointwise
    minimiser of a local two-region (Chan-Vese) fitting energy: every stretch
    of boundary follows its own edge, whatever the neighbour there (fat, an
    enhancing organ, a similar organ). Where the local contrast is below
    ``EDGE_SIGMAS * sigma`` there is no edge to follow and the body is kept.

    ``outer_class`` ``(mean, lower, upper)`` is the class of the structure's
    outer layer: an inside level outside ``[lower, upper]`` was sampled beyond a
    thin layer (the core under a rim) and is replaced by ``mean``, so the
    boundary follows the layer's outer edge, not its inner one.

    Returns
    -------
    mask : ndarray of bool
        The refined region (the component holding ``seed``, holes filled).
    edge_support : float
        Fraction of its boundary voxels that lie on a visible edge; the rest
        was drawn by the shape-based leak cut.
    """
    inner = erode_mm(body, gap_mm, spacing_kji)
    if not inner.any():
        inner = body
    outside_distance = distance_to_mask_mm(body, spacing_kji, within_mm=gap_mm + band_mm)
    outer = (outside_distance > gap_mm) & (outside_distance <= gap_mm + band_mm)
    if forbidden is not None:
        outer |= forbidden & (outside_distance <= gap_mm + band_mm)
    if not outer.any():
        return body, 0.0
    band = dilate_mm(body, band_mm, spacing_kji) & ~erode_mm(body, band_mm, spacing_kji)
    inside_level = _nearest_value(smoothed, inner, spacing_kji)
    if outer_class is not None:
        mean, lower, upper = outer_class
        inside_level[(inside_level < lower) | (inside_level > upper)] = mean
    outside_level = _nearest_value(smoothed, outer, spacing_kji)
    edge = np.abs(inside_level - outside_level) >= EDGE_SIGMAS * sigma
    closer_inside = np.abs(smoothed - inside_level) <= np.abs(smoothed - outside_level)
    refined = body.copy()
    decided = band & edge
    refined[decided] = closer_inside[decided]
    if forbidden is not None:
        refined &= ~forbidden
    # The seed may sit in a voxel the fit gave away (a necrotic core under a rim,
    # speckle): then the body is the largest part, not whichever part comes first.
    kept = component_containing(refined, seed) if refined[seed] else largest_component(refined)
    refined = fill_holes_3d(kept)
    boundary = surface_voxels(refined)
    return refined, float(np.count_nonzero(edge & boundary)) / max(int(boundary.sum()), 1)


def flood_to_edges(
    smoothed: NDArray[np.float32],
    marker: NDArray[np.bool_],
    spacing_kji: Spacing,
    *,
    mean: float,
    sigma: float,
    background_sigmas: float,
    reach_mm: float = 10.0,
    allowed: NDArray[np.bool_] | None = None,
) -> NDArray[np.bool_]:
    """Extend ``marker`` up to the strongest edges around it (marker-controlled watershed).

    Voxels farther than ``background_sigmas * sigma`` from the class mean mark
    other tissues; the gradient magnitude (per mm) is flooded from both kinds
    of marker, so the lesion takes every voxel it reaches before meeting
    another tissue, whatever the texture inside it, and the two meet on the
    ridge of the gradient, the middle of the blurred edge. The flood reaches at
    most ``reach_mm`` beyond the bounding box of ``marker``.
    """
    box = padded_box(marker, np.ceil(reach_mm / np.asarray(spacing_kji)).astype(np.int64))
    if box is None:
        return marker.copy()
    image = smoothed[box]
    gradient = np.sqrt(
        sum(g * g for g in np.gradient(image, *spacing_kji))  # type: ignore[misc]
    ).astype(np.float32)
    markers = np.zeros(image.shape, dtype=np.int32)
    other = np.abs(image - mean) > background_sigmas * sigma
    if allowed is not None:
        other |= ~allowed[box]
    # The box's faces are other tissue, so the flood stays within reach of the marker.
    frame = np.ones(image.shape, dtype=bool)
    frame[1:-1, 1:-1, 1:-1] = False
    local_marker = marker[box]
    seeds_other = (other | frame) & ~ndimage.binary_dilation(
        local_marker, structure=FACE_CONNECTIVITY
    )
    markers[seeds_other] = 2
    markers[local_marker] = 1
    flooded = np.zeros_like(marker)
    flooded[box] = watershed(gradient, markers, connectivity=1) == 1
    return flooded | marker


def cut_leaks(
    region: NDArray[np.bool_], anchor: Index, spacing_kji: Spacing, settings: RegionSettings
) -> tuple[NDArray[np.bool_], float]:
    """The body of ``region`` around ``anchor`` without neighbours joined by necks or appendages.

    Returns the body (cavities filled when the settings ask for it) and its
    inscribed radius in mm.
    """
    body, distance = split_at_necks(
        region, anchor, spacing_kji, merge_neck_ratio=settings.merge_neck_ratio
    )
    inscribed = float(distance[body].max())
    radius = min(settings.opening_fraction * inscribed, settings.max_opening_mm)
    if radius >= 1.5 * min(spacing_kji):
        body = remove_appendages(body, _any_index(body, anchor), spacing_kji, radius_mm=radius)
    if settings.fill_holes:
        body = fill_holes_3d(body)
    return body, inscribed


def _seed_region(
    smoothed: NDArray[np.float32],
    seed: Index,
    points: NDArray[np.int64],
    values: NDArray[np.float32],
    bandwidth: float,
    settings: RegionSettings,
    allowed: NDArray[np.bool_] | None,
) -> tuple[NDArray[np.bool_], float, float]:
    """The first region of the seed's tissue class, with the class mean and sigma.

    The class is the density mode of the seed ball's values reached from the
    seed's own value.
    """
    mean = intensity_mode(values, float(smoothed[seed]), bandwidth)
    sigma = clean_tail_sigma(values, mean, bandwidth)
    return confidence_connected(
        smoothed,
        points,
        mean,
        max(sigma, 0.5 * bandwidth),
        window_sigmas=settings.window_sigmas,
        min_sigma=0.5 * bandwidth,
        allowed=allowed,
    )


def grow_from_seed(
    image: NDArray[np.generic],
    seed: Index,
    spacing_kji: Spacing,
    settings: RegionSettings,
    *,
    noise_floor: float = 1e-3,
    allowed: NDArray[np.bool_] | None = None,
    cancel: CancelToken | None = None,
) -> SeededRegion:
    """Grow the structure holding ``seed`` in ``image`` (a cropped region).

    Parameters
    ----------
    image : ndarray
        Intensities ``[k, j, i]`` of the region of interest.
    seed : tuple of int
        Seed index ``(k, j, i)`` inside ``image``.
    spacing_kji : tuple of float
        Voxel size in mm in numpy axis order.
    settings : RegionSettings
        Filter sizes and leak-cut parameters.
    noise_floor : float
        Smallest intensity resolution (same unit as ``image``).
    allowed : ndarray of bool, optional
        Voxels the region may occupy (a user's box, another label excluded).
    cancel : CancelToken, optional
        Polled between steps.

    Raises
    ------
    SegmentationError
        When nothing around the seed can be grown.
    """

    def checkpoint() -> None:
        if cancel is not None:
            cancel.raise_if_cancelled()

    despeckled = denoise(image, spacing_kji, 0.0, settings.median_radius_mm)
    smoothed = denoise(despeckled, spacing_kji, settings.smoothing_mm, 0.0)
    checkpoint()
    bandwidth = max(settings.bandwidth_sigmas * local_noise(smoothed), noise_floor)
    points, values = _ball_values(smoothed, seed, settings.seed_radius_mm, spacing_kji)
    # The seed first, then the ball voxels nearest to it.
    order = np.argsort((((points - np.asarray(seed)) * np.asarray(spacing_kji)) ** 2).sum(axis=1))
    region, mean, sigma = _seed_region(
        smoothed, seed, points[order], values[order], bandwidth, settings, allowed
    )
    if not region.any():
        raise SegmentationError(
            "nothing could be grown from the seed: no voxel near it lies in the intensity "
            f"window {mean:.1f} ± {settings.window_sigmas * sigma:.1f}. Move the seed into "
            "the structure."
        )
    if settings.fill_holes:
        region = fill_holes_3d(region)
    checkpoint()
    layered = False
    if settings.fill_holes:
        wrapped = enclosing_layer(
            smoothed,
            region,
            seed,
            spacing_kji,
            settings,
            mean=mean,
            sigma=sigma,
            bandwidth=bandwidth,
            allowed=allowed,
        )
        if wrapped is not None:
            region, mean, sigma = wrapped
            layered = True
    if allowed is not None:
        region &= allowed
    checkpoint()
    if settings.flood_sigmas > 0:
        region = flood_to_edges(
            smoothed,
            region,
            spacing_kji,
            mean=mean,
            sigma=sigma,
            background_sigmas=settings.flood_sigmas,
            allowed=allowed,
        )
        if settings.fill_holes:
            region = fill_holes_3d(region)
    checkpoint()
    body, inscribed = cut_leaks(region, _any_index(region, seed), spacing_kji, settings)
    checkpoint()
    forbidden = region & ~body
    if allowed is not None:
        forbidden |= ~allowed
    edge_image = (
        smoothed
        if settings.edge_smoothing_mm == settings.smoothing_mm
        else denoise(despeckled, spacing_kji, settings.edge_smoothing_mm, 0.0)
    )
    edge_support = 0.0
    half_width = settings.window_sigmas * sigma
    for _ in range(settings.refine_passes):
        refined, edge_support = refine_boundary(
            edge_image,
            body,
            _any_index(body, seed),
            spacing_kji,
            sigma=sigma,
            band_mm=settings.band_mm,
            gap_mm=settings.edge_gap_mm,
            forbidden=forbidden,
            outer_class=(mean, mean - half_width, mean + half_width) if layered else None,
        )
        moved = int(np.count_nonzero(refined != body))
        body = refined
        checkpoint()
        if moved <= 0.005 * np.count_nonzero(body):
            break
    darker, brighter = neighbour_levels(
        smoothed, body, spacing_kji, settings, mean=mean, sigma=sigma, allowed=allowed
    )
    half_width = settings.window_sigmas * sigma
    model = IntensityModel(mean, sigma, mean - half_width, mean + half_width, darker, brighter)
    cut_fraction = float(np.count_nonzero(region & ~body)) / float(np.count_nonzero(region))
    return SeededRegion(
        body, region, smoothed, model, inscribed, cut_fraction, edge_support, layered, edge_image
    )
