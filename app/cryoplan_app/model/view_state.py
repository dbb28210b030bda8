"""How the open case is shown: what every view draws that is not the plan itself.

:class:`ViewState` holds the crosshair (an LPS point shared by all views),
window/level, the layout, per-view zoom and pan, how labels are shown
(visibility, fill, opacity, selection), the point under the mouse, the tool a
left drag uses and whether the 3-D view shows the slice planes. Every change
goes through a method that validates it and emits one signal; views listen and
never keep their own copy. None of this is saved with a plan and none of it is
undoable. No Qt, no VTK.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cryoplan_app.model.case import ImageCase
from cryoplan_app.model.planes import (
    SLICE_VIEWS,
    SliceFrame,
    clamp_to_volume,
    slice_count,
    slice_frames,
    slice_index,
    stepped,
)
from cryoplan_app.model.signals import Signal
from cryoplan_app.model.window_level import (
    WindowLevel,
    default_window_level,
    dragged,
    preset_window_level,
)
from planning_core.errors import InvalidParameterError
from planning_core.imaging.labels import LabelMap


class Layout(StrEnum):
    """Layouts of the view area: all four views, one of them alone, or the probe-guidance views.

    The single-view layouts carry the name of their view (:data:`SLICE_VIEWS`, ``"3d"``).
    """

    FOUR_UP = "4up"
    AXIAL = "axial"
    CORONAL = "coronal"
    SAGITTAL = "sagittal"
    VOLUME_3D = "3d"
    PROBE = "probe"


class Tool(StrEnum):
    """What a left drag in a 2-D view does: move the crosshair, or move probe handles."""

    NAVIGATE = "navigate"
    PROBE = "probe"


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


class ViewState:
    """See the module docstring.

    The :class:`~cryoplan_app.model.session.Session` tells it which case and
    labels are shown (:meth:`show_case`, :meth:`show_labels`,
    :meth:`follow_labels`); it never changes them.

    Signals (arguments in brackets):

    * ``crosshair_changed`` (LPS point)
    * ``window_level_changed`` (WindowLevel)
    * ``layout_changed`` (Layout)
    * ``camera_changed`` (view name)
    * ``label_display_changed`` (): opacity, visibility or fill changed
    * ``selected_label_changed`` (name or None)
    * ``hover_changed`` (PointInfo or None): the point under the mouse
    * ``planes_3d_changed`` (bool): slice planes shown in the 3-D view or not
    * ``tool_changed`` (Tool)
    * ``plan_focus_requested`` (): views should show the probes (see :meth:`focus_on`)
    """

    def __init__(self) -> None:
        self.crosshair_changed = Signal()
        self.window_level_changed = Signal()
        self.layout_changed = Signal()
        self.camera_changed = Signal()
        self.label_display_changed = Signal()
        self.selected_label_changed = Signal()
        self.hover_changed = Signal()
        self.planes_3d_changed = Signal()
        self.tool_changed = Signal()
        self.plan_focus_requested = Signal()
        self._case: ImageCase | None = None
        self._labels: LabelMap | None = None
        self._frames: dict[str, SliceFrame] = {}
        self._crosshair = np.zeros(3)
        self._window_level = WindowLevel(400.0, 40.0, "abdomen")
        self._layout = Layout.FOUR_UP
        self._cameras = {view: ViewCamera() for view in SLICE_VIEWS}
        self._label_opacity = DEFAULT_LABEL_OPACITY
        self._hidden_labels: frozenset[str] = frozenset()
        # Labels the 2-D views fill; the others are outlined, so the image shows through.
        self._filled_labels: frozenset[str] = frozenset()
        self._selected_label: str | None = None
        self._hover: PointInfo | None = None
        self._planes_3d = True
        self._tool = Tool.NAVIGATE

    # -- what is shown -------------------------------------------------------------------
    def show_case(self, case: ImageCase | None) -> None:
        """Start showing ``case`` (``None``: nothing); emits nothing, the session announces it.

        The crosshair goes to the target's centre (else the volume's centre), with
        the modality's default window and fitted views.
        """
        self._case = case
        self._hover = None
        if case is None:
            self._frames = {}
            self._labels = None
            self._selected_label = None
            return
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
        self._reset_label_display(case.labels)

    def show_labels(self, labels: LabelMap | None) -> None:
        """Show a new label map as on opening: bulk tissues hidden, outlined, target selected."""
        planes_3d = self._planes_3d
        self._reset_label_display(labels)
        if self._planes_3d != planes_3d:
            self.planes_3d_changed.emit(self._planes_3d)

    def follow_labels(self, labels: LabelMap | None) -> None:
        """Show an edited label map: labels kept keep how they were shown."""
        if labels is self._labels:
            return
        names = set(labels.names) if labels is not None else set()
        before = set(self._labels.names) if self._labels is not None else set()
        self._labels = labels
        # New bulk tissues start hidden, as on opening.
        self._hidden_labels = frozenset(
            n
            for n in names
            if n in self._hidden_labels or (n not in before and n in BULK_TISSUE_LABELS)
        )
        self._filled_labels = frozenset(n for n in self._filled_labels if n in names)
        if self._selected_label not in names:
            self._selected_label = None
        if names and not before:  # as on opening: the structures, not opaque planes
            self.set_planes_3d(False)

    def _reset_label_display(self, labels: LabelMap | None) -> None:
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

    def focus_on(self, lps_mm: ArrayLike) -> None:
        """Move the crosshair to ``lps_mm`` and ask the views to look there
        (``plan_focus_requested``)."""
        self.set_crosshair(lps_mm)
        self.plan_focus_requested.emit()

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
    def layout(self) -> Layout:
        return self._layout

    def set_layout(self, layout: Layout | str) -> None:
        try:
            layout = Layout(layout)
        except ValueError:
            raise InvalidParameterError(
                f"layout must be one of {', '.join(Layout)}, got {layout!r}."
            ) from None
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
        self._require_label(name)
        hidden = self._hidden_labels - {name} if visible else self._hidden_labels | {name}
        if hidden != self._hidden_labels:
            self._hidden_labels = hidden
            self.label_display_changed.emit()

    def label_filled(self, name: str) -> bool:
        """True when the 2-D views fill label ``name``; outlined otherwise (the default)."""
        return name in self._filled_labels

    def set_label_filled(self, name: str, filled: bool) -> None:
        """Fill label ``name`` in the 2-D views, or outline it (``filled=False``)."""
        self._require_label(name)
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
        if name is not None:
            self._require_label(name)
        if name != self._selected_label:
            self._selected_label = name
            self.selected_label_changed.emit(name)

    def centre_on_label(self, name: str) -> None:
        """Move the crosshair to the centroid of label ``name`` (nothing when it has no voxels)."""
        labels = self._require_label(name)
        indices = np.argwhere(labels.mask(name))  # rows of (k, j, i)
        if len(indices):
            self.set_crosshair(labels.geometry.index_to_lps(indices.mean(axis=0)[::-1]))

    def _require_label(self, name: str) -> LabelMap:
        if self._labels is None or not self._labels.has(name):
            raise InvalidParameterError(f"no label {name!r} in the open label map.")
        return self._labels

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
    def tool(self) -> Tool:
        """What a left drag in a 2-D view does."""
        return self._tool

    def set_tool(self, tool: Tool | str) -> None:
        try:
            tool = Tool(tool)
        except ValueError:
            raise InvalidParameterError(
                f"tool must be one of {', '.join(Tool)}, got {tool!r}."
            ) from None
        if tool != self._tool:
            self._tool = tool
            self.tool_changed.emit(tool)


def target_centre_lps(labels: LabelMap | None) -> NDArray[np.float64] | None:
    """Centroid (LPS mm) of the first ``target`` label with voxels; ``None`` without one."""
    if labels is None:
        return None
    for name in labels.names_with_role("target"):
        indices = np.argwhere(labels.mask(name))  # rows of (k, j, i)
        if len(indices):
            return labels.geometry.index_to_lps(indices.mean(axis=0)[::-1])
    return None
