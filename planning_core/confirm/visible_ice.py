"""The ice seen on the CT taken during the freeze, and how it compares with the prediction.

Frozen tissue lies near water density (darker than soft tissue, brighter than
aerated lung), and its edge is the 0 °C isotherm. Around the freezing segments
of the detected shafts the image is smoothed (an in-plane median against noise
and thin streaks), the ice level is read next to the shafts and the tissue
level first as the commonest value unlike it, then in a shell just outside the
ice found so far; the ice is grown from the shafts over voxels nearer the ice
level than the tissue level (not far beyond the ice level on the other side:
fat beside ice in soft tissue). Where the ice reaches out of an organ the shell
holds tissue on both sides of the ice level (enhancing kidney and perirenal
fat): outside aerated lung the far side's level is then read too and the edge
on that side lies halfway to it as well. The ice is opened by a small ball to
cut streaks off and kept within reach of a freezing segment. Three rounds
settle the levels. The volume comes from the marching-cubes surface of the
smoothed image at the halfway level, so it is sub-voxel.

The comparison maps that surface into the planning frame and measures, for
each vertex, the distance to the predicted 0 °C surface at the elapsed time:
positive where the visible ice reaches beyond the prediction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.measure import marching_cubes

from planning_core.imaging.geometry import Geometry
from planning_core.imaging.volume import Volume
from planning_core.planning.masks import bounding_box
from planning_core.thermal.result import ICE_EDGE_C

#: Room around the freezing segments in which ice is looked for (mm).
SEARCH_RADIUS_MM = 40.0
#: Farthest ice may lie from a freezing segment (mm): beyond any probe's iceball.
ICE_REACH_MM = 30.0
#: Voxels this close to a shaft's axis are metal or blooming: taken for ice (mm).
SHAFT_CORE_MM = 3.0
#: Ice level is read this far from the axis (mm): beyond the blooming, inside any ice.
ICE_SAMPLE_MM = (3.5, 6.0)
#: Thickness of the shell outside the ice where the tissue level is read (mm).
TISSUE_SHELL_MM = (3.0, 8.0)
#: Radius of the opening that cuts thin dark streaks off the ice (mm).
OPENING_RADIUS_MM = 2.0
#: Frozen tissue lies near water density on CT (HU): tissue next to the freezing segments
#: outside this range is not frozen.
ICE_RANGE_HU = (-80.0, 30.0)
#: Least contrast between tissue and ice that makes ice visible (HU).
MIN_CONTRAST_HU = 15.0
#: Values above this are metal or bright streaks, below the lower one air: never a level.
LEVEL_RANGE_HU = (-950.0, 300.0)
#: Tissue on the far side of the ice level (fat beside ice in soft tissue) is no ice when
#: it lies beyond the ice level by more than this share of the ice-tissue contrast.
FAR_SIDE_BAND = 0.4
#: ... and never by more than this (HU): frozen tissue lies near water density whatever
#: lies beside it, so in aerated lung (ice brighter than the tissue) soft tissue that did
#: not freeze (tumor, vessels, chest wall, some 50 HU above the ice) is no ice, however
#: large the ice-lung contrast; twice or thrice the smoothed image's noise.
FAR_SIDE_MAX_HU = 25.0
#: In aerated lung (tissue level below the first figure) the ice level read beside the
#: shafts is pulled down by partial volume with the air around, or up by streaks; frozen
#: tissue itself reads up to about water density plus noise and streaks (second figure).
AERATED_LUNG_HU = -500.0
ICE_CEILING_HU = 30.0
#: Outside aerated lung, ice may border tissue on both sides of its level (kidney and
#: perirenal fat). When at least this share of the shell outside the ice lies on the far
#: side of the ice level, that tissue's level is read there too and the edge on that side
#: lies halfway to it, as on the near side, instead of the fixed band above.
FAR_TISSUE_SHARE = 0.1


#: Tissue this far from the ice level before the freeze (HU: water-like tissue such as
#: cyst fluid, urine or bile) is too near it to be told from ice by the level between the
#: ice and the surrounding tissue, yet far enough that freezing visibly moves it: such a
#: voxel that reads nearer its own former level than the ice level did not freeze. Nearer
#: than the first figure, the change is lost in the noise and the common rule stands.
ICE_LIKE_BEFORE_HU = (20.0, 45.0)


@dataclass(frozen=True)
class ShaftSegment:
    """The freezing part of a detected shaft, in the CT's LPS frame (mm)."""

    start_lps_mm: NDArray[np.float64]
    end_lps_mm: NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class VisibleIce:
    """Ice segmented on the intra-procedural CT (its own frame).

    Attributes
    ----------
    mask : ndarray of bool
        Ice voxels on ``geometry``.
    geometry : Geometry
        The CT's grid cropped to the search box.
    volume_ml : float
        Volume inside the ice edge (sub-voxel).
    ice_hu, tissue_hu : float
        Levels read on the image; the edge lies halfway.
    surface_lps_mm : ndarray, shape (n, 3)
        Vertices of the ice edge (CT frame).
    note : str
        Why no ice was found (empty when found).
    far_tissue_hu : float
        The level of the tissue on the other side of the ice level where the ice also
        borders it (fat beside an enhancing organ); NaN when it borders one tissue.
    """

    mask: NDArray[np.bool_]
    geometry: Geometry
    volume_ml: float
    ice_hu: float
    tissue_hu: float
    surface_lps_mm: NDArray[np.float64]
    note: str = ""
    far_tissue_hu: float = float("nan")


def _distance_to_segments(
    points: NDArray[np.float64], segments: Sequence[ShaftSegment]
) -> NDArray[np.float64]:
    """Distance (mm) of each point to the nearest segment."""
    best = np.full(points.shape[:-1], np.inf)
    for segment in segments:
        start = np.asarray(segment.start_lps_mm)
        vector = np.asarray(segment.end_lps_mm) - start
        length2 = float(vector @ vector)
        t = np.clip(((points - start) @ vector) / length2, 0.0, 1.0)
        nearest = start + t[..., None] * vector
        best = np.minimum(best, np.linalg.norm(points - nearest, axis=-1))
    return best


def _search_box(
    volume: Volume, segments: Sequence[ShaftSegment]
) -> tuple[tuple[slice, ...], Geometry]:
    geometry = volume.geometry
    ends = np.array([p for s in segments for p in (s.start_lps_mm, s.end_lps_mm)])
    corners = np.array([ends.min(axis=0) - SEARCH_RADIUS_MM, ends.max(axis=0) + SEARCH_RADIUS_MM])
    # Index range covering the corners (any orientation: use all eight box corners).
    cube = np.array([[corners[a, 0], corners[b, 1], corners[c, 2]] for a in (0, 1)
                     for b in (0, 1) for c in (0, 1)])  # fmt: skip
    ijk = geometry.lps_to_index(cube)
    low = np.clip(np.floor(ijk.min(axis=0)).astype(int), 0, None)
    high = np.minimum(np.ceil(ijk.max(axis=0)).astype(int) + 1, geometry.size_ijk)
    box = tuple(slice(int(low[a]), int(high[a])) for a in (2, 1, 0))
    start = tuple(int(s.start) for s in box)
    shape = tuple(int(s.stop - s.start) for s in box)
    return box, geometry.cropped(start, shape)  # type: ignore[arg-type]


def _voxel_lps(geometry: Geometry) -> NDArray[np.float64]:
    k, j, i = np.meshgrid(*(np.arange(n) for n in geometry.shape), indexing="ij")
    return geometry.index_to_lps(np.stack([i, j, k], axis=-1).astype(np.float64))


def segment_visible_ice(
    volume: Volume,
    segments: Sequence[ShaftSegment],
    *,
    min_contrast_hu: float = MIN_CONTRAST_HU,
    before_hu: Callable[[NDArray[np.float64]], NDArray[np.floating]] | None = None,
) -> VisibleIce:
    """Segment the ice around the freezing segments of the detected shafts.

    Ice is darker than soft tissue and brighter than aerated lung: which side
    of the tissue level the ice lies on is read from the image. In aerated lung,
    ice that reaches the chest wall is not told apart from the wall's fat.

    Parameters
    ----------
    volume : Volume
        The intra-procedural CT (HU).
    segments : sequence of ShaftSegment
        Freezing segments of the placed probes, in the CT's frame.
    min_contrast_hu : float
        Least difference between tissue and ice accepted as visible ice.
    before_hu : callable, optional
        The same tissue before the freeze: HU of the planning CT at points
        ``(n, 3)`` given in this CT's frame (through the registration). Tissue
        that read like ice already before the freeze (cyst fluid, urine, bile:
        near water density) and reads the same now is not ice; without it such
        tissue next to the ice is counted as ice.

    Returns
    -------
    VisibleIce
        Empty (``volume_ml`` 0 and a note) when the image shows no ice.
    """
    box, geometry = _search_box(volume, segments)
    values = np.asarray(volume.voxels[box], dtype=np.float32)
    # In-plane median: noise and thin streaks lie within the slice.
    smooth = ndimage.median_filter(values, size=(1, 5, 5))
    smooth = ndimage.gaussian_filter(smooth, sigma=0.7)
    distance = _distance_to_segments(_voxel_lps(geometry), segments)
    core = distance <= SHAFT_CORE_MM
    reach = distance <= ICE_REACH_MM
    usable = (smooth > LEVEL_RANGE_HU[0]) & (smooth < LEVEL_RANGE_HU[1]) & ~core
    sample = usable & (distance >= ICE_SAMPLE_MM[0]) & (distance <= ICE_SAMPLE_MM[1])
    empty = np.zeros(geometry.shape, dtype=bool)
    if not sample.any():
        return VisibleIce(empty, geometry, 0.0, np.nan, np.nan, np.zeros((0, 3)),
                          "no tissue around the freezing segments")  # fmt: skip
    ice_hu = float(np.median(smooth[sample]))
    if not ICE_RANGE_HU[0] <= ice_hu <= ICE_RANGE_HU[1]:
        return VisibleIce(
            empty, geometry, 0.0, ice_hu, np.nan, np.zeros((0, 3)),
            f"no ice: the tissue next to the freezing segments ({ice_hu:.0f} HU) is not frozen "
            f"tissue (near water, {ICE_RANGE_HU[0]:g} to {ICE_RANGE_HU[1]:g} HU)",
        )  # fmt: skip
    spacing = np.asarray(geometry.spacing_kji_mm)
    # First tissue level: the commonest value clearly unlike the ice, as the ice's extent
    # is not known yet (the mode: streaks lie in the tails).
    tissue_hu = _mode_hu(smooth[usable & (np.abs(smooth - ice_hu) >= min_contrast_hu)])
    ball = _ball(OPENING_RADIUS_MM, spacing)
    # Water-like tissue that kept its level before the freeze is no ice.
    unchanged = (
        np.zeros(geometry.shape, dtype=bool)
        if before_hu is None
        else _unchanged_ice_like(smooth, _before_freeze(before_hu, geometry), ice_hu)
    )
    grown = core.copy()
    far_hu = float("nan")
    for round_index in range(3):
        if round_index > 0:  # then the tissue level is read just outside the ice found
            outside = ndimage.distance_transform_edt(~grown, sampling=spacing)
            shell = usable & (outside >= TISSUE_SHELL_MM[0]) & (outside <= TISSUE_SHELL_MM[1])
            if not shell.any():
                break
            tissue_hu = _mode_hu(smooth[shell])
            far_hu = _far_tissue_hu(smooth[shell], ice_hu, tissue_hu, min_contrast_hu)
        if not (abs(tissue_hu - ice_hu) >= min_contrast_hu):  # NaN too
            break
        iceness = np.where(unchanged, 1.0, _iceness(smooth, ice_hu, tissue_hu, far_hu))
        grown = _grow(iceness, core, ball, _far_side_band(ice_hu, tissue_hu, far_hu)) & reach
    if not (abs(tissue_hu - ice_hu) >= min_contrast_hu):
        return VisibleIce(
            empty, geometry, 0.0, ice_hu, tissue_hu, np.zeros((0, 3)),
            f"no ice unlike the tissue by {min_contrast_hu:g} HU around the probes",
        )  # fmt: skip
    iceness = np.where(unchanged, 1.0, _iceness(smooth, ice_hu, tissue_hu, far_hu))
    # The edge is the halfway level of the smoothed image near the grown ice; elsewhere
    # (and in tissue on the far side of the ice level, such as fat) the field is tissue,
    # and deep inside the ice it is ice, so that streaks leave no bubbles in the surface.
    region = ndimage.binary_dilation(grown, iterations=2) & (
        iceness >= -_far_side_band(ice_hu, tissue_hu, far_hu)
    )
    field = np.where(region, iceness, 1.0)
    field = np.where(core | ndimage.binary_erosion(grown, iterations=2), 0.0, field)
    vertices, faces = _surface(field, 0.5, geometry)
    return VisibleIce(
        mask=grown,
        geometry=geometry,
        volume_ml=_mesh_volume_ml(vertices, faces),
        ice_hu=ice_hu,
        tissue_hu=tissue_hu,
        surface_lps_mm=vertices,
        far_tissue_hu=far_hu,
    )


def _iceness(
    smooth: NDArray[np.floating], ice_hu: float, tissue_hu: float, far_hu: float
) -> NDArray[np.floating]:
    """0 at the ice level, 1 at the tissue level, whichever is brighter; with a far-side
    tissue level (not NaN), also 1 at that level on the other side of the ice level."""
    near = (smooth - ice_hu) / (tissue_hu - ice_hu)
    if np.isnan(far_hu):
        return near
    return np.where(near >= 0.0, near, (smooth - ice_hu) / (far_hu - ice_hu))


def _far_tissue_hu(
    shell: NDArray[np.floating], ice_hu: float, tissue_hu: float, min_contrast_hu: float
) -> float:
    """The level of the tissue beyond the ice level from ``tissue_hu`` in the shell
    outside the ice (:data:`FAR_TISSUE_SHARE`), NaN when too little lies there or in
    aerated lung (where the far side is soft tissue that ice cannot be told from)."""
    if tissue_hu <= AERATED_LUNG_HU:
        return float("nan")
    side = np.sign(tissue_hu - ice_hu)
    far = shell[(shell - ice_hu) * side <= -min_contrast_hu]
    if far.size < FAR_TISSUE_SHARE * shell.size:
        return float("nan")
    return _mode_hu(far)


def _before_freeze(
    before_hu: Callable[[NDArray[np.float64]], NDArray[np.floating]], geometry: Geometry
) -> NDArray[np.float32]:
    """The tissue before the freeze on ``geometry``, smoothed about as the image is.

    Read on every other voxel in the slice plane (mapping each point through the
    registration is the cost) and interpolated back: the in-plane median of five voxels
    that smooths the image spans three of these.
    """
    coarse = _voxel_lps(geometry)[:, ::2, ::2]
    values = np.asarray(before_hu(coarse.reshape(-1, 3)), dtype=np.float32)
    values = ndimage.median_filter(values.reshape(coarse.shape[:3]), size=(1, 3, 3))
    nk, nj, ni = geometry.shape
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj) / 2.0, np.arange(ni) / 2.0, indexing="ij")
    full = ndimage.map_coordinates(values, [k, j, i], order=1, mode="nearest")
    return ndimage.gaussian_filter(full, sigma=0.7)


def _unchanged_ice_like(
    smooth: NDArray[np.floating], before: NDArray[np.float32], ice_hu: float
) -> NDArray[np.bool_]:
    """Water-like voxels (:data:`ICE_LIKE_BEFORE_HU`) that read nearer their level before
    the freeze than the ice level: they did not freeze."""
    apart = np.abs(before - ice_hu)
    water_like = (apart >= ICE_LIKE_BEFORE_HU[0]) & (apart <= ICE_LIKE_BEFORE_HU[1])
    return water_like & (np.abs(smooth - before) < np.abs(smooth - ice_hu))


def _far_side_band(ice_hu: float, tissue_hu: float, far_hu: float) -> float:
    """How far beyond the ice level (in units of the ice-tissue contrast) ice may read:
    no limit with a far-side tissue level, where :func:`_iceness` places that edge."""
    if not np.isnan(far_hu):
        return float("inf")
    beyond_hu = FAR_SIDE_MAX_HU
    if tissue_hu <= AERATED_LUNG_HU:  # the far side is the brighter one
        beyond_hu = max(beyond_hu, ICE_CEILING_HU - ice_hu)
    return min(FAR_SIDE_BAND, beyond_hu / abs(tissue_hu - ice_hu))


def _grow(
    iceness: NDArray[np.floating],
    core: NDArray[np.bool_],
    ball: NDArray[np.bool_],
    far_side_band: float,
) -> NDArray[np.bool_]:
    """Ice joined to the shafts: nearer the ice level than the tissue's, not far beyond it."""
    candidate = core | ((iceness <= 0.5) & (iceness >= -far_side_band))
    labels, _ = ndimage.label(candidate)
    seeds = np.unique(labels[core & candidate])
    grown = np.isin(labels, seeds[seeds > 0])
    # An opening by a ball cuts thin streaks that leave the ice; what stays joined to
    # the shafts is the ice.
    opened = ndimage.binary_opening(grown, structure=ball) | core
    labels, _ = ndimage.label(opened)
    seeds = np.unique(labels[core])
    return ndimage.binary_fill_holes(np.isin(labels, seeds[seeds > 0]))


def _ball(radius_mm: float, spacing_kji_mm: NDArray[np.float64]) -> NDArray[np.bool_]:
    """A ball of ``radius_mm`` on an anisotropic grid, as a structuring element."""
    reach = np.floor(radius_mm / spacing_kji_mm).astype(int)
    k, j, i = np.meshgrid(*(np.arange(-r, r + 1) for r in reach), indexing="ij")
    offsets = np.stack([k, j, i], axis=-1) * spacing_kji_mm
    return np.linalg.norm(offsets, axis=-1) <= radius_mm + 1e-9


def _mode_hu(values: NDArray[np.floating]) -> float:
    """The most common value (5-HU bins, lightly smoothed); NaN for no values."""
    if values.size == 0:
        return float("nan")
    edges = np.arange(float(values.min()), float(values.max()) + 10.0, 5.0)
    counts, edges = np.histogram(values, bins=edges)
    peak = int(np.argmax(ndimage.uniform_filter1d(counts.astype(float), 3)))
    return float(0.5 * (edges[peak] + edges[peak + 1]))


def _surface(
    field: NDArray[np.floating], level: float, geometry: Geometry
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Marching-cubes surface (LPS vertices, faces) of ``field <= level``, closed at the box."""
    high = float(np.max(field)) + 1.0
    padded = np.pad(field.astype(np.float32), 1, constant_values=max(high, level + 1.0))
    vertices_kji, faces, _, _ = marching_cubes(padded, level=level)
    ijk = (vertices_kji - 1.0)[:, ::-1]
    return geometry.index_to_lps(ijk), faces.astype(np.int64)


def _mesh_volume_ml(vertices: NDArray[np.float64], faces: NDArray[np.int64]) -> float:
    if len(faces) == 0:
        return 0.0
    a, b, c = (vertices[faces[:, n]] for n in range(3))
    return abs(float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6.0) / 1000.0


@dataclass(frozen=True)
class IceComparison:
    """Visible ice against the predicted 0 °C isotherm at the same time (planning frame).

    Attributes
    ----------
    visible_volume_ml, predicted_volume_ml : float
    mean_signed_mm : float
        Mean signed distance from the visible edge to the predicted one (positive:
        the visible ice reaches beyond the prediction).
    median_abs_mm, p95_abs_mm : float
        Median and 95th percentile of the absolute distance.
    max_beyond_mm, max_short_mm : float
        Farthest the visible edge lies outside, and inside, the prediction (both >= 0).
    """

    visible_volume_ml: float
    predicted_volume_ml: float
    mean_signed_mm: float
    median_abs_mm: float
    p95_abs_mm: float
    max_beyond_mm: float
    max_short_mm: float

    def to_json(self) -> dict[str, float]:
        return {
            "visible_volume_ml": self.visible_volume_ml,
            "predicted_volume_ml": self.predicted_volume_ml,
            "mean_signed_distance_mm": self.mean_signed_mm,
            "median_abs_distance_mm": self.median_abs_mm,
            "p95_abs_distance_mm": self.p95_abs_mm,
            "max_beyond_prediction_mm": self.max_beyond_mm,
            "max_short_of_prediction_mm": self.max_short_mm,
        }


def compare_with_prediction(
    visible: VisibleIce,
    to_planning_lps: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    predicted_c: NDArray[np.floating],
    predicted_geometry: Geometry,
    *,
    body_temperature_c: float,
) -> IceComparison | None:
    """Signed distances from the visible ice edge to the predicted 0 °C edge.

    Parameters
    ----------
    visible : VisibleIce
        From :func:`segment_visible_ice`.
    to_planning_lps : callable
        Maps intra-procedural LPS points (n, 3) into the planning frame.
    predicted_c : ndarray
        Predicted temperature field at the elapsed time on ``predicted_geometry``.
    body_temperature_c : float
        The field's value outside its grid.

    Returns
    -------
    IceComparison or None
        ``None`` when either surface is empty.
    """
    predicted_mask = predicted_c <= ICE_EDGE_C
    box = bounding_box(predicted_mask, 1)
    if box is None or len(visible.surface_lps_mm) == 0:
        return None
    start = tuple(int(s.start) for s in box)
    shape = tuple(int(s.stop - s.start) for s in box)
    crop_geometry = predicted_geometry.cropped(start, shape)  # type: ignore[arg-type]
    crop = np.asarray(predicted_c[box], dtype=np.float32)
    crop = np.pad(crop, 1, constant_values=body_temperature_c)
    vertices_kji, faces, _, _ = marching_cubes(crop, level=ICE_EDGE_C)
    predicted_surface = crop_geometry.index_to_lps((vertices_kji - 1.0)[:, ::-1])
    predicted_volume = _mesh_volume_ml(predicted_surface, faces.astype(np.int64))
    seen = to_planning_lps(visible.surface_lps_mm)
    distance, _ = cKDTree(predicted_surface).query(seen)
    ijk = predicted_geometry.lps_to_index(seen)
    temperature = ndimage.map_coordinates(
        np.asarray(predicted_c, dtype=np.float32), ijk[:, ::-1].T, order=1,
        mode="constant", cval=body_temperature_c,
    )  # fmt: skip
    signed = np.where(temperature > ICE_EDGE_C, distance, -distance)
    return IceComparison(
        visible_volume_ml=visible.volume_ml,
        predicted_volume_ml=predicted_volume,
        mean_signed_mm=float(signed.mean()),
        median_abs_mm=float(np.median(distance)),
        p95_abs_mm=float(np.percentile(distance, 95.0)),
        max_beyond_mm=float(max(0.0, signed.max())),
        max_short_mm=float(max(0.0, -signed.min())),
    )
