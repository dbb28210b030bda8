"""The plan: image, labels, where each probe goes, how long to freeze, and the limits."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from planning_core.errors import InvalidParameterError
from planning_core.planning.case_reference import CaseReference
from planning_core.planning.plan_approach import PlanApproach, PlannedProtection
from planning_core.planning.results import PlanMetrics
from planning_core.planning.settings import PlanSettings
from planning_core.thermal.protocol import Protocol, parse_protocol

#: Shortest tip-to-entry distance accepted; below it the probe direction is undefined.
MIN_PROBE_SEGMENT_MM = 1.0
#: The steps a plan warning can come from, in the order a plan is made, with the name a
#: report prints for each.
WARNING_SOURCES = {
    "image": "Image",
    "segmentation": "Segmentation",
    "optimizer": "Optimizer",
    "simulation": "Simulation",
}


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


#: A word that starts like a file system path: /x, ~/x, ./x, ../x, C:\\x or \\\\server.
_PATH_WORD = re.compile(r"(^|\s)(~|\.{1,2})?[/\\]|(^|\s)[A-Za-z]:[/\\]")


def looks_like_path(text: str) -> bool:
    """True when ``text`` holds a file system path (which a title must never show)."""
    return bool(_PATH_WORD.search(text))


def image_title(metadata: Mapping[str, object], *, fallback: str = "") -> str:
    """A short name of a planning image for titles: never a file system path.

    The series description when the image has one, else the study
    description, else its study date, else ``fallback`` (its last path
    component when it is a path).
    """
    parts = [
        str(metadata.get(key) or "").strip() for key in ("series_description", "study_description")
    ]
    title = next((part for part in parts if part), "")
    date = str(metadata.get("study_date") or "").strip()
    if not title and len(date) == 8 and date.isdigit():
        title = f"study of {date[:4]}-{date[4:6]}-{date[6:]}"
    if not title and fallback.strip():
        title = Path(fallback.strip()).name if looks_like_path(fallback) else fallback.strip()
    return title


@dataclass(frozen=True)
class PlanWarning:
    """A tolerable problem met while making the plan, kept with it for the report and the app.

    Parameters
    ----------
    source : str
        The step that met it, a key of :data:`WARNING_SOURCES`.
    text : str
        One sentence for the user.
    """

    source: str
    text: str

    def __post_init__(self) -> None:
        if self.source not in WARNING_SOURCES:
            raise InvalidParameterError(
                f"warning source must be one of {', '.join(WARNING_SOURCES)}, got {self.source!r}."
            )
        if not isinstance(self.text, str) or not self.text.strip():
            raise InvalidParameterError(f"warning text must be non-empty text, got {self.text!r}.")

    def __str__(self) -> str:
        return f"{WARNING_SOURCES[self.source]}: {self.text}"


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
    planned_by, approved_by : str
        Who made the plan and who approved it (free text, printed on the report;
        empty leaves a line to sign).
    warnings : tuple of PlanWarning
        Tolerable problems met while loading the image, segmenting, optimizing,
        simulating: they travel with the plan into its file, the report and the
        app. Each evaluation replaces those of the image and the simulation
        (:func:`planning_core.planning.evaluate.evaluate_plan`).
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
    approach : PlanApproach, optional
        Patient position, table side, gantry and the candidate entries the
        approach rules refused; ``None`` when the approach was not assessed
        (plans made before it was recorded). Per-probe checks and the insertion
        order follow from it and the probes
        (:func:`~planning_core.planning.approach.probe_approach_checks`,
        :func:`~planning_core.planning.approach.suggested_insertion_order`).
    protection : tuple of PlannedProtection
        Organ protection (hydrodissection, warm skin packs) that the
        evaluation puts into the simulation; it enters the inputs hash.
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
    planned_by: str = ""
    approved_by: str = ""
    warnings: tuple[PlanWarning, ...] = ()
    image_path: Path | None = None
    labels_path: Path | None = None
    thermal_fields_path: Path | None = None
    thermal_fields_sha256: str | None = None
    approach: PlanApproach | None = None
    protection: tuple[PlannedProtection, ...] = ()

    def __post_init__(self) -> None:
        if self.approach is not None and not isinstance(self.approach, PlanApproach):
            raise InvalidParameterError("approach must be a PlanApproach record.")
        protection = tuple(self.protection)
        if any(not isinstance(p, PlannedProtection) for p in protection):
            raise InvalidParameterError("protection must be PlannedProtection records.")
        object.__setattr__(self, "protection", protection)
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
        for name in ("name", "notes", "planned_by", "approved_by"):
            if not isinstance(getattr(self, name), str):
                raise InvalidParameterError(f"{name} must be text, got {getattr(self, name)!r}.")
        warnings = tuple(self.warnings)
        if any(not isinstance(w, PlanWarning) for w in warnings):
            raise InvalidParameterError("warnings must be PlanWarning records.")
        object.__setattr__(self, "warnings", tuple(dict.fromkeys(warnings)))
        if self.oar_labels is not None:
            labels = tuple(self.oar_labels)
            if any(not isinstance(n, str) or not n for n in labels):
                raise InvalidParameterError(f"oar_labels must be label names, got {labels!r}.")
            object.__setattr__(self, "oar_labels", labels)

    def parsed_protocol(self) -> Protocol:
        """The protocol's phases; raises :class:`InvalidParameterError` for a malformed code."""
        return parse_protocol(self.protocol)

    def inputs_sha256(self) -> str:
        """Hash of everything the metrics depend on: image, labels, probes, protocol, settings,
        organ protection.

        Names, notes, signatures, warnings and the metrics themselves do not
        enter, so editing them does not make the metrics stale.
        """
        payload = {
            "case": None if self.case is None else self.case.content_sha256,
            "target_label": self.target_label,
            "oar_labels": None if self.oar_labels is None else list(self.oar_labels),
            "probes": [[p.model_id, p.tip_lps_mm, p.entry_lps_mm] for p in self.probes],
            "protocol": self.protocol,
            "settings": self.settings.as_dict(),
        }
        if self.protection:  # absent otherwise, so that earlier plans keep their hashes
            payload["protection"] = [p.as_key() for p in self.protection]
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

    def with_step_warnings(self, source: str, texts: Iterable[str]) -> Plan:
        """A copy whose warnings from step ``source`` are ``texts`` (earlier ones replaced).

        Warnings keep the order in which a plan is made (:data:`WARNING_SOURCES`).
        """
        kept = [w for w in self.warnings if w.source != source]
        new = [PlanWarning(source, text) for text in texts]
        order = list(WARNING_SOURCES)
        merged = sorted([*kept, *new], key=lambda w: order.index(w.source))
        return dataclasses.replace(self, warnings=tuple(merged))

    def with_probes(self, probes: tuple[PlannedProbe, ...]) -> Plan:
        """A copy holding ``probes``; its metrics, if any, become stale."""
        return dataclasses.replace(self, probes=tuple(probes))
