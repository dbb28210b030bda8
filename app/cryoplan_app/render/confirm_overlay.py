"""A confirmation over a 2-D view: placed probes, visible ice edge, ablation zone (VTK, no Qt).

Everything is in the planning CT's frame, and what the follow-up CT shows is
orange, apart from the plan's colours: the probes found on it are lines from
entry to tip with a dot at the tip, projected onto the shown plane (beside the
plan's own probes, drawn by :mod:`~cryoplan_app.render.plan_overlays`); the
visible ice edge is a cloud of dots, those of its surface points within half a
slice of the plane; the ablation zone (after the ablation) is a translucent
voxel layer on the shown plane.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkImageActor, vtkRenderer

from cryoplan_app.model.probe_geometry import project_onto_plane
from cryoplan_app.render.image_data import image_data, placement_matrix, slice_extent
from cryoplan_app.render.sketch_overlay import overlay_actor
from cryoplan_app.render.slice_scene import shifted_placement
from cryoplan_app.render.undertreated import mask_lookup
from planning_core.imaging.geometry import Geometry

RGB = tuple[float, float, float]
#: Colours: placed probes, the visible ice edge, the ablation zone (none of the plan's).
PLACED_COLOR: RGB = (1.0, 0.55, 0.1)
VISIBLE_ICE_COLOR: RGB = (1.0, 0.7, 0.3)
ZONE_COLOR: RGB = (1.0, 0.55, 0.1)
ZONE_OPACITY = 0.3
PLACED_WIDTH_PX = 2.0
TIP_SIZE_PX = 8.0
ICE_DOT_PX = 3.0
# Lifts towards the viewer, in slice spacings: the zone over the label overlay (0.02),
# the lines over both.
_ZONE_LIFT = 0.03
_LINE_LIFT = 0.5

Shaft = tuple[NDArray[np.float64], NDArray[np.float64]]


def _points(points: NDArray[np.float64], *, lines: Sequence[tuple[int, int]] = ()) -> vtkPolyData:
    vtk_points = vtkPoints()
    for point in points:
        vtk_points.InsertNextPoint(*map(float, point))
    cells = vtkCellArray()
    data = vtkPolyData()
    data.SetPoints(vtk_points)
    if lines:
        for start, stop in lines:
            cells.InsertNextCell(2)
            cells.InsertCellPoint(start)
            cells.InsertCellPoint(stop)
        data.SetLines(cells)
    else:
        for index in range(len(points)):
            cells.InsertNextCell(1)
            cells.InsertCellPoint(index)
        data.SetVerts(cells)
    return data


class ConfirmSliceLayer:
    """Placed probes, visible ice edge and ablation zone over one 2-D view.

    Parameters
    ----------
    renderer : vtkRenderer
        The 2-D view's renderer.
    view_direction_lps : ndarray
        The view's direction from the viewer into the screen.
    normal_axis : int
        Volume axis across the view's planes (0 = i, 1 = j, 2 = k).

    Attributes
    ----------
    zone_layer : vtkImageActor
        The ablation zone on the shown plane.
    probe_lines, probe_tips, ice_dots : vtkActor
        The placed probes (entry to tip) and their tips, and the visible ice edge's
        points near the plane, all projected onto it.
    """

    def __init__(
        self, renderer: vtkRenderer, *, view_direction_lps: NDArray[np.float64], normal_axis: int
    ) -> None:
        self._renderer = renderer
        self._direction = np.asarray(view_direction_lps, dtype=np.float64)
        self._axis = normal_axis
        self._geometry: Geometry | None = None
        self._shafts: tuple[Shaft, ...] = ()
        self._ice = np.empty((0, 3))
        self.zone_layer = vtkImageActor()
        prop = self.zone_layer.GetProperty()
        prop.SetInterpolationTypeToNearest()
        prop.UseLookupTableScalarRangeOn()
        prop.SetLookupTable(mask_lookup(ZONE_COLOR, ZONE_OPACITY))
        self.zone_layer.PickableOff()
        self.zone_layer.SetVisibility(False)
        self.probe_lines = overlay_actor(PLACED_COLOR, width=PLACED_WIDTH_PX)
        self.probe_tips = overlay_actor(PLACED_COLOR, point_size=TIP_SIZE_PX)
        self.ice_dots = overlay_actor(VISIBLE_ICE_COLOR, point_size=ICE_DOT_PX)
        for prop_item in (self.zone_layer, self.probe_lines, self.probe_tips, self.ice_dots):
            renderer.AddViewProp(prop_item)

    def show(
        self,
        geometry: Geometry,
        *,
        shafts: Sequence[Shaft] = (),
        ice_edge_lps: NDArray[np.float64] | None = None,
        zone: NDArray[np.bool_] | None = None,
        plane_lps: NDArray[np.float64],
    ) -> None:
        """Show a confirmation on the plane through ``plane_lps``.

        Parameters
        ----------
        geometry : Geometry
            The planning CT's grid (``zone`` lies on it).
        shafts : sequence of (tip, entry)
            Placed probes, LPS mm.
        ice_edge_lps : ndarray, shape (n, 3), optional
            Points of the visible ice edge, LPS mm.
        zone : ndarray of bool, optional
            The ablation zone, ``[k, j, i]`` on ``geometry``.
        plane_lps : ndarray
            A point of the shown plane (the crosshair).
        """
        self._geometry = geometry
        self._shafts = tuple((np.asarray(t, float), np.asarray(e, float)) for t, e in shafts)
        self._ice = np.empty((0, 3)) if ice_edge_lps is None else np.asarray(ice_edge_lps, float)
        if zone is not None and zone.any():
            self.zone_layer.SetInputData(image_data(zone.astype(np.uint8), geometry))
            spacing = float(geometry.spacing_mm[self._axis])
            self.zone_layer.SetUserMatrix(
                shifted_placement(
                    placement_matrix(geometry), -_ZONE_LIFT * spacing * self._direction
                )
            )
            self.zone_layer.SetVisibility(True)
        else:
            self.zone_layer.SetVisibility(False)
        self.show_plane(plane_lps)

    def show_plane(self, plane_lps: NDArray[np.float64]) -> None:
        """Follow the view to the plane through ``plane_lps``."""
        geometry = self._geometry
        if geometry is None:
            return
        origin = np.asarray(plane_lps, dtype=np.float64)
        spacing = float(geometry.spacing_mm[self._axis])
        lift = -_LINE_LIFT * spacing * self._direction
        if self.zone_layer.GetVisibility():
            index = geometry.lps_to_index(origin)[self._axis]
            last = geometry.size_ijk[self._axis] - 1
            self.zone_layer.SetDisplayExtent(
                *slice_extent(geometry, self._axis, int(np.clip(round(index), 0, last)))
            )
        if self._shafts:
            ends = np.array([point for shaft in self._shafts for point in shaft])
            flat = project_onto_plane(ends, origin_lps=origin, normal_lps=self._direction) + lift
            pairs = [(2 * n, 2 * n + 1) for n in range(len(self._shafts))]
            self.probe_lines.GetMapper().SetInputData(_points(flat, lines=pairs))
            self.probe_tips.GetMapper().SetInputData(_points(flat[0::2]))
        for actor in (self.probe_lines, self.probe_tips):
            actor.SetVisibility(bool(self._shafts))
        depth = (self._ice - origin) @ self._direction
        near = self._ice[np.abs(depth) <= 0.5 * spacing]
        if len(near):
            flat = project_onto_plane(near, origin_lps=origin, normal_lps=self._direction)
            self.ice_dots.GetMapper().SetInputData(_points(flat + lift))
        self.ice_dots.SetVisibility(bool(len(near)))

    def hide(self) -> None:
        self._geometry = None
        for actor in (self.zone_layer, self.probe_lines, self.probe_tips, self.ice_dots):
            actor.SetVisibility(False)

    @property
    def shown(self) -> bool:
        return self._geometry is not None

    def remove(self) -> None:
        for actor in (self.zone_layer, self.probe_lines, self.probe_tips, self.ice_dots):
            self._renderer.RemoveViewProp(actor)
