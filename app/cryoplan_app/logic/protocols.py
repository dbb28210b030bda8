"""The protocol presets offered for the plan: those usual for its organ site first.

The organ site is the plan's ``organ_site`` setting, else the one the last
evaluation used, else the one the label map suggests
(:func:`~planning_core.planning.organ_sites.infer_organ_site`, kept per label
map: it measures a shell around the tumor).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryoplan_app.model.session import Session
from planning_core.errors import PlanningError
from planning_core.imaging.labels import LabelMap
from planning_core.planning.organ_sites import ORGAN_SITES, SiteResolution, infer_organ_site
from planning_core.thermal.protocol import (
    PROTOCOL_PRESETS,
    Protocol,
    parse_protocol,
    presets_for_organ,
)


@dataclass(frozen=True)
class PresetChoice:
    """One preset as the protocol menu offers it.

    Attributes
    ----------
    name : str
        The preset's name (what the plan stores).
    usual : bool
        Whether the preset is usual for the plan's organ site.
    description : str
        What it is, the organs it is usual for and its source, for a tooltip.
    """

    name: str
    usual: bool
    description: str


def preset_description(preset: Protocol) -> str:
    """The preset's code, what it is, the organs it is usual for and where it comes from."""
    return (
        f"{preset.code}: {preset.description}. Usual for {', '.join(preset.organs)}. "
        f"Source: {preset.source}."
    )


def site_hosts(site: str) -> tuple[str, ...]:
    """The organ names whose presets suit ``site`` (the site and its host labels)."""
    return tuple(dict.fromkeys((site, *ORGAN_SITES[site].host_labels)))


class ProtocolLogic:
    """The organ site of ``session``'s plan and the presets in the order to offer them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._inferred: tuple[LabelMap, str, SiteResolution] | None = None

    def site(self) -> SiteResolution:
        """The plan's organ site and how it is known (see the module docstring)."""
        document = self.session.document
        settings = document.plan.settings
        if settings.organ_site is not None:
            return SiteResolution(settings.organ_site)
        results = document.results
        if results is not None and results.metrics.organ_site is not None:
            return SiteResolution(
                results.metrics.organ_site, results.metrics.organ_site_inferred_from
            )
        labels, target = document.labels, document.plan.target_label
        if labels is None:
            return SiteResolution(None)
        kept = self._inferred
        if kept is None or kept[0] is not labels or kept[1] != target:
            kept = self._inferred = (labels, target, infer_organ_site(labels, target))
        return kept[2]

    def preset_of(self, protocol: str) -> str | None:
        """The preset ``protocol`` names or spells out (``F10-T8-F10`` is ``10-8-10``), or None."""
        if protocol in PROTOCOL_PRESETS:
            return protocol
        try:
            code = parse_protocol(protocol).code
        except PlanningError:
            return None
        return next((name for name, p in PROTOCOL_PRESETS.items() if p.code == code), None)

    def presets(self) -> tuple[PresetChoice, ...]:
        """Every preset, those usual for the plan's site first (in their own order)."""
        site = self.site().site
        usual: dict[str, Protocol] = {}
        if site is not None:
            for organ in site_hosts(site):
                usual.update((preset.name, preset) for preset in presets_for_organ(organ))
        others = {name: p for name, p in PROTOCOL_PRESETS.items() if name not in usual}
        return tuple(
            PresetChoice(name, name in usual, preset_description(preset))
            for name, preset in (*usual.items(), *others.items())
        )
