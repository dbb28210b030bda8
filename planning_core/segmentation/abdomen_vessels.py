"""Aorta and inferior vena cava: bright round tubes in front of the spine.

Both are traced slice by slice on the coarse grid (axes z, y, x toward head,
back, patient's left). In each slice the lumen centre is the brightest disk of
vessel size inside a search box placed relative to the spine: the aorta lies
just anterior and left of the vertebral body, the IVC to the right of the
aorta and anterior-right of the spine. The trace starts at the slice where the
vessel is clearest and moves up and down, accepting only a centre within a few
millimetres of the previous one: vessels are continuous, whereas the brightest
disk of a box can jump to a neighbour (renal vein, superior mesenteric artery)
in any single slice. The lumen is then the connected bright region around the
centre, within a disk of the largest plausible radius.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.segmentation.abdomen_landmarks import Landmarks

#: Diameter of the averaging disk: a little less than a normal abdominal aorta
#: (18 to 25 mm) and IVC (20 to 30 mm), so that the disk fits inside the lumen.
LUMEN_PROBE_DIAMETER_MM = 12.0

#: Largest lumen radius kept around a centre: an ectatic aorta reaches 30 mm in
#: diameter; a larger bright region is a neighbour merged with the vessel.
MAX_LUMEN_RADIUS_MM = {"aorta": 17.0, "ivc": 18.0}

#: How far a vessel's centre may move between neighbouring slices, per mm of
#: slice distance, plus a constant for noise: the abdominal aorta and IVC run
#: nearly vertically.
MAX_SHIFT_PER_MM = 0.6
MAX_SHIFT_CONSTANT_MM = 4.0


#: Shortest trace taken for the vessel: the abdominal aorta and IVC run 15-20 cm;
#: a bright spot over a few slices is a neighbour (the heart's apex, a renal vein).
MIN_TRACE_LENGTH_MM = 30.0

#: Largest in-plane offset between the ends of two trace pieces joined across a
#: gap: the IVC moves forward by 1-2 cm between the renal veins and the liver.
MAX_JOIN_SHIFT_MM = 25.0

#: Traces tried: from the slices whose brightest disk lies nearest the vessel's
#: usual position, each from a slice no earlier trace reached.
TRACE_STARTS = 5


@dataclass(frozen=True)
class VesselTrace:
    """A traced vessel: its mask and the mean HU at its centres."""

    mask: NDArray[np.bool_]
    lumen_hu: float
    centres_yx: dict[int, tuple[int, int]]


def _disk_mean(slice_hu: NDArray[np.float32], spacing_yx: tuple[float, float]) -> NDArray:
    size = [max(1, round(LUMEN_PROBE_DIAMETER_MM / s)) for s in spacing_yx]
    return ndimage.uniform_filter(slice_hu, size=size, mode="nearest")


def _search_box(
    name: str,
    z: int,
    landmarks: Landmarks,
    spacing_mm: tuple[float, float, float],
    shape_yx: tuple[int, int],
    aorta_x_mm: float | None,
) -> tuple[slice, slice]:
    """Rows and columns of the slice where the vessel's centre may lie."""
    _, dy, dx = spacing_mm
    front = float(landmarks.spine_front_y_mm[z])
    spine_x = float(landmarks.spine_x_mm[z])
    if name == "aorta":
        # Anterior-left of the vertebral body, up to 4.5 cm in front (lordosis and a
        # tortuous aorta move it forward); at the hiatus and above, beside it.
        y_range = (front - 45.0, front + 10.0)
        x_range = (spine_x - 20.0, spine_x + 40.0)
    else:
        # Right of the aorta by 1.5 to 6.5 cm, in front of the spine's right half.
        reference = aorta_x_mm if aorta_x_mm is not None else spine_x
        y_range = (front - 55.0, front + 10.0)
        x_range = (reference - 65.0, reference - 15.0)
    rows = slice(max(int(y_range[0] / dy), 0), min(int(np.ceil(y_range[1] / dy)) + 1, shape_yx[0]))
    cols = slice(max(int(x_range[0] / dx), 0), min(int(np.ceil(x_range[1] / dx)) + 1, shape_yx[1]))
    return rows, cols


def trace_vessel(
    name: str,
    hu: NDArray[np.float32],
    body: NDArray[np.bool_],
    landmarks: Landmarks,
    spacing_mm: tuple[float, float, float],
    *,
    min_lumen_hu: float,
    background_hu: float,
    z_range: tuple[int, int],
    aorta: VesselTrace | None = None,
    exclude: NDArray[np.bool_] | None = None,
) -> VesselTrace | None:
    """Trace ``name`` ("aorta" or "ivc") through the slices ``z_range``.

    Parameters
    ----------
    hu : ndarray of float32
        Coarse HU, axes (z, y, x).
    min_lumen_hu : float
        A centre is accepted only where the disk mean reaches this: the vessel
        is enhanced there.
    background_hu : float
        HU of the unenhanced soft tissue around the vessel: lumen voxels are those
        above the midpoint between it and the lumen, connected to the centre
        (the half-maximum edge of a blurred bright tube).
    z_range : tuple of int
        First and last (exclusive) slice to trace.
    aorta : VesselTrace, optional
        The traced aorta; the IVC is searched to its right and never inside it.
    exclude : ndarray of bool, optional
        Voxels that are not this vessel (other organs already found).
    """
    _, dy, dx = spacing_mm
    nz, ny, nx = hu.shape
    z_start, z_stop = max(z_range[0], 0), min(z_range[1], nz)
    if z_stop <= z_start:
        return None
    in_slice = np.zeros((3, 3, 3), dtype=bool)
    in_slice[1] = ndimage.generate_binary_structure(2, 1)
    blocked = ~body | ndimage.binary_dilation(landmarks.spine, in_slice)
    if exclude is not None:
        blocked = blocked | exclude
    if aorta is not None:
        blocked = blocked | ndimage.binary_dilation(aorta.mask, iterations=1)
    best: dict[int, tuple[float, int, int]] = {}
    for z in range(z_start, z_stop):
        aorta_x = None
        if aorta is not None and z in aorta.centres_yx:
            aorta_x = aorta.centres_yx[z][1] * dx
        elif aorta is not None:
            continue
        rows, cols = _search_box(name, z, landmarks, spacing_mm, (ny, nx), aorta_x)
        mean = _disk_mean(np.where(blocked[z], np.float32(-1000.0), hu[z]), (dy, dx))
        window = mean[rows, cols]
        if window.size == 0:
            continue
        flat = int(np.argmax(window))
        y, x = np.unravel_index(flat, window.shape)
        best[z] = (float(window[y, x]), int(y + rows.start), int(x + cols.start))
    bright = {z: b for z, b in best.items() if b[0] >= min_lumen_hu}
    if not bright:
        return None
    # Start where the box's brightest disk lies near the usual position of the
    # bright disks (the vessel itself, not a branch such as the celiac trunk or a
    # renal artery that is brightest in one slice only); of a few such traces,
    # keep the longest (not a stump at the bifurcation), joined with pieces that
    # continue it across a gap.
    usual_y = float(np.median([b[1] for b in bright.values()]))
    usual_x = float(np.median([b[2] for b in bright.values()]))
    starts = sorted(
        bright,
        key=lambda z: ((bright[z][1] - usual_y) * dy) ** 2 + ((bright[z][2] - usual_x) * dx) ** 2,
    )
    max_shift_mm = MAX_SHIFT_CONSTANT_MM + MAX_SHIFT_PER_MM * spacing_mm[0]
    reach_y = int(np.ceil(max_shift_mm / dy))
    reach_x = int(np.ceil(max_shift_mm / dx))

    def follow(start: int) -> dict[int, tuple[int, int]]:
        centres = {start: (best[start][1], best[start][2])}
        for step in (1, -1):
            y, x = centres[start]
            z = start + step
            while z_start <= z < z_stop:
                rows, cols = _search_box(name, z, landmarks, spacing_mm, (ny, nx), None)
                # Follow the brightest disk near the previous centre, not in the whole box.
                y0, y1 = max(y - reach_y, 0), min(y + reach_y + 1, ny)
                x0, x1 = max(x - reach_x, 0), min(x + reach_x + 1, nx)
                mean = _disk_mean(np.where(blocked[z], np.float32(-1000.0), hu[z]), (dy, dx))
                window = mean[y0:y1, x0:x1]
                yy, xx = np.unravel_index(int(np.argmax(window)), window.shape)
                if window[yy, xx] < min_lumen_hu:
                    break
                y, x = int(yy + y0), int(xx + x0)
                if not (rows.start <= y < rows.stop and cols.start <= x < cols.stop):
                    break  # left the region where this vessel runs (arch, bifurcation)
                centres[z] = (y, x)
                z += step
        return centres

    traces: list[dict[int, tuple[int, int]]] = []
    covered: set[int] = set()
    for start in starts:
        if start not in covered:  # each trace from a slice no earlier trace reached
            traces.append(follow(start))
            covered |= set(traces[-1])
            if len(traces) == TRACE_STARTS:
                break
    traces.sort(key=len, reverse=True)
    centres = traces[0]
    if len(centres) * spacing_mm[0] < MIN_TRACE_LENGTH_MM:
        return None
    # A vessel broken in a few slices (renal veins joining the IVC, a branch
    # outshining the aorta) continues in another trace: join a separate long
    # trace whose end lies near this one's end across the gap.
    for other in traces[1:]:
        if len(other) * spacing_mm[0] < MIN_TRACE_LENGTH_MM or set(other) & set(centres):
            continue
        near_end = min(centres, key=lambda z: min(abs(z - o) for o in other))
        other_end = min(other, key=lambda z: abs(z - near_end))
        shift_mm = float(
            np.hypot(
                (centres[near_end][0] - other[other_end][0]) * dy,
                (centres[near_end][1] - other[other_end][1]) * dx,
            )
        )
        if shift_mm <= MAX_JOIN_SHIFT_MM:
            centres = {**centres, **other}
    lumen_hu = float(np.median([hu[z, y, x] for z, (y, x) in centres.items()]))
    if lumen_hu < min_lumen_hu:
        # Bright only in places (calcified plaque in an unenhanced aorta, noise):
        # the lumen along the trace is not enhanced.
        return None
    threshold_hu = 0.5 * (lumen_hu + background_hu)
    radius_mm = MAX_LUMEN_RADIUS_MM[name]
    yy_mm = (np.arange(ny) * dy)[:, np.newaxis]
    xx_mm = (np.arange(nx) * dx)[np.newaxis, :]
    mask = np.zeros(hu.shape, dtype=bool)
    for z, (y, x) in centres.items():
        disk = (yy_mm - y * dy) ** 2 + (xx_mm - x * dx) ** 2 <= radius_mm**2
        bright = (hu[z] > threshold_hu) & disk & ~blocked[z]
        labels, _ = ndimage.label(bright)
        if labels[y, x]:
            mask[z] = labels == labels[y, x]
    if not mask.any():
        return None
    mask = ndimage.binary_fill_holes(mask)  # calcified plaque inside the wall
    return VesselTrace(mask, lumen_hu, centres)
