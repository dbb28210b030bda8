"""The plan: image, labels, where each probe goes, how long to freeze, and the limits."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from planning_core.errors import InvalidParameterError
from planning_core.planning.case_reference import CaseReference
from planning_core.planning.results import PlanMetrics
from planning_core.planning.settings import PlanSettings
from planning_core.thermal.protocol import Protocol, parse_protocol

#: Shortest tip-to-entry distance accepted; below it the probe direction is undefined.
MIN_PROBE_SEGMENT_MM = 1.0


def _point(value: ArrayLike, name: str) -> tuple[float, float, float]:
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.shape != (3,) or not np.all(np.isfinite(array)):
        raise InvalidParameterError(f"{name} must be three finite LPS coordinates in mm.")
    return (float(array[0]), float(array[1]), float(array[2]))


@dataclass(frozen=True)
class PlannedProbe:
    """One probe: its model and the straight path from skin entry to tip, in LPS mm.

    Parameters
    ----------
    model_id : str
        Identifier of the probe model in the probe library.
    tip_lps_mm : array_like
        Tip position.
    entry_lps_mm : array_like
        A point on the shaft outside the tip, normally the skin entry.
    label : str
        Name shown to users (``"P1"``); free text.
    """

    model_id: str
    tip_lps_mm: tuple[float, float, float]
    entry_lps_mm: tuple[float, float, float]
    label: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.model_id, str) or not self.model_id.strip():
            raise InvalidParameterError(
                f"model_id must name a probe model, got {self.model_id!r}; "
                "`cryoplan probes` lists them."
            )
        tip = _point(self.tip_lps_mm, "tip_lps_mm")
        entry = _point(self.entry_lps_mm, "entry_lps_mm")
        if math.dist(tip, entry) < MIN_PROBE_SEGMENT_MM:
            raise InvalidParameterError(
                f"probe {self.label or self.model_id}: entry_lps_mm must lie at least "
                f"{MIN_PROBE_SEGMENT_MM:g} mm from tip_lps_mm to define a direction."
            )
        if not isinstance(self.label, str):
            raise InvalidParameterError(f"probe label must be text, got {self.label!r}.")
        object.__setattr__(self, "tip_lps_mm", tip)
        object.__setattr__(self, "entry_lps_mm", entry)

    @property
    def direction_lps(self) -> NDArray[np.float64]:
        """Unit vector from entry to tip (the insertion direction)."""
        vector = np.subtract(self.tip_lps_mm, self.entry_lps_mm)
        return vector / np.linalg.norm(vector)


@dataclass(frozen=True)
class Plan:
    """A cryoablation plan.

    Parameters
    ----------
    probes : tuple of PlannedProbe
        The probes in insertion order.
    protocol : str
        Freeze-thaw protocol as written by the user: a preset name or a code such
        as ``"F10-T8-F10"`` (freeze 10 min, passive thaw 8 min, freeze 10 min),
        checked with :func:`planning_core.thermal.protocol.parse_protocol`.
    settings : PlanSettings
        Margin, isotherms, clearances and limits.
    case : CaseReference, optional
        The planning image.
    target_label : str
        Label map name of the tumor.
    oar_labels : tuple of str, optional
        Organs at risk to evaluate; ``None`` means every label whose role is ``"oar"``.
    metrics : PlanMetrics, optional
        Results of the last evaluation; see :meth:`metrics_stale`.
    name, notes : str
        Free text.
    """

    probes: tuple[PlannedProbe, ...] = ()
    protocol: str = "F10-T8-F10"
    settings: PlanSettings = field(default_factory=PlanSettings)
    case: CaseReference | None = None
    target_label: str = "tumor"
    oar_labels: tuple[str, ...] | None = None
    metrics: PlanMetrics | None = None
    name: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        probes = tuple(self.probes)
        if any(not isinstance(p, PlannedProbe) for p in probes):
            raise InvalidParameterError("probes must be PlannedProbe records.")
        object.__setattr__(self, "probes", probes)
        if not isinstance(self.protocol, str):
            raise InvalidParameterError(
                f"protocol must be text such as 'F10-T8-F10', got {self.protocol!r}."
            )
        object.__setattr__(self, "protocol", self.protocol.strip())
        self.parsed_protocol()
        if not isinstance(self.target_label, str) or not self.target_label:
            raise InvalidParameterError(
                f"target_label must name the tumor label, got {self.target_label!r}."
            )
        if self.oar_labels is not None:
            labels = tuple(self.oar_labels)
            if any(not isinstance(n, str) or not n for n in labels):
                raise InvalidParameterError(f"oar_labels must be label names, got {labels!r}.")
            object.__setattr__(self, "oar_labels", labels)

    def parsed_protocol(self) -> Protocol:
        """The protocol's phases; raises :class:`InvalidParameterError` for a malformed code."""
        return parse_protocol(self.protocol)

    def inputs_sha256(self) -> str:
        """Hash of everything the metrics depend on: image, labels, probes, protocol, settings.

        Names, notes and the metrics themselves do not enter, so editing them
        does not make the metrics stale.
        """
        payload = {
            "case": None if self.case is None else self.case.content_sha256,
            "target_label": self.target_label,
            "oar_labels": None if self.oar_labels is None else list(self.oar_labels),
            "probes": [[p.model_id, p.tip_lps_mm, p.entry_lps_mm] for p in self.probes],
            "protocol": self.protocol,
            "settings": self.settings.as_dict(),
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def metrics_stale(self) -> bool:
        """True when metrics are missing or were computed for other inputs."""
        return self.metrics is None or self.metrics.inputs_sha256 != self.inputs_sha256()

    def with_metrics(self, metrics: PlanMetrics | None) -> Plan:
        return dataclasses.replace(self, metrics=metrics)

    def with_probes(self, probes: tuple[PlannedProbe, ...]) -> Plan:
        """A copy holding ``probes``; its metrics, if any, become stale."""
        return dataclasses.replace(self, probes=tuple(probes))
