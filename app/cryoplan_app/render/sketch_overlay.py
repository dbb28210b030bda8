"""The lesion tools' sketch drawn over a 2-D view: the diameter line and the strokes (VTK).

The line is drawn cyan (the crosshair lines are red, yellow and green) with its
length in mm beside its end, on a dark box so it reads over bright tissue;
lesion strokes green, "not lesion" strokes orange-red (the colours of Slicer's
and ITK-SNAP's seed tools). Only what lies
on the shown plane is drawn: a stroke painted on another slice would hide the
image without showing where it was painted.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkCoordinate,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkTextActor,
)

from cryoplan_app.model.sketch import Sketch, Stroke
from planning_core.figures import format_length_mm

RGB = tuple[float, float, float]

LINE_COLOR: RGB = (0.2, 0.9, 1.0)
LESION_COLOR: RGB = (0.25, 0.95, 0.35)
BACKGROUND_COLOR: RGB = (1.0, 0.4, 0.25)
LINE_WIDTH_PX = 2.0
STROKE_WIDTH_PX = 3.0
END_SIZE_PX = 6.0
LENGTH_FONT_PX = 18
#: The length label sits this far (display pixels) beyond the line's end, on the side the
#: line points to, so that it never covers the line or the lesion under it.
LENGTH_OFFSET_PX = 8.0


def _polylines(
    lines: list[NDArray[np.float64]], *, lines_too: bool = True, vertices: bool = False
) -> vtkPolyData:
    """Polylines through ``lines`` (and a vertex at each point with ``vertices``)."""
    points = vtkPoints()
    cells = vtkCellArray()
    for line in lines:
        cells.InsertNextCell(len(line))
        for point in line:
            cells.InsertCellPoint(points.InsertNextPoint(*map(float, point)))
    data = vtkPolyData()
    data.SetPoints(points)
    if lines_too:
        data.SetLines(cells)
    if vertices:
        data.SetVerts(cells)
    return data


def overlay_actor(color: RGB, *, width: float = 1.0, point_size: float = 1.0) -> vtkActor:
    """A flat, unpickable line-and-dot actor, hidden until it is given data."""
    mapper = vtkPolyDataMapper()
    mapper.SetInputData(vtkPolyData())
    actor = vtkActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    prop.SetColor(*color)
    prop.SetLineWidth(width)
    prop.SetPointSize(point_size)
    prop.SetRenderPointsAsSpheres(True)
    prop.LightingOff()
    actor.PickableOff()
    actor.SetVisibility(False)
    return actor


def _show(actor: vtkActor, data: vtkPolyData) -> None:
    actor.GetMapper().SetInputData(data)
    actor.SetVisibility(data.GetNumberOfPoints() > 0)


def on_plane_runs(
    stroke: Stroke, *, origin: NDArray[np.float64], normal: NDArray[np.float64], half_mm: float
) -> list[NDArray[np.float64]]:
    """The parts of ``stroke`` within ``half_mm`` of the plane, as runs of consecutive points."""
    points = stroke.points_lps_mm
    near = np.abs((points - origin) @ normal) <= half_mm
    runs: list[NDArray[np.float64]] = []
    edges = np.flatnonzero(np.diff(np.r_[0, near.astype(np.int8), 0]))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        run = points[start:stop]
        # A one-point stroke (a click) still shows: as a point repeated into a line.
        runs.append(run if len(run) > 1 else np.repeat(run, 2, axis=0))
    return runs


class SketchOverlay:
    """The sketch's actors in one 2-D view's renderer."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self._line = overlay_actor(LINE_COLOR, width=LINE_WIDTH_PX)
        self._ends = overlay_actor(LINE_COLOR, point_size=END_SIZE_PX)
        self._lesion = overlay_actor(
            LESION_COLOR, width=STROKE_WIDTH_PX, point_size=STROKE_WIDTH_PX
        )
        self._background = overlay_actor(
            BACKGROUND_COLOR, width=STROKE_WIDTH_PX, point_size=STROKE_WIDTH_PX
        )
        self._anchor = vtkCoordinate()
        self._anchor.SetCoordinateSystemToWorld()
        self.length_text = vtkTextActor()
        position = self.length_text.GetPositionCoordinate()
        position.SetCoordinateSystemToDisplay()
        position.SetReferenceCoordinate(self._anchor)  # the offset follows zoom and pan
        text = self.length_text.GetTextProperty()
        text.SetFontSize(LENGTH_FONT_PX)
        text.SetBold(True)
        text.SetColor(*LINE_COLOR)
        text.SetFontFamilyToArial()
        text.SetBackgroundColor(0.0, 0.0, 0.0)
        text.SetBackgroundOpacity(0.6)
        self.length_text.SetVisibility(False)
        for actor in (self._lesion, self._background, self._line, self._ends, self.length_text):
            renderer.AddViewProp(actor)

    def hide(self) -> None:
        """Draw nothing (no image open)."""
        _show(self._lesion, vtkPolyData())
        _show(self._background, vtkPolyData())
        self._hide_line()

    def _hide_line(self) -> None:
        _show(self._line, vtkPolyData())
        _show(self._ends, vtkPolyData())
        self.length_text.SetVisibility(False)

    def _place_length(self, right_mm: float, up_mm: float) -> None:
        """Put the length label past the line's end, in the quadrant the line points to."""
        text = self.length_text.GetTextProperty()
        text.SetJustification(0 if right_mm >= 0 else 2)  # left / right edge at the anchor
        text.SetVerticalJustification(0 if up_mm >= 0 else 2)  # bottom / top edge
        self.length_text.GetPositionCoordinate().SetValue(
            LENGTH_OFFSET_PX if right_mm >= 0 else -LENGTH_OFFSET_PX,
            LENGTH_OFFSET_PX if up_mm >= 0 else -LENGTH_OFFSET_PX,
        )

    def show(
        self,
        sketch: Sketch,
        *,
        origin: NDArray[np.float64],
        normal: NDArray[np.float64],
        right: NDArray[np.float64],
        up: NDArray[np.float64],
        half_mm: float,
        lift_mm: float,
    ) -> None:
        """Draw what of ``sketch`` lies within ``half_mm`` of the plane through ``origin``.

        ``lift_mm`` moves the drawing towards the viewer (against the viewing
        direction ``normal``), over the image and the label outlines; ``right``
        and ``up`` are the screen's directions (LPS), which place the length label.
        """
        lift = -lift_mm * normal

        def flat(points: NDArray[np.float64]) -> NDArray[np.float64]:
            # Points lie on the crosshair's plane, up to half a slice off the image's
            # plane: laid onto it and lifted, or the image would hide them in parts.
            return points - np.outer((points - origin) @ normal, normal) + lift

        runs: dict[bool, list[NDArray[np.float64]]] = {True: [], False: []}
        for stroke in sketch.shown_strokes:
            found = on_plane_runs(stroke, origin=origin, normal=normal, half_mm=half_mm)
            runs[stroke.lesion] += [flat(run) for run in found]
        # Round dots at the points fill the joints that wide lines leave open at each bend.
        _show(self._lesion, _polylines(runs[True], vertices=True))
        _show(self._background, _polylines(runs[False], vertices=True))
        line = sketch.line
        on_plane = line is not None and all(
            abs(float((point - origin) @ normal)) <= half_mm
            for point in (line.start_lps_mm, line.end_lps_mm)
        )
        if line is None or not on_plane:
            self._hide_line()
            return
        ends = flat(np.stack([line.start_lps_mm, line.end_lps_mm]))
        _show(self._line, _polylines([ends]))
        _show(self._ends, _polylines([ends[:1], ends[1:]], lines_too=False, vertices=True))
        self._anchor.SetValue(*map(float, ends[1]))
        self._place_length(float((ends[1] - ends[0]) @ right), float((ends[1] - ends[0]) @ up))
        self.length_text.SetInput(format_length_mm(line.length_mm))
        self.length_text.SetVisibility(True)
