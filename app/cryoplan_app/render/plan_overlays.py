"""The plan drawn over a 2-D view: probes and isotherm contours (VTK, no Qt).

Probes are drawn projected onto the shown plane: the shaft as a thin line,
the freezing segment as a thick ice-blue bar, a dot at the tip, a small
square handle at the entry, a ring where the shaft crosses the plane and the
probe's name beside its entry. The selected probe is yellow. Isotherms are
lines in one colour per temperature (:func:`isotherm_color`), the lethal one
thicker, with a legend in the view's lower right corner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkTextActor,
)

from cryoplan_app.model.probe_geometry import ProbeParts, plane_crossing, project_onto_plane

RGB = tuple[float, float, float]

SHAFT_COLOR: RGB = (0.88, 0.88, 0.92)
SELECTED_COLOR: RGB = (1.0, 0.88, 0.15)
ACTIVE_COLOR: RGB = (0.45, 0.78, 1.0)
# Known isotherms get fixed colours, so that a temperature looks the same in every view
# and in the 3-D surfaces; others are interpolated between them.
_ISOTHERM_COLORS: tuple[tuple[float, RGB], ...] = (
    (0.0, (0.25, 0.92, 1.0)),
    (-20.0, (0.55, 1.0, 0.2)),
    (-40.0, (1.0, 0.25, 0.95)),
    (-60.0, (0.6, 0.3, 1.0)),
)
SHAFT_WIDTH_PX = 2.0
ACTIVE_WIDTH_PX = 7.0
TIP_SIZE_PX = 11.0
HANDLE_SIZE_PX = 9.0
# Where the shaft pierces the shown plane: a small orange square.
CROSSING_SIZE_PX = 7.0
ISOTHERM_WIDTH_PX = 2.0
LETHAL_WIDTH_PX = 3.5
LABEL_FONT_PX = 16
LEGEND_FONT_PX = 15


def isotherm_color(level_c: float) -> RGB:
    """The colour of the isotherm ``level_c`` (°C), the same in 2-D and 3-D."""
    temperatures = [t for t, _ in _ISOTHERM_COLORS]
    colors = np.array([c for _, c in _ISOTHERM_COLORS])
    # np.interp wants increasing abscissae: the table runs from warm to cold.
    channels = [
        float(np.interp(level_c, temperatures[::-1], colors[::-1, channel])) for channel in range(3)
    ]
    return channels[0], channels[1], channels[2]


def _polydata(polylines: Sequence[NDArray[np.float64]], *, vertices: bool = False) -> vtkPolyData:
    points = vtkPoints()
    cells = vtkCellArray()
    for line in polylines:
        ids = [points.InsertNextPoint(*map(float, point)) for point in line]
        cells.InsertNextCell(len(ids))
        for point_id in ids:
            cells.InsertCellPoint(point_id)
    data = vtkPolyData()
    data.SetPoints(points)
    if vertices:
        data.SetVerts(cells)
    else:
        data.SetLines(cells)
    return data


def _actor(*, width: float = 1.0, point_size: float = 1.0, spheres: bool = False) -> vtkActor:
    mapper = vtkPolyDataMapper()
    mapper.SetInputData(vtkPolyData())
    actor = vtkActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    prop.SetLineWidth(width)
    prop.SetPointSize(point_size)
    prop.SetRenderPointsAsSpheres(spheres)
    prop.LightingOff()
    actor.PickableOff()
    return actor


def _set(actor: vtkActor, data: vtkPolyData, color: RGB) -> None:
    actor.GetMapper().SetInputData(data)
    actor.GetProperty().SetColor(*color)
    actor.SetVisibility(data.GetNumberOfPoints() > 0)


class _ProbeActors:
    """The actors of one probe in one view."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self.shaft = _actor(width=SHAFT_WIDTH_PX)
        self.active = _actor(width=ACTIVE_WIDTH_PX)
        self.tip = _actor(point_size=TIP_SIZE_PX, spheres=True)
        self.entry = _actor(point_size=HANDLE_SIZE_PX)
        self.crossing = _actor(point_size=CROSSING_SIZE_PX)
        self.crossing.GetProperty().SetRepresentationToPoints()
        self.label = vtkTextActor()
        self.label.GetPositionCoordinate().SetCoordinateSystemToWorld()
        text = self.label.GetTextProperty()
        text.SetFontSize(LABEL_FONT_PX)
        text.SetBold(True)
        text.SetShadow(True)
        text.SetFontFamilyToArial()
        self.actors = (self.shaft, self.active, self.crossing, self.entry, self.tip, self.label)
        for actor in self.actors:
            renderer.AddViewProp(actor)

    def remove(self, renderer: vtkRenderer) -> None:
        for actor in self.actors:
            renderer.RemoveViewProp(actor)

    def show(
        self,
        parts: ProbeParts,
        *,
        origin: NDArray[np.float64],
        normal: NDArray[np.float64],
        lift: NDArray[np.float64],
        selected: bool,
    ) -> None:
        flat = project_onto_plane(
            np.stack([parts.tip, parts.entry, parts.active_start, parts.active_end]),
            origin_lps=origin,
            normal_lps=normal,
        )
        flat = flat + lift
        tip, entry, start, end = flat
        color = SELECTED_COLOR if selected else SHAFT_COLOR
        _set(self.shaft, _polydata([np.stack([tip, entry])]), color)
        _set(self.active, _polydata([np.stack([start, end])]), ACTIVE_COLOR)
        _set(self.tip, _polydata([tip[None]], vertices=True), color)
        _set(self.entry, _polydata([entry[None]], vertices=True), color)
        crossing = plane_crossing(parts.entry, parts.tip, origin_lps=origin, normal_lps=normal)
        crossings = [] if crossing is None else [(crossing + 2 * lift)[None]]
        _set(self.crossing, _polydata(crossings, vertices=True), (1.0, 0.35, 0.2))
        self.label.SetInput(parts.label)
        self.label.GetPositionCoordinate().SetValue(*map(float, entry))
        self.label.GetTextProperty().SetColor(*color)
        self.label.SetVisibility(True)

    def hide(self) -> None:
        for actor in self.actors:
            actor.SetVisibility(False)


class SlicePlanOverlay:
    """Probes and isotherm lines of the plan in one 2-D view's renderer."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self.renderer = renderer
        self._probes: list[_ProbeActors] = []
        self._isotherms: dict[float, vtkActor] = {}
        self._legend: list[vtkTextActor] = []

    def show_probes(
        self,
        probes: Sequence[ProbeParts],
        *,
        selected: int | None,
        origin: NDArray[np.float64],
        normal: NDArray[np.float64],
        lift_mm: float,
    ) -> None:
        """Draw ``probes`` projected on the plane through ``origin`` with unit ``normal``.

        ``lift_mm`` moves the drawing towards the viewer (against ``normal``,
        the viewing direction), so that it lies over the image.
        """
        while len(self._probes) < len(probes):
            self._probes.append(_ProbeActors(self.renderer))
        lift = -lift_mm * normal
        for index, actors in enumerate(self._probes):
            if index < len(probes):
                actors.show(
                    probes[index],
                    origin=origin,
                    normal=normal,
                    lift=lift,
                    selected=index == selected,
                )
            else:
                actors.hide()

    def show_isotherms(
        self,
        contours: Mapping[float, Sequence[NDArray[np.float64]]],
        *,
        lethal_c: float,
        lift: NDArray[np.float64],
    ) -> None:
        """Draw isotherm lines (LPS polylines per level) and their legend."""
        for level, actor in list(self._isotherms.items()):
            if level not in contours:
                self.renderer.RemoveActor(actor)
                del self._isotherms[level]
        for level, lines in contours.items():
            actor = self._isotherms.get(level)
            if actor is None:
                actor = _actor(width=ISOTHERM_WIDTH_PX)
                self.renderer.AddActor(actor)
                self._isotherms[level] = actor
            width = LETHAL_WIDTH_PX if level == lethal_c else ISOTHERM_WIDTH_PX
            actor.GetProperty().SetLineWidth(width)
            _set(actor, _polydata([line + lift for line in lines]), isotherm_color(level))
        self._show_legend(sorted(contours, reverse=True), lethal_c)

    def _show_legend(self, levels: list[float], lethal_c: float) -> None:
        for actor in self._legend:
            self.renderer.RemoveViewProp(actor)
        self._legend = []
        for row, level in enumerate(reversed(levels)):
            actor = vtkTextActor()
            suffix = " lethal" if level == lethal_c else ""
            actor.SetInput(f"{level:g} °C{suffix}")
            text = actor.GetTextProperty()
            text.SetFontSize(LEGEND_FONT_PX)
            text.SetBold(level == lethal_c)
            text.SetShadow(True)
            text.SetFontFamilyToArial()
            text.SetColor(*isotherm_color(level))
            text.SetJustification(2)
            actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
            actor.SetPosition(0.99, 0.01 + 0.045 * row)
            self.renderer.AddViewProp(actor)
            self._legend.append(actor)

    def clear(self) -> None:
        for actors in self._probes:
            actors.hide()
        self.show_isotherms({}, lethal_c=0.0, lift=np.zeros(3))
