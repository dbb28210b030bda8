"""A 2-D view resliced along the selected probe (or the first one): in-plane or across its tip.

Scrolling, zooming and panning are not offered here: the view follows the
probe. The wheel moves the crosshair along the probe's shaft, so the other
views show where along the path one is.
"""

from __future__ import annotations

from PyQt6.QtGui import QWheelEvent
from PyQt6.QtWidgets import QWidget
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleUser

from cryoplan_app.model.isotherms import plane_contours
from cryoplan_app.model.label_outlines import (
    label_box_corners_lps,
    outline_opacity,
    outline_order,
)
from cryoplan_app.model.probe_geometry import ProbeParts
from cryoplan_app.model.session import Session
from cryoplan_app.qt.vtk_widget import RenderWidget
from cryoplan_app.render.image_data import placement_matrix, shared_image_data
from cryoplan_app.render.labels import label_lookup_table
from cryoplan_app.render.probe_scene import ProbeScene
from planning_core.errors import PlanningError

# Overlays float this many mm towards the viewer.
_LIFT_MM = 0.3
# Crosshair travel along the shaft per wheel notch.
_STEP_ALONG_SHAFT_MM = 2.0


class QtProbeView(RenderWidget):
    """Probe view of ``kind`` ``"inplane"`` or ``"across"`` (see :mod:`render.probe_scene`)."""

    def __init__(self, session: Session, kind: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.kind = kind
        self.scene = ProbeScene(kind)
        self.add_renderer(self.scene.renderer)
        self.SetInteractorStyle(vtkInteractorStyleUser())
        self.setMinimumSize(120, 120)
        for signal in (
            session.case_changed,
            session.document.labels_changed,
            session.document.plan_changed,
            session.document.selected_probe_changed,
        ):
            signal.connect(self._refresh)
        session.view.label_display_changed.connect(self._on_label_display)
        session.view.window_level_changed.connect(self._on_window_level)
        session.document.results_changed.connect(self._on_field)
        session.document.preview_changed.connect(self._on_field)
        self._refresh()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self._refresh()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._refresh()

    def shown_probe(self) -> tuple[int, ProbeParts] | None:
        """Index and parts of the probe shown: the selected one, else the first."""
        session = self.session
        if session.case is None or not session.document.plan.probes:
            return None
        try:
            parts = session.document.probe_parts()
        except PlanningError:
            return None
        index = (
            session.document.selected_probe if session.document.selected_probe is not None else 0
        )
        return index, parts[index]

    def _refresh(self, _value: object = None) -> None:
        if not self.isVisible():
            return  # refreshed when shown
        case = self.session.case
        if case is None:
            self.scene.show_probe(None, lift_mm=_LIFT_MM)
            self.scene.overlay.clear()
            self.request_render()
            return
        self.scene.set_image(shared_image_data(case.volume), placement_matrix(case.volume.geometry))
        self.scene.set_window_level(self.session.view.window_level)
        self._on_label_display()
        shown = self.shown_probe()
        self.scene.show_probe(None if shown is None else shown[1], lift_mm=_LIFT_MM)
        self._draw_plan()
        self.request_render()

    def _on_label_display(self, *_args: object) -> None:
        labels = self.session.document.labels
        if self.session.case is None:
            return
        placement = placement_matrix(self.session.case.volume.geometry)
        self.scene.set_labels(
            None if labels is None else shared_image_data(labels),
            placement,
            None
            if labels is None
            else label_lookup_table(labels.table, visible=self.session.view.filled_labels),
            opacity=self.session.view.label_opacity,
        )
        outlined = (
            () if labels is None else outline_order(labels, self.session.view.outlined_labels)
        )
        self.scene.set_label_outlines(
            None if labels is None else labels.voxels,
            None if labels is None else labels.geometry,
            () if labels is None else tuple(labels.info(name).value for name in outlined),
            None if labels is None else label_lookup_table(labels.table, visible=outlined),
            opacity=outline_opacity(self.session.view.label_opacity),
        )
        self.request_render()

    def _on_window_level(self, window_level: object) -> None:
        self.scene.set_window_level(self.session.view.window_level)
        self.request_render()

    def _on_field(self, _value: object = None) -> None:
        if self.isVisible() and self.session.case is not None:
            self._draw_plan()
            self.request_render()

    def _draw_plan(self) -> None:
        plane = self.scene.plane
        shown = self.shown_probe()
        if plane is None or shown is None:
            self.scene.overlay.clear()
            return
        direction = plane.view_direction
        self.scene.overlay.set_target_box(
            label_box_corners_lps(
                self.session.document.labels, self.session.document.plan.target_label
            )
        )
        self.scene.overlay.show_probes(
            self.session.document.probe_parts(),
            selected=shown[0],
            origin=plane.origin,
            normal=direction,
            lift_mm=_LIFT_MM,
        )
        field = self.session.document.temperature_field
        contours = (
            {}
            if field is None
            else plane_contours(
                field,
                self.session.document.isotherms_c,
                origin_lps=plane.origin,
                right_lps=plane.right,
                up_lps=plane.up,
            )
        )
        self.scene.overlay.show_isotherms(
            contours, lethal_c=self.session.document.lethal_isotherm_c, lift=-_LIFT_MM * direction
        )

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        shown = self.shown_probe()
        if shown is None:
            return
        steps = self.wheel_notches(event)
        if steps:
            parts = shown[1]
            self.session.view.set_crosshair(
                self.session.view.crosshair_lps + steps * _STEP_ALONG_SHAFT_MM * parts.direction
            )
