"""One-click tumor segmentation on CT and 3-D ultrasound.

Method and why
--------------
A click gives one point inside the lesion, nothing about its size or about
the tissue around it. The lesion is found in two stages on a box around the
seed (never the whole study):

1. The seeded region engine of :mod:`planning_core.segmentation.region` grows
   the lesion's tissue from the click: the seed's class from the intensity
   density of a small ball (robust to a click on noise or near the edge), a
   confidence-connected region of that class, an enclosing layer when the seed
   fell into a necrotic core, flooding to the strongest edges, and a shape-based
   cut of leaks into touching structures of similar intensity.
2. Its surface is then refitted as a smooth star-shaped surface around the
   lesion's centre (:mod:`planning_core.segmentation.radial`): one radius per
   direction, placed at the halfway level between the lesion's outer class and
   the tissue beyond, regularised over neighbouring directions, with the outer
   class re-measured until the surface stops moving and the rays re-centred on
   the fit. This replaced a voxel-wise boundary refit, which left the surface
   ragged where the contrast is low (a liver tumor's rim against liver), kept
   partial-volume sheets along a neighbouring organ's edge (kidney cortex
   against fat, +1.3 ml on the kidney sample) and depended on where the user
   clicked (Dice spread up to 0.14 over ten clicks; now at most 0.02).

A click in a thin outer layer of the lesion (a rim against its host) or right
at its edge grows into the neighbouring tissue. When the region from the click
leaves the first box, or its fitted surface does not hold the click, the
darkest and brightest points within ``retry_radius_mm`` are tried as seeds
(only the darkest on ultrasound, where lesions are hypoechoic); such a result is
kept only when it stays within the first box and its surface holds the click.

Graph cuts and random walkers need background seeds the user did not give, and
a global level set leaks along the same weak necks the shape cut removes; the
star-shaped fit regularises the surface the way a level set's curvature term
would, at a fraction of the cost, and cannot leak because every direction
leaves the lesion once. It assumes a compact lesion (star-shaped around its
centre); when the fit holds less than ``min_star_coverage`` of the grown region
a warning says so.

The box starts small and is enlarged while the result touches it. A result
that still touches the largest box is an organ or the body, not a lesion: it
is refused with :class:`~planning_core.errors.SegmentationError`, as is a seed
whose tissue class is air, fat or bone on CT.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from planning_core.errors import InvalidParameterError, SegmentationError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.progress import CancelToken, ProgressCallback, no_progress
from planning_core.segmentation.metrics import (
    RecistAxes,
    mask_volume_ml,
    max_diameter_mm,
    recist_axes,
)
from planning_core.segmentation.morphology import ball_offsets
from planning_core.segmentation.radial import RadialFit, RadialSettings, fit_star_surface
from planning_core.segmentation.region import (
    EDGE_SIGMAS,
    IntensityModel,
    RegionSettings,
    SeededRegion,
    denoise,
    grow_from_seed,
    local_noise,
)
from planning_core.segmentation.roi import Roi, roi_around, roi_from_corners

#: What a user does when one click cannot take the lesion (the CLI flags in brackets).
ASK_FOR_LINE_OR_STROKES = (
    "Draw a diameter line (--diameter) or strokes (--seed/--background) on the lesion."
)

#: Region settings per modality: ultrasound speckle needs a median filter first. The
#: star-shaped fit places the final boundary, so the region's own boundary fit is skipped.
CT_REGION = RegionSettings(refine_passes=0)
US_REGION = RegionSettings(smoothing_mm=0.8, median_radius_mm=0.5, refine_passes=0)


@dataclass(frozen=True)
class TumorSettings:
    """Search box and plausibility limits of the one-click tumor.

    Parameters
    ----------
    start_half_size_mm : float
        Half-width of the first box around the seed.
    start_half_size_voxels : int
        On fine grids (3-D ultrasound) the first box is at most this many
        voxels wide on each side of the seed, so its cost stays bounded.
    max_half_size_mm : float
        Largest half-width tried; a result still touching it is refused.
    edge_box_factor : float
        With an edge click at distance ``r`` from the seed, the box half-width
        is ``edge_box_factor * r`` and the lesion is confined to a ball of
        ``edge_box_factor * r`` around the seed.
    min_volume_ml : float
        Smaller results are refused (the seed hit noise or a speck).
    small_volume_ml, large_volume_ml : float
        Results outside this range come with a warning.
    max_diameter_mm : float
        Larger results are refused (an organ, not a lesion).
    ct_lesion_range_hu : tuple of float
        On CT, a seed whose tissue mean lies outside this range is in air, fat
        or bone, not in a lesion.
    min_contrast_sigmas : float
        Below this lesion/neighbour contrast (in noise sigmas) a warning says
        the boundary is weakly supported.
    max_box_share : float
        A lesion stands out from its surroundings: a region filling more than
        this share of the search box is the surrounding tissue itself.
    radial : RadialSettings
        The star-shaped surface fit that gives the final boundary.
    retry_radius_mm : float
        When the region grown from the click leaves the first box, or its fitted
        surface does not hold the click, the darkest and brightest voxels within
        this distance are tried as seeds; such a result is kept only when it
        stays in the first box and holds the click.
    min_star_coverage : float
        When the star-shaped fit holds less than this share of the grown region,
        a warning says that a leak was cut off or the lesion is not compact.
    wrap_near_mm, wrap_far_mm : tuple of float
        Shells outside the result compared by :func:`wrapped_share`: just beyond its
        blurred edge (one to four voxels), and a centimetre further out, where a
        compact lesion's host continues.
    wrap_contrast_sigmas : float
        A step of this many noise sigmas between the two shells is a layer (the
        lesion/neighbour contrast asked of a visible boundary, ``min_contrast_sigmas``).
    max_wrapped_share : float
        When more than this share of the directions around the result show such a
        layer, the click found one part of a heterogeneous lesion: the result is
        uncertain. An organ touching a compact lesion lies on one side of it (at most
        about half of the directions) and is rarely graded between lesion and host; a
        lesion's own layer wraps it all around, minus where the layer is thin.
    max_cut_fraction : float
        A larger share of the grown region cut off as a leak makes the result
        uncertain (the "leak" may be the rest of the lesion).
    """

    start_half_size_mm: float = 30.0
    start_half_size_voxels: int = 64
    max_half_size_mm: float = 80.0
    edge_box_factor: float = 1.6
    min_volume_ml: float = 0.03
    small_volume_ml: float = 0.2
    large_volume_ml: float = 250.0
    max_diameter_mm: float = 110.0
    ct_lesion_range_hu: tuple[float, float] = (-60.0, 250.0)
    min_contrast_sigmas: float = 2.0 * EDGE_SIGMAS
    max_box_share: float = 0.5
    radial: RadialSettings = field(default_factory=RadialSettings)
    min_star_coverage: float = 0.6
    retry_radius_mm: float = 4.0
    wrap_near_mm: tuple[float, float] = (1.5, 4.5)
    wrap_far_mm: tuple[float, float] = (8.0, 14.0)
    wrap_contrast_sigmas: float = 2.0 * EDGE_SIGMAS
    max_wrapped_share: float = 0.4
    max_cut_fraction: float = 0.2


@dataclass(frozen=True, eq=False)
class TumorSegmentation:
    """The one-click tumor on the volume's grid.

    Attributes
    ----------
    label_map : LabelMap
        One label, ``"tumor"``, on the volume's grid.
    volume_ml : float
        Volume of the mask.
    max_diameter_mm : float
        Largest extent of the mask.
    confidence : float
        0..1: the share of the boundary on a visible edge, lowered by the share
        cut off as a leak, by weak contrast and by each warning.
    warnings : tuple of str
        Tolerable problems (leak cut, weak edge, implausible size).
    method : dict
        Details for reports and debugging: box, intensity model, edge support.
    recist : RecistAxes or None
        RECIST long and short axes of the mask (``None`` only for an empty mask).
    uncertain : bool
        True when the method could not trust its own result (a heterogeneous
        lesion from one click, a large cut-off leak, a result at the limits of
        the drawn line); one of ``warnings`` then says what to draw instead.
    label : str
        The label in ``label_map`` that holds the lesion.
    """

    label_map: LabelMap
    volume_ml: float
    max_diameter_mm: float
    confidence: float
    warnings: tuple[str, ...]
    method: dict[str, object] = field(default_factory=dict)
    recist: RecistAxes | None = None
    uncertain: bool = False
    label: str = "tumor"

    @property
    def mask(self) -> NDArray[np.bool_]:
        """Boolean ``[k, j, i]`` tumor mask on the volume's grid."""
        return self.label_map.mask(self.label)

    @property
    def geometry(self) -> Geometry:
        return self.label_map.geometry


def seed_index_kji(
    geometry: Geometry, seed_lps_mm: ArrayLike, *, name: str
) -> tuple[int, int, int]:
    """Nearest voxel ``(k, j, i)`` of an LPS point; raises when it lies outside the grid."""
    point = np.asarray(seed_lps_mm, dtype=np.float64).reshape(-1)
    if point.shape != (3,) or not np.all(np.isfinite(point)):
        raise InvalidParameterError(
            f"{name} must be three finite numbers (LPS mm), got {seed_lps_mm!r}."
        )
    ijk = geometry.lps_to_nearest_index(point)
    if not geometry.contains_index(ijk):
        raise InvalidParameterError(
            f"{name} {np.round(point, 2).tolist()} mm (LPS) lies outside the image; "
            "click inside the volume."
        )
    return int(ijk[2]), int(ijk[1]), int(ijk[0])


def _settings_for(volume: Volume) -> RegionSettings:
    return US_REGION if volume.modality == "US" else CT_REGION


def _ball_mask(
    roi: Roi, center_kji: tuple[int, int, int], radius_mm: float, spacing_kji
) -> NDArray[np.bool_]:
    allowed = np.zeros(roi.shape, dtype=bool)
    points = ball_offsets(radius_mm, spacing_kji) + np.asarray(roi.to_local_kji(center_kji))
    inside = np.all((points >= 0) & (points < np.asarray(roi.shape)), axis=1)
    allowed[tuple(points[inside].T)] = True
    return allowed


def _grow_in(
    volume: Volume,
    roi: Roi,
    seed_kji: tuple[int, int, int],
    allowed: NDArray[np.bool_] | None,
    cancel: CancelToken | None,
) -> SeededRegion:
    return grow_from_seed(
        roi.crop(volume.voxels),
        roi.to_local_kji(seed_kji),
        volume.geometry.spacing_kji_mm,
        _settings_for(volume),
        allowed=allowed,
        cancel=cancel,
    )


def _check_lesion_class(volume: Volume, region: SeededRegion, settings: TumorSettings) -> None:
    if volume.modality != "CT":
        return
    low, high = settings.ct_lesion_range_hu
    mean = region.intensity.mean
    if not np.isfinite(mean):
        raise SegmentationError(
            "no tissue class could be measured at the seed (a fluid or very uniform "
            f"region). {ASK_FOR_LINE_OR_STROKES}"
        )
    if not low <= mean <= high:
        tissue = "air or lung" if mean < -400 else "fat" if mean < low else "bone or contrast"
        raise SegmentationError(
            f"the seed lies in {tissue} ({mean:.0f} HU), not in a soft-tissue lesion "
            f"({low:.0f} to {high:.0f} HU). Click inside the tumor; for a lesion with "
            "ground glass, calcification or fluid, "
            f"{ASK_FOR_LINE_OR_STROKES[0].lower()}{ASK_FOR_LINE_OR_STROKES[1:]}"
        )


class _OrganSizedError(SegmentationError):
    """The region grown from a seed is an organ or the body; carries its tissue class."""

    def __init__(self, message: str, tissue: IntensityModel) -> None:
        super().__init__(message)
        self.tissue = tissue


def _grow_lesion(
    volume: Volume,
    start: tuple[int, int, int],
    boxes: list[Roi],
    seed: tuple[int, int, int],
    allowed_radius_mm: float | None,
    *,
    constrained: bool,
    early_refusal: bool,
    settings: TumorSettings,
    report: ProgressCallback,
    cancel: CancelToken | None,
) -> tuple[SeededRegion, Roi, NDArray[np.bool_] | None]:
    """Grow from ``start`` in boxes of increasing size; refuse organ-sized regions.

    With ``early_refusal`` a region that leaves the first box is refused at once:
    the caller tries other starts near the click before paying for the larger
    boxes.
    Returns the region, its box and the voxels it was allowed to take (the
    edge-click ball around ``seed``), ``None`` when unconstrained.
    """
    spacing = volume.geometry.spacing_kji_mm
    region: SeededRegion | None = None
    roi = boxes[0]
    allowed: NDArray[np.bool_] | None = None
    open_faces: list[str] = []
    for attempt, roi in enumerate(boxes):
        report(0.1 + 0.6 * attempt / len(boxes), "Growing the tumor from the seed")
        allowed = (
            _ball_mask(roi, seed, allowed_radius_mm, spacing)
            if allowed_radius_mm is not None
            else None
        )
        region = _grow_in(volume, roi, start, allowed, cancel)
        _check_lesion_class(volume, region, settings)
        open_faces = roi.open_faces_touched(region.mask)
        if not open_faces or constrained:
            break
        if early_refusal and attempt == 0:
            raise _OrganSizedError(
                "the region grown from the seed leaves the first search box.",
                region.intensity,
            )
    assert region is not None
    if constrained:
        return region, roi, allowed
    if open_faces:
        raise _OrganSizedError(
            "the region grown from the seed extends beyond "
            f"{2 * settings.max_half_size_mm:.0f} mm: it is an organ or the body, not a "
            f"lesion. Click inside the tumor, or draw a box around it. {ASK_FOR_LINE_OR_STROKES}",
            region.intensity,
        )
    grid_faces = roi.grid_faces_touched(region.mask)
    box_share = float(np.count_nonzero(region.mask)) / float(np.prod(roi.shape))
    if len(grid_faces) >= 2 or box_share > settings.max_box_share:
        raise _OrganSizedError(
            f"the region grown from the seed fills {100 * box_share:.0f} % of the search box "
            f"and reaches the image border on {len(grid_faces)} side(s): it is an organ or "
            "the body, not a lesion. Click inside the tumor, or draw a box around it. "
            f"{ASK_FOR_LINE_OR_STROKES}",
            region.intensity,
        )
    return region, roi, allowed


def _alternative_seeds(
    volume: Volume,
    seed: tuple[int, int, int],
    tissue: IntensityModel,
    settings: TumorSettings,
) -> list[tuple[int, int, int]]:
    """The darkest and (not on ultrasound) the brightest voxel within ``retry_radius_mm``
    of ``seed`` (denoised), least like ``tissue`` first."""
    geometry = volume.geometry
    spacing = geometry.spacing_kji_mm
    region_settings = _settings_for(volume)
    reach_mm = settings.retry_radius_mm + 3.0 * region_settings.smoothing_mm
    roi = roi_around(geometry, np.asarray(seed[::-1], dtype=np.float64), reach_mm)
    image = denoise(
        roi.crop(volume.voxels),
        spacing,
        region_settings.smoothing_mm,
        region_settings.median_radius_mm,
    )
    points = ball_offsets(settings.retry_radius_mm, spacing) + np.asarray(roi.to_local_kji(seed))
    points = points[np.all((points >= 0) & (points < np.asarray(image.shape)), axis=1)]
    values = image[tuple(points.T)]
    darkest, brightest = int(np.argmin(values)), int(np.argmax(values))
    # Lesions on ultrasound are hypoechoic: a brighter start would be another tissue.
    candidates = [darkest] if volume.modality == "US" else [darkest, brightest]
    candidates.sort(key=lambda index: -abs(float(values[index]) - tissue.mean))
    start = np.asarray(roi.start_kji)
    return [tuple(int(v) for v in points[index] + start) for index in candidates]  # type: ignore[misc]


def _retry_from_alternative(
    volume: Volume,
    seed: tuple[int, int, int],
    tissue: IntensityModel,
    settings: TumorSettings,
    boxes_around: Callable[[tuple[int, int, int]], list[Roi]],
    grow: Callable[..., tuple[SeededRegion, Roi, NDArray[np.bool_] | None]],
) -> tuple[SeededRegion, Roi, NDArray[np.bool_] | None, NDArray[np.bool_], RadialFit, float] | None:
    """The lesion grown from an alternative start near ``seed`` (see ``_alternative_seeds``).

    Returns ``(region, roi, allowed, body, fit, coverage)`` for the first start
    whose lesion stays in its first box and whose surface holds the click, else
    ``None``.
    """
    for alternative in _alternative_seeds(volume, seed, tissue, settings):
        try:
            region, roi, allowed = grow(alternative, boxes_around(alternative), early_refusal=True)
        except SegmentationError:
            continue
        body, fit, coverage = _star_fit(region, volume.geometry.spacing_kji_mm, allowed, settings)
        if roi.paste(body)[seed]:
            return region, roi, allowed, body, fit, coverage
    return None


def _star_fit(
    region: SeededRegion,
    spacing_kji: tuple[float, float, float],
    allowed: NDArray[np.bool_] | None,
    settings: TumorSettings,
) -> tuple[NDArray[np.bool_], RadialFit, float]:
    """The star-shaped fit of the grown region (cropped grid), the fit, and the share of the
    region inside it."""
    fit = fit_star_surface(
        region.edge_image,
        region.mask,
        spacing_kji,
        outer_level=region.intensity.mean,
        noise_sigma=local_noise(region.edge_image),
        settings=settings.radial,
    )
    body = fit.mask if allowed is None else fit.mask & allowed
    coverage = float(np.count_nonzero(body & region.mask)) / float(np.count_nonzero(region.mask))
    return body, fit, coverage


def _direction_bins() -> NDArray[np.float64]:
    """The 26 directions to the neighbours of a voxel, as unit vectors (k, j, i)."""
    steps = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    steps = steps[np.any(steps != 0, axis=1)].astype(np.float64)
    return steps / np.linalg.norm(steps, axis=1, keepdims=True)


def wrapped_share(
    volume: Volume, mask: NDArray[np.bool_], roi: Roi, settings: TumorSettings
) -> float:
    """Share of directions around the result in which a graded layer wraps it.

    Around a compact lesion the tissue just outside its edge is its host, the same as a
    centimetre further out. When the click found only the core of a heterogeneous
    lesion (necrosis), the tissue just outside is the lesion's next layer (viable
    tumor), whose level lies between the core's and the host's. Per direction from the
    result's centre (26 sectors) the median just outside (``wrap_near_mm``) is compared
    with the result's median and the median further out (``wrap_far_mm``); lying
    between them, ``wrap_contrast_sigmas`` noise sigmas (the contrast a reader needs to
    see a boundary) from each, counts as a layer. An organ next to a compact lesion is
    not graded that way (renal cortex is brighter than both a renal mass and the fat
    beyond) and lies on one side; a lesion's own layer lies all around.
    """
    geometry = volume.geometry
    spacing = np.asarray(geometry.spacing_kji_mm)
    reach = np.ceil(settings.wrap_far_mm[1] / spacing).astype(int) + 1
    local = np.argwhere(mask)
    start = np.maximum(local.min(axis=0) + np.asarray(roi.start_kji) - reach, 0)
    stop = np.minimum(local.max(axis=0) + np.asarray(roi.start_kji) + reach + 1, geometry.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(start, stop, strict=True))
    inside = roi.paste(mask)[box]
    image = denoise(volume.voxels[box], geometry.spacing_kji_mm, 1.0, 0.0)
    noise = local_noise(image)
    distance = ndimage.distance_transform_edt(~inside, sampling=spacing)
    near = (distance > settings.wrap_near_mm[0]) & (distance <= settings.wrap_near_mm[1])
    far = (distance > settings.wrap_far_mm[0]) & (distance <= settings.wrap_far_mm[1])
    centre = np.argwhere(inside).mean(axis=0) * spacing
    bins = _direction_bins()

    def sector_medians(shell: NDArray[np.bool_]) -> list[NDArray[np.float32]]:
        points = np.argwhere(shell)
        offsets = points * spacing - centre
        sector = np.argmax(offsets @ bins.T, axis=1)
        values = image[shell]
        return [values[sector == index] for index in range(len(bins))]

    near_values, far_values = sector_medians(near), sector_medians(far)
    level = float(np.median(image[inside]))
    step_needed = settings.wrap_contrast_sigmas * max(noise, 1e-3)
    layered = []
    for near_sector, far_sector in zip(near_values, far_values, strict=True):
        if near_sector.size < 5 or far_sector.size < 5:
            continue
        near_level, far_level = float(np.median(near_sector)), float(np.median(far_sector))
        # A graded layer: the tissue just outside lies between the result's level and
        # the host's, clearly apart from both (necrosis, viable tumor, liver).
        low, high = sorted((level, far_level))
        layered.append(low + step_needed <= near_level <= high - step_needed)
    return float(np.mean(layered)) if layered else 0.0


def _recist_in_box(local: NDArray[np.bool_], roi: Roi, geometry: Geometry) -> RecistAxes | None:
    """RECIST axes of a box's mask, with the slice index on the full grid."""
    recist = recist_axes(local, roi.geometry(geometry))
    if recist is None:
        return None
    return replace(recist, slice_index=recist.slice_index + roi.start_kji[0])


def _confidence(
    region: SeededRegion, edge_support: float, warnings: list[str], settings: TumorSettings
) -> float:
    contrast = region.intensity.contrast_sigmas
    contrast_term = float(np.clip(contrast / settings.min_contrast_sigmas, 0.0, 1.0))
    score = edge_support * (1.0 - region.cut_fraction) * contrast_term
    return float(np.clip(score * 0.8 ** len(warnings), 0.0, 1.0))


def segment_tumor(
    volume: Volume,
    seed_lps_mm: ArrayLike,
    *,
    edge_lps_mm: ArrayLike | None = None,
    box_lps_mm: ArrayLike | None = None,
    settings: TumorSettings | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> TumorSegmentation:
    """Segment the lesion holding ``seed_lps_mm``.

    Parameters
    ----------
    volume : Volume
        CT (HU) or 3-D ultrasound.
    seed_lps_mm : array_like
        A point inside the lesion, LPS mm.
    edge_lps_mm : array_like, optional
        A second click on the lesion's edge: bounds the lesion to
        ``settings.edge_box_factor`` times the seed-edge distance.
    box_lps_mm : array_like, optional
        Two opposite corners ``[[x0, y0, z0], [x1, y1, z1]]`` of a box that holds
        the lesion; the lesion is confined to it.
    settings : TumorSettings, optional
        Box sizes and plausibility limits.
    progress, cancel
        Progress callback and cancel token.

    Returns
    -------
    TumorSegmentation

    Raises
    ------
    InvalidParameterError
        When a point lies outside the image or the box is malformed.
    SegmentationError
        When nothing lesion-like holds the seed: it lies in air, fat or bone,
        the region is organ- or body-sized, or it is a speck.
    """
    settings = settings or TumorSettings()
    report = progress or no_progress
    geometry = volume.geometry
    spacing = geometry.spacing_kji_mm
    seed = seed_index_kji(geometry, seed_lps_mm, name="the seed point")
    seed_ijk = np.asarray(seed[::-1], dtype=np.float64)
    fixed_box: Roi | None = None
    allowed_radius_mm: float | None = None
    if box_lps_mm is not None:
        corners = np.asarray(box_lps_mm, dtype=np.float64)
        if corners.shape != (2, 3) or not np.all(np.isfinite(corners)):
            raise InvalidParameterError(
                f"the box must be two corners [[x0, y0, z0], [x1, y1, z1]], got {box_lps_mm!r}."
            )
        fixed_box = roi_from_corners(geometry, corners[0], corners[1], margin_mm=0.0)
        if not all(
            a <= s < b
            for s, a, b in zip(seed, fixed_box.start_kji, fixed_box.stop_kji, strict=True)
        ):
            raise InvalidParameterError("the box must contain the seed; draw the box around it.")
    if edge_lps_mm is not None:
        seed_index_kji(geometry, edge_lps_mm, name="the edge point")
        edge_lps = np.asarray(edge_lps_mm, dtype=np.float64).reshape(3)
        radius = float(np.linalg.norm(edge_lps - geometry.index_to_lps(seed_ijk)))
        if radius < 2.0 * float(geometry.spacing_mm.min()):
            raise InvalidParameterError(
                "the edge point lies on the seed; click on the lesion's edge, away from the seed."
            )
        allowed_radius_mm = settings.edge_box_factor * radius
    constrained = fixed_box is not None or allowed_radius_mm is not None

    def boxes_around(center_kji: tuple[int, int, int]) -> list[Roi]:
        if fixed_box is not None:
            return [fixed_box]
        half = (
            allowed_radius_mm + 2.0 * float(geometry.spacing_mm.max())
            if allowed_radius_mm is not None
            else min(
                settings.start_half_size_mm,
                settings.start_half_size_voxels * float(geometry.spacing_mm.max()),
            )
        )
        sizes = [half]
        while allowed_radius_mm is None and sizes[-1] < settings.max_half_size_mm:
            sizes.append(min(2.0 * sizes[-1], settings.max_half_size_mm))
        center_ijk = np.asarray(center_kji[::-1], dtype=np.float64)
        return [roi_around(geometry, center_ijk, size) for size in sizes]

    def grow(
        start: tuple[int, int, int], boxes: list[Roi], *, early_refusal: bool
    ) -> tuple[SeededRegion, Roi, NDArray[np.bool_] | None]:
        return _grow_lesion(
            volume,
            start,
            boxes,
            seed,
            allowed_radius_mm,
            constrained=constrained,
            early_refusal=early_refusal,
            settings=settings,
            report=report,
            cancel=cancel,
        )

    boxes = boxes_around(seed)
    retried = False
    try:
        region, roi, allowed = grow(seed, boxes, early_refusal=not constrained)
        body, fit, coverage = _star_fit(region, spacing, allowed, settings)
    except _OrganSizedError as refused:
        # A click in a thin layer of the lesion (a rim against its host) or on its
        # edge grows into the neighbour; the darkest and brightest points within a
        # few millimetres are tried instead, each kept only when it gives a lesion
        # inside the first box whose surface holds the click.
        retry = _retry_from_alternative(volume, seed, refused.tissue, settings, boxes_around, grow)
        if retry is None:
            # Not a thin layer: the full search from the click decides (a large
            # lesion in the larger boxes, or the organ-sized refusal).
            region, roi, allowed = grow(seed, boxes[1:] or boxes, early_refusal=False)
            body, fit, coverage = _star_fit(region, spacing, allowed, settings)
        else:
            region, roi, allowed, body, fit, coverage = retry
            retried = True
    else:
        if not constrained and not roi.paste(body)[seed]:
            # The click's neighbourhood was dominated by the tissue next to the lesion
            # (a click near the edge, speckle): the lesion's own class nearby is tried.
            retry = _retry_from_alternative(
                volume, seed, region.intensity, settings, boxes_around, grow
            )
            if retry is not None:
                region, roi, allowed, body, fit, coverage = retry
                retried = True
    warnings: list[str] = []
    if retried:
        warnings.append(
            "the tissue at the click is not the lesion's main tissue (a thin rim, or the "
            "edge): the lesion was grown from a point within "
            f"{settings.retry_radius_mm:.0f} mm of the click; check the result."
        )
    open_faces = roi.open_faces_touched(region.mask)
    grid_faces = roi.grid_faces_touched(region.mask)
    if grid_faces:
        warnings.append(
            f"the tumor reaches the image border on side {grid_faces[0]}: it may continue "
            "beyond the scanned range."
        )
    if open_faces:
        warnings.append(
            "the tumor reaches the box (or edge-click limit) on side(s) "
            f"{', '.join(open_faces)}: it may be cut there; check it or enlarge the box."
        )
    if coverage < settings.min_star_coverage:
        warnings.append(
            f"the fitted surface holds only {100 * coverage:.0f} % of the region grown from "
            "the seed: a leak was cut off, or the lesion is not compact; check the boundary."
        )
    mask = roi.paste(body)
    report(0.85, "Measuring the tumor")
    # Measured on the box: a whole-grid surface search costs more than the method.
    box_geometry = roi.geometry(geometry)
    volume_ml = mask_volume_ml(body, box_geometry)
    diameter_mm = max_diameter_mm(body, box_geometry)
    if volume_ml < settings.min_volume_ml:
        raise SegmentationError(
            f"only {volume_ml * 1000:.0f} mm³ grew from the seed: it lies on noise or a speck, "
            "not in a lesion. Click inside the tumor."
        )
    if diameter_mm > settings.max_diameter_mm:
        raise SegmentationError(
            f"the region grown from the seed is {diameter_mm:.0f} mm across (limit "
            f"{settings.max_diameter_mm:.0f} mm): an organ, not a lesion. Click inside the tumor."
        )
    if volume_ml < settings.small_volume_ml:
        warnings.append(f"the tumor is very small ({volume_ml:.2f} ml): check the seed.")
    if volume_ml > settings.large_volume_ml:
        warnings.append(f"the tumor is very large ({volume_ml:.0f} ml): check for leaks.")
    if region.cut_fraction > 0.2:
        warnings.append(
            f"{100 * region.cut_fraction:.0f} % of the grown region was cut off as a leak into "
            "a touching structure: check the boundary there."
        )
    contrast = region.intensity.contrast_sigmas
    if contrast < settings.min_contrast_sigmas:
        warnings.append(
            f"weak contrast with the surrounding tissue ({contrast:.1f} noise sigmas): the "
            "boundary is uncertain."
        )
    wrapped = wrapped_share(volume, body, roi, settings) if volume.modality == "CT" else 0.0
    uncertain = (
        wrapped > settings.max_wrapped_share
        or region.cut_fraction > settings.max_cut_fraction
        or coverage < settings.min_star_coverage
    )
    if wrapped > settings.max_wrapped_share:
        warnings.append(
            f"another tissue layer wraps the result in {100 * wrapped:.0f} % of the "
            "directions around it: the click found one part of a heterogeneous lesion "
            "(its core, or one of its layers)."
        )
    if uncertain:
        warnings.append(
            "one click is not reliable for this lesion (heterogeneous, or leaking into "
            f"its neighbours). {ASK_FOR_LINE_OR_STROKES}"
        )
    label_map = LabelMap.empty(geometry).with_mask("tumor", mask)
    edge_support = fit.edge_share
    confidence = _confidence(region, edge_support, warnings, settings)
    method = {
        "name": "seeded confidence-connected region, edge flooding, neck cut, star-shaped "
        "surface fit",
        "box_start_kji": list(roi.start_kji),
        "box_stop_kji": list(roi.stop_kji),
        "tissue_mean": region.intensity.mean,
        "tissue_sigma": region.intensity.sigma,
        "contrast_sigmas": contrast,
        "edge_support": edge_support,
        "star_coverage": coverage,
        "outer_level": fit.outer_level,
        "cut_fraction": region.cut_fraction,
        "layered": region.layered,
        "wrapped_share": wrapped,
    }
    report(1.0, "Tumor segmented")
    return TumorSegmentation(
        label_map,
        volume_ml,
        diameter_mm,
        confidence,
        tuple(warnings),
        method,
        recist=_recist_in_box(body, roi, geometry),
        uncertain=uncertain,
    )
