"""Freeze-thaw protocols: ordered phases with durations and the probes they drive.

A protocol is written ``F10-T8-F10``: ``F`` freeze, ``T`` passive thaw (probes
off), ``A`` active thaw (probe walls warmed), each followed by minutes (decimals
allowed). A bare sequence of numbers such as ``10-8-10`` alternates freeze and
passive thaw, starting with a freeze. A freeze or active thaw may run below full
power: ``F10@50`` drives every probe at a 50 % duty cycle, ``F10@100/50`` gives
one percentage per probe (in plan order). Named presets cover standard practice
per organ (:func:`presets_for_organ`).

Power is a duty cycle: the cryogen (or the thawing gas) flows a given share of
the time. Its on/off period on clinical consoles is seconds, short against the
minutes over which the ice grows, so the engine applies the time average: the
probe exchanges that share of the heat it would exchange at full power (see
:mod:`planning_core.thermal.solver`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Literal

from planning_core.errors import InvalidParameterError

PhaseKind = Literal["freeze", "passive_thaw", "active_thaw"]
_LETTERS: dict[str, PhaseKind] = {"F": "freeze", "T": "passive_thaw", "A": "active_thaw"}
_SYMBOLS: dict[PhaseKind, str] = {kind: letter for letter, kind in _LETTERS.items()}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_TOKEN = re.compile(rf"^([FTA]?)({_NUMBER})(?:@({_NUMBER}(?:/{_NUMBER})*))?$")
#: Full power: the duty cycle of every phase written without ``@``.
FULL_POWER_PERCENT = 100.0


def _format_number(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


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
    power_percent : float or tuple of float
        Duty cycle (0-100 %) of the driven probes: one value for all, or one
        per probe of the set-up (in probe order). 0 % is the same as off. A
        passive thaw has no power (probes off) and keeps 100.
    """

    kind: PhaseKind
    duration_s: float
    probes: tuple[int, ...] | None = None
    power_percent: float | tuple[float, ...] = FULL_POWER_PERCENT

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
        power = self.power_percent
        per_probe = isinstance(power, list | tuple)
        try:
            values = tuple(float(v) for v in power) if per_probe else (float(power),)
        except (TypeError, ValueError):
            values = ()
        if not values or not all(math.isfinite(v) and 0.0 <= v <= 100.0 for v in values):
            raise InvalidParameterError(
                f"phase power (duty cycle) must lie between 0 and 100 %, got {power!r}."
            )
        if self.kind == "passive_thaw" and values != (FULL_POWER_PERCENT,):
            raise InvalidParameterError(
                "a passive thaw has no power setting (its probes are off); give the power "
                "(@ percent) to freeze or active-thaw phases only."
            )
        object.__setattr__(self, "power_percent", values if per_probe else values[0])

    def drives(self, probe_index: int) -> bool:
        """True when the phase drives probe ``probe_index``."""
        return self.probes is None or probe_index in self.probes

    def power_fraction(self, probe_index: int) -> float:
        """Duty cycle of probe ``probe_index`` as a fraction (0-1).

        Raises
        ------
        InvalidParameterError
            When per-probe powers are given but none for ``probe_index``.
        """
        power = self.power_percent
        if not isinstance(power, tuple):
            return power / 100.0
        if probe_index >= len(power):
            raise InvalidParameterError(
                f"protocol phase {self.code} gives the power of {len(power)} probe(s) but "
                f"probe {probe_index + 1} is used; give one percentage per probe "
                "(e.g. F10@100/50) or one for all (F10@50)."
            )
        return power[probe_index] / 100.0

    @property
    def full_power(self) -> bool:
        """True when every probe runs at 100 % (the engine then skips the scaling)."""
        power = self.power_percent
        values = power if isinstance(power, tuple) else (power,)
        return all(v == FULL_POWER_PERCENT for v in values)

    @property
    def powered(self) -> bool:
        """True when some probe runs above 0 % power."""
        power = self.power_percent
        return max(power if isinstance(power, tuple) else (power,)) > 0.0

    @property
    def code(self) -> str:
        text = f"{_SYMBOLS[self.kind]}{_format_number(self.duration_s / 60.0)}"
        power = self.power_percent
        if isinstance(power, tuple):
            return f"{text}@{'/'.join(_format_number(v) for v in power)}"
        return text if power == FULL_POWER_PERCENT else f"{text}@{_format_number(power)}"

    def for_probe(self, probe_index: int) -> Phase:
        """This phase as seen by one probe: its own power as the single value."""
        power = self.power_percent
        if not isinstance(power, tuple):
            return self
        self.power_fraction(probe_index)  # refuses a probe without a power
        return replace(self, power_percent=power[probe_index])

    def to_dict(self) -> dict[str, object]:
        power = self.power_percent
        return {
            "kind": self.kind,
            "duration_s": self.duration_s,
            "probes": self.probes,
            "power_percent": list(power) if isinstance(power, tuple) else power,
        }

    @classmethod
    def from_dict(cls, entry: dict) -> Phase:
        """Inverse of :meth:`to_dict`; files written before power existed read as 100 %."""
        power = entry.get("power_percent", FULL_POWER_PERCENT)
        probes = entry.get("probes")
        return cls(
            entry["kind"],
            float(entry["duration_s"]),
            None if probes is None else tuple(probes),
            tuple(power) if isinstance(power, list) else power,
        )


@dataclass(frozen=True)
class Protocol:
    """An ordered sequence of phases, optionally with a preset name.

    Presets also name the organs they are usual for (``organs``) and where the
    protocol comes from (``source``).
    """

    phases: tuple[Phase, ...]
    name: str = ""
    description: str = field(default="", compare=False)
    organs: tuple[str, ...] = field(default=(), compare=False)
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.phases:
            raise InvalidParameterError("a protocol needs at least one phase.")
        if not any(phase.kind == "freeze" and phase.powered for phase in self.phases):
            raise InvalidParameterError(
                f"protocol {self.code!r} has no freeze phase above 0 % power; nothing would freeze."
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

    @property
    def full_power(self) -> bool:
        """True when no phase runs below 100 % power."""
        return all(phase.full_power for phase in self.phases)

    def freezes_probe(self, probe_index: int) -> bool:
        """True when some freeze phase drives probe ``probe_index`` above 0 % power."""
        return any(
            phase.kind == "freeze"
            and phase.drives(probe_index)
            and phase.power_fraction(probe_index) > 0.0
            for phase in self.phases
        )

    def for_probe(self, probe_index: int) -> Protocol:
        """The protocol with each phase's power reduced to that of one probe.

        A protocol without per-probe powers is returned unchanged (same cache key
        for single-probe templates). Needs :meth:`freezes_probe` to hold.
        """
        phases = tuple(phase.for_probe(probe_index) for phase in self.phases)
        return self if phases == self.phases else replace(self, phases=phases)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "code": self.code,
            "phases": [phase.to_dict() for phase in self.phases],
        }


def _minutes(*codes: tuple[str, float]) -> tuple[Phase, ...]:
    return tuple(Phase(_LETTERS[letter], minutes * 60.0) for letter, minutes in codes)


_REFERENCE = "the project's clinical reference (shared/reference/clinical.md, freeze-thaw cycles)"

#: Standard protocols per organ (clinical reference, section "Clinical rules"). Their
#: names and codes are stable: plans on disk and the optimizer's families refer to them.
PROTOCOL_PRESETS: dict[str, Protocol] = {
    preset.name: preset
    for preset in (
        Protocol(
            _minutes(("F", 10), ("T", 8), ("F", 10)),
            "10-8-10",
            "kidney, liver, bone: two 10-min freezes with an 8-min passive thaw",
            organs=("kidney", "liver", "bone"),
            source=f"{_REFERENCE}: two 10-min freezes with an 8- or 5-min thaw",
        ),
        Protocol(
            _minutes(("F", 10), ("T", 5), ("F", 10)),
            "10-5-10",
            "kidney, liver, bone: two 10-min freezes with a 5-min passive thaw",
            organs=("kidney", "liver", "bone"),
            source=f"{_REFERENCE}: two 10-min freezes with an 8- or 5-min thaw",
        ),
        Protocol(
            _minutes(("F", 3), ("T", 3), ("F", 7), ("T", 7), ("F", 10)),
            "lung-3-7-10",
            "lung triple freeze: 3, 7 and 10 min freezes; each thaw lasts as long as the "
            "freeze before it (the first freeze floods the aerated lung)",
            organs=("lung",),
            source=f"{_REFERENCE}: lung often three freezes of 3, 7 and 10 min; triple "
            "freeze for pulmonary tumours: Lyons GR et al., J Vasc Interv Radiol (triple-"
            "freeze pulmonary cryoablation, 42 patients)",
        ),
        Protocol(
            _minutes(("F", 8), ("T", 8), ("F", 8)),
            "breast",
            "breast, liquid-nitrogen systems: freeze-thaw-freeze with shorter freezes "
            "(8-min freeze as in the IceSense3 fibroadenoma case; thaw as long as the freeze)",
            organs=("breast",),
            source="single liquid-nitrogen probe through the lesion, freeze-passive thaw-"
            "freeze: IceSense3 vendor case (8-min freeze engulfed a 28 mm fibroadenoma), "
            "Golatta et al., Arch Gynecol Obstet 2015;291:1355 (freeze-thaw-freeze sized to "
            "the lesion), ICE3 trial (ProSense; procedure 20-40 min, this preset 24 min)",
        ),
    )
}


def presets_for_organ(organ: str) -> tuple[Protocol, ...]:
    """The presets usual for ``organ`` (a label name such as ``"kidney"``), first the default.

    Returns an empty tuple for an organ without a preset of its own.
    """
    key = organ.strip().lower()
    return tuple(preset for preset in PROTOCOL_PRESETS.values() if key in preset.organs)


def parse_protocol(text: str) -> Protocol:
    """A preset name or a custom sequence such as ``F10-T8-F10`` or ``10-8-10``.

    Parameters
    ----------
    text : str
        Preset name (see :data:`PROTOCOL_PRESETS`) or ``-``-separated phases.
        Letters ``F``/``T``/``A`` (freeze, passive thaw, active thaw) followed by
        minutes; without letters the phases alternate freeze/passive thaw. A
        freeze or active thaw may end in ``@percent`` (power for all probes) or
        ``@p1/p2/...`` (one power per probe).

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
            "sequence like F10-T8-F10 (F freeze, T passive thaw, A active thaw; minutes; "
            "optional @percent power, e.g. F10@50)."
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
        powers = [float(v) for v in (match.group(3) or str(FULL_POWER_PERCENT)).split("/")]
        try:
            phase = Phase(
                _LETTERS[letter],
                minutes * 60.0,
                power_percent=powers[0] if len(powers) == 1 else tuple(powers),
            )
        except InvalidParameterError as error:
            raise InvalidParameterError(
                f"protocol {text!r}, phase {position + 1}: {error}"
            ) from None
        phases.append(phase)
    return Protocol(tuple(phases))
