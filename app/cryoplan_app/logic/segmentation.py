"""Segmentation in the background: the tumor by seed, diameter line or strokes; edits; organs.

Every result replaces the session's label map through its history, so each
computation is one undo step; a stroke's result is one step too, and undoing it
also takes the stroke back (:class:`~cryoplan_app.model.lesion_tools.StrokeTool`,
one per open case). The lesion's volume and RECIST axes are measured per label
map and kept while that map lives, so undo and redo show them without
measuring; so is the target's size as the report gives it (volume and largest
diameter on the label's grid, :meth:`SegmentationLogic.tumor_size`). The
computing is planning_core's (:mod:`planning_core.segmentation`, through
:mod:`cryoplan_app.model.lesion_tools`); callers pass ``on_done`` and
``on_error`` to show what happened.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cryoplan_app.logic.runner import ErrorHandler, Runner, TaskHandle
from cryoplan_app.model.lesion_tools import (
    LesionFigures,
    LesionResult,
    StrokeTool,
    finish,
    lesion_figures,
    merge_tumor,
    segment_line,
)
from cryoplan_app.model.session import Session
from cryoplan_app.model.sketch import SketchLine, Stroke
from planning_core.errors import PlanningError
from planning_core.imaging.labels import LabelMap
from planning_core.segmentation import editing
from planning_core.segmentation.anatomy import segment_anatomy
from planning_core.segmentation.metrics import mask_volume_ml, max_diameter_mm
from planning_core.segmentation.organs import OrganSegmentation, segment_organ
from planning_core.segmentation.tumor import segment_tumor

#: ``on_done(result, strokes)`` of a lesion segmentation: the strokes it came from.
LesionDone = Callable[[LesionResult, tuple[Stroke, ...]], None]


@dataclass(frozen=True)
class TumorSize:
    """A target label's volume and largest diameter, as the report and the CLI give them."""

    volume_ml: float
    max_diameter_mm: float


class SegmentationLogic:
    """Runs the segmentations of ``session``'s open case on ``runner``.

    ``strokes`` is the open case's :class:`~cryoplan_app.model.lesion_tools.StrokeTool`
    (None without a case); it is replaced, and the kept figures dropped, when
    another case opens.
    """

    def __init__(self, session: Session, runner: Runner) -> None:
        self.session = session
        self.runner = runner
        self.strokes: StrokeTool | None = None
        self._stroke_task: TaskHandle | None = None
        self._stroke_request: tuple[float, LesionDone, ErrorHandler] | None = None
        # Figures of the label maps shown so far (undo and redo show them without measuring).
        self._figures: weakref.WeakKeyDictionary[LabelMap, LesionFigures | None] = (
            weakref.WeakKeyDictionary()
        )
        # Target sizes by label map and label name: the diameter's hull is worth keeping.
        self._sizes: weakref.WeakKeyDictionary[LabelMap, dict[str, TumorSize | None]] = (
            weakref.WeakKeyDictionary()
        )
        session.case_changed.connect(lambda _case: self._reset())
        self._reset()

    def _reset(self) -> None:
        case = self.session.case
        self.strokes = None if case is None else StrokeTool(case.volume)
        self._stroke_task, self._stroke_request = None, None
        self._figures = weakref.WeakKeyDictionary()
        self._sizes = weakref.WeakKeyDictionary()

    def current_labels(self) -> LabelMap:
        """The session's label map, or an empty one on the image grid.

        Raises
        ------
        PlanningError
            When no image is open.
        """
        case = self.session.case
        if case is None:
            raise PlanningError("Open an image before segmenting.")
        labels = self.session.document.labels
        return labels if labels is not None else LabelMap.empty(case.volume.geometry)

    # -- the tumor ------------------------------------------------------------------------
    def segment_tumor(
        self, seed_lps_mm: NDArray[np.float64], *, on_done: LesionDone, on_error: ErrorHandler
    ) -> TaskHandle | None:
        """Segment the tumor grown from ``seed_lps_mm`` (None without an image)."""
        case = self.session.case
        if case is None:
            return None
        volume, seed = case.volume, np.asarray(seed_lps_mm, dtype=np.float64)
        return self.runner.submit(
            "Segmenting the tumor",
            lambda progress, cancel: finish(
                segment_tumor(volume, seed, progress=progress, cancel=cancel)
            ),
            on_done=lambda result: self._lesion_segmented("Segment tumor", (), result, on_done),
            on_error=on_error,
            key="segmentation",
        )

    def segment_from_line(
        self, line: SketchLine, *, on_done: LesionDone, on_error: ErrorHandler
    ) -> TaskHandle | None:
        """Segment the lesion whose long axis is ``line`` (None without an image)."""
        case = self.session.case
        if case is None:
            return None
        volume = case.volume
        return self.runner.submit(
            "Segmenting the lesion from its diameter",
            lambda progress, cancel: segment_line(volume, line, progress=progress, cancel=cancel),
            on_done=lambda result: self._lesion_segmented("Diameter line", (), result, on_done),
            on_error=on_error,
            key="segmentation",
        )

    @property
    def updating_from_strokes(self) -> bool:
        """True while a stroke update runs (the next one waits for it)."""
        return self._stroke_task is not None and not self._stroke_task.done

    def update_from_strokes(
        self, *, brush_radius_mm: float, on_done: LesionDone, on_error: ErrorHandler
    ) -> TaskHandle | None:
        """Segment the lesion from the strokes painted so far (the newest strokes win).

        One update runs at a time, because the stroke segmenter keeps its data
        between them; strokes painted meanwhile are taken by the next one, which
        starts when this one ends. None when nothing starts now.
        """
        tool = self.strokes
        self._stroke_request = (brush_radius_mm, on_done, on_error)
        if tool is None or self.updating_from_strokes:
            return None
        if not tool.pending or not tool.has_lesion:
            return None  # the labels shown are these strokes' result, or nothing to grow
        strokes = tool.strokes
        self._stroke_task = self.runner.submit(
            "Updating the lesion from the strokes",
            lambda _progress, _cancel: tool.segment(strokes, brush_radius_mm=brush_radius_mm),
            on_done=lambda result: self._strokes_segmented(tool, strokes, result),
            on_error=self._strokes_failed,
            key="strokes",
        )
        return self._stroke_task

    def _strokes_segmented(
        self, tool: StrokeTool, strokes: tuple[Stroke, ...], result: LesionResult
    ) -> None:
        self._stroke_task = None
        request = self._stroke_request
        if tool is not self.strokes or request is None:
            return  # another case was opened meanwhile
        radius_mm, on_done, on_error = request
        if strokes == tool.strokes:
            self._lesion_segmented("Lesion stroke", strokes, result, on_done)
        else:  # strokes were painted or taken back meanwhile: those count
            self.update_from_strokes(brush_radius_mm=radius_mm, on_done=on_done, on_error=on_error)

    def _strokes_failed(self, error: BaseException, details: str) -> None:
        self._stroke_task = None
        if self._stroke_request is not None:
            self._stroke_request[2](error, details)

    def _lesion_segmented(
        self, text: str, strokes: tuple[Stroke, ...], result: LesionResult, on_done: LesionDone
    ) -> None:
        """Make ``result`` the tumor label: one undo step that also restores the strokes."""
        tool, document = self.strokes, self.session.document
        if tool is None:
            return
        merged = merge_tumor(document.labels, result.segmentation)
        tool.record_step(document.labels, merged, strokes)
        self._figures[merged] = result.figures
        document.replace_labels(merged, text)
        on_done(result, strokes)

    # -- the lesion's figures -------------------------------------------------------------
    def known_figures(self, labels: LabelMap) -> tuple[bool, LesionFigures | None]:
        """``(True, figures)`` when ``labels``' lesion was measured, else ``(False, None)``."""
        if labels in self._figures:
            return True, self._figures[labels]
        return False, None

    def measure(
        self,
        labels: LabelMap,
        *,
        on_done: Callable[[LesionFigures | None], None],
        on_error: ErrorHandler,
    ) -> TaskHandle:
        """Measure the tumor of ``labels`` (volume, RECIST axes) and keep the figures."""

        def done(figures: LesionFigures | None) -> None:
            self._figures[labels] = figures
            on_done(figures)

        return self.runner.submit(
            "Measuring the lesion",
            lambda _progress, _cancel: lesion_figures(labels),
            on_done=done,
            on_error=on_error,
            key="lesion-figures",
        )

    def tumor_size(self, labels: LabelMap | None, name: str) -> TumorSize | None:
        """Volume and largest diameter of label ``name`` in ``labels``, kept per label map.

        None when ``labels`` is None or the label is absent or empty.
        """
        if labels is None:
            return None
        sizes = self._sizes.setdefault(labels, {})
        if name not in sizes:
            mask = labels.mask(name) if labels.has(name) else None
            sizes[name] = (
                None
                if mask is None or not mask.any()
                else TumorSize(
                    mask_volume_ml(mask, labels.geometry), max_diameter_mm(mask, labels.geometry)
                )
            )
        return sizes[name]

    # -- edits and organs -----------------------------------------------------------------
    def start_brush(self, name: str, *, radius_mm: float, erase: bool) -> BrushStroke:
        """A brush stroke on label ``name`` of the current label map (see :class:`BrushStroke`)."""
        return BrushStroke(
            self.session, self.current_labels(), name, radius_mm=radius_mm, erase=erase
        )

    def edit_label(self, text: str, name: str, edit: Callable[[LabelMap], LabelMap]) -> TaskHandle:
        """Run ``edit`` on the label map in the background; its result is one undo step.

        Raises
        ------
        PlanningError
            At once when no image is open or label ``name`` does not exist yet.
        """
        labels = self.current_labels()
        if not labels.has(name):
            raise PlanningError(f"label {name!r} does not exist yet; paint or segment it first.")
        document = self.session.document
        return self.runner.submit(
            text,
            lambda _progress, _cancel: edit(labels),
            on_done=lambda result: document.replace_labels(result, f"{text} ({name})"),
            key="label-edit",
        )

    def segment_anatomy(
        self, *, on_done: Callable[[Any], None], on_error: ErrorHandler
    ) -> TaskHandle | None:
        """Add body, skin, bone, lung and bowel gas around the existing labels (one undo step).

        ``on_done`` receives the core's anatomy result after the labels were replaced.
        """
        case = self.session.case
        if case is None:
            return None
        volume, labels, document = case.volume, self.session.document.labels, self.session.document

        def done(result: Any) -> None:
            document.replace_labels(result.label_map, "Automatic anatomy")
            on_done(result)

        return self.runner.submit(
            "Automatic anatomy",
            lambda progress, cancel: segment_anatomy(
                volume, into=labels, progress=progress, cancel=cancel
            ),
            on_done=done,
            on_error=on_error,
            key="anatomy",
        )

    def segment_organ(
        self,
        name: str,
        seed_lps_mm: NDArray[np.float64],
        *,
        on_done: Callable[[OrganSegmentation], None],
        on_error: ErrorHandler,
    ) -> TaskHandle | None:
        """Grow organ ``name`` from ``seed_lps_mm``, keeping the other labels (one undo step)."""
        case = self.session.case
        if case is None:
            return None
        volume, labels, document = case.volume, self.session.document.labels, self.session.document

        def done(result: OrganSegmentation) -> None:
            document.replace_labels(result.label_map, f"Segment {result.name}")
            on_done(result)

        return self.runner.submit(
            f"Segmenting the {name}",
            lambda progress, cancel: segment_organ(
                volume, name, seed_lps_mm, label_map=labels, progress=progress, cancel=cancel
            ),
            on_done=done,
            on_error=on_error,
            key="organ",
        )


class BrushStroke:
    """One stroke of the paint or erase brush: a sphere per pointer move, one undo step at the end.

    Painting runs on the calling thread (a sphere is a few thousand voxels, and the
    user watches the stroke grow); :meth:`finish` hands the painted map to the
    plan document as one step named after the label.
    """

    def __init__(
        self, session: Session, labels: LabelMap, name: str, *, radius_mm: float, erase: bool
    ) -> None:
        self._session = session
        self._labels = labels
        self.name = name
        self.radius_mm = radius_mm
        self.erase = erase

    def paint(self, lps_mm: NDArray[np.float64]) -> None:
        """Paint (or erase) a sphere of the brush radius around ``lps_mm``."""
        self._labels = editing.paint_sphere(
            self._labels, self.name, lps_mm, radius_mm=self.radius_mm, erase=self.erase
        )

    def finish(self) -> None:
        """Make the stroke one undo step (nothing when it changed nothing)."""
        document = self._session.document
        if self._labels is not document.labels:
            verb = "Erase" if self.erase else "Paint"
            document.replace_labels(self._labels, f"{verb} {self.name}")
