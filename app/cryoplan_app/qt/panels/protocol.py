"""Protocol editor: presets, the phase list, and a free code field checked as it is typed.

The plan stores its protocol as text (``F10-T8-F10`` or a preset name); every
change here goes to the session as that text, one undo step each. A code
that :func:`~planning_core.thermal.protocol.parse_protocol` refuses is never
sent: its error is shown under the field instead. Each phase has a power (duty
cycle, 0-100 %) for all probes; per-probe powers (``F10@100/50``) are typed in
the code field and shown, read-only, in the table. The presets usual for the
plan's organ site come first in the menu (the logic's
:class:`~cryoplan_app.logic.protocols.ProtocolLogic` knows the site), each with
its source in its tooltip.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from cryoplan_app.logic.protocols import PresetChoice
from cryoplan_app.qt.context import AppContext
from cryoplan_app.qt.panels.widgets import after_drag, format_minutes, note, number_box
from planning_core.errors import PlanningError
from planning_core.thermal.protocol import PROTOCOL_PRESETS, Phase, Protocol, parse_protocol

CUSTOM = "Custom"
#: Phase kinds in the order the type menus list them, with the words users read.
PHASE_KINDS = (
    ("freeze", "Freeze"),
    ("passive_thaw", "Passive thaw"),
    ("active_thaw", "Active thaw"),
)
_ERROR_STYLE = "color: #c62828;"
_KIND_COLUMN, _MINUTES_COLUMN, _POWER_COLUMN = 0, 1, 2
_PER_PROBE_TIP = "One power per probe; edit it in the Code field (e.g. F10@100/50)."


class ProtocolPanel(QWidget):
    """Edits the session plan's freeze-thaw protocol; see the module docstring."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.session = context.session
        self.protocols = context.logic.protocols
        self._updating = False
        self._offered: tuple[PresetChoice, ...] = ()

        self.preset_choice = QComboBox()
        self.preset_choice.currentTextChanged.connect(self._preset_chosen)
        self.site_note = note()

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(("Phase", "Duration", "Power"))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(28)
        self.table.setMinimumHeight(150)
        self.add_button = QPushButton("Add phase")
        self.add_button.clicked.connect(self._add_phase)
        self.remove_button = QPushButton("Remove last")
        self.remove_button.clicked.connect(self._remove_phase)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)

        self.code_field = QLineEdit()
        self.code_field.setPlaceholderText("e.g. F10-T8-F10 or 10-5-10")
        self.code_field.setToolTip(
            "F freeze, T passive thaw, A active thaw, each followed by minutes; "
            "numbers alone alternate freeze and thaw. A freeze or active thaw may end "
            "in @percent (power for all probes, F10@50) or @p1/p2 (one per probe). "
            "Press Enter to apply."
        )
        self.code_field.textEdited.connect(self._code_edited)
        self.code_field.returnPressed.connect(self._apply_code)
        self.apply_button = QPushButton("Apply")
        self.apply_button.clicked.connect(self._apply_code)
        code_row = QHBoxLayout()
        code_row.addWidget(self.code_field, 1)
        code_row.addWidget(self.apply_button)
        self.error_note = note()
        self.error_note.setStyleSheet(_ERROR_STYLE)
        self.summary_note = note()
        self.preset_note = note()

        form = QFormLayout()
        form.addRow("Preset", self.preset_choice)
        form.addRow("Code", code_row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addWidget(self.site_note)
        layout.addWidget(self.preset_note)
        layout.addWidget(self.error_note)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addWidget(self.summary_note)
        layout.addStretch(1)
        self.session.document.plan_changed.connect(after_drag(self.session, self._show_plan))
        for signal in (self.session.document.labels_changed, self.session.document.results_changed):
            signal.connect(lambda _value: self._refresh_presets())
        self._show_plan()

    # -- model -> widgets -----------------------------------------------------------------
    def _show_plan(self) -> None:
        plan = self.session.document.plan
        protocol = plan.parsed_protocol()
        self._updating = True
        self._offer_presets()
        preset = self.protocols.preset_of(plan.protocol) or CUSTOM
        self.preset_choice.setCurrentText(preset)
        self.preset_note.setText(
            _preset_text(PROTOCOL_PRESETS[preset])
            if preset in PROTOCOL_PRESETS
            else "Custom sequence (F freeze, T passive thaw, A active thaw; minutes; "
            "@percent power)."
        )
        self.code_field.setText(protocol.code)
        self.error_note.setText("")
        self.table.setRowCount(len(protocol.phases))
        for row, phase in enumerate(protocol.phases):
            kind = QComboBox()
            for value, text in PHASE_KINDS:
                kind.addItem(text, value)
            kind.setCurrentIndex([v for v, _ in PHASE_KINDS].index(phase.kind))
            kind.currentIndexChanged.connect(lambda _index: self._phases_edited())
            minutes = number_box(
                minimum=0.5, maximum=60.0, value=phase.duration_s / 60.0, unit="min", step=1.0
            )
            minutes.valueChanged.connect(lambda _value: self._phases_edited())
            self.table.setCellWidget(row, _KIND_COLUMN, kind)
            self.table.setCellWidget(row, _MINUTES_COLUMN, minutes)
            self.table.setCellWidget(row, _POWER_COLUMN, self._power_widget(phase))
        self.remove_button.setEnabled(len(protocol.phases) > 1)
        self._updating = False
        self._show_summary(protocol)

    def _refresh_presets(self) -> None:
        """The organ site may have changed (labels, evaluation): offer the presets again.

        The phases and the code field stay as they are: the user may be typing.
        """
        plan = self.session.document.plan
        self._updating = True
        self._offer_presets()
        self.preset_choice.setCurrentText(self.protocols.preset_of(plan.protocol) or CUSTOM)
        self._updating = False

    def _offer_presets(self) -> None:
        """List the presets, those usual for the plan's organ site first; say which site."""
        offered = self.protocols.presets()
        usual = [choice.name for choice in offered if choice.usual]
        site = self.protocols.site()
        sentence = site.sentence()
        sentence = sentence[:1].upper() + sentence[1:]  # "Organ site field" keeps its capital
        if site.site is None:
            self.site_note.setText(f"{sentence}: presets in the usual order.")
        elif usual:
            self.site_note.setText(f"{sentence}: usual presets {', '.join(usual)} (listed first).")
        else:
            self.site_note.setText(f"{sentence}: no preset of its own.")
        if offered == self._offered:
            return
        self._offered = offered
        self.preset_choice.clear()
        self.preset_choice.addItem(CUSTOM)
        for number, choice in enumerate(offered):
            if number == len(usual) and usual:
                self.preset_choice.insertSeparator(self.preset_choice.count())
            self.preset_choice.addItem(choice.name)
            self.preset_choice.setItemData(
                self.preset_choice.count() - 1, choice.description, Qt.ItemDataRole.ToolTipRole
            )

    def _power_widget(self, phase: Phase) -> QWidget:
        """A 0-100 % box for the phase's power; a read-only label for per-probe powers."""
        if isinstance(phase.power_percent, tuple):
            label = QLabel("/".join(f"{v:g}" for v in phase.power_percent) + " %")
            label.setToolTip(_PER_PROBE_TIP)
            return label
        power = number_box(
            minimum=0.0,
            maximum=100.0,
            value=phase.power_percent,
            unit="%",
            decimals=0,
            step=10.0,
            tooltip="Duty cycle of the probes in this phase (100 %: full power).",
        )
        if phase.kind == "passive_thaw":
            power.setEnabled(False)
            power.setToolTip("The probes are off during a passive thaw.")
        power.valueChanged.connect(lambda _value: self._phases_edited())
        return power

    def _show_summary(self, protocol: Protocol) -> None:
        text = (
            f"Total {format_minutes(protocol.duration_s)}, of which freezing "
            f"{format_minutes(protocol.freeze_time_s)}."
        )
        limit_s = self.session.document.plan.settings.max_total_freeze_s
        if protocol.freeze_time_s > limit_s:
            text += f" ⚠ Longer than the plan's freeze limit ({format_minutes(limit_s)})."
        self.summary_note.setText(text)

    # -- widgets -> model -----------------------------------------------------------------
    def set_code(self, code: str) -> bool:
        """Send ``code`` to the plan when it parses; else show why. Returns whether it was sent."""
        try:
            protocol = parse_protocol(code)
        except PlanningError as error:
            self.error_note.setText(str(error))
            return False
        self.error_note.setText("")
        text = code.strip() if code.strip() in PROTOCOL_PRESETS else protocol.code
        if text != self.session.document.plan.protocol:
            try:
                self.session.document.set_protocol(text)
            except PlanningError as error:
                self.context.errors.show_error(error)
                return False
        return True

    def _preset_chosen(self, name: str) -> None:
        if not self._updating and name in PROTOCOL_PRESETS:
            self.set_code(name)

    def _code_edited(self, text: str) -> None:
        """Check the code while it is typed; applying waits for Enter or Apply."""
        try:
            protocol = parse_protocol(text)
        except PlanningError as error:
            self.error_note.setText(str(error))
            self.apply_button.setEnabled(False)
            return
        self.error_note.setText("")
        self.apply_button.setEnabled(True)
        self._show_summary(protocol)

    def _apply_code(self) -> None:
        if self.set_code(self.code_field.text()):
            self.apply_button.setEnabled(True)

    def _table_protocol(self) -> Protocol:
        shown = self.session.document.plan.parsed_protocol().phases
        phases = []
        for row in range(self.table.rowCount()):
            kind = self.table.cellWidget(row, _KIND_COLUMN).currentData()
            minutes = self.table.cellWidget(row, _MINUTES_COLUMN).value()
            power_cell = self.table.cellWidget(row, _POWER_COLUMN)
            # Per-probe powers are shown read-only: keep them as they are.
            power = (
                power_cell.value()
                if not isinstance(power_cell, QLabel)
                else shown[row].power_percent
            )
            if kind == "passive_thaw":
                power = 100.0  # probes are off; a thaw has no power
            phases.append(Phase(kind, minutes * 60.0, power_percent=power))
        return Protocol(tuple(phases))

    def _phases_edited(self) -> None:
        if self._updating:
            return
        try:
            protocol = self._table_protocol()
        except PlanningError as error:
            self.error_note.setText(str(error))
            return
        self.set_code(protocol.code)

    def _add_phase(self) -> None:
        protocol = self.session.document.plan.parsed_protocol()
        last = protocol.phases[-1]
        kind = "passive_thaw" if last.kind == "freeze" else "freeze"
        self.set_code(Protocol((*protocol.phases, Phase(kind, last.duration_s))).code)

    def _remove_phase(self) -> None:
        protocol = self.session.document.plan.parsed_protocol()
        if len(protocol.phases) > 1:
            try:
                shorter = Protocol(protocol.phases[:-1])
            except PlanningError as error:
                self.error_note.setText(str(error))
                return
            self.set_code(shorter.code)


def _preset_text(preset: Protocol) -> str:
    """The note under the preset menu: what it is and the organs it is usual for."""
    return f"{preset.description.capitalize()}. Usual for {', '.join(preset.organs)}."
