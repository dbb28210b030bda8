"""Colours that mean the same thing wherever a plan is drawn: the app's views and the report.

One owner, so that the 0 °C ice edge the radiologist saw on screen has the
same colour in the printed report (issue 14, F16).
"""

from __future__ import annotations

import numpy as np

RGB = tuple[float, float, float]

#: Amber of warnings and of checks that could not be made ("not assessed"): neither
#: the green of a pass nor the red of a failure, in the app and the report alike.
WARNING_AMBER_HEX = "#b7791f"

#: Known isotherms, warm to cold, as RGB in 0..1: 0 °C (ice edge) cyan, -20 °C green,
#: -40 °C (the usual lethal isotherm) magenta, -60 °C violet. Others are interpolated.
ISOTHERM_COLORS_RGB: tuple[tuple[float, RGB], ...] = (
    (0.0, (0.25, 0.92, 1.0)),
    (-20.0, (0.55, 1.0, 0.2)),
    (-40.0, (1.0, 0.25, 0.95)),
    (-60.0, (0.6, 0.3, 1.0)),
)


def isotherm_color(level_c: float) -> RGB:
    """The colour of the isotherm ``level_c`` (°C) as RGB in 0..1, in every view and the report."""
    temperatures = [t for t, _ in ISOTHERM_COLORS_RGB]
    colors = np.array([c for _, c in ISOTHERM_COLORS_RGB])
    # np.interp wants increasing abscissae: the table runs from warm to cold.
    channels = [
        float(np.interp(level_c, temperatures[::-1], colors[::-1, channel])) for channel in range(3)
    ]
    return channels[0], channels[1], channels[2]
