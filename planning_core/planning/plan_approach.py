"""What a plan records about the approach and organ protection.

Records only, light enough for :mod:`planning_core.planning.plan` to hold:
the rules that judge paths with them live in
:mod:`planning_core.planning.approach`, the physics of the measures in
:mod:`planning_core.thermal.protection`.
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from planning_core.errors import InvalidParameterError
from planning_core.planning.settings import TABLE_DIRECTION_LPS
from planning_core.thermal.protection import (
    HydrodissectionLayer,
    Protection,
    ProtectionProposal,
    SkinPack,
)

PositionSource = Literal["header", "absent", "unrecognised", "given"]
TableSource = Literal["image", "patient position"]
#: What a plan says when neither the image nor the user tells the patient position.
POSITION_UNKNOWN_NOTE = "patient position unknown: table side not assessed"

#: Side of the patient that rests on the table, by direction toward the table (LPS).
TABLE_SIDE_NAMES: dict[tuple[int, int, int], str] = {
    (0, 1, 0): "back",
    (0, -1, 0): "front",
    (1, 0, 0): "left side",
    (-1, 0, 0): "right side",
}


@dataclass(frozen=True)
class PositionReading:
    """The patient position of an image, or why it is unknown.

    Attributes
    ----------
    position : str or None
        A key of :data:`~planning_core.planning.settings.TABLE_DIRECTION_LPS`,
        or ``None`` when unknown.
    source : {"header", "absent", "unrecognised", "given"}
        Where it came from: the image header, nowhere (absent), a header value
        this planner does not know, or the caller.
    raw : str
        The header value as read (empty when absent).
    """

    position: str | None
    source: PositionSource
    raw: str = ""

    def __post_init__(self) -> None:
        if self.position is not None and self.position not in TABLE_DIRECTION_LPS:
            raise InvalidParameterError(
                f"patient position {self.position!r} is not supported; use one of "
                f"{', '.join(TABLE_DIRECTION_LPS)} (--patient-position)."
            )
        if self.source not in ("header", "absent", "unrecognised", "given"):
            raise InvalidParameterError(f"unknown patient position source {self.source!r}.")
        if (self.position is None) != (self.source in ("absent", "unrecognised")):
            raise InvalidParameterError(
                f"a patient position from {self.source!r} must "
                f"{'not ' if self.source in ('absent', 'unrecognised') else ''}be given."
            )

    @property
    def known(self) -> bool:
        return self.position is not None

    def describe(self) -> str:
        """One line for the user: the position and where it came from, or why it is unknown."""
        if self.source == "header":
            return f"patient position {self.position} (from the image header)"
        if self.source == "given":
            return f"patient position {self.position} (chosen by the user)"
        if self.source == "unrecognised":
            return (
                f"patient position unknown: the image header says {self.raw!r}, which is not "
                f"one of {', '.join(TABLE_DIRECTION_LPS)}; choose the patient position"
            )
        return (
            "patient position unknown: the image header has no Patient Position (0018,5100); "
            "choose the patient position"
        )


def _triple(value: object, name: str) -> tuple[float, float, float] | None:
    if value is None:
        return None
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.shape != (3,) or not np.all(np.isfinite(array)):
        raise InvalidParameterError(f"{name} must be three finite LPS values.")
    return (float(array[0]), float(array[1]), float(array[2]))


@dataclass(frozen=True)
class PlanApproach:
    """The approach a plan was made for: patient position, table side, gantry and refusals.

    Attributes
    ----------
    position : PositionReading
    table_down_lps : tuple of float or None
        Unit vector from the patient toward the table; ``None`` when the table
        side is not known (then no approach rule was applied).
    table_source : {"image", "patient position"} or None
        Where the table side came from.
    table_top_mm : float or None
        Where the patient rests along ``table_down_lps`` (the body's lowest point).
    bore_axis_lps_mm : tuple of float or None
        A point on the gantry bore axis (which runs along the patient's S axis).
    bore_diameter_mm, handle_length_mm, min_entry_height_mm : float
        The rules' settings (:class:`~planning_core.planning.approach.ApproachRules`).
    max_craniocaudal_deg : float or None
        The position's craniocaudal limit (``None`` when the position is unknown).
    candidate_entries : int
        Candidate skin entries toward the tumor centre that every other path
        check allows, which the approach rules then judged (0: none judged, e.g.
        a hand-made plan).
    refused_entries : mapping of str to int
        How many of them each approach rule refused (reason -> count; an entry
        refused for two reasons counts under both).
    refused_total : int
        How many candidate entries the rules refused (each once).
    notes : tuple of str
        What the user should know (unknown position, image and header disagree).
    """

    position: PositionReading
    table_down_lps: tuple[float, float, float] | None = None
    table_source: TableSource | None = None
    table_top_mm: float | None = None
    bore_axis_lps_mm: tuple[float, float, float] | None = None
    bore_diameter_mm: float = 700.0
    handle_length_mm: float = 100.0
    min_entry_height_mm: float = 40.0
    max_craniocaudal_deg: float | None = None
    candidate_entries: int = 0
    refused_entries: Mapping[str, int] = field(default_factory=dict)
    refused_total: int = 0
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.position, PositionReading):
            raise InvalidParameterError("position must be a PositionReading.")
        down = _triple(self.table_down_lps, "table_down_lps")
        if down is not None and tuple(int(v) for v in np.rint(down)) not in TABLE_SIDE_NAMES:
            raise InvalidParameterError(
                f"table_down_lps must be a patient axis (±L or ±P), got {down}."
            )
        object.__setattr__(self, "table_down_lps", down)
        object.__setattr__(
            self, "bore_axis_lps_mm", _triple(self.bore_axis_lps_mm, "bore_axis_lps_mm")
        )
        if (down is None) != (self.table_source is None):
            raise InvalidParameterError("table_source is given exactly when the table side is.")
        if self.table_source not in (None, "image", "patient position"):
            raise InvalidParameterError(f"unknown table source {self.table_source!r}.")
        for name in ("bore_diameter_mm", "handle_length_mm", "min_entry_height_mm"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise InvalidParameterError(f"{name} must be a non-negative number of mm.")
        counts = dict(self.refused_entries)
        if any(
            not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, int) or v < 0
            for k, v in counts.items()
        ):
            raise InvalidParameterError("refused_entries must map reasons to whole counts.")
        object.__setattr__(self, "refused_entries", types.MappingProxyType(counts))
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def table_known(self) -> bool:
        return self.table_down_lps is not None

    @property
    def table_side(self) -> str | None:
        """The patient's side on the table (``"back"``, ``"front"``, ...), or ``None``."""
        if self.table_down_lps is None:
            return None
        return TABLE_SIDE_NAMES[tuple(int(v) for v in np.rint(self.table_down_lps))]  # type: ignore[index]

    def describe(self) -> str:
        """One line: position, table side and where it came from."""
        if not self.position.known and not self.table_known:
            return POSITION_UNKNOWN_NOTE
        position = self.position.describe() if self.position.known else "patient position unknown"
        if not self.table_known:
            return f"{position}; table side not assessed"
        return f"{position}; table on the patient's {self.table_side} ({self.table_source})"

    def describe_refusals(self) -> str:
        """One line on the candidate entries the rules refused."""
        if not self.table_known:
            return "entries not checked for the table side, the gantry or the position's angles"
        if not self.candidate_entries:
            return "no candidate entries were judged (probes placed by hand)"
        reasons = "; ".join(f"{count} {reason}" for reason, count in self.refused_entries.items())
        return (
            f"the approach rules refused {self.refused_total} of the {self.candidate_entries} "
            "candidate entries the path checks allow" + (f" ({reasons})" if reasons else "")
        )


@dataclass(frozen=True, eq=False)
class PlannedProtection:
    """A protective measure the plan holds, for one structure.

    Attributes
    ----------
    structure : str
        Label name of the structure protected (an organ at risk, or the body for the skin).
    measure : HydrodissectionLayer or SkinPack
        Where the fluid goes and at what temperature; evaluation puts it on the
        simulation grid (:func:`~planning_core.thermal.protection.apply_protection`).
    reason : str
        Why it was proposed (empty when placed by the user).
    """

    structure: str
    measure: Protection
    reason: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.structure, str) or not self.structure.strip():
            raise InvalidParameterError("a protective measure must name the structure it protects.")
        if not isinstance(self.measure, HydrodissectionLayer | SkinPack):
            raise InvalidParameterError(
                "a protective measure is a hydrodissection layer or a warm skin pack."
            )
        if not isinstance(self.reason, str):
            raise InvalidParameterError("the reason of a protective measure must be text.")

    @classmethod
    def from_proposal(cls, proposal: ProtectionProposal) -> PlannedProtection:
        """The record of a proposed measure, its reason included."""
        return cls(proposal.structure, proposal.measure, proposal.describe())

    def __eq__(self, other: object) -> bool:
        # Measures hold arrays (compared by identity): compare what they say instead.
        if not isinstance(other, PlannedProtection):
            return NotImplemented
        return (self.structure, self.reason, self.as_key()) == (
            other.structure,
            other.reason,
            other.as_key(),
        )

    def __hash__(self) -> int:
        return hash((self.structure, self.reason, repr(self.as_key())))

    def describe(self) -> str:
        return f"{self.measure.describe()} for the {self.structure}"

    def as_key(self) -> list[object]:
        """What the simulation depends on, for the plan's inputs hash."""
        measure = self.measure
        if isinstance(measure, HydrodissectionLayer):
            return [
                "hydrodissection",
                [round(float(v), 6) for v in measure.center_lps_mm],
                [round(float(v), 6) for v in measure.normal],
                measure.thickness_mm,
                measure.radius_mm,
                measure.temperature_c,
                measure.infused,
            ]
        return [
            "skin_pack",
            [round(float(v), 6) for v in measure.center_lps_mm],
            measure.radius_mm,
            measure.thickness_mm,
            measure.temperature_c,
        ]
