"""The 3-D view: slice planes at the crosshair, label surfaces, the volume outline.

Left drag rotates, right drag or the wheel zooms, middle drag pans (VTK's
trackball camera); R looks from the front again, F at the probes. Surfaces are built in a
worker thread when the view is on screen, and only for the visible labels.
The view renders at most every 150 ms while the crosshair moves, so scrolling
in the 2-D views stays fluid.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QKeyEvent
from PyQt6.QtWidgets import QWidget
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkInteractionWidgets import vtkOrientationMarkerWidget
from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor

from cryoplan_app.model.case import ImageCase
from cryoplan_app.model.planes import SLICE_VIEWS
from cryoplan_app.model.session import Session
from cryoplan_app.model.view_state import Layout
from cryoplan_app.qt.tasks import TaskRunner
from cryoplan_app.qt.vtk_widget import RenderWidget
from cryoplan_app.render.image_data import placement_matrix, shared_image_data
from cryoplan_app.render.plan_scene3d import PlanScene3D
from cryoplan_app.render.surface_builder import LabelSurfaceBuilder
from cryoplan_app.render.volume_scene import VolumeScene
from planning_core.errors import PlanningError
from planning_core.imaging.labels import LabelMap

_THROTTLE_MS = 150
#: Width of the scene around the probes when the view looks at the plan.
PLAN_FIELD_MM = 140.0


class QtVolumeView(RenderWidget):
    """3-D view of the session; builds label surfaces through ``runner``."""

    def __init__(self, session: Session, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent, throttle_ms=_THROTTLE_MS)
        self.session = session
        self.runner = runner
        self.scene = VolumeScene()
        self.add_renderer(self.scene.renderer)
        self.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
        self.setMinimumSize(120, 120)
        self._marker: vtkOrientationMarkerWidget | None = None
        self.surface_builder = LabelSurfaceBuilder(session, runner)
        self.surface_builder.built.connect(self._apply_surfaces)
        self._pending_surfaces = False
        session.case_changed.connect(self._on_case)
        session.document.labels_changed.connect(self._on_labels)
        session.view.crosshair_changed.connect(self._on_crosshair)
        session.view.window_level_changed.connect(self._on_window_level)
        session.view.label_display_changed.connect(self._on_label_display)
        session.view.planes_3d_changed.connect(self._on_planes)
        self.plan_scene = PlanScene3D(self.scene.renderer)
        self._isotherms_drawn_for: tuple[object, ...] = ()
        self._field_stale = False
        session.document.plan_changed.connect(self._on_plan)
        session.document.selected_probe_changed.connect(self._on_plan)
        session.document.results_changed.connect(self._on_field)
        session.document.preview_changed.connect(self._on_field)
        session.view.plan_focus_requested.connect(self.look_at_plan)
        if session.case is not None:
            self._on_case(session.case)

    # -- model -> scene -----------------------------------------------------------------
    def _on_case(self, case: ImageCase | None) -> None:
        if case is None:
            self.scene.clear()
            self.plan_scene.clear()
            self.surface_builder.forget()
            self.request_render()
            return
        geometry = case.volume.geometry
        self.scene.set_image(
            shared_image_data(case.volume),
            geometry,
            {v: self.session.view.frame(v) for v in SLICE_VIEWS},
            placement_matrix(geometry),
        )
        self.scene.set_window_level(self.session.view.window_level)
        self._on_crosshair(None)
        self.scene.reset_camera()
        self._on_labels(self.session.document.labels)
        self._on_plan()

    def _on_labels(self, labels: object) -> None:
        self.surface_builder.forget()
        self.scene.set_surfaces({}, ())
        self.scene.set_planes_visible(self.session.view.planes_3d)
        self._update_surfaces()
        self.request_render()

    def _on_label_display(self) -> None:
        self._show_label_surfaces()
        self._update_surfaces()
        self.request_render()

    def _on_plan(self, _value: object = None) -> None:
        if self.session.case is None:
            return
        try:
            parts = self.session.document.probe_parts()
        except PlanningError:  # no probe library: nothing to draw the probes with
            parts = ()
        self.plan_scene.show_probes(parts, selected=self.session.document.selected_probe)
        # Isotherm surfaces and the margin map depend on the plan only through its settings.
        drawn_for = (self.session.document.isotherms_c, self.session.document.lethal_isotherm_c)
        if drawn_for != self._isotherms_drawn_for:
            self._on_field()
        else:
            self.request_render()

    def _on_field(self, _value: object = None) -> None:
        if self.session.case is None:
            return
        # Built right before a render: drag previews arrive faster than this throttled
        # view draws, and a hidden view need not build them at all.
        self._field_stale = True
        self.request_render()

    def _show_field(self) -> None:
        self._field_stale = False
        self._isotherms_drawn_for = (
            self.session.document.isotherms_c,
            self.session.document.lethal_isotherm_c,
        )
        self.plan_scene.show_isotherms(
            self.session.document.temperature_field,
            self.session.document.isotherms_c,
            lethal_c=self.session.document.lethal_isotherm_c,
        )
        self._update_margin_map()

    def look_at_plan(self) -> None:
        """Look at the probes' freezing segments from their entry side."""
        if self.session.case is None or not self.session.document.plan.probes:
            return
        parts = self.session.document.probe_parts()
        centre = np.mean([0.5 * (p.active_start + p.active_end) for p in parts], axis=0)
        towards_entry = -np.mean([p.direction for p in parts], axis=0)
        if np.linalg.norm(towards_entry) < 1e-6:  # probes from opposite sides
            towards_entry = -parts[0].direction
        # Tilted off the shafts by a third, so that they show as lines, not points.
        side = np.cross(towards_entry, (0.0, 0.0, 1.0))
        if np.linalg.norm(side) < 1e-6:
            side = np.array((1.0, 0.0, 0.0))
        eye = towards_entry / np.linalg.norm(towards_entry) + 0.6 * side / np.linalg.norm(side)
        self.scene.look_at(centre, from_direction_lps=eye, field_mm=PLAN_FIELD_MM)
        self.request_render()

    def _update_margin_map(self) -> None:
        """Paint the tumor surface with its margin to the lethal isotherm, when both exist."""
        margin_map = self.surface_builder.margin_map()
        self.plan_scene.show_margin_map(*(margin_map or (None, None)))
        self._show_label_surfaces()

    def _show_label_surfaces(self) -> None:
        # The margin map replaces the plain tumor surface while it is shown.
        hidden = (
            {self.session.document.plan.target_label} if self.plan_scene.margin_shown else set()
        )
        self.scene.show_surfaces(n for n in self.session.view.visible_labels if n not in hidden)

    def _on_planes(self, shown: bool) -> None:
        self.scene.set_planes_visible(shown)
        self.request_render()

    def _on_crosshair(self, lps: object) -> None:
        self.scene.show_planes({v: self.session.view.slice_index(v) for v in SLICE_VIEWS})
        self.request_render()

    def _on_window_level(self, window_level: object) -> None:
        self.scene.set_window_level(self.session.view.window_level)
        self.request_render()

    # -- surfaces -----------------------------------------------------------------------
    def _update_surfaces(self) -> None:
        """Build the surfaces of visible labels that have none yet, when the view is shown."""
        labels = self.session.document.labels
        if labels is None:
            return
        if not self.isVisible():
            self._pending_surfaces = True
            return
        self._pending_surfaces = False
        self.surface_builder.build_missing()

    def _apply_surfaces(self, labels: LabelMap) -> None:
        self.scene.set_surfaces(self.surface_builder.surfaces, labels.table)
        self._update_margin_map()
        self.request_render()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._pending_surfaces:
            self._update_surfaces()

    def render_now(self) -> None:
        if self._field_stale and self.isVisible() and self.session.case is not None:
            self._show_field()
        if self.isVisible() and self._marker is None:
            super().render_now()  # initialises the interactor the marker needs
            self._marker = _orientation_marker(self)
        super().render_now()

    # -- input --------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_F and self.session.case is not None:
            self.look_at_plan()
            event.accept()
            return
        if event.key() == Qt.Key.Key_R and self.session.case is not None:
            self.scene.reset_camera()
            self.request_render()
            event.accept()
            return
        event.ignore()  # VTK's own keys (wireframe, stereo, quit...) stay off

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        event.ignore()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        layout = self.session.view.layout
        self.session.view.set_layout(
            Layout.VOLUME_3D if layout == Layout.FOUR_UP else Layout.FOUR_UP
        )


def _orientation_marker(widget: QtVolumeView) -> vtkOrientationMarkerWidget:
    """A small cube in the corner, its faces lettered with patient directions."""
    cube = vtkAnnotatedCubeActor()
    # World axes are LPS: +x is the patient's left, +y posterior, +z superior.
    cube.SetXPlusFaceText("L")
    cube.SetXMinusFaceText("R")
    cube.SetYPlusFaceText("P")
    cube.SetYMinusFaceText("A")
    cube.SetZPlusFaceText("S")
    cube.SetZMinusFaceText("I")
    cube.SetFaceTextScale(0.65)
    cube.GetCubeProperty().SetColor(0.55, 0.6, 0.7)
    cube.GetTextEdgesProperty().SetColor(0.2, 0.2, 0.2)
    marker = vtkOrientationMarkerWidget()
    marker.SetOrientationMarker(cube)
    marker.SetInteractor(widget.GetRenderWindow().GetInteractor())
    marker.SetViewport(0.0, 0.0, 0.16, 0.22)
    marker.SetEnabled(True)
    marker.InteractiveOff()
    return marker
