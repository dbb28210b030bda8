"""Plan files: versioned JSON (``docs/plan-format.md``), atomic save, validating load."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from planning_core import __version__
from planning_core.atomic import write_text_atomic
from planning_core.errors import InvalidParameterError, PlanFileError
from planning_core.input_files import read_json_file
from planning_core.planning.approach import probe_approach_checks, suggested_insertion_order
from planning_core.planning.case_reference import CaseReference
from planning_core.planning.companions import (
    companion_files,
    remove_superseded_companions,
    saved_companion_files,
)
from planning_core.planning.limits import (
    check_protocol_limits,
    coordinate_problem,
    probe_count_problem,
)
from planning_core.planning.organ_sites import ORGAN_SITES
from planning_core.planning.plan import Plan, PlannedProbe, PlanWarning
from planning_core.planning.plan_approach import PlanApproach, PlannedProtection, PositionReading
from planning_core.planning.results import (
    AblativeMargin,
    IsothermCoverage,
    OarMetrics,
    PathHazard,
    PathReport,
    PlanMetrics,
    RobustnessSummary,
    TemperatureVolumeHistogram,
    VisibleIce,
)
from planning_core.planning.settings import PlanSettings
from planning_core.thermal.protection import HydrodissectionLayer, Protection, SkinPack
from planning_core.thermal.protocol import parse_protocol

#: The plan file schema this software writes and reads.
PLAN_SCHEMA_VERSION = 1
PLAN_FORMAT = "cryoplan-plan"

_T = TypeVar("_T")


# -- writing -------------------------------------------------------------------------------
def plan_to_dict(plan: Plan, *, base_dir: str | Path | None = None) -> dict[str, Any]:
    """The JSON-ready content of a plan file.

    Parameters
    ----------
    plan : Plan
    base_dir : path, optional
        The folder the file will lie in: file references under it are written
        relative to it, others absolute. Without it they are written as held.
    """
    case = None
    if plan.case is not None:
        case = _case_to_dict(plan.case)
        for key in ("image_path", "labels_path"):
            value = getattr(plan, key)
            if value is not None:
                case[key] = _path_text(value, base_dir)
    fields_path = plan.thermal_fields_path
    return {
        "format": PLAN_FORMAT,
        "schema_version": PLAN_SCHEMA_VERSION,
        "software": f"cryoplan {__version__}",
        "name": plan.name,
        "notes": plan.notes,
        "planned_by": plan.planned_by,
        "approved_by": plan.approved_by,
        "warnings": [{"source": w.source, "text": w.text} for w in plan.warnings],
        "case": case,
        "labels": {
            "target": plan.target_label,
            "oars": None if plan.oar_labels is None else list(plan.oar_labels),
        },
        "probes": [
            {
                "model": probe.model_id,
                "label": probe.label,
                "tip_lps_mm": list(probe.tip_lps_mm),
                "entry_lps_mm": list(probe.entry_lps_mm),
            }
            for probe in plan.probes
        ],
        "protocol": plan.protocol,
        "settings": plan.settings.as_dict(),
        "thermal_fields_path": None if fields_path is None else _path_text(fields_path, base_dir),
        "thermal_fields_sha256": plan.thermal_fields_sha256,
        "metrics": (
            None if plan.metrics is None else _metrics_to_dict(plan.metrics, plan.metrics_stale())
        ),
        "approach": None if plan.approach is None else _approach_to_dict(plan),
        "protection": [_protection_to_dict(item) for item in plan.protection],
    }


def _approach_to_dict(plan: Plan) -> dict[str, Any]:
    """The approach record, with the per-probe checks and insertion order it gives (derived:
    written for readers of the file, recomputed on loading)."""
    record = plan.approach
    assert record is not None
    return {
        "patient_position": record.position.position,
        "position_source": record.position.source,
        "position_header_value": record.position.raw,
        "table_side": record.table_side,
        "table_down_lps": None if record.table_down_lps is None else list(record.table_down_lps),
        "table_source": record.table_source,
        "table_top_mm": record.table_top_mm,
        "bore_axis_lps_mm": (
            None if record.bore_axis_lps_mm is None else list(record.bore_axis_lps_mm)
        ),
        "bore_diameter_mm": record.bore_diameter_mm,
        "handle_length_mm": record.handle_length_mm,
        "min_entry_height_mm": record.min_entry_height_mm,
        "max_craniocaudal_deg": record.max_craniocaudal_deg,
        "candidate_entries": record.candidate_entries,
        "refused_entries": record.refused_total,
        "refused_by_reason": dict(record.refused_entries),
        "notes": list(record.notes),
        "summary": record.describe(),
        "probes": [
            {
                "label": check.label,
                "passed": check.passed,
                "gantry_ok": check.gantry_ok,
                "reasons": list(check.reasons),
            }
            for check in probe_approach_checks(plan)
        ],
        "insertion_order": [
            plan.probes[step.probe_index].label or f"probe {step.probe_index + 1}"
            for step in suggested_insertion_order(plan)
        ],
    }


def _protection_to_dict(item: PlannedProtection) -> dict[str, Any]:
    measure = item.measure
    values: dict[str, Any] = {
        "structure": item.structure,
        "reason": item.reason,
        "center_lps_mm": [float(v) for v in measure.center_lps_mm],
        "radius_mm": measure.radius_mm,
        "thickness_mm": measure.thickness_mm,
        "temperature_c": measure.temperature_c,
    }
    if isinstance(measure, HydrodissectionLayer):
        values.update(
            kind="hydrodissection", normal=[float(v) for v in measure.normal],
            infused=measure.infused,
        )  # fmt: skip
    else:
        values["kind"] = "skin_pack"
    return values


def plan_to_json(plan: Plan, *, base_dir: str | Path | None = None) -> str:
    """The text of a plan file (UTF-8 JSON, two-space indent, trailing newline)."""
    data = plan_to_dict(plan, base_dir=base_dir)
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _path_text(path: Path, base_dir: str | Path | None) -> str:
    """``path`` relative to ``base_dir`` when it lies under it, else absolute (POSIX form)."""
    if base_dir is None:
        return path.as_posix()
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path(os.path.abspath(base_dir))).as_posix()
    except ValueError:
        return absolute.as_posix()


def save_plan(plan: Plan, path: str | Path) -> Path:
    """Write ``plan`` to ``path`` atomically; a reader sees the old file or the new one.

    The companion files the previous version at ``path`` named and ``plan``
    does not are removed afterwards (see :mod:`planning_core.planning.companions`).

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    previous = saved_companion_files(path)
    try:
        write_text_atomic(path, plan_to_json(plan, base_dir=path.parent))
    except OSError as error:
        raise PlanFileError(
            f"{path}: cannot write the plan ({error.strerror or error}). "
            "Choose a folder you can write to."
        ) from error
    keep = companion_files(plan.labels_path, plan.thermal_fields_path)
    remove_superseded_companions(path, keep=keep, previous=previous)
    return path


def _case_to_dict(case: CaseReference) -> dict[str, str]:
    return {
        "content_sha256": case.content_sha256,
        "study_instance_uid": case.study_instance_uid,
        "series_instance_uid": case.series_instance_uid,
        "frame_of_reference_uid": case.frame_of_reference_uid,
        "description": case.description,
    }


def _metrics_to_dict(metrics: PlanMetrics, stale: bool) -> dict[str, Any]:
    margin = metrics.margin
    values: dict[str, Any] = {
        "computed_with": metrics.computed_with,
        "inputs_sha256": metrics.inputs_sha256,
        "stale": stale,
        "lethal_isotherm_c": metrics.lethal_isotherm_c,
        "margin_mm": metrics.margin_mm,
        "tumor_volume_ml": metrics.tumor_volume_ml,
        "tumor_long_axis_mm": metrics.tumor_long_axis_mm,
        "tumor_short_axis_mm": metrics.tumor_short_axis_mm,
        "ice_volume_ml": metrics.ice_volume_ml,
        "lethal_volume_ml": metrics.lethal_volume_ml,
        "coverage": [
            {
                "isotherm_c": c.isotherm_c,
                "tumor_percent": c.tumor_percent,
                "tumor_and_margin_percent": c.tumor_and_margin_percent,
            }
            for c in metrics.coverage
        ],
        "minimal_ablative_margin": _margin_to_dict(margin),
        "oars": [
            {
                "name": o.name,
                "distance_to_ice_mm": o.distance_to_ice_mm,
                "clearance_mm": o.clearance_mm,
                "frozen_volume_ml": o.frozen_volume_ml,
                "lethal_volume_ml": o.lethal_volume_ml,
                "monitored": o.monitored,
            }
            for o in metrics.oars
        ],
        "probe_count": metrics.probe_count,
        "total_freeze_s": metrics.total_freeze_s,
        "min_tip_spacing_mm": metrics.min_tip_spacing_mm,
        "paths": [_path_to_dict(p) for p in metrics.paths],
        "histograms": [
            {
                "structure": h.structure,
                "volume_ml": h.volume_ml,
                "temperatures_c": list(h.temperatures_c),
                "fraction_at_or_below": list(h.fraction_at_or_below),
            }
            for h in metrics.histograms
        ],
        "robustness": (
            None if metrics.robustness is None else dataclasses.asdict(metrics.robustness)
        ),
        "organ_site": metrics.organ_site,
        "organ_site_inferred_from": metrics.organ_site_inferred_from or None,
        "not_assessed": list(metrics.not_assessed),
    }
    if metrics.visible_ice is not None:  # measured for visible-ice plans only
        values["visible_ice"] = {
            "ice_margin_mm": metrics.visible_ice.ice_margin_mm,
            "coverage_percent": metrics.visible_ice.coverage_percent,
            "margin": _margin_to_dict(metrics.visible_ice.margin),
        }
    return values


def _margin_to_dict(margin: AblativeMargin) -> dict[str, Any]:
    return {
        "minimum_mm": margin.minimum_mm,
        "percentile5_mm": margin.percentile5_mm,
        "minimum_location_lps_mm": (
            None if margin.minimum_location_lps_mm is None else list(margin.minimum_location_lps_mm)
        ),
    }


def _path_to_dict(report: PathReport) -> dict[str, Any]:
    return {
        "skin_entry_lps_mm": (
            None if report.skin_entry_lps_mm is None else list(report.skin_entry_lps_mm)
        ),
        "length_in_body_mm": report.length_in_body_mm,
        "craniocaudal_angle_deg": report.craniocaudal_angle_deg,
        "in_plane_angle_deg": report.in_plane_angle_deg,
        "elevation_deg": report.elevation_deg,
        "usable_length_mm": report.usable_length_mm,
        "closest_mm": dict(report.closest_mm),
        "clearance_mm": dict(report.clearance_mm),
        "crossings": dict(report.crossings),
        "exempt": list(report.exempt),
        "problems": list(report.problems),
        "hazards": [dataclasses.asdict(hazard) for hazard in report.hazards],
        "hazards_assessed": report.hazards_assessed,
    }


# -- reading -------------------------------------------------------------------------------
class _Node:
    """A JSON value with its path, for error messages that say where a file is wrong."""

    def __init__(self, value: Any, path: str, source: str) -> None:
        self.value = value
        self.path = path
        self.source = source

    def error(self, message: str) -> PlanFileError:
        where = f"{self.path}: " if self.path else ""
        return PlanFileError(f"{self.source}: {where}{message}")

    def child(self, key: str | int) -> _Node:
        if isinstance(key, int):
            path = f"{self.path}[{key}]"
        else:
            path = f"{self.path}.{key}" if self.path else key
        return _Node(self.value[key], path, self.source)

    def field(self, key: str) -> _Node:
        mapping = self.mapping()
        if key not in mapping:
            missing = f"{self.path}.{key}" if self.path else key
            raise PlanFileError(f"{self.source}: {missing}: required field is missing.")
        return self.child(key)

    def optional(self, key: str) -> _Node | None:
        """The child ``key``, or ``None`` when it is absent or JSON null."""
        mapping = self.mapping()
        if mapping.get(key) is None:
            return None
        return self.child(key)

    def mapping(self) -> dict[str, Any]:
        if not isinstance(self.value, dict):
            raise self.error(f"expected an object, got {_kind(self.value)}.")
        return self.value

    def items(self) -> list[_Node]:
        if not isinstance(self.value, list):
            raise self.error(f"expected a list, got {_kind(self.value)}.")
        return [self.child(index) for index in range(len(self.value))]

    def text(self) -> str:
        if not isinstance(self.value, str):
            raise self.error(f"expected text, got {_kind(self.value)}.")
        self._require_unicode(self.value)
        return self.value

    def _require_unicode(self, text: str) -> None:
        """JSON escapes can spell lone surrogates, which no UTF-8 file (a saved plan) can hold."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise self.error("text holds an unpaired surrogate (\\ud800-\\udfff).") from None

    def number(self) -> float:
        value = self.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"expected a number, got {_kind(value)}.")
        if not math.isfinite(value):
            raise self.error("expected a finite number.")
        return float(value)

    def integer(self) -> int:
        value = self.value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"expected a whole number, got {_kind(value)}.")
        return value

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.error(f"expected true or false, got {_kind(self.value)}.")
        return self.value

    def point(self) -> tuple[float, float, float]:
        items = self.items()
        if len(items) != 3:
            raise self.error(f"expected [x, y, z] in mm, got {len(items)} values.")
        x, y, z = (item.number() for item in items)
        return (x, y, z)

    def numbers(self) -> tuple[float, ...]:
        return tuple(item.number() for item in self.items())

    def texts(self) -> tuple[str, ...]:
        return tuple(item.text() for item in self.items())

    def number_map(self) -> dict[str, float]:
        return {key: self.child(key).number() for key in self._keys()}

    def integer_map(self) -> dict[str, int]:
        return {key: self.child(key).integer() for key in self._keys()}

    def _keys(self) -> list[str]:
        keys = list(self.mapping())
        for key in keys:
            self._require_unicode(key)
        return keys

    def optional_number(self, key: str) -> float | None:
        node = self.optional(key)
        return None if node is None else node.number()

    def optional_boolean(self, key: str) -> bool:
        """A flag that older files may lack (false then)."""
        node = self.optional(key)
        return False if node is None else node.boolean()

    def build(self, factory: Callable[[], _T]) -> _T:
        """Run a constructor, turning its parameter errors into errors at this path."""
        try:
            return factory()
        except InvalidParameterError as error:
            raise self.error(str(error)) from None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "true/false",
        int: "a number",
        float: "a number",
        str: "text",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def plan_from_dict(data: Any, *, source: str = "plan", base_dir: str | Path | None = None) -> Plan:
    """Build a :class:`Plan` from parsed JSON, validating every field.

    Parameters
    ----------
    data : object
        The parsed JSON document.
    source : str
        How to name the document in errors (usually the file path).
    base_dir : path, optional
        Folder that relative file references are resolved against (the plan
        file's folder); without it they stay relative.

    Raises
    ------
    PlanFileError
        Naming ``source`` and the JSON path of the first problem, or saying which
        schema version this software reads when the file is newer.
    """
    root = _Node(data, "", source)
    root.mapping()
    file_format = root.optional("format")
    if file_format is not None and file_format.text() != PLAN_FORMAT:
        raise file_format.error(f"this is not a plan file (format {file_format.value!r}).")
    version = root.field("schema_version").integer()
    if version > PLAN_SCHEMA_VERSION:
        raise PlanFileError(
            f"{source}: plan schema version {version} was written by a newer cryoplan; this "
            f"software reads schema version {PLAN_SCHEMA_VERSION}. Update cryoplan to open it."
        )
    if version < 1:
        raise root.child("schema_version").error(f"invalid schema version {version}.")
    labels = root.optional("labels")
    case_node = root.optional("case")
    probe_nodes = root.field("probes").items()
    too_many = probe_count_problem(len(probe_nodes))
    if too_many is not None:
        raise root.child("probes").error(too_many)
    plan_kwargs: dict[str, Any] = {
        "probes": tuple(_probe(node) for node in probe_nodes),
        "settings": _settings(root.field("settings")),
        "case": _case(case_node),
        "thermal_fields_path": _file(root, "thermal_fields_path", base_dir),
        "thermal_fields_sha256": _digest(root.optional("thermal_fields_sha256")),
        "name": "" if root.optional("name") is None else root.field("name").text(),
        "notes": "" if root.optional("notes") is None else root.field("notes").text(),
        "planned_by": _optional_text(root, "planned_by"),
        "approved_by": _optional_text(root, "approved_by"),
        "warnings": _warnings(root.optional("warnings")),
        "approach": _approach(root.optional("approach")),
        "protection": tuple(_protection(item) for item in _optional_items(root, "protection")),
    }
    if case_node is not None:
        plan_kwargs["image_path"] = _file(case_node, "image_path", base_dir)
        plan_kwargs["labels_path"] = _file(case_node, "labels_path", base_dir)
    protocol_node = root.field("protocol")
    protocol = protocol_node.text()
    protocol_node.build(lambda: check_protocol_limits(parse_protocol(protocol)))
    plan_kwargs["protocol"] = protocol
    if labels is not None:
        target = labels.optional("target")
        if target is not None:
            plan_kwargs["target_label"] = target.text()
        oars = labels.optional("oars")
        plan_kwargs["oar_labels"] = None if oars is None else oars.texts()
    metrics = root.optional("metrics")
    plan_kwargs["metrics"] = None if metrics is None else _metrics(metrics)
    plan = root.build(lambda: Plan(**plan_kwargs))
    problem = _fresh_metrics_problem(plan)
    if problem is not None:
        raise PlanFileError(
            f"{source}: metrics: {problem}; they were edited or damaged. Delete the "
            '"metrics" block to have the plan evaluated again.'
        )
    return plan


def _fresh_metrics_problem(plan: Plan) -> str | None:
    """How metrics that claim to be the plan's (fresh) contradict the plan, if they do.

    Stale metrics are recomputed before use, so only fresh ones are checked:
    a report shows them as they are.
    """
    metrics = plan.metrics
    if metrics is None or plan.metrics_stale():
        return None
    count = len(plan.probes)
    if metrics.probe_count != count or len(metrics.paths) != count:
        return (
            f"probe_count {metrics.probe_count} and {len(metrics.paths)} path report(s) "
            f"for the plan's {count} probe(s)"
        )
    freeze_s = plan.parsed_protocol().freeze_time_s
    if not math.isclose(metrics.total_freeze_s, freeze_s, rel_tol=1e-9, abs_tol=1e-6):
        return f"total_freeze_s {metrics.total_freeze_s:g} s for a protocol freezing {freeze_s:g} s"
    settings = plan.settings
    if (metrics.lethal_isotherm_c, metrics.margin_mm) != (
        settings.lethal_isotherm_c,
        settings.margin_mm,
    ):
        return "lethal_isotherm_c or margin_mm differ from the plan's settings"
    if all(c.isotherm_c != metrics.lethal_isotherm_c for c in metrics.coverage):
        return "coverage lacks the lethal isotherm"
    return None


def _optional_text(node: _Node, key: str) -> str:
    """A text field that older files may lack (empty then)."""
    child = node.optional(key)
    return "" if child is None else child.text()


def _warnings(node: _Node | None) -> tuple[PlanWarning, ...]:
    """The plan's warnings; older files have none."""
    if node is None:
        return ()
    warnings = []
    for item in node.items():
        source, text = item.field("source").text(), item.field("text").text()
        warnings.append(item.build(lambda s=source, t=text: PlanWarning(s, t)))
    return tuple(warnings)


def _approach(node: _Node | None) -> PlanApproach | None:
    """The approach record; older files have none (not assessed)."""
    if node is None:
        return None
    position = node.optional("patient_position")
    source = node.field("position_source").text()
    raw = _optional_text(node, "position_header_value")
    reading = node.build(
        lambda: PositionReading(None if position is None else position.text(), source, raw)  # type: ignore[arg-type]
    )
    down = node.optional("table_down_lps")
    table_source = node.optional("table_source")
    axis = node.optional("bore_axis_lps_mm")
    refused = node.optional("refused_by_reason")
    values: dict[str, Any] = {
        "position": reading,
        "table_down_lps": None if down is None else down.point(),
        "table_source": None if table_source is None else table_source.text(),
        "table_top_mm": node.optional_number("table_top_mm"),
        "bore_axis_lps_mm": None if axis is None else axis.point(),
        "max_craniocaudal_deg": node.optional_number("max_craniocaudal_deg"),
        "candidate_entries": _optional_integer(node, "candidate_entries"),
        "refused_total": _optional_integer(node, "refused_entries"),
        "refused_entries": {} if refused is None else refused.integer_map(),
        "notes": () if node.optional("notes") is None else node.field("notes").texts(),
    }
    for key in ("bore_diameter_mm", "handle_length_mm", "min_entry_height_mm"):
        value = node.optional_number(key)
        if value is not None:
            values[key] = value
    return node.build(lambda: PlanApproach(**values))


def _optional_integer(node: _Node, key: str) -> int:
    child = node.optional(key)
    return 0 if child is None else child.integer()


def _protection(node: _Node) -> PlannedProtection:
    kind = node.field("kind").text()
    center = node.field("center_lps_mm").point()
    sizes = {
        key: node.field(key).number() for key in ("radius_mm", "thickness_mm", "temperature_c")
    }
    measure: Protection
    if kind == "hydrodissection":
        normal = node.field("normal").point()
        infused = node.field("infused").boolean()
        measure = node.build(lambda: HydrodissectionLayer(center, normal, infused=infused, **sizes))
    elif kind == "skin_pack":
        measure = node.build(lambda: SkinPack(center, **sizes))
    else:
        raise node.child("kind").error(
            f"unknown protective measure {kind!r}; use 'hydrodissection' or 'skin_pack'."
        )
    structure = node.field("structure").text()
    reason = _optional_text(node, "reason")
    return node.build(lambda: PlannedProtection(structure, measure, reason))


def _probe(node: _Node) -> PlannedProbe:
    model = node.field("model").text()
    tip = node.field("tip_lps_mm").point()
    entry = node.field("entry_lps_mm").point()
    for key, point in (("tip_lps_mm", tip), ("entry_lps_mm", entry)):
        problem = coordinate_problem(point)
        if problem is not None:
            raise node.child(key).error(problem)
    label = "" if node.optional("label") is None else node.field("label").text()
    return node.build(lambda: PlannedProbe(model, tip, entry, label))


def _settings(node: _Node) -> PlanSettings:
    known = set(PlanSettings.__dataclass_fields__)
    values: dict[str, Any] = {}
    for key in node.mapping():
        if key not in known:
            raise node.child(key).error(
                f"unknown setting; known settings: {', '.join(sorted(known))}."
            )
        child = node.child(key)
        if key in ("oar_clearances_mm", "path_clearances_mm"):
            values[key] = child.number_map()
        elif key == "reported_isotherms_c":
            values[key] = child.numbers()
        elif key == "organ_site":
            # null: inferred from the labels, as when the key is absent.
            values[key] = None if child.value is None else child.text()
        elif key in ("patient_position", "goal"):
            values[key] = child.text()
        elif key == "max_probes":
            values[key] = child.integer()
        else:
            values[key] = child.number()
    return node.build(lambda: PlanSettings(**values))


def _case(node: _Node | None) -> CaseReference | None:
    if node is None:
        return None
    digest = _digest(node.field("content_sha256"))
    texts = {
        key: ("" if node.optional(key) is None else node.field(key).text())
        for key in (
            "study_instance_uid",
            "series_instance_uid",
            "frame_of_reference_uid",
            "description",
        )
    }
    return CaseReference(content_sha256=digest, **texts)


def _digest(node: _Node | None) -> str | None:
    if node is None:
        return None
    digest = node.text()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise node.error("expected 64 lowercase hexadecimal characters.")
    return digest


def _file(node: _Node, key: str, base_dir: str | Path | None) -> Path | None:
    child = node.optional(key)
    if child is None:
        return None
    text = child.text()
    if not text.strip():
        raise child.error("expected a file path, got empty text.")
    if "\0" in text:
        raise child.error("a file path cannot contain a NUL character.")
    try:
        os.fsencode(text)
    except UnicodeEncodeError:
        raise child.error("the file path holds characters no file name can hold.") from None
    path = Path(text)
    return path if path.is_absolute() or base_dir is None else Path(base_dir) / path


def _optional_point(node: _Node, key: str) -> tuple[float, float, float] | None:
    child = node.optional(key)
    return None if child is None else child.point()


def _metrics(node: _Node) -> PlanMetrics:
    stale = node.optional("stale")
    if stale is not None:
        stale.boolean()  # informative only: staleness is recomputed from inputs_sha256
    margin = node.field("minimal_ablative_margin")
    return PlanMetrics(
        computed_with=node.field("computed_with").text(),
        inputs_sha256=node.field("inputs_sha256").text(),
        lethal_isotherm_c=node.field("lethal_isotherm_c").number(),
        margin_mm=node.field("margin_mm").number(),
        tumor_volume_ml=node.field("tumor_volume_ml").number(),
        # Absent from metrics written before the RECIST axes were recorded.
        tumor_long_axis_mm=node.optional_number("tumor_long_axis_mm"),
        tumor_short_axis_mm=node.optional_number("tumor_short_axis_mm"),
        ice_volume_ml=node.field("ice_volume_ml").number(),
        lethal_volume_ml=node.field("lethal_volume_ml").number(),
        coverage=tuple(
            IsothermCoverage(
                isotherm_c=item.field("isotherm_c").number(),
                tumor_percent=item.field("tumor_percent").number(),
                tumor_and_margin_percent=item.field("tumor_and_margin_percent").number(),
            )
            for item in node.field("coverage").items()
        ),
        margin=_margin(margin),
        oars=tuple(
            OarMetrics(
                name=item.field("name").text(),
                distance_to_ice_mm=item.optional_number("distance_to_ice_mm"),
                clearance_mm=item.field("clearance_mm").number(),
                frozen_volume_ml=item.field("frozen_volume_ml").number(),
                lethal_volume_ml=item.field("lethal_volume_ml").number(),
                monitored=item.optional_boolean("monitored"),
            )
            for item in node.field("oars").items()
        ),
        probe_count=node.field("probe_count").integer(),
        total_freeze_s=node.field("total_freeze_s").number(),
        min_tip_spacing_mm=node.optional_number("min_tip_spacing_mm"),
        paths=tuple(_path(item) for item in node.field("paths").items()),
        histograms=tuple(_histogram(item) for item in node.field("histograms").items()),
        robustness=_robustness(node.optional("robustness")),
        # Metrics written before organ sites existed lack these: site unknown.
        organ_site=_organ_site(node),
        organ_site_inferred_from=_optional_text(node, "organ_site_inferred_from"),
        not_assessed=(
            () if node.optional("not_assessed") is None else node.field("not_assessed").texts()
        ),
        # Measured for visible-ice plans only; absent or null otherwise.
        visible_ice=_visible_ice(node.optional("visible_ice")),
    )


def _margin(node: _Node) -> AblativeMargin:
    return AblativeMargin(
        minimum_mm=node.optional_number("minimum_mm"),
        percentile5_mm=node.optional_number("percentile5_mm"),
        minimum_location_lps_mm=_optional_point(node, "minimum_location_lps_mm"),
    )


def _visible_ice(node: _Node | None) -> VisibleIce | None:
    if node is None or node.value is None:
        return None
    return VisibleIce(
        ice_margin_mm=node.field("ice_margin_mm").number(),
        coverage_percent=node.field("coverage_percent").number(),
        margin=_margin(node.field("margin")),
    )


def _organ_site(node: _Node) -> str | None:
    child = node.optional("organ_site")
    if child is None:
        return None
    text = child.text()
    if text not in ORGAN_SITES:
        raise child.error(f"unknown organ site {text!r}; known: {', '.join(ORGAN_SITES)}.")
    return text


def _robustness(node: _Node | None) -> RobustnessSummary | None:
    if node is None:
        return None
    samples = node.field("samples").integer()
    probability = node.field("probability").number()
    if samples < 1 or not 0.0 <= probability <= 1.0:
        raise node.error("samples must be >= 1 and probability between 0 and 1.")
    return RobustnessSummary(
        tip_error_mm=node.field("tip_error_mm").number(),
        samples=samples,
        seed=node.field("seed").integer(),
        probability=probability,
        coverage_goal_percent=node.field("coverage_goal_percent").number(),
        coverage_mean_percent=node.field("coverage_mean_percent").number(),
        coverage_p05_percent=node.field("coverage_p05_percent").number(),
        margin_mean_mm=node.optional_number("margin_mean_mm"),
        margin_p05_mm=node.optional_number("margin_p05_mm"),
        grid_spacing_mm=node.field("grid_spacing_mm").number(),
        zone_isotherm_c=node.optional_number("zone_isotherm_c"),
        zone_margin_mm=node.optional_number("zone_margin_mm"),
    )


def _path(node: _Node) -> PathReport:
    return PathReport(
        skin_entry_lps_mm=_optional_point(node, "skin_entry_lps_mm"),
        length_in_body_mm=node.field("length_in_body_mm").number(),
        craniocaudal_angle_deg=node.field("craniocaudal_angle_deg").number(),
        in_plane_angle_deg=node.field("in_plane_angle_deg").number(),
        elevation_deg=node.field("elevation_deg").number(),
        usable_length_mm=node.field("usable_length_mm").number(),
        closest_mm=node.field("closest_mm").number_map(),
        clearance_mm=node.field("clearance_mm").number_map(),
        crossings=node.field("crossings").integer_map(),
        exempt=node.field("exempt").texts(),
        problems=node.field("problems").texts(),
        # Plan files written before the CT hazard checks have neither field.
        hazards=tuple(_hazard(item) for item in _optional_items(node, "hazards")),
        hazards_assessed=_optional_boolean(node, "hazards_assessed"),
    )


def _optional_items(node: _Node, key: str) -> list[_Node]:
    child = node.optional(key)
    return [] if child is None else child.items()


def _optional_boolean(node: _Node, key: str) -> bool:
    child = node.optional(key)
    return False if child is None else child.boolean()


def _hazard(node: _Node) -> PathHazard:
    return PathHazard(
        name=node.field("name").text(),
        depth_mm=node.field("depth_mm").number(),
        length_mm=node.field("length_mm").number(),
        closest_mm=node.field("closest_mm").number(),
        forbidden=node.field("forbidden").boolean(),
    )


def _histogram(node: _Node) -> TemperatureVolumeHistogram:
    temperatures = node.field("temperatures_c").numbers()
    fractions_node = node.field("fraction_at_or_below")
    fractions = fractions_node.numbers()
    if len(fractions) != len(temperatures):
        raise fractions_node.error(
            f"expected {len(temperatures)} values (one per temperature), got {len(fractions)}."
        )
    return TemperatureVolumeHistogram(
        structure=node.field("structure").text(),
        volume_ml=node.field("volume_ml").number(),
        temperatures_c=temperatures,
        fraction_at_or_below=fractions,
    )


def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file.

    Raises
    ------
    PlanFileError
        When the file is missing, not a regular file, too large, not JSON or
        nested too deeply, newer than this software reads, beyond the hard
        limits (:mod:`planning_core.planning.limits`), or has a missing or
        malformed field (the message names the JSON path, e.g.
        ``probes[1].tip_lps_mm``).
    """
    path = Path(path)
    data = read_json_file(
        path,
        what="plan file",
        error=PlanFileError,
        hint="Check the path; was the file edited by hand or truncated?",
    )
    return plan_from_dict(data, source=str(path), base_dir=Path(os.path.abspath(path)).parent)
