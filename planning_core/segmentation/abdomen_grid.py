"""The coarse, patient-oriented working grid of the solid-organ segmentation.

Organs are tens to hundreds of millilitres: a grid of about 2.5 mm resolves
them, cuts the voxel count of a thin-slice CT twentyfold and averages the noise
of each coarse voxel down (a 2x2 block of 0.7 mm pixels halves it). The grid
is also turned to the patient: array axes ``(z, y, x)`` increase toward the
head, the back and the patient's left (LPS), whatever the scan's axis order, so
that position priors ("right of the spine", "posterior") read the same on every
scan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from numpy.typing import NDArray

from planning_core.imaging.geometry import Geometry

#: Target size of a coarse voxel: about the thickness of the thinnest organ wall
#: that must stay resolved (renal cortex, 4 to 6 mm) divided by two.
COARSE_TARGET_MM = 2.5


@dataclass(frozen=True)
class CoarseGrid:
    """How the scan's ``[k, j, i]`` grid maps onto the coarse ``[z, y, x]`` grid.

    Attributes
    ----------
    axes : tuple of int
        For each coarse axis (z, y, x), the scan array axis it comes from.
    flips : tuple of bool
        Whether that scan axis runs against the patient axis (foot, anterior, right).
    factors : tuple of int
        Block size (scan voxels per coarse voxel) along z, y, x.
    box : tuple of slice
        Crop of the scan array (scan axis order) that was blocked.
    spacing_mm : tuple of float
        Coarse voxel size along z, y, x.
    """

    axes: tuple[int, int, int]
    flips: tuple[bool, bool, bool]
    factors: tuple[int, int, int]
    box: tuple[slice, slice, slice]
    spacing_mm: tuple[float, float, float]

    @classmethod
    def for_scan(cls, geometry: Geometry, body: NDArray[np.bool_]) -> CoarseGrid | None:
        """The grid for a scan, cropped to the body; ``None`` for an oblique scan."""
        if not geometry.is_axis_aligned or not body.any():
            return None
        # direction[:, c] is scan index axis c (i, j, k) in LPS; array axis of i is 2.
        axes: list[int] = [0, 0, 0]
        flips: list[bool] = [False, False, False]
        for column in range(3):
            lps_axis = int(np.argmax(np.abs(geometry.direction[:, column])))
            coarse_axis = 2 - lps_axis  # LPS x -> coarse axis 2, z -> 0
            axes[coarse_axis] = 2 - column
            flips[coarse_axis] = bool(geometry.direction[lps_axis, column] < 0)
        spacing_kji = geometry.spacing_kji_mm
        factors = tuple(max(1, round(COARSE_TARGET_MM / spacing_kji[a])) for a in axes)
        box = []
        for axis in range(3):
            other = tuple(a for a in range(3) if a != axis)
            present = np.flatnonzero(body.any(axis=other))
            box.append(slice(int(present[0]), int(present[-1]) + 1))
        spacing = tuple(float(spacing_kji[a] * f) for a, f in zip(axes, factors, strict=True))
        return cls(
            (axes[0], axes[1], axes[2]),
            (flips[0], flips[1], flips[2]),
            (factors[0], factors[1], factors[2]),
            (box[0], box[1], box[2]),
            (spacing[0], spacing[1], spacing[2]),
        )

    def _oriented(self, array: NDArray) -> NDArray:
        cropped = np.transpose(array[self.box], self.axes)
        flip = tuple(axis for axis in range(3) if self.flips[axis])
        return np.flip(cropped, axis=flip) if flip else cropped

    def _blocks(self, array: NDArray) -> NDArray[np.float32]:
        """Mean of each block; partial blocks at the far edges are padded by repetition."""
        oriented = self._oriented(array)
        pad = [(0, (-n) % f) for n, f in zip(oriented.shape, self.factors, strict=True)]
        if any(after for _, after in pad):
            oriented = np.pad(oriented, pad, mode="edge")
        fz, fy, fx = self.factors
        # Strided sums read each scan voxel once, without a float copy of the scan.
        total = np.zeros(
            tuple(n // f for n, f in zip(oriented.shape, self.factors, strict=True)),
            dtype=np.float32,
        )
        for dz in range(fz):
            for dy in range(fy):
                for dx in range(fx):
                    total += oriented[dz::fz, dy::fy, dx::fx]
        total /= float(fz * fy * fx)
        return total

    def mean(self, hu: NDArray) -> NDArray[np.float32]:
        """Block-mean HU on the coarse grid."""
        return self._blocks(hu)

    def fraction(self, mask: NDArray[np.bool_]) -> NDArray[np.float32]:
        """Fraction of each coarse voxel covered by ``mask``."""
        return self._blocks(mask.view(np.uint8))

    @property
    def scan_shape_oriented(self) -> tuple[int, int, int]:
        return tuple(s.stop - s.start for s in (self.box[a] for a in self.axes))  # type: ignore[return-value]

    def to_scan(
        self, coarse_mask: NDArray[np.bool_], scan_shape: tuple[int, int, int]
    ) -> tuple[NDArray[np.bool_], tuple[slice, slice, slice] | None]:
        """A coarse mask on the scan grid, and the box of the scan array that holds it.

        Boundaries are smoothed by linear interpolation: each scan voxel takes the
        mask value interpolated between the centres of the coarse voxels around it,
        kept where it is at least one half; the boundary runs between coarse voxel
        centres instead of along block edges.
        """
        full = np.zeros(scan_shape, dtype=bool)
        if not coarse_mask.any():
            return full, None
        # Work on the mask's bounding box (plus one coarse voxel) only.
        lo = []
        hi = []
        for axis in range(3):
            other = tuple(a for a in range(3) if a != axis)
            present = np.flatnonzero(coarse_mask.any(axis=other))
            lo.append(max(int(present[0]) - 1, 0))
            hi.append(min(int(present[-1]) + 2, coarse_mask.shape[axis]))
        part = coarse_mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]].astype(np.float32)
        extent = self.scan_shape_oriented
        start = [lo[a] * self.factors[a] for a in range(3)]
        stop = [min(hi[a] * self.factors[a], extent[a]) for a in range(3)]
        image = sitk.GetImageFromArray(part)
        # Coarse voxel c covers fine voxels [c*f, c*f+f): its centre is at c*f + (f-1)/2,
        # measured here in fine-voxel units relative to the start of the box.
        image.SetSpacing(tuple(float(f) for f in reversed(self.factors)))
        image.SetOrigin(tuple((f - 1) / 2.0 for f in reversed(self.factors)))
        reference = sitk.Image([int(stop[a] - start[a]) for a in (2, 1, 0)], sitk.sitkFloat32)
        reference.SetOrigin(tuple(float(start[a] - lo[a] * self.factors[a]) for a in (2, 1, 0)))
        fine = sitk.GetArrayFromImage(
            sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, 0.0)
        )
        inside = fine >= 0.5
        flip = tuple(axis for axis in range(3) if self.flips[axis])
        if flip:
            inside = np.flip(inside, axis=flip)
        # Back to scan axis order; the piece's place in the scan array follows
        # from its place in the oriented crop (flipped axes count from the far end).
        scan_start = [0, 0, 0]
        scan_stop = [0, 0, 0]
        for axis in range(3):
            scan_axis = self.axes[axis]
            first = self.box[scan_axis].start
            if self.flips[axis]:
                scan_start[scan_axis] = first + extent[axis] - stop[axis]
                scan_stop[scan_axis] = first + extent[axis] - start[axis]
            else:
                scan_start[scan_axis] = first + start[axis]
                scan_stop[scan_axis] = first + stop[axis]
        box = tuple(slice(a, b) for a, b in zip(scan_start, scan_stop, strict=True))
        full[box] = np.transpose(inside, np.argsort(self.axes))
        return full, box  # type: ignore[return-value]

    def position_mm(self, shape: tuple[int, int, int]) -> tuple[NDArray, NDArray, NDArray]:
        """Open grids of coarse voxel positions (mm) along z, y, x, from the crop's corner."""
        return tuple(  # type: ignore[return-value]
            (np.arange(n, dtype=np.float32) * s).reshape([-1 if a == axis else 1 for a in range(3)])
            for axis, (n, s) in enumerate(zip(shape, self.spacing_mm, strict=True))
        )
