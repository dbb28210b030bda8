"""Surfaces of labelled structures, for the 3-D view."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonDataModel import vtkPolyData
from vtkmodules.vtkCommonTransforms import vtkTransform
from vtkmodules.vtkFiltersCore import vtkSurfaceNets3D
from vtkmodules.vtkFiltersGeneral import vtkTransformFilter

from cryoplan_app.render.image_data import image_data, placement_matrix
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.progress import CancelToken, ProgressCallback

# Constrained smoothing passes of the surface nets; enough to hide voxel steps
# without moving the surface by more than half a voxel.
_SMOOTHING_ITERATIONS = 12


def label_surface(label_map: LabelMap, name: str) -> vtkPolyData | None:
    """The smoothed boundary surface of label ``name``, ``None`` when it has no voxels.

    Points are in image-data coordinates (``spacing * ijk``); place the actor
    with :func:`cryoplan_app.render.image_data.placement_matrix`. Only the
    label's bounding box, padded with one voxel of background, is processed.
    """
    mask = label_map.mask(name)
    occupied = [np.flatnonzero(mask.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1))]
    if any(len(o) == 0 for o in occupied):
        return None
    box = mask[tuple(slice(int(o[0]), int(o[-1]) + 1) for o in occupied)]
    padded = np.pad(box, 1).astype(np.uint8)
    geometry = label_map.geometry
    cropped = geometry.with_shape(padded.shape)
    data = image_data(padded, cropped)
    # The padded block begins one voxel before the bounding box.
    start_ijk = np.array([int(o[0]) for o in occupied[::-1]], dtype=np.float64) - 1.0
    data.SetOrigin(*(start_ijk * geometry.spacing_mm))
    nets = vtkSurfaceNets3D()
    nets.SetInputData(data)
    nets.SetValue(0, 1)
    nets.SetOutputMeshTypeToTriangles()
    nets.SetNumberOfIterations(_SMOOTHING_ITERATIONS)
    nets.Update()
    surface = vtkPolyData()
    surface.DeepCopy(nets.GetOutput())
    return surface


def label_surfaces(
    label_map: LabelMap,
    names: Sequence[str],
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, vtkPolyData]:
    """Surfaces of the labels ``names`` that have voxels, by name."""
    surfaces = {}
    for done, name in enumerate(names):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(done / max(len(names), 1), f"Building 3-D surface of {name}")
        surface = label_surface(label_map, name)
        if surface is not None:
            surfaces[name] = surface
    if progress is not None:
        progress(1.0, "3-D surfaces ready")
    return surfaces


def surface_in_lps(surface: vtkPolyData, geometry: Geometry) -> vtkPolyData:
    """A copy of a label surface (image-data coordinates) with its points in LPS mm."""
    transform = vtkTransform()
    transform.SetMatrix(placement_matrix(geometry))
    moved = vtkTransformFilter()
    moved.SetInputData(surface)
    moved.SetTransform(transform)
    moved.Update()
    result = vtkPolyData()
    result.DeepCopy(moved.GetOutput())
    return result


def surface_points(surface: vtkPolyData) -> NDArray[np.float64]:
    """The points of a surface as an ``(n, 3)`` array (a copy)."""
    points = surface.GetPoints()
    if points is None:
        return np.zeros((0, 3))
    return numpy_support.vtk_to_numpy(points.GetData()).astype(np.float64)
