"""Coarse working grid, intensity classes and the random walker for drawn lesions.

Shared by the diameter line (:mod:`~planning_core.segmentation.lesion_line`) and the
strokes (:mod:`~planning_core.segmentation.strokes`) through
:mod:`~planning_core.segmentation.seeded_lesion`:

* :func:`work_grid`: the box around the drawn lesion averaged down by whole blocks
  to about 2 mm (at most ``MAX_WORK_VOXELS``), which lowers the noise and bounds the
  cost whatever the lesion's size;
* :func:`class_posterior`: Bayes' lesion probability from kernel densities of the
  values under the lesion seeds and the background samples, each density split into
  its tissue classes (a lesion is a mixture: necrosis, viable tumor, rim, calcification);
* :func:`lesion_probability`: scikit-image's random walker, which places the final
  boundary on the intensity edges within a band around the classified region.

Why the random walker, and only in a band
-----------------------------------------
The random walker (Grady 2006) gives each unlabelled voxel the probability that a
walk from it first reaches a lesion seed; walks rarely cross strong edges. It is kept
and tested in scikit-image, deterministic, has one parameter (``beta``, set here from
the measured noise: :func:`walker_beta`) and does not leak through one-voxel gaps as
region growing does. Run on the whole box from a thin line or stroke it fails: the
probability of reaching a thin seed falls off quickly with distance, so every weak
edge is lost to the large background (Dice 0.13 on an inserted liver metastasis; the
full solve also took 8-12 s). A grow-cut style competition (Dijkstra, tried too) has
the opposite bias and floods the host organ from a lesion stroke (Dice 0.1-0.5). So
the lesion is first classified from its intensity classes and the size prior
(:mod:`~planning_core.segmentation.seeded_lesion`), and the walker only decides a
band a few voxels wide around that region, seeded on both sides: there the edges
decide, and the solve takes a few tens of milliseconds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from skimage.segmentation import random_walker

from planning_core.imaging.geometry import Geometry
from planning_core.imaging.volume import Volume
from planning_core.segmentation.roi import Roi

#: The coarse grid keeps at most about this many voxels: the random walker's solve then
#: stays well under a second on one core (measured in benchmarks/bench_segment.py).
MAX_WORK_VOXELS = 200_000

#: Grid spacing never coarser than this: a 2 mm voxel still resolves a 10 mm lesion
#: (5 voxels across), the smallest lesion a percutaneous ablation is planned for.
MAX_WORK_SPACING_MM = 2.2

#: Two neighbours whose values differ by this many noise sigmas are linked with weight
#: exp(-1/2): an edge of 2 noise sigmas is where a boundary becomes visible to a reader
#: (the same criterion as ``region.EDGE_SIGMAS``).
EDGE_SIGMAS = 2.0

#: Smallest kernel bandwidth of the intensity classes: CT numbers of one tissue drift by
#: about +-5 HU within a scan (water calibration tolerance, beam hardening).
MIN_BANDWIDTH = 5.0

#: Label values on the coarse grid.
UNLABELLED, LESION, BACKGROUND = 0, 1, 2


@dataclass(frozen=True)
class WorkGrid:
    """A box of the image, averaged down by whole blocks of voxels.

    Attributes
    ----------
    roi : Roi
        The box on the full grid (a whole number of blocks wide).
    factors_kji : tuple of int
        Block size per axis.
    image : ndarray
        Block means of the image, ``float32``.
    spacing_kji_mm : tuple of float
        Spacing of the coarse grid.
    noise : float
        Standard deviation of the noise of ``image`` (robust, from neighbour
        differences).
    """

    roi: Roi
    factors_kji: tuple[int, int, int]
    image: NDArray[np.float32]
    spacing_kji_mm: tuple[float, float, float]
    noise: float

    @property
    def shape(self) -> tuple[int, int, int]:
        k, j, i = self.image.shape
        return k, j, i

    def lps_to_work(self, geometry: Geometry, points_lps_mm: NDArray[np.float64]) -> NDArray:
        """Fractional coarse-grid indices ``(k, j, i)`` of LPS points, shape ``(N, 3)``."""
        ijk = geometry.lps_to_index(np.asarray(points_lps_mm, dtype=np.float64).reshape(-1, 3))
        kji = ijk[:, ::-1] - np.asarray(self.roi.start_kji)
        factors = np.asarray(self.factors_kji, dtype=np.float64)
        # Block b covers fine voxels b*f .. b*f+f-1; its centre is b*f + (f-1)/2.
        return (kji - (factors - 1.0) / 2.0) / factors

    def work_centres_mm(self) -> tuple[NDArray[np.float64], ...]:
        """Coordinates (mm) of the coarse voxel centres along k, j, i (for distance maps)."""
        return tuple(
            np.arange(n, dtype=np.float64) * s
            for n, s in zip(self.shape, self.spacing_kji_mm, strict=True)
        )

    def to_roi(self, probability: NDArray[np.float32]) -> NDArray[np.float32]:
        """Linear interpolation of a coarse-grid map onto the fine voxels of the box."""
        axes = [
            (np.arange(n, dtype=np.float64) - (f - 1) / 2.0) / f
            for n, f in zip(self.roi.shape, self.factors_kji, strict=True)
        ]
        result = probability
        for axis, coordinates in enumerate(axes):
            lower = np.clip(np.floor(coordinates).astype(int), 0, probability.shape[axis] - 1)
            upper = np.clip(lower + 1, 0, probability.shape[axis] - 1)
            weight = np.clip(coordinates - lower, 0.0, 1.0).astype(np.float32)
            shape = [1, 1, 1]
            shape[axis] = -1
            weight = weight.reshape(shape)
            result = (
                np.take(result, lower, axis=axis) * (1 - weight)
                + np.take(result, upper, axis=axis) * weight
            )
        return result.astype(np.float32)


def block_factors(geometry: Geometry, half_size_mm: float) -> tuple[int, int, int]:
    """Whole-voxel block sizes giving a grid of at most ``MAX_WORK_VOXELS`` for a box of
    half-width ``half_size_mm``, never coarser than ``MAX_WORK_SPACING_MM`` unless the box
    needs it."""
    spacing = np.asarray(geometry.spacing_kji_mm, dtype=np.float64)
    target_mm = max(float((2.0 * half_size_mm) ** 3 / MAX_WORK_VOXELS) ** (1.0 / 3.0), 1.0)
    target_mm = max(target_mm, min(MAX_WORK_SPACING_MM, target_mm * 1.5))
    factors = np.maximum(np.rint(target_mm / spacing).astype(int), 1)
    k, j, i = (int(v) for v in factors)
    return k, j, i


def noise_sigma(image: NDArray[np.float32]) -> float:
    """Robust noise standard deviation from differences of neighbours along i.

    The median absolute difference ignores the few differences across edges;
    a difference of two independent samples has ``sqrt(2)`` times their sigma.
    """
    differences = np.diff(image, axis=-1).ravel()
    mad = float(np.median(np.abs(differences - np.median(differences))))
    return max(1.4826 * mad / np.sqrt(2.0), 1e-3)


def work_grid(volume: Volume, roi: Roi, factors_kji: tuple[int, int, int]) -> WorkGrid:
    """Block means of ``volume`` in ``roi`` (trimmed to whole blocks)."""
    factors = np.asarray(factors_kji)
    shape = np.asarray(roi.shape) // factors
    shape = np.maximum(shape, 1)
    stop = np.minimum(np.asarray(roi.start_kji) + shape * factors, roi.grid_shape)
    shape = (stop - np.asarray(roi.start_kji)) // factors
    stop = np.asarray(roi.start_kji) + shape * factors
    trimmed = Roi(roi.start_kji, tuple(int(v) for v in stop), roi.grid_shape)  # type: ignore[arg-type]
    crop = np.asarray(trimmed.crop(volume.voxels), dtype=np.float32)
    fk, fj, fi = (int(v) for v in factors)
    sk, sj, si = (int(v) for v in shape)
    blocks = crop.reshape(sk, fk, sj, fj, si, fi).mean(axis=(1, 3, 5), dtype=np.float32)
    spacing = tuple(
        float(s * f) for s, f in zip(volume.geometry.spacing_kji_mm, factors, strict=True)
    )
    return WorkGrid(
        trimmed,
        (fk, fj, fi),
        blocks,
        spacing,  # type: ignore[arg-type]
        noise_sigma(blocks),
    )


def walker_beta(feature: NDArray[np.float32], edge_scale: float) -> float:
    """scikit-image's ``beta`` that gives neighbour weights ``exp(-d**2 / (2 edge_scale**2))``.

    scikit-image divides ``beta`` by ``10 * feature.std()`` (unit spacing); this undoes it so
    the weights depend on the physical contrast, not on what else lies in the box.
    """
    return float(10.0 * max(float(feature.std()), 1e-6) / (2.0 * edge_scale**2))


def lesion_probability(
    feature: NDArray[np.float32], labels: NDArray[np.int32], edge_scale: float
) -> NDArray[np.float32]:
    """Random-walker probability of the lesion label on the coarse grid.

    Needs at least one voxel of each label; voxels not connected to any seed keep 0.
    """
    with warnings.catch_warnings():
        # Voxels cut off from every seed and slight overshoots of the iterative solve
        # are warned about; both are handled by the clip below.
        warnings.simplefilter("ignore", UserWarning)
        probabilities = random_walker(
            feature,
            labels,
            beta=walker_beta(feature, edge_scale),
            mode="cg_j",
            tol=1e-3,
            return_full_prob=True,
        )
    return np.clip(np.asarray(probabilities[LESION - 1], dtype=np.float32), 0.0, 1.0)


def paint_balls(
    labels: NDArray[np.int32],
    points_kji: NDArray[np.float64],
    radius_mm: float,
    spacing_kji_mm: tuple[float, float, float],
    value: int,
) -> int:
    """Set ``value`` on every coarse voxel within ``radius_mm`` of each point (at least the
    nearest voxel); returns how many points fell inside the grid."""
    spacing = np.asarray(spacing_kji_mm)
    reach = np.ceil(radius_mm / spacing).astype(int)
    grid = np.stack(
        np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij"), axis=-1
    ).reshape(-1, 3)
    shape = np.asarray(labels.shape)
    inside_count = 0
    for point in np.asarray(points_kji, dtype=np.float64).reshape(-1, 3):
        nearest = np.rint(point).astype(int)
        if np.any(nearest < 0) or np.any(nearest >= shape):
            continue
        inside_count += 1
        candidates = nearest + grid
        distance = np.linalg.norm((candidates - point) * spacing, axis=1)
        keep = (distance <= radius_mm) & np.all((candidates >= 0) & (candidates < shape), axis=1)
        labels[tuple(candidates[keep].T)] = value
        labels[tuple(nearest)] = value
    return inside_count


def class_bandwidth(grid: WorkGrid) -> float:
    """Kernel bandwidth of the intensity classes: twice the noise (one class's values spread
    by the noise on both sides of its mean), at least ``MIN_BANDWIDTH``."""
    return max(EDGE_SIGMAS * grid.noise, MIN_BANDWIDTH)


def kernel_density(
    samples: NDArray[np.float64], low: float, high: float, bandwidth: float, bin_width: float
) -> NDArray[np.float64]:
    """Gaussian kernel density (share per bin) of ``samples`` on bins of ``bin_width`` from
    ``low``."""
    bins = int(np.ceil((high - low) / bin_width)) + 1
    histogram = np.bincount(
        np.clip(((samples - low) / bin_width).astype(int), 0, bins - 1), minlength=bins
    ).astype(np.float64)
    smooth = ndimage.gaussian_filter1d(histogram, bandwidth / bin_width, mode="constant")
    return smooth / max(float(smooth.sum()), 1e-12)


#: A tissue class is a density peak holding at least this share of its source's samples
#: (and at least ``MIN_CLASS_SAMPLES``): fewer are partial-volume values or noise.
MIN_CLASS_SHARE = 0.02
MIN_CLASS_SAMPLES = 3


def class_densities(density: NDArray[np.float64], sample_count: int) -> NDArray[np.float64]:
    """Split a kernel density into its peaks (each bin belongs to the peak it climbs to) and
    scale each peak to unit mass; returns ``(peaks, bins)``.

    A lesion is a mixture of tissues (necrosis, rim, calcification) in whatever
    proportions; a voxel's value says which tissue it is, not how much of the lesion
    that tissue fills. Comparing each class at unit mass puts the boundary between a
    lesion class and a background class at the halfway level between them, however
    small a share of the lesion the class is.
    """
    bins = density.size
    # Each bin climbs to its higher neighbour until it reaches a local peak.
    left = np.r_[-np.inf, density[:-1]]
    right = np.r_[density[1:], -np.inf]
    step = np.where(right > np.maximum(left, density), 1, np.where(left > density, -1, 0))
    target = np.arange(bins) + step
    for _ in range(int(np.ceil(np.log2(max(bins, 2)))) + 1):
        target = target[target]
    peaks = np.unique(target)
    mass = np.array([density[target == peak].sum() for peak in peaks])
    total = max(float(mass.sum()), 1e-12)
    minimum = max(MIN_CLASS_SHARE, MIN_CLASS_SAMPLES / max(sample_count, 1))
    kept = [peak for peak, share in zip(peaks, mass / total, strict=True) if share >= minimum]
    if not kept:
        return (density / total)[np.newaxis]
    rows = []
    for peak in kept:
        member = np.where(target == peak, density, 0.0)
        rows.append(member / max(float(member.sum()), 1e-12))
    return np.asarray(rows)


def class_posterior(
    image: NDArray[np.float32],
    lesion_sources: list[NDArray[np.float64]],
    background_sources: list[tuple[NDArray[np.float64], NDArray[np.float32] | float]],
    prior: NDArray[np.float32] | float,
    bandwidth: float,
) -> NDArray[np.float32]:
    """Bayes' lesion probability of each voxel from kernel densities of sampled values.

    Each source's density is split into tissue classes (:func:`class_densities`); a
    value's likelihood under lesion or background is that of the best-fitting class of
    any of its sources, so a few painted voxels count as much as thousands of sampled
    ones. Background sources come with a weight per voxel (or one for all): where a
    source's tissues cannot be (far tissues deep inside the drawn lesion) its weight is
    0. A value neither class has seen keeps the prior.
    """
    lesion_sources = [np.asarray(v, dtype=np.float64) for v in lesion_sources if len(v)]
    background_sources = [
        (np.asarray(v, dtype=np.float64), w) for v, w in background_sources if len(v)
    ]
    everything = [
        image.ravel().astype(np.float64),
        *lesion_sources,
        *(v for v, _ in background_sources),
    ]
    low = min(float(v.min()) for v in everything) - 4.0 * bandwidth
    high = max(float(v.max()) for v in everything) + 4.0 * bandwidth
    bin_width = bandwidth / 4.0
    floor = 1e-4 / (high - low)
    bins = int(np.ceil((high - low) / bin_width)) + 1
    index = np.clip(((image - low) / bin_width).astype(int), 0, bins - 1)

    def best_class(values: NDArray[np.float64]) -> NDArray[np.float64]:
        # The likelihood of a value is that of the tissue class it fits best.
        densities = class_densities(
            kernel_density(values, low, high, bandwidth, bin_width), values.size
        )
        return densities.max(axis=0) / bin_width

    lesion_like = np.full(image.shape, floor)
    for values in lesion_sources:
        lesion_like = np.maximum(lesion_like, best_class(values)[index])
    background_like = np.full(image.shape, floor)
    for values, weight in background_sources:
        background_like = np.maximum(background_like, weight * best_class(values)[index])
    lesion_like = prior * lesion_like
    background_like = (1.0 - np.asarray(prior)) * background_like
    return (lesion_like / (lesion_like + background_like)).astype(np.float32)
