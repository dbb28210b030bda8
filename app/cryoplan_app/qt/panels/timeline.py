"""Freeze timeline: the protocol's phases as coloured bands and a slider that replays the ice.

The growth replay (whole temperature fields every
:data:`~cryoplan_app.logic.growth.RECORD_STEP_S` seconds, which the plan
evaluation does not keep) is computed and kept by the application's logic
(:class:`~cryoplan_app.logic.growth.GrowthLogic`); this panel starts it and shows
it. Moving the slider shows the field at that time in every view through the
session's displayed temperature field; "Lowest temperature" gives the views
back the evaluation's field.
"""

from __future__ import annotations

import math

from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen
from PyQt6.QtWidgets import QHBoxLayout, QPushButton, QSizePolicy, QSlider, QVBoxLayout, QWidget

from cryoplan_app.logic.growth import GROWTH_SPACING_MM, RECORD_STEP_S
from cryoplan_app.logic.runner import TaskHandle
from cryoplan_app.model.plan_state import TemperatureField
from cryoplan_app.qt.context import AppContext
from cryoplan_app.qt.panels.widgets import after_drag, note
from planning_core.thermal.protocol import Phase, Protocol
from planning_core.thermal.result import SimulationResult

#: Slider resolution.
SLIDER_STEP_S = 10
PHASE_COLORS = {
    "freeze": QColor("#4f8fd6"),
    "passive_thaw": QColor("#f0b34a"),
    "active_thaw": QColor("#e0603c"),
}
PHASE_WORDS = {"freeze": "Freeze", "passive_thaw": "Thaw", "active_thaw": "Active thaw"}


def phase_at(protocol: Protocol, time_s: float) -> tuple[int, Phase]:
    """Index and phase running at ``time_s`` (the last one at and after the end)."""
    for index, (start, phase) in enumerate(
        zip(protocol.phase_starts_s(), protocol.phases, strict=True)
    ):
        if time_s < start + phase.duration_s:
            return index, phase
    return len(protocol.phases) - 1, protocol.phases[-1]


def clock(time_s: float) -> str:
    minutes, seconds = divmod(round(time_s), 60)
    return f"{minutes:d}:{seconds:02d}"


class PhaseBands(QWidget):
    """The protocol's phases as coloured bands along time, with a marker at the shown time."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.protocol: Protocol | None = None
        self.time_s: float | None = None
        self.setMinimumHeight(34)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def show_protocol(self, protocol: Protocol, time_s: float | None) -> None:
        self.protocol, self.time_s = protocol, time_s
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        if self.protocol is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        width, height = self.width() - 1, self.height() - 1
        total = self.protocol.duration_s
        font = QFont(painter.font())
        font.setPointSizeF(max(font.pointSizeF() - 1, 7))
        painter.setFont(font)
        for start, phase in zip(self.protocol.phase_starts_s(), self.protocol.phases, strict=True):
            left = width * start / total
            band = QRectF(left, 0, width * phase.duration_s / total, height)
            painter.fillRect(band, PHASE_COLORS[phase.kind])
            painter.setPen(QPen(QColor("white"), 1))
            painter.drawRect(band)
            text = f"{PHASE_WORDS[phase.kind]} {phase.duration_s / 60:g} min"
            if painter.fontMetrics().horizontalAdvance(text) > band.width() - 4:
                text = phase.code
            painter.setPen(QColor("black"))
            painter.drawText(band, Qt.AlignmentFlag.AlignCenter, text)
        if self.time_s is not None:
            x = width * min(self.time_s, total) / total
            painter.setPen(QPen(QColor("#111111"), 3))
            painter.drawLine(int(x), 0, int(x), height)
        painter.end()


class TimelinePanel(QWidget):
    """See the module docstring.

    ``displayed_time_s`` is the time whose field the views show (``None``: the
    evaluation's lowest-temperature field); ``growth`` the replay of the present
    plan (``None`` while not computed for it).
    """

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.session = context.session
        self.replay = context.logic.growth
        self.displayed_time_s: float | None = None
        self._shown: TemperatureField | None = None

        self.bands = PhaseBands()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setSingleStep(SLIDER_STEP_S)
        self.slider.setPageStep(int(RECORD_STEP_S))
        self.slider.valueChanged.connect(self._slider_moved)
        self.time_note = note(selectable=False)
        self.time_note.setMinimumWidth(260)
        self.compute_button = QPushButton("Replay ice growth")
        self.compute_button.setToolTip(
            f"Simulate the plan keeping the temperature every {RECORD_STEP_S:g} s "
            f"({GROWTH_SPACING_MM:g}-mm grid); then move the slider."
        )
        self.compute_button.clicked.connect(self.compute)
        self.lowest_button = QPushButton("Lowest temperature")
        self.lowest_button.setToolTip("Show the evaluation's lowest temperature (the lethal dose).")
        self.lowest_button.clicked.connect(self.show_lowest)
        row = QHBoxLayout()
        row.addWidget(self.time_note, 1)
        row.addWidget(self.compute_button)
        row.addWidget(self.lowest_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.bands)
        layout.addWidget(self.slider)
        layout.addLayout(row)

        self.session.document.plan_changed.connect(after_drag(self.session, self._inputs_changed))
        self.session.document.labels_changed.connect(lambda _labels: self._inputs_changed())
        self.session.case_changed.connect(lambda _case: self._inputs_changed())
        self.session.document.preview_changed.connect(self._preview_changed)
        self.replay.arrived.connect(lambda _growth: self._slider_moved(self.slider.value()))
        self.replay.changed.connect(self._show_time)
        self._inputs_changed()

    # -- state ----------------------------------------------------------------------------
    @property
    def protocol(self) -> Protocol:
        return self.session.document.plan.parsed_protocol()

    @property
    def growth(self) -> SimulationResult | None:
        """The replay of the present plan and labels, or None."""
        return self.replay.result

    def _inputs_changed(self) -> None:
        protocol = self.protocol
        self.slider.blockSignals(True)
        self.slider.setRange(0, math.ceil(protocol.duration_s))
        self.slider.blockSignals(False)
        if self.displayed_time_s is not None and self.growth is None:
            self.show_lowest()  # the replay shown belongs to other inputs
        self._show_time()

    def _preview_changed(self, field: TemperatureField | None) -> None:
        # Another tool (a probe drag) took over the displayed field.
        if field is not self._shown and self._shown is not None:
            self._shown = None
            self.displayed_time_s = None
            self._show_time()

    def _show_time(self) -> None:
        protocol = self.protocol
        self.compute_button.setEnabled(self.replay.can_compute and self.growth is None)
        self.lowest_button.setEnabled(self.displayed_time_s is not None)
        self.bands.show_protocol(protocol, self.displayed_time_s)
        total = f"of {clock(protocol.duration_s)}"
        if self.replay.running:
            self.time_note.setText("Simulating the ice growth…")
        elif self.displayed_time_s is None:
            hint = "move the slider to replay" if self.growth is not None else "replay not computed"
            self.time_note.setText(f"Showing the lowest temperature ({total}; {hint}).")
        else:
            index, phase = phase_at(protocol, self.displayed_time_s)
            self.time_note.setText(
                f"t = {clock(self.displayed_time_s)} {total} — phase {index + 1}: "
                f"{PHASE_WORDS[phase.kind].lower()}"
            )

    # -- forwarding -----------------------------------------------------------------------
    def compute(self) -> TaskHandle | None:
        """Start the replay of the present plan (None when it cannot start)."""
        return self.replay.compute()

    def _slider_moved(self, value: int) -> None:
        if self.growth is None:
            self.displayed_time_s = None
            if not self.replay.running:
                self.compute()
            self._show_time()
            return
        self.show_time(float(value))

    # -- showing --------------------------------------------------------------------------
    def show_time(self, time_s: float) -> None:
        """Show the recorded field nearest ``time_s`` in the views.

        Raises
        ------
        PlanningError
            When the replay of the present plan has not been computed.
        """
        self.displayed_time_s, self._shown = self.replay.field_at(time_s)
        self.session.document.set_preview(self._shown)
        self._show_time()

    def show_lowest(self) -> None:
        """Give the views back the evaluation's lowest-temperature field."""
        shown, self._shown = self._shown, None
        self.displayed_time_s = None
        if shown is not None and self.session.document.temperature_field is shown:
            self.session.document.set_preview(None)
        self._show_time()
