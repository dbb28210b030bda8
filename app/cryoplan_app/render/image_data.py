"""numpy voxel arrays as VTK image data (shared memory) and their placement in LPS."""

from __future__ import annotations

from typing import Protocol
from weakref import WeakKeyDictionary

import numpy as np
from numpy.typing import NDArray
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkCommonMath import vtkMatrix4x4

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry


def image_data(voxels: NDArray[np.generic], geometry: Geometry) -> vtkImageData:
    """A ``vtkImageData`` viewing ``voxels`` (``[k, j, i]``) without a copy.

    The data have the grid's spacing and a zero origin; place them with
    :func:`placement_matrix`. The returned object keeps the array alive.
    """
    if tuple(voxels.shape) != geometry.shape:
        raise InvalidParameterError(
            f"voxels shape {voxels.shape} does not match geometry {geometry.shape}."
        )
    contiguous = np.ascontiguousarray(voxels)
    if contiguous.dtype == np.bool_:
        contiguous = contiguous.view(np.uint8)
    scalars = numpy_support.numpy_to_vtk(contiguous.reshape(-1), deep=False)
    data = vtkImageData()
    data.SetDimensions(*geometry.size_ijk)
    data.SetSpacing(*(float(s) for s in geometry.spacing_mm))
    data.SetOrigin(0.0, 0.0, 0.0)
    data.GetPointData().SetScalars(scalars)
    # VTK does not own numpy memory; tie the array's lifetime to the image.
    data._numpy_voxels = contiguous  # type: ignore[attr-defined]
    return data


class VoxelHolder(Protocol):
    """A :class:`~planning_core.imaging.volume.Volume` or a :class:`LabelMap`."""

    @property
    def voxels(self) -> NDArray[np.generic]: ...

    @property
    def geometry(self) -> Geometry: ...


# One vtkImageData per Volume or LabelMap object, shared by all views, freed with it.
_SHARED: WeakKeyDictionary[object, vtkImageData] = WeakKeyDictionary()


def shared_image_data(holder: VoxelHolder) -> vtkImageData:
    """The image data of a volume or label map, built once and shared by every view.

    Volumes and label maps are immutable (edits make new objects), so the cache
    never goes stale.
    """
    data = _SHARED.get(holder)
    if data is None:
        data = image_data(holder.voxels, holder.geometry)
        _SHARED[holder] = data
    return data


def placement_matrix(geometry: Geometry) -> vtkMatrix4x4:
    """Maps image-data coordinates (``spacing * ijk``) to LPS mm: ``origin + direction @ p``."""
    matrix = vtkMatrix4x4()
    for row in range(3):
        for column in range(3):
            matrix.SetElement(row, column, float(geometry.direction[row, column]))
        matrix.SetElement(row, 3, float(geometry.origin_lps_mm[row]))
    return matrix


def slice_extent(geometry: Geometry, axis: int, index: int) -> tuple[int, int, int, int, int, int]:
    """VTK display extent of plane ``index`` across volume axis ``axis`` (0 = i, 1 = j, 2 = k)."""
    extent = []
    for a, size in enumerate(geometry.size_ijk):
        extent.extend((index, index) if a == axis else (0, size - 1))
    return tuple(extent)  # type: ignore[return-value]
