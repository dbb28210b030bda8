"""Arranging 2-D frames into one 3-D grid, from header values only.

Frames are ordered by their position along the slice normal (never by file name
or InstanceNumber). The grid's k axis points along the normal ``row x column``,
so the direction matrix is a proper rotation. Two departures from a regular
stack are detected and planned for here, and carried out by
:mod:`planning_core.imaging.dicom.resample`:

* gantry tilt (shear): slice origins drift sideways as the normal position
  grows. The grid is widened in-plane to hold every slice and each slice is
  shifted into place.
* irregular increments (missing slices, mixed thickness): the grid gets a
  uniform spacing: the smallest increment that is at least half the median
  increment, shrunk just enough that the first and last slices fall on grid
  planes. Planes in between are interpolated linearly along the normal. A
  regular stack with one missing slice thus keeps every acquired slice exactly
  and gains one interpolated plane; a stack is never silently treated as
  uniform. Gaps wider than ``MAX_BRIDGED_GAP_FACTOR`` spacings are refused.

This keeps geometry exact (every voxel sits where its value was measured or
interpolated), which a "keep the slices and warn" policy could not: a Geometry
has one spacing per axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from planning_core.errors import DicomLoadError
from planning_core.imaging.dicom.bounds import (
    MAX_GRID_AXIS,
    MAX_SPACING_MM,
    MIN_SPACING_MM,
    plausible_spacing,
    require_memory,
)
from planning_core.imaging.dicom.headers import FramePlane, InstanceHeader
from planning_core.imaging.dicom.ultrasound import ultrasound_pixel_spacing
from planning_core.imaging.geometry import Geometry

#: Slice positions may deviate this much (mm) from a uniform stack and still count as uniform.
SLICE_POSITION_TOLERANCE_MM = 0.01
#: Frames whose direction cosines differ by more than this belong to different stacks.
ORIENTATION_TOLERANCE = 1e-3
#: Two frames closer than this along the normal (mm) occupy the same position.
DUPLICATE_POSITION_MM = 1e-3
#: Gaps wider than this many target spacings are not bridged by interpolation.
MAX_BRIDGED_GAP_FACTOR = 4.0
#: Most increment runs listed in a spacing warning.
_MAX_LISTED_RUNS = 6
_FLOAT_BYTES = 4


@dataclass(frozen=True)
class FrameRef:
    """One 2-D frame of one file: a single-frame file, or a frame of a multi-frame file."""

    instance: InstanceHeader
    frame_index: int

    @property
    def plane(self) -> FramePlane:
        return self.instance.frames[self.frame_index]

    @property
    def label(self) -> str:
        if self.instance.number_of_frames > 1:
            return f"frame {self.frame_index + 1} of {self.instance.path.name}"
        return self.instance.label


@dataclass(frozen=True, eq=False)
class StackLayout:
    """How frames map onto the output grid.

    Attributes
    ----------
    frames : tuple of FrameRef
        Input frames sorted along the stack.
    geometry : Geometry
        The output grid (orthonormal, uniform spacing).
    source_k : ndarray
        Continuous k index of each input frame's plane in the output grid.
    source_offset_ij : ndarray, shape (n, 2)
        Continuous (i, j) index in the output grid of each frame's first pixel.
    tilt_deg : float
        Angle between the stacking direction and the slice normal.
    resampled : bool
        True when voxels must be interpolated (tilt or irregular increments).
    warnings : tuple of str
        Everything a user should know about the geometry.
    assumptions : tuple of str
        The subset of warnings where geometry was assumed or resampled;
        strict loading refuses when any exist.
    """

    frames: tuple[FrameRef, ...]
    geometry: Geometry
    source_k: NDArray[np.float64]
    source_offset_ij: NDArray[np.float64]
    tilt_deg: float
    resampled: bool
    warnings: tuple[str, ...]
    assumptions: tuple[str, ...]

    @property
    def needs_shift(self) -> bool:
        """True when some frame must be moved in-plane (tilt) before it fits the grid."""
        _, nj, ni = self.geometry.shape
        rows, columns = self.frames[0].instance.rows, self.frames[0].instance.columns
        return bool(np.any(np.abs(self.source_offset_ij) > 1e-9)) or (nj, ni) != (rows, columns)


def plan_stack(frames: Sequence[FrameRef], *, name: str) -> StackLayout:
    """Order frames and compute the grid they are loaded onto.

    Parameters
    ----------
    frames : sequence of FrameRef
        Frames of one (sub-)series, in any order; all of the same size.
    name : str
        How messages refer to the series.

    Raises
    ------
    DicomLoadError
        When the frames cannot form one volume (missing or mixed geometry,
        two frames at one position).
    """
    if not frames:
        raise DicomLoadError(f"{name}: holds no image frames.")
    placed = [
        f.plane.position_lps_mm is not None and f.plane.orientation is not None for f in frames
    ]
    if all(placed):
        return _checked_size(_plan_placed(frames, name=name), name=name)
    if any(placed):
        missing = [f.label for f, ok in zip(frames, placed, strict=True) if not ok]
        raise DicomLoadError(
            f"{name}: {len(missing)} of {len(frames)} frames lack ImagePositionPatient or "
            f"ImageOrientationPatient (first: {missing[0]}); the slices cannot be placed. "
            "Re-export the series or remove those files."
        )
    return _checked_size(_plan_unplaced(frames, name=name), name=name)


def _checked_size(layout: StackLayout, *, name: str) -> StackLayout:
    """``layout``, once its grid is known to be plausible and to fit in memory.

    Checked here, from the headers alone, so that the listing already says why
    a series cannot be loaded and no load ever attempts the allocation.
    """
    nk, nj, ni = layout.geometry.shape
    if max(nk, nj, ni) > MAX_GRID_AXIS:
        raise DicomLoadError(
            f"{name}: the volume would be {ni}×{nj}×{nk} voxels (i×j×k), more than "
            f"{MAX_GRID_AXIS} along an axis; the slice positions (ImagePositionPatient) or "
            "PixelSpacing in the headers are implausible."
        )
    needed, cause = planned_bytes(layout)
    require_memory(needed, what="loading this series", name=name, cause=cause)
    return layout


def planned_bytes(layout: StackLayout) -> tuple[int, str]:
    """Bytes a load of ``layout`` allocates at most, and the sizes that ask for them.

    Frames are collected as float32 at worst; resampling adds the float32 output grid.
    """
    nk, nj, ni = layout.geometry.shape
    rows, columns = layout.frames[0].instance.rows, layout.frames[0].instance.columns
    count = len(layout.frames)
    needed = count * rows * columns * _FLOAT_BYTES
    cause = f"{count} frame(s) of {columns}×{rows} pixels"
    if layout.resampled:
        needed += nk * nj * ni * _FLOAT_BYTES
        cause += f", resampled onto {ni}×{nj}×{nk} voxels"
    return needed, cause


# -- frames with patient positions
def _plan_placed(frames: Sequence[FrameRef], *, name: str) -> StackLayout:
    warnings: list[str] = []
    assumptions: list[str] = []
    row_dir, col_dir = _orthonormal_axes(frames, name=name)
    normal = np.cross(row_dir, col_dir)
    spacing_j, spacing_i = _pixel_spacing(
        frames, name=name, warnings=warnings, assumptions=assumptions
    )

    positions = np.array([f.plane.position_lps_mm for f in frames], dtype=np.float64)
    distances = positions @ normal
    order = np.argsort(distances, kind="stable")
    frames = tuple(frames[i] for i in order)
    positions, distances = positions[order], distances[order]
    _reject_duplicates(frames, distances, name=name)

    count = len(frames)
    rows, columns = frames[0].instance.rows, frames[0].instance.columns
    if frames[0].instance.positions_in_volume_frame:
        warnings.append(
            f"{name}: frame positions are given in the ultrasound volume's own frame of "
            "reference (Enhanced US Volume), not in patient coordinates."
        )
    if count == 1:
        spacing_k = _nominal_thickness(frames[0].instance)
        geometry = Geometry(
            (1, rows, columns),
            (spacing_i, spacing_j, spacing_k),
            positions[0],
            np.column_stack([row_dir, col_dir, normal]),
        )
        return StackLayout(
            frames,
            geometry,
            np.zeros(1),
            np.zeros((1, 2)),
            0.0,
            False,
            tuple(warnings),
            tuple(assumptions),
        )

    span = distances[-1] - distances[0]
    lateral = (positions - positions[0]) - np.outer(distances - distances[0], normal)
    lateral_mm = float(np.max(np.linalg.norm(lateral, axis=1)))
    tilted = lateral_mm > SLICE_POSITION_TOLERANCE_MM
    planes, spacing_k, irregular = _planes_along_normal(distances, frames, name=name)
    if not plausible_spacing(spacing_k):
        raise DicomLoadError(
            f"{name}: its {count} slices lie {spacing_k:.4g} mm apart along the slice normal "
            f"({frames[0].label} to {frames[-1].label}), outside the plausible "
            f"{MIN_SPACING_MM:g} to {MAX_SPACING_MM:g} mm; ImagePositionPatient is damaged in "
            "some files. Remove them or export the series again."
        )
    if tilted:
        shift_ij = np.column_stack([lateral @ row_dir / spacing_i, lateral @ col_dir / spacing_j])
    else:
        shift_ij = np.zeros((count, 2))
    low_ij, size_ij = _widened_grid(shift_ij, columns=columns, rows=rows)
    geometry = Geometry(
        (planes, int(size_ij[1]), int(size_ij[0])),
        (spacing_i, spacing_j, spacing_k),
        positions[0] + row_dir * (low_ij[0] * spacing_i) + col_dir * (low_ij[1] * spacing_j),
        np.column_stack([row_dir, col_dir, normal]),
    )
    tilt_deg = math.degrees(math.atan2(float(np.linalg.norm(lateral[-1])), span)) if tilted else 0.0
    if tilted:
        message = _tilt_message(name, frames[0].instance, lateral_mm, tilt_deg, geometry)
        warnings.append(message)
        assumptions.append(message)
    if irregular:
        message = (
            f"{name}: slice spacing along the normal is not uniform: "
            f"{_describe_increments(np.diff(distances), frames, spacing_k)}. Resampled to a "
            f"uniform {spacing_k:.3f} mm ({planes} planes from {count} slices; acquired slices "
            "kept on their planes where they fall on one, others interpolated linearly between "
            "neighbouring slices). Load in strict mode to refuse instead."
        )
        warnings.append(message)
        assumptions.append(message)
    return StackLayout(
        frames,
        geometry,
        (distances - distances[0]) / spacing_k,
        shift_ij - low_ij,
        tilt_deg,
        tilted or irregular,
        tuple(warnings),
        tuple(assumptions),
    )


def _planes_along_normal(
    distances: NDArray[np.float64], frames: Sequence[FrameRef], *, name: str
) -> tuple[int, float, bool]:
    """Plane count and spacing of the output grid, and whether the increments are irregular."""
    count = len(distances)
    span = float(distances[-1] - distances[0])
    uniform = distances[0] + np.arange(count) * (span / (count - 1))
    if float(np.max(np.abs(distances - uniform))) <= SLICE_POSITION_TOLERANCE_MM:
        return count, span / (count - 1), False
    increments = np.diff(distances)
    target = float(np.min(increments[increments >= 0.5 * float(np.median(increments))]))
    _reject_wide_gaps(frames, increments, target, name=name)
    # Never coarser than the finest regular increment; exact when the span is a multiple of it.
    planes = max(math.ceil((span - SLICE_POSITION_TOLERANCE_MM) / target), 1) + 1
    return planes, span / (planes - 1), True


def _widened_grid(
    shift_ij: NDArray[np.float64], *, columns: int, rows: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lowest (i, j) index and (i, j) size of a grid holding every shifted frame whole.

    The bounds are whole pixels on the first frame's lattice, so an unshifted
    stack keeps exactly its own grid.
    """
    low = np.floor(shift_ij.min(axis=0) + 1e-6)
    high = np.ceil(shift_ij.max(axis=0) + np.array([columns - 1, rows - 1]) - 1e-6)
    return low, high - low + 1


def _tilt_message(
    name: str, instance: InstanceHeader, lateral_mm: float, tilt_deg: float, geometry: Geometry
) -> str:
    stated = instance.gantry_tilt_deg
    stated_text = f"; the header states GantryDetectorTilt {stated:+.2f}°" if stated else ""
    return (
        f"{name}: gantry tilt: slice positions drift {lateral_mm:.2f} mm sideways off the "
        f"slice normal (tilt {tilt_deg:.2f}°{stated_text}). The slices were resampled onto "
        "an orthogonal grid (each slice shifted in-plane with linear interpolation; grid "
        f"widened to {geometry.shape[2]}×{geometry.shape[1]} pixels to keep all data, new "
        "pixels filled with the series' lowest value). Load in strict mode to refuse instead."
    )


def _orthonormal_axes(
    frames: Sequence[FrameRef], *, name: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    cosines = np.array([f.plane.orientation for f in frames], dtype=np.float64)
    spread = np.max(np.abs(cosines - cosines[0]), axis=0)
    if np.any(spread > ORIENTATION_TOLERANCE):
        odd = next(
            f
            for f, c in zip(frames, cosines, strict=True)
            if np.any(np.abs(c - cosines[0]) > ORIENTATION_TOLERANCE)
        )
        raise DicomLoadError(
            f"{name}: frames have different orientations ({frames[0].label} vs {odd.label}); "
            "they do not form one volume. Load the stacks separately."
        )
    row_dir, col_dir = cosines[0, :3], cosines[0, 3:]
    row_norm, col_norm = np.linalg.norm(row_dir), np.linalg.norm(col_dir)
    if abs(row_norm - 1) > 0.01 or abs(col_norm - 1) > 0.01 or abs(row_dir @ col_dir) > 0.01:
        raise DicomLoadError(
            f"{name}: ImageOrientationPatient {cosines[0].round(4).tolist()} of {frames[0].label} "
            "is not two perpendicular unit vectors; the file is damaged."
        )
    # Headers round cosines to a few digits: restore exact orthonormality.
    row_dir = row_dir / row_norm
    col_dir = col_dir - (col_dir @ row_dir) * row_dir
    return row_dir, col_dir / np.linalg.norm(col_dir)


def _pixel_spacing(
    frames: Sequence[FrameRef], *, name: str, warnings: list[str], assumptions: list[str]
) -> tuple[float, float]:
    """(between rows, between columns) in mm, checked to be common to all frames."""
    spacings = {f.plane.pixel_spacing_mm for f in frames}
    if None in spacings and len(spacings) > 1:
        raise DicomLoadError(f"{name}: PixelSpacing is missing in some frames but not others.")
    known = [s for s in spacings if s is not None]
    if known:
        reference = np.array(known[0])
        if any(np.max(np.abs(np.array(s) - reference)) > 1e-4 * max(reference) for s in known):
            raise DicomLoadError(
                f"{name}: frames have different PixelSpacing {sorted(known)}; they do not form one "
                "volume. Load the stacks separately."
            )
        spacing = (float(reference[0]), float(reference[1]))
    else:
        spacing = _fallback_spacing(
            frames[0].instance, name=name, warnings=warnings, assumptions=assumptions
        )
    if min(spacing) <= 0:
        raise DicomLoadError(
            f"{name}: PixelSpacing {spacing} is not positive; the header is damaged."
        )
    return spacing


def _fallback_spacing(
    instance: InstanceHeader, *, name: str, warnings: list[str], assumptions: list[str]
) -> tuple[float, float]:
    """Pixel size when PixelSpacing is absent: ultrasound regions, detector spacing, or 1 mm."""
    if instance.ultrasound_regions:
        spacing, notes = ultrasound_pixel_spacing(instance.ultrasound_regions, name=name)
        warnings.extend(notes)
        if spacing is not None:
            return spacing
    if instance.imager_pixel_spacing_mm is not None:
        message = (
            f"{name}: no PixelSpacing; using ImagerPixelSpacing "
            f"{instance.imager_pixel_spacing_mm} mm, "
            "which is measured at the detector and overstates sizes in the patient by the "
            "geometric magnification."
        )
        warnings.append(message)
        assumptions.append(message)
        return instance.imager_pixel_spacing_mm
    message = (
        f"{name}: no pixel spacing in the header (no PixelSpacing, ImagerPixelSpacing or "
        "calibrated ultrasound region); 1 mm pixels were assumed, so distances are not physical."
    )
    warnings.append(message)
    assumptions.append(message)
    return 1.0, 1.0


def _nominal_thickness(instance: InstanceHeader) -> float:
    for value in (instance.spacing_between_slices_mm, instance.slice_thickness_mm):
        if value is not None and value > 0:
            return float(value)
    return 1.0


def _reject_duplicates(
    frames: Sequence[FrameRef], distances: NDArray[np.float64], *, name: str
) -> None:
    close = np.flatnonzero(np.diff(distances) < DUPLICATE_POSITION_MM)
    if close.size:
        first = int(close[0])
        raise DicomLoadError(
            f"{name}: {close.size} pair(s) of frames share a slice position, first "
            f"{frames[first].label} and {frames[first + 1].label} at {distances[first]:.3f} mm "
            "along the normal; the series mixes several acquisitions (phases, echoes or repeats). "
            "Export each acquisition as its own series."
        )


def _reject_wide_gaps(
    frames: Sequence[FrameRef], increments: NDArray[np.float64], target_mm: float, *, name: str
) -> None:
    widest = int(np.argmax(increments))
    if increments[widest] > MAX_BRIDGED_GAP_FACTOR * target_mm:
        missing = round(increments[widest] / target_mm) - 1
        raise DicomLoadError(
            f"{name}: a gap of {increments[widest]:.2f} mm between {frames[widest].label} and "
            f"{frames[widest + 1].label} (about {missing} missing slices at {target_mm:.3f} mm) "
            "is too wide to bridge by interpolation; the series is incomplete. Transfer or "
            "export it again in full."
        )


def _describe_increments(
    increments: NDArray[np.float64], frames: Sequence[FrameRef], target_mm: float
) -> str:
    runs: list[list[int]] = []  # [start index, count]
    for index, step in enumerate(increments):
        if runs and abs(step - increments[runs[-1][0]]) <= 2 * SLICE_POSITION_TOLERANCE_MM:
            runs[-1][1] += 1
        else:
            runs.append([index, 1])
    parts = []
    for start, length in runs[:_MAX_LISTED_RUNS]:
        step = float(np.mean(increments[start : start + length]))
        first, last = frames[start], frames[start + length]
        missing = round(step / target_mm) - 1
        gap_note = (
            f", about {missing} missing slice{'s' if missing > 1 else ''}"
            if missing >= 1 and abs(step - (missing + 1) * target_mm) < 0.05 * target_mm
            else ""
        )
        if length == 1:
            parts.append(f"{step:.3f} mm between {first.label} and {last.label}{gap_note}")
        else:
            parts.append(f"{step:.3f} mm × {length} from {first.label} to {last.label}{gap_note}")
    if len(runs) > _MAX_LISTED_RUNS:
        parts.append(f"and {len(runs) - _MAX_LISTED_RUNS} more changes")
    return "; ".join(parts)


# -- frames without patient positions
def _plan_unplaced(frames: Sequence[FrameRef], *, name: str) -> StackLayout:
    instances = {id(f.instance) for f in frames}
    if len(instances) > 1:
        raise DicomLoadError(
            f"{name}: its {len(instances)} images carry no ImagePositionPatient/"
            "ImageOrientationPatient, so they are separate 2-D images, not slices of a volume. "
            "Load one file at a time."
        )
    instance = frames[0].instance
    frames = tuple(sorted(frames, key=lambda f: f.frame_index))
    warnings: list[str] = []
    assumptions: list[str] = []
    spacing_j, spacing_i = _pixel_spacing(
        frames, name=name, warnings=warnings, assumptions=assumptions
    )
    placement = (
        f"{name}: the file gives no patient position or orientation; the image is placed at "
        "the origin with identity orientation (distances within it are valid, positions "
        "relative to other studies are not)."
    )
    warnings.append(placement)
    assumptions.append(placement)
    count = len(frames)
    if count > 1 and instance.modality == "US":
        spacing_k = 1.0
        message = (
            f"{name}: its {count} frames are a cine loop in time, not slices in space; they are "
            "stacked along k at a nominal 1 mm."
        )
        warnings.append(message)
        assumptions.append(message)
    elif count > 1:
        spacing_k = _nominal_thickness(instance)
        message = (
            f"{name}: its {count} frames have no per-frame positions; they are stacked in file "
            f"order at {spacing_k:g} mm (SpacingBetweenSlices/SliceThickness)."
        )
        warnings.append(message)
        assumptions.append(message)
    else:
        spacing_k = _nominal_thickness(instance)
    geometry = Geometry(
        (count, instance.rows, instance.columns), (spacing_i, spacing_j, spacing_k), (0.0, 0.0, 0.0)
    )
    return StackLayout(
        frames,
        geometry,
        np.arange(count, dtype=np.float64),
        np.zeros((count, 2)),
        0.0,
        False,
        tuple(warnings),
        tuple(assumptions),
    )
