"""The evented session: the single source of truth the views and panels draw.

Holds the open case, its label map, the crosshair (an LPS point shared by all
views), window/level, layout, per-view zoom and pan, how labels are shown, and
the plan being edited (:class:`~cryoplan_app.model.plan_state.PlanState`: probes,
protocol, settings, results). Every change goes through a method that
validates it and emits one signal; views listen and never keep their own copy
of this state. Edits of the plan and of the labels go through the undo
history (:class:`~cryoplan_app.model.history.History`). No Qt, no VTK.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cryoplan_app.model.case import ImageCase, case_from_files
from cryoplan_app.model.history import Command, History
from cryoplan_app.model.plan_files import OpenedPlan, read_plan_files, write_plan_files
from cryoplan_app.model.plan_state import (
    PlanResults,
    PlanState,
    TemperatureField,
    display_isotherms_c,
    inputs_key,
    simulation_results,
)
from cryoplan_app.model.planes import (
    SLICE_VIEWS,
    SliceFrame,
    clamp_to_volume,
    slice_count,
    slice_frames,
    slice_index,
    stepped,
    with_slice,
)
from cryoplan_app.model.probe_geometry import ProbeParts, probe_parts
from cryoplan_app.model.signals import Signal
from cryoplan_app.model.window_level import (
    WindowLevel,
    default_window_level,
    dragged,
    preset_window_level,
)
from planning_core.errors import InvalidParameterError, PlanningError
from planning_core.imaging.labels import LabelMap
from planning_core.planning.plan import Plan, PlannedProbe, PlanWarning
from planning_core.planning.settings import TABLE_DIRECTION_LPS, PlanSettings
from planning_core.thermal.probes import ProbeLibrary, ProbeModel, load_probe_library

#: Layouts of the view area: all four views, or one of them alone, or the probe-guidance views.
LAYOUTS: tuple[str, ...] = ("4up", *SLICE_VIEWS, "3d", "probe")
#: Shaft length from tip to entry of a probe added by :meth:`Session.add_probe_at`.
DEFAULT_PROBE_DEPTH_MM = 100.0
#: What a left drag in a 2-D view does: move the crosshair, or move probe handles.
TOOLS: tuple[str, ...] = ("navigate", "probe")
#: Tissues that fill most of the body; shown only on request, since they would hide the rest.
BULK_TISSUE_LABELS = frozenset({"body", "skin", "fat", "muscle"})
DEFAULT_LABEL_OPACITY = 0.45
# Zoom stays within these factors of the fitted view.
_ZOOM_LIMITS = (0.2, 40.0)


@dataclass(frozen=True)
class ViewCamera:
    """Zoom and pan of a 2-D view: ``zoom`` 1 fits the volume; ``pan_mm`` along screen right, up."""

    zoom: float = 1.0
    pan_mm: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class PointInfo:
    """What lies at an LPS point: for the status bar."""

    lps_mm: NDArray[np.float64]
    ijk: tuple[int, int, int]
    value: float
    units: str
    label: str | None

    def describe(self) -> str:
        x, y, z = self.lps_mm
        i, j, k = self.ijk
        value = f"{self.value:.0f}" if float(self.value).is_integer() else f"{self.value:.4g}"
        text = f"LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm   voxel ({i}, {j}, {k})   {value} {self.units}"
        return text + (f"   {self.label}" if self.label else "")


class Session:
    """State of one viewer window. See the module docstring.

    Signals (arguments in brackets):

    * ``case_changed`` (case or None): a case was opened or closed; everything else was reset.
    * ``labels_changed`` (LabelMap or None)
    * ``crosshair_changed`` (LPS point)
    * ``window_level_changed`` (WindowLevel)
    * ``layout_changed`` (layout name)
    * ``camera_changed`` (view name)
    * ``label_display_changed`` (): opacity, visibility or fill changed
    * ``selected_label_changed`` (name or None)
    * ``hover_changed`` (PointInfo or None): the point under the mouse
    * ``planes_3d_changed`` (bool): slice planes shown in the 3-D view or not
    * ``tool_changed`` (tool name)
    * ``history_changed`` (): an edit, undo, redo or save; ``dirty`` may have changed
    * ``plan_path_changed`` (Path or None): the file the plan was last saved to or opened from
    * ``drag_finished`` (): a probe drag ended (see :meth:`end_drag`)
    * ``plan_focus_requested`` (): views should show the probes (see :meth:`focus_on_plan`)
    * ``plan_changed`` (Plan), ``results_changed`` (PlanResults or None),
      ``preview_changed`` (TemperatureField or None), ``selected_probe_changed``
      (index or None): those of :attr:`plan_state`, repeated here for convenience

    Parameters
    ----------
    probe_library : ProbeLibrary, optional
        Probe models for :meth:`add_probe`; the packaged library by default.
    """

    def __init__(self, *, probe_library: ProbeLibrary | None = None) -> None:
        self.case_changed = Signal()
        self.labels_changed = Signal()
        self.crosshair_changed = Signal()
        self.window_level_changed = Signal()
        self.layout_changed = Signal()
        self.camera_changed = Signal()
        self.label_display_changed = Signal()
        self.selected_label_changed = Signal()
        self.hover_changed = Signal()
        self.planes_3d_changed = Signal()
        self._case: ImageCase | None = None
        self._labels: LabelMap | None = None
        self._frames: dict[str, SliceFrame] = {}
        self._crosshair = np.zeros(3)
        self._window_level = WindowLevel(400.0, 40.0, "abdomen")
        self._layout = "4up"
        self._cameras = {view: ViewCamera() for view in SLICE_VIEWS}
        self._label_opacity = DEFAULT_LABEL_OPACITY
        self._hidden_labels: frozenset[str] = frozenset()
        # Labels the 2-D views fill; the others are outlined, so the image shows through.
        self._filled_labels: frozenset[str] = frozenset()
        self._selected_label: str | None = None
        self._hover: PointInfo | None = None
        self._planes_3d = True
        self.tool_changed = Signal()
        self.plan_path_changed = Signal()
        self.history = History()
        self.history_changed = self.history.changed
        self.plan_state = PlanState()
        self.plan_changed = self.plan_state.plan_changed
        self.results_changed = self.plan_state.results_changed
        self.preview_changed = self.plan_state.preview_changed
        self.selected_probe_changed = self.plan_state.selected_probe_changed
        self.drag_finished = Signal()
        self.plan_focus_requested = Signal()
        self._tool = "navigate"
        self._dragging = False
        self._probe_library = probe_library
        self._plan_path: Path | None = None

    # -- case and labels ---------------------------------------------------------------
    @property
    def case(self) -> ImageCase | None:
        return self._case

    @property
    def labels(self) -> LabelMap | None:
        return self._labels

    def open_case(self, case: ImageCase) -> None:
        """Show ``case``: crosshair on the target's centre (else the volume's centre),
        default window, fitted views."""
        self._case = case
        geometry = case.volume.geometry
        self._frames = slice_frames(geometry)
        target = target_centre_lps(case.labels)
        self._crosshair = (
            geometry.index_to_lps(np.floor(np.asarray(geometry.size_ijk) / 2.0))
            if target is None
            else clamp_to_volume(geometry, target)
        )
        self._window_level = default_window_level(
            case.volume.modality, value_range=case.value_range
        )
        self._cameras = {view: ViewCamera() for view in SLICE_VIEWS}
        self._hover = None
        self._set_labels_quietly(case.labels)
        self._start_plan(new_plan_for(case))
        self.case_changed.emit(case)

    def close_case(self) -> None:
        self._case = None
        self._labels = None
        self._frames = {}
        self._hover = None
        self._selected_label = None
        self._start_plan(Plan())
        self.case_changed.emit(None)

    def set_labels(self, labels: LabelMap | None) -> None:
        """Replace the label map; it must lie on the image's grid.

        Raises
        ------
        GeometryMismatchError
            When ``labels`` is on another grid than the open image.
        """
        case = self._require_case()
        if labels is not None:
            case.volume.geometry.require_match(labels.geometry, what="label map vs image")
        planes_3d = self._planes_3d
        had_target = self._labels is not None and any(
            self._labels.mask(name).any() for name in self._labels.names_with_role("target")
        )
        self._set_labels_quietly(labels)
        self.labels_changed.emit(labels)
        if self._planes_3d != planes_3d:
            self.planes_3d_changed.emit(self._planes_3d)
        # The first target a case gets is what the reader came to see.
        target = None if had_target else target_centre_lps(labels)
        if target is not None:
            self.set_crosshair(target)

    def _set_labels_quietly(self, labels: LabelMap | None) -> None:
        self._labels = labels
        names = labels.names if labels is not None else ()
        self._hidden_labels = frozenset(n for n in names if n in BULK_TISSUE_LABELS)
        self._filled_labels = frozenset()
        targets = labels.names_with_role("target") if labels is not None else ()
        self._selected_label = targets[0] if targets else None
        # Opaque planes would hide the structures; without any, they are all there is to see.
        self._planes_3d = not names

    def _require_case(self) -> ImageCase:
        if self._case is None:
            raise InvalidParameterError("no image is open; open a case first.")
        return self._case

    # -- geometry of the views ---------------------------------------------------------
    def frame(self, view: str) -> SliceFrame:
        """The :class:`SliceFrame` of a 2-D view of the open image."""
        self._require_case()
        try:
            return self._frames[view]
        except KeyError:
            raise InvalidParameterError(
                f"view must be one of {', '.join(SLICE_VIEWS)}, got {view!r}."
            ) from None

    def slice_index(self, view: str) -> int:
        """Index (along the view's volume axis) of the plane the view shows."""
        return slice_index(self._require_case().volume.geometry, self.frame(view), self._crosshair)

    def slice_count(self, view: str) -> int:
        return slice_count(self._require_case().volume.geometry, self.frame(view))

    # -- crosshair ---------------------------------------------------------------------
    @property
    def crosshair_lps(self) -> NDArray[np.float64]:
        """The linked cursor, an LPS point inside the volume (a copy)."""
        return self._crosshair.copy()

    def set_crosshair(self, lps_mm: ArrayLike) -> None:
        """Move the crosshair; points outside the volume move to its nearest voxel centre box."""
        geometry = self._require_case().volume.geometry
        point = clamp_to_volume(geometry, lps_mm)
        if np.allclose(point, self._crosshair, rtol=0.0, atol=1e-9):
            return
        self._crosshair = point
        self.crosshair_changed.emit(point.copy())

    def step_slice(self, view: str, steps: int) -> None:
        """Scroll ``view`` by ``steps`` planes (towards S, A or L when positive)."""
        geometry = self._require_case().volume.geometry
        self.set_crosshair(stepped(geometry, self.frame(view), self._crosshair, steps))

    def go_to_slice(self, view: str, index: int) -> None:
        """Show plane ``index`` (clamped) in ``view``."""
        geometry = self._require_case().volume.geometry
        self.set_crosshair(with_slice(geometry, self.frame(view), self._crosshair, index))

    # -- window / level ----------------------------------------------------------------
    @property
    def window_level(self) -> WindowLevel:
        return self._window_level

    def set_window_level(self, window_level: WindowLevel) -> None:
        if window_level == self._window_level:
            return
        self._window_level = window_level
        self.window_level_changed.emit(window_level)

    def apply_preset(self, name: str) -> None:
        """Apply a preset of :data:`~cryoplan_app.model.window_level.PRESET_NAMES`."""
        case = self._require_case()
        self.set_window_level(preset_window_level(name, value_range=case.value_range))

    def drag_window_level(self, *, dx_px: float, dy_px: float) -> None:
        """Right-drag window/level: right widens, up raises the level."""
        case = self._require_case()
        self.set_window_level(
            dragged(self._window_level, dx_px=dx_px, dy_px=dy_px, value_range=case.value_range)
        )

    # -- layout and cameras ------------------------------------------------------------
    @property
    def layout(self) -> str:
        return self._layout

    def set_layout(self, layout: str) -> None:
        if layout not in LAYOUTS:
            raise InvalidParameterError(
                f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}."
            )
        if layout != self._layout:
            self._layout = layout
            self.layout_changed.emit(layout)

    def camera(self, view: str) -> ViewCamera:
        self.frame(view)
        return self._cameras[view]

    def zoom_view(self, view: str, factor: float) -> None:
        """Multiply the zoom of ``view`` by ``factor`` (> 0), within sensible limits."""
        if not (math.isfinite(factor) and factor > 0):
            raise InvalidParameterError(f"zoom factor must be positive, got {factor}.")
        camera = self.camera(view)
        zoom = float(np.clip(camera.zoom * factor, *_ZOOM_LIMITS))
        self._set_camera(view, replace(camera, zoom=zoom))

    def pan_view(self, view: str, *, right_mm: float, up_mm: float) -> None:
        """Move the image of ``view`` by ``right_mm`` and ``up_mm`` on the screen."""
        camera = self.camera(view)
        pan = (camera.pan_mm[0] + right_mm, camera.pan_mm[1] + up_mm)
        self._set_camera(view, replace(camera, pan_mm=pan))

    def reset_view(self, view: str) -> None:
        self.camera(view)
        self._set_camera(view, ViewCamera())

    def _set_camera(self, view: str, camera: ViewCamera) -> None:
        if camera != self._cameras[view]:
            self._cameras[view] = camera
            self.camera_changed.emit(view)

    # -- label display -----------------------------------------------------------------
    @property
    def label_opacity(self) -> float:
        return self._label_opacity

    def set_label_opacity(self, opacity: float) -> None:
        if not 0.0 <= opacity <= 1.0:
            raise InvalidParameterError(f"label opacity must lie in 0..1, got {opacity}.")
        if opacity != self._label_opacity:
            self._label_opacity = float(opacity)
            self.label_display_changed.emit()

    def label_visible(self, name: str) -> bool:
        return (
            self._labels is not None and self._labels.has(name) and name not in self._hidden_labels
        )

    @property
    def visible_labels(self) -> tuple[str, ...]:
        """Names of the labels drawn, in table order."""
        if self._labels is None:
            return ()
        return tuple(n for n in self._labels.names if n not in self._hidden_labels)

    def set_label_visible(self, name: str, visible: bool) -> None:
        if self._labels is None or not self._labels.has(name):
            raise InvalidParameterError(f"no label {name!r} in the open label map.")
        hidden = self._hidden_labels - {name} if visible else self._hidden_labels | {name}
        if hidden != self._hidden_labels:
            self._hidden_labels = hidden
            self.label_display_changed.emit()

    def label_filled(self, name: str) -> bool:
        """True when the 2-D views fill label ``name``; outlined otherwise (the default)."""
        return name in self._filled_labels

    def set_label_filled(self, name: str, filled: bool) -> None:
        """Fill label ``name`` in the 2-D views, or outline it (``filled=False``)."""
        if self._labels is None or not self._labels.has(name):
            raise InvalidParameterError(f"no label {name!r} in the open label map.")
        changed = self._filled_labels | {name} if filled else self._filled_labels - {name}
        if changed != self._filled_labels:
            self._filled_labels = changed
            self.label_display_changed.emit()

    @property
    def filled_labels(self) -> tuple[str, ...]:
        """Names of the visible labels the 2-D views fill, in table order."""
        return tuple(n for n in self.visible_labels if n in self._filled_labels)

    @property
    def outlined_labels(self) -> tuple[str, ...]:
        """Names of the visible labels the 2-D views outline, in table order."""
        return tuple(n for n in self.visible_labels if n not in self._filled_labels)

    @property
    def selected_label(self) -> str | None:
        return self._selected_label

    def select_label(self, name: str | None) -> None:
        if name is not None and (self._labels is None or not self._labels.has(name)):
            raise InvalidParameterError(f"no label {name!r} in the open label map.")
        if name != self._selected_label:
            self._selected_label = name
            self.selected_label_changed.emit(name)

    def centre_on_label(self, name: str) -> None:
        """Move the crosshair to the centroid of label ``name`` (nothing when it has no voxels)."""
        if self._labels is None or not self._labels.has(name):
            raise InvalidParameterError(f"no label {name!r} in the open label map.")
        indices = np.argwhere(self._labels.mask(name))  # rows of (k, j, i)
        if len(indices):
            self.set_crosshair(self._labels.geometry.index_to_lps(indices.mean(axis=0)[::-1]))

    @property
    def planes_3d(self) -> bool:
        """Whether the 3-D view shows the three slice planes."""
        return self._planes_3d

    def set_planes_3d(self, shown: bool) -> None:
        if bool(shown) != self._planes_3d:
            self._planes_3d = bool(shown)
            self.planes_3d_changed.emit(self._planes_3d)

    # -- what lies under the mouse -----------------------------------------------------
    def describe_point(self, lps_mm: ArrayLike) -> PointInfo | None:
        """Voxel, value and label at ``lps_mm``; ``None`` outside the image."""
        case = self._require_case()
        geometry = case.volume.geometry
        point = np.asarray(lps_mm, dtype=np.float64).reshape(3)
        ijk = geometry.lps_to_nearest_index(point)
        if not geometry.contains_index(ijk):
            return None
        i, j, k = (int(v) for v in ijk)
        label = None
        if self._labels is not None:
            value = int(self._labels.voxels[k, j, i])
            label = next((t.name for t in self._labels.table if t.value == value), None)
        return PointInfo(
            point,
            (i, j, k),
            float(case.volume.voxels[k, j, i]),
            case.volume.units,
            label,
        )

    @property
    def hover(self) -> PointInfo | None:
        return self._hover

    def set_hover(self, lps_mm: ArrayLike | None) -> None:
        """Report the point under the mouse (``None``: the mouse left the image)."""
        info = None if lps_mm is None or self._case is None else self.describe_point(lps_mm)
        if info is None and self._hover is None:
            return
        self._hover = info
        self.hover_changed.emit(info)

    # -- tools ---------------------------------------------------------------------------
    @property
    def tool(self) -> str:
        """What a left drag in a 2-D view does (:data:`TOOLS`)."""
        return self._tool

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise InvalidParameterError(f"tool must be one of {', '.join(TOOLS)}, got {tool!r}.")
        if tool != self._tool:
            self._tool = tool
            self.tool_changed.emit(tool)

    # -- the plan ------------------------------------------------------------------------
    @property
    def plan(self) -> Plan:
        """The plan being edited (immutable; edits replace it)."""
        return self.plan_state.plan

    @property
    def probe_library(self) -> ProbeLibrary:
        """The probe models :meth:`add_probe` accepts (loaded on first use).

        Raises
        ------
        PlanningError
            When the packaged probe library cannot be read.
        """
        if self._probe_library is None:
            try:
                self._probe_library = load_probe_library()
            except (OSError, ValueError) as error:
                raise PlanningError(
                    f"the probe library could not be read ({error}); reinstall cryoplan."
                ) from None
        return self._probe_library

    def probe_parts(self) -> tuple[ProbeParts, ...]:
        """Tip, entry and freezing segment of every probe, for drawing.

        A probe whose model the library lacks (a plan from another installation)
        is drawn without its freezing segment rather than not at all.
        """
        parts = []
        for probe in self.plan.probes:
            model = self.probe_library.models.get(probe.model_id)
            if model is None:
                tip = np.asarray(probe.tip_lps_mm, dtype=np.float64)
                entry = np.asarray(probe.entry_lps_mm, dtype=np.float64)
                parts.append(ProbeParts(probe.label, tip, entry, tip, tip, 0.0))
            else:
                parts.append(probe_parts(probe, model))
        return tuple(parts)

    def focus_on_plan(self) -> None:
        """Move the crosshair to the middle of the probes' freezing segments and ask the
        3-D view to look at them (``plan_focus_requested``); nothing without probes."""
        if self._case is None or not self.plan.probes:
            return
        parts = self.probe_parts()
        self.set_crosshair(np.mean([0.5 * (p.active_start + p.active_end) for p in parts], axis=0))
        self.plan_focus_requested.emit()

    def probe_model(self, index: int) -> ProbeModel:
        """The probe model of probe ``index`` of the plan."""
        return self.probe_library.get(self._probe(index).model_id)

    def add_probe(
        self,
        model_id: str,
        tip_lps_mm: ArrayLike,
        entry_lps_mm: ArrayLike,
        *,
        label: str | None = None,
    ) -> int:
        """Add a probe (undoable), select it and return its index.

        Parameters
        ----------
        model_id : str
            A probe model of :attr:`probe_library`.
        tip_lps_mm, entry_lps_mm : array_like
            Tip and skin entry in LPS mm; the entry must lie behind the freezing segment.
        label : str, optional
            Name shown in views and tables; ``"P<n>"`` with the next free number by default.
        """
        model = self.probe_library.get(model_id)
        probe = PlannedProbe(
            model_id, _point(tip_lps_mm), _point(entry_lps_mm), label or self._next_probe_label()
        )
        _check_probe_length(probe, model)
        plan = self.plan
        index = len(plan.probes)
        self._edit_plan(plan.with_probes((*plan.probes, probe)), f"Add probe {probe.label}")
        self.plan_state.select_probe(index)
        return index

    def add_probe_at(
        self,
        tip_lps_mm: ArrayLike,
        *,
        model_id: str | None = None,
        depth_mm: float = DEFAULT_PROBE_DEPTH_MM,
    ) -> int:
        """Add a probe with its tip at ``tip_lps_mm``, coming straight from the side away
        from the table (anterior for a supine patient), ``depth_mm`` long.

        ``model_id`` defaults to the library's first model. Returns its index.
        """
        library = self.probe_library
        model_id = model_id or next(iter(library.models))
        tip = np.asarray(_point(tip_lps_mm))
        entry = tip - self.plan.settings.table_direction_lps() * depth_mm
        return self.add_probe(model_id, tip, entry)

    def move_probe(
        self,
        index: int,
        *,
        tip_lps_mm: ArrayLike | None = None,
        entry_lps_mm: ArrayLike | None = None,
        dragging: bool = False,
    ) -> None:
        """Move the tip and/or the entry of probe ``index`` (undoable).

        With ``dragging=True`` successive moves of the same probe merge into one
        undo step until :meth:`end_drag`.

        Raises
        ------
        InvalidParameterError
            When the entry would come closer to the tip than the freezing segment reaches.
        """
        probe = self._probe(index)
        moved = replace(
            probe,
            tip_lps_mm=probe.tip_lps_mm if tip_lps_mm is None else _point(tip_lps_mm),
            entry_lps_mm=probe.entry_lps_mm if entry_lps_mm is None else _point(entry_lps_mm),
        )
        if moved == probe:
            return
        _check_probe_length(moved, self.probe_library.get(probe.model_id))
        self._dragging = dragging
        probes = list(self.plan.probes)
        probes[index] = moved
        self._edit_plan(
            self.plan.with_probes(tuple(probes)),
            f"Move probe {probe.label or index + 1}",
            merge_key=("move_probe", index) if dragging else None,
        )

    def translate_probe(self, index: int, offset_lps_mm: ArrayLike, *, dragging: bool = False):
        """Shift the whole probe ``index`` by ``offset_lps_mm`` (tip and entry together)."""
        offset = np.asarray(_point(offset_lps_mm))
        probe = self._probe(index)
        self.move_probe(
            index,
            tip_lps_mm=np.add(probe.tip_lps_mm, offset),
            entry_lps_mm=np.add(probe.entry_lps_mm, offset),
            dragging=dragging,
        )

    def end_drag(self) -> None:
        """The drag ended: the next move starts a new undo step; signals ``drag_finished``."""
        self.history.close_merge()
        if self._dragging:
            self._dragging = False
            self.drag_finished.emit()

    @property
    def dragging(self) -> bool:
        """True between a move with ``dragging=True`` and :meth:`end_drag`."""
        return self._dragging

    def remove_probe(self, index: int) -> None:
        probe = self._probe(index)
        probes = self.plan.probes[:index] + self.plan.probes[index + 1 :]
        self._edit_plan(self.plan.with_probes(probes), f"Remove probe {probe.label or index + 1}")

    def set_probe_model(self, index: int, model_id: str) -> None:
        """Give probe ``index`` another model of the library (undoable)."""
        probe = self._probe(index)
        moved = replace(probe, model_id=model_id)
        _check_probe_length(moved, self.probe_library.get(model_id))
        probes = list(self.plan.probes)
        probes[index] = moved
        self._edit_plan(
            self.plan.with_probes(tuple(probes)), f"Change model of {probe.label or index + 1}"
        )

    def select_probe(self, index: int | None) -> None:
        self.plan_state.select_probe(index)

    @property
    def selected_probe(self) -> int | None:
        return self.plan_state.selected_probe

    def set_protocol(self, code: str) -> None:
        """Set the freeze-thaw protocol (``"F10-T8-F10"``...; undoable).

        Raises
        ------
        InvalidParameterError
            For a malformed code.
        """
        plan = replace(self.plan, protocol=code)  # validates the code
        if plan.protocol != self.plan.protocol:
            self._edit_plan(plan, f"Protocol {plan.protocol}")

    def set_settings(self, settings: PlanSettings | None = None, **changes: object) -> None:
        """Replace the plan settings, or change some fields (``lethal_isotherm_c=-20``); undoable.

        Raises
        ------
        InvalidParameterError
            For values outside the declared ranges or unknown field names.
        """
        base = self.plan.settings if settings is None else settings
        try:
            updated = replace(base, **changes)
        except TypeError:
            known = ", ".join(PlanSettings.__dataclass_fields__)
            raise InvalidParameterError(
                f"unknown plan setting among {', '.join(changes)}; known: {known}."
            ) from None
        if updated != self.plan.settings:
            self._edit_plan(replace(self.plan, settings=updated), "Change plan settings")

    def set_plan(self, plan: Plan, *, text: str = "Replace plan") -> None:
        """Replace the whole plan (an optimizer's proposal...); undoable."""
        if self._case is not None and self._case.reference is not None and plan.case is None:
            plan = replace(plan, case=self._case.reference)
        self._edit_plan(plan, text)

    @property
    def isotherms_c(self) -> tuple[float, ...]:
        """Isotherms the views draw, warmest first (0 °C, reported ones, the lethal one)."""
        return display_isotherms_c(self.plan)

    @property
    def lethal_isotherm_c(self) -> float:
        return self.plan.settings.lethal_isotherm_c

    # -- labels edits ------------------------------------------------------------------
    def replace_labels(self, labels: LabelMap, text: str) -> None:
        """Replace the label map by an edited one (undoable); display settings are kept.

        Raises
        ------
        GeometryMismatchError
            When ``labels`` is on another grid than the open image.
        """
        case = self._require_case()
        case.volume.geometry.require_match(labels.geometry, what="edited label map vs image")
        before = self._labels
        if labels is before:
            return
        self.history.push(
            Command(text, lambda: self._swap_labels(labels), lambda: self._swap_labels(before))
        )

    @property
    def labels_edited(self) -> bool:
        """True when the labels differ from those the case was opened with."""
        return self._case is not None and self._labels is not self._case.labels

    def _swap_labels(self, labels: LabelMap | None) -> None:
        names = set(labels.names) if labels is not None else set()
        before = set(self._labels.names) if self._labels is not None else set()
        self._labels = labels
        # Labels kept keep their visibility; new bulk tissues start hidden, as on opening.
        self._hidden_labels = frozenset(
            n
            for n in names
            if n in self._hidden_labels or (n not in before and n in BULK_TISSUE_LABELS)
        )
        self._filled_labels = frozenset(n for n in self._filled_labels if n in names)
        if self._selected_label not in names:
            self._selected_label = None
        self.labels_changed.emit(labels)
        if names and not before:  # as on opening: the structures, not opaque planes
            self.set_planes_3d(False)

    # -- results -------------------------------------------------------------------------
    @property
    def results(self) -> PlanResults | None:
        return self.plan_state.results

    @property
    def results_fresh(self) -> bool:
        """True when :attr:`results` belong to the present plan and labels."""
        return self.plan_state.results_fresh(self._labels)

    def current_inputs(self):
        """The :class:`~cryoplan_app.model.plan_state.InputsKey` of the present plan and labels."""
        return inputs_key(self.plan, self._labels)

    def plan_warnings(self) -> tuple[PlanWarning, ...]:
        """The plan's warnings as they stand: its own, the open image's and the fresh simulation's.

        Those of an older simulation are dropped: they belong to other probes.
        """
        plan = self.plan
        if self._case is not None:
            plan = plan.with_step_warnings("image", self._case.volume.warnings)
        results = self.results if self.results_fresh else None
        simulation = None if results is None else results.simulation
        return plan.with_step_warnings(
            "simulation", () if simulation is None else simulation.warnings
        ).warnings

    def set_results(self, results: PlanResults | None) -> None:
        """Store an evaluation; a fresh one replaces the drag preview."""
        self.plan_state.set_results(results)
        if results is not None and self.results_fresh:
            self.plan_state.set_preview(None)

    def set_preview(self, field: TemperatureField | None) -> None:
        self.plan_state.set_preview(field)

    @property
    def temperature_field(self) -> TemperatureField | None:
        """The field whose isotherms the views draw (preview while dragging, else results)."""
        return self.plan_state.temperature_field

    # -- undo / redo ---------------------------------------------------------------------
    def undo(self) -> bool:
        return self.history.undo()

    def redo(self) -> bool:
        return self.history.redo()

    @property
    def can_undo(self) -> bool:
        return self.history.can_undo

    @property
    def can_redo(self) -> bool:
        return self.history.can_redo

    @property
    def dirty(self) -> bool:
        """True when the plan or the labels changed since the last save or open."""
        return self.history.dirty

    # -- plan files ----------------------------------------------------------------------
    @property
    def plan_path(self) -> Path | None:
        return self._plan_path

    def save_plan(self, path: str | Path) -> Path:
        """Save the plan with its labels and fresh simulation beside it; not dirty after.

        Raises
        ------
        PlanFileError
            When a file cannot be written.
        """
        case = self._require_case()
        path = Path(path)
        plan = self.plan
        results = self.results if self.results_fresh else None
        if results is not None and results.metrics is not None:
            plan = plan.with_metrics(results.metrics)
        plan = replace(plan, warnings=self.plan_warnings())
        write_plan_files(
            plan,
            path,
            labels=self._labels,
            simulation=None if results is None else results.simulation,
            image_path=case.image_path,
        )
        self.history.mark_saved()
        self._set_plan_path(path)
        return path

    def open_plan(self, path: str | Path) -> Plan:
        """Read and show a plan file (see :meth:`show_opened_plan`); for scripts and tests.

        Raises
        ------
        PlanFileError
            For unreadable files or a plan made on another image.
        """
        reference = None if self._case is None else self._case.reference
        return self.show_opened_plan(read_plan_files(path, reference=reference))

    def show_opened_plan(self, opened: OpenedPlan) -> Plan:
        """Show a plan read by :func:`~cryoplan_app.model.plan_files.read_plan_files`.

        The plan's image replaces the open case unless it is that very image;
        its saved labels and fields come with it. The undo history starts
        afresh and the session is not dirty.
        """
        plan = opened.plan
        case = self._case
        same_image = (
            case is not None
            and case.reference is not None
            and plan.case is not None
            and case.reference.content_sha256 == plan.case.content_sha256
        )
        if opened.volume is not None and plan.image_path is not None and not same_image:
            self.open_case(
                case_from_files(
                    opened.volume,
                    opened.labels,
                    image_path=plan.image_path,
                    reference=plan.case,
                )
            )
        elif opened.labels is not None and opened.labels is not self._labels:
            self._case = replace(self._require_case(), labels=opened.labels)
            self._swap_labels(opened.labels)
        self._start_plan(plan)
        self.focus_on_plan()
        if opened.simulation is not None:
            self.set_results(
                simulation_results(self.current_inputs(), opened.simulation, plan.metrics)
            )
        self._set_plan_path(opened.path)
        return plan

    def restore_plan(self, plan: Plan, *, labels: LabelMap | None = None) -> None:
        """Put back an autosaved plan (and edited labels) as unsaved changes, undoable."""
        if labels is not None:
            self.replace_labels(labels, "Recover edited labels")
        self.set_plan(plan, text="Recover autosaved plan")

    def _set_plan_path(self, path: Path | None) -> None:
        if path != self._plan_path:
            self._plan_path = path
            self.plan_path_changed.emit(path)

    # -- helpers -------------------------------------------------------------------------
    def _start_plan(self, plan: Plan) -> None:
        self.plan_state.reset(plan)
        self._set_plan_path(None)
        self.history.clear()

    def _edit_plan(self, plan: Plan, text: str, *, merge_key: object = None) -> None:
        before = self.plan
        self.history.push(
            Command(
                text,
                lambda: self.plan_state.set_plan(plan),
                lambda: self.plan_state.set_plan(before),
                merge_key,
            )
        )

    def _probe(self, index: int) -> PlannedProbe:
        probes = self.plan.probes
        if not (isinstance(index, int | np.integer) and 0 <= index < len(probes)):
            raise InvalidParameterError(
                f"probe index must lie in 0..{len(probes) - 1}, got {index!r}."
                if probes
                else "the plan has no probes; add one first."
            )
        return probes[int(index)]

    def _next_probe_label(self) -> str:
        used = {p.label for p in self.plan.probes}
        number = 1
        while f"P{number}" in used:
            number += 1
        return f"P{number}"


def target_centre_lps(labels: LabelMap | None) -> NDArray[np.float64] | None:
    """Centroid (LPS mm) of the first ``target`` label with voxels; ``None`` without one."""
    if labels is None:
        return None
    for name in labels.names_with_role("target"):
        indices = np.argwhere(labels.mask(name))  # rows of (k, j, i)
        if len(indices):
            return labels.geometry.index_to_lps(indices.mean(axis=0)[::-1])
    return None


def new_plan_for(case: ImageCase) -> Plan:
    """The empty plan a freshly opened case starts with.

    It references the image, targets the case's first ``target`` label and
    takes the patient position from the image header when it is a known one.
    """
    labels = case.labels
    targets = labels.names_with_role("target") if labels is not None else ()
    position = str(case.volume.metadata.get("patient_position", "") or "").upper()
    settings = PlanSettings(patient_position=position) if position in TABLE_DIRECTION_LPS else None
    return Plan(
        case=case.reference,
        target_label=targets[0] if targets else "tumor",
        settings=settings or PlanSettings(),
    )


def _point(value: ArrayLike) -> tuple[float, float, float]:
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.shape != (3,) or not np.all(np.isfinite(array)):
        raise InvalidParameterError(
            f"a probe point must be three finite LPS mm values, got {value}."
        )
    return (float(array[0]), float(array[1]), float(array[2]))


def _check_probe_length(probe: PlannedProbe, model: ProbeModel) -> None:
    needed = model.tip_offset_mm + model.active_length_mm
    length = math.dist(probe.tip_lps_mm, probe.entry_lps_mm)
    if length < needed:
        raise InvalidParameterError(
            f"probe {probe.label}: the entry lies {length:.1f} mm from the tip but the freezing "
            f"segment of {model.id} reaches {needed:.1f} mm behind the tip; move the entry "
            "farther out."
        )
