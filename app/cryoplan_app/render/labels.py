"""Colour tables for label maps."""

from __future__ import annotations

from collections.abc import Iterable

from vtkmodules.vtkCommonCore import vtkLookupTable

from planning_core.imaging.labels import LabelInfo


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
