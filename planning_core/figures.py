"""One text form per figure a user reads, so every screen shows the same number.

A figure shown in two places (the case list and the practice panel, the score
breakdown and the reveal table, the logbook and the report) must read the
same. The quantities come from one definition each (tumor diameter:
:func:`planning_core.segmentation.metrics.max_diameter_mm`; tumor volume:
:func:`planning_core.segmentation.metrics.mask_volume_ml` on the image grid;
coverage: :class:`planning_core.planning.results.IsothermCoverage`) and are
written by the functions here, each with one rounding rule:

==================  =========================================================
Figure              Rule
==================  =========================================================
length, distance    0.1 mm (``28.4 mm``)
volume              0.01 mL below 10 mL, 0.1 mL from 10 mL (``0.43 mL``)
coverage            0.1 %, rounded down, so 100 % means nothing was missed
margin              0.1 mm, signed only when negative (``-1.2 mm``)
practice score      0.1 point (``71.3``)
==================  =========================================================
"""

from __future__ import annotations

import math

#: Volumes below this are written with two decimals (a 0.4 mL tumor must not read 0 mL).
FINE_VOLUME_ML = 10.0


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def format_length_mm(value_mm: float) -> str:
    """A length or distance: ``28.4 mm``."""
    return f"{value_mm:.1f} mm" if _finite(value_mm) else "—"


def format_volume_ml(value_ml: float) -> str:
    """A volume: ``0.43 mL`` below 10 mL, ``12.5 mL`` from 10 mL on."""
    if not _finite(value_ml):
        return "—"
    decimals = 2 if abs(value_ml) < FINE_VOLUME_ML else 1
    return f"{value_ml:.{decimals}f} mL"


def coverage_tenths(percent: float) -> float:
    """``percent`` rounded down to 0.1 %: 99.96 % stays below 100 % (tumor left untreated)."""
    # The small tolerance keeps 99.3 (stored as 99.29999...) at 99.3.
    return math.floor(percent * 10.0 + 1e-6) / 10.0


def format_coverage_percent(percent: float) -> str:
    """A covered share: ``99.8 %``; ``100.0 %`` only when nothing is left uncovered."""
    return f"{coverage_tenths(percent):.1f} %" if _finite(percent) else "—"


def format_margin_mm(value_mm: float | None) -> str:
    """A minimal ablative margin: ``4.0 mm``, ``-1.2 mm`` inside the tumor; none: ``—``."""
    return "—" if value_mm is None else format_length_mm(value_mm)


def format_score(points: float) -> str:
    """A practice score out of 100: ``71.3``, the same in the panel, history and logbook."""
    return f"{points:.1f}" if _finite(points) else "—"
