"""Display window (width) and level (centre) of grey values, with the usual presets."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from planning_core.errors import InvalidParameterError

#: CT presets, (window, level) in HU, as radiology workstations name them.
CT_PRESETS: dict[str, tuple[float, float]] = {
    "abdomen": (400.0, 40.0),
    "liver": (150.0, 60.0),
    "lung": (1500.0, -600.0),
    "bone": (2000.0, 400.0),
}
#: Values this low only occur in CT (air is -1000 HU); a hint for files without a modality.
HU_AIR_THRESHOLD = -500.0
#: Every preset name; ``"ultrasound"`` spans the image's full value range.
PRESET_NAMES: tuple[str, ...] = (*CT_PRESETS, "ultrasound")

# Right-drag sensitivity: 200 px to the right widen the window e-fold (×2.7);
# 200 px upwards raise the level by one window width.
_WINDOW_PER_PX = 1.0 / 200.0
_LEVEL_WINDOWS_PER_PX = 1.0 / 200.0
# The narrowest window, as a fraction of the value range (a pure threshold display).
_MIN_WINDOW_FRACTION = 1e-3


@dataclass(frozen=True)
class WindowLevel:
    """Grey values ``level ± window / 2`` span black to white.

    ``preset`` names the preset the setting came from, ``None`` once edited.
    """

    window: float
    level: float
    preset: str | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.window) and math.isfinite(self.level)) or self.window <= 0:
            raise InvalidParameterError(
                f"window must be a positive number and level finite, got window={self.window}, "
                f"level={self.level}."
            )

    @property
    def low(self) -> float:
        return self.level - 0.5 * self.window

    @property
    def high(self) -> float:
        return self.level + 0.5 * self.window


def _checked_range(value_range: tuple[float, float]) -> tuple[float, float]:
    low, high = (float(v) for v in value_range)
    if not (math.isfinite(low) and math.isfinite(high)) or high < low:
        raise InvalidParameterError(
            f"value_range must be two finite numbers (min, max), got {value_range!r}."
        )
    return low, high


def preset_window_level(name: str, *, value_range: tuple[float, float]) -> WindowLevel:
    """Preset ``name`` (see :data:`PRESET_NAMES`) for an image whose values span ``value_range``."""
    if name in CT_PRESETS:
        window, level = CT_PRESETS[name]
        return WindowLevel(window, level, name)
    if name == "ultrasound":
        return replace(full_range(value_range), preset=name)
    raise InvalidParameterError(
        f"unknown window/level preset {name!r}; choose one of {', '.join(PRESET_NAMES)}."
    )


def full_range(value_range: tuple[float, float]) -> WindowLevel:
    """Black at the image's minimum, white at its maximum."""
    low, high = _checked_range(value_range)
    return WindowLevel(max(high - low, 1e-6), 0.5 * (low + high))


def default_window_level(modality: str, *, value_range: tuple[float, float]) -> WindowLevel:
    """The first display of an image.

    CT gets the abdomen window and ultrasound its full range. Images of unknown
    modality (NIfTI files carry none) whose values reach below
    :data:`HU_AIR_THRESHOLD` are taken for CT in Hounsfield units; others show
    their full range.
    """
    if modality == "CT" or (modality != "US" and value_range[0] <= HU_AIR_THRESHOLD):
        return preset_window_level("abdomen", value_range=value_range)
    if modality == "US":
        return preset_window_level("ultrasound", value_range=value_range)
    return full_range(value_range)


def dragged(
    window_level: WindowLevel,
    *,
    dx_px: float,
    dy_px: float,
    value_range: tuple[float, float],
) -> WindowLevel:
    """The setting after a right-drag of ``dx_px`` to the right and ``dy_px`` upwards.

    Dragging right widens the window (multiplicatively, so the feel is the same
    for lung and liver windows); dragging up raises the level, darkening the image.
    """
    low, high = _checked_range(value_range)
    min_window = max((high - low) * _MIN_WINDOW_FRACTION, 1e-6)
    window = max(window_level.window * math.exp(dx_px * _WINDOW_PER_PX), min_window)
    level = window_level.level + dy_px * _LEVEL_WINDOWS_PER_PX * window_level.window
    return WindowLevel(window, level)
