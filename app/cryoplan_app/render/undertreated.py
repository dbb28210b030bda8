"""The under-treated tumor in red: a voxel layer over a 2-D view and a surface in 3-D (VTK, no Qt).

After a practice attempt is assessed, the tumor voxels that stay above the
lethal isotherm are shown in red: in each 2-D view the voxels of the shown
plane, opaque (over the label overlay, under the probes and isotherm lines);
in the 3-D view the smoothed surface of the under-treated region, over the
tumor's margin map where the two coincide and showing through the organs in
front of it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from vtkmodules.vtkCommonCore import vtkLookupTable
from vtkmodules.vtkRenderingCore import vtkActor, vtkImageActor, vtkPolyDataMapper, vtkRenderer

from cryoplan_app.render.image_data import image_data, placement_matrix, slice_extent
from cryoplan_app.render.slice_scene import shifted_placement
from cryoplan_app.render.surfaces import label_surface
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap

#: The red of the under-treated tumor, in 2-D and 3-D.
UNDERTREATED_COLOR: tuple[float, float, float] = (1.0, 0.0, 0.0)
# In front of the label overlay (0.02 slice spacings) and behind the crosshair (0.05).
_LIFT = 0.04
_MASK_NAME = "undertreated"
#: Opacity of the copy of the 3-D surface drawn over everything in front of it.
GHOST_OPACITY = 0.4
#: Render layer of that copy (the scene is layer 0).
GHOST_LAYER = 1


def mask_lookup(color: tuple[float, float, float], opacity: float) -> vtkLookupTable:
    """Colours of a 0/1 mask layer: 0 transparent, 1 ``color`` at ``opacity``."""
    lookup = vtkLookupTable()
    lookup.SetNumberOfTableValues(2)
    lookup.SetTableRange(-0.5, 1.5)
    lookup.SetTableValue(0, 0.0, 0.0, 0.0, 0.0)
    lookup.SetTableValue(1, *color, opacity)
    lookup.Build()
    return lookup


class UndertreatedSliceLayer:
    """Red voxels of a mask on the plane a 2-D view shows.

    Parameters
    ----------
    renderer : vtkRenderer
        The 2-D view's renderer.
    view_direction_lps : ndarray
        The view's direction from the viewer into the screen; the layer is
        lifted towards the viewer so that depth testing draws it over the image.
    normal_axis : int
        Volume axis across the view's planes (0 = i, 1 = j, 2 = k).
    """

    def __init__(
        self, renderer: vtkRenderer, *, view_direction_lps: NDArray[np.float64], normal_axis: int
    ) -> None:
        self._renderer = renderer
        self._direction = np.asarray(view_direction_lps, dtype=np.float64)
        self._axis = normal_axis
        self._geometry: Geometry | None = None
        self._actor = vtkImageActor()
        prop = self._actor.GetProperty()
        prop.SetInterpolationTypeToNearest()
        prop.UseLookupTableScalarRangeOn()
        prop.SetLookupTable(mask_lookup(UNDERTREATED_COLOR, 1.0))
        self._actor.PickableOff()
        self._actor.SetVisibility(False)
        renderer.AddViewProp(self._actor)

    def show(self, mask: NDArray[np.bool_], geometry: Geometry, slice_index: int) -> None:
        """Show ``mask`` (``[k, j, i]`` on ``geometry``) on plane ``slice_index``."""
        self._geometry = geometry
        self._actor.SetInputData(image_data(mask.astype(np.uint8), geometry))
        spacing = float(geometry.spacing_mm[self._axis])
        self._actor.SetUserMatrix(
            shifted_placement(placement_matrix(geometry), -_LIFT * spacing * self._direction)
        )
        self._actor.SetVisibility(True)
        self.show_slice(slice_index)

    def show_slice(self, slice_index: int) -> None:
        """Follow the view to plane ``slice_index``."""
        if self._geometry is not None:
            self._actor.SetDisplayExtent(*slice_extent(self._geometry, self._axis, slice_index))

    def hide(self) -> None:
        self._geometry = None
        self._actor.SetVisibility(False)

    @property
    def shown(self) -> bool:
        return bool(self._actor.GetVisibility())

    def remove(self) -> None:
        self._renderer.RemoveViewProp(self._actor)


class UndertreatedSurface:
    """The under-treated part of the tumor as a red surface in a 3-D view.

    An opaque surface in the scene, and a translucent copy drawn over
    everything (a second render layer with the same camera), so that the
    kidney or the liver around the tumor never hides where it escaped: where
    nothing is in front the two add up to full red, behind an organ the copy
    shows through.

    Parameters
    ----------
    renderer : vtkRenderer
        The 3-D view's renderer, already in its render window.
    """

    def __init__(self, renderer: vtkRenderer) -> None:
        self._renderer = renderer
        self._mapper = vtkPolyDataMapper()
        self._mapper.ScalarVisibilityOff()
        # Where it coincides with the tumor's margin map, the red must win.
        self._mapper.SetResolveCoincidentTopologyToPolygonOffset()
        self._mapper.SetRelativeCoincidentTopologyPolygonOffsetParameters(-2.0, -2.0)
        self._actor = self._red_actor(opacity=1.0)
        renderer.AddActor(self._actor)
        self._ghost = self._red_actor(opacity=GHOST_OPACITY)
        self._ghost_renderer = vtkRenderer()
        self._ghost_renderer.SetLayer(GHOST_LAYER)  # keeps the colours below, not the depth
        self._ghost_renderer.SetActiveCamera(renderer.GetActiveCamera())
        self._ghost_renderer.InteractiveOff()
        self._ghost_renderer.AddActor(self._ghost)
        window = renderer.GetRenderWindow()
        window.SetNumberOfLayers(max(window.GetNumberOfLayers(), GHOST_LAYER + 1))
        window.AddRenderer(self._ghost_renderer)

    def _red_actor(self, *, opacity: float) -> vtkActor:
        actor = vtkActor()
        actor.SetMapper(self._mapper)
        actor.GetProperty().SetColor(*UNDERTREATED_COLOR)
        actor.GetProperty().SetOpacity(opacity)
        actor.GetProperty().SetSpecular(0.2)
        actor.PickableOff()
        actor.SetVisibility(False)
        return actor

    def show(self, mask: NDArray[np.bool_], geometry: Geometry) -> None:
        """Show the surface of ``mask`` (``[k, j, i]`` on ``geometry``); an empty one hides it."""
        surface = None
        if mask.any():
            holder = LabelMap.empty(geometry).with_mask(_MASK_NAME, mask)
            surface = label_surface(holder, _MASK_NAME)
        if surface is None:
            self.hide()
            return
        self._mapper.SetInputData(surface)
        for actor in (self._actor, self._ghost):
            actor.SetUserMatrix(placement_matrix(geometry))
            actor.SetVisibility(True)

    def hide(self) -> None:
        self._actor.SetVisibility(False)
        self._ghost.SetVisibility(False)

    @property
    def shown(self) -> bool:
        return bool(self._actor.GetVisibility())

    def remove(self) -> None:
        self._renderer.RemoveActor(self._actor)
        window = self._renderer.GetRenderWindow()
        if window is not None:
            window.RemoveRenderer(self._ghost_renderer)
