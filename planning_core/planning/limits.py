"""What a plan may hold: hard limits refused on loading, and its own settings' limits.

The hard limits are the upper bounds of the settings a user can choose
(``--max-probes`` up to 25, ``--max-freeze-min`` up to 120 min): a plan beyond
them is no plan anyone could have made with cryoplan, and simulating or
reporting it would take minutes or hundreds of pages, so it is refused. A plan
within them that exceeds its own, tighter settings (a probe added by hand) is
loaded, and the excess travels as a warning into the evaluation and the report.
"""

from __future__ import annotations

import math

import numpy as np

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.planning.plan import Plan
from planning_core.planning.settings import SETTING_RANGES
from planning_core.thermal.protocol import Protocol

#: Most probes of any plan: the upper bound of ``--max-probes`` ("Max probes").
HARD_MAX_PROBES = int(SETTING_RANGES["max_probes"].maximum)
#: Longest total freeze of any plan: the upper bound of ``--max-freeze-min``.
HARD_MAX_FREEZE_S = SETTING_RANGES["max_total_freeze_s"].maximum
#: Longest protocol, thaws included: two hard freeze limits leave ample time to thaw.
MAX_PROTOCOL_DURATION_S = 2.0 * HARD_MAX_FREEZE_S
#: Most phases of a protocol; clinical protocols have three to five.
MAX_PROTOCOL_PHASES = 20
#: Largest LPS coordinate of a probe point: scanner coordinates stay within metres.
MAX_COORDINATE_MM = 1.0e5
#: How far outside the planning image a probe tip may lie (a tip there freezes no tissue).
MAX_TIP_OUTSIDE_IMAGE_MM = 100.0
#: Farthest entry point from its tip: three times the longest usable probe length.
MAX_ENTRY_DISTANCE_MM = 3.0 * SETTING_RANGES["usable_length_mm"].maximum


def probe_count_problem(count: int) -> str | None:
    """Why a plan with ``count`` probes is refused, or ``None`` when it is within the hard limit."""
    if count <= HARD_MAX_PROBES:
        return None
    return (
        f"the plan has {count} probes; cryoplan plans, evaluates and reports at most "
        f"{HARD_MAX_PROBES} (the largest 'Max probes', --max-probes). Remove probes."
    )


def coordinate_problem(point: tuple[float, float, float]) -> str | None:
    """Why a probe point is refused on loading, or ``None`` when its coordinates are plausible."""
    if max(abs(value) for value in point) <= MAX_COORDINATE_MM:
        return None
    return (
        f"coordinates beyond ±{MAX_COORDINATE_MM:g} mm lie outside any scanner; "
        "the file is damaged or was edited by mistake."
    )


def check_protocol_limits(protocol: Protocol) -> Protocol:
    """Return ``protocol`` when it is within the hard limits.

    Raises
    ------
    InvalidParameterError
        For more freezing than :data:`HARD_MAX_FREEZE_S`, a duration beyond
        :data:`MAX_PROTOCOL_DURATION_S` or more than :data:`MAX_PROTOCOL_PHASES` phases.
    """
    if protocol.freeze_time_s > HARD_MAX_FREEZE_S:
        raise InvalidParameterError(
            f"the protocol freezes {protocol.freeze_time_s / 60.0:g} min in total; at most "
            f"{HARD_MAX_FREEZE_S / 60.0:g} min (the largest 'Max total freeze', "
            "--max-freeze-min) are simulated. Shorten the freeze phases."
        )
    if protocol.duration_s > MAX_PROTOCOL_DURATION_S:
        raise InvalidParameterError(
            f"the protocol lasts {protocol.duration_s / 60.0:g} min; at most "
            f"{MAX_PROTOCOL_DURATION_S / 60.0:g} min are simulated. Shorten the thaw phases."
        )
    if len(protocol.phases) > MAX_PROTOCOL_PHASES:
        raise InvalidParameterError(
            f"the protocol has {len(protocol.phases)} phases; at most {MAX_PROTOCOL_PHASES} "
            "are simulated. Shorten the protocol."
        )
    return protocol


def settings_limit_warnings(plan: Plan) -> tuple[str, ...]:
    """Where ``plan`` exceeds the limits of its own settings (within the hard limits)."""
    settings = plan.settings
    warnings = []
    if len(plan.probes) > settings.max_probes:
        warnings.append(
            f"The plan has {len(plan.probes)} probes, more than its limit of "
            f"{settings.max_probes} ('Max probes'; --max-probes when planning)."
        )
    freeze_s = plan.parsed_protocol().freeze_time_s
    if freeze_s > settings.max_total_freeze_s:
        warnings.append(
            f"The protocol freezes {freeze_s / 60.0:g} min in total, longer than the plan's "
            f"limit of {settings.max_total_freeze_s / 60.0:g} min ('Max total freeze'; "
            "--max-freeze-min when planning)."
        )
    return tuple(warnings)


def probe_position_problems(plan: Plan, geometry: Geometry) -> tuple[str, ...]:
    """Probes whose tip lies far outside the planning image, or whose entry lies absurdly far.

    A tip more than :data:`MAX_TIP_OUTSIDE_IMAGE_MM` outside the image has no
    tissue to freeze, and an entry more than :data:`MAX_ENTRY_DISTANCE_MM` from
    its tip describes no probe; simulating either would size the thermal grid
    after them.
    """
    problems = []
    spacing_ijk = np.asarray(geometry.spacing_mm, dtype=np.float64)
    margin_ijk = MAX_TIP_OUTSIDE_IMAGE_MM / spacing_ijk
    low = -0.5 - margin_ijk
    high = np.asarray(geometry.size_ijk, dtype=np.float64) - 0.5 + margin_ijk
    for number, probe in enumerate(plan.probes):
        name = probe.label or f"probe {number + 1}"
        ijk = geometry.lps_to_index(probe.tip_lps_mm)
        if not np.all((ijk >= low) & (ijk <= high)):
            problems.append(
                f"{name}: the tip {_point_text(probe.tip_lps_mm)} lies more than "
                f"{MAX_TIP_OUTSIDE_IMAGE_MM:g} mm outside the planning image; move it "
                f"(probes[{number}].tip_lps_mm)."
            )
        distance_mm = math.dist(probe.tip_lps_mm, probe.entry_lps_mm)
        if distance_mm > MAX_ENTRY_DISTANCE_MM:
            problems.append(
                f"{name}: the entry lies {distance_mm:.0f} mm from the tip, more than "
                f"{MAX_ENTRY_DISTANCE_MM:g} mm; move it (probes[{number}].entry_lps_mm)."
            )
    return tuple(problems)


def _point_text(point: tuple[float, float, float]) -> str:
    return "(" + ", ".join(f"{value:.4g}" for value in point) + ") mm"
