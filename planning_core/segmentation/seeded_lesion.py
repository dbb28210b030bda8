"""A lesion from "lesion" and "not lesion" seeds with a size prior, on a coarse grid.

The common core of the diameter line (:mod:`~planning_core.segmentation.lesion_line`)
and the strokes (:mod:`~planning_core.segmentation.strokes`); the reasons for each
step are given in :mod:`~planning_core.segmentation.lesion_line`. In short:

1. a shape prior: an ellipsoid of semi-axes ``half_mm`` in the slice and
   ``CRANIOCAUDAL_FACTOR * half_mm`` across slices around the drawn lesion's
   centre; with ``rho`` the normalised radius, the prior lesion probability is
   1/2 for ``rho <= 1``, falls to ``OUTER_PRIOR`` at ``BOUND_RHO`` and beyond
   that every voxel is "not lesion";
2. intensity classes as kernel densities split into tissue classes: the
   lesion's from the lesion seeds (all the classes they cross, a mixture; one
   source per connected stroke, so a later stroke never flattens an earlier
   stroke's classes; strokes at the host's level only by position), the
   host's from the not-lesion seeds, far tissues' from a shell beyond the bound
   (competing only where they continue from there: :func:`_posterior`);
3. the lesion region: the smoothed Bayes probability above one half, opened to
   cut thin touching vessels, connected to the lesion seeds, holes filled;
4. one GrabCut-style refit of the lesion's classes from the region, and step 3
   again;
5. the boundary placed on the intensity edges by scikit-image's random walker
   in a band from one coarse voxel inside the region to ``WALL_MM`` outside it;
6. for a drawn diameter, :func:`grow_to_drawn_ends` adds an outer layer the
   classes could not see, as thick as the result falls short of the line's ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.imaging.geometry import Geometry
from planning_core.progress import CancelToken, ProgressCallback
from planning_core.segmentation import competitive
from planning_core.segmentation.morphology import dilate_mm, fill_holes_3d, open_mm

#: Cranio-caudal semi-axis of the prior ellipsoid in units of the in-slice one: RECIST
#: measures in the axial plane only, and abdominal tumors grow along their organ's long
#: (cranio-caudal) axis, so they are often somewhat longer there.
CRANIOCAUDAL_FACTOR = 1.2
#: Normalised radius beyond which everything is "not lesion": 30 % margin for a line drawn
#: short or off-centre (RECIST reader variability is 10-20 %) and for a lesion whose centre
#: is not the line's midpoint.
BOUND_RHO = 1.3
#: The background shell for the intensity model reaches this far (normalised radius).
SHELL_RHO = 1.7
#: Lesion prior at the bound (it is 1/2 inside the ellipsoid).
OUTER_PRIOR = 0.1
#: The region is opened by this fraction of the lesion's length: a vessel touching the
#: lesion (2-6 mm thick) is narrower than that for lesions of 30 mm and more; the lesion,
#: compact on the scale of its own diameter, is not.
OPENING_FRACTION = 1.0 / 12.0
#: The boundary search reaches this far outside the classified region: a lesion's wall
#: or capsule (cyst wall, enhancing rim, pseudocapsule: 1-3 mm thick) belongs to it even
#: when no drawn seed crossed it.
WALL_MM = 4.0
#: A lesion tissue holding at least this share of the lesion strokes' values is one of
#: its main tissues (a stroke across a lesion spends at most a few voxels on each blurred
#: edge between tissues).
MAIN_CLASS_SHARE = 0.1


@dataclass(frozen=True)
class Ellipsoid:
    """The drawn lesion's prior extent: centre, in-slice unit vectors, semi-axis (mm)."""

    centre_lps_mm: NDArray[np.float64]
    along: NDArray[np.float64]
    across: NDArray[np.float64]
    normal: NDArray[np.float64]
    half_mm: float

    def rho(self, grid: competitive.WorkGrid, geometry: Geometry) -> NDArray[np.float64]:
        """Normalised ellipsoid radius of every coarse voxel centre."""
        # The grid is affine in its indices: each voxel's offset from the centre is a sum of
        # one term per axis, projected on the three frame vectors axis by axis.
        factors = np.asarray(grid.factors_kji, dtype=np.float64)
        start = np.asarray(grid.roi.start_kji, dtype=np.float64)
        origin = geometry.index_to_lps(np.zeros(3)) - self.centre_lps_mm
        frame = np.stack([self.along, self.across, self.normal])
        coordinates = np.zeros((3, *grid.shape))
        for axis in range(3):
            fine = (
                np.arange(grid.shape[axis]) * factors[axis] + (factors[axis] - 1) / 2 + start[axis]
            )
            unit_ijk = np.zeros(3)
            unit_ijk[2 - axis] = 1.0
            step = geometry.index_to_lps(unit_ijk) - geometry.index_to_lps(np.zeros(3))
            shape = [3, 1, 1, 1]
            shape[axis + 1] = -1
            coordinates += ((frame @ step)[:, np.newaxis] * fine[np.newaxis, :]).reshape(shape)
        coordinates += (frame @ origin).reshape(3, 1, 1, 1)
        half = self.half_mm
        return np.sqrt(
            (coordinates[0] / half) ** 2
            + (coordinates[1] / half) ** 2
            + (coordinates[2] / (CRANIOCAUDAL_FACTOR * half)) ** 2
        )


def shape_prior(rho: NDArray[np.float64]) -> NDArray[np.float32]:
    """Lesion prior: 1/2 inside the ellipsoid, falling linearly to ``OUTER_PRIOR`` at the
    bound."""
    fall = np.clip((rho - 1.0) / (BOUND_RHO - 1.0), 0.0, 1.0)
    return (0.5 - (0.5 - OUTER_PRIOR) * fall).astype(np.float32)


def lesion_region(
    posterior: NDArray[np.float32],
    seeds: NDArray[np.int32],
    rho: NDArray[np.float64],
    opening_mm: float,
    spacing_kji_mm: tuple[float, float, float],
) -> NDArray[np.bool_]:
    """Voxels more likely lesion than not, inside the bound, connected to the lesion seeds.

    The posterior is first averaged over a voxel's neighbours (a lesion class fills
    connected volumes larger than one coarse voxel; single noisy voxels are not a
    class), then cut at one half (Bayes' decision), opened by ``opening_mm`` and reduced
    to the components holding a lesion seed; painted not-lesion voxels are never lesion;
    enclosed holes are filled.
    """
    lesion_seeds = seeds == competitive.LESION
    smooth = ndimage.gaussian_filter(posterior, 1.0)
    region = (smooth >= 0.5) & (rho <= BOUND_RHO) & (seeds != competitive.BACKGROUND)
    if opening_mm > max(spacing_kji_mm):
        region = open_mm(region, opening_mm, spacing_kji_mm)
    region |= lesion_seeds
    components, _ = ndimage.label(region)
    on_seeds = np.unique(components[lesion_seeds])
    filled = fill_holes_3d(np.isin(components, on_seeds[on_seeds > 0]))
    return filled & (seeds != competitive.BACKGROUND)


def _unlike(
    values: NDArray[np.float32], reference: NDArray[np.float32], bandwidth: float
) -> NDArray[np.float32]:
    """The ``values`` whose tissue class (density peak) lies farther than ``bandwidth``
    from every class peak of ``reference``: a painted "not lesion" class that is also a
    lesion class cannot tell them apart and acts through its position only."""
    if values.size == 0 or reference.size == 0:
        return values
    everything = np.concatenate([values, reference]).astype(np.float64)
    low = float(everything.min()) - 4.0 * bandwidth
    high = float(everything.max()) + 4.0 * bandwidth
    bin_width = bandwidth / 4.0

    def classes(samples: NDArray[np.float32]) -> NDArray[np.float64]:
        density = competitive.kernel_density(
            samples.astype(np.float64), low, high, bandwidth, bin_width
        )
        return competitive.class_densities(density, samples.size)

    painted, lesion = classes(values), classes(reference)
    # Only the lesion's main tissues count: the few values a stroke picks up on the
    # blurred edge between two tissues are not a class the painted one could be.
    reference_hu = reference.astype(np.float64)
    density = competitive.kernel_density(reference_hu, low, high, bandwidth, bin_width)
    owner = np.argmax(lesion, axis=0)
    share = np.array([density[owner == row].sum() for row in range(lesion.shape[0])])
    lesion = lesion[share >= MAIN_CLASS_SHARE] if np.any(share >= MAIN_CLASS_SHARE) else lesion
    lesion_peaks = low + bin_width * np.argmax(lesion, axis=1)
    painted_peaks = low + bin_width * np.argmax(painted, axis=1)
    distinct = np.min(np.abs(painted_peaks[:, np.newaxis] - lesion_peaks), axis=1) > bandwidth
    index = np.clip(((values - low) / bin_width).astype(int), 0, painted.shape[1] - 1)
    own_class = np.argmax(painted[:, index], axis=0)
    return values[distinct[own_class]]


def _distinct_strokes(
    sources: list[NDArray[np.float32]], host: NDArray[np.float32], bandwidth: float
) -> list[NDArray[np.float32]]:
    """The lesion strokes whose tissue can be told from the host's.

    A lesion stroke painted on tissue at the host's level (an iso-dense outer layer
    next to the edge) gives no class that separates lesion from host: as a class it
    would carry the lesion through the whole host organ. Like a not-lesion stroke on a
    lesion tissue (:func:`_unlike`), it then acts through its position only (painted
    voxels are lesion, and it shows how far the lesion reaches). A stroke is kept as a
    class source when at least ``MAIN_CLASS_SHARE`` of its values are unlike every host
    class; when no stroke is, all are kept (an iso-dense lesion has nothing else).
    """
    if host.size == 0 or len(sources) < 2:
        return sources
    distinct = [
        values
        for values in sources
        if _unlike(values, host, bandwidth).size >= MAIN_CLASS_SHARE * values.size
    ]
    return distinct or sources


def _posterior(
    image: NDArray[np.float32],
    lesion_sources: list[NDArray[np.float32]],
    host: NDArray[np.float32],
    far: NDArray[np.float32],
    prior: NDArray[np.float32],
    bandwidth: float,
    rho: NDArray[np.float64],
) -> NDArray[np.float32]:
    """Lesion probability against the host tissues, and against far tissues where they
    continue from beyond the bound.

    The host (what lies beyond the line's ends, what was painted "not lesion") competes
    everywhere. A tissue sampled only beyond the bound (muscle, bowel, the renal
    medulla) competes where its voxels are connected to the outside of the bound
    through voxels of such far tissues: a viable tumor layer at the level of muscle is
    separated from the abdominal wall by the host liver and stays lesion; the medulla
    of the kidney a renal mass grows from continues into it from outside.
    """
    everything = competitive.class_posterior(
        image, lesion_sources, [(host, 1.0), (far, 1.0)], prior, bandwidth
    )
    if host.size == 0:
        return everything
    host_only = competitive.class_posterior(image, lesion_sources, [(host, 1.0)], prior, bandwidth)
    far_tissue = (ndimage.gaussian_filter(everything, 1.0) < 0.5) & (
        ndimage.gaussian_filter(host_only, 1.0) >= 0.5
    )
    outside = rho > BOUND_RHO
    components, _ = ndimage.label(far_tissue | outside)
    from_outside = np.unique(components[outside])
    continued = np.isin(components, from_outside[from_outside > 0]) & far_tissue
    return np.where(continued, everything, host_only).astype(np.float32)


def lesion_probability(
    grid: competitive.WorkGrid,
    seeds: NDArray[np.int32],
    rho: NDArray[np.float64],
    length_mm: float,
    *,
    painted_host: bool = True,
    implied_host: NDArray[np.float32] | None = None,
    report: ProgressCallback,
    cancel: CancelToken | None = None,
) -> tuple[NDArray[np.float32], NDArray[np.bool_], NDArray[np.bool_]]:
    """Lesion probability on the coarse grid (above one half: lesion).

    Parameters
    ----------
    grid : WorkGrid
        The coarse grid.
    seeds : ndarray of int32
        ``competitive.LESION`` / ``competitive.BACKGROUND`` where drawn, else 0; the
        voxels beyond the bound are added as background here.
    rho : ndarray
        Normalised ellipsoid radius of each voxel (:meth:`Ellipsoid.rho`).
    length_mm : float
        The lesion's expected long axis (sets the opening radius).
    painted_host : bool
        The not-lesion seeds sample the host tissue (the line's extension): their values
        are a background class everywhere. When False (strokes, which may be painted on
        anything), only their values unlike every lesion seed's are; the others act
        through their position alone.
    implied_host : ndarray, optional
        Values where the host probably lies though nothing was painted there (beyond
        the ends of the lesion strokes); filtered as ``painted_host=False`` samples.

    Returns
    -------
    probability, layer_allowed, classified : ndarray
        The lesion probability after the walk (above one half: lesion), where an
        outer layer of the lesion may lie (:func:`outer_layer_allowed`), and what the
        intensity classes alone call lesion (the painted seeds not forced in).
    """
    image = grid.image
    spacing = grid.spacing_kji_mm
    prior = shape_prior(rho)
    labels = seeds.copy()
    painted_background = labels == competitive.BACKGROUND
    labels[rho > BOUND_RHO] = competitive.BACKGROUND
    lesion_seeds = labels == competitive.LESION
    shell = (rho > BOUND_RHO) & (rho <= SHELL_RHO)
    # One source per painted stroke (connected seeds): each stroke's tissue classes keep
    # their own weight, so a later stroke adds classes and never flattens those an
    # earlier one found (class_posterior takes the best-fitting class of any source).
    strokes, stroke_count = ndimage.label(seeds == competitive.LESION)
    lesion_sources = [image[strokes == index] for index in range(1, stroke_count + 1)]
    lesion_sources = lesion_sources or [image[lesion_seeds]]
    bandwidth = competitive.class_bandwidth(grid)
    host = image[painted_background]
    if implied_host is not None:
        host = np.concatenate([host, np.asarray(implied_host, dtype=np.float32)])
    if not painted_host:
        lesion_sources = _distinct_strokes(lesion_sources, host, bandwidth)
        host = _unlike(host, np.concatenate(lesion_sources), bandwidth)
    seed_sources = list(lesion_sources)
    far = image[shell]
    opening_mm = OPENING_FRACTION * length_mm
    region = lesion_seeds
    host_level = float(np.median(host if host.size else image[shell] if shell.any() else image))
    for step in range(2):
        if cancel is not None:
            cancel.raise_if_cancelled()
        report(0.3 + 0.2 * step, "Classifying the lesion's tissues")
        posterior = _posterior(image, lesion_sources, host, far, prior, bandwidth, rho)
        region = lesion_region(posterior, labels, rho, opening_mm, spacing)
        if step == 0:
            # Refit of the lesion's classes from the region found (a calcification or
            # a necrotic part off the drawn seeds joins). The background is not refitted
            # from the region's surroundings: when the first pass found only the
            # lesion's most distinct part, its surroundings are the lesion's own outer
            # layers.
            interior = ndimage.binary_erosion(region) | lesion_seeds
            lesion_sources = [np.concatenate([*seed_sources, image[interior]])]
    # The boundary is placed by the competition of the two labels on the intensities,
    # from one coarse voxel inside the classified region to ``WALL_MM`` outside it:
    # where the lesion has a visible edge the walk snaps to it (also to the outer edge
    # of a wall or capsule the inner samples did not see); where it has none the
    # boundary falls in the middle of the band.
    # What the intensity classes alone call lesion (the painted seeds not forced in):
    # a painted lesion voxel outside it shows a layer the classes missed.
    classified = (
        (ndimage.gaussian_filter(posterior, 1.0) >= 0.5)
        & (rho <= BOUND_RHO)
        & (labels != competitive.BACKGROUND)
    )
    report(0.7, "Placing the boundary on the edges")
    band_labels = labels.copy()
    reach = dilate_mm(region, WALL_MM, spacing) | ndimage.binary_dilation(region)
    outside = ~reach & (band_labels == competitive.UNLABELLED)
    band_labels[outside] = competitive.BACKGROUND
    band_labels[ndimage.binary_erosion(region) | lesion_seeds] = competitive.LESION
    probability = region.astype(np.float32)
    layer_allowed = outer_layer_allowed(
        image, np.concatenate(lesion_sources), labels, rho, host_level, bandwidth
    )
    undecided = band_labels == competitive.UNLABELLED
    if not undecided.any() or not np.any(band_labels == competitive.BACKGROUND):
        return probability, layer_allowed, classified
    # The walk only needs the undecided band and its seeded rim: solve it in their box.
    box = tuple(
        slice(max(int(idx.min()) - 2, 0), int(idx.max()) + 3) for idx in np.nonzero(undecided)
    )
    probability[box] = competitive.lesion_probability(
        image[box], band_labels[box], competitive.EDGE_SIGMAS * grid.noise
    )
    return probability, layer_allowed, classified


def outer_layer_allowed(
    image: NDArray[np.float32],
    lesion_values: NDArray[np.float32],
    labels: NDArray[np.int32],
    rho: NDArray[np.float64],
    host_level: float,
    bandwidth: float,
) -> NDArray[np.bool_]:
    """Where an outer layer of the lesion that the classes missed may lie.

    Inside the bound, not painted "not lesion", and within the span of the lesion's
    values and its host's level (two bandwidths beyond either end): an iso-dense
    margin lies at the host's level, a thin enhancing rim between host and the
    brightest lesion class; fat, gas or bone beyond that span stop it.
    """
    low_value, high_value = np.percentile(lesion_values, [2.0, 98.0])
    low = min(float(low_value), host_level) - 2.0 * bandwidth
    high = max(float(high_value), host_level) + 2.0 * bandwidth
    in_span = (image >= low) & (image <= high)
    return in_span & (rho <= BOUND_RHO) & (labels != competitive.BACKGROUND)


def grow_to_drawn_ends(
    local: NDArray[np.bool_],
    box_geometry: Geometry,
    start_lps_mm: NDArray[np.float64],
    end_lps_mm: NDArray[np.float64],
    allowed: NDArray[np.bool_],
) -> NDArray[np.bool_]:
    """Grow the lesion by the distance it stops short of the drawn diameter's ends.

    The line's ends mark the lesion's edge. When the lesion classified from the
    intensities stops short of them, it has an outer layer that looks like its host
    (an iso-dense rim, an infiltrative margin) which only the drawn length reveals:
    the shortfall, averaged over the two ends, is taken as that layer's thickness all
    around, and the lesion grows by it into ``allowed`` voxels (not clearly a
    background class, inside the bound). Measured on the voxels within one voxel of
    the line, on the box's grid ``box_geometry``.
    """
    length_mm = float(np.linalg.norm(end_lps_mm - start_lps_mm))
    unit = (end_lps_mm - start_lps_mm) / length_mm
    kji = np.argwhere(local)
    if len(kji) == 0:
        return local
    offset = box_geometry.index_to_lps(kji[:, ::-1].astype(np.float64)) - start_lps_mm
    along = offset @ unit
    across = np.linalg.norm(offset - along[:, np.newaxis] * unit, axis=1)
    near_line = across <= float(box_geometry.spacing_mm.max())
    if not near_line.any():
        return local
    voxel_mm = float(np.abs(box_geometry.direction.T @ unit) @ box_geometry.spacing_mm)
    reached_mm = float(along[near_line].max() - along[near_line].min()) + voxel_mm
    margin_mm = (length_mm - reached_mm) / 2.0
    if margin_mm < 0.5 * float(box_geometry.spacing_mm.min()):
        return local
    # The region's surface lies half a voxel beyond its outermost voxel centres: a voxel
    # whose centre is within the margin of that surface joins.
    reach_mm = margin_mm + 0.5 * float(box_geometry.spacing_mm.min())
    return local | (dilate_mm(local, reach_mm, box_geometry.spacing_kji_mm) & allowed)


def at_bound_share(probability: NDArray[np.float32], rho: NDArray[np.float64]) -> float:
    """Share of the lesion's coarse voxels next to the bound (``rho`` over 92 % of it, the
    outer coarse voxel for a 30 mm lesion)."""
    lesion = probability > 0.5
    count = int(np.count_nonzero(lesion))
    if count == 0:
        return 0.0
    return float(np.count_nonzero(lesion & (rho > 0.92 * BOUND_RHO))) / count
