"""The work behind the segmentation panel's lesion tools, without Qt: line, strokes, figures.

* :func:`segment_line`: the 3-D lesion from a diameter line dragged on one
  slice (:func:`planning_core.segmentation.lesion_line.segment_from_diameter`).
* :class:`StrokeTool`: the 3-D lesion from "lesion" and "not lesion" strokes;
  one :class:`~planning_core.segmentation.strokes.StrokeSegmenter` is kept
  between strokes, so each update reuses its region and precomputed data.
* :func:`lesion_figures`: the lesion's volume and RECIST long and short axes,
  shown in the panel after every tumor segmentation.

The functions run in worker threads; each returns a :class:`LesionResult`
with the figures already measured, so the GUI thread only merges the lesion
into the label map (:func:`merge_tumor`) and shows it.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cryoplan_app.model.sketch import SketchLine, Stroke
from planning_core.errors import InvalidParameterError, PlanningError
from planning_core.figures import format_length_mm, format_volume_ml
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.progress import CancelToken, ProgressCallback
from planning_core.segmentation.lesion_line import MIN_LENGTH_MM, segment_from_diameter
from planning_core.segmentation.metrics import RecistAxes, mask_volume_ml, recist_axes
from planning_core.segmentation.strokes import Strokes, StrokeSegmenter
from planning_core.segmentation.tumor import TumorSegmentation

TUMOR_LABEL = "tumor"
#: Half the side of the region a stroke segmenter works in: the issue's 120 mm region,
#: room for the largest lesions cryoablation treats (about 5-6 cm) with their surroundings.
STROKE_REGION_HALF_MM = 60.0
#: The core words its messages for the command line; in the app the tools' names stand for
#: its options (longest first: "--seed/--background" before "--seed").
APP_WORDS = (
    ("--seed/--background", "Lesion strokes / Not lesion strokes"),
    ("--background", "Not lesion strokes"),
    ("--diameter", "the diameter line"),
    ("--seed", "Lesion strokes"),
)


def in_app_words(error: PlanningError) -> PlanningError:
    """``error`` of the same class, its message naming the app's tools instead of options
    (``error`` itself when it names none)."""
    text = str(error)
    for option, tool in APP_WORDS:
        text = text.replace(option, tool)
    if text == str(error):
        return error
    try:
        return type(error)(text)
    except TypeError:  # a class with a constructor of its own: the words matter more
        return PlanningError(text)


@contextmanager
def _app_words() -> Iterator[None]:
    """Re-raise the core's errors with :func:`in_app_words`, the original as their cause."""
    try:
        yield
    except PlanningError as error:
        worded = in_app_words(error)
        if worded is error:
            raise
        raise worded from error


@dataclass(frozen=True)
class LesionFigures:
    """Volume (mL) and RECIST axes of a tumor label; ``recist`` None when not measurable."""

    volume_ml: float
    recist: RecistAxes | None

    def text(self) -> str:
        """One line for the panel: ``Lesion 12.3 mL · RECIST long 31.2 mm × short 24.0 mm``."""
        volume = f"Lesion {format_volume_ml(self.volume_ml)}"
        if self.recist is None:
            return f"{volume} · RECIST axes: not measurable"
        return (
            f"{volume} · RECIST long axis {format_length_mm(self.recist.long_mm)} × "
            f"short axis {format_length_mm(self.recist.short_mm)} "
            f"(axial image {self.recist.slice_index + 1})"
        )


def lesion_figures(labels: LabelMap | None, name: str = TUMOR_LABEL) -> LesionFigures | None:
    """The figures of label ``name`` in ``labels``; None when it is absent or empty."""
    if labels is None or not labels.has(name):
        return None
    mask = labels.mask(name)
    if not mask.any():
        return None
    return LesionFigures(mask_volume_ml(mask, labels.geometry), recist_axes(mask, labels.geometry))


@dataclass(frozen=True, eq=False)
class LesionResult:
    """A segmented lesion: the core's result and the lesion's figures."""

    segmentation: TumorSegmentation
    figures: LesionFigures | None


def finish(segmentation: TumorSegmentation) -> LesionResult:
    """``segmentation`` with its figures (measured in the worker, not on the GUI thread)."""
    return LesionResult(segmentation, lesion_figures(segmentation.label_map, segmentation.label))


def merge_tumor(labels: LabelMap | None, segmentation: TumorSegmentation) -> LabelMap:
    """``labels`` with the lesion as label :data:`TUMOR_LABEL`; the other labels keep their
    voxels outside it."""
    if labels is None:
        return segmentation.label_map
    return labels.with_mask(TUMOR_LABEL, segmentation.mask)


def segment_line(
    volume: Volume,
    line: SketchLine,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> LesionResult:
    """The lesion whose long axis is ``line`` (seeded at its midpoint).

    The core measures the line within an image slice (as RECIST does); its
    length there is checked first, so that the message names the app's tool
    rather than the command line's option.

    Raises
    ------
    InvalidParameterError
        When the line is shorter than the core's minimum within an image slice.
    SegmentationError
        When the core finds no lesion along the line.
    """
    normal = volume.geometry.direction[:, 2]
    along = line.end_lps_mm - line.start_lps_mm
    in_slice_mm = float(np.linalg.norm(along - (along @ normal) * normal))
    if in_slice_mm < MIN_LENGTH_MM:
        raise InvalidParameterError(
            f"Diameter line: {format_length_mm(in_slice_mm)} within an image slice is too "
            f"short (at least {format_length_mm(MIN_LENGTH_MM)}); drag the lesion's longest "
            "diameter on the axial view, from one edge to the other."
        )
    with _app_words():
        segmentation = segment_from_diameter(
            volume, line.start_lps_mm, line.end_lps_mm, progress=progress, cancel=cancel
        )
    return finish(segmentation)


def core_strokes(strokes: tuple[Stroke, ...], *, brush_radius_mm: float) -> Strokes:
    """The painted strokes as the core takes them: lesion and background points apart."""

    def points(lesion: bool) -> NDArray[np.float64]:
        parts = [s.points_lps_mm for s in strokes if s.lesion == lesion]
        return np.concatenate(parts) if parts else np.empty((0, 3))

    return Strokes(points(True), points(False), brush_radius_mm=brush_radius_mm)


class StrokeTool:
    """Strokes painted on one image and the segmenter that serves them.

    ``strokes`` are all painted so far; ``applied`` those the shown label map
    reflects (fewer while an update runs). The strokes belonging to a label map
    are remembered with it (:meth:`record_step`), so that undoing a stroke's
    result also takes the stroke back (:meth:`follow`): the session's history
    stays the one place that knows what was done.
    """

    def __init__(self, volume: Volume) -> None:
        self.volume = volume
        self.strokes: tuple[Stroke, ...] = ()
        self.applied: tuple[Stroke, ...] = ()
        self._segmenter: StrokeSegmenter | None = None
        self._centre_lps_mm: NDArray[np.float64] | None = None
        self._by_labels: weakref.WeakKeyDictionary[LabelMap, tuple[Stroke, ...]] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def has_lesion(self) -> bool:
        """True once a lesion stroke was painted (without one there is nothing to grow)."""
        return any(stroke.lesion for stroke in self.strokes)

    @property
    def pending(self) -> bool:
        """True when strokes were painted or taken back since the shown result."""
        return self.strokes != self.applied

    def counts(self) -> tuple[int, int]:
        """Numbers of lesion and not-lesion strokes."""
        lesion = sum(stroke.lesion for stroke in self.strokes)
        return lesion, len(self.strokes) - lesion

    def paint(self, stroke: Stroke) -> None:
        self.strokes = (*self.strokes, stroke)

    def segment(self, strokes: tuple[Stroke, ...], *, brush_radius_mm: float) -> LesionResult:
        """The lesion from ``strokes`` (one call at a time: the segmenter is shared)."""
        lesion = [s.points_lps_mm for s in strokes if s.lesion]
        if not lesion:
            raise InvalidParameterError(
                "Lesion strokes: paint inside the lesion first, then mark what is not lesion."
            )
        with _app_words():
            segmenter = self._segmenter_for(np.concatenate(lesion))
            segmentation = segmenter.update(core_strokes(strokes, brush_radius_mm=brush_radius_mm))
        return finish(segmentation)

    def _segmenter_for(self, lesion_lps_mm: NDArray[np.float64]) -> StrokeSegmenter:
        """The kept segmenter, or a new one centred on the lesion strokes when they left its
        region (its precomputed data covers that region only)."""
        centre = self._centre_lps_mm
        if (
            self._segmenter is None
            or centre is None
            or np.abs(lesion_lps_mm - centre).max() > STROKE_REGION_HALF_MM
        ):
            centre = 0.5 * (lesion_lps_mm.min(axis=0) + lesion_lps_mm.max(axis=0))
            self._segmenter = StrokeSegmenter(
                self.volume, centre_lps_mm=centre, half_size_mm=STROKE_REGION_HALF_MM
            )
            self._centre_lps_mm = centre
        return self._segmenter

    def record_step(
        self, before: LabelMap | None, after: LabelMap, strokes: tuple[Stroke, ...]
    ) -> None:
        """A lesion step replaces ``before`` by ``after``, the result of ``strokes`` (none for
        a line or a click: they start the strokes afresh)."""
        if before is not None and before not in self._by_labels:
            self._by_labels[before] = self.applied
        self._by_labels[after] = tuple(strokes)
        self.strokes = self.applied = tuple(strokes)

    def follow(self, labels: LabelMap | None) -> bool:
        """Take the strokes of ``labels`` when a lesion step showed it (undo, redo); True then.

        Other label maps (a brush edit, the anatomy) keep the strokes as they are.
        """
        known = None if labels is None else self._by_labels.get(labels)
        if known is None:
            return False
        self.strokes = self.applied = known
        return True
