"""Cryoprobe shafts on a CT taken during the procedure: found, fitted as lines, tip and entry.

A metal shaft is far brighter than bone (thousands of Hounsfield units against
well under 2000 for cortical bone), so voxels above a metal threshold hold the
shafts, the bright half of their streak artefacts near them, and little else.
Streaks radiate within the slice from every shaft, so a connected component may
join two shafts or carry spikes; the shafts are therefore taken out one at a
time as the straight lines that gather the most metal voxels within a shaft's
reach (a random-pair search refined by principal axes, as in RANSAC), each line
then limited to its longest unbroken run of voxels.

The ends of a run lie where the thresholded blooming stops, up to a voxel
beyond the metal; each end is placed instead where the intensity along the axis
falls halfway between the shaft's plateau and the tissue beyond it (the edge
of a blurred step lies at its half height). The tip is the end beyond which
tissue continues; the entry is where the shaft leaves the body (its last point
in tissue before air), or the shaft's other end when it leaves the image first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.errors import InvalidParameterError
from planning_core.imaging.volume import Volume
from planning_core.progress import CancelToken, ProgressCallback

#: Voxels at or above this (HU) are taken for metal; cortical bone stays below it.
METAL_THRESHOLD_HU = 2000.0
#: Tissue and air are told apart at this value (HU) when the skin entry is looked for.
AIR_THRESHOLD_HU = -400.0
#: Beyond a tip lies tissue, aerated lung included: only air lies below this value (HU).
OUTSIDE_AIR_HU = -950.0
#: Metal voxels whose centre lies within this distance of a line belong to it (mm).
SHAFT_REACH_MM = 2.0
#: Shortest run of metal accepted as a shaft (mm); clips and calcifications are shorter.
MIN_SHAFT_LENGTH_MM = 15.0
#: Largest gap along a shaft that is still one shaft (mm): streaks may darken a stretch.
MAX_GAP_MM = 6.0
#: Step of the intensity profiles along a shaft (mm).
PROFILE_STEP_MM = 0.2
#: Random point pairs tried per shaft by the line search.
LINE_TRIALS = 300
#: Most shafts looked for in one image.
MAX_SHAFTS = 12


@dataclass(frozen=True)
class DetectedShaft:
    """One straight metal shaft found on a CT, in that CT's LPS frame (mm).

    Attributes
    ----------
    tip_lps_mm : tuple of float
        The deep end of the metal (sub-voxel, at half height of the intensity step).
    entry_lps_mm : tuple of float
        Where the shaft leaves the body (skin entry); the shaft's outer end when
        it leaves the image first (``entry_on_skin`` is then False).
    outer_end_lps_mm : tuple of float
        The outer end of the metal seen on the image.
    entry_on_skin : bool
        True when ``entry_lps_mm`` is the skin crossing.
    length_mm : float
        Length of metal seen, tip to outer end.
    metal_voxels : int
        Metal voxels assigned to this shaft.
    residual_mm : float
        Root-mean-square distance of those voxels from the fitted line.
    """

    tip_lps_mm: tuple[float, float, float]
    entry_lps_mm: tuple[float, float, float]
    outer_end_lps_mm: tuple[float, float, float]
    entry_on_skin: bool
    length_mm: float
    metal_voxels: int
    residual_mm: float

    @property
    def direction_lps(self) -> NDArray[np.float64]:
        """Unit vector from the entry toward the tip (the insertion direction)."""
        vector = np.subtract(self.tip_lps_mm, self.outer_end_lps_mm)
        return vector / np.linalg.norm(vector)


def _triple(point: NDArray[np.float64]) -> tuple[float, float, float]:
    return (float(point[0]), float(point[1]), float(point[2]))


def _fit_line(
    points: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Centroid and unit principal axis of ``points`` (n, 3)."""
    centre = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    return centre, vt[0]


def _distance_to_line(
    points: NDArray[np.float64], centre: NDArray[np.float64], axis: NDArray[np.float64]
) -> NDArray[np.float64]:
    offset = points - centre
    along = offset @ axis
    return np.linalg.norm(offset - along[:, None] * axis, axis=1)


def _best_line(
    points: NDArray[np.float64], rng: np.random.Generator, reach_mm: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """The line through the most points within ``reach_mm``: random pairs, then refits."""
    best: tuple[int, NDArray[np.float64], NDArray[np.float64]] | None = None
    n = len(points)
    first = rng.integers(0, n, LINE_TRIALS)
    second = rng.integers(0, n, LINE_TRIALS)
    for a, b in zip(first, second, strict=True):
        axis = points[b] - points[a]
        length = float(np.linalg.norm(axis))
        if length < MIN_SHAFT_LENGTH_MM / 2.0:
            continue
        axis = axis / length
        count = int(np.count_nonzero(_distance_to_line(points, points[a], axis) <= reach_mm))
        if best is None or count > best[0]:
            best = (count, points[a], axis)
    if best is None:  # all points within a short blob: no shaft here
        centre, axis = _fit_line(points)
    else:
        _, centre, axis = best
    inliers = _distance_to_line(points, centre, axis) <= reach_mm
    for _ in range(3):  # principal axes of the inliers refine the pair's line
        if np.count_nonzero(inliers) < 3:
            break
        centre, axis = _fit_line(points[inliers])
        inliers = _distance_to_line(points, centre, axis) <= reach_mm
    return centre, axis, inliers


def _longest_run(along_mm: NDArray[np.float64], max_gap_mm: float) -> tuple[float, float]:
    """Start and end of the longest stretch of sorted positions without a gap above the limit."""
    ordered = np.sort(along_mm)
    breaks = np.flatnonzero(np.diff(ordered) > max_gap_mm)
    starts = np.concatenate([[0], breaks + 1])
    stops = np.concatenate([breaks, [len(ordered) - 1]])
    longest = int(np.argmax(ordered[stops] - ordered[starts]))
    return float(ordered[starts[longest]]), float(ordered[stops[longest]])


def _profile(
    volume: Volume, start_lps: NDArray[np.float64], axis: NDArray[np.float64],
    positions_mm: NDArray[np.float64], *, outside: float,
) -> NDArray[np.float64]:  # fmt: skip
    """Trilinear intensity at ``start + t * axis`` for each ``t``; ``outside`` beyond the image."""
    points = start_lps + positions_mm[:, None] * axis
    ijk = volume.geometry.lps_to_index(points)
    return ndimage.map_coordinates(
        np.asarray(volume.voxels, dtype=np.float32), ijk[:, ::-1].T, order=1,
        mode="constant", cval=outside,
    )  # fmt: skip


def _half_height_end(
    volume: Volume, end_lps: NDArray[np.float64], outward: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The metal's end near ``end_lps`` along ``outward``, at half height of the step.

    ``end_lps`` itself when the profile leaves the image there (the shaft is cut
    by the image edge) or shows no step.
    """
    positions = np.arange(-10.0, 10.0 + PROFILE_STEP_MM / 2, PROFILE_STEP_MM)
    values = _profile(volume, end_lps, outward, positions, outside=np.nan)
    inside = values[(positions >= -8.0) & (positions <= -2.0)]
    beyond = values[(positions >= 4.0) & (positions <= 10.0)]
    if np.isnan(inside).all() or np.isnan(beyond).all():
        return end_lps
    plateau, tissue = float(np.nanmedian(inside)), float(np.nanmedian(beyond))
    level = 0.5 * (plateau + tissue)
    search = (positions >= -4.0) & (positions <= 6.0) & np.isfinite(values)
    above = search & (values >= level)
    if not above.any() or plateau <= tissue:
        return end_lps
    last = int(np.flatnonzero(above)[-1])  # the outermost sample still on the metal
    if last + 1 >= len(values) or not np.isfinite(values[last + 1]):
        return end_lps + positions[last] * outward
    v0, v1 = values[last], values[last + 1]
    fraction = (v0 - level) / (v0 - v1) if v0 != v1 else 0.0
    shift = positions[last] + fraction * PROFILE_STEP_MM
    return end_lps + shift * outward


def _tissue_beyond(
    volume: Volume, end_lps: NDArray[np.float64], outward: NDArray[np.float64]
) -> float:
    """Share (0-1) of the samples 3-12 mm beyond an end that lie in the body inside the image."""
    positions = np.arange(3.0, 12.0, 1.0)
    values = _profile(volume, end_lps, outward, positions, outside=np.nan)
    return float(np.mean(np.isfinite(values) & (values > OUTSIDE_AIR_HU)))


def _skin_entry(
    volume: Volume, tip_lps: NDArray[np.float64], axis_out: NDArray[np.float64], length_mm: float
) -> NDArray[np.float64] | None:
    """The outermost point of the shaft with tissue beside it, when air follows it.

    Tissue is judged beside the shaft (4 mm off its axis, on four sides) since
    the shaft itself is metal all the way out; the outermost such point, not the
    first air met, so that aerated lung or bowel gas along the path is no skin.
    ``None`` when the shaft leaves the image before the skin.
    """
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis_out[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    side_a = np.cross(axis_out, helper)
    side_a /= np.linalg.norm(side_a)
    side_b = np.cross(axis_out, side_a)
    positions = np.arange(0.0, length_mm + PROFILE_STEP_MM, 0.5)
    beside = [
        _profile(volume, tip_lps + 4.0 * side, axis_out, positions, outside=np.nan)
        for side in (side_a, -side_a, side_b, -side_b)
    ]
    air = np.all([np.isfinite(v) & (v <= AIR_THRESHOLD_HU) for v in beside], axis=0)
    tissue = np.any([np.isfinite(v) & (v > AIR_THRESHOLD_HU) for v in beside], axis=0)
    if not tissue.any():
        return None
    last_tissue = int(np.flatnonzero(tissue)[-1])
    if not air[last_tissue + 1 :].any():
        return None
    return tip_lps + positions[last_tissue] * axis_out


def detect_probe_shafts(
    volume: Volume,
    *,
    metal_threshold_hu: float = METAL_THRESHOLD_HU,
    min_length_mm: float = MIN_SHAFT_LENGTH_MM,
    reach_mm: float = SHAFT_REACH_MM,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[DetectedShaft, ...]:
    """Find the straight metal shafts of a CT.

    Parameters
    ----------
    volume : Volume
        A CT in Hounsfield units.
    metal_threshold_hu : float
        Voxels at or above it are metal.
    min_length_mm : float
        Shortest run accepted as a shaft.
    reach_mm : float
        Metal voxels within this distance of a line belong to it.
    seed : int
        Seed of the random line search (the result is reproducible).
    progress, cancel
        Progress callback and cancel token.

    Returns
    -------
    tuple of DetectedShaft
        Longest first; empty when the image holds no metal shaft.

    Raises
    ------
    InvalidParameterError
        When ``volume`` is not a CT.
    """
    if volume.modality != "CT":
        raise InvalidParameterError(
            f"probe detection needs a CT in Hounsfield units; the intra-procedural series is "
            f"{volume.modality!r}. Give the CT series taken during the freeze (--intra)."
        )
    metal = np.asarray(volume.voxels) >= metal_threshold_hu
    kji = np.argwhere(metal)
    if len(kji) == 0:
        return ()
    points = volume.geometry.index_to_lps(kji[:, ::-1].astype(np.float64))
    rng = np.random.default_rng(seed)
    min_voxels = max(5, int(min_length_mm / float(np.max(volume.geometry.spacing_mm))))
    shafts: list[DetectedShaft] = []
    remaining = np.ones(len(points), dtype=bool)
    while np.count_nonzero(remaining) >= min_voxels and len(shafts) < MAX_SHAFTS:
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(min(0.9, 0.15 * len(shafts)), f"Looking for probe shaft {len(shafts) + 1}")
        candidates = points[remaining]
        centre, axis, inliers = _best_line(candidates, rng, reach_mm)
        along = (candidates[inliers] - centre) @ axis
        if len(along) < min_voxels:
            break
        low, high = _longest_run(along, MAX_GAP_MM)
        in_run = inliers.copy()
        in_run[inliers] = (along >= low - 1e-9) & (along <= high + 1e-9)
        # The run's voxels leave the pool whether or not they make a shaft.
        indices = np.flatnonzero(remaining)
        remaining[indices[in_run]] = False
        if high - low < min_length_mm:
            continue
        members = candidates[in_run]
        centre, axis = _fit_line(members)
        along = (members - centre) @ axis
        residual = float(np.sqrt(np.mean(_distance_to_line(members, centre, axis) ** 2)))
        end_low = centre + along.min() * axis
        end_high = centre + along.max() * axis
        end_low = _half_height_end(volume, end_low, -axis)
        end_high = _half_height_end(volume, end_high, axis)
        # The tip is the end beyond which tissue continues; ties go to the end nearer the
        # image centre (the outer end of a shaft cut by the image edge lies at that edge).
        low_score = _tissue_beyond(volume, end_low, -axis)
        high_score = _tissue_beyond(volume, end_high, axis)
        if low_score == high_score:
            centre_lps = volume.geometry.center_lps
            low_score = -float(np.linalg.norm(end_low - centre_lps))
            high_score = -float(np.linalg.norm(end_high - centre_lps))
        tip, outer = (end_low, end_high) if low_score > high_score else (end_high, end_low)
        length = float(np.linalg.norm(outer - tip))
        axis_out = (outer - tip) / length
        skin = _skin_entry(volume, tip, axis_out, length)
        shafts.append(
            DetectedShaft(
                tip_lps_mm=_triple(tip),
                entry_lps_mm=_triple(outer if skin is None else skin),
                outer_end_lps_mm=_triple(outer),
                entry_on_skin=skin is not None,
                length_mm=length,
                metal_voxels=len(members),
                residual_mm=residual,
            )
        )
    if progress is not None:
        progress(1.0, f"Found {len(shafts)} probe shaft(s)")
    return tuple(sorted(shafts, key=lambda shaft: -shaft.length_mm))
