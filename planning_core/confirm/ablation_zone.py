"""The ablation zone on a contrast CT after ablation: the non-enhancing region at the probes.

After cryoablation (immediately or weeks later) the frozen tissue no longer
takes up contrast: on a portal-venous or nephrographic CT it is a region of
about 20-60 HU inside parenchyma of 100-200 HU. The zone is grown from seeds
(the plan's tumor centre and probe tips, mapped onto the post-ablation CT by
the registration) with its boundary halfway between the zone's own intensity
and the enhancing tissue around it, both read from the image itself so that
any contrast phase works:

1. the zone level is the median of the smoothed image in small balls around
   the seeds;
2. a core region takes voxels within the zone's spread of that level (three
   robust standard deviations, at least :data:`MIN_SPREAD_HU`) connected to the
   seeds; a thin opening cuts bridges into neighbouring structures and holes
   (gas, necrosis inside the zone) are filled;
3. the edge is placed locally: in a band around the core each voxel joins the
   zone when its intensity lies nearer the zone's level than the level of the
   tissue just beside it (averaged over a ring 1-6 mm outside the core). The
   boundary thus lies halfway to whatever borders the zone (enhancing
   parenchyma, muscle, fat, urine or bile) instead of at one global threshold,
   which would leak into muscle or stop short of fat. The edge is placed twice:
   the second time the ring is measured from the first edge, beyond its blur,
   where the levels beside the zone are read clean;
4. the parenchyma level (the brighter tissue of the ring) must exceed the
   zone's by :data:`MIN_CONTRAST_HU`, else the CT lacks the contrast to show it.

An optional mask of where the ablation can have reached (the plan's predicted
ice grown by a tolerance for probe placement) keeps leaks from running far.
Problems the user can act on (a region reaching the edge of the search box)
come back as warnings; the zone is a label ("ablation_zone") that the usual
label tools can edit.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.errors import SegmentationError
from planning_core.imaging.geometry import Geometry
from planning_core.planning.masks import bounding_box
from planning_core.progress import CancelToken, ProgressCallback, checked_progress

ZONE_LABEL = "ablation_zone"
#: What the zone stands out against: enhancing parenchyma, or aerated lung.
ENHANCING_TISSUE = "enhancing tissue"
AERATED_LUNG = "aerated lung"
#: Radius of the balls around seeds where the zone's own intensity is read.
SEED_BALL_MM = 3.0
#: Ring outside the core region where the tissues beside the zone are read (from just
#: outside, so that a thin layer between the zone and fat, such as viable tumor, counts).
RING_MM = (1.0, 6.0)
#: The same ring measured from the first placed edge, beyond its blur, for the second placement.
EDGE_RING_MM = (1.5, 6.5)
#: The edge is placed within this distance on either side of the core's edge.
BAND_MM = 3.0
#: Soft tissue without contrast uptake (HU): below lie fat and gas, above enhancing tissue.
NON_ENHANCING_HU = (-50.0, 120.0)
#: Least share of the seed balls' voxels that must read as non-enhancing soft tissue.
MIN_SEED_SHARE = 0.2
#: Least difference between parenchyma and zone: below it the zone does not show.
MIN_CONTRAST_HU = 25.0
#: Least spread of the zone's intensity (smoothed); a zone spreads more where it holds
#: hemorrhage or necrosis. Voxels further from the zone's level start outside it.
MIN_SPREAD_HU = 15.0
#: Smoothing of the image before thresholds (suppresses CT noise, keeps edges).
SMOOTHING_MM = 1.0
#: Radius of the opening that cuts thin bridges into neighbouring hypodense structures.
OPENING_MM = 1.5
#: Neighbourhood over which the level of the tissue beside the zone is averaged.
EDGE_NEIGHBOURHOOD_MM = 3.0
#: Aerated lung reads below this (HU); ground glass and consolidation above.
AERATED_LUNG_HU = -600.0
#: Least excess of the zone in the lung over the aerated lung's level (HU).
MIN_HALO_CONTRAST_HU = 250.0
#: Blurred edges (the tumor's, the lung's against the chest wall), left out where the
#: halo's level is read (mm).
EDGE_BLUR_MM = 2.0
#: Fewest voxels of the seen zone edge (halo against aerated lung) to fit the margin
#: around the tumor on: below it the tumor is split by distance (see _split_tumor).
MIN_SEEN_EDGE_VOXELS = 30
#: Contact with soft tissue outside the lung beyond this volume is worth a warning (mm³).
WALL_CONTACT_MM3 = 20.0


@dataclass(frozen=True, eq=False)
class AblationZone:
    """A segmented ablation zone.

    Attributes
    ----------
    mask : ndarray of bool
        The zone on the grid it was segmented on.
    volume_ml : float
        Its volume.
    zone_hu, parenchyma_hu, threshold_hu : float
        The intensities read from the image and the boundary level between them.
    beside : str
        What ``parenchyma_hu`` is: the tissue the zone stands out against.
    edge_estimated : bool
        Part of the zone's edge could not be seen and was estimated (inside a tumor
        that reaches aerated lung, or that reads like the zone: ablated and viable
        tumor read alike there).
    warnings : tuple of str
        Problems worth a look (edit the zone when they apply).
    """

    mask: NDArray[np.bool_] = field(repr=False)
    volume_ml: float
    zone_hu: float
    parenchyma_hu: float
    threshold_hu: float
    warnings: tuple[str, ...] = ()
    beside: str = ENHANCING_TISSUE
    edge_estimated: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "volume_ml": round(self.volume_ml, 3),
            "zone_hu": round(self.zone_hu, 1),
            "parenchyma_hu": round(self.parenchyma_hu, 1),
            "beside": self.beside,
            "edge_estimated": self.edge_estimated,
            "threshold_hu": round(self.threshold_hu, 1),
            "warnings": list(self.warnings),
        }


def _ball(radius_mm: float, spacing_kji_mm: NDArray[np.float64]) -> NDArray[np.bool_]:
    half = np.floor(radius_mm / spacing_kji_mm).astype(int)
    axes = [np.arange(-h, h + 1) * s for h, s in zip(half, spacing_kji_mm, strict=True)]
    k, j, i = np.meshgrid(*axes, indexing="ij")
    return k**2 + j**2 + i**2 <= radius_mm**2


def _connected_to(mask: NDArray[np.bool_], seeds_kji: NDArray[np.int64]) -> NDArray[np.bool_]:
    labels, _ = ndimage.label(mask)
    hit = labels[tuple(seeds_kji.T)]
    hit = np.unique(hit[hit > 0])
    return np.isin(labels, hit) if hit.size else np.zeros_like(mask)


def segment_ablation_zone(
    image_hu: NDArray[np.floating],
    geometry: Geometry,
    seeds_lps_mm: NDArray[np.float64],
    *,
    search_radius_mm: float = 45.0,
    possible: NDArray[np.bool_] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> AblationZone:
    """Segment the non-enhancing ablation zone around ``seeds_lps_mm``.

    Parameters
    ----------
    image_hu : ndarray
        Contrast CT in Hounsfield units on ``geometry``.
    geometry : Geometry
        Its grid.
    seeds_lps_mm : ndarray
        (n, 3) points inside the zone (tumor centre, probe tips) in LPS mm.
    search_radius_mm : float
        The zone is sought within this distance of the seeds.
    possible : ndarray of bool, optional
        Where the ablation can have reached on ``geometry`` (the plan's
        predicted ice grown by a tolerance for probe placement); the zone
        stays inside it, which stops leaks into distant dark structures.
    progress, cancel
        Progress callback and cancel token.

    Returns
    -------
    AblationZone

    Raises
    ------
    SegmentationError
        When no seed lies in the image, the seeds sit in gas, fat or bright
        tissue, or the zone does not differ from the tissue around it.
    """

    step = checked_progress(progress, cancel)

    step(0.0, "Ablation zone: reading the seeds")
    box, local, smooth = _seed_box(image_hu, geometry, seeds_lps_mm, search_radius_mm)
    spacing = np.asarray(geometry.spacing_kji_mm)
    start = np.array([s.start for s in box])
    stop = np.array([s.stop for s in box])
    allowed = np.ones(smooth.shape, dtype=bool) if possible is None else possible[box]
    step(0.2, "Ablation zone: zone intensity at the seeds")
    seed_mask = np.zeros(smooth.shape, dtype=bool)
    seed_mask[tuple(local.T)] = True
    seed_mask = ndimage.binary_dilation(seed_mask, _ball(SEED_BALL_MM, spacing)) & allowed
    if not seed_mask.any():
        raise SegmentationError(
            "the seeds of the ablation zone lie outside the region the plan's ice can have "
            "reached; check the registration or draw the ablation zone by hand."
        )
    # Probe tips may sit in fat beside the zone, or fall there by a registration error:
    # only soft tissue without contrast uptake tells the zone's level.
    at_seeds = smooth[seed_mask]
    soft = at_seeds[(at_seeds >= NON_ENHANCING_HU[0]) & (at_seeds <= NON_ENHANCING_HU[1])]
    if soft.size < MIN_SEED_SHARE * at_seeds.size:
        raise SegmentationError(
            f"the post-ablation CT reads {float(np.median(at_seeds)):.0f} HU at the tumor and "
            "probe tips, which is not soft tissue without contrast uptake (gas, fat or "
            "enhancing tissue); check the registration or draw the ablation zone by hand."
        )
    soft = _darkest_seed_level(smooth, local, seed_mask, spacing, soft)
    zone_hu = float(np.median(soft))
    spread = max(MIN_SPREAD_HU, 3.0 * _robust_sigma(soft))
    step(0.35, "Ablation zone: growing from the seeds")
    core = _connected_to((np.abs(smooth - zone_hu) <= spread) & allowed, local)
    opened = ndimage.binary_opening(core, _ball(OPENING_MM, spacing))
    core = ndimage.binary_fill_holes(_connected_to(opened, local) if opened.any() else core)
    step(0.55, "Ablation zone: the tissue around it")
    outside_mm = ndimage.distance_transform_edt(~core, sampling=spacing)
    ring = (outside_mm > RING_MM[0]) & (outside_mm <= RING_MM[1])
    brighter = smooth[ring & (smooth > zone_hu + spread)]
    parenchyma_hu = float(np.median(brighter)) if brighter.size else zone_hu
    if parenchyma_hu - zone_hu < MIN_CONTRAST_HU:
        raise SegmentationError(
            f"the ablation zone ({zone_hu:.0f} HU) does not differ from the tissue around it "
            f"({parenchyma_hu:.0f} HU): the post-ablation CT needs contrast enhancement "
            "(portal-venous or nephrographic phase); otherwise draw the zone by hand."
        )
    step(0.7, "Ablation zone: placing its edge")
    darker = smooth[ring & (smooth < zone_hu - spread)]
    dark_hu = float(np.median(darker)) if darker.size else zone_hu - 2.0 * spread
    inside_mm = ndimage.distance_transform_edt(core, sampling=spacing)
    band = (outside_mm <= BAND_MM) & (inside_mm <= BAND_MM)
    # The core stops well inside the edge's blur, so a ring measured from it reads the
    # blur too and pulls the levels beside the zone toward the zone's own (the edge then
    # falls short, most where the tissue beside is a thin layer of fat). The edge is
    # placed a second time with the ring measured from the first edge, beyond its blur.
    levels = (allowed, local, zone_hu, spread, parenchyma_hu, dark_hu, spacing)
    region, edge_hu = _place_edge(smooth, core, band, ring, *levels)
    from_edge_mm = ndimage.distance_transform_edt(~region, sampling=spacing)
    ring = (from_edge_mm > EDGE_RING_MM[0]) & (from_edge_mm <= EDGE_RING_MM[1])
    region, edge_hu = _place_edge(smooth, core, band, ring, *levels)
    edge = band & region & ~ndimage.binary_erosion(region)
    bright_edge = edge & (smooth >= zone_hu)
    threshold_hu = float(np.median(edge_hu[bright_edge])) if bright_edge.any() else zone_hu
    step(0.9, "Ablation zone: checks")
    warnings = []
    if _touches_box_face(region, start, stop, geometry.shape):
        warnings.append(
            f"the ablation zone reaches {search_radius_mm:g} mm from the seeds: it may have "
            "leaked into a neighbouring dark structure; check and edit it."
        )
    step(1.0, "Ablation zone ready")
    return _zone_in(region, box, geometry, (zone_hu, parenchyma_hu, threshold_hu), warnings)


def _zone_in(
    region: NDArray[np.bool_],
    box: tuple[slice, ...],
    geometry: Geometry,
    levels_hu: tuple[float, float, float],
    warnings: list[str],
    beside: str = ENHANCING_TISSUE,
) -> AblationZone:
    """The zone found as ``region`` in ``box``, on the whole grid, with its levels
    (zone, tissue beside, threshold)."""
    mask = np.zeros(geometry.shape, dtype=bool)
    mask[box] = region
    zone_hu, parenchyma_hu, threshold_hu = levels_hu
    return AblationZone(
        mask=mask,
        volume_ml=float(np.count_nonzero(region)) * geometry.voxel_volume_mm3 / 1000.0,
        zone_hu=zone_hu,
        parenchyma_hu=parenchyma_hu,
        threshold_hu=threshold_hu,
        warnings=tuple(warnings),
        beside=beside,
    )


def _seed_box(
    image_hu: NDArray[np.floating],
    geometry: Geometry,
    seeds_lps_mm: NDArray[np.float64],
    search_radius_mm: float,
) -> tuple[tuple[slice, ...], NDArray[np.int64], NDArray[np.float32]]:
    """The search box around the seeds, the seeds' indices in it and the smoothed image."""
    seeds = np.atleast_2d(np.asarray(seeds_lps_mm, dtype=np.float64))
    kji = np.rint(geometry.lps_to_index(seeds)[:, ::-1]).astype(np.int64)
    inside = np.all((kji >= 0) & (kji < np.asarray(geometry.shape)), axis=1)
    if not inside.any():
        raise SegmentationError(
            "no seed of the ablation zone (tumor centre, probe tips) lies in the post-ablation "
            "CT; check that the right series and plan were given and the registration."
        )
    kji = kji[inside]
    spacing = np.asarray(geometry.spacing_kji_mm)
    reach = np.ceil(search_radius_mm / spacing).astype(int)
    start = np.maximum(kji.min(axis=0) - reach, 0)
    stop = np.minimum(kji.max(axis=0) + reach + 1, geometry.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))
    return box, kji - start, _smoothed(image_hu, box, spacing)


def _smoothed(
    image_hu: NDArray[np.floating], box: tuple[slice, ...], spacing: NDArray[np.float64]
) -> NDArray[np.float32]:
    return ndimage.gaussian_filter(
        np.asarray(image_hu[box], dtype=np.float32), SMOOTHING_MM / spacing, truncate=2.5
    )


def segment_lung_ablation_zone(
    image_hu: NDArray[np.floating],
    geometry: Geometry,
    seeds_lps_mm: NDArray[np.float64],
    *,
    lung: NDArray[np.bool_],
    tumor: NDArray[np.bool_] | None = None,
    before_hu: NDArray[np.floating] | None = None,
    possible: NDArray[np.bool_] | None = None,
    search_radius_mm: float = 45.0,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> AblationZone:
    """Segment the ablation zone in aerated lung: the halo denser than the lung around it.

    After cryoablation in the lung the frozen tissue turns into ground glass and
    consolidation (haemorrhage, oedema), a region much denser than the aerated
    lung; the ablated tumor lies inside it. The aerated lung's level is read
    below :data:`AERATED_LUNG_HU`, the halo's level around the tumor where the
    ablation can have reached,
    and the zone is the region denser than halfway between them, connected to
    the seeds, inside the lung and the tumor (where the zone meets the chest
    wall or mediastinum it cannot be told from soft tissue).

    Parameters
    ----------
    image_hu : ndarray
        CT in Hounsfield units on ``geometry`` (contrast is not needed).
    geometry : Geometry
        Its grid.
    seeds_lps_mm : ndarray
        (n, 3) points inside the zone (tumor centre, probe tips) in LPS mm.
    lung : ndarray of bool
        The lung holding the tumor, with the tumor, on ``geometry``.
    tumor : ndarray of bool, optional
        The tumor on ``geometry``. Ablated and viable tumor read alike, so where the
        tumor reaches aerated lung with no halo beyond it the zone's edge inside the
        tumor cannot be seen: it is placed by continuing the margin seen around the
        tumor into it (an estimate, stated in a warning; see ``_split_tumor``).
    before_hu : ndarray, optional
        The CT before the ablation (the planning CT) on ``geometry``. A tumor mostly
        of ground glass there (median well below the zone's level: a part-solid or
        ground-glass nodule) borders the zone with its own level, not the aerated
        lung's: its ground-glass voxels belong to the zone when they now read nearer
        the zone's level than their own former level. Without it the lung's
        threshold holds there too, and the blurred edge against the ground glass
        then reaches into viable tumor.
    possible : ndarray of bool, optional
        Where the ablation can have reached (the plan's predicted ice grown by a
        tolerance for probe placement).
    search_radius_mm : float
        The zone is sought within this distance of the seeds.
    progress, cancel
        Progress callback and cancel token.

    Returns
    -------
    AblationZone
        ``parenchyma_hu`` is the aerated lung's level.

    Raises
    ------
    SegmentationError
        When no seed lies in the image, the lung around the zone is not
        aerated, or no halo denser than the lung shows.
    """

    step = checked_progress(progress, cancel)

    step(0.0, "Ablation zone (lung): reading the seeds")
    box, local, smooth = _seed_box(image_hu, geometry, seeds_lps_mm, search_radius_mm)
    spacing = np.asarray(geometry.spacing_kji_mm)
    in_lung = lung[box]
    reach = np.ones(smooth.shape, dtype=bool) if possible is None else possible[box]
    step(0.3, "Ablation zone (lung): the aerated lung and the halo")
    aerated = smooth[in_lung & (smooth < AERATED_LUNG_HU)]
    if aerated.size < 100:
        raise SegmentationError(
            "the lung around the ablation reads no aerated lung (below "
            f"{AERATED_LUNG_HU:.0f} HU); check the registration or draw the zone by hand."
        )
    lung_hu = float(np.median(aerated))
    # The lung's edge against the chest wall and the tumor's edge are blurred and read
    # dense too: the halo's level is read away from both.
    clear = ndimage.distance_transform_edt(in_lung, sampling=spacing) > EDGE_BLUR_MM
    if tumor is not None:
        clear &= ndimage.distance_transform_edt(~tumor[box], sampling=spacing) > EDGE_BLUR_MM
    dense = clear & reach & (smooth > lung_hu + MIN_HALO_CONTRAST_HU)
    if np.count_nonzero(dense) < 50:
        raise SegmentationError(
            f"no ablation zone denser than the aerated lung ({lung_hu:.0f} HU) shows where "
            "the plan's ice reached; check the registration or draw the zone by hand."
        )
    # A thin halo holds few voxels clear of its blurred edges: its upper quartile reads
    # its level where the median would lean toward the lung.
    zone_hu = float(np.percentile(smooth[dense], 75.0))
    threshold_hu = 0.5 * (lung_hu + zone_hu)
    step(0.6, "Ablation zone (lung): growing from the seeds")
    candidate = (smooth > threshold_hu) & reach & in_lung
    warnings = []
    glass_level = zone_hu - MIN_HALO_CONTRAST_HU
    if (
        tumor is not None
        and before_hu is not None
        and tumor.any()
        and float(np.median(before_hu[tumor])) < glass_level
    ):
        # A tumor mostly of ground glass (a solid tumor's rim reads low too, by partial
        # volume with the lung, but its edge is the split's to estimate).
        before = _smoothed(before_hu, box, spacing)
        glass = tumor[box] & (before < glass_level)
        # Halfway between the zone's level and the voxel's own level before the ablation.
        candidate[glass] = smooth[glass] > 0.5 * (zone_hu + before[glass])
        warnings.append(
            f"the tumor is mostly ground glass on the planning CT: inside it the zone's edge "
            f"is placed halfway between the zone ({zone_hu:.0f} HU) and each voxel's own level "
            f"before the ablation, not at the {threshold_hu:.0f} HU edge against the aerated "
            "lung; check the edge inside the tumor on the images."
        )
    # Vessels and airway walls running into the halo are thinner than the opening.
    opened = ndimage.binary_opening(candidate, _ball(OPENING_MM, spacing))
    region = ndimage.binary_fill_holes(_connected_to(opened, local))
    if not region.any():
        raise SegmentationError(
            "no ablation zone denser than the aerated lung lies at the tumor and probe tips; "
            "check the registration or draw the zone by hand."
        )
    exposed = False
    if tumor is not None:
        # Tumor outside the dense region (ground glass of a part-solid tumor) is seen as
        # viable: only aerated lung proper leaves the zone's edge unseen.
        aerated_lung = in_lung & ~region & ~tumor[box]
        region, exposed = _split_tumor(region, tumor[box], aerated_lung, spacing)
        if exposed:
            warnings.append(
                "the tumor reaches the aerated lung with no ablation zone beyond it: the "
                "ablation is incomplete there. Ablated and viable tumor read alike on CT, so "
                "the zone's edge inside the tumor is estimated (the margin seen around the "
                "tumor, continued smoothly into it): the negative margin there is an "
                "estimate (within 2 mm on the test phantoms and sample cases); check it on "
                "the images."
            )
    if not region.any():
        raise SegmentationError(
            "no ablation zone denser than the aerated lung shows around the tumor; check "
            "the registration or draw the zone by hand."
        )
    step(0.9, "Ablation zone (lung): checks")
    wall = ndimage.binary_dilation(region, _ball(1.5, spacing)) & ~in_lung & (smooth > threshold_hu)
    if np.count_nonzero(wall) * np.prod(spacing) > WALL_CONTACT_MM3:
        warnings.append(
            "the ablation zone meets the chest wall or mediastinum, where it cannot be told "
            "from soft tissue: it stops at the lung's edge there, so the margin on that side "
            "is measured to the lung's edge; check it on the images."
        )
    step(1.0, "Ablation zone ready")
    zone = _zone_in(region, box, geometry, (zone_hu, lung_hu, threshold_hu), warnings, AERATED_LUNG)
    return dataclasses.replace(zone, edge_estimated=exposed)


def estimate_edge_in_tumor(
    zone: AblationZone, tumor: NDArray[np.bool_], geometry: Geometry
) -> AblationZone:
    """The zone with its edge inside a tumor that reads like it, estimated.

    A tumor that does not enhance (cystic, necrotic) reads like the ablation zone on
    the contrast CT, so the segmented zone holds it whole, viable or not. Where the
    tumor reaches the zone's edge (the tissue beside the zone touches the tumor) the
    edge inside the tumor is placed as in the lung (:func:`_split_tumor`): the margin
    seen where the zone's edge stands in other tissue, continued smoothly into the
    tumor. Returns ``zone`` unchanged when the tumor does not reach its edge.
    """
    spacing = np.asarray(geometry.spacing_kji_mm)
    pad = np.ceil(RING_MM[1] / spacing).astype(int) + 1
    box = bounding_box(zone.mask | tumor, pad)
    if box is None:
        return zone
    region, inside = zone.mask[box], tumor[box]
    split, exposed = _split_tumor(region, inside, ~region & ~inside, spacing)
    if not exposed:
        return zone
    mask = zone.mask.copy()
    mask[box] = split
    return dataclasses.replace(
        zone,
        mask=mask,
        volume_ml=float(np.count_nonzero(mask)) * geometry.voxel_volume_mm3 / 1000.0,
        edge_estimated=True,
    )


def _split_tumor(
    region: NDArray[np.bool_],
    tumor: NDArray[np.bool_],
    aerated: NDArray[np.bool_],
    spacing: NDArray[np.float64],
) -> tuple[NDArray[np.bool_], bool]:
    """``region`` without the tumor voxels the ablation did not reach, and whether that
    split was made: when the region's tumor touches the aerated lung directly over more
    voxels than the tumor shows outside the region.

    Where the zone's edge is seen (the halo against aerated lung) its distance from the
    tumor's surface is the margin. Around an ice ball that sits off the tumor's centre
    it varies smoothly with the direction from that centre, to first order as
    ``a + b . direction`` (a sphere offset from a sphere). That fit, continued into the
    directions where the tumor itself meets the lung, places the edge inside the
    tumor: a tumor voxel counts as ablated when it lies at least the (negative) fitted
    margin deep. On an ellipsoidal zone with a spherical tumor stuck out of it by 1-6 mm
    in nine positions the minimal margin came within 1.7 mm of the truth (mean 0.5 mm),
    where the tumor voxels nearer the aerated lung than the halo (the former estimate)
    gave 2.7 mm (mean 1.2 mm). With too few seen edge voxels to fit, that former
    estimate is used.
    """
    tumor_in = region & tumor
    exposed = ndimage.binary_dilation(aerated) & tumor_in  # face neighbours
    # Where viable tumor reads unlike the zone (the ground glass of a part-solid tumor)
    # it shows itself outside the region, and the contact is only the zone's edge
    # crossing the tumor's surface.
    if np.count_nonzero(exposed) <= np.count_nonzero(tumor & ~region):
        return region, False
    halo = region & ~tumor
    if not halo.any():
        return region & ~tumor_in, True
    fitted = _fitted_edge(region, tumor, halo & ndimage.binary_dilation(aerated), spacing)
    if fitted is not None:
        # The tumor at the aerated lung is not reached whatever the fit says there: no
        # zone shows beyond it.
        return fitted & ~exposed, True
    to_halo = ndimage.distance_transform_edt(~halo, sampling=spacing)
    to_air = ndimage.distance_transform_edt(~aerated, sampling=spacing)
    return region & ~(tumor_in & (to_air < to_halo)), True


def _fitted_edge(
    region: NDArray[np.bool_],
    tumor: NDArray[np.bool_],
    seen_edge: NDArray[np.bool_],
    spacing: NDArray[np.float64],
) -> NDArray[np.bool_] | None:
    """``region`` without the tumor voxels shallower than the margin fitted on the seen
    edge (``a + b . direction`` from the tumor's centre, least squares); ``None`` when
    fewer than :data:`MIN_SEEN_EDGE_VOXELS` edge voxels are seen."""
    edge_points = np.argwhere(seen_edge)
    if len(edge_points) < MIN_SEEN_EDGE_VOXELS:
        return None
    centre_mm = np.argwhere(tumor).mean(axis=0) * spacing

    def design(points: NDArray[np.int64]) -> NDArray[np.float64]:
        offsets = points * spacing - centre_mm
        lengths = np.maximum(np.linalg.norm(offsets, axis=1, keepdims=True), 1e-6)
        return np.hstack([np.ones((len(points), 1)), offsets / lengths])

    outside_mm = ndimage.distance_transform_edt(~tumor, sampling=spacing)
    coefficients, *_ = np.linalg.lstsq(
        design(edge_points), outside_mm[tuple(edge_points.T)], rcond=None
    )
    inner = np.argwhere(region & tumor)
    depth_mm = ndimage.distance_transform_edt(tumor, sampling=spacing)[tuple(inner.T)]
    unreached = depth_mm < -(design(inner) @ coefficients)
    kept = region.copy()
    kept[tuple(inner[unreached].T)] = False
    return kept


def _darkest_seed_level(
    smooth: NDArray[np.float32],
    seeds_kji: NDArray[np.int64],
    seed_mask: NDArray[np.bool_],
    spacing: NDArray[np.float64],
    soft: NDArray[np.float32],
) -> NDArray[np.float32]:
    """The values around the seed that reads darkest among those inside one tissue.

    A seed may lie in tissue that still enhances: a probe tip beyond the zone, or
    the tumor centre of an incomplete ablation (viable tumor). The zone is by
    definition the tissue that no longer takes up contrast, so the darkest seed
    tells its level; pooling every seed would let enhancing tissue pull the level
    up into the parenchyma's. Only balls that lie inside one tissue (spread within
    :data:`MIN_SPREAD_HU`, all soft tissue) count: a ball across the zone's edge into
    fat reads darker than either. ``soft`` (all seeds pooled) when no ball qualifies.
    """
    ball = _ball(SEED_BALL_MM, spacing)
    best: NDArray[np.float32] | None = None
    for seed in seeds_kji:
        own = np.zeros(smooth.shape, dtype=bool)
        own[tuple(seed)] = True
        values = smooth[ndimage.binary_dilation(own, ball) & seed_mask]
        in_range = (values >= NON_ENHANCING_HU[0]) & (values <= NON_ENHANCING_HU[1])
        if values.size == 0 or not in_range.all() or _robust_sigma(values) > MIN_SPREAD_HU:
            continue
        if best is None or np.median(values) < np.median(best):
            best = values
    return soft if best is None else best


def _place_edge(
    smooth: NDArray[np.float32],
    core: NDArray[np.bool_],
    band: NDArray[np.bool_],
    ring: NDArray[np.bool_],
    allowed: NDArray[np.bool_],
    seeds_kji: NDArray[np.int64],
    zone_hu: float,
    spread: float,
    bright_hu: float,
    dark_hu: float,
    spacing: NDArray[np.float64],
) -> tuple[NDArray[np.bool_], NDArray[np.float32]]:
    """The zone with its edge placed in ``band`` against the tissue levels read in ``ring``.

    The levels of the tissues just outside, brighter (enhancing parenchyma, muscle) and
    darker (fat, urine, bile) than the zone, are each spread over the band by a
    normalised convolution of the ring; where a side has no ring voxels nearby, its
    overall level (``bright_hu``, ``dark_hu``) stands in. A band voxel joins the zone
    when its intensity lies nearer the zone's level than the level on its side. Returns
    the region and the edge level of each voxel.
    """
    bright_level = _local_level(smooth, ring & (smooth > zone_hu + spread), bright_hu, spacing)
    dark_level = _local_level(smooth, ring & (smooth < zone_hu - spread), dark_hu, spacing)
    edge_hu = np.where(
        smooth >= zone_hu, 0.5 * (zone_hu + bright_level), 0.5 * (zone_hu + dark_level)
    )
    nearer_zone = np.where(smooth >= zone_hu, smooth < edge_hu, smooth > edge_hu)
    region = (core & ~band) | (band & nearer_zone & allowed)
    # The edge band may join thin partial-volume seams (fat against muscle reads like the
    # zone): opened once more, they part from the zone.
    opened = ndimage.binary_opening(region, _ball(OPENING_MM, spacing)) | core
    return ndimage.binary_fill_holes(_connected_to(opened, seeds_kji)), edge_hu


def _local_level(
    smooth: NDArray[np.float32],
    where: NDArray[np.bool_],
    fallback_hu: float,
    spacing: NDArray[np.float64],
) -> NDArray[np.float32]:
    """Gaussian-weighted mean of ``smooth`` over ``where`` near each voxel.

    ``fallback_hu`` where no voxel of ``where`` lies within a few neighbourhood widths.
    """
    sigma = EDGE_NEIGHBOURHOOD_MM / spacing
    weight = ndimage.gaussian_filter(where.astype(np.float32), sigma, truncate=2.0)
    summed = ndimage.gaussian_filter(np.where(where, smooth, 0.0), sigma, truncate=2.0)
    level = np.full(smooth.shape, fallback_hu, dtype=np.float32)
    np.divide(summed, weight, out=level, where=weight > 0.05)
    return level


def _robust_sigma(values: NDArray[np.floating]) -> float:
    """Standard deviation estimated from the median absolute deviation."""
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))


def _touches_box_face(
    region: NDArray[np.bool_], start: NDArray[np.int64], stop: NDArray[np.int64], shape
) -> bool:
    """True when the region meets a face of the search box that is not the image's edge."""
    extent = bounding_box(region)
    if extent is None:
        return False
    for axis, span in enumerate(extent):
        if span.start == 0 and start[axis] > 0:
            return True
        if span.stop == region.shape[axis] and stop[axis] < shape[axis]:
            return True
    return False
