"""Freeze timeline: the protocol's phases as coloured bands and a slider that replays the ice.

The growth replay needs whole temperature fields at many times, which the
plan evaluation does not keep; this panel runs its own simulation of the
plan with fields recorded every :data:`RECORD_STEP_S` seconds, on a coarser
grid (:data:`GROWTH_SPACING_MM`, for speed: it is for watching, not for the
reported numbers). Moving the slider shows the field at that time in every
view through the session's displayed temperature field; "Lowest temperature"
gives the views back the evaluation's field.
"""

from __future__ import annotations

import math

import numpy as np
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen
from PyQt6.QtWidgets import QHBoxLayout, QPushButton, QSizePolicy, QSlider, QVBoxLayout, QWidget

from cryoplan_app.model.plan_state import InputsKey, TemperatureField
from cryoplan_app.qt.panels.widgets import after_drag, note
from cryoplan_app.qt.tasks import Task
from planning_core.errors import InvalidParameterError, PlanningError
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.evaluate import placed_probes
from planning_core.planning.plan import Plan
from planning_core.progress import CancelToken, ProgressCallback
from planning_core.thermal.probes import ProbeLibrary
from planning_core.thermal.protocol import Phase, Protocol
from planning_core.thermal.result import SimulationResult
from planning_core.thermal.setup import build_setup
from planning_core.thermal.solver import simulate

#: Time between recorded fields of the replay.
RECORD_STEP_S = 60.0
#: Grid spacing of the replay simulation.
GROWTH_SPACING_MM = 2.0
#: Slider resolution.
SLIDER_STEP_S = 10
PHASE_COLORS = {
    "freeze": QColor("#4f8fd6"),
    "passive_thaw": QColor("#f0b34a"),
    "active_thaw": QColor("#e0603c"),
}
PHASE_WORDS = {"freeze": "Freeze", "passive_thaw": "Thaw", "active_thaw": "Active thaw"}


def record_times_s(protocol: Protocol, *, step_s: float = RECORD_STEP_S) -> tuple[float, ...]:
    """Every ``step_s`` from 0 to the protocol's end, plus each phase boundary and the end."""
    total = protocol.duration_s
    times = {*np.arange(0.0, total, step_s).tolist(), *protocol.phase_starts_s(), total}
    return tuple(sorted(float(t) for t in times))


def simulate_growth(
    plan: Plan,
    volume: Volume | None,
    labels: LabelMap,
    *,
    probe_library: ProbeLibrary,
    spacing_mm: float = GROWTH_SPACING_MM,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SimulationResult:
    """Simulate ``plan`` keeping whole fields at :func:`record_times_s` of its protocol.

    Raises
    ------
    InvalidParameterError
        When the plan has no probes.
    """
    if not plan.probes:
        raise InvalidParameterError("the plan has no probes; add a probe to replay the freeze.")
    protocol = plan.parsed_protocol()
    setup = build_setup(
        placed_probes(plan.probes, probe_library),
        volume=volume,
        labels=labels,
        spacing_mm=spacing_mm,
    )
    return simulate(
        setup,
        protocol,
        record_times_s=record_times_s(protocol),
        isotherms_c=plan.settings.metric_isotherms_c(),
        progress=progress,
        cancel=cancel,
    )


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
    evaluation's lowest-temperature field); ``growth`` the replay simulation.
    """

    def __init__(self, window, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self.session = window.session
        self.growth: SimulationResult | None = None
        self.displayed_time_s: float | None = None
        self.task: Task | None = None
        self._growth_inputs: InputsKey | None = None
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

        self.session.plan_changed.connect(after_drag(self.session, self._inputs_changed))
        self.session.labels_changed.connect(lambda _labels: self._inputs_changed())
        self.session.case_changed.connect(lambda _case: self._inputs_changed())
        self.session.preview_changed.connect(self._preview_changed)
        window.runner.task_finished.connect(self._task_finished)
        self._inputs_changed()

    # -- state ----------------------------------------------------------------------------
    @property
    def protocol(self) -> Protocol:
        return self.session.plan.parsed_protocol()

    def _inputs_changed(self) -> None:
        protocol = self.protocol
        self.slider.blockSignals(True)
        self.slider.setRange(0, math.ceil(protocol.duration_s))
        self.slider.blockSignals(False)
        if self.growth is not None and not self._growth_inputs.matches(
            self.session.current_inputs()
        ):
            self.growth = None
            self.show_lowest()
        self._show_time()

    def _preview_changed(self, field: TemperatureField | None) -> None:
        # Another tool (a probe drag) took over the displayed field.
        if field is not self._shown and self._shown is not None:
            self._shown = None
            self.displayed_time_s = None
            self._show_time()

    def _show_time(self) -> None:
        protocol = self.protocol
        can_run = self.session.case is not None and bool(self.session.plan.probes)
        self.compute_button.setEnabled(can_run and self.task is None and self.growth is None)
        self.lowest_button.setEnabled(self.displayed_time_s is not None)
        self.bands.show_protocol(protocol, self.displayed_time_s)
        total = f"of {clock(protocol.duration_s)}"
        if self.task is not None:
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

    # -- computing ------------------------------------------------------------------------
    def compute(self) -> Task | None:
        """Run the replay simulation of the present plan in a worker."""
        case, labels = self.session.case, self.session.labels
        plan = self.session.plan
        if case is None or not plan.probes or self.task is not None:
            return None
        if labels is None:
            labels = LabelMap.empty(case.volume.geometry)
        volume, library, inputs = (
            case.volume,
            self.session.probe_library,
            self.session.current_inputs(),
        )
        self.task = self.window.runner.submit(
            "Simulating the ice growth",
            lambda progress, cancel: simulate_growth(
                plan, volume, labels, probe_library=library, progress=progress, cancel=cancel
            ),
            on_done=lambda result: self._growth_ready(result, inputs),
            key="timeline",
        )
        self._show_time()
        return self.task

    def _growth_ready(self, result: SimulationResult, inputs: InputsKey) -> None:
        if not inputs.matches(self.session.current_inputs()):
            return  # the plan changed meanwhile
        self.growth, self._growth_inputs = result, inputs
        self._slider_moved(self.slider.value())

    def _task_finished(self, task: Task) -> None:
        if task is self.task:
            self.task = None
            self._show_time()

    # -- showing --------------------------------------------------------------------------
    def _slider_moved(self, value: int) -> None:
        if self.growth is None:
            self.displayed_time_s = None
            if self.task is None:
                self.compute()
            self._show_time()
            return
        self.show_time(float(value))

    def show_time(self, time_s: float) -> None:
        """Show the recorded field nearest ``time_s`` in the views."""
        if self.growth is None:
            raise PlanningError("The ice growth has not been simulated yet.")
        times = np.array(sorted(self.growth.snapshots_c))
        nearest = float(times[np.argmin(np.abs(times - time_s))])
        self.displayed_time_s = nearest
        self._shown = TemperatureField(
            self.growth.snapshots_c[nearest], self.growth.geometry, approximate=True
        )
        self.session.set_preview(self._shown)
        self._show_time()

    def show_lowest(self) -> None:
        """Give the views back the evaluation's lowest-temperature field."""
        shown, self._shown = self._shown, None
        self.displayed_time_s = None
        if shown is not None and self.session.temperature_field is shown:
            self.session.set_preview(None)
        self._show_time()
