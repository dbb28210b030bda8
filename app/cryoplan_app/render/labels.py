"""Colour tables for label maps, and label outlines as VTK lines."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonCore import vtkLookupTable, vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper

from planning_core.imaging.labels import LabelInfo

#: Width of label outlines in the 2-D views (screen pixels).
OUTLINE_WIDTH_PX = 2.0


def label_lookup_table(table: Iterable[LabelInfo], *, visible: Iterable[str]) -> vtkLookupTable:
    """Label value -> RGBA: the table's colour, opaque for visible labels, clear otherwise.

    Background (0) and values missing from ``table`` are transparent.
    """
    infos = list(table)
    shown = set(visible)
    size = max([info.value for info in infos] + [1]) + 1
    lookup = vtkLookupTable()
    lookup.SetNumberOfTableValues(size)
    # Value v falls in bin floor(v + 0.5) = v of the table.
    lookup.SetTableRange(-0.5, size - 0.5)
    for value in range(size):
        lookup.SetTableValue(value, 0.0, 0.0, 0.0, 0.0)
    for info in infos:
        r, g, b = (c / 255.0 for c in info.color_rgb)
        lookup.SetTableValue(info.value, r, g, b, 1.0 if info.name in shown else 0.0)
    lookup.Build()
    return lookup


def outline_polydata(
    endpoints_lps: NDArray[np.float64], values: NDArray[np.integer]
) -> vtkPolyData:
    """Line segments ``(n, 2, 3)`` (LPS mm), each with its label value as cell scalar."""
    count = len(endpoints_lps)
    points = vtkPoints()
    points.SetData(
        numpy_support.numpy_to_vtk(
            np.ascontiguousarray(endpoints_lps, dtype=np.float64).reshape(-1, 3), deep=True
        )
    )
    lines = vtkCellArray()
    offsets = numpy_support.numpy_to_vtkIdTypeArray(np.arange(0, 2 * count + 1, 2), deep=True)
    connectivity = numpy_support.numpy_to_vtkIdTypeArray(np.arange(2 * count), deep=True)
    lines.SetData(offsets, connectivity)
    data = vtkPolyData()
    data.SetPoints(points)
    data.SetLines(lines)
    scalars = numpy_support.numpy_to_vtk(np.asarray(values, dtype=np.float64), deep=True)
    data.GetCellData().SetScalars(scalars)
    return data


def outline_actor() -> vtkActor:
    """An actor for :func:`outline_polydata`, coloured by a label lookup table."""
    mapper = vtkPolyDataMapper()
    mapper.SetInputData(vtkPolyData())
    mapper.SetScalarModeToUseCellData()
    mapper.UseLookupTableScalarRangeOn()
    mapper.SetColorModeToMapScalars()
    actor = vtkActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    prop.SetLineWidth(OUTLINE_WIDTH_PX)
    prop.LightingOff()
    actor.PickableOff()
    return actor
