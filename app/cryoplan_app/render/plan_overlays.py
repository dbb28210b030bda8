"""The plan drawn over a 2-D view: probes and isotherm contours (VTK, no Qt).

Probes are drawn projected onto the shown plane: the shaft as a thin line,
the freezing segment as an ice-blue outline (a hollow bar, so that the tumor
under parallel probes stays visible), a dot at the tip, a small square handle
at the entry, a square where the shaft crosses the plane and the probe's name
beside its entry, moved aside with a leader line where names would overlap.
Probes whose freezing segment lies away from the plane are drawn faint. The
selected probe is yellow. Isotherms are lines in one colour per temperature
(:func:`isotherm_color`), the lethal one thicker, with a legend in the view's
lower right corner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkActor2D,
    vtkCoordinate,
    vtkPolyDataMapper,
    vtkPolyDataMapper2D,
    vtkRenderer,
    vtkTextActor,
)

from cryoplan_app.model.probe_geometry import ProbeParts, plane_crossing, project_onto_plane
from cryoplan_app.render.label_layout import leader_end, place_labels
from planning_core.display_colors import isotherm_color

RGB = tuple[float, float, float]

SHAFT_COLOR: RGB = (0.88, 0.88, 0.92)
SELECTED_COLOR: RGB = (1.0, 0.88, 0.15)
ACTIVE_COLOR: RGB = (0.45, 0.78, 1.0)
SHAFT_WIDTH_PX = 1.5
ACTIVE_WIDTH_PX = 1.0
#: The freezing segment's outline runs this far either side of the shaft (at least the
#: probe's radius).
ACTIVE_HALF_WIDTH_PX = 3.0
TIP_SIZE_PX = 7.0
HANDLE_SIZE_PX = 7.0
#: A probe whose freezing segment comes this close to the shown plane freezes in it.
NEAR_PLANE_MM = 3.0
NEAR_OPACITY = 0.9
PROJECTED_OPACITY = 0.3
# Where the shaft pierces the shown plane: a small orange square.
CROSSING_SIZE_PX = 7.0
ISOTHERM_WIDTH_PX = 2.0
LETHAL_WIDTH_PX = 3.5
LABEL_FONT_PX = 16
LEGEND_FONT_PX = 15


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


def _set(actor: vtkActor, data: vtkPolyData, color: RGB, opacity: float = 1.0) -> None:
    actor.GetMapper().SetInputData(data)
    actor.GetProperty().SetColor(*color)
    actor.GetProperty().SetOpacity(opacity)
    actor.SetVisibility(data.GetNumberOfPoints() > 0)


def _leader_actor() -> vtkActor2D:
    """Thin lines in display pixels from moved probe names back to their entries."""
    mapper = vtkPolyDataMapper2D()
    mapper.SetInputData(vtkPolyData())
    actor = vtkActor2D()
    actor.SetMapper(mapper)
    actor.GetProperty().SetColor(*SHAFT_COLOR)
    actor.GetProperty().SetLineWidth(1.0)
    actor.GetProperty().SetOpacity(0.8)
    actor.SetVisibility(False)
    return actor


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
        self.label.GetPositionCoordinate().SetCoordinateSystemToDisplay()
        text = self.label.GetTextProperty()
        text.SetFontSize(LABEL_FONT_PX)
        text.SetBold(True)
        text.SetShadow(True)
        text.SetFontFamilyToArial()
        self.anchor = np.zeros(3)  # where the label belongs (LPS): the drawn entry point
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
        mm_per_px: float,
        near_mm: float,
    ) -> None:
        flat = project_onto_plane(
            np.stack([parts.tip, parts.entry, parts.active_start, parts.active_end]),
            origin_lps=origin,
            normal_lps=normal,
        )
        flat = flat + lift
        tip, entry, start, end = flat
        color = SELECTED_COLOR if selected else SHAFT_COLOR
        near = (
            selected
            or _segment_plane_distance_mm(
                parts.active_start, parts.active_end, origin=origin, normal=normal
            )
            <= near_mm
        )
        opacity = NEAR_OPACITY if near else PROJECTED_OPACITY
        # The shaft stops at the freezing segment, which is drawn on its own.
        shaft = [np.stack([entry, end]), np.stack([start, tip])]
        _set(self.shaft, _polydata(shaft), color, opacity)
        if near:  # a hollow outline: the tissue it freezes stays visible
            half_width_mm = max(ACTIVE_HALF_WIDTH_PX * mm_per_px, 0.5 * parts.diameter_mm)
            segment = _segment_outline(start, end, normal, half_width_mm)
        else:  # a faint line: the outlines of several such probes would hatch the image
            segment = [np.stack([start, end])]
        _set(self.active, _polydata(segment), ACTIVE_COLOR, opacity)
        _set(self.tip, _polydata([tip[None]], vertices=True), color, opacity)
        _set(self.entry, _polydata([entry[None]], vertices=True), color, opacity)
        crossing = plane_crossing(parts.entry, parts.tip, origin_lps=origin, normal_lps=normal)
        crossings = [] if crossing is None else [(crossing + 2 * lift)[None]]
        _set(self.crossing, _polydata(crossings, vertices=True), (1.0, 0.35, 0.2))
        self.label.SetInput(parts.label)
        self.label.GetTextProperty().SetColor(*color)
        self.label.SetVisibility(True)
        self.anchor = entry

    def hide(self) -> None:
        for actor in self.actors:
            actor.SetVisibility(False)


def _segment_plane_distance_mm(
    start: NDArray[np.float64],
    stop: NDArray[np.float64],
    *,
    origin: NDArray[np.float64],
    normal: NDArray[np.float64],
) -> float:
    """Distance between a segment and a plane: 0 when it crosses, else its nearer end's."""
    a, b = float((start - origin) @ normal), float((stop - origin) @ normal)
    return 0.0 if a * b <= 0.0 else min(abs(a), abs(b))


def _segment_outline(
    start: NDArray[np.float64],
    stop: NDArray[np.float64],
    normal: NDArray[np.float64],
    half_width_mm: float,
) -> list[NDArray[np.float64]]:
    """A closed rectangle ``half_width_mm`` either side of a segment lying in a plane.

    Empty when the segment, seen along ``normal``, is a point (a probe along the view).
    """
    along = stop - start
    side = np.cross(normal, along)
    length = float(np.linalg.norm(side))
    if length < 1e-6:
        return []
    side *= half_width_mm / length
    return [np.stack([start + side, stop + side, stop - side, start - side, start + side])]


class SlicePlanOverlay:
    """Probes and isotherm lines of the plan in one 2-D view's renderer.

    The probes' names are placed before each render, where they overlap neither
    each other nor the probes' entries (:mod:`~cryoplan_app.render.label_layout`).
    """

    def __init__(self, renderer: vtkRenderer) -> None:
        self.renderer = renderer
        self._probes: list[_ProbeActors] = []
        self._shown = 0  # how many of ``_probes`` show a probe
        self._order: list[int] = []  # which probe's name is placed first
        self._isotherms: dict[float, vtkActor] = {}
        self._legend: list[vtkTextActor] = []
        self._legend_key: tuple[tuple[float, ...], float] | None = None
        self._leaders = _leader_actor()
        self._target_corners: NDArray[np.float64] | None = None
        renderer.AddViewProp(self._leaders)
        renderer.AddObserver("StartEvent", lambda *_args: self._place_labels())

    def show_probes(
        self,
        probes: Sequence[ProbeParts],
        *,
        selected: int | None,
        origin: NDArray[np.float64],
        normal: NDArray[np.float64],
        lift_mm: float,
        near_mm: float = NEAR_PLANE_MM,
    ) -> None:
        """Draw ``probes`` projected on the plane through ``origin`` with unit ``normal``.

        ``lift_mm`` moves the drawing towards the viewer (against ``normal``,
        the viewing direction), so that it lies over the image. Probes whose
        freezing segment lies farther than ``near_mm`` from the plane are drawn
        fainter: they freeze elsewhere.
        """
        while len(self._probes) < len(probes):
            self._probes.append(_ProbeActors(self.renderer))
        lift = -lift_mm * normal
        mm_per_px = self.mm_per_pixel()
        for index, actors in enumerate(self._probes):
            if index < len(probes):
                actors.show(
                    probes[index],
                    origin=origin,
                    normal=normal,
                    lift=lift,
                    selected=index == selected,
                    mm_per_px=mm_per_px,
                    near_mm=near_mm,
                )
            else:
                actors.hide()
        self._shown = len(probes)
        self._order = list(range(len(probes)))
        if selected is not None and 0 <= selected < len(probes):
            self._order.remove(selected)
            self._order.insert(0, selected)

    def set_target_box(self, corners_lps: NDArray[np.float64] | None) -> None:
        """Keep probe names off the target: the screen box around these LPS points."""
        self._target_corners = corners_lps

    def _target_box_px(self) -> list[tuple[float, float, float, float]]:
        if self._target_corners is None or not len(self._target_corners):
            return []
        coordinate = vtkCoordinate()
        coordinate.SetCoordinateSystemToWorld()
        points = []
        for corner in self._target_corners:
            coordinate.SetValue(*map(float, corner))
            points.append(coordinate.GetComputedDoubleDisplayValue(self.renderer))
        (x0, y0), (x1, y1) = np.min(points, axis=0), np.max(points, axis=0)
        return [(float(x0), float(y0), float(x1), float(y1))]

    def mm_per_pixel(self) -> float:
        """Size of a screen pixel at the renderer's parallel projection (mm)."""
        height_px = max(self.renderer.GetSize()[1], 1)
        return 2.0 * self.renderer.GetActiveCamera().GetParallelScale() / height_px

    @property
    def label_actors(self) -> list[vtkTextActor]:
        """The probe name actors in use, in probe order."""
        return [actors.label for actors in self._probes[: self._shown]]

    def _other_text_boxes(self) -> list[tuple[float, float, float, float]]:
        """Display boxes (x0, y0, x1, y1) of the view's other texts: title, letters, legend."""
        ours = {id(actor) for actor in self.label_actors}
        boxes = []
        props = self.renderer.GetViewProps()
        props.InitTraversal()
        for _ in range(props.GetNumberOfItems()):
            actor = props.GetNextProp()
            if (
                isinstance(actor, vtkTextActor)
                and actor.GetVisibility()
                and actor.GetInput()
                and id(actor) not in ours
            ):
                # The box is relative to the text's anchor.
                x, y = actor.GetPositionCoordinate().GetComputedDoubleDisplayValue(self.renderer)
                box = [0.0, 0.0, 0.0, 0.0]
                actor.GetBoundingBox(self.renderer, box)
                boxes.append((x + box[0], y + box[2], x + box[1], y + box[3]))
        return boxes

    def _place_labels(self) -> None:
        """Put each shown probe's name beside its entry, clear of the others (before a render)."""
        width_px, height_px = self.renderer.GetSize()
        if not self._shown or width_px <= 0 or height_px <= 0:
            self._leaders.SetVisibility(False)
            return
        coordinate = vtkCoordinate()
        coordinate.SetCoordinateSystemToWorld()
        anchors, sizes = [], []
        for index in self._order:
            actors = self._probes[index]
            coordinate.SetValue(*map(float, actors.anchor))
            anchors.append(coordinate.GetComputedDoubleDisplayValue(self.renderer))
            size = [0.0, 0.0]
            actors.label.GetSize(self.renderer, size)
            sizes.append(size)
        places = place_labels(
            anchors,
            sizes,
            (float(width_px), float(height_px)),
            keep_clear_px=[*self._other_text_boxes(), *self._target_box_px()],
        )
        leaders = []
        for index, place, anchor, size in zip(self._order, places, anchors, sizes, strict=True):
            label = self._probes[index].label
            label.SetVisibility(place is not None)
            if place is None:
                continue
            label.SetPosition(place.x_px, place.y_px)
            if place.leader:
                leaders.append(np.array([anchor, leader_end(place, size, anchor)]))
        self._leaders.GetMapper().SetInputData(_polydata([np.c_[line, [0, 0]] for line in leaders]))
        self._leaders.SetVisibility(bool(leaders))

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
        # Called on every slice change; the legend only changes with its levels.
        key = (tuple(levels), lethal_c)
        if key == self._legend_key:
            return
        self._legend_key = key
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
        self._shown = 0
        self.show_isotherms({}, lethal_c=0.0, lift=np.zeros(3))
