"""Cryoprobe models (from the versioned data file ``probes.json``) and placed probes.

A probe is a line from its tip toward its entry point. Its freezing (active)
segment starts ``tip_offset_mm`` behind the sharp tip and is
``active_length_mm`` long. During a freeze the probe wall follows a calibrated
temperature curve (or extracts a given heat per metre); during a passive thaw
the probe is off (no heat exchange); during an active thaw the wall is warmed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from planning_core.errors import InvalidParameterError
from planning_core.input_files import read_json_file
from planning_core.thermal.probe_families import (
    OrganFactor,
    ProbeFamily,
    parse_family,
    parse_organ_factor,
)

PROBE_FILE_FORMAT = "cryoplan-probe-library"
BoundaryType = Literal["wall_temperature", "heat_extraction"]


@dataclass(frozen=True)
class ProbeModel:
    """A cryoprobe type and its calibrated boundary condition.

    Parameters
    ----------
    id : str
        Library key, e.g. ``"argon-2.4"``.
    name, cryogen : str
        Display name and cryogen (``"argon"``, ``"liquid_nitrogen"``, ``"model"``).
    diameter_mm, active_length_mm, tip_offset_mm : float
        Outer diameter, length of the freezing segment, and distance from the
        sharp tip to the distal end of that segment.
    boundary : {"wall_temperature", "heat_extraction"}
        ``wall_temperature``: the wall follows
        ``plateau_c + (T_start - plateau_c) * exp(-t / time_constant_s)``
        from the start of each freeze (``T_start``: body temperature).
        ``heat_extraction``: the probe removes ``heat_extraction_w_m`` watts
        per metre of active segment.
    plateau_c, time_constant_s : float
        Wall-temperature curve parameters (``wall_temperature`` only).
    heat_extraction_w_m : float
        Extracted power per metre (``heat_extraction`` only).
    active_thaw_wall_c : float
        Wall temperature during an active thaw.
    calibration : dict
        Where the parameters come from: source, data, fitted residuals.
    family : str
        Id of the :class:`~planning_core.thermal.probe_families.ProbeFamily`
        (device class and its published sources); empty for models built in code.
    """

    id: str
    name: str
    cryogen: str
    diameter_mm: float
    active_length_mm: float
    tip_offset_mm: float
    boundary: BoundaryType = "wall_temperature"
    plateau_c: float = -145.0
    time_constant_s: float = 30.0
    heat_extraction_w_m: float = 0.0
    active_thaw_wall_c: float = 20.0
    calibration: dict = field(default_factory=dict, compare=False, hash=False)
    family: str = ""

    def __post_init__(self) -> None:
        where = f"probe model {self.id!r}"
        for name in ("diameter_mm", "active_length_mm"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidParameterError(f"{where}: {name} must be positive, got {value!r}.")
        if not (math.isfinite(self.tip_offset_mm) and self.tip_offset_mm >= 0):
            raise InvalidParameterError(f"{where}: tip_offset_mm must be >= 0.")
        if self.boundary not in ("wall_temperature", "heat_extraction"):
            raise InvalidParameterError(
                f"{where}: boundary must be 'wall_temperature' or 'heat_extraction', "
                f"got {self.boundary!r}."
            )
        if self.boundary == "wall_temperature" and not self.time_constant_s > 0:
            raise InvalidParameterError(f"{where}: time_constant_s must be positive.")
        if self.boundary == "heat_extraction" and not self.heat_extraction_w_m > 0:
            raise InvalidParameterError(f"{where}: heat_extraction_w_m must be positive.")

    @property
    def radius_m(self) -> float:
        return self.diameter_mm * 0.5e-3

    def wall_temperature_c(self, time_on_s: float, *, start_c: float) -> float:
        """Wall temperature ``time_on_s`` seconds into a freeze that started at ``start_c``."""
        decay = math.exp(-max(time_on_s, 0.0) / self.time_constant_s)
        return self.plateau_c + (start_c - self.plateau_c) * decay

    def summary(self) -> dict[str, object]:
        """The fields ``cryoplan probes`` lists."""
        return {
            "id": self.id,
            "name": self.name,
            "family": self.family,
            "cryogen": self.cryogen,
            "diameter_mm": self.diameter_mm,
            "active_length_mm": self.active_length_mm,
            "tip_offset_mm": self.tip_offset_mm,
            "boundary": self.boundary,
            "calibration_source": self.calibration.get("source", ""),
            "calibration_method": self.calibration.get("method", ""),
            "rms_residual_mm": self.calibration.get("rms_residual_mm"),
        }


def _vector(value: ArrayLike, name: str) -> NDArray[np.float64]:
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.shape != (3,) or not np.all(np.isfinite(array)):
        raise InvalidParameterError(f"{name} must be three finite LPS coordinates (mm).")
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class PlacedProbe:
    """A probe model placed in the patient: tip and entry point in LPS mm."""

    model: ProbeModel
    tip_lps_mm: NDArray[np.float64]
    entry_lps_mm: NDArray[np.float64]

    def __post_init__(self) -> None:
        tip = _vector(self.tip_lps_mm, "tip_lps_mm")
        entry = _vector(self.entry_lps_mm, "entry_lps_mm")
        object.__setattr__(self, "tip_lps_mm", tip)
        object.__setattr__(self, "entry_lps_mm", entry)
        needed = self.model.tip_offset_mm + self.model.active_length_mm
        length = float(np.linalg.norm(entry - tip))
        if length < needed:
            raise InvalidParameterError(
                f"probe {self.model.id}: entry point lies {length:.1f} mm from the tip but the "
                f"freezing segment reaches {needed:.1f} mm behind the tip; move the entry "
                "point farther along the shaft."
            )

    @property
    def axis_unit(self) -> NDArray[np.float64]:
        """Unit vector from the tip toward the entry point."""
        direction = self.entry_lps_mm - self.tip_lps_mm
        return direction / np.linalg.norm(direction)

    @property
    def active_start_lps_mm(self) -> NDArray[np.float64]:
        """Distal (tip-side) end of the freezing segment."""
        return self.tip_lps_mm + self.axis_unit * self.model.tip_offset_mm

    @property
    def active_end_lps_mm(self) -> NDArray[np.float64]:
        """Proximal end of the freezing segment."""
        return self.active_start_lps_mm + self.axis_unit * self.model.active_length_mm

    @property
    def active_center_lps_mm(self) -> NDArray[np.float64]:
        return 0.5 * (self.active_start_lps_mm + self.active_end_lps_mm)

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model.id,
            "tip_lps_mm": self.tip_lps_mm.tolist(),
            "entry_lps_mm": self.entry_lps_mm.tolist(),
        }


def _parse_model(entry: dict, where: str) -> ProbeModel:
    spot = f"{where}, probe {entry.get('id', '?')!r}"
    calibration = entry.get("calibration") or {}
    if not calibration.get("source"):
        raise InvalidParameterError(f"{spot}: every probe model needs calibration.source.")
    boundary = entry.get("boundary") or {}
    try:
        return ProbeModel(
            id=str(entry["id"]),
            name=str(entry["name"]),
            cryogen=str(entry["cryogen"]),
            diameter_mm=float(entry["diameter_mm"]),
            active_length_mm=float(entry["active_length_mm"]),
            tip_offset_mm=float(entry["tip_offset_mm"]),
            boundary=boundary.get("type", "wall_temperature"),
            plateau_c=float(boundary.get("plateau_c", -145.0)),
            time_constant_s=float(boundary.get("time_constant_s", 30.0)),
            heat_extraction_w_m=float(boundary.get("heat_extraction_w_m", 0.0)),
            active_thaw_wall_c=float(entry.get("active_thaw_wall_c", 20.0)),
            calibration=calibration,
            family=str(entry["family"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidParameterError(f"{spot}: missing or malformed field ({error}).") from None


@dataclass(frozen=True)
class ProbeLibrary:
    """The probe models of a probe file, by id, with their families and sources.

    Attributes
    ----------
    version : str
    models : dict of str to ProbeModel
        Models by id, in file order (the first is the app's default for a new probe).
    path : str
    families : dict of str to ProbeFamily
        Device classes and the published data behind them.
    aliases : dict of str to str
        Other ids a plan file may use for a model (kept so old plans open).
    defaults : dict of str to str
        The model the optimizer uses per cryogen when the user names none.
    organ_factors : tuple of OrganFactor
        Published organ-to-organ ice size ratios against the engine's.
    """

    version: str
    models: dict[str, ProbeModel]
    path: str = ""
    families: dict[str, ProbeFamily] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    organ_factors: tuple[OrganFactor, ...] = ()

    def get(self, model_id: str) -> ProbeModel:
        """The model ``model_id`` (or the model an alias names); the error lists the known ids."""
        try:
            return self.models[self.aliases.get(model_id, model_id)]
        except KeyError:
            raise InvalidParameterError(
                f"unknown probe model {model_id!r}; known: {', '.join(self.models)} "
                "(see 'cryoplan probes')."
            ) from None

    def default_model(self, cryogen: str) -> ProbeModel | None:
        """The library's default model for ``cryogen``, or ``None`` when it names none."""
        model_id = self.defaults.get(cryogen)
        return None if model_id is None else self.models[model_id]

    def family_of(self, model: ProbeModel) -> ProbeFamily | None:
        """The family of ``model`` (``None`` for a model built in code)."""
        return self.families.get(model.family)


def _check_links(library: ProbeLibrary, where: str) -> None:
    """Every model names a known family of its cryogen; aliases and defaults name models."""
    for model in library.models.values():
        family = library.families.get(model.family)
        if family is None:
            raise InvalidParameterError(
                f"{where}, probe {model.id!r}: unknown family {model.family!r}; "
                f"known: {', '.join(library.families)}."
            )
        if family.cryogen != model.cryogen:
            raise InvalidParameterError(
                f"{where}, probe {model.id!r}: cryogen {model.cryogen!r} differs from its "
                f"family's ({family.cryogen!r})."
            )
    for alias, target in library.aliases.items():
        if alias in library.models or target not in library.models:
            raise InvalidParameterError(
                f"{where}: alias {alias!r} must be a new id naming a model (got {target!r})."
            )
    for cryogen, model_id in library.defaults.items():
        model = library.models.get(model_id)
        if model is None or model.cryogen != cryogen:
            raise InvalidParameterError(
                f"{where}: default for {cryogen!r} must be a {cryogen} model (got {model_id!r})."
            )
    for factor in library.organ_factors:
        if factor.model not in library.models:
            raise InvalidParameterError(
                f"{where}: organ factor {factor.label!r} names unknown model {factor.model!r}."
            )


def _string_map(payload: dict, key: str, where: str) -> dict[str, str]:
    value = payload.get(key, {})
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidParameterError(f"{where}: '{key}' must map ids to ids.")
    return dict(value)


def parse_probe_library(payload: dict, *, where: str = "probes.json") -> ProbeLibrary:
    """Build a :class:`ProbeLibrary` from the decoded JSON of a probe file.

    The file's schema: ``format``, ``version``, ``families`` (each with its
    sources), ``probes`` (each naming its family, with calibration data),
    optional ``aliases``, ``defaults`` and ``organ_factors``. Every error names
    the file and the entry.
    """
    if payload.get("format") != PROBE_FILE_FORMAT:
        raise InvalidParameterError(
            f"{where}: not a probe library (format must be {PROBE_FILE_FORMAT!r})."
        )
    if not payload.get("version"):
        raise InvalidParameterError(f"{where}: missing 'version'.")
    families: dict[str, ProbeFamily] = {}
    for entry in payload.get("families", []):
        family = parse_family(entry, where)
        if family.id in families:
            raise InvalidParameterError(f"{where}: family id {family.id!r} appears twice.")
        families[family.id] = family
    models: dict[str, ProbeModel] = {}
    for entry in payload.get("probes", []):
        model = _parse_model(entry, where)
        if model.id in models:
            raise InvalidParameterError(f"{where}: probe id {model.id!r} appears twice.")
        models[model.id] = model
    library = ProbeLibrary(
        str(payload["version"]),
        models,
        where,
        families=families,
        aliases=_string_map(payload, "aliases", where),
        defaults=_string_map(payload, "defaults", where),
        organ_factors=tuple(
            parse_organ_factor(entry, where) for entry in payload.get("organ_factors", [])
        ),
    )
    _check_links(library, where)
    return library


def probe_library_payload(path: str | None = None) -> dict:
    """The decoded JSON of ``path`` or of the packaged ``probes.json``."""
    if path is None:
        text = resources.files("planning_core.thermal").joinpath("data", "probes.json")
        return json.loads(text.read_text("utf-8"))
    return read_json_file(path, what="probe library", error=InvalidParameterError)


@lru_cache(maxsize=4)
def load_probe_library(path: str | None = None) -> ProbeLibrary:
    """The probe library from ``path`` or the packaged ``probes.json``."""
    where = path or "planning_core/thermal/data/probes.json"
    return parse_probe_library(probe_library_payload(path), where=where)
