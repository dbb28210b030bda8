"""A view resliced along a probe, as needle-guidance systems show it (VTK, no Qt).

Two kinds: ``"inplane"`` cuts the image in a plane containing the probe's
shaft (the plane as close to the patient's superior direction as the shaft
allows), with the shaft running to the screen's right towards its tip;
``"across"`` cuts perpendicular to the shaft at its tip, seen from the entry
side. Image and filled labels are resliced on the fly by VTK from the shared
image data; outlined labels are traced on the label map sampled along the
plane; probes and isotherms are drawn by :class:`SlicePlanOverlay`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from vtkmodules.vtkCommonCore import vtkLookupTable
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPlane
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkRenderingCore import vtkImageSlice, vtkRenderer, vtkTextActor
from vtkmodules.vtkRenderingImage import vtkImageResliceMapper

from cryoplan_app.model.label_outlines import outline_segments
from cryoplan_app.model.probe_geometry import ProbeParts, perpendicular_basis
from cryoplan_app.model.window_level import WindowLevel
from cryoplan_app.render.labels import outline_actor, outline_polydata
from cryoplan_app.render.plan_overlays import SlicePlanOverlay
from cryoplan_app.render.slice_scene import INFO_FONT_PX
from planning_core.imaging.geometry import Geometry

#: Kinds of probe view.
PROBE_VIEW_KINDS = ("inplane", "across")
# Distance of the camera from the plane, and the width shown around the probe.
_CAMERA_DISTANCE_MM = 2000.0
_ACROSS_FIELD_MM = 90.0
_INPLANE_MARGIN_MM = 25.0
# Label outlines trace the label map sampled this finely along the plane (at most the
# image's finest spacing), over at most this many samples a side.
_OUTLINE_SAMPLE_MM = 0.5
_OUTLINE_MAX_SAMPLES = 800


@dataclass(frozen=True)
class ProbePlane:
    """A plane through ``origin`` seen along ``view_direction`` (into the screen)."""

    origin: NDArray[np.float64]
    right: NDArray[np.float64]
    up: NDArray[np.float64]

    @property
    def view_direction(self) -> NDArray[np.float64]:
        return np.cross(self.up, self.right)


def probe_plane(parts: ProbeParts, kind: str) -> ProbePlane:
    """The plane of a probe view of ``kind`` (see the module docstring)."""
    axis = parts.direction  # entry -> tip
    first, second = perpendicular_basis(axis)
    if kind == "inplane":
        # The shaft runs to the right; up is the in-plane direction closest to superior.
        return ProbePlane(0.5 * (parts.tip + parts.entry), axis, first)
    # Across at the tip, seen from the entry: the view direction is the insertion direction.
    return ProbePlane(parts.tip, second, first)


class ProbeScene:
    """Renderer content of one probe view."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(0.0, 0.0, 0.0)
        self.renderer.UseOITOff()  # flat layers, as in the slice views (SliceScene)
        self._image_mapper = vtkImageResliceMapper()
        self._image = vtkImageSlice()
        self._image.SetMapper(self._image_mapper)
        self._image.GetProperty().SetInterpolationTypeToLinear()
        self._label_mapper = vtkImageResliceMapper()
        self._labels = vtkImageSlice()
        self._labels.SetMapper(self._label_mapper)
        label_property = self._labels.GetProperty()
        label_property.SetInterpolationTypeToNearest()
        label_property.UseLookupTableScalarRangeOn()
        self._plane = vtkPlane()
        self._label_plane = vtkPlane()
        self._image_mapper.SetSlicePlane(self._plane)
        self._label_mapper.SetSlicePlane(self._label_plane)
        self._outlines = outline_actor()
        self._outline_voxels: NDArray[np.integer] | None = None
        self._outline_geometry: Geometry | None = None
        self._outline_values: tuple[int, ...] = ()
        self._lift_mm = 0.0
        self.renderer.AddViewProp(self._image)
        self.renderer.AddViewProp(self._labels)
        self.renderer.AddActor(self._outlines)
        self.overlay = SlicePlanOverlay(self.renderer)
        self._title = vtkTextActor()
        text = self._title.GetTextProperty()
        text.SetFontSize(INFO_FONT_PX)
        text.SetShadow(True)
        text.SetFontFamilyToArial()
        text.SetColor(0.45, 0.78, 1.0)
        text.SetVerticalJustification(2)
        self._title.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self._title.SetPosition(0.01, 0.99)
        self.renderer.AddViewProp(self._title)
        self.plane: ProbePlane | None = None
        self._has_labels = False
        self.set_visible(False)

    def set_image(self, data: vtkImageData, placement: vtkMatrix4x4) -> None:
        self._image_mapper.SetInputData(data)
        self._image.SetUserMatrix(placement)

    def set_labels(
        self,
        data: vtkImageData | None,
        placement: vtkMatrix4x4,
        lookup: vtkLookupTable | None,
        *,
        opacity: float,
    ) -> None:
        self._has_labels = data is not None
        if data is not None and lookup is not None:
            self._label_mapper.SetInputData(data)
            self._labels.SetUserMatrix(placement)
            self._labels.GetProperty().SetLookupTable(lookup)
            self._labels.GetProperty().SetOpacity(opacity)
        self._labels.SetVisibility(self._has_labels and self.plane is not None)

    def set_label_outlines(
        self,
        voxels: NDArray[np.integer] | None,
        geometry: Geometry | None,
        values: tuple[int, ...],
        lookup: vtkLookupTable | None,
        *,
        opacity: float,
    ) -> None:
        """Outline the labels ``values`` (drawing order) of ``voxels`` on the probe's plane."""
        self._outline_voxels, self._outline_geometry = voxels, geometry
        self._outline_values = values if voxels is not None else ()
        if lookup is not None:
            self._outlines.GetMapper().SetLookupTable(lookup)
        self._outlines.GetProperty().SetOpacity(opacity)
        self._update_outlines()

    def _update_outlines(self) -> None:
        voxels, geometry, plane = self._outline_voxels, self._outline_geometry, self.plane
        shown = plane is not None and voxels is not None and bool(self._outline_values)
        self._outlines.SetVisibility(shown)
        if not shown or geometry is None or plane is None or voxels is None:
            return
        camera = self.renderer.GetActiveCamera()
        width, height = self.renderer.GetSize()
        aspect = width / height if width > 0 and height > 0 else 1.0
        half_up = camera.GetParallelScale()
        half_right = half_up * aspect
        step = max(
            min(_OUTLINE_SAMPLE_MM, float(np.min(geometry.spacing_mm))),
            2.0 * max(half_up, half_right) / _OUTLINE_MAX_SAMPLES,
        )
        rights = np.arange(-half_right, half_right + step, step)
        ups = np.arange(-half_up, half_up + step, step)
        points = plane.origin + ups[:, None, None] * plane.up + rights[None, :, None] * plane.right
        ijk = geometry.lps_to_nearest_index(points)
        size = np.asarray(geometry.size_ijk)
        inside = np.all((ijk >= 0) & (ijk < size), axis=-1)
        i, j, k = (np.where(inside, ijk[..., axis], 0) for axis in range(3))
        sampled = np.where(inside, voxels[k, j, i], 0)
        ends, values = outline_segments(sampled, self._outline_values)
        lift = -0.75 * self._lift_mm * plane.view_direction
        lps = (
            plane.origin
            + lift
            + (ups[0] + step * ends[..., 0, None]) * plane.up
            + (rights[0] + step * ends[..., 1, None]) * plane.right
        )
        self._outlines.GetMapper().SetInputData(outline_polydata(lps, values))

    def set_window_level(self, window_level: WindowLevel) -> None:
        self._image.GetProperty().SetColorWindow(window_level.window)
        self._image.GetProperty().SetColorLevel(window_level.level)

    def set_visible(self, visible: bool) -> None:
        self._image.SetVisibility(visible)
        self._labels.SetVisibility(visible and self._has_labels)
        self._outlines.SetVisibility(visible and bool(self._outline_values))

    def show_probe(self, parts: ProbeParts | None, *, lift_mm: float) -> ProbePlane | None:
        """Reslice along ``parts`` (None: no probe) and aim the camera; returns the plane."""
        if parts is None:
            self.plane = None
            self.set_visible(False)
            self._title.SetInput("No probe: add one (Edit ▸ Add probe at crosshair)")
            return None
        plane = probe_plane(parts, self.kind)
        self.plane = plane
        direction = plane.view_direction
        self._plane.SetOrigin(*plane.origin)
        self._plane.SetNormal(*(-direction))
        # The labels slice a hair in front of the image, towards the viewer.
        self._label_plane.SetOrigin(*(plane.origin - 0.5 * lift_mm * direction))
        self._label_plane.SetNormal(*(-direction))
        self.set_visible(True)
        what = "along the shaft" if self.kind == "inplane" else "across the shaft at the tip"
        self._title.SetInput(f"Probe {parts.label} {what}")
        length = float(np.linalg.norm(parts.tip - parts.entry))
        field = _ACROSS_FIELD_MM if self.kind == "across" else length + 2 * _INPLANE_MARGIN_MM
        camera = self.renderer.GetActiveCamera()
        camera.ParallelProjectionOn()
        camera.SetFocalPoint(*plane.origin)
        camera.SetPosition(*(plane.origin - _CAMERA_DISTANCE_MM * direction))
        camera.SetViewUp(*plane.up)
        width, height = self.renderer.GetSize()
        aspect = width / height if width > 0 and height > 0 else 1.0
        camera.SetParallelScale(0.5 * field / min(aspect, 1.0))
        camera.SetClippingRange(0.5 * _CAMERA_DISTANCE_MM, 1.5 * _CAMERA_DISTANCE_MM)
        self._lift_mm = lift_mm
        self._update_outlines()
        return plane
