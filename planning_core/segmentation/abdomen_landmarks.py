"""Landmarks the solid organs are found relative to: spine, lung bases, enhancement.

All arrays here are on the coarse grid of :mod:`abdomen_grid`: axes ``(z, y, x)``
toward head, back and patient's left, positions in mm from the crop's corner.

* The **spine** is the patient's fixed frame: per slice, the bone near the
  body's left-right middle in its posterior half. Its left-right centre
  separates right from left organs, its anterior edge is where the aorta and
  IVC lie and where kidneys begin.
* The **lung bases** give the vertical level: liver and spleen hang below the
  diaphragm domes, the kidneys lie lower.
* **Enhancement** is read from the image, not assumed: the HU histogram of the
  right upper quadrant has its mode at the liver, whatever the phase.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

#: Half-width of the band around the body's middle where the vertebral body is
#: searched: vertebral bodies are 40 to 50 mm wide, and a scoliotic spine stays
#: within a few centimetres of the midline.
SPINE_BAND_HALF_WIDTH_MM = 60.0

#: Coarse voxels at least this dense in the spine band are vertebra: trabecular
#: bone of an adult vertebral body reads 150 to 300 HU, a coarse voxel holding
#: cortex more; fat and muscle around it stay below 100 HU.
SPINE_DENSE_HU = 180.0

#: Radius of the in-slice opening that separates the vertebra from an enhanced
#: aorta touching it: their contact is a few millimetres of partial volume.
SPINE_OPENING_MM = 4.0

#: Half-width of a vertebral body (lumbar 40-50 mm wide, thoracic 30-40 mm).
VERTEBRA_HALF_WIDTH_MM = 22.0

#: Area of lung in one slice above which that slice is "in the chest" on that side;
#: below it, only the thin posterior costophrenic recess remains.
LUNG_SLICE_AREA_MM2 = 1500.0


@dataclass(frozen=True)
class Landmarks:
    """Per-slice spine position and the lung-base levels (coarse-grid mm)."""

    spine_x_mm: NDArray[np.float32]
    """Left-right centre of the vertebral body in each slice."""
    spine_front_y_mm: NDArray[np.float32]
    """Anterior edge of the vertebral body in each slice."""
    right_lung_base_z_mm: float | None
    left_lung_base_z_mm: float | None
    spine_found: NDArray[np.bool_]
    """Slices where the vertebral body was seen (elsewhere interpolated)."""
    spine: NDArray[np.bool_]
    """The vertebrae and other bone (coarse mask): not vessel, not organ."""


def _fill_along_z(values: NDArray[np.float32], found: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Median-smooth the found values along z and interpolate the gaps linearly."""
    z = np.arange(values.size)
    if not found.any():
        return values
    smooth = values.copy()
    smooth[found] = ndimage.median_filter(values[found], size=5, mode="nearest")
    return np.interp(z, z[found], smooth[found]).astype(np.float32)


def find_landmarks(
    hu: NDArray[np.float32],
    body: NDArray[np.bool_],
    bone: NDArray[np.bool_],
    lung: NDArray[np.bool_],
    spacing_mm: tuple[float, float, float],
) -> Landmarks:
    """Spine centre and front per slice, and the lowest slice of each lung.

    Parameters
    ----------
    hu : ndarray of float32
        Coarse HU, axes (z, y, x).
    body, bone, lung : ndarray of bool
        Coarse masks, same axes.
    spacing_mm : tuple of float
        Coarse voxel size along z, y, x.
    """
    nz, ny, nx = body.shape
    dz, dy, dx = spacing_mm
    x_mm = np.arange(nx, dtype=np.float32) * dx
    y_mm = np.arange(ny, dtype=np.float32) * dy
    spine_x = np.zeros(nz, dtype=np.float32)
    spine_front = np.zeros(nz, dtype=np.float32)
    found = np.zeros(nz, dtype=bool)
    spine = np.zeros(body.shape, dtype=bool)
    reach = np.ceil(SPINE_OPENING_MM / np.array([dy, dx])).astype(int)
    yy, xx = np.mgrid[-reach[0] : reach[0] + 1, -reach[1] : reach[1] + 1]
    disk = (yy * dy) ** 2 + (xx * dx) ** 2 <= SPINE_OPENING_MM**2
    for z in range(nz):
        rows = np.flatnonzero(body[z].any(axis=1))
        cols = np.flatnonzero(body[z].any(axis=0))
        if rows.size == 0:
            continue
        middle_x = 0.5 * (x_mm[cols[0]] + x_mm[cols[-1]])
        middle_y = 0.5 * (y_mm[rows[0]] + y_mm[rows[-1]])
        band = (np.abs(x_mm - middle_x) <= SPINE_BAND_HALF_WIDTH_MM)[np.newaxis, :] & (
            y_mm >= middle_y - 20.0
        )[:, np.newaxis]
        # The vertebra: the largest dense part of the band. Dense is the bone mask
        # or anything above SPINE_DENSE_HU (vertebral marrow, 150-300 HU, which a
        # cortex-based bone mask may leave out).
        dense = (bone[z] | (hu[z] >= SPINE_DENSE_HU)) & band
        # An opening cuts the contact of an enhanced aorta lying against the vertebra.
        dense = ndimage.binary_dilation(ndimage.binary_erosion(dense, disk), disk) & dense
        labels, count = ndimage.label(dense)
        if count == 0:
            continue
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        spine_bone = labels == int(np.argmax(sizes))
        if spine_bone.sum() * dx * dy < 300.0:  # less than a small vertebra's cross-section
            continue
        spine[z] = spine_bone
        ys, xs = np.nonzero(spine_bone)
        spine_x[z] = float(np.median(x_mm[xs]))
        # Its front along a strip just right of the midline: an enhanced aorta lying
        # against the vertebra (left of the midline) joins the dense part but not
        # there. A 5th percentile, so that one osteophyte does not move the front.
        strip = (x_mm[xs] >= spine_x[z] - 12.0) & (x_mm[xs] <= spine_x[z] - 2.0)
        spine_front[z] = float(np.percentile(y_mm[ys[strip] if strip.any() else ys], 5))
        found[z] = True
    if found.any():
        spine_x = _fill_along_z(spine_x, found)
        spine_front = _fill_along_z(spine_front, found)
    # The vertebra proper: the dense part behind the front and within a vertebral
    # body's half-width of the midline (an aorta merged with it lies in front or
    # beside it), and whatever the bone mask holds.
    spine &= (y_mm[np.newaxis, :, np.newaxis] >= spine_front[:, np.newaxis, np.newaxis]) & (
        np.abs(x_mm[np.newaxis, np.newaxis, :] - spine_x[:, np.newaxis, np.newaxis])
        <= VERTEBRA_HALF_WIDTH_MM
    )
    spine |= bone
    right_base = left_base = None
    side_right = x_mm[np.newaxis, :] < spine_x[:, np.newaxis]  # (z, x)
    right_area = (
        np.array(
            [(lung[z] & side_right[z][np.newaxis, :]).sum() for z in range(nz)], dtype=np.float32
        )
        * dx
        * dy
    )
    left_area = lung.sum(axis=(1, 2)).astype(np.float32) * dx * dy - right_area
    for area, name in ((right_area, "right"), (left_area, "left")):
        # The run of chest slices through the widest lung slice: gas in a bowel
        # loop mislabelled as lung, lower down, must not lower the base.
        top = int(np.argmax(area))
        if area[top] >= LUNG_SLICE_AREA_MM2:
            below = np.flatnonzero(area[:top] < LUNG_SLICE_AREA_MM2)
            base = float((below[-1] + 1 if below.size else 0) * dz)
            if name == "right":
                right_base = base
            else:
                left_base = base
    return Landmarks(spine_x, spine_front, right_base, left_base, found, spine)


def histogram_mode_hu(
    values: NDArray[np.float32], low_hu: float, high_hu: float, bin_hu: float = 4.0
) -> tuple[float, float] | None:
    """Mode of ``values`` within ``[low_hu, high_hu]`` and the spread of its peak.

    The spread is the peak's half width at half maximum converted to a Gaussian
    sigma, measured on the low side: vessels and contrast push the high side out.
    ``None`` when fewer than 200 values fall in the range.
    """
    inside = values[(values >= low_hu) & (values <= high_hu)]
    if inside.size < 200:
        return None
    edges = np.arange(low_hu, high_hu + bin_hu, bin_hu)
    counts, _ = np.histogram(inside, bins=edges)
    counts = ndimage.gaussian_filter1d(counts.astype(np.float64), 1.5)
    peak = int(np.argmax(counts))
    mode = float(0.5 * (edges[peak] + edges[peak + 1]))
    half = counts[peak] / 2.0
    below = np.flatnonzero(counts[:peak] < half)
    left = peak - (below[-1] if below.size else 0)
    sigma = max(float(left) * bin_hu / 1.1774, bin_hu)
    return mode, sigma
