"""The plan: image, labels, where each probe goes, how long to freeze, and the limits."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

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
    image_path, labels_path : Path, optional
        Where the planning image (DICOM folder or volume file) and the label map
        used lie; they need ``case``. Paths are resolved against the plan file's
        folder on loading and written relative to it when they lie under it
        (see :mod:`planning_core.planning.case_files`).
    thermal_fields_path : Path, optional
        ``.npz`` fields of the simulation that produced ``metrics``.
    thermal_fields_sha256 : str, optional
        SHA-256 of that file's bytes when it was written, so that a replaced
        file is not taken for the plan's.
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
    image_path: Path | None = None
    labels_path: Path | None = None
    thermal_fields_path: Path | None = None
    thermal_fields_sha256: str | None = None

    def __post_init__(self) -> None:
        for name in ("image_path", "labels_path", "thermal_fields_path"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, str | Path) or not str(value).strip():
                raise InvalidParameterError(f"{name} must be a file path, got {value!r}.")
            object.__setattr__(self, name, Path(value))
        if self.case is None and (self.image_path or self.labels_path):
            raise InvalidParameterError(
                "image_path and labels_path need the plan's case reference (its content hash); "
                "set case=CaseReference.for_volume(volume)."
            )
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

    def with_files(
        self,
        *,
        image_path: str | Path | None = None,
        labels_path: str | Path | None = None,
        thermal_fields_path: str | Path | None = None,
        thermal_fields_sha256: str | None = None,
    ) -> Plan:
        """A copy referring to these files; an argument left ``None`` keeps the current one."""
        given = {
            "image_path": image_path,
            "labels_path": labels_path,
            "thermal_fields_path": thermal_fields_path,
            "thermal_fields_sha256": thermal_fields_sha256,
        }
        return dataclasses.replace(self, **{k: v for k, v in given.items() if v is not None})

    def with_probes(self, probes: tuple[PlannedProbe, ...]) -> Plan:
        """A copy holding ``probes``; its metrics, if any, become stale."""
        return dataclasses.replace(self, probes=tuple(probes))
