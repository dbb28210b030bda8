"""Which voxel planes the 2-D views show, and how they face the viewer.

The axial, coronal and sagittal views show the image's own planes (the planes
it was acquired in, never resampled), each assigned to the anatomical plane it
is closest to. Screen directions follow the radiological convention:

=========  ===================  ====================
view       screen right         screen up
=========  ===================  ====================
axial      patient left (L)     anterior (A)
coronal    patient left (L)     superior (S)
sagittal   posterior (P)        superior (S)
=========  ===================  ====================

so the patient's right lies on the screen's left in axial and coronal views,
seen from the feet and from the front. For an oblique image the directions are
the closest ones its axes allow, and the orientation letters at the view edges
name the true directions (``"LA"`` for an axis between left and anterior).
A positive slice step moves towards S (axial), A (coronal) or L (sagittal).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry

#: The 2-D views, in the order the 4-up layout shows them.
SLICE_VIEWS: tuple[str, ...] = ("axial", "sagittal", "coronal")

# Patient axis (0 = x L, 1 = y P, 2 = z S) each view's plane is normal to.
_NORMAL_PATIENT_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}
_SCREEN_RIGHT_LPS = {
    "axial": (1.0, 0.0, 0.0),
    "coronal": (1.0, 0.0, 0.0),
    "sagittal": (0.0, 1.0, 0.0),
}
_SCREEN_UP_LPS = {
    "axial": (0.0, -1.0, 0.0),
    "coronal": (0.0, 0.0, 1.0),
    "sagittal": (0.0, 0.0, 1.0),
}
_FORWARD_LPS = {"axial": (0.0, 0.0, 1.0), "coronal": (0.0, -1.0, 0.0), "sagittal": (1.0, 0.0, 0.0)}

# Letters of the positive and negative direction of each LPS axis.
_AXIS_LETTERS = (("L", "R"), ("P", "A"), ("S", "I"))
# A component this large (cosine of about 75°) earns its letter.
_LETTER_THRESHOLD = 0.25


@dataclass(frozen=True, eq=False)
class SliceFrame:
    """How one 2-D view cuts and shows a volume.

    Attributes
    ----------
    view : str
        ``"axial"``, ``"coronal"`` or ``"sagittal"``.
    normal_axis, right_axis, up_axis : int
        Volume axes (0 = i, 1 = j, 2 = k): the one the view steps through, and
        the ones running along the screen's horizontal and vertical.
    right_lps, up_lps : ndarray
        Unit LPS vectors pointing to the screen's right and top.
    forward_lps : ndarray
        Unit LPS vector along ``normal_axis`` in which a positive slice step moves.
    """

    view: str
    normal_axis: int
    right_axis: int
    up_axis: int
    right_lps: NDArray[np.float64]
    up_lps: NDArray[np.float64]
    forward_lps: NDArray[np.float64]

    @property
    def view_direction_lps(self) -> NDArray[np.float64]:
        """Direction the viewer looks in (into the screen), ``up × right``."""
        return np.cross(self.up_lps, self.right_lps)

    def edge_letters(self) -> dict[str, str]:
        """Orientation letters for the ``left``, ``right``, ``top`` and ``bottom`` edges."""
        return {
            "left": orientation_letters(-self.right_lps),
            "right": orientation_letters(self.right_lps),
            "top": orientation_letters(self.up_lps),
            "bottom": orientation_letters(-self.up_lps),
        }


def orientation_letters(vector_lps: ArrayLike) -> str:
    """Patient direction letters of an LPS vector, strongest component first.

    ``(1, 0, 0)`` gives ``"L"``, ``(0, -1, 0)`` gives ``"A"`` and a vector 30°
    from left towards anterior gives ``"LA"``.
    """
    vector = np.asarray(vector_lps, dtype=np.float64).reshape(3)
    norm = float(np.linalg.norm(vector))
    if norm == 0.0:
        raise InvalidParameterError("orientation_letters: the vector must not be zero.")
    unit = vector / norm
    order = np.argsort(-np.abs(unit), kind="stable")
    return "".join(
        _AXIS_LETTERS[axis][0 if unit[axis] > 0 else 1]
        for axis in order
        if abs(unit[axis]) >= _LETTER_THRESHOLD
    )


def patient_axis_assignment(direction: ArrayLike) -> tuple[int, int, int]:
    """The volume axis closest to each patient axis x (L), y (P), z (S).

    Chooses the one-to-one assignment that maximises the summed absolute
    cosines, so that even a 45° oblique image gets three distinct views.
    """
    cosines = np.abs(np.asarray(direction, dtype=np.float64))
    best = max(
        itertools.permutations(range(3)),
        key=lambda axes: sum(cosines[patient, axes[patient]] for patient in range(3)),
    )
    return best[0], best[1], best[2]


def slice_frames(geometry: Geometry) -> dict[str, SliceFrame]:
    """The :class:`SliceFrame` of each 2-D view of a volume on ``geometry``."""
    volume_axis_of = patient_axis_assignment(geometry.direction)
    frames = {}
    for view in SLICE_VIEWS:
        right_patient = int(np.argmax(np.abs(_SCREEN_RIGHT_LPS[view])))
        up_patient = int(np.argmax(np.abs(_SCREEN_UP_LPS[view])))
        normal_axis = volume_axis_of[_NORMAL_PATIENT_AXIS[view]]
        right_axis = volume_axis_of[right_patient]
        up_axis = volume_axis_of[up_patient]
        frames[view] = SliceFrame(
            view=view,
            normal_axis=normal_axis,
            right_axis=right_axis,
            up_axis=up_axis,
            right_lps=_towards(geometry.direction[:, right_axis], _SCREEN_RIGHT_LPS[view]),
            up_lps=_towards(geometry.direction[:, up_axis], _SCREEN_UP_LPS[view]),
            forward_lps=_towards(geometry.direction[:, normal_axis], _FORWARD_LPS[view]),
        )
    return frames


def _towards(axis_lps: NDArray[np.float64], wanted_lps: tuple[float, ...]) -> NDArray[np.float64]:
    """``axis_lps`` or its opposite, whichever points more along ``wanted_lps``."""
    sign = 1.0 if float(np.dot(axis_lps, wanted_lps)) >= 0.0 else -1.0
    vector = sign * np.asarray(axis_lps, dtype=np.float64)
    vector.setflags(write=False)
    return vector


def index_step(geometry: Geometry, frame: SliceFrame) -> int:
    """+1 or -1: how the volume index along ``frame.normal_axis`` changes per forward step."""
    return (
        1 if float(np.dot(geometry.direction[:, frame.normal_axis], frame.forward_lps)) > 0 else -1
    )


def slice_count(geometry: Geometry, frame: SliceFrame) -> int:
    """Number of planes the view can show."""
    return geometry.size_ijk[frame.normal_axis]


def slice_index(geometry: Geometry, frame: SliceFrame, lps_mm: ArrayLike) -> int:
    """Volume index, along ``frame.normal_axis``, of the plane nearest ``lps_mm`` (clamped)."""
    continuous = geometry.lps_to_index(lps_mm)[frame.normal_axis]
    return int(np.clip(np.rint(continuous), 0, slice_count(geometry, frame) - 1))


def clamp_to_volume(geometry: Geometry, lps_mm: ArrayLike) -> NDArray[np.float64]:
    """The point of the volume's voxel-centre box nearest to ``lps_mm``."""
    ijk = geometry.lps_to_index(lps_mm)
    upper = np.asarray(geometry.size_ijk, dtype=np.float64) - 1.0
    return geometry.index_to_lps(np.clip(ijk, 0.0, upper))


def with_slice(
    geometry: Geometry, frame: SliceFrame, lps_mm: ArrayLike, index: int
) -> NDArray[np.float64]:
    """``lps_mm`` moved along the view normal onto plane ``index`` (clamped to the volume)."""
    ijk = geometry.lps_to_index(clamp_to_volume(geometry, lps_mm))
    ijk[frame.normal_axis] = int(np.clip(index, 0, slice_count(geometry, frame) - 1))
    return geometry.index_to_lps(ijk)


def stepped(
    geometry: Geometry, frame: SliceFrame, lps_mm: ArrayLike, steps: int
) -> NDArray[np.float64]:
    """``lps_mm`` moved ``steps`` planes forward (negative: backward), stopping at the ends."""
    index = slice_index(geometry, frame, lps_mm) + index_step(geometry, frame) * int(steps)
    return with_slice(geometry, frame, lps_mm, index)


def in_plane_bounds_mm(geometry: Geometry, frame: SliceFrame) -> tuple[float, float, float, float]:
    """``(right_min, right_max, up_min, up_max)``: the volume's extent along the screen axes.

    Measured in mm as ``dot(lps, right_lps)`` and ``dot(lps, up_lps)``, from voxel
    edge to voxel edge.
    """
    corners = geometry.corners_lps()
    half_voxel = 0.5 * geometry.spacing_mm
    along_right = corners @ frame.right_lps
    along_up = corners @ frame.up_lps
    pad_right = half_voxel[frame.right_axis]
    pad_up = half_voxel[frame.up_axis]
    return (
        float(along_right.min() - pad_right),
        float(along_right.max() + pad_right),
        float(along_up.min() - pad_up),
        float(along_up.max() + pad_up),
    )


def oriented_slice(
    voxels: NDArray[np.generic], geometry: Geometry, frame: SliceFrame, index: int
) -> NDArray[np.generic]:
    """Plane ``index`` of ``voxels`` as the view shows it: row 0 at the top, column 0 at the left.

    Parameters
    ----------
    voxels : ndarray
        ``[k, j, i]`` values on ``geometry`` (image or labels).
    geometry : Geometry
        The grid of ``voxels``.
    frame : SliceFrame
        The view, from :func:`slice_frames`.
    index : int
        Volume index along ``frame.normal_axis``.
    """
    if tuple(voxels.shape) != geometry.shape:
        raise InvalidParameterError(
            f"voxels shape {voxels.shape} does not match geometry {geometry.shape}."
        )
    if not 0 <= index < slice_count(geometry, frame):
        raise InvalidParameterError(
            f"index {index} is outside 0..{slice_count(geometry, frame) - 1} for the "
            f"{frame.view} view."
        )
    # numpy axis of volume axis a is 2 - a.
    plane = np.take(voxels, index, axis=2 - frame.normal_axis)
    remaining = [axis for axis in (2, 1, 0) if axis != frame.normal_axis]
    rows_first = [remaining.index(frame.up_axis), remaining.index(frame.right_axis)]
    plane = np.transpose(plane, rows_first)
    if float(np.dot(geometry.direction[:, frame.up_axis], frame.up_lps)) > 0:
        plane = plane[::-1, :]  # increasing index runs up the screen; row 0 is the top
    if float(np.dot(geometry.direction[:, frame.right_axis], frame.right_lps)) < 0:
        plane = plane[:, ::-1]
    return plane
