"""Block grids for the automatic anatomy: decide coarse, draw edges fine.

Whole-body decisions (which air is lung, where the table ends, which gas is
bowel) concern structures of centimetres; a grid of about 2 mm decides them
with a fraction of the voxels. The edges are then drawn on the scan's own
grid: a coarse mask is repeated back onto the fine grid, its interior is kept
as it is, and its one-coarse-voxel border band follows a fine threshold. So the
outline keeps the scan's resolution while every slow step runs coarse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

Spacing = tuple[float, float, float]

#: Coarse voxel size aimed at: half the thinnest structure the coarse decisions
#: must still resolve (a 4 mm bowel wall or diaphragm) and about the thickness of
#: a thick axial slice, so thin-slice scans are blocked along k as well.
COARSE_TARGET_MM = 2.0

#: 2-D (in-slice) face connectivity as a 3-D structure: no link between slices.
IN_SLICE_FACES = np.zeros((3, 3, 3), dtype=bool)
IN_SLICE_FACES[1] = ndimage.generate_binary_structure(2, 1)


@dataclass(frozen=True)
class BlockGrid:
    """Blocks of ``factors`` (k, j, i) scan voxels forming one coarse voxel."""

    shape: tuple[int, int, int]
    factors: tuple[int, int, int]
    spacing_kji_mm: Spacing

    @classmethod
    def for_scan(
        cls,
        shape: tuple[int, int, int],
        spacing_kji_mm: Spacing,
        target_mm: float = COARSE_TARGET_MM,
    ) -> BlockGrid:
        factors = tuple(max(1, round(target_mm / s)) for s in spacing_kji_mm)
        return cls(tuple(shape), factors, spacing_kji_mm)  # type: ignore[arg-type]

    @property
    def coarse_shape(self) -> tuple[int, int, int]:
        return tuple(-(-n // f) for n, f in zip(self.shape, self.factors, strict=True))  # type: ignore[return-value]

    @property
    def coarse_spacing_kji_mm(self) -> Spacing:
        return tuple(s * f for s, f in zip(self.spacing_kji_mm, self.factors, strict=True))  # type: ignore[return-value]

    def _padded(self, array: NDArray[np.generic]) -> NDArray[np.generic]:
        pad = [
            (0, c * f - n)
            for n, f, c in zip(self.shape, self.factors, self.coarse_shape, strict=True)
        ]
        return np.pad(array, pad, mode="edge") if any(p[1] for p in pad) else array

    def _block_sum(self, array: NDArray[np.generic], dtype: type) -> NDArray[np.generic]:
        # Summing the strided views of the block offsets is several times faster
        # than a reduction over a reshaped six-dimensional array.
        padded = self._padded(array)
        fk, fj, fi = self.factors
        total = np.zeros(self.coarse_shape, dtype=dtype)
        for dk in range(fk):
            for dj in range(fj):
                for di in range(fi):
                    total += padded[dk::fk, dj::fj, di::fi]
        return total

    def mean(self, array: NDArray[np.generic]) -> NDArray[np.float32]:
        """Block means (edge blocks repeat the last scan voxel)."""
        total = self._block_sum(array, np.float32)
        total /= float(np.prod(self.factors))
        return total

    def fraction(self, mask: NDArray[np.bool_]) -> NDArray[np.float32]:
        """Fraction of each block inside ``mask``."""
        counts = self._block_sum(mask.view(np.uint8), np.uint8)
        return counts.astype(np.float32) / float(np.prod(self.factors))

    def any(self, mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Blocks holding at least one voxel of ``mask``."""
        return self._block_sum(mask.view(np.uint8), np.uint8) > 0

    def upsample(self, coarse: NDArray[np.generic]) -> NDArray[np.generic]:
        """Each coarse value repeated over its block, cut to the scan's shape."""
        fine = coarse
        for axis, factor in enumerate(self.factors):
            if factor > 1:
                fine = np.repeat(fine, factor, axis=axis)
        nk, nj, ni = self.shape
        return fine[:nk, :nj, :ni]

    def crop(
        self, coarse: NDArray[np.bool_], margin: int = 1
    ) -> tuple[BlockGrid, tuple[slice, slice, slice], tuple[slice, slice, slice]]:
        """The grid of the blocks around ``coarse`` (grown by ``margin`` blocks).

        Returns the cropped grid, the coarse box and the scan box it covers;
        block means of the scan box equal the coarse box of the whole grid.
        """
        found = ndimage.find_objects(coarse.view(np.uint8))
        coarse_box = []
        fine_box = []
        for axis, (n, f, c) in enumerate(
            zip(self.shape, self.factors, self.coarse_shape, strict=True)
        ):
            extent = found[0][axis] if found and found[0] is not None else slice(0, c)
            start, stop = max(extent.start - margin, 0), min(extent.stop + margin, c)
            coarse_box.append(slice(start, stop))
            fine_box.append(slice(start * f, min(stop * f, n)))
        shape = tuple(s.stop - s.start for s in fine_box)
        grid = BlockGrid(shape, self.factors, self.spacing_kji_mm)  # type: ignore[arg-type]
        return grid, tuple(coarse_box), tuple(fine_box)  # type: ignore[return-value]

    def refine(
        self, coarse: NDArray[np.bool_], fine_condition: NDArray[np.bool_]
    ) -> NDArray[np.bool_]:
        """A coarse mask drawn on the scan grid.

        Blocks whose in-slice neighbours all belong to ``coarse`` are kept
        whole; in the border band only the fine voxels meeting
        ``fine_condition`` stay.
        """
        interior = ndimage.binary_erosion(coarse, structure=IN_SLICE_FACES, border_value=1)
        return self.upsample(coarse) & (fine_condition | self.upsample(interior))


def disk_structure(radius_mm: float, spacing_kji_mm: Spacing) -> NDArray[np.bool_]:
    """An in-slice disk of ``radius_mm`` as a one-slice 3-D structuring element."""
    _, sj, si = spacing_kji_mm
    rj, ri = int(radius_mm // sj), int(radius_mm // si)
    j, i = np.meshgrid(np.arange(-rj, rj + 1) * sj, np.arange(-ri, ri + 1) * si, indexing="ij")
    return (j * j + i * i <= radius_mm * radius_mm + 1e-9)[np.newaxis]


def _square_filter(
    mask: NDArray[np.bool_], radius_voxels: tuple[int, int], grow: bool
) -> NDArray[np.bool_]:
    """In-slice dilation (``grow``) or erosion by a (2r+1)-square, as two 1-D passes.

    Outside the grid counts as inside the mask for erosion and outside it for
    dilation, so neither invents a border.
    """
    values = mask.view(np.uint8)
    one_d = ndimage.maximum_filter1d if grow else ndimage.minimum_filter1d
    for axis, radius in zip((1, 2), radius_voxels, strict=True):
        if radius > 0:
            values = one_d(values, 2 * radius + 1, axis=axis, mode="nearest")
    return values.view(bool) if values.dtype == np.uint8 else values.astype(bool)


def square_radius(radius_mm: float, spacing_kji_mm: Spacing) -> tuple[int, int]:
    """Half-sizes (j, i) in voxels of the in-slice square reaching ``radius_mm``."""
    return int(radius_mm // spacing_kji_mm[1]), int(radius_mm // spacing_kji_mm[2])


def dilate_square(
    mask: NDArray[np.bool_], radius_mm: float, spacing_kji_mm: Spacing
) -> NDArray[np.bool_]:
    """In-slice dilation by a square of half-size ``radius_mm`` (holds the disk of that radius)."""
    return _square_filter(mask, square_radius(radius_mm, spacing_kji_mm), grow=True)


def erode_square(
    mask: NDArray[np.bool_], radius_mm: float, spacing_kji_mm: Spacing
) -> NDArray[np.bool_]:
    """In-slice erosion by a square of half-size ``radius_mm``."""
    return _square_filter(mask, square_radius(radius_mm, spacing_kji_mm), grow=False)


def fill_holes_in_slices(
    mask: NDArray[np.bool_], fill: NDArray[np.bool_] | None = None
) -> tuple[NDArray[np.int32], int]:
    """Holes of ``mask`` in every axial slice, labelled in one pass.

    Returns the labels of the background regions enclosed in their slice
    (0 elsewhere) and their count; with ``fill`` given only its voxels count.
    One labelling of the whole stack with in-slice connectivity replaces a
    loop over slices.
    """
    labels, count = ndimage.label(~mask, structure=IN_SLICE_FACES)
    if count == 0:
        return labels, 0
    touching = np.zeros(count + 1, dtype=bool)
    for border in (labels[:, 0, :], labels[:, -1, :], labels[:, :, 0], labels[:, :, -1]):
        touching[np.unique(border)] = True
    touching[0] = True
    holes = np.where(touching[labels], 0, labels)
    if fill is not None:
        holes[~fill] = 0
    return holes, count
