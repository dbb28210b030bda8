"""Measurements written into a case manifest, all computed from the label map."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import ConvexHull
from scipy.spatial.distance import pdist, squareform

from planning_core.errors import InvalidParameterError
from planning_core.imaging.labels import LabelMap

#: Structures farther than this from the tumor are not listed as nearby.
NEARBY_SEARCH_MM = 40.0
DISTANCE_DEFINITION = (
    "smallest distance in mm between the centre of a voxel of the structure and the centre "
    "of a tumor voxel (0 would mean overlap; one voxel spacing means touching)"
)


def tumor_summary(labels: LabelMap) -> dict[str, object]:
    """Centroid, largest diameter, volume and a deep interior seed point of the tumor label."""
    mask = labels.mask("tumor")
    geometry = labels.geometry
    kji = np.argwhere(mask)
    if kji.size == 0:
        raise InvalidParameterError("the label map has an empty 'tumor' label; nothing to measure.")
    points = geometry.index_to_lps(kji[:, ::-1].astype(np.float64))
    # The tumor's bounding box plus one background voxel on each side is enough for its
    # interior distance map.
    low = np.maximum(kji.min(axis=0) - 1, 0)
    window = tuple(slice(a, b) for a, b in zip(low, kji.max(axis=0) + 2, strict=True))
    inside = ndimage.distance_transform_edt(mask[window], sampling=geometry.spacing_kji_mm)
    deepest = np.asarray(np.unravel_index(int(np.argmax(inside)), inside.shape)) + low
    seed = geometry.index_to_lps(deepest[::-1].astype(np.float64))
    return {
        "center_lps_mm": _rounded(points.mean(axis=0)),
        "diameter_mm": round(max_diameter_mm(points), 2),
        "volume_ml": round(labels.volume_ml("tumor"), 3),
        "seed_lps_mm": _rounded(seed),
        "seed_depth_mm": round(float(inside.max()), 2),
    }


def diameter_line(labels: LabelMap) -> dict[str, object]:
    """The tumor's RECIST long axis: its longest in-plane extent on any axial slice.

    A reader measures a lesion on the axial slice where it looks largest, from
    edge to edge; here the end points are the centres of the two tumor voxels
    farthest apart on the slice (k) where that distance is largest, the first
    such slice on ties. This is the line a user draws for ``--diameter``.
    Axial slices are the grid's k slices: the grid must be axis aligned, as the
    samples' grids are.
    """
    mask = labels.mask("tumor")
    geometry = labels.geometry
    best: tuple[float, int, NDArray[np.float64], NDArray[np.float64]] | None = None
    for k in np.nonzero(mask.any(axis=(1, 2)))[0]:
        ji = np.argwhere(mask[k])
        kji = np.column_stack([np.full(len(ji), k), ji])
        points = geometry.index_to_lps(kji[:, ::-1].astype(np.float64))
        start, end = _farthest_pair(points)
        length = float(np.linalg.norm(end - start))
        if best is None or length > best[0]:
            best = (length, int(k), start, end)
    if best is None:
        raise InvalidParameterError("the label map has an empty 'tumor' label; nothing to measure.")
    length, k, start, end = best
    return {
        "start_lps_mm": _rounded(start),
        "end_lps_mm": _rounded(end),
        "length_mm": round(length, 2),
        "slice_index": k,
    }


def _farthest_pair(points: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The two points farthest apart (searched among their convex hull's vertices)."""
    if len(points) < 2:
        return points[0], points[0]
    try:
        vertices = points[ConvexHull(points[:, :2]).vertices]  # one axial slice: x, y vary
    except Exception:  # collinear or tiny point sets: every point is a candidate
        vertices = points
    distances = squareform(pdist(vertices))
    a, b = np.unravel_index(int(np.argmax(distances)), distances.shape)
    return vertices[min(a, b)], vertices[max(a, b)]


def max_diameter_mm(points_lps: NDArray[np.float64]) -> float:
    """Largest distance between two of the points (their convex hull's diameter)."""
    if len(points_lps) < 2:
        return 0.0
    try:
        vertices = points_lps[ConvexHull(points_lps).vertices]
    except Exception:  # flat or tiny point sets: every point is a candidate
        vertices = points_lps
    return float(pdist(vertices).max())


def structure_distances_mm(
    labels: LabelMap, *, search_mm: float = NEARBY_SEARCH_MM
) -> dict[str, float]:
    """Distance from the tumor to every other label within ``search_mm``, nearest first."""
    mask = labels.mask("tumor")
    geometry = labels.geometry
    spacing_kji = np.asarray(geometry.spacing_kji_mm)
    indices = np.argwhere(mask)
    margin = np.ceil(search_mm / spacing_kji).astype(int) + 1
    low = np.maximum(indices.min(axis=0) - margin, 0)
    high = np.minimum(indices.max(axis=0) + margin + 1, mask.shape)
    window = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
    distance = ndimage.distance_transform_edt(~mask[window], sampling=spacing_kji)
    voxels = labels.voxels[window]
    found: dict[str, float] = {}
    for info in labels.table:
        if info.name == "tumor":
            continue
        values = distance[voxels == info.value]
        if values.size and values.min() <= search_mm:
            found[info.name] = round(float(values.min()), 3)
    return dict(sorted(found.items(), key=lambda item: item[1]))


def label_statistics(labels: LabelMap) -> dict[str, dict[str, object]]:
    """Value, role, voxel count and volume of every label in the table."""
    counts = np.bincount(labels.voxels.reshape(-1), minlength=256)
    voxel_ml = labels.geometry.voxel_volume_mm3 / 1000.0
    return {
        info.name: {
            "value": info.value,
            "role": info.role,
            "voxel_count": int(counts[info.value]),
            "volume_ml": round(int(counts[info.value]) * voxel_ml, 3),
        }
        for info in labels.table
    }


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _rounded(vector: NDArray[np.float64]) -> list[float]:
    return [round(float(v), 3) for v in vector]
