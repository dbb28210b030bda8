"""Painting implicit shapes into a tissue-class grid, one bounding box at a time.

Shapes are evaluated only inside their bounding box, on broadcast coordinate
vectors (``x`` along i, ``y`` along j, ``z`` along k, LPS mm), which keeps a
few hundred shapes on a 20-million-voxel grid within seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry

FloatArray = NDArray[np.float32]


@dataclass(frozen=True)
class Box:
    """An index box ``[start, stop)`` in (k, j, i) with its voxel-centre coordinates."""

    start: tuple[int, int, int]
    stop: tuple[int, int, int]
    x: FloatArray
    y: FloatArray
    z: FloatArray

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        return tuple(slice(a, b) for a, b in zip(self.start, self.stop, strict=True))  # type: ignore[return-value]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(b - a for a, b in zip(self.start, self.stop, strict=True))  # type: ignore[return-value]

    def within(self, outer: Box) -> tuple[slice, slice, slice]:
        """Slices that address this box inside an array covering ``outer``."""
        return tuple(
            slice(a - o, b - o) for a, b, o in zip(self.start, self.stop, outer.start, strict=True)
        )  # type: ignore[return-value]


#: Patient positions the synthetic torso can lie in, and the sign of y toward the table
#: (+1: the back rests on the table, -1: the front does).
TABLE_SIDE_Y: dict[str, float] = {"HFS": 1.0, "HFP": -1.0}


class Canvas:
    """A grid of tissue classes on an axis-aligned geometry; later paint covers earlier.

    ``patient_position`` (``"HFS"`` supine or ``"HFP"`` prone) decides where the
    table lies and which way gravity pulls (:attr:`table_side_y`).
    """

    def __init__(self, geometry: Geometry, *, patient_position: str = "HFS") -> None:
        if not np.allclose(geometry.direction, np.eye(3)):
            raise InvalidParameterError(
                "Canvas: the synthetic grid must be axis aligned (identity direction)."
            )
        if patient_position not in TABLE_SIDE_Y:
            raise InvalidParameterError(
                f"patient position {patient_position!r} is not available for synthetic cases; "
                f"use one of {', '.join(TABLE_SIDE_Y)}."
            )
        self.geometry = geometry
        self.patient_position = patient_position
        self.table_side_y = TABLE_SIDE_Y[patient_position]
        self.tissue = np.zeros(geometry.shape, dtype=np.uint8)
        ni, nj, nk = geometry.size_ijk
        origin, spacing = geometry.origin_lps_mm, geometry.spacing_mm
        self._axes = tuple(
            (origin[a] + spacing[a] * np.arange(n)).astype(np.float32)
            for a, n in enumerate((ni, nj, nk))
        )

    def box(self, low_lps: ArrayLike, high_lps: ArrayLike) -> Box | None:
        """The box of voxels whose centres lie in ``[low, high]``; ``None`` when empty."""
        low = np.asarray(low_lps, dtype=np.float64)
        high = np.asarray(high_lps, dtype=np.float64)
        origin, spacing = self.geometry.origin_lps_mm, self.geometry.spacing_mm
        first = np.maximum(np.ceil((low - origin) / spacing - 1e-9), 0).astype(int)
        last = np.minimum(
            np.floor((high - origin) / spacing + 1e-9), np.asarray(self.geometry.size_ijk) - 1
        ).astype(int)
        if np.any(last < first):
            return None
        (i0, j0, k0), (i1, j1, k1) = first, last + 1
        x, y, z = (axis[a:b] for axis, a, b in zip(self._axes, first, last + 1, strict=True))
        return Box((k0, j0, i0), (k1, j1, i1), x[None, None, :], y[None, :, None], z[:, None, None])

    def full_box(self) -> Box:
        nk, nj, ni = self.geometry.shape
        x, y, z = self._axes
        return Box((0, 0, 0), (nk, nj, ni), x[None, None, :], y[None, :, None], z[:, None, None])

    def paint(
        self,
        box: Box | None,
        mask: NDArray[np.bool_],
        tissue: int,
        *,
        over: Sequence[int] | None = None,
    ) -> None:
        """Set ``tissue`` where ``mask`` holds in ``box``; ``over`` limits it to those classes."""
        if box is None:
            return
        region = self.tissue[box.slices]
        mask = np.broadcast_to(mask, box.shape)
        if over is not None:
            allowed = np.zeros(256, dtype=bool)
            allowed[np.asarray(over, dtype=np.uint8)] = True
            mask = mask & allowed[region]
        np.putmask(region, mask, np.uint8(tissue))

    def values(self, box: Box) -> NDArray[np.uint8]:
        return self.tissue[box.slices]


def ellipsoid_level(
    box: Box,
    center: ArrayLike,
    semi_axes_mm: ArrayLike,
    frame: ArrayLike | None = None,
) -> FloatArray:
    """Squared normalised radius of an ellipsoid (below 1 inside).

    ``frame`` rows are the unit vectors of the ellipsoid's axes in LPS; by default
    the axes are x, y, z.
    """
    cx, cy, cz = (float(v) for v in np.asarray(center, dtype=np.float64))
    semi = np.asarray(semi_axes_mm, dtype=np.float64)
    dx, dy, dz = box.x - np.float32(cx), box.y - np.float32(cy), box.z - np.float32(cz)
    if frame is None:
        return (dx / semi[0]) ** 2 + (dy / semi[1]) ** 2 + (dz / semi[2]) ** 2
    axes = np.asarray(frame, dtype=np.float32)
    level = np.zeros(box.shape, dtype=np.float32)
    for axis, half in zip(axes, semi, strict=True):
        level += ((axis[0] * dx + axis[1] * dy + axis[2] * dz) / np.float32(half)) ** 2
    return level


def tube_clearance(
    canvas: Canvas,
    box: Box,
    points_lps: ArrayLike,
    radii_mm: ArrayLike,
) -> FloatArray:
    """Distance (mm) from each voxel of ``box`` to the surface of a tube; negative inside.

    The tube follows the polyline ``points_lps`` (n, 3) with radius interpolated
    linearly along each segment. Voxels farther than the largest radius from
    every segment keep ``+inf``.
    """
    points = np.asarray(points_lps, dtype=np.float64)
    radii = np.broadcast_to(np.asarray(radii_mm, dtype=np.float64), (len(points),))
    clearance = np.full(box.shape, np.inf, dtype=np.float32)
    for a, b, ra, rb in zip(points[:-1], points[1:], radii[:-1], radii[1:], strict=True):
        reach = max(ra, rb) + 1.0
        segment_box = canvas.box(np.minimum(a, b) - reach, np.maximum(a, b) + reach)
        if segment_box is None:
            continue
        inner = _intersect(segment_box, box)
        if inner is None:
            continue
        direction = b - a
        length_sq = float(direction @ direction)
        dx = inner.x - np.float32(a[0])
        dy = inner.y - np.float32(a[1])
        dz = inner.z - np.float32(a[2])
        t = (dx * direction[0] + dy * direction[1] + dz * direction[2]) / np.float32(length_sq)
        t = np.clip(t, 0.0, 1.0).astype(np.float32)
        distance = np.sqrt(
            (dx - t * direction[0]) ** 2
            + (dy - t * direction[1]) ** 2
            + (dz - t * direction[2]) ** 2
        )
        local = inner.within(box)
        np.minimum(clearance[local], distance - (ra + t * (rb - ra)), out=clearance[local])
    return clearance


def _intersect(a: Box, b: Box) -> Box | None:
    start = tuple(max(p, q) for p, q in zip(a.start, b.start, strict=True))
    stop = tuple(min(p, q) for p, q in zip(a.stop, b.stop, strict=True))
    if any(s >= e for s, e in zip(start, stop, strict=True)):
        return None
    return Box(
        start,  # type: ignore[arg-type]
        stop,  # type: ignore[arg-type]
        b.x[:, :, start[2] - b.start[2] : stop[2] - b.start[2]],
        b.y[:, start[1] - b.start[1] : stop[1] - b.start[1], :],
        b.z[start[0] - b.start[0] : stop[0] - b.start[0], :, :],
    )


def smooth_curve(
    control_points: ArrayLike, *, step_mm: float = 4.0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A Catmull-Rom spline through ``control_points`` sampled about every ``step_mm``.

    Returns the samples (n, 3) and, for each, its fractional control-point index,
    so that per-control-point values (radii) can be interpolated with ``np.interp``.
    """
    control = np.asarray(control_points, dtype=np.float64)
    padded = np.vstack([2 * control[0] - control[1], control, 2 * control[-1] - control[-2]])
    samples = [control[0]]
    parameters = [0.0]
    for index in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[index - 1 : index + 3]
        count = max(1, int(np.ceil(np.linalg.norm(p2 - p1) / step_mm)))
        for t in np.arange(1, count + 1) / count:
            samples.append(
                0.5
                * (
                    2 * p1
                    + (p2 - p0) * t
                    + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                    + (3 * p1 - p0 - 3 * p2 + p3) * t**3
                )
            )
            parameters.append(index - 1 + t)
    return np.asarray(samples), np.asarray(parameters)


def orthonormal_frame(primary: ArrayLike, secondary: ArrayLike) -> NDArray[np.float64]:
    """Rows: ``primary`` normalised, ``secondary`` orthogonalised, and their cross product."""
    first = np.asarray(primary, dtype=np.float64)
    first = first / np.linalg.norm(first)
    second = np.asarray(secondary, dtype=np.float64)
    second = second - (second @ first) * first
    second = second / np.linalg.norm(second)
    return np.vstack([first, second, np.cross(first, second)])
