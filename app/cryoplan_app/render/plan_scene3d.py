"""The plan in the 3-D view: probe tubes, isotherm surfaces and the margin map (VTK, no Qt).

Probes are thin tubes from the entry to their freezing segment (yellow when
selected); the freezing segment is a translucent ice-blue sleeve around a hair
of a core, the tip a small sphere, so that the tumor and the isotherms inside
a ring of probes stay visible. Isotherm surfaces
are translucent, in the colours of the 2-D contours. The margin map paints the
tumor surface with the signed distance to the lethal isotherm on a diverging
scale (red: tumor outside the lethal zone, white: on its edge, blue: covered
with margin) with a colour bar.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonDataModel import vtkPolyData
from vtkmodules.vtkFiltersCore import vtkFlyingEdges3D, vtkTubeFilter
from vtkmodules.vtkFiltersSources import vtkLineSource, vtkSphereSource
from vtkmodules.vtkRenderingAnnotation import vtkScalarBarActor
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkColorTransferFunction,
    vtkPolyDataMapper,
    vtkRenderer,
)

from cryoplan_app.model.plan_state import TemperatureField
from cryoplan_app.model.probe_geometry import ProbeParts
from cryoplan_app.render.image_data import image_data, placement_matrix
from cryoplan_app.render.plan_overlays import (
    ACTIVE_COLOR,
    SELECTED_COLOR,
    SHAFT_COLOR,
    isotherm_color,
)

#: Margins beyond this many mm take the end colours of the margin map.
MARGIN_RANGE_MM = 10.0
# Thin probes would vanish in a whole-body view: tubes are at least this thick.
_MIN_TUBE_RADIUS_MM = 0.6
# Shafts are drawn at this share of the probe's diameter (a radius of 0.5 would be true
# size): thin lines that hide little of what lies behind them.
_SHAFT_RADIUS_PER_DIAMETER = 0.35
# The freezing segment's sleeve: this many times the probe's true radius.
_ACTIVE_RADIUS_FACTOR = 1.4
# The shaft inside the sleeve is drawn this much thinner than outside.
_CORE_RADIUS_FACTOR = 0.4
#: Opacity of the freezing segments' sleeves.
ACTIVE_OPACITY = 0.35
# Warm isotherms enclose the colder ones: the outer shells are the most transparent.
_SURFACE_OPACITY = {0.0: 0.18, -20.0: 0.3}
_LETHAL_OPACITY = 0.45


def _tube(start: NDArray[np.float64], stop: NDArray[np.float64], radius_mm: float) -> vtkPolyData:
    line = vtkLineSource()
    line.SetPoint1(*map(float, start))
    line.SetPoint2(*map(float, stop))
    tube = vtkTubeFilter()
    tube.SetInputConnection(line.GetOutputPort())
    tube.SetRadius(radius_mm)
    tube.SetNumberOfSides(16)
    tube.CappingOn()
    tube.Update()
    return tube.GetOutput()


def _sphere(centre: NDArray[np.float64], radius_mm: float) -> vtkPolyData:
    sphere = vtkSphereSource()
    sphere.SetCenter(*map(float, centre))
    sphere.SetRadius(radius_mm)
    sphere.SetThetaResolution(16)
    sphere.SetPhiResolution(12)
    sphere.Update()
    return sphere.GetOutput()


def _surface_actor(data: vtkPolyData, color: tuple[float, float, float]) -> vtkActor:
    mapper = vtkPolyDataMapper()
    mapper.SetInputData(data)
    mapper.ScalarVisibilityOff()
    actor = vtkActor()
    actor.SetMapper(mapper)
    actor.GetProperty().SetColor(*color)
    actor.GetProperty().SetSpecular(0.3)
    actor.GetProperty().SetSpecularPower(25.0)
    return actor


def margin_colors() -> vtkColorTransferFunction:
    """Diverging map of the signed margin: red below 0 mm, white at 0, blue above."""
    colors = vtkColorTransferFunction()
    colors.SetColorSpaceToDiverging()
    colors.AddRGBPoint(-MARGIN_RANGE_MM, 0.75, 0.05, 0.05)
    colors.AddRGBPoint(0.0, 0.97, 0.97, 0.97)
    colors.AddRGBPoint(MARGIN_RANGE_MM, 0.1, 0.3, 0.85)
    colors.ClampingOn()
    return colors


class PlanScene3D:
    """Probes, isotherm surfaces and the margin map in the 3-D view's renderer."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self.renderer = renderer
        self._probe_actors: list[vtkActor] = []
        self._isotherm_actors: dict[float, vtkActor] = {}
        self._margin_actor: vtkActor | None = None
        self._bar = vtkScalarBarActor()
        self._bar.SetLookupTable(margin_colors())
        self._bar.SetTitle("Margin mm")
        self._bar.SetNumberOfLabels(5)
        self._bar.SetLabelFormat("%.0f")
        self._bar.SetOrientationToVertical()
        self._bar.UnconstrainedFontSizeOn()
        # The title is centred over the bar's box: a box wide enough for it keeps it
        # inside narrow 4-up views; the thin bar sits at the box's left.
        self._bar.SetBarRatio(0.18)
        self._bar.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
        self._bar.SetPosition(0.74, 0.06)
        self._bar.SetWidth(0.24)
        self._bar.SetHeight(0.4)
        for text in (self._bar.GetTitleTextProperty(), self._bar.GetLabelTextProperty()):
            text.SetFontSize(14)
            text.SetBold(False)
            text.SetItalic(False)
            text.SetShadow(True)
        self._bar.SetVisibility(False)
        renderer.AddViewProp(self._bar)

    # -- probes ---------------------------------------------------------------------------
    def show_probes(self, probes: Sequence[ProbeParts], *, selected: int | None) -> None:
        for actor in self._probe_actors:
            self.renderer.RemoveActor(actor)
        self._probe_actors = []
        for index, parts in enumerate(probes):
            radius = max(_SHAFT_RADIUS_PER_DIAMETER * parts.diameter_mm, _MIN_TUBE_RADIUS_MM)
            sleeve_mm = _ACTIVE_RADIUS_FACTOR * max(0.5 * parts.diameter_mm, radius)
            color = SELECTED_COLOR if index == selected else SHAFT_COLOR
            pieces = [(_sphere(parts.tip, radius), color, 1.0)]
            if np.linalg.norm(parts.active_end - parts.active_start) > 0:
                active = _tube(parts.active_start, parts.active_end, sleeve_mm)
                pieces += [
                    (_tube(parts.active_end, parts.entry, radius), color, 1.0),
                    (_tube(parts.tip, parts.active_end, radius * _CORE_RADIUS_FACTOR), color, 1.0),
                    (active, ACTIVE_COLOR, ACTIVE_OPACITY),
                ]
            else:  # a model the library lacks: no freezing segment known
                pieces.append((_tube(parts.tip, parts.entry, radius), color, 1.0))
            for data, piece_color, opacity in pieces:
                actor = _surface_actor(data, piece_color)
                actor.GetProperty().SetOpacity(opacity)
                self.renderer.AddActor(actor)
                self._probe_actors.append(actor)

    # -- isotherms ------------------------------------------------------------------------
    def show_isotherms(
        self, field: TemperatureField | None, levels_c: Sequence[float], *, lethal_c: float
    ) -> None:
        """Translucent surfaces of ``levels_c`` of ``field`` (none without a field)."""
        for actor in self._isotherm_actors.values():
            self.renderer.RemoveActor(actor)
        self._isotherm_actors = {}
        if field is None:
            return
        data = image_data(field.min_temperature_c, field.geometry)
        placement = placement_matrix(field.geometry)
        values = field.min_temperature_c
        for level in levels_c:
            if values.min() > level:
                continue
            edges = vtkFlyingEdges3D()
            edges.SetInputData(data)
            edges.SetValue(0, float(level))
            edges.ComputeNormalsOn()
            edges.Update()
            surface = vtkPolyData()
            surface.DeepCopy(edges.GetOutput())
            actor = _surface_actor(surface, isotherm_color(level))
            actor.SetUserMatrix(placement)
            opacity = _LETHAL_OPACITY if level == lethal_c else _SURFACE_OPACITY.get(level, 0.3)
            actor.GetProperty().SetOpacity(opacity)
            self.renderer.AddActor(actor)
            self._isotherm_actors[float(level)] = actor

    # -- margin map -----------------------------------------------------------------------
    def show_margin_map(
        self, tumor_surface_lps: vtkPolyData | None, margins_mm: NDArray[np.float64] | None
    ) -> None:
        """Paint ``tumor_surface_lps`` (points in LPS) with ``margins_mm`` per point; None hides."""
        if self._margin_actor is not None:
            self.renderer.RemoveActor(self._margin_actor)
            self._margin_actor = None
        shown = tumor_surface_lps is not None and margins_mm is not None
        self._bar.SetVisibility(shown)
        if not shown:
            return
        painted = vtkPolyData()
        painted.ShallowCopy(tumor_surface_lps)
        scalars = numpy_support.numpy_to_vtk(np.asarray(margins_mm, dtype=np.float64), deep=True)
        scalars.SetName("margin_mm")
        painted.GetPointData().SetScalars(scalars)
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(painted)
        mapper.SetLookupTable(margin_colors())
        mapper.UseLookupTableScalarRangeOn()
        mapper.ScalarVisibilityOn()
        actor = vtkActor()
        actor.SetMapper(mapper)
        actor.GetProperty().SetSpecular(0.2)
        self.renderer.AddActor(actor)
        self._margin_actor = actor

    @property
    def margin_shown(self) -> bool:
        return self._margin_actor is not None

    def clear(self) -> None:
        self.show_probes((), selected=None)
        self.show_isotherms(None, (), lethal_c=0.0)
        self.show_margin_map(None, None)
