"""Freeze durations the optimizer may choose: protocol families, shortest freeze first.

A family keeps the clinical shape of a protocol (two freezes with an 8-min
passive thaw for kidney and liver, a triple freeze for aerated lung, freeze and
thaw of equal length for liquid-nitrogen breast systems) and varies only how
long the tissue freezes, so that the optimizer's "shortest freeze that covers"
stays a protocol a team would run.
"""

from __future__ import annotations

from planning_core.errors import InvalidParameterError
from planning_core.planning.acceptance import SETTING_OPTIONS
from planning_core.thermal.probes import ProbeModel
from planning_core.thermal.protocol import PROTOCOL_PRESETS, Protocol, parse_protocol

#: Protocol families by name, each ordered by total freeze time.
PROTOCOL_FAMILIES: dict[str, tuple[str, ...]] = {
    "double-freeze": (
        "F5-T8-F5",
        "F6-T8-F6",
        "F8-T8-F8",
        "F10-T8-F10",
        "F12-T8-F12",
        "F15-T8-F15",
    ),
    "lung-triple-freeze": (
        "F3-T3-F5-T5-F7",
        "F3-T3-F7-T7-F10",
        "F3-T3-F7-T7-F12",
        "F3-T3-F7-T7-F15",
    ),
    "liquid-nitrogen": ("F4-T4-F4", "F5-T5-F5", "F6-T6-F6", "F8-T8-F8", "F10-T10-F10"),
}


def default_family_name(model: ProbeModel, host_label: str) -> str:
    """The family for a probe model and the organ hosting the tumor.

    Liquid-nitrogen probes use the short equal freeze-thaw cycles of breast
    systems; tumors in aerated lung the triple freeze (the first freeze floods
    the lung); everything else the double freeze of kidney and liver practice.
    """
    if model.cryogen == "liquid_nitrogen":
        return "liquid-nitrogen"
    if host_label == "lung":
        return "lung-triple-freeze"
    return "double-freeze"


def protocol_family(
    codes: tuple[str, ...] | str, *, max_total_freeze_s: float
) -> tuple[Protocol, ...]:
    """Parsed protocols of a family (a family name or codes), shortest freeze first.

    Protocols whose total freeze exceeds ``max_total_freeze_s`` are left out.

    Raises
    ------
    InvalidParameterError
        For an unknown family name, a malformed code, or when no protocol fits
        within ``max_total_freeze_s``.
    """
    if isinstance(codes, str):
        if codes not in PROTOCOL_FAMILIES:
            raise InvalidParameterError(
                f"unknown protocol family {codes!r}; known: {', '.join(PROTOCOL_FAMILIES)}."
            )
        codes = PROTOCOL_FAMILIES[codes]
    protocols = sorted((parse_protocol(code) for code in codes), key=lambda p: p.freeze_time_s)
    allowed = tuple(p for p in protocols if p.freeze_time_s <= max_total_freeze_s + 1e-9)
    if not allowed:
        shortest = protocols[0].freeze_time_s / 60.0 if protocols else 0.0
        raise InvalidParameterError(
            f"no protocol of the family fits the longest total freeze of "
            f"{max_total_freeze_s / 60.0:g} min (the shortest freezes {shortest:g} min); raise "
            f"it ({SETTING_OPTIONS['max_total_freeze_s'].text()})."
        )
    return allowed


def reference_protocol(family: tuple[Protocol, ...]) -> Protocol:
    """The family's clinical preset (e.g. 10-8-10) if it has one, else its middle member."""
    by_code = {protocol.code: protocol for protocol in family}
    for preset in PROTOCOL_PRESETS.values():
        if preset.code in by_code:
            return by_code[preset.code]
    return family[len(family) // 2]
