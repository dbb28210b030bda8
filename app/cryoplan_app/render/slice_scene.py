"""The VTK content of one 2-D view: an image plane, its label overlay, crosshair and annotations."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from vtkmodules.vtkCommonCore import vtkLookupTable, vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkImageData, vtkPolyData
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkCoordinate,
    vtkImageActor,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkTextActor,
)

from cryoplan_app.model.label_outlines import outline_segments
from cryoplan_app.model.planes import SliceFrame, in_plane_bounds_mm
from cryoplan_app.model.view_state import ViewCamera
from cryoplan_app.model.window_level import WindowLevel
from cryoplan_app.render.image_data import slice_extent
from cryoplan_app.render.labels import outline_actor, outline_polydata
from planning_core.imaging.geometry import Geometry

#: Colour of each view's title and of the crosshair line its plane draws in the others.
VIEW_COLORS: dict[str, tuple[float, float, float]] = {
    "axial": (0.95, 0.35, 0.32),
    "sagittal": (0.95, 0.85, 0.30),
    "coronal": (0.42, 0.82, 0.38),
}
LETTER_FONT_PX = 20
INFO_FONT_PX = 15
# Fraction of the fitted view left free around the volume.
_FIT_MARGIN = 1.04
# The crosshair leaves this many screen pixels free around its centre, so it never
# hides what it points at.
_CROSSHAIR_GAP_PX = 14
# Distance of the camera from the slice plane; anything beyond the volume's size works
# for a parallel projection.
_CAMERA_DISTANCE_MM = 2000.0


# Labels and lines float this many slice spacings in front of the image plane (towards
# the viewer), so that depth testing always draws them over it.
_LABEL_LIFT = 0.02
_OUTLINE_LIFT = 0.03
_LINE_LIFT = 0.05


class SliceScene:
    """Renderer content of one axial, coronal or sagittal view.

    Everything lives in LPS world coordinates; the label plane and the
    crosshair sit a hair in front of the image plane.
    """

    def __init__(self, view: str) -> None:
        self.view = view
        self.renderer = vtkRenderer()
        self.renderer.SetBackground(0.0, 0.0, 0.0)
        # Flat layers lifted towards the viewer in the order they are drawn: plain blending
        # is exact, and order-independent transparency would cost a third of each render.
        self.renderer.UseOITOff()
        self._image_actor = vtkImageActor()
        self._image_actor.GetProperty().SetInterpolationTypeToLinear()
        self._label_actor = vtkImageActor()
        label_property = self._label_actor.GetProperty()
        label_property.SetInterpolationTypeToNearest()
        label_property.UseLookupTableScalarRangeOn()
        self._outline_actor = outline_actor()
        self.renderer.AddViewProp(self._image_actor)
        self.renderer.AddViewProp(self._label_actor)
        self.renderer.AddActor(self._outline_actor)
        self._crosshair_lines = {
            "horizontal": _line_actor(),
            "vertical": _line_actor(),
        }
        for actor in self._crosshair_lines.values():
            self.renderer.AddActor(actor)
        self._letters = {edge: _text_actor(LETTER_FONT_PX, bold=True) for edge in _EDGE_PLACES}
        for edge, (x, y, horizontal, vertical) in _EDGE_PLACES.items():
            actor = self._letters[edge]
            actor.GetTextProperty().SetJustification(horizontal)
            actor.GetTextProperty().SetVerticalJustification(vertical)
            actor.GetTextProperty().SetColor(1.0, 0.9, 0.55)
            actor.SetPosition(x, y)
            self.renderer.AddViewProp(actor)
        self._title = _corner_text(0.01, 0.99, top=True, right=False)
        self._title.GetTextProperty().SetColor(*VIEW_COLORS[view])
        self._info = _corner_text(0.01, 0.01, top=False, right=False)
        for actor in (self._title, self._info):
            self.renderer.AddViewProp(actor)
        self._geometry: Geometry | None = None
        self._frame: SliceFrame | None = None
        self._index = 0
        self._slice_count = 0
        self._crosshair = np.zeros(3)
        self._line_colors = {"horizontal": (1.0, 1.0, 1.0), "vertical": (1.0, 1.0, 1.0)}
        self._parallel_scale = 1.0
        self._viewport_px = (1, 1)
        self._has_labels = False
        self._outline_voxels: NDArray[np.integer] | None = None
        self._outline_values: tuple[int, ...] = ()
        self._normal_spacing = 1.0
        self.set_visible(False)

    # -- content -----------------------------------------------------------------------
    def set_image(
        self,
        data: vtkImageData,
        geometry: Geometry,
        frame: SliceFrame,
        placement: vtkMatrix4x4,
        *,
        line_colors: dict[str, tuple[float, float, float]],
    ) -> None:
        """Show a new image; ``line_colors`` holds the ``horizontal`` and ``vertical`` colours."""
        self._geometry, self._frame = geometry, frame
        self._normal_spacing = float(geometry.spacing_mm[frame.normal_axis])
        self._slice_count = geometry.size_ijk[frame.normal_axis]
        self._index = -1  # no plane shown yet
        self._image_actor.SetInputData(data)
        self._image_actor.SetUserMatrix(placement)
        self._label_actor.SetUserMatrix(
            shifted_placement(
                placement, -_LABEL_LIFT * frame.view_direction_lps * self._normal_spacing
            )
        )
        self._line_colors = dict(line_colors)
        for name, actor in self._crosshair_lines.items():
            actor.GetProperty().SetColor(*self._line_colors[name])
        for edge, letters in frame.edge_letters().items():
            self._letters[edge].SetInput(letters)
        self.set_labels(None)
        self.set_visible(True)

    def clear(self) -> None:
        self.set_labels(None)
        self.set_label_outlines(None, ())
        self._geometry = self._frame = None
        self.set_visible(False)

    def set_visible(self, visible: bool) -> None:
        self._image_actor.SetVisibility(visible)
        self._label_actor.SetVisibility(visible and self._has_labels)
        self._outline_actor.SetVisibility(visible and bool(self._outline_values))
        for actor in (*self._crosshair_lines.values(), *self._letters.values()):
            actor.SetVisibility(visible)
        self._title.SetVisibility(visible)
        self._info.SetVisibility(visible)

    def set_labels(self, data: vtkImageData | None) -> None:
        """Show label voxels over the image (``None`` removes the overlay)."""
        self._has_labels = data is not None
        self._label_actor.SetVisibility(self._has_labels and self._frame is not None)
        if data is not None:
            self._label_actor.SetInputData(data)
            self._show_extent()

    def set_label_colors(self, lookup: vtkLookupTable, *, opacity: float) -> None:
        """Colours of the filled labels (``lookup`` clear for the others) and their opacity."""
        self._label_actor.GetProperty().SetLookupTable(lookup)
        self._label_actor.GetProperty().SetOpacity(opacity)

    def set_label_outlines(
        self,
        voxels: NDArray[np.integer] | None,
        values: tuple[int, ...],
        lookup: vtkLookupTable | None = None,
        *,
        opacity: float = 1.0,
    ) -> None:
        """Outline the labels ``values`` of ``voxels`` (``[k, j, i]``) on the shown plane.

        ``values`` are in drawing order (the last on top), coloured by ``lookup``.
        """
        self._outline_voxels = voxels
        self._outline_values = values if voxels is not None else ()
        if lookup is not None:
            self._outline_actor.GetMapper().SetLookupTable(lookup)
        self._outline_actor.GetProperty().SetOpacity(opacity)
        self._update_outlines()

    def _update_outlines(self) -> None:
        shown = self._frame is not None and self._index >= 0 and bool(self._outline_values)
        self._outline_actor.SetVisibility(shown)
        if not shown or self._outline_voxels is None or self._geometry is None:
            return
        axis = self._frame.normal_axis
        # numpy holds [k, j, i]: volume axis n is numpy axis 2 - n.
        plane = np.take(self._outline_voxels, self._index, axis=2 - axis)
        ends_ab, values = outline_segments(plane, self._outline_values)
        in_plane = [a for a in (2, 1, 0) if a != axis]  # volume axes of plane rows, columns
        ijk = np.empty((*ends_ab.shape[:2], 3))
        ijk[..., axis] = self._index
        ijk[..., in_plane[0]] = ends_ab[..., 0]
        ijk[..., in_plane[1]] = ends_ab[..., 1]
        lift = -_OUTLINE_LIFT * self._normal_spacing * self._frame.view_direction_lps
        self._outline_actor.GetMapper().SetInputData(
            outline_polydata(self._geometry.index_to_lps(ijk) + lift, values)
        )

    def set_window_level(self, window_level: WindowLevel) -> None:
        image_property = self._image_actor.GetProperty()
        image_property.SetColorWindow(window_level.window)
        image_property.SetColorLevel(window_level.level)
        preset = f"  {window_level.preset}" if window_level.preset else ""
        self._info.SetInput(f"W {window_level.window:.0f}  L {window_level.level:.0f}{preset}")

    # -- position ----------------------------------------------------------------------
    def show_slice(self, index: int, crosshair_lps: ArrayLike) -> None:
        """Show plane ``index`` and draw the crosshair through ``crosshair_lps``."""
        if self._frame is None or self._geometry is None:
            return
        self._crosshair = np.asarray(crosshair_lps, dtype=np.float64).reshape(3)
        if index != self._index:
            self._index = index
            self._show_extent()
        self._title.SetInput(
            f"{self.view.capitalize()}  {index + 1}/{self._slice_count}  "
            f"{_position_text(self._frame, self._crosshair)}"
        )
        self._place_crosshair()

    def _show_extent(self) -> None:
        if self._frame is None or self._geometry is None:
            return
        extent = slice_extent(self._geometry, self._frame.normal_axis, self._index)
        self._image_actor.SetDisplayExtent(*extent)
        if self._has_labels:
            self._label_actor.SetDisplayExtent(*extent)
        self._update_outlines()

    def set_camera(self, camera: ViewCamera, *, viewport_px: tuple[int, int]) -> None:
        """Fit the volume to a viewport of ``viewport_px`` (width, height), then zoom and pan."""
        if self._frame is None or self._geometry is None:
            return
        frame = self._frame
        width_px, height_px = max(viewport_px[0], 1), max(viewport_px[1], 1)
        self._viewport_px = (width_px, height_px)
        right_min, right_max, up_min, up_max = in_plane_bounds_mm(self._geometry, frame)
        aspect = width_px / height_px
        fitted = max(0.5 * (up_max - up_min), 0.5 * (right_max - right_min) / aspect)
        self._parallel_scale = fitted * _FIT_MARGIN / camera.zoom
        direction = frame.view_direction_lps
        depth = float(np.dot(self._crosshair, direction))
        focal = (
            (0.5 * (right_min + right_max) - camera.pan_mm[0]) * frame.right_lps
            + (0.5 * (up_min + up_max) - camera.pan_mm[1]) * frame.up_lps
            + depth * direction
        )
        vtk_camera = self.renderer.GetActiveCamera()
        vtk_camera.ParallelProjectionOn()
        vtk_camera.SetFocalPoint(*focal)
        vtk_camera.SetPosition(*(focal - _CAMERA_DISTANCE_MM * direction))
        vtk_camera.SetViewUp(*frame.up_lps)
        vtk_camera.SetParallelScale(self._parallel_scale)
        vtk_camera.SetClippingRange(
            0.5 * _CAMERA_DISTANCE_MM,
            1.5 * _CAMERA_DISTANCE_MM + float(np.sum(self._geometry.extent_mm)),
        )
        self._place_crosshair()

    def follow_slice(self) -> None:
        """Keep the camera's focal point on the shown plane (after scrolling)."""
        if self._frame is None:
            return
        direction = self._frame.view_direction_lps
        vtk_camera = self.renderer.GetActiveCamera()
        focal = np.asarray(vtk_camera.GetFocalPoint())
        focal += (
            float(np.dot(self._crosshair, direction)) - float(np.dot(focal, direction))
        ) * direction
        vtk_camera.SetFocalPoint(*focal)
        vtk_camera.SetPosition(*(focal - _CAMERA_DISTANCE_MM * direction))

    @property
    def mm_per_pixel(self) -> float:
        """Screen pixel size in mm at the current zoom."""
        return 2.0 * self._parallel_scale / self._viewport_px[1]

    def display_to_lps(self, x_px: float, y_px: float) -> NDArray[np.float64] | None:
        """The LPS point on the shown plane under display pixel ``(x, y)``, y up from the bottom."""
        if self._frame is None:
            return None
        coordinate = vtkCoordinate()
        coordinate.SetCoordinateSystemToDisplay()
        coordinate.SetValue(float(x_px), float(y_px), 0.0)
        world = np.asarray(coordinate.GetComputedWorldValue(self.renderer), dtype=np.float64)
        direction = self._frame.view_direction_lps
        # Parallel projection: slide along the viewing direction onto the plane.
        return world + (float(np.dot(self._crosshair - world, direction))) * direction

    def lps_to_display(self, lps_mm: ArrayLike) -> tuple[float, float]:
        """Display pixel (VTK: y up from the bottom) of an LPS point."""
        coordinate = vtkCoordinate()
        coordinate.SetCoordinateSystemToWorld()
        coordinate.SetValue(*(float(v) for v in np.asarray(lps_mm).reshape(3)))
        x, y = coordinate.GetComputedDoubleDisplayValue(self.renderer)
        return float(x), float(y)

    def on_shown_plane(self, lps_mm: ArrayLike) -> NDArray[np.float64]:
        """``lps_mm`` slid along the viewing direction onto the displayed image plane.

        The crosshair may lie between two slices (a centroid, a probe tip); what is
        drawn over the image must lie on the plane the image shows, or the image
        hides it from one side.
        """
        point = np.asarray(lps_mm, dtype=np.float64).reshape(3)
        if self._frame is None or self._geometry is None:
            return point
        direction = self._frame.view_direction_lps
        ijk = np.zeros(3)
        ijk[self._frame.normal_axis] = self._index
        shown_depth = float(np.dot(self._geometry.index_to_lps(ijk), direction))
        return point + (shown_depth - float(np.dot(point, direction))) * direction

    def _place_crosshair(self) -> None:
        if self._frame is None or self._geometry is None:
            return
        frame = self._frame
        right_min, right_max, up_min, up_max = in_plane_bounds_mm(self._geometry, frame)
        right_c = float(np.dot(self._crosshair, frame.right_lps))
        up_c = float(np.dot(self._crosshair, frame.up_lps))
        direction = frame.view_direction_lps
        shown = self.on_shown_plane(self._crosshair)
        depth = float(np.dot(shown, direction)) - _LINE_LIFT * self._normal_spacing
        gap = _CROSSHAIR_GAP_PX * self.mm_per_pixel

        def point(right: float, up: float) -> NDArray[np.float64]:
            return right * frame.right_lps + up * frame.up_lps + depth * direction

        _set_segments(
            self._crosshair_lines["horizontal"],
            [
                (point(right_min, up_c), point(right_c - gap, up_c)),
                (point(right_c + gap, up_c), point(right_max, up_c)),
            ],
        )
        _set_segments(
            self._crosshair_lines["vertical"],
            [
                (point(right_c, up_min), point(right_c, up_c - gap)),
                (point(right_c, up_c + gap), point(right_c, up_max)),
            ],
        )


# Normalised viewport position and justification (horizontal, vertical) of each edge letter.
_EDGE_PLACES = {
    "left": (0.01, 0.5, 0, 1),
    "right": (0.99, 0.5, 2, 1),
    "top": (0.5, 0.94, 1, 2),  # below the view title, which can reach the middle
    "bottom": (0.5, 0.01, 1, 0),
}


def shifted_placement(placement: vtkMatrix4x4, offset_lps: NDArray[np.float64]) -> vtkMatrix4x4:
    """``placement`` followed by a translation of ``offset_lps`` mm."""
    matrix = vtkMatrix4x4()
    matrix.DeepCopy(placement)
    for row in range(3):
        matrix.SetElement(row, 3, placement.GetElement(row, 3) + float(offset_lps[row]))
    return matrix


def _text_actor(font_px: int, *, bold: bool = False) -> vtkTextActor:
    actor = vtkTextActor()
    actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    text = actor.GetTextProperty()
    text.SetFontSize(font_px)
    text.SetBold(bold)
    text.SetShadow(True)
    text.SetFontFamilyToArial()
    return actor


def _corner_text(x: float, y: float, *, top: bool, right: bool) -> vtkTextActor:
    actor = _text_actor(INFO_FONT_PX)
    actor.GetTextProperty().SetJustification(2 if right else 0)
    actor.GetTextProperty().SetVerticalJustification(2 if top else 0)
    actor.SetPosition(x, y)
    return actor


def _line_actor() -> vtkActor:
    mapper = vtkPolyDataMapper()
    mapper.SetInputData(vtkPolyData())
    actor = vtkActor()
    actor.SetMapper(mapper)
    actor.GetProperty().SetLineWidth(1.5)
    actor.GetProperty().SetOpacity(0.8)
    actor.GetProperty().LightingOff()
    actor.PickableOff()
    return actor


def _set_segments(
    actor: vtkActor, segments: list[tuple[NDArray[np.float64], NDArray[np.float64]]]
) -> None:
    points = vtkPoints()
    lines = vtkCellArray()
    for start, stop in segments:
        first = points.InsertNextPoint(*start)
        second = points.InsertNextPoint(*stop)
        lines.InsertNextCell(2)
        lines.InsertCellPoint(first)
        lines.InsertCellPoint(second)
    polydata = vtkPolyData()
    polydata.SetPoints(points)
    polydata.SetLines(lines)
    actor.GetMapper().SetInputData(polydata)


def _position_text(frame: SliceFrame, crosshair_lps: NDArray[np.float64]) -> str:
    """The plane's position along its forward axis, e.g. ``S 42.0 mm`` or ``A 12.5 mm``."""
    axis = int(np.argmax(np.abs(frame.forward_lps)))
    value = float(crosshair_lps[axis])
    positive, negative = (("L", "R"), ("P", "A"), ("S", "I"))[axis]
    return f"{positive if value >= 0 else negative} {abs(value):.1f} mm"
