"""Lesion from painted strokes: "lesion" and "not lesion" points.

Method and why
--------------
Strokes are what a reader paints when one click fails: lines over the lesion
(all of its parts: core, rim, calcification) and over what is not lesion next
to it (the vessel it touches, the host organ). They drive the same method as the
diameter line (:mod:`~planning_core.segmentation.seeded_lesion`): the lesion
strokes give the lesion's tissue classes and, through their span, its size
prior (a reader paints inside the edge, so the span is taken as
``INNER_FRACTION`` of the lesion's length); the not-lesion strokes are
background seeds, and their values a background class where they are unlike
every main lesion class (a stroke on a vessel at the rim's level acts through
its position only). Scikit-image's random walker places the boundary in a band
around the classified region (see :mod:`~planning_core.segmentation.competitive`
for why the walker is not run on the whole box: from thin strokes it loses every
weak edge, and the whole-box solve took 8-12 s).

:class:`StrokeSegmenter` averages the working box (``half_size_mm``, default
60 mm: a 120 mm region) down to a grid of about 2 mm once and keeps it; each
update paints the strokes on that grid and reruns the classification and the
band walk: 0.1-0.3 s of CPU for the 120 mm box (``benchmarks/bench_segment.py``).
The lesion probability is interpolated onto the fine voxels and cut at one half,
keeping the parts connected to a lesion stroke and filling enclosed holes. A
result at the strokes' size bound is ``uncertain``: paint the lesion across its
full extent.

A later, correct stroke must not make the result worse. So each lesion stroke
keeps its own tissue classes (a stroke on the viable layer adds a class and does
not flatten the necrotic class an earlier stroke found); a lesion stroke on
tissue at the host's level acts through its position only (as a class it would
carry the lesion through the host organ); and what the strokes show beyond the
intensity classes is kept: the painted reach along the longest stroke, and an
outer layer as thick as the brush sticks out of the classified region (an
enhancing rim or iso-dense margin next to the edge, which a 2 mm brush cannot sit
on), added all around as for a diameter line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from planning_core.errors import InvalidParameterError, SegmentationError
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.progress import no_progress
from planning_core.segmentation import competitive, seeded_lesion
from planning_core.segmentation.metrics import mask_volume_ml, max_diameter_mm, recist_axes
from planning_core.segmentation.morphology import dilate_mm, fill_holes_3d, fill_holes_per_slice
from planning_core.segmentation.roi import roi_around
from planning_core.segmentation.tumor import TumorSegmentation

#: Lesion strokes lie inside the lesion's edge: their span is taken as this share of its
#: length, as the inner part of a diameter line (see lesion_line.INNER_FRACTION).
INNER_FRACTION = 0.8
#: The host is sampled from this fraction of the expected length beyond the lesion
#: stroke's painted reach (as lesion_line.END_GAP_FRACTION beyond a line's ends).
END_GAP_FRACTION = 0.1
#: Smallest expected lesion length (mm): a few dabs on a small lesion still allow 10 mm.
MIN_LENGTH_MM = 10.0
#: The result is uncertain when more than this share of it lies at the strokes' bound.
MAX_AT_BOUND_SHARE = 0.02


def _points(value: ArrayLike, name: str) -> NDArray[np.float64]:
    points = np.asarray(value, dtype=np.float64)
    if points.size == 0:
        return np.zeros((0, 3), dtype=np.float64)
    points = points.reshape(-1, 3) if points.ndim == 1 and points.size == 3 else points
    if points.ndim != 2 or points.shape[1] != 3 or not np.all(np.isfinite(points)):
        raise InvalidParameterError(
            f"{name} must be points X,Y,Z (LPS mm), an (N, 3) array; got shape {points.shape}."
        )
    return points


@dataclass(frozen=True)
class Strokes:
    """Painted points, LPS mm, with the brush radius used.

    Attributes
    ----------
    lesion_lps_mm : ndarray
        ``(N, 3)`` points painted as lesion.
    background_lps_mm : ndarray
        ``(M, 3)`` points painted as not lesion.
    brush_radius_mm : float
        Radius of the brush around each point.
    """

    lesion_lps_mm: NDArray[np.float64]
    background_lps_mm: NDArray[np.float64]
    brush_radius_mm: float = 2.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "lesion_lps_mm", _points(self.lesion_lps_mm, "lesion strokes"))
        object.__setattr__(
            self, "background_lps_mm", _points(self.background_lps_mm, "background strokes")
        )
        if not np.isfinite(self.brush_radius_mm) or not 0.0 <= self.brush_radius_mm <= 30.0:
            raise InvalidParameterError(
                f"brush radius must be 0 to 30 mm, got {self.brush_radius_mm!r}."
            )


def finish_lesion(
    volume: Volume,
    grid: competitive.WorkGrid,
    probability: NDArray[np.float32],
    lesion_kji: NDArray[np.float64],
    *,
    into: LabelMap | None,
    label: str,
    method: dict[str, object],
    warnings: list[str],
    grow: Callable[[NDArray[np.bool_]], NDArray[np.bool_]] | None = None,
) -> TumorSegmentation:
    """Fine-grid mask from a coarse lesion probability: cut at one half, keep the parts
    holding a lesion seed, let ``grow`` add to it (on the box's fine voxels), fill
    enclosed holes, measure, paint into the label map.

    Raises
    ------
    SegmentationError
        When no voxel reaches one half (the lesion seeds were outvoted by edges).
    """
    geometry = volume.geometry
    roi = grid.roi
    fine = grid.to_roi(probability) > 0.5
    labelled, count = ndimage.label(fine)
    if count == 0:
        raise SegmentationError(
            "no lesion was found from the strokes: paint the lesion more fully, or move the "
            "not-lesion strokes away from it."
        )
    factors = np.asarray(grid.factors_kji, dtype=np.float64)
    fine_seeds = np.rint(lesion_kji * factors + (factors - 1.0) / 2.0).astype(int)
    fine_seeds = np.clip(fine_seeds, 0, np.asarray(roi.shape) - 1)
    kept = np.unique(labelled[tuple(fine_seeds.T)])
    kept = kept[kept > 0]
    if kept.size == 0:
        kept = np.array([int(np.argmax(np.bincount(labelled.ravel())[1:])) + 1])
    local = np.isin(labelled, kept)
    if grow is not None:
        local = grow(local)
    local = fill_holes_per_slice(fill_holes_3d(local))
    faces = roi.open_faces_touched(local)
    if faces:
        warnings.append(
            f"the lesion reaches the edge of the working region on side(s) {', '.join(faces)}: "
            "it may be cut there; paint not-lesion strokes around it or centre the region on it."
        )
    mask = roi.paste(local)
    base = into if into is not None else LabelMap.empty(geometry)
    label_map = base.with_mask(label, mask, role="target")
    # Measured on the box: the whole-grid surface search would cost more than the method.
    box_geometry = roi.geometry(geometry)
    recist = recist_axes(local, box_geometry)
    if recist is not None:
        recist = replace(recist, slice_index=recist.slice_index + roi.start_kji[0])
    edge_support = float(method.get("edge_support", 1.0))  # type: ignore[arg-type]
    confidence = float(np.clip(edge_support * 0.8 ** len(warnings), 0.0, 1.0))
    return TumorSegmentation(
        label_map,
        mask_volume_ml(local, box_geometry),
        max_diameter_mm(local, box_geometry),
        confidence,
        tuple(warnings),
        method,
        recist=recist,
        uncertain=bool(faces),
        label=label,
    )


def edge_support(
    probability: NDArray[np.float32], feature: NDArray[np.float32], scale: float
) -> float:
    """Share of the coarse boundary voxels whose feature changes by at least ``scale`` across
    the boundary (a visible edge holds the result there)."""
    inside = probability > 0.5
    boundary = inside & ~ndimage.binary_erosion(inside)
    if not boundary.any():
        return 0.0
    maximum = ndimage.maximum_filter(feature, size=3)
    minimum = ndimage.minimum_filter(feature, size=3)
    return float(np.mean((maximum - minimum)[boundary] >= scale))


class StrokeSegmenter:
    """Keeps the working box and its coarse grid between strokes (one update <= 1 s).

    Parameters
    ----------
    volume : Volume
        CT or ultrasound.
    centre_lps_mm : array_like
        Centre of the working box (where the first stroke was painted).
    half_size_mm : float
        Half-width of the working box (60 mm: a 120 mm region).
    """

    def __init__(
        self, volume: Volume, *, centre_lps_mm: ArrayLike, half_size_mm: float = 60.0
    ) -> None:
        if not np.isfinite(half_size_mm) or not 5.0 <= half_size_mm <= 150.0:
            raise InvalidParameterError(
                f"the working region's half size must be 5 to 150 mm, got {half_size_mm!r}."
            )
        centre = np.asarray(centre_lps_mm, dtype=np.float64).reshape(-1)
        if centre.shape != (3,) or not np.all(np.isfinite(centre)):
            raise InvalidParameterError(
                f"the stroke centre must be three finite numbers (LPS mm), got {centre_lps_mm!r}."
            )
        geometry = volume.geometry
        centre_ijk = geometry.lps_to_index(centre)
        if not geometry.contains_index(np.rint(centre_ijk)):
            raise InvalidParameterError(
                f"the stroke at {np.round(centre, 1).tolist()} mm (LPS) lies outside the image."
            )
        self.volume = volume
        self.half_size_mm = float(half_size_mm)
        roi = roi_around(geometry, centre_ijk, half_size_mm)
        self.grid = competitive.work_grid(
            volume, roi, competitive.block_factors(geometry, half_size_mm)
        )
        self.edge_scale = competitive.EDGE_SIGMAS * self.grid.noise

    def _beyond_the_ends(
        self, strokes: Strokes, ellipsoid: seeded_lesion.Ellipsoid
    ) -> NDArray[np.float32]:
        """Values on the long lesion stroke's extension beyond its ends, from
        ``END_GAP_FRACTION`` of the expected length past the painted reach to the bound:
        a stroke painted across a lesion ends near its edge, so the host lies there (as
        beyond a diameter line's ends). Where the stroke was short and the lesion goes
        on, those values are a lesion class and are dropped (``painted_host=False``)."""
        first, second = _farthest_pair(strokes.lesion_lps_mm)
        length_mm = float(np.linalg.norm(second - first))
        if length_mm < MIN_LENGTH_MM / 2.0:
            return np.zeros(0, dtype=np.float32)
        unit = (second - first) / length_mm
        start_mm = strokes.brush_radius_mm + END_GAP_FRACTION * 2.0 * ellipsoid.half_mm
        stop_mm = seeded_lesion.BOUND_RHO * ellipsoid.half_mm
        centre = (first + second) / 2.0
        step_mm = min(self.grid.spacing_kji_mm) / 2.0
        offsets = np.arange(length_mm / 2.0 + start_mm, stop_mm, step_mm)
        if offsets.size == 0:
            return np.zeros(0, dtype=np.float32)
        points = np.concatenate(
            [centre + sign * offsets[:, np.newaxis] * unit for sign in (-1.0, 1.0)]
        )
        kji = self.grid.lps_to_work(self.volume.geometry, points)
        inside = np.all((kji >= 0) & (kji <= np.asarray(self.grid.shape) - 1), axis=1)
        return ndimage.map_coordinates(self.grid.image, kji[inside].T, order=1).astype(np.float32)

    def _painted_reach(
        self, strokes: Strokes, allowed: NDArray[np.bool_]
    ) -> Callable[[NDArray[np.bool_]], NDArray[np.bool_]] | None:
        """What the user painted is lesion: the lesion reaches at least a brush radius
        beyond the two farthest lesion dabs. Where the result stops short of that, the
        lesion has an outer layer its classes missed; it is added as for a diameter line
        (:func:`~planning_core.segmentation.seeded_lesion.grow_to_drawn_ends`)."""
        first, second = _farthest_pair(strokes.lesion_lps_mm)
        length_mm = float(np.linalg.norm(second - first))
        if length_mm < MIN_LENGTH_MM / 2.0:
            return None
        unit = (second - first) / length_mm
        start = first - strokes.brush_radius_mm * unit
        end = second + strokes.brush_radius_mm * unit
        box_geometry = self.grid.roi.geometry(self.volume.geometry)
        return lambda local: seeded_lesion.grow_to_drawn_ends(
            local, box_geometry, start, end, allowed
        )

    def _missed_layer(
        self,
        strokes: Strokes,
        seeds: NDArray[np.int32],
        classified: NDArray[np.bool_],
        allowed: NDArray[np.bool_],
    ) -> Callable[[NDArray[np.bool_]], NDArray[np.bool_]] | None:
        """What the user painted is lesion: where the brush reaches beyond what the
        intensity classes call lesion (``classified`` from
        :func:`~planning_core.segmentation.seeded_lesion.lesion_probability`), the lesion
        has an outer layer the intensities did not show (an iso-dense margin, a thin
        enhancing rim). The brush lies inside the lesion, so how far it sticks out is a
        lower bound of that layer's thickness: per stroke, the median over its dabs (a
        stroke painted deep inside counts as none); the largest of the strokes' is taken
        all around, as for a diameter line's ends
        (:func:`~planning_core.segmentation.seeded_lesion.grow_to_drawn_ends`), into
        ``allowed`` voxels only."""
        grid = self.grid
        spacing = np.asarray(grid.spacing_kji_mm)
        if not classified.any():
            return None
        outside_mm = ndimage.distance_transform_edt(~classified, sampling=spacing)
        inside_mm = ndimage.distance_transform_edt(classified, sampling=spacing)
        # The edge lies half a coarse voxel before the nearest voxel centre across it.
        half_voxel_mm = 0.5 * float(spacing[1:].mean())
        signed_mm = np.where(classified, half_voxel_mm - inside_mm, outside_mm - half_voxel_mm)
        kji = np.rint(grid.lps_to_work(self.volume.geometry, strokes.lesion_lps_mm)).astype(int)
        on_grid = np.all((kji >= 0) & (kji < np.asarray(grid.shape)), axis=1)
        kji = kji[on_grid]
        if len(kji) == 0:
            return None
        components, _ = ndimage.label(seeds == competitive.LESION)
        stroke_of_dab = components[tuple(kji.T)]
        dab_mm = signed_mm[tuple(kji.T)]
        # Only a brush that touches the found region shows a layer on it; a dab farther
        # out (a separate part, a satellite) says nothing about its surface.
        touching = dab_mm <= strokes.brush_radius_mm
        stick_out_mm = np.maximum(strokes.brush_radius_mm + dab_mm, 0.0)
        margin_mm = max(
            (
                float(np.median(stick_out_mm[touching & (stroke_of_dab == stroke)]))
                for stroke in np.unique(stroke_of_dab[touching])
            ),
            default=0.0,
        )
        box_geometry = grid.roi.geometry(self.volume.geometry)
        if margin_mm < 0.5 * float(box_geometry.spacing_mm.min()):
            return None
        # The layer is measured from, and so added to, what the classes found.
        found = grid.to_roi(classified.astype(np.float32)) > 0.5
        layer = dilate_mm(found, margin_mm, box_geometry.spacing_kji_mm) & allowed
        return lambda local: local | layer

    def _grow(
        self,
        strokes: Strokes,
        seeds: NDArray[np.int32],
        classified: NDArray[np.bool_],
        layer_allowed: NDArray[np.bool_],
    ) -> Callable[[NDArray[np.bool_]], NDArray[np.bool_]]:
        """The painted reach, then the missed outer layer the strokes show."""
        allowed = self.grid.to_roi(layer_allowed.astype(np.float32)) > 0.5
        steps = [
            step
            for step in (
                self._painted_reach(strokes, allowed),
                self._missed_layer(strokes, seeds, classified, allowed),
            )
            if step is not None
        ]

        def grow(local: NDArray[np.bool_]) -> NDArray[np.bool_]:
            for step in steps:
                local = step(local)
            return local

        return grow

    def update(
        self, strokes: Strokes, *, into: LabelMap | None = None, label: str = "tumor"
    ) -> TumorSegmentation:
        """The lesion for the strokes painted so far.

        Raises
        ------
        InvalidParameterError
            When no lesion stroke lies in the working region.
        SegmentationError
            When nothing is left for the lesion.
        """
        geometry = self.volume.geometry
        grid = self.grid
        seeds = np.zeros(grid.shape, dtype=np.int32)
        background = grid.lps_to_work(geometry, strokes.background_lps_mm)
        lesion = grid.lps_to_work(geometry, strokes.lesion_lps_mm)
        spacing = grid.spacing_kji_mm
        brush_mm = strokes.brush_radius_mm
        competitive.paint_balls(seeds, background, brush_mm, spacing, competitive.BACKGROUND)
        inside = competitive.paint_balls(seeds, lesion, brush_mm, spacing, competitive.LESION)
        if inside == 0:
            raise InvalidParameterError(
                "no lesion stroke (--seed) lies in the working region: paint on the lesion."
            )
        ellipsoid = _stroke_extent(geometry, strokes)
        rho = ellipsoid.rho(grid, geometry)
        probability, layer_allowed, classified = seeded_lesion.lesion_probability(
            grid,
            seeds,
            rho,
            2.0 * ellipsoid.half_mm,
            painted_host=False,
            implied_host=self._beyond_the_ends(strokes, ellipsoid),
            report=no_progress,
        )
        warnings: list[str] = []
        uncertain = seeded_lesion.at_bound_share(probability, rho) > MAX_AT_BOUND_SHARE
        if uncertain:
            warnings.append(
                "the lesion reaches the limit the lesion strokes allow "
                f"({seeded_lesion.BOUND_RHO * ellipsoid.half_mm:.0f} mm from their centre): "
                "paint the lesion across its full extent, and not-lesion strokes where it leaks."
            )
        method: dict[str, object] = {
            "name": "strokes: shape-prior lesion probability, random walker (scikit-image)",
            "box_start_kji": list(grid.roi.start_kji),
            "box_stop_kji": list(grid.roi.stop_kji),
            "grid_spacing_kji_mm": list(grid.spacing_kji_mm),
            "noise": grid.noise,
            "lesion_points": int(strokes.lesion_lps_mm.shape[0]),
            "background_points": int(strokes.background_lps_mm.shape[0]),
            "expected_length_mm": 2.0 * ellipsoid.half_mm,
            "edge_support": edge_support(probability, grid.image, self.edge_scale),
        }
        result = finish_lesion(
            self.volume,
            grid,
            probability,
            np.argwhere(seeds == competitive.LESION).astype(np.float64),
            into=into,
            label=label,
            method=method,
            warnings=warnings,
            grow=self._grow(strokes, seeds, classified, layer_allowed),
        )
        if uncertain and not result.uncertain:
            return replace(result, uncertain=True)
        return result


def _farthest_pair(points: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    squared = ((points[:, np.newaxis, :] - points[np.newaxis, :, :]) ** 2).sum(axis=2)
    first, second = np.unravel_index(int(np.argmax(squared)), squared.shape)
    return points[first], points[second]


def _stroke_extent(geometry, strokes: Strokes) -> seeded_lesion.Ellipsoid:
    """The size prior from the lesion strokes: centred between their two farthest points,
    as long as their span divided by ``INNER_FRACTION`` (a reader paints inside the
    lesion's edge, as the inner part of a diameter line), at least ``MIN_LENGTH_MM``."""
    first, second = _farthest_pair(strokes.lesion_lps_mm)
    span_mm = float(np.linalg.norm(second - first)) + 2.0 * strokes.brush_radius_mm
    centre = (first + second) / 2.0
    normal = geometry.direction[:, 2] / np.linalg.norm(geometry.direction[:, 2])
    along = geometry.direction[:, 0] / np.linalg.norm(geometry.direction[:, 0])
    across = np.cross(normal, along)
    length_mm = max(span_mm / INNER_FRACTION, MIN_LENGTH_MM)
    return seeded_lesion.Ellipsoid(centre, along, across, normal, length_mm / 2.0)


def segment_from_strokes(
    volume: Volume,
    strokes: Strokes,
    *,
    into: LabelMap | None = None,
    label: str = "tumor",
    half_size_mm: float = 60.0,
) -> TumorSegmentation:
    """The lesion for one set of strokes (a new working box centred on the lesion strokes).

    Raises
    ------
    InvalidParameterError
        When there is no lesion stroke or a point lies outside the image.
    SegmentationError
        When nothing is left for the lesion.
    """
    if strokes.lesion_lps_mm.shape[0] == 0:
        raise InvalidParameterError("strokes need at least one lesion point (--seed).")
    centre = strokes.lesion_lps_mm.mean(axis=0)
    segmenter = StrokeSegmenter(volume, centre_lps_mm=centre, half_size_mm=half_size_mm)
    return segmenter.update(strokes, into=into, label=label)
