"""Thermal properties of tissue classes, read from the versioned data file ``tissues.json``.

Each tissue is described by an enthalpy formulation of freezing: latent heat is
released uniformly over the phase-change range ``[solidus_c, liquidus_c]``, the
sensible heat capacity is ``C_frozen`` below it, ``C_unfrozen`` above it and their
mean inside it, and conductivity varies linearly across the range. Perfusion
and metabolic heat scale with the unfrozen fraction, so frozen tissue has none.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
from numpy.typing import ArrayLike, NDArray

from planning_core.errors import InvalidParameterError
from planning_core.input_files import read_json_file

_DATA_PACKAGE = "planning_core.thermal"
TISSUE_FILE_FORMAT = "cryoplan-tissue-properties"


@dataclass(frozen=True)
class TissueProperties:
    """Thermal properties of one tissue class (SI units, temperatures in °C).

    Parameters
    ----------
    key : str
        Identifier used in the data file (``"soft_tissue"``, ``"gel"`` ...).
    name : str
        Human-readable name.
    conductivity_unfrozen_w_mk, conductivity_frozen_w_mk : float
        Thermal conductivity above ``liquidus_c`` and below ``solidus_c``.
    heat_capacity_unfrozen_j_m3k, heat_capacity_frozen_j_m3k : float
        Volumetric sensible heat capacity above and below the range.
    latent_heat_j_m3 : float
        Volumetric latent heat released over the phase-change range.
    solidus_c, liquidus_c : float
        Phase-change range; ``solidus_c < liquidus_c``.
    perfusion_w_m3k : float
        Pennes perfusion term ``omega_b * rho_b * c_b``.
    metabolic_w_m3 : float
        Metabolic heat; needs perfusion to be balanced at body temperature.
    inert : bool
        Held at its initial temperature (never updated). With zero conductivity
        it is also insulating (air); with a positive one it is a fixed-temperature
        boundary.
    source : str
        Where the numbers come from.
    """

    key: str
    name: str
    conductivity_unfrozen_w_mk: float
    conductivity_frozen_w_mk: float
    heat_capacity_unfrozen_j_m3k: float
    heat_capacity_frozen_j_m3k: float
    latent_heat_j_m3: float
    solidus_c: float
    liquidus_c: float
    perfusion_w_m3k: float = 0.0
    metabolic_w_m3: float = 0.0
    inert: bool = False
    source: str = ""

    def __post_init__(self) -> None:
        where = f"tissue {self.key!r}"
        if not self.solidus_c < self.liquidus_c:
            raise InvalidParameterError(
                f"{where}: phase-change range needs solidus_c < liquidus_c, got "
                f"[{self.solidus_c}, {self.liquidus_c}] °C."
            )
        if self.heat_capacity_unfrozen_j_m3k <= 0 or self.heat_capacity_frozen_j_m3k <= 0:
            raise InvalidParameterError(f"{where}: heat capacities must be positive.")
        if self.latent_heat_j_m3 < 0 or self.perfusion_w_m3k < 0 or self.metabolic_w_m3 < 0:
            raise InvalidParameterError(
                f"{where}: latent heat, perfusion and metabolic heat must not be negative."
            )
        conductivities = (self.conductivity_unfrozen_w_mk, self.conductivity_frozen_w_mk)
        if min(conductivities) < 0 or (not self.inert and min(conductivities) == 0):
            raise InvalidParameterError(
                f"{where}: conductivities must be positive (only inert tissue may have 0)."
            )
        if self.metabolic_w_m3 > 0 and self.perfusion_w_m3k == 0:
            raise InvalidParameterError(
                f"{where}: metabolic heat without perfusion has no steady state at body "
                "temperature; set metabolic_w_m3 to 0 or give a perfusion."
            )

    # -- derived constants --------------------------------------------------------------
    @property
    def mushy_heat_capacity_j_m3k(self) -> float:
        """Apparent heat capacity inside the phase-change range (latent + mean sensible)."""
        width = self.liquidus_c - self.solidus_c
        mean_sensible = 0.5 * (self.heat_capacity_frozen_j_m3k + self.heat_capacity_unfrozen_j_m3k)
        return self.latent_heat_j_m3 / width + mean_sensible

    @property
    def liquidus_enthalpy_j_m3(self) -> float:
        """Enthalpy at the liquidus; enthalpy is zero at the solidus."""
        return self.mushy_heat_capacity_j_m3k * (self.liquidus_c - self.solidus_c)

    @property
    def max_diffusivity_m2_s(self) -> float:
        """Largest ``k / C`` over all temperatures (bounds the explicit time step)."""
        if self.inert:
            return 0.0
        k_max = max(self.conductivity_unfrozen_w_mk, self.conductivity_frozen_w_mk)
        c_min = min(self.heat_capacity_unfrozen_j_m3k, self.heat_capacity_frozen_j_m3k)
        return k_max / c_min

    def arterial_temperature_c(self, body_temperature_c: float) -> float:
        """Arterial temperature that keeps unperturbed tissue at ``body_temperature_c``."""
        if self.perfusion_w_m3k == 0:
            return body_temperature_c
        return body_temperature_c - self.metabolic_w_m3 / self.perfusion_w_m3k

    # -- state functions ------------------------------------------------------------------
    def enthalpy_j_m3(self, temperature_c: ArrayLike) -> NDArray[np.float64]:
        """Volumetric enthalpy, zero at the solidus."""
        t = np.asarray(temperature_c, dtype=np.float64)
        below = np.minimum(t - self.solidus_c, 0.0) * self.heat_capacity_frozen_j_m3k
        inside = np.clip(t, self.solidus_c, self.liquidus_c) - self.solidus_c
        above = np.maximum(t - self.liquidus_c, 0.0) * self.heat_capacity_unfrozen_j_m3k
        return below + inside * self.mushy_heat_capacity_j_m3k + above

    def temperature_c(self, enthalpy_j_m3: ArrayLike) -> NDArray[np.float64]:
        """Inverse of :meth:`enthalpy_j_m3`."""
        h = np.asarray(enthalpy_j_m3, dtype=np.float64)
        h_liq = self.liquidus_enthalpy_j_m3
        return (
            self.solidus_c
            + np.minimum(h, 0.0) / self.heat_capacity_frozen_j_m3k
            + np.clip(h, 0.0, h_liq) / self.mushy_heat_capacity_j_m3k
            + np.maximum(h - h_liq, 0.0) / self.heat_capacity_unfrozen_j_m3k
        )

    def unfrozen_fraction(self, temperature_c: ArrayLike) -> NDArray[np.float64]:
        """0 below the solidus, 1 above the liquidus, linear between."""
        t = np.asarray(temperature_c, dtype=np.float64)
        return np.clip((t - self.solidus_c) / (self.liquidus_c - self.solidus_c), 0.0, 1.0)

    def conductivity_w_mk(self, temperature_c: ArrayLike) -> NDArray[np.float64]:
        """Conductivity, linear across the phase-change range."""
        k_f, k_u = self.conductivity_frozen_w_mk, self.conductivity_unfrozen_w_mk
        return k_f + (k_u - k_f) * self.unfrozen_fraction(temperature_c)

    def kirchhoff_w_m(self, temperature_c: ArrayLike) -> NDArray[np.float64]:
        """Kirchhoff potential ``∫ k dT`` from the solidus (W/m).

        Steady radial conduction between radii ``r1 < r2`` carries
        ``2π (Φ(T2) − Φ(T1)) / ln(r2 / r1)`` watts per metre whatever k(T) is.
        """
        t = np.asarray(temperature_c, dtype=np.float64)
        k_f, k_u = self.conductivity_frozen_w_mk, self.conductivity_unfrozen_w_mk
        width = self.liquidus_c - self.solidus_c
        below = np.minimum(t - self.solidus_c, 0.0) * k_f
        x = np.clip(t, self.solidus_c, self.liquidus_c) - self.solidus_c
        inside = k_f * x + 0.5 * (k_u - k_f) * x * x / width
        above = np.maximum(t - self.liquidus_c, 0.0) * k_u
        return below + inside + above


@dataclass(frozen=True)
class HounsfieldClass:
    """CT voxels below ``below_hu`` (``None``: no upper limit) get ``tissue``."""

    below_hu: float | None
    tissue: str


@dataclass(frozen=True)
class TissueLibrary:
    """All tissue classes plus the label-name and Hounsfield-unit mappings.

    ``label_tissues`` maps a label name to a tissue key, to ``None`` (decide by
    Hounsfield units or the default) or to ``"host"`` (the surrounding tissue).
    """

    version: str
    tissues: dict[str, TissueProperties]
    label_tissues: dict[str, str | None]
    hounsfield: tuple[HounsfieldClass, ...]
    default_tissue: str
    path: str = ""

    def get(self, key: str) -> TissueProperties:
        """The tissue ``key``; the error lists the known keys."""
        try:
            return self.tissues[key]
        except KeyError:
            raise InvalidParameterError(
                f"unknown tissue (medium) {key!r}; known: {', '.join(sorted(self.tissues))}."
            ) from None

    def tissue_for_hu(self, hu: ArrayLike) -> NDArray[np.int64]:
        """Position in :attr:`hounsfield` of the class of each HU value."""
        values = np.asarray(hu, dtype=np.float64)
        result = np.full(values.shape, len(self.hounsfield) - 1, dtype=np.int64)
        assigned = np.zeros(values.shape, dtype=bool)
        for position, row in enumerate(self.hounsfield):
            if row.below_hu is None:
                continue
            hit = ~assigned & (values < row.below_hu)
            result[hit] = position
            assigned |= hit
        return result


def _number(entry: dict, key: str, where: str) -> float:
    try:
        value = float(entry[key])
    except (KeyError, TypeError, ValueError):
        raise InvalidParameterError(f"{where}: missing or non-numeric {key!r}.") from None
    if not math.isfinite(value):
        raise InvalidParameterError(f"{where}: {key!r} must be finite.")
    return value


def _parse_tissue(key: str, entry: dict, where: str) -> TissueProperties:
    spot = f"{where}, tissue {key!r}"
    phase = entry.get("phase_change_c")
    if not isinstance(phase, list) or len(phase) != 2:
        raise InvalidParameterError(f"{spot}: 'phase_change_c' must be [solidus, liquidus].")
    if not entry.get("source"):
        raise InvalidParameterError(f"{spot}: every tissue needs a 'source'.")
    return TissueProperties(
        key=key,
        name=str(entry.get("name", key)),
        conductivity_unfrozen_w_mk=_number(entry, "conductivity_unfrozen_w_mk", spot),
        conductivity_frozen_w_mk=_number(entry, "conductivity_frozen_w_mk", spot),
        heat_capacity_unfrozen_j_m3k=_number(entry, "heat_capacity_unfrozen_j_m3k", spot),
        heat_capacity_frozen_j_m3k=_number(entry, "heat_capacity_frozen_j_m3k", spot),
        latent_heat_j_m3=_number(entry, "latent_heat_j_m3", spot),
        solidus_c=float(phase[0]),
        liquidus_c=float(phase[1]),
        perfusion_w_m3k=_number(entry, "perfusion_w_m3k", spot),
        metabolic_w_m3=_number(entry, "metabolic_w_m3", spot),
        inert=bool(entry.get("inert", False)),
        source=str(entry["source"]),
    )


def parse_tissue_library(payload: dict, *, where: str = "tissues.json") -> TissueLibrary:
    """Build a :class:`TissueLibrary` from the decoded JSON of a tissue file."""
    if payload.get("format") != TISSUE_FILE_FORMAT:
        raise InvalidParameterError(
            f"{where}: not a tissue property file (format must be {TISSUE_FILE_FORMAT!r})."
        )
    if not payload.get("version"):
        raise InvalidParameterError(f"{where}: missing 'version'.")
    tissues = {
        key: _parse_tissue(key, entry, where) for key, entry in payload.get("tissues", {}).items()
    }
    labels: dict[str, str | None] = dict(payload.get("labels", {}))
    for label, tissue in labels.items():
        if tissue not in (None, "host") and tissue not in tissues:
            raise InvalidParameterError(
                f"{where}: label {label!r} maps to unknown tissue {tissue!r}."
            )
    hounsfield = tuple(
        HounsfieldClass(None if row["below_hu"] is None else float(row["below_hu"]), row["tissue"])
        for row in payload.get("hounsfield", [])
    )
    if not hounsfield or hounsfield[-1].below_hu is not None:
        raise InvalidParameterError(
            f"{where}: 'hounsfield' must end with an open row (below_hu null)."
        )
    for row in hounsfield:
        if row.tissue not in tissues:
            raise InvalidParameterError(f"{where}: Hounsfield class names unknown {row.tissue!r}.")
    default = str(payload.get("default_tissue", ""))
    if default not in tissues:
        raise InvalidParameterError(f"{where}: 'default_tissue' {default!r} is not a tissue.")
    return TissueLibrary(
        version=str(payload["version"]),
        tissues=tissues,
        label_tissues=labels,
        hounsfield=hounsfield,
        default_tissue=default,
        path=where,
    )


@lru_cache(maxsize=4)
def load_tissue_library(path: str | None = None) -> TissueLibrary:
    """The tissue library from ``path`` or the packaged ``tissues.json``."""
    if path is None:
        text = resources.files(_DATA_PACKAGE).joinpath("data", "tissues.json").read_text("utf-8")
        where = "planning_core/thermal/data/tissues.json"
        payload = json.loads(text)
    else:
        where = str(path)
        payload = read_json_file(path, what="tissue file", error=InvalidParameterError)
    return parse_tissue_library(payload, where=where)
