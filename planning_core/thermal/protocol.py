"""Freeze-thaw protocols: ordered phases with durations and the probes they drive.

A protocol is written ``F10-T8-F10``: ``F`` freeze, ``T`` passive thaw (probes
off), ``A`` active thaw (probe walls warmed), each followed by minutes (decimals
allowed). A bare sequence of numbers such as ``10-8-10`` alternates freeze and
passive thaw, starting with a freeze. Named presets cover standard practice.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal

from planning_core.errors import InvalidParameterError

PhaseKind = Literal["freeze", "passive_thaw", "active_thaw"]
_LETTERS: dict[str, PhaseKind] = {"F": "freeze", "T": "passive_thaw", "A": "active_thaw"}
_SYMBOLS: dict[PhaseKind, str] = {kind: letter for letter, kind in _LETTERS.items()}
_TOKEN = re.compile(r"^([FTA]?)(\d+(?:\.\d*)?|\.\d+)$")


@dataclass(frozen=True)
class Phase:
    """One protocol phase.

    Parameters
    ----------
    kind : {"freeze", "passive_thaw", "active_thaw"}
        What the probes do.
    duration_s : float
        Length of the phase in seconds (> 0).
    probes : tuple of int, optional
        Indices of the probes this phase drives; ``None`` means all. Probes not
        driven are off (no heat exchange) during the phase.
    """

    kind: PhaseKind
    duration_s: float
    probes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in _SYMBOLS:
            raise InvalidParameterError(
                f"phase kind must be one of {', '.join(_SYMBOLS)}, got {self.kind!r}."
            )
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise InvalidParameterError(
                f"phase duration_s must be a positive number, got {self.duration_s!r}."
            )
        if self.probes is not None:
            object.__setattr__(self, "probes", tuple(int(p) for p in self.probes))
            if any(p < 0 for p in self.probes):
                raise InvalidParameterError(
                    f"phase probes must be probe indices >= 0, got {self.probes}."
                )

    def drives(self, probe_index: int) -> bool:
        """True when the phase drives probe ``probe_index``."""
        return self.probes is None or probe_index in self.probes

    @property
    def code(self) -> str:
        minutes = self.duration_s / 60.0
        text = f"{minutes:.4f}".rstrip("0").rstrip(".")
        return f"{_SYMBOLS[self.kind]}{text}"


@dataclass(frozen=True)
class Protocol:
    """An ordered sequence of phases, optionally with a preset name."""

    phases: tuple[Phase, ...]
    name: str = ""
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.phases:
            raise InvalidParameterError("a protocol needs at least one phase.")
        if not any(phase.kind == "freeze" for phase in self.phases):
            raise InvalidParameterError(
                f"protocol {self.code!r} has no freeze phase; nothing would freeze."
            )

    @property
    def duration_s(self) -> float:
        return float(sum(phase.duration_s for phase in self.phases))

    @property
    def freeze_time_s(self) -> float:
        """Total freeze time (the plan metric 'total freeze time')."""
        return float(sum(p.duration_s for p in self.phases if p.kind == "freeze"))

    @property
    def code(self) -> str:
        """The canonical text form, e.g. ``F10-T8-F10``."""
        return "-".join(phase.code for phase in self.phases)

    def phase_starts_s(self) -> tuple[float, ...]:
        starts, now = [], 0.0
        for phase in self.phases:
            starts.append(now)
            now += phase.duration_s
        return tuple(starts)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "code": self.code,
            "phases": [
                {"kind": p.kind, "duration_s": p.duration_s, "probes": p.probes}
                for p in self.phases
            ],
        }


def _minutes(*codes: tuple[str, float]) -> tuple[Phase, ...]:
    return tuple(Phase(_LETTERS[letter], minutes * 60.0) for letter, minutes in codes)


#: Standard protocols (clinical reference, section "Clinical rules").
PROTOCOL_PRESETS: dict[str, Protocol] = {
    preset.name: preset
    for preset in (
        Protocol(
            _minutes(("F", 10), ("T", 8), ("F", 10)),
            "10-8-10",
            "kidney, liver, bone: two 10-min freezes with an 8-min passive thaw",
        ),
        Protocol(
            _minutes(("F", 10), ("T", 5), ("F", 10)),
            "10-5-10",
            "kidney, liver, bone: two 10-min freezes with a 5-min passive thaw",
        ),
        Protocol(
            _minutes(("F", 3), ("T", 3), ("F", 7), ("T", 7), ("F", 10)),
            "lung-3-7-10",
            "lung triple freeze: 3, 7 and 10 min freezes; each thaw lasts as long as the "
            "freeze before it (the first freeze floods the aerated lung)",
        ),
        Protocol(
            _minutes(("F", 8), ("T", 8), ("F", 8)),
            "breast",
            "breast, liquid-nitrogen systems: freeze-thaw-freeze with shorter freezes "
            "(8-min freeze as in the IceSense3 fibroadenoma case; thaw as long as the freeze)",
        ),
    )
}


def parse_protocol(text: str) -> Protocol:
    """A preset name or a custom sequence such as ``F10-T8-F10`` or ``10-8-10``.

    Parameters
    ----------
    text : str
        Preset name (see :data:`PROTOCOL_PRESETS`) or ``-``-separated phases.
        Letters ``F``/``T``/``A`` (freeze, passive thaw, active thaw) followed by
        minutes; without letters the phases alternate freeze/passive thaw.

    Raises
    ------
    InvalidParameterError
        For malformed text; the message shows the expected form.
    """
    cleaned = text.strip()
    preset = PROTOCOL_PRESETS.get(cleaned) or PROTOCOL_PRESETS.get(cleaned.lower())
    if preset is not None:
        return preset
    tokens = [token.strip().upper() for token in cleaned.split("-")]
    matches = [_TOKEN.match(token) for token in tokens]
    if not tokens or any(match is None for match in matches):
        raise InvalidParameterError(
            f"protocol {text!r} is not a preset ({', '.join(PROTOCOL_PRESETS)}) nor a "
            "sequence like F10-T8-F10 (F freeze, T passive thaw, A active thaw; minutes)."
        )
    letters = [match.group(1) for match in matches if match is not None]
    if any(letters) and not all(letters):
        raise InvalidParameterError(
            f"protocol {text!r}: give a letter (F, T or A) for every phase or for none."
        )
    phases = []
    for position, match in enumerate(m for m in matches if m is not None):
        letter = match.group(1) or ("F" if position % 2 == 0 else "T")
        minutes = float(match.group(2))
        if minutes <= 0:
            raise InvalidParameterError(
                f"protocol {text!r}: phase {position + 1} must last more than 0 minutes."
            )
        phases.append(Phase(_LETTERS[letter], minutes * 60.0))
    return Protocol(tuple(phases))
