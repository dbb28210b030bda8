"""The VTK content of the 3-D view: the three slice planes, label surfaces, the volume outline."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPolyData
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkFiltersSources import vtkOutlineSource
from vtkmodules.vtkRenderingCore import vtkActor, vtkImageActor, vtkPolyDataMapper, vtkRenderer

from cryoplan_app.model.planes import SliceFrame
from cryoplan_app.model.window_level import WindowLevel
from cryoplan_app.render.image_data import slice_extent
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelInfo

# Looking from the patient's front (towards +y, posterior) with superior up, so
# that the patient's right is on the screen's left, as in the coronal view.
_FRONT_DIRECTION_LPS = (0.0, 1.0, 0.0)
_FRONT_UP_LPS = (0.0, 0.0, 1.0)
#: Opacity of surfaces of "anatomy" labels (organs), so that what lies inside shows.
ANATOMY_OPACITY = 0.35


class VolumeScene:
    """Renderer content of the 3-D view; everything in LPS world coordinates."""

    def __init__(self) -> None:
        self.renderer = vtkRenderer()
        self.renderer.GradientBackgroundOn()
        self.renderer.SetBackground(0.02, 0.02, 0.05)
        self.renderer.SetBackground2(0.16, 0.18, 0.26)
        self._planes: dict[str, vtkImageActor] = {}
        self._outline = vtkActor()
        self._outline.SetMapper(vtkPolyDataMapper())
        self._outline.GetProperty().SetColor(0.7, 0.7, 0.75)
        self._outline.GetProperty().LightingOff()
        self.renderer.AddActor(self._outline)
        self._surfaces: dict[str, vtkActor] = {}
        self._surface_data: dict[str, vtkPolyData] = {}
        self._geometry: Geometry | None = None
        self._frames: dict[str, SliceFrame] = {}
        self._placement: vtkMatrix4x4 | None = None
        self._outline.SetVisibility(False)

    def set_image(
        self,
        data: vtkImageData,
        geometry: Geometry,
        frames: Mapping[str, SliceFrame],
        placement: vtkMatrix4x4,
    ) -> None:
        """Show a new image as three planes inside its outline; removes old surfaces."""
        self.clear()
        self._geometry, self._frames, self._placement = geometry, dict(frames), placement
        for view in frames:
            actor = vtkImageActor()
            actor.SetInputData(data)
            actor.SetUserMatrix(placement)
            actor.GetProperty().SetInterpolationTypeToLinear()
            self._planes[view] = actor
            self.renderer.AddActor(actor)
        outline = vtkOutlineSource()
        outline.SetBounds(*_data_bounds(geometry))
        outline.Update()
        self._outline.GetMapper().SetInputData(outline.GetOutput())
        self._outline.SetUserMatrix(placement)
        self._outline.SetVisibility(True)

    def clear(self) -> None:
        for actor in self._planes.values():
            self.renderer.RemoveActor(actor)
        self._planes = {}
        self.set_surfaces({}, ())
        self._outline.SetVisibility(False)
        self._geometry = None

    def show_planes(self, indices: Mapping[str, int]) -> None:
        """Show, for each view, plane ``indices[view]`` across that view's volume axis."""
        if self._geometry is None:
            return
        for view, index in indices.items():
            extent = slice_extent(self._geometry, self._frames[view].normal_axis, index)
            self._planes[view].SetDisplayExtent(*extent)

    def set_planes_visible(self, visible: bool) -> None:
        for actor in self._planes.values():
            actor.SetVisibility(visible)

    def set_window_level(self, window_level: WindowLevel) -> None:
        for actor in self._planes.values():
            actor.GetProperty().SetColorWindow(window_level.window)
            actor.GetProperty().SetColorLevel(window_level.level)

    def set_surfaces(self, surfaces: Mapping[str, vtkPolyData], table: Iterable[LabelInfo]) -> None:
        """Replace the label surfaces; ``table`` gives their colours."""
        for actor in self._surfaces.values():
            self.renderer.RemoveActor(actor)
        table = list(table)
        colors = {info.name: info.color_rgb for info in table}
        roles = {info.name: info.role for info in table}
        self._surfaces = {}
        self._surface_data = dict(surfaces)
        for name, surface in surfaces.items():
            mapper = vtkPolyDataMapper()
            mapper.SetInputData(surface)
            mapper.ScalarVisibilityOff()
            actor = vtkActor()
            actor.SetMapper(mapper)
            actor.SetUserMatrix(self._placement)
            surface_property = actor.GetProperty()
            surface_property.SetColor(*(c / 255.0 for c in colors.get(name, (200, 200, 200))))
            surface_property.SetSpecular(0.25)
            surface_property.SetSpecularPower(20.0)
            surface_property.SetInterpolationToPhong()
            if roles.get(name) == "anatomy":
                # Organs hosting the tumor would hide it, its probes and its iceball.
                surface_property.SetOpacity(ANATOMY_OPACITY)
            self._surfaces[name] = actor
            self.renderer.AddActor(actor)

    @property
    def surfaces(self) -> dict[str, vtkPolyData]:
        """The surfaces shown, by label name (a copy of the mapping)."""
        return dict(self._surface_data)

    def show_surfaces(self, visible: Iterable[str]) -> None:
        shown = set(visible)
        for name, actor in self._surfaces.items():
            actor.SetVisibility(name in shown)

    def look_at(
        self,
        focal_lps: Sequence[float],
        *,
        from_direction_lps: Sequence[float],
        field_mm: float,
    ) -> None:
        """Look at ``focal_lps`` from ``from_direction_lps`` (a unit vector from the focal point
        towards the eye), superior up where possible, ``field_mm`` wide."""
        direction = np.asarray(from_direction_lps, dtype=np.float64)
        direction /= np.linalg.norm(direction)
        up = np.array(_FRONT_UP_LPS) - direction * float(direction @ _FRONT_UP_LPS)
        if np.linalg.norm(up) < 0.2:  # looking along the body axis: anterior up
            up = np.array((0.0, -1.0, 0.0))
        camera = self.renderer.GetActiveCamera()
        camera.ParallelProjectionOff()
        distance = field_mm / (2.0 * np.tan(np.radians(0.5 * camera.GetViewAngle())))
        focal = np.asarray(focal_lps, dtype=np.float64)
        camera.SetFocalPoint(*focal)
        camera.SetPosition(*(focal + distance * direction))
        camera.SetViewUp(*(up / np.linalg.norm(up)))
        self.renderer.ResetCameraClippingRange()

    def reset_camera(self) -> None:
        """Look at the whole volume from the patient's front."""
        camera = self.renderer.GetActiveCamera()
        camera.SetFocalPoint(0.0, 0.0, 0.0)
        camera.SetPosition(*(-v for v in _FRONT_DIRECTION_LPS))
        camera.SetViewUp(*_FRONT_UP_LPS)
        camera.ParallelProjectionOff()
        self.renderer.ResetCamera()
        camera.Zoom(1.25)
        self.renderer.ResetCameraClippingRange()


def _data_bounds(geometry: Geometry) -> tuple[float, ...]:
    """Bounds of the voxel centres in image-data coordinates (``spacing * ijk``)."""
    bounds = []
    for size, spacing in zip(geometry.size_ijk, geometry.spacing_mm, strict=True):
        bounds.extend((0.0, (size - 1) * float(spacing)))
    return tuple(bounds)
