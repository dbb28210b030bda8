"""Small building blocks shared by the workflow panels: number inputs with units, text formats."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QDoubleSpinBox,
    QGroupBox,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cryoplan_app.model.session import Session
from planning_core.planning.parameters import ParameterRange

# Units as a radiologist reads them next to a number.
_UNIT_SUFFIX = {"deg": " °", "°C": " °C", "mm": " mm", "s": " s", "min": " min", "": ""}


def after_drag(session: Session, refresh: Callable[[], None]) -> Callable[..., None]:
    """A signal handler that calls ``refresh()`` now, or once when a probe drag finishes.

    A panel's tables and figures take longer to redraw than a drag preview
    takes to compute; while a probe is dragged they wait for ``drag_finished``.
    """
    pending = False

    def on_change(*_args: object) -> None:
        nonlocal pending
        if session.document.dragging:
            pending = True
        else:
            pending = False
            refresh()

    def on_drag_finished() -> None:
        if pending:
            on_change()

    session.document.drag_finished.connect(on_drag_finished)
    return on_change


def unit_suffix(unit: str) -> str:
    return _UNIT_SUFFIX.get(unit, f" {unit}")


def number_box(
    *,
    minimum: float,
    maximum: float,
    value: float,
    unit: str = "",
    decimals: int = 1,
    step: float = 1.0,
    tooltip: str = "",
) -> QDoubleSpinBox:
    """A spin box for a decimal number with its unit shown after the value."""
    box = QDoubleSpinBox()
    box.setRange(minimum, maximum)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setSuffix(unit_suffix(unit))
    box.setValue(value)
    box.setKeyboardTracking(False)  # one change per finished entry, not per keystroke
    box.setAlignment(Qt.AlignmentFlag.AlignRight)
    box.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
    if tooltip:
        box.setToolTip(tooltip)
    return box


def range_box(declared: ParameterRange, value: float) -> QDoubleSpinBox | QSpinBox:
    """An input bounded by a declared parameter range, with its unit and meaning as tooltip."""
    tooltip = (
        f"{declared.description} ({declared.minimum:g}–{declared.maximum:g}"
        f"{unit_suffix(declared.unit)})"
    )
    if declared.integer:
        box = QSpinBox()
        box.setRange(int(declared.minimum), int(declared.maximum))
        box.setSuffix(unit_suffix(declared.unit))
        box.setValue(int(value))
        box.setKeyboardTracking(False)
        box.setAlignment(Qt.AlignmentFlag.AlignRight)
        box.setToolTip(tooltip)
        return box
    span = declared.maximum - declared.minimum
    return number_box(
        minimum=declared.minimum,
        maximum=declared.maximum,
        value=float(value),
        unit=declared.unit,
        decimals=0 if span >= 1000 else 1,
        step=1.0,
        tooltip=tooltip,
    )


def compact_combo(*, min_chars: int = 18) -> QComboBox:
    """A combo box that does not widen its panel to its longest entry (tooltips show it all)."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(min_chars)
    return combo


def group(title: str, *widgets: QWidget) -> QGroupBox:
    """A titled box holding ``widgets`` top to bottom."""
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(6, 6, 6, 6)
    for widget in widgets:
        layout.addWidget(widget)
    return box


def note(text: str = "", *, selectable: bool = True) -> QLabel:
    """A wrapped text line for results and hints."""
    label = QLabel(text)
    label.setWordWrap(True)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def format_lps(point: Sequence[float]) -> str:
    x, y, z = (float(v) for v in point)
    return f"({x:.1f}, {y:.1f}, {z:.1f})"


def format_minutes(duration_s: float) -> str:
    minutes = duration_s / 60.0
    return f"{minutes:.0f} min" if minutes == round(minutes) else f"{minutes:.1f} min"
