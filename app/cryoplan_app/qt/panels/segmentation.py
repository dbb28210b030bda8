"""Segmentation panel: tumor by click, diameter line or strokes; brush, clean-up, organs.

Every result replaces the session's label map through its history, so each
edit is one undo step; a stroke's result is one step too, and undoing it also
takes the stroke back (:class:`~cryoplan_app.model.lesion_tools.StrokeTool`).
The computing is the application logic's
(:class:`~cryoplan_app.logic.segmentation.SegmentationLogic`, running
:mod:`planning_core.segmentation` in the background); this panel drives the
tools and shows the results; the lesion's volume and RECIST axes are shown
after every tumor segmentation.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from numpy.typing import NDArray
from PyQt6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cryoplan_app.logic.segmentation import BrushStroke
from cryoplan_app.model.lesion_tools import (
    TUMOR_LABEL,
    LesionFigures,
    LesionResult,
    StrokeTool,
)
from cryoplan_app.model.planes import SLICE_VIEWS
from cryoplan_app.model.sketch import Sketch, SketchLine, Stroke, new_line, new_stroke
from cryoplan_app.qt.context import AppContext
from cryoplan_app.qt.panels.view_tool import Stage, ViewTool
from cryoplan_app.qt.panels.widgets import format_lps, group, note, number_box
from planning_core.errors import PlanningError
from planning_core.figures import format_length_mm, format_volume_ml
from planning_core.imaging.labels import LabelMap
from planning_core.segmentation import editing
from planning_core.segmentation.organs import ORGAN_PROFILES, OrganSegmentation

SEED_TOOL = "tumor seed"
LINE_TOOL = "diameter line"
LESION_STROKE_TOOL = "lesion strokes"
BACKGROUND_STROKE_TOOL = "not lesion strokes"
ORGAN_TOOL = "organ seed"
BRUSH_TOOL = "brush"
ERASE_TOOL = "erase"
#: Stroke points are kept this fraction of the stroke radius apart: the painted band stays
#: continuous without sending the core a point per mouse event.
STROKE_STEP_FRACTION = 0.5


class SegmentationPanel(QWidget):
    """Tumor by seed click, manual label edits and anatomy; see the module docstring."""

    def __init__(self, context: AppContext, tool: ViewTool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.session = context.session
        self.tool = tool
        self.seed_lps_mm: NDArray[np.float64] | None = None
        self._stroke: BrushStroke | None = None
        # The lesion tools: what they draw over the 2-D views, and their state.
        self.sketch = Sketch()
        for name in SLICE_VIEWS:
            context.views[name].set_sketch(self.sketch)
        self.segmentation = context.logic.segmentation
        self._line_start: NDArray[np.float64] | None = None
        self._live: Stroke | None = None

        self.click_button = QPushButton("Click tumor")
        self.click_button.setCheckable(True)
        self.click_button.setToolTip(
            "Then click inside the tumor in a 2-D view: the tumor is segmented from that point."
        )
        self.click_button.toggled.connect(self._toggle_seed_tool)
        self.run_button = QPushButton("Segment")
        self.run_button.setToolTip("Segment the tumor from the last seed (or the crosshair).")
        self.run_button.clicked.connect(self.segment)
        self.seed_note = note("Seed: none (click tumor, or the crosshair is used)")
        self.line_button = QPushButton("Diameter line")
        self.line_button.setCheckable(True)
        self.line_button.setToolTip(
            "Then drag the lesion's longest diameter on one slice of a 2-D view, from edge "
            "to edge, as for a RECIST measurement: the 3-D lesion is segmented from it. "
            "For lesions one click cannot take (necrosis, calcification, cystic parts)."
        )
        self.line_button.toggled.connect(self._toggle_line_tool)
        self.lesion_stroke_button = QPushButton("Lesion strokes")
        self.background_stroke_button = QPushButton("Not lesion strokes")
        for button, lesion in (
            (self.lesion_stroke_button, True),
            (self.background_stroke_button, False),
        ):
            button.setCheckable(True)
            button.toggled.connect(partial(self._toggle_stroke_tool, lesion))
        self.lesion_stroke_button.setToolTip(
            "Paint inside the lesion on any slice of a 2-D view; the 3-D lesion is updated "
            "after each stroke. Ctrl+Z takes the last stroke back."
        )
        self.background_stroke_button.setToolTip(
            "Paint over tissue that is not lesion (where the result leaked); the 3-D lesion "
            "is updated after each stroke. Ctrl+Z takes the last stroke back."
        )
        self.stroke_radius_box = number_box(
            minimum=0.5, maximum=10.0, value=2.0, unit="mm", step=0.5
        )
        self.stroke_radius_box.setPrefix("radius ")
        self.stroke_radius_box.setToolTip(
            "Stroke radius: the band painted around the mouse's path."
        )
        self.stroke_note = _hidden_note()
        self.result_note = note()
        self.figures_note = _hidden_note()
        tumor_row = QHBoxLayout()
        tumor_row.addWidget(self.click_button)
        tumor_row.addWidget(self.run_button)
        tumor_row.addWidget(self.line_button)
        stroke_row = QHBoxLayout()
        stroke_row.addWidget(self.lesion_stroke_button)
        stroke_row.addWidget(self.background_stroke_button)
        stroke_row.addWidget(self.stroke_radius_box)
        tumor_box = QWidget()
        tumor_layout = QVBoxLayout(tumor_box)
        tumor_layout.setContentsMargins(0, 0, 0, 0)
        tumor_layout.addLayout(tumor_row)
        tumor_layout.addLayout(stroke_row)
        tumor_layout.addWidget(self.seed_note)
        tumor_layout.addWidget(self.stroke_note)
        tumor_layout.addWidget(self.result_note)
        tumor_layout.addWidget(self.figures_note)

        self.label_choice = QComboBox()
        self.label_choice.setEditable(True)
        self.label_choice.setToolTip("Label the edits below change (a new name creates it).")
        self.brush_button = QPushButton("Brush")
        self.erase_button = QPushButton("Erase")
        for button, name in ((self.brush_button, BRUSH_TOOL), (self.erase_button, ERASE_TOOL)):
            button.setCheckable(True)
            button.setToolTip("Left click or drag in a 2-D view paints a sphere of this radius.")
            button.toggled.connect(partial(self._toggle_brush, name))
        self.radius_box = number_box(minimum=0.5, maximum=30.0, value=3.0, unit="mm", step=0.5)
        self.margin_box = number_box(minimum=0.5, maximum=30.0, value=2.0, unit="mm", step=0.5)
        self.island_box = number_box(
            minimum=0.01, maximum=100.0, value=0.5, unit="mL", decimals=2, step=0.1
        )
        self.largest_button = QPushButton("Keep largest part")
        self.islands_button = QPushButton("Remove islands below")
        self.fill_button = QPushButton("Fill holes")
        self.grow_button = QPushButton("Grow by")
        self.shrink_button = QPushButton("Shrink by")
        self.largest_button.clicked.connect(
            partial(self._clean_up, "Keep largest part", editing.keep_largest_island)
        )
        self.fill_button.clicked.connect(partial(self._clean_up, "Fill holes", editing.fill_holes))
        self.islands_button.clicked.connect(self._remove_islands)
        self.grow_button.clicked.connect(partial(self._change_margin, grow=True))
        self.shrink_button.clicked.connect(partial(self._change_margin, grow=False))
        edit_box = QWidget()
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Label", self.label_choice)
        brush_row = QHBoxLayout()
        brush_row.addWidget(self.brush_button)
        brush_row.addWidget(self.erase_button)
        brush_row.addWidget(self.radius_box)
        form.addRow("Brush", brush_row)
        grid = QGridLayout()
        grid.addWidget(self.largest_button, 0, 0)
        grid.addWidget(self.fill_button, 0, 1)
        grid.addWidget(self.islands_button, 1, 0)
        grid.addWidget(self.island_box, 1, 1)
        grid.addWidget(self.grow_button, 2, 0)
        grid.addWidget(self.shrink_button, 3, 0)
        grid.addWidget(self.margin_box, 2, 1, 2, 1)
        edit_layout = QVBoxLayout(edit_box)
        edit_layout.setContentsMargins(0, 0, 0, 0)
        edit_layout.addLayout(form)
        edit_layout.addLayout(grid)

        self.anatomy_button = QPushButton("Automatic anatomy (CT)")
        self.anatomy_button.setToolTip(
            "Body, skin, bone, aerated lung and bowel gas from Hounsfield thresholds; "
            "existing labels are kept."
        )
        self.anatomy_button.clicked.connect(self.segment_anatomy)
        self.anatomy_note = note()
        self.organ_choice = QComboBox()
        self.organ_choice.addItems(ORGAN_PROFILES)
        self.organ_button = QPushButton("Click organ")
        self.organ_button.setCheckable(True)
        self.organ_button.setToolTip(
            "Then click inside the chosen organ in a 2-D view: it is grown from that point."
        )
        self.organ_button.toggled.connect(self._toggle_organ_tool)
        organ_row = QWidget()
        organ_layout = QHBoxLayout(organ_row)
        organ_layout.setContentsMargins(0, 0, 0, 0)
        organ_layout.addWidget(self.organ_choice, 1)
        organ_layout.addWidget(self.organ_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(group("Tumor", tumor_box))
        layout.addWidget(group("Edit a label", edit_box))
        layout.addWidget(group("Organs", self.anatomy_button, self.anatomy_note, organ_row))
        layout.addStretch(1)

        self.session.case_changed.connect(self._on_case)
        self.session.document.labels_changed.connect(self._on_labels)
        self.session.view.selected_label_changed.connect(self._on_selected_label)
        tool.changed.connect(self._sync_tool_buttons)
        self._on_case(self.session.case)

    # -- state ----------------------------------------------------------------------------
    def _on_case(self, case: object) -> None:
        self.seed_lps_mm = None
        self.seed_note.setText("Seed: none (click tumor, or the crosshair is used)")
        self.result_note.setText("")
        self.anatomy_note.setText("")
        has_case = case is not None
        for widget in (
            self.click_button, self.run_button, self.anatomy_button, self.organ_button,
            self.line_button, self.lesion_stroke_button, self.background_stroke_button,
        ):  # fmt: skip
            widget.setEnabled(has_case)
        self._line_start, self._live = None, None
        self.sketch.clear()
        self._on_labels(self.session.document.labels)

    def _on_labels(self, labels: LabelMap | None) -> None:
        self._fill_label_choice()
        tool = self.strokes
        if tool is not None and tool.follow(labels):  # undo or redo of a lesion step
            self.sketch.set_strokes(tool.strokes)
        self._show_stroke_count()
        self._show_figures(labels)

    def _fill_label_choice(self) -> None:
        current = self.label_choice.currentText() or self.session.view.selected_label or TUMOR_LABEL
        labels = self.session.document.labels
        names = list(labels.names) if labels is not None else []
        if TUMOR_LABEL not in names:
            names.insert(0, TUMOR_LABEL)
        self.label_choice.blockSignals(True)
        self.label_choice.clear()
        self.label_choice.addItems(names)
        self.label_choice.setCurrentText(current)
        self.label_choice.blockSignals(False)

    def _on_selected_label(self, name: str | None) -> None:
        if name:
            self.label_choice.setCurrentText(name)

    @property
    def strokes(self) -> StrokeTool | None:
        """The open case's stroke tool (kept by the application's logic)."""
        return self.segmentation.strokes

    @property
    def edited_label(self) -> str:
        return self.label_choice.currentText().strip() or TUMOR_LABEL

    def _sync_tool_buttons(self, active: str) -> None:
        for button, name in (
            (self.click_button, SEED_TOOL),
            (self.line_button, LINE_TOOL),
            (self.lesion_stroke_button, LESION_STROKE_TOOL),
            (self.background_stroke_button, BACKGROUND_STROKE_TOOL),
            (self.organ_button, ORGAN_TOOL),
            (self.brush_button, BRUSH_TOOL),
            (self.erase_button, ERASE_TOOL),
        ):
            button.blockSignals(True)
            button.setChecked(active == name)
            button.blockSignals(False)

    def _current_labels(self) -> LabelMap:
        return self.segmentation.current_labels()

    # -- tumor ----------------------------------------------------------------------------
    def _toggle_seed_tool(self, checked: bool) -> None:
        if checked:
            self.tool.activate(SEED_TOOL, self._seed_clicked)
        else:
            self.tool.deactivate(SEED_TOOL)

    def _seed_clicked(self, stage: Stage, lps_mm: NDArray[np.float64]) -> None:
        if stage != "press":
            return
        self.tool.deactivate(SEED_TOOL)
        self.set_seed(lps_mm)
        self.segment()

    def set_seed(self, lps_mm: NDArray[np.float64]) -> None:
        """Use ``lps_mm`` as the tumor seed and show it at the crosshair."""
        self.seed_lps_mm = np.asarray(lps_mm, dtype=np.float64).reshape(3)
        self.seed_note.setText(f"Seed: LPS {format_lps(self.seed_lps_mm)} mm")
        self.session.view.set_crosshair(self.seed_lps_mm)

    def segment(self) -> None:
        """Segment the tumor from the seed (the crosshair when no seed was clicked)."""
        seed = self.seed_lps_mm if self.seed_lps_mm is not None else self.session.view.crosshair_lps
        task = self.segmentation.segment_tumor(
            seed, on_done=self._lesion_segmented, on_error=self._failed(self.result_note)
        )
        if task is not None:
            self.result_note.setText("Segmenting…")

    def _lesion_segmented(self, result: LesionResult, strokes: tuple[Stroke, ...]) -> None:
        """Show ``result``, now the tumor label, and the strokes it came from."""
        self.sketch.set_strokes(strokes)
        segmentation = result.segmentation
        lines = [
            f"Tumor: {format_volume_ml(segmentation.volume_ml)}, largest diameter "
            f"{format_length_mm(segmentation.max_diameter_mm)}, "
            f"confidence {segmentation.confidence:.0%}."
        ]
        lines += [f"⚠ {warning}" for warning in segmentation.warnings]
        self.result_note.setText("\n".join(lines))

    def _show_figures(self, labels: LabelMap | None) -> None:
        """The tumor's volume and RECIST axes under the results (measured in a worker)."""
        if labels is None or not labels.has(TUMOR_LABEL):
            _set_note(self.figures_note, "")
            return
        known, figures = self.segmentation.known_figures(labels)
        if known:
            _set_note(self.figures_note, "" if figures is None else figures.text())
            return

        def done(figures: LesionFigures | None) -> None:
            if labels is self.session.document.labels:
                _set_note(self.figures_note, "" if figures is None else figures.text())

        _set_note(self.figures_note, "Measuring the lesion…")
        self.segmentation.measure(labels, on_done=done, on_error=self._failed(self.figures_note))

    # -- diameter line --------------------------------------------------------------------
    def _toggle_line_tool(self, checked: bool) -> None:
        if checked:
            self.tool.activate(LINE_TOOL, self._line_dragged)
        else:
            self.tool.deactivate(LINE_TOOL)

    def _line_dragged(self, stage: Stage, lps_mm: NDArray[np.float64]) -> None:
        if stage == "press":
            self._line_start = lps_mm
        if self._line_start is None:
            return
        line = new_line(self._line_start, lps_mm)
        self.sketch.set_line(line)  # drawn with its length while dragging
        if stage == "release":
            self._line_start = None
            self.tool.deactivate(LINE_TOOL)
            self.segment_from_line(line)

    def segment_from_line(self, line: SketchLine) -> None:
        """Segment the lesion whose long axis is ``line`` (in a worker)."""
        task = self.segmentation.segment_from_line(
            line, on_done=self._lesion_segmented, on_error=self._failed(self.result_note)
        )
        if task is not None:
            self.result_note.setText(
                f"Segmenting the lesion along a {format_length_mm(line.length_mm)} line…"
            )

    # -- strokes --------------------------------------------------------------------------
    def _toggle_stroke_tool(self, lesion: bool, checked: bool) -> None:
        name = LESION_STROKE_TOOL if lesion else BACKGROUND_STROKE_TOOL
        if checked:
            self.tool.activate(name, partial(self._stroke_painted, lesion))
        else:
            self.tool.deactivate(name)

    def _stroke_painted(self, lesion: bool, stage: Stage, lps_mm: NDArray[np.float64]) -> None:
        tool = self.strokes
        if tool is None:
            return
        step_mm = STROKE_STEP_FRACTION * self.stroke_radius_box.value()
        if stage == "press":
            self._live = new_stroke(lesion, lps_mm)
            self.sketch.line = None  # the strokes' result replaces the line's
        elif self._live is None:
            return
        else:
            self._live = self._live.extended(lps_mm, step_mm=step_mm)
        if stage != "release":
            self.sketch.set_strokes(tool.strokes, live=self._live)
            return
        stroke, self._live = self._live, None
        tool.paint(stroke)
        self.sketch.set_strokes(tool.strokes)
        self._show_stroke_count()
        self.update_from_strokes()

    def update_from_strokes(self) -> None:
        """Segment the lesion from the strokes painted so far (in a worker; the newest wins)."""
        task = self.segmentation.update_from_strokes(
            brush_radius_mm=self.stroke_radius_box.value(),
            on_done=self._lesion_segmented,
            on_error=self._failed(self.result_note),
        )
        tool = self.strokes
        if task is not None:
            self.result_note.setText("Updating the lesion from the strokes…")
        elif (
            tool is not None
            and tool.pending
            and not tool.has_lesion
            and not self.segmentation.updating_from_strokes
        ):
            self.result_note.setText("Paint inside the lesion first (Lesion strokes).")

    def _show_stroke_count(self) -> None:
        tool = self.strokes
        lesion, background = (0, 0) if tool is None else tool.counts()
        _set_note(
            self.stroke_note,
            f"Strokes: {lesion} lesion, {background} not lesion (Ctrl+Z takes the last back)."
            if lesion or background
            else "",
        )

    def _failed(self, target: QLabel) -> Callable[[BaseException, str], None]:
        """An error handler that clears ``target``'s 'working' text and shows the error."""

        def handler(error: BaseException, details: str) -> None:
            target.setText("")
            self.context.errors.show_error(error, details)

        return handler

    # -- brush ----------------------------------------------------------------------------
    def _toggle_brush(self, name: str, checked: bool) -> None:
        if checked:
            self.tool.activate(name, partial(self._brush, name == ERASE_TOOL))
        else:
            self.tool.deactivate(name)

    def _brush(self, erase: bool, stage: Stage, lps_mm: NDArray[np.float64]) -> None:
        if stage == "press":
            self._stroke = self.segmentation.start_brush(
                self.edited_label, radius_mm=self.radius_box.value(), erase=erase
            )
        if self._stroke is None:
            return
        if stage != "release":
            self._stroke.paint(lps_mm)
            return
        stroke, self._stroke = self._stroke, None
        stroke.finish()

    # -- clean-up -------------------------------------------------------------------------
    def _apply_edit(self, text: str, edit: Callable[[LabelMap], LabelMap]) -> None:
        """Run ``edit`` on the edited label in a worker; its result is one undo step."""
        self.segmentation.edit_label(text, self.edited_label, edit)

    def _clean_up(self, text: str, function: Callable[[LabelMap, str], LabelMap]) -> None:
        name = self.edited_label
        self._guarded(lambda: self._apply_edit(text, lambda m: function(m, name)))

    def _remove_islands(self) -> None:
        name, min_mm3 = self.edited_label, self.island_box.value() * 1000.0
        self._guarded(
            lambda: self._apply_edit(
                "Remove small islands",
                lambda m: editing.remove_small_islands(m, name, min_volume_mm3=min_mm3),
            )
        )

    def _change_margin(self, *, grow: bool) -> None:
        name, margin = self.edited_label, self.margin_box.value()
        function = editing.grow if grow else editing.shrink
        text = f"{'Grow' if grow else 'Shrink'} by {margin:g} mm"
        self._guarded(lambda: self._apply_edit(text, lambda m: function(m, name, margin_mm=margin)))

    def _guarded(self, action: Callable[[], None]) -> None:
        try:
            action()
        except PlanningError as error:
            self.context.errors.show_error(error)

    # -- organs ---------------------------------------------------------------------------
    def segment_anatomy(self) -> None:
        """Add body, skin, bone, lung and bowel gas around the existing labels."""
        task = self.segmentation.segment_anatomy(
            on_done=self._anatomy_done, on_error=self._failed(self.anatomy_note)
        )
        if task is not None:
            self.anatomy_note.setText("Segmenting the anatomy…")

    def _anatomy_done(self, result) -> None:
        volumes = ", ".join(
            f"{n} {format_volume_ml(v)}" for n, v in result.volumes_ml().items() if v > 0
        )
        lines = [f"Anatomy: {volumes}."] + [f"⚠ {w}" for w in result.warnings]
        self.anatomy_note.setText("\n".join(lines))

    def _toggle_organ_tool(self, checked: bool) -> None:
        if checked:
            self.tool.activate(ORGAN_TOOL, self._organ_clicked)
        else:
            self.tool.deactivate(ORGAN_TOOL)

    def _organ_clicked(self, stage: Stage, lps_mm: NDArray[np.float64]) -> None:
        if stage == "press":
            self.tool.deactivate(ORGAN_TOOL)
            self.segment_organ(self.organ_choice.currentText(), lps_mm)

    def segment_organ(self, name: str, seed_lps_mm: NDArray[np.float64]) -> None:
        """Grow organ ``name`` from ``seed_lps_mm``, keeping the other labels."""
        task = self.segmentation.segment_organ(
            name, seed_lps_mm, on_done=self._organ_done, on_error=self._failed(self.anatomy_note)
        )
        if task is not None:
            self.anatomy_note.setText(f"Segmenting the {name}…")

    def _organ_done(self, result: OrganSegmentation) -> None:
        lines = [f"{result.name}: {format_volume_ml(result.volume_ml)}."]
        lines += [f"⚠ {warning}" for warning in result.warnings]
        self.anatomy_note.setText("\n".join(lines))


def _hidden_note() -> QLabel:
    """A note that takes no room while it has nothing to say."""
    label = note()
    label.setVisible(False)
    return label


def _set_note(label: QLabel, text: str) -> None:
    label.setText(text)
    label.setVisible(bool(text))
