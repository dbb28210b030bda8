"""Planar reslices of the image, labels and lethal-dose field, in radiological display order.

A :class:`SlicePlane` is a rectangle in patient space: a centre, two in-plane
unit vectors (screen right ``u`` and screen down ``v``, both LPS) and a pixel
size. Axial, coronal and sagittal planes follow the radiological convention
(patient's right on the viewer's left, anterior or superior at the top); oblique
planes through a probe axis take the screen axes of the standard plane they most
resemble, so that they read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry

_AXES_LPS = np.eye(3)
#: Letter of the patient direction each signed LPS axis points to.
_LETTERS = {(0, 1): "L", (0, -1): "R", (1, 1): "P", (1, -1): "A", (2, 1): "S", (2, -1): "I"}


@dataclass(frozen=True)
class DoseField:
    """The lethal dose (minimum temperature reached, °C) on its own grid.

    Parameters
    ----------
    min_temperature_c : ndarray
        ``[k, j, i]`` values on ``geometry``.
    geometry : Geometry
        The thermal grid.
    body_temperature_c : float
        Temperature outside the grid (tissue there never cooled).
    """

    min_temperature_c: NDArray[np.floating]
    geometry: Geometry
    body_temperature_c: float = 37.0

    def __post_init__(self) -> None:
        if self.min_temperature_c.shape != self.geometry.shape:
            raise InvalidParameterError(
                f"dose field shape {self.min_temperature_c.shape} does not match its geometry "
                f"{self.geometry.shape}."
            )

    def sample(self, points_lps_mm: NDArray[np.float64]) -> NDArray[np.float32]:
        """Trilinear values at LPS points ``(..., 3)``; body temperature outside the grid."""
        ijk = self.geometry.lps_to_index(points_lps_mm)
        return self.sample_indices(ijk)

    def sample_indices(self, ijk: NDArray[np.float64]) -> NDArray[np.float32]:
        """Trilinear values at continuous indices of the thermal grid."""
        return sample_at_indices(
            self.min_temperature_c, ijk, order=1, outside=self.body_temperature_c
        )


@dataclass(frozen=True)
class SlicePlane:
    """A displayed rectangle in patient space.

    Parameters
    ----------
    centre_lps_mm : array_like
        Centre of the rectangle.
    u_lps, v_lps : array_like
        Orthonormal in-plane directions of screen right and screen down.
    half_width_mm, half_height_mm : float
        Half extents along ``u`` and ``v``.
    pixel_mm : float
        Sampling step.
    title : str
        Caption of the view.
    """

    centre_lps_mm: NDArray[np.float64]
    u_lps: NDArray[np.float64]
    v_lps: NDArray[np.float64]
    half_width_mm: float
    half_height_mm: float
    pixel_mm: float
    title: str = ""

    @property
    def normal_lps(self) -> NDArray[np.float64]:
        return np.cross(self.u_lps, self.v_lps)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the sampled image."""
        rows = int(np.ceil(2.0 * self.half_height_mm / self.pixel_mm))
        columns = int(np.ceil(2.0 * self.half_width_mm / self.pixel_mm))
        return rows, columns

    @property
    def extent_mm(self) -> tuple[float, float, float, float]:
        """``(left, right, bottom, top)`` in plane mm for ``imshow(origin="upper")``."""
        return (-self.half_width_mm, self.half_width_mm, self.half_height_mm, -self.half_height_mm)

    def points_lps(self) -> NDArray[np.float64]:
        """LPS centres of the pixels, shape ``(rows, columns, 3)``."""
        rows, columns = self.shape
        u = (np.arange(columns) + 0.5) * self.pixel_mm - self.half_width_mm
        v = (np.arange(rows) + 0.5) * self.pixel_mm - self.half_height_mm
        return (
            self.centre_lps_mm
            + v[:, None, None] * self.v_lps[None, None, :]
            + u[None, :, None] * self.u_lps[None, None, :]
        )

    def indices(self, geometry: Geometry) -> NDArray[np.float64]:
        """Continuous ``(i, j, k)`` of the pixel centres on ``geometry``, shape ``(rows, cols, 3)``.

        The plane is affine in pixel coordinates, so only three points are transformed.
        """
        rows, columns = self.shape
        origin = self.centre_lps_mm + (0.5 * self.pixel_mm - self.half_width_mm) * self.u_lps
        origin = origin + (0.5 * self.pixel_mm - self.half_height_mm) * self.v_lps
        start, right, down = geometry.lps_to_index(
            np.array(
                [origin, origin + self.pixel_mm * self.u_lps, origin + self.pixel_mm * self.v_lps]
            )
        )
        return (
            start
            + np.arange(rows)[:, None, None] * (down - start)[None, None, :]
            + np.arange(columns)[None, :, None] * (right - start)[None, None, :]
        )

    def project(self, points_lps_mm: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """In-plane coordinates ``(n, 2)`` (u, v in mm) and signed distances from the plane."""
        offsets = np.asarray(points_lps_mm, dtype=np.float64).reshape(-1, 3) - self.centre_lps_mm
        in_plane = np.stack([offsets @ self.u_lps, offsets @ self.v_lps], axis=1)
        return in_plane, offsets @ self.normal_lps

    def edge_letters(self) -> tuple[str, str, str, str]:
        """Patient directions at the left, right, top and bottom edges."""
        return (
            direction_letter(-self.u_lps),
            direction_letter(self.u_lps),
            direction_letter(-self.v_lps),
            direction_letter(self.v_lps),
        )


def direction_letter(vector_lps: ArrayLike) -> str:
    """``L``/``R``/``P``/``A``/``S``/``I`` of the dominant component of an LPS direction."""
    vector = np.asarray(vector_lps, dtype=np.float64)
    axis = int(np.argmax(np.abs(vector)))
    return _LETTERS[(axis, 1 if vector[axis] > 0 else -1)]


def oriented_plane(
    centre_lps_mm: ArrayLike,
    normal_lps: ArrayLike,
    *,
    half_width_mm: float,
    half_height_mm: float,
    pixel_mm: float,
    title: str = "",
) -> SlicePlane:
    """A plane through ``centre_lps_mm`` with screen axes in radiological order.

    The plane takes the screen axes of the standard plane its normal is closest
    to: axial (right = patient left, down = posterior), coronal (right = patient
    left, down = inferior) or sagittal (right = posterior, down = inferior),
    projected into the plane.
    """
    normal = np.asarray(normal_lps, dtype=np.float64)
    length = float(np.linalg.norm(normal))
    if not np.isfinite(length) or length < 1e-9:
        raise InvalidParameterError("normal_lps must be a non-zero direction.")
    normal = normal / length
    dominant = int(np.argmax(np.abs(normal)))
    right, down = {
        2: (_AXES_LPS[0], _AXES_LPS[1]),
        1: (_AXES_LPS[0], -_AXES_LPS[2]),
        0: (_AXES_LPS[1], -_AXES_LPS[2]),
    }[dominant]
    u = right - (right @ normal) * normal
    u /= np.linalg.norm(u)
    v = np.cross(normal, u)
    if v @ down < 0:
        v = -v
    if pixel_mm <= 0 or half_width_mm <= 0 or half_height_mm <= 0:
        raise InvalidParameterError("pixel_mm and the half extents must be positive.")
    return SlicePlane(
        np.asarray(centre_lps_mm, dtype=np.float64),
        u,
        v,
        float(half_width_mm),
        float(half_height_mm),
        float(pixel_mm),
        title,
    )


def standard_planes(
    centre_lps_mm: ArrayLike, *, half_size_mm: float, pixel_mm: float
) -> tuple[SlicePlane, SlicePlane, SlicePlane]:
    """Axial, coronal and sagittal planes through one point."""
    return tuple(  # type: ignore[return-value]
        oriented_plane(
            centre_lps_mm,
            normal,
            half_width_mm=half_size_mm,
            half_height_mm=half_size_mm,
            pixel_mm=pixel_mm,
            title=title,
        )
        for normal, title in (
            (_AXES_LPS[2], "Axial"),
            (_AXES_LPS[1], "Coronal"),
            (_AXES_LPS[0], "Sagittal"),
        )
    )


#: Probe views show this much before the skin entry and beyond the tip: the ice reaches
#: 20-30 mm past the tip of a long freeze, and what lies there matters most.
PROBE_VIEW_BEFORE_ENTRY_MM = 10.0
PROBE_VIEW_BEYOND_TIP_MM = 35.0


def probe_view_size_mm(length_mm: float) -> float:
    """Side of a probe view for a probe ``length_mm`` from entry to tip."""
    return length_mm + PROBE_VIEW_BEFORE_ENTRY_MM + PROBE_VIEW_BEYOND_TIP_MM


def probe_planes(
    tip_lps_mm: ArrayLike,
    entry_lps_mm: ArrayLike,
    *,
    pixel_mm: float,
    min_half_size_mm: float = 40.0,
    label: str = "",
) -> tuple[SlicePlane, SlicePlane]:
    """Two orthogonal planes that both contain a probe's axis, framing entry to beyond the tip.

    The first is the most axial-like plane through the axis (the plane of a CT
    in-plane approach), the second is perpendicular to it. The frame runs from
    :data:`PROBE_VIEW_BEFORE_ENTRY_MM` before the entry to
    :data:`PROBE_VIEW_BEYOND_TIP_MM` beyond the tip, where the iceball and what
    lies past it show.
    """
    tip = np.asarray(tip_lps_mm, dtype=np.float64)
    entry = np.asarray(entry_lps_mm, dtype=np.float64)
    axis = tip - entry
    length = float(np.linalg.norm(axis))
    if length < 1e-6:
        raise InvalidParameterError("the probe's entry and tip coincide; no plane contains it.")
    axis /= length
    # The plane containing the axis and the head-foot direction; its normal is horizontal.
    side = np.cross(axis, _AXES_LPS[2])
    if np.linalg.norm(side) < 1e-3:  # a head-foot probe: any plane through z contains it
        side = np.cross(axis, _AXES_LPS[0])
    side /= np.linalg.norm(side)
    axial_like_normal = np.cross(axis, side)
    start = entry - PROBE_VIEW_BEFORE_ENTRY_MM * axis
    end = tip + PROBE_VIEW_BEYOND_TIP_MM * axis
    centre = 0.5 * (start + end)
    half = max(min_half_size_mm, 0.5 * probe_view_size_mm(length))
    prefix = f"{label}: " if label else ""
    return (
        oriented_plane(
            centre,
            axial_like_normal,
            half_width_mm=half,
            half_height_mm=half,
            pixel_mm=pixel_mm,
            title=f"{prefix}plane of the shaft (axial-like)",
        ),
        oriented_plane(
            centre,
            side,
            half_width_mm=half,
            half_height_mm=half,
            pixel_mm=pixel_mm,
            title=f"{prefix}orthogonal plane of the shaft",
        ),
    )


def sample_at_indices(
    values: NDArray[np.generic], ijk: NDArray[np.float64], *, order: int, outside: float
) -> NDArray[np.float32]:
    """Values of a ``[k, j, i]`` array at continuous indices ``(..., 3)`` (i, j, k order).

    ``order`` 0 takes the nearest voxel, 1 interpolates trilinearly; points outside
    the array take ``outside``.
    """
    flat = np.asarray(ijk, dtype=np.float64).reshape(-1, 3)
    if order == 0:
        # Direct lookup: map_coordinates would first convert the whole array (bool masks).
        index = np.rint(flat).astype(np.int64)
        size = np.asarray(values.shape[::-1])
        inside = np.all((index >= 0) & (index < size), axis=1)
        sampled = np.full(len(index), outside, dtype=np.float32)
        i, j, k = index[inside].T
        sampled[inside] = values[k, j, i]
    else:
        sampled = ndimage.map_coordinates(
            values, flat[:, ::-1].T, order=order, mode="constant", cval=outside, prefilter=False
        )
    return sampled.reshape(np.shape(ijk)[:-1]).astype(np.float32, copy=False)
