"""A 2-D view (axial, coronal or sagittal): draws the session, forwards mouse and keys to it.

:data:`CONTROLS_HELP` lists the mouse and keys (the Help menu shows it).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtGui import QKeyEvent, QMouseEvent, QWheelEvent
from PyQt6.QtWidgets import QWidget
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleUser

from cryoplan_app.model.case import ImageCase
from cryoplan_app.model.isotherms import plane_contours
from cryoplan_app.model.label_outlines import (
    label_box_corners_lps,
    outline_opacity,
    outline_order,
)
from cryoplan_app.model.planes import SLICE_VIEWS, SliceFrame
from cryoplan_app.model.probe_geometry import project_onto_plane
from cryoplan_app.model.session import Session
from cryoplan_app.model.sketch import Sketch
from cryoplan_app.model.view_state import Layout, Tool
from cryoplan_app.qt.vtk_widget import RenderWidget
from cryoplan_app.render.image_data import placement_matrix, shared_image_data
from cryoplan_app.render.labels import label_lookup_table
from cryoplan_app.render.plan_overlays import SlicePlanOverlay
from cryoplan_app.render.sketch_overlay import SketchOverlay
from cryoplan_app.render.slice_scene import VIEW_COLORS, SliceScene
from planning_core.errors import InvalidParameterError, PlanningError

CONTROLS_HELP = """\
Wheel, Up/Down arrows: previous/next slice; Page Up/Down: 10 slices; Home/End: first/last.
Left click or drag: move the crosshair (all views follow).
Right drag: window (left/right) and level (up/down); keys 1-5: window presets.
Middle drag or Shift + left drag: pan. Ctrl + wheel or +/-: zoom. R: reset zoom and pan.
Probe tool (P): drag a probe's tip or entry handle; Ctrl + drag (or drag the shaft) moves it all.
Ctrl+Z / Ctrl+Shift+Z: undo / redo.
Double click: this view alone / back to 4-up (Ctrl+1 to Ctrl+5 choose a layout).
3-D view: left drag rotates, right drag or wheel zooms, middle drag pans, R resets, F: probes."""

#: Overlays float this many slice spacings in front of the image plane.
OVERLAY_LIFT = 0.08
#: How close (logical pixels) the mouse must come to a probe handle or shaft to grab it.
PICK_RADIUS_PX = 9.0
_ZOOM_PER_STEP = 1.15
_PAGE_STEPS = 10


class QtSliceView(RenderWidget):
    """Shows ``view`` of the session's image with labels and crosshair."""

    def __init__(self, session: Session, view: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.view = view
        self.scene = SliceScene(view)
        self.add_renderer(self.scene.renderer)
        # This widget interprets the mouse itself; VTK's interactor only hosts the window.
        self.SetInteractorStyle(vtkInteractorStyleUser())
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(120, 120)
        self._drag_button: Qt.MouseButton | None = None
        self._drag_mode = ""
        self._last_pos = QPointF()
        session.case_changed.connect(self._on_case)
        session.document.labels_changed.connect(self._on_labels)
        session.view.crosshair_changed.connect(self._on_crosshair)
        session.view.window_level_changed.connect(self._on_window_level)
        session.view.camera_changed.connect(self._on_camera)
        session.view.label_display_changed.connect(self._on_label_display)
        self.overlay = SlicePlanOverlay(self.scene.renderer)
        self._probe_drag: _ProbeDrag | None = None
        self._plan_stale = False  # the overlays wait until the layout shows the view
        self._overlay_depth_mm: float | None = None  # the plane the overlays were drawn on
        session.document.plan_changed.connect(self._on_plan)
        session.document.selected_probe_changed.connect(self._on_plan)
        session.document.results_changed.connect(self._on_field)
        session.document.preview_changed.connect(self._on_field)
        session.view.tool_changed.connect(self._on_tool)
        self.sketch_overlay = SketchOverlay(self.scene.renderer)
        self._sketch: Sketch | None = None
        if session.case is not None:
            self._on_case(session.case)

    # -- model -> scene -----------------------------------------------------------------
    def _on_case(self, case: ImageCase | None) -> None:
        if case is None:
            self.scene.clear()
            self.overlay.clear()
            self.sketch_overlay.hide()
            self.request_render()
            return
        geometry = case.volume.geometry
        frames = {v: self.session.view.frame(v) for v in SLICE_VIEWS}
        frame = frames[self.view]
        # A line along an axis is where the view slicing across that axis cuts this one.
        across = {frames[v].normal_axis: v for v in SLICE_VIEWS}
        self.scene.set_image(
            shared_image_data(case.volume),
            geometry,
            frame,
            placement_matrix(geometry),
            line_colors={
                "horizontal": VIEW_COLORS[across[frame.up_axis]],
                "vertical": VIEW_COLORS[across[frame.right_axis]],
            },
        )
        self._on_labels(self.session.document.labels)
        self.scene.set_window_level(self.session.view.window_level)
        self.scene.show_slice(
            self.session.view.slice_index(self.view), self.session.view.crosshair_lps
        )
        self._fit()
        self._show_plan()
        self._show_sketch()
        self.request_render()

    def _on_labels(self, labels: object) -> None:
        session_labels = self.session.document.labels
        self.scene.set_labels(None if session_labels is None else shared_image_data(session_labels))
        self._on_label_display()

    def _on_label_display(self) -> None:
        session, labels = self.session, self.session.document.labels
        if labels is None:
            self.scene.set_label_outlines(None, ())
        else:
            self.scene.set_label_colors(
                label_lookup_table(labels.table, visible=session.view.filled_labels),
                opacity=session.view.label_opacity,
            )
            outlined = outline_order(labels, session.view.outlined_labels)
            self.scene.set_label_outlines(
                labels.voxels,
                tuple(labels.info(name).value for name in outlined),
                label_lookup_table(labels.table, visible=outlined),
                opacity=outline_opacity(session.view.label_opacity),
            )
        self.request_render()

    def _on_crosshair(self, lps: object) -> None:
        self.scene.show_slice(
            self.session.view.slice_index(self.view), self.session.view.crosshair_lps
        )
        self.scene.follow_slice()
        # The overlays depend on the shown plane, not on where in it the crosshair lies.
        if self._plane_depth_mm() != self._overlay_depth_mm:
            self._show_plan()
        self._show_sketch()
        self.request_render()

    def _on_plan(self, _value: object = None) -> None:
        if self.session.case is not None:
            self._show_plan()  # the isotherm levels follow the settings
            self.request_render()

    def _on_field(self, _value: object = None) -> None:
        if self.session.case is None:
            return
        if self._plan_stale or self.isHidden():
            self._show_plan()  # everything, now or once shown
        else:
            self._show_isotherms()
        self.request_render()

    def _on_tool(self, tool: Tool) -> None:
        cursor = Qt.CursorShape.CrossCursor if tool == Tool.PROBE else Qt.CursorShape.ArrowCursor
        self.setCursor(cursor)

    def _show_plan(self) -> None:
        # A view the layout hides draws its overlays when it is shown again.
        self._plan_stale = self.isHidden()
        if not self._plan_stale:
            self._overlay_depth_mm = self._plane_depth_mm()
            self._show_probes()
            self._show_isotherms()

    def _plane_depth_mm(self) -> float:
        frame, origin, _ = self._plane()
        return float(np.dot(origin, frame.view_direction_lps))

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if self._plan_stale and self.session.case is not None:
            self._show_plan()
        super().showEvent(event)

    def _plane(self) -> tuple[SliceFrame, NDArray[np.float64], float]:
        """The view's frame, the crosshair on the shown image plane and the overlay lift (mm)."""
        frame = self.session.view.frame(self.view)
        geometry = self.session.case.volume.geometry  # type: ignore[union-attr]
        lift_mm = OVERLAY_LIFT * float(geometry.spacing_mm[frame.normal_axis])
        return frame, self.scene.on_shown_plane(self.session.view.crosshair_lps), lift_mm

    def _show_probes(self) -> None:
        frame, origin, lift_mm = self._plane()
        try:
            parts = self.session.document.probe_parts()
        except PlanningError:  # no probe library: nothing to draw the probes with
            parts = ()
        self.overlay.set_target_box(
            label_box_corners_lps(
                self.session.document.labels, self.session.document.plan.target_label
            )
        )
        self.overlay.show_probes(
            parts,
            selected=self.session.document.selected_probe,
            origin=origin,
            normal=frame.view_direction_lps,
            lift_mm=lift_mm,
        )

    def _show_isotherms(self) -> None:
        frame, origin, lift_mm = self._plane()
        field = self.session.document.temperature_field
        contours = (
            {}
            if field is None
            else plane_contours(
                field,
                self.session.document.isotherms_c,
                origin_lps=origin,
                right_lps=frame.right_lps,
                up_lps=frame.up_lps,
            )
        )
        self.overlay.show_isotherms(
            contours,
            lethal_c=self.session.document.lethal_isotherm_c,
            lift=-lift_mm * frame.view_direction_lps,
        )

    def set_sketch(self, sketch: Sketch) -> None:
        """Draw ``sketch`` (the lesion tools' line and strokes) where it lies on the shown plane."""
        self._sketch = sketch
        sketch.changed.connect(self._on_sketch)
        self._on_sketch()

    def _on_sketch(self) -> None:
        self._show_sketch()
        self.request_render()

    def _show_sketch(self) -> None:
        if self._sketch is None:
            return
        if self.session.case is None:
            self.sketch_overlay.hide()
            return
        frame, origin, lift_mm = self._plane()
        spacing_mm = float(self.session.case.volume.geometry.spacing_mm[frame.normal_axis])
        self.sketch_overlay.show(
            self._sketch,
            origin=origin,
            normal=frame.view_direction_lps,
            right=frame.right_lps,
            up=frame.up_lps,
            half_mm=0.5 * spacing_mm,
            lift_mm=lift_mm,
        )

    def _on_window_level(self, window_level: object) -> None:
        self.scene.set_window_level(self.session.view.window_level)
        self.request_render()

    def _on_camera(self, view: str) -> None:
        if view == self.view:
            self._fit()
            self._redraw_probes()
            self.request_render()

    def _redraw_probes(self) -> None:
        """Draw the probes again after a zoom: their outlines keep their width in pixels."""
        if self.session.case is not None and not self._plan_stale and not self.isHidden():
            self._show_probes()

    def _fit(self) -> None:
        if self.session.case is not None:
            self.scene.set_camera(
                self.session.view.camera(self.view), viewport_px=self.viewport_px()
            )

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._fit()
        self._redraw_probes()

    # -- user input -> model ------------------------------------------------------------
    def lps_at(self, position: QPointF) -> object:
        """The LPS point on the shown plane under a widget position, or None without an image."""
        if self.session.case is None:
            return None
        ratio = self.devicePixelRatioF()
        _, height_px = self.viewport_px()
        return self.scene.display_to_lps(position.x() * ratio, height_px - 1 - position.y() * ratio)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self.setFocus()
        if self.session.case is None or self._drag_button is not None:
            return
        button = event.button()
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if (
            button == Qt.MouseButton.LeftButton
            and self.session.view.tool == Tool.PROBE
            and self._start_probe_drag(event)
        ):
            self._drag_mode = "probe"
        elif button == Qt.MouseButton.LeftButton and not shift:
            self._drag_mode = "crosshair"
            self._move_crosshair(event.position())
        elif button == Qt.MouseButton.RightButton:
            self._drag_mode = "window_level"
        elif button == Qt.MouseButton.MiddleButton or button == Qt.MouseButton.LeftButton:
            self._drag_mode = "pan"
        else:
            return
        self._drag_button = button
        self._last_pos = event.position()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self.session.case is None:
            return
        position = event.position()
        self.session.view.set_hover(self.lps_at(position))
        if self._drag_button is None:
            return
        dx = position.x() - self._last_pos.x()
        dy = position.y() - self._last_pos.y()
        self._last_pos = position
        if self._drag_mode == "probe":
            self._drag_probe(position)
        elif self._drag_mode == "crosshair":
            self._move_crosshair(position)
        elif self._drag_mode == "window_level":
            self.session.view.drag_window_level(dx_px=dx, dy_px=-dy)
        elif self._drag_mode == "pan":
            step = self.scene.mm_per_pixel * self.devicePixelRatioF()
            self.session.view.pan_view(self.view, right_mm=dx * step, up_mm=-dy * step)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == self._drag_button:
            if self._drag_mode == "probe":
                self._probe_drag = None
                self.session.document.end_drag()
            self._drag_button = None
            self._drag_mode = ""

    # -- probe handles ------------------------------------------------------------------
    def probe_handle_px(self, index: int, part: str) -> QPointF:
        """Widget position (logical pixels) of probe ``index``'s ``tip`` or ``entry`` handle.

        The handle is the point projected onto the shown plane, where the view draws it.
        """
        probe = self.session.document.plan.probes[index]
        point = probe.tip_lps_mm if part == "tip" else probe.entry_lps_mm
        frame, origin, _ = self._plane()
        flat = project_onto_plane(point, origin_lps=origin, normal_lps=frame.view_direction_lps)
        x, y = self.scene.lps_to_display(flat)
        ratio = self.devicePixelRatioF()
        _, height_px = self.viewport_px()
        return QPointF(x / ratio, (height_px - 1 - y) / ratio)

    def probe_at(self, position: QPointF) -> tuple[int, str] | None:
        """The probe handle (``tip``, ``entry``) or shaft (``shaft``) under a widget position.

        Handles win over shafts, and the selected probe over the others.
        """
        probes = self.session.document.plan.probes
        if not probes:
            return None
        order = list(range(len(probes)))
        selected = self.session.document.selected_probe
        if selected is not None:
            order.remove(selected)
            order.insert(0, selected)
        here = np.array([position.x(), position.y()])
        for index in order:
            for part in ("tip", "entry"):
                handle = self.probe_handle_px(index, part)
                if np.hypot(*(here - (handle.x(), handle.y()))) <= PICK_RADIUS_PX:
                    return index, part
        for index in order:
            tip = self.probe_handle_px(index, "tip")
            entry = self.probe_handle_px(index, "entry")
            if _segment_distance(here, (tip.x(), tip.y()), (entry.x(), entry.y())) <= (
                PICK_RADIUS_PX
            ):
                return index, "shaft"
        return None

    def _start_probe_drag(self, event: QMouseEvent) -> bool:
        hit = self.probe_at(event.position())
        start = self.lps_at(event.position())
        if hit is None or start is None:
            return False
        index, part = hit
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            part = "shaft"  # Ctrl moves the whole probe, also from a handle
        probe = self.session.document.plan.probes[index]
        self._probe_drag = _ProbeDrag(
            index, part, start, np.asarray(probe.tip_lps_mm), np.asarray(probe.entry_lps_mm)
        )
        self.session.document.select_probe(index)
        return True

    def _drag_probe(self, position: QPointF) -> None:
        drag = self._probe_drag
        now = self.lps_at(position)
        if drag is None or now is None:
            return
        # The mouse moves in the shown plane; handles keep their depth across it.
        delta = now - drag.start_lps
        tip = drag.tip + delta if drag.part in ("tip", "shaft") else None
        entry = drag.entry + delta if drag.part in ("entry", "shaft") else None
        # An entry dragged into the freezing segment is refused: the probe stays where it was.
        with contextlib.suppress(InvalidParameterError):
            self.session.document.move_probe(
                drag.index, tip_lps_mm=tip, entry_lps_mm=entry, dragging=True
            )

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            layout = self.session.view.layout
            self.session.view.set_layout(self.view if layout == Layout.FOUR_UP else Layout.FOUR_UP)

    def _move_crosshair(self, position: QPointF) -> None:
        point = self.lps_at(position)
        if point is not None:
            self.session.view.set_crosshair(point)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        if self.session.case is None:
            return
        steps = self.wheel_notches(event)
        if steps == 0:
            return
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.session.view.zoom_view(self.view, _ZOOM_PER_STEP**steps)
        else:
            self.session.view.step_slice(self.view, steps)

    def leaveEvent(self, event) -> None:  # noqa: N802
        if self.session.case is not None:
            self.session.view.set_hover(None)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if self.session.case is None:
            event.ignore()
            return
        key = event.key()
        Key = Qt.Key
        steps = {
            Key.Key_Up: 1,
            Key.Key_Down: -1,
            Key.Key_PageUp: _PAGE_STEPS,
            Key.Key_PageDown: -_PAGE_STEPS,
        }
        if key in steps:
            self.session.view.step_slice(self.view, steps[key])
        elif key in (Key.Key_Home, Key.Key_End):
            self._go_to_end(first=key == Key.Key_Home)
        elif key in (Key.Key_Plus, Key.Key_Equal):
            self.session.view.zoom_view(self.view, _ZOOM_PER_STEP)
        elif key == Key.Key_Minus:
            self.session.view.zoom_view(self.view, 1.0 / _ZOOM_PER_STEP)
        elif key == Key.Key_R:
            self.session.view.reset_view(self.view)
        else:
            event.ignore()  # leave it to the window's shortcuts
            return
        event.accept()

    def _go_to_end(self, *, first: bool) -> None:
        """Home: the first plane in the backward direction (I, P, R); End: the last (S, A, L)."""
        self.session.view.step_slice(
            self.view,
            -self.session.view.slice_count(self.view)
            if first
            else self.session.view.slice_count(self.view),
        )

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        event.ignore()


@dataclass(frozen=True, eq=False)
class _ProbeDrag:
    """A probe drag in progress: which probe and part, and where everything began."""

    index: int
    part: str  # "tip", "entry" or "shaft"
    start_lps: NDArray[np.float64]
    tip: NDArray[np.float64]
    entry: NDArray[np.float64]


def _segment_distance(point: ArrayLike, start: ArrayLike, stop: ArrayLike) -> float:
    """Distance from a 2-D point to the segment from ``start`` to ``stop``."""
    p, a, b = (np.asarray(v, dtype=np.float64) for v in (point, start, stop))
    length2 = float((b - a) @ (b - a))
    t = 0.0 if length2 == 0 else float(np.clip((p - a) @ (b - a) / length2, 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * (b - a))))
