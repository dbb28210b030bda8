"""The confirmation drawn over a 2-D view: what lands on the shown plane (VTK, no window)."""

from __future__ import annotations

import numpy as np
from cryoplan_app.render.confirm_overlay import ConfirmSliceLayer
from vtkmodules.vtkRenderingCore import vtkRenderer

from planning_core.imaging.geometry import Geometry

GEOMETRY = Geometry((10, 20, 20), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0))
INTO_SCREEN = np.array([0.0, 0.0, 1.0])  # an axial view looks along +S here


def points_of(actor) -> np.ndarray:
    data = actor.GetMapper().GetInput()
    return np.array([data.GetPoint(i) for i in range(data.GetNumberOfPoints())])


def test_placed_probes_and_the_ice_edge_of_the_shown_plane() -> None:
    layer = ConfirmSliceLayer(vtkRenderer(), view_direction_lps=INTO_SCREEN, normal_axis=2)
    tip, entry = np.array([5.0, 5.0, 4.0]), np.array([5.0, 15.0, 14.0])
    ice = np.array([[3.0, 3.0, 8.2], [4.0, 4.0, 12.0]])  # only the first lies within a slice
    layer.show(GEOMETRY, shafts=[(tip, entry)], ice_edge_lps=ice, plane_lps=np.array([0, 0, 8.0]))
    assert layer.shown
    ends = points_of(layer.probe_lines)
    # Projected onto the plane z = 8, lifted towards the viewer (-z) by half a slice.
    assert np.allclose(ends[:, :2], [[5.0, 5.0], [5.0, 15.0]])
    assert np.allclose(ends[:, 2], 8.0 - 1.0)
    assert np.allclose(points_of(layer.ice_dots)[:, :2], [[3.0, 3.0]])
    layer.show_plane(np.array([0, 0, 12.0]))
    assert np.allclose(points_of(layer.ice_dots)[:, :2], [[4.0, 4.0]])
    layer.hide()
    assert not layer.shown and not layer.probe_lines.GetVisibility()
