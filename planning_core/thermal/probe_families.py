"""Probe families of the device library: the published data behind each probe model.

A family groups the probe models of one device class (cryogen, gauge, ice
shape) and lists the publications or manufacturer documents whose isotherm
dimensions calibrate or check them. Organ factors compare the ice a probe makes
in one organ with the ice it makes in another, as published, against what the
engine simulates. The packaged ``probes.json`` holds all of this as data; this
module only parses and checks it (the schema lives in the parsers: every
error names the file, the entry and the field).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast, get_args

from planning_core.errors import InvalidParameterError

IceShape = Literal["rod", "elliptical", "sphere"]
DimensionQuantity = Literal["equivalent_diameter_mm", "axial_length_mm"]
Cryogen = Literal["argon", "liquid_nitrogen"]
ICE_SHAPES: tuple[str, ...] = get_args(IceShape)
CRYOGENS: tuple[str, ...] = get_args(Cryogen)


@dataclass(frozen=True)
class Source:
    """One publication or manufacturer document.

    Attributes
    ----------
    citation : str
        Authors, title, journal, year (or document title).
    url : str
        Where it can be read.
    where : str
        Which part holds the figures (abstract, table, figure).
    data : str
        The figures taken from it, as published.
    """

    citation: str
    url: str
    where: str
    data: str

    def to_dict(self) -> dict[str, str]:
        return {"citation": self.citation, "url": self.url, "where": self.where, "data": self.data}


@dataclass(frozen=True)
class ProbeFamily:
    """A device class: cryogen, gauge, ice shape and its sources."""

    id: str
    name: str
    cryogen: Cryogen
    gauge: str
    ice_shape: IceShape
    description: str
    sources: tuple[Source, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "cryogen": self.cryogen,
            "gauge": self.gauge,
            "ice_shape": self.ice_shape,
            "description": self.description,
            "sources": [source.to_dict() for source in self.sources],
        }


@dataclass(frozen=True)
class OrganFactor:
    """Ice size in one organ relative to another, published and simulated.

    Attributes
    ----------
    label : str
    model : str
        Probe model simulated.
    organ, reference_medium : str
        Tissue classes compared (ratio = organ / reference).
    protocol : str
        Protocol code of both runs.
    isotherm_c : float
    quantity : str
        ``equivalent_diameter_mm`` or ``axial_length_mm``.
    measured_ratio : float or None
        Published ratio; ``None`` where only the engine's figure is known.
    sd_ratio : float
        Spread of the published ratio (tolerance of the check).
    simulated_ratio, residual : float
        Written by the calibration script (residual = simulated - measured).
    asserted : bool
        Whether the validation test requires ``|residual| <= sd_ratio``.
    note : str
        Why a factor is not asserted, or what the comparison assumes.
    source : Source or None
    """

    label: str
    model: str
    organ: str
    reference_medium: str
    protocol: str
    isotherm_c: float
    quantity: DimensionQuantity
    measured_ratio: float | None
    sd_ratio: float
    simulated_ratio: float
    residual: float | None
    asserted: bool
    note: str
    source: Source | None

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "model": self.model,
            "organ": self.organ,
            "reference_medium": self.reference_medium,
            "protocol": self.protocol,
            "isotherm_c": self.isotherm_c,
            "quantity": self.quantity,
            "measured_ratio": self.measured_ratio,
            "sd_ratio": self.sd_ratio,
            "simulated_ratio": self.simulated_ratio,
            "residual": self.residual,
            "asserted": self.asserted,
            "note": self.note,
            "source": None if self.source is None else self.source.to_dict(),
        }


def _text(entry: Mapping, key: str, spot: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameterError(f"{spot}: '{key}' must be a non-empty text.")
    return value


def parse_source(entry: object, spot: str) -> Source:
    """A :class:`Source` from its JSON object; every field is required."""
    if not isinstance(entry, Mapping):
        raise InvalidParameterError(f"{spot}: a source must be an object.")
    return Source(
        citation=_text(entry, "citation", spot),
        url=_text(entry, "url", spot),
        where=_text(entry, "where", spot),
        data=_text(entry, "data", spot),
    )


def parse_family(entry: object, where: str) -> ProbeFamily:
    """A :class:`ProbeFamily` from its JSON object (at least one source)."""
    if not isinstance(entry, Mapping):
        raise InvalidParameterError(f"{where}: every family must be an object.")
    spot = f"{where}, family {entry.get('id', '?')!r}"
    cryogen = _text(entry, "cryogen", spot)
    if cryogen not in CRYOGENS:
        raise InvalidParameterError(f"{spot}: cryogen must be one of {', '.join(CRYOGENS)}.")
    shape = _text(entry, "ice_shape", spot)
    if shape not in ICE_SHAPES:
        raise InvalidParameterError(f"{spot}: ice_shape must be one of {', '.join(ICE_SHAPES)}.")
    sources = entry.get("sources")
    if not isinstance(sources, list) or not sources:
        raise InvalidParameterError(f"{spot}: every family needs at least one source.")
    return ProbeFamily(
        id=_text(entry, "id", spot),
        name=_text(entry, "name", spot),
        cryogen=cast(Cryogen, cryogen),
        gauge=_text(entry, "gauge", spot),
        ice_shape=cast(IceShape, shape),
        description=_text(entry, "description", spot),
        sources=tuple(
            parse_source(source, f"{spot}, source {number + 1}")
            for number, source in enumerate(sources)
        ),
    )


def _finite(entry: Mapping, key: str, spot: str, *, positive: bool = False) -> float:
    try:
        value = float(entry[key])
    except (KeyError, TypeError, ValueError):
        raise InvalidParameterError(f"{spot}: '{key}' must be a number.") from None
    if not math.isfinite(value) or (positive and value <= 0):
        raise InvalidParameterError(f"{spot}: '{key}' must be a finite positive number.")
    return value


def parse_organ_factor(entry: object, where: str) -> OrganFactor:
    """An :class:`OrganFactor` from its JSON object; a measured ratio needs a source."""
    if not isinstance(entry, Mapping):
        raise InvalidParameterError(f"{where}: every organ factor must be an object.")
    spot = f"{where}, organ factor {entry.get('label', '?')!r}"
    quantity = _text(entry, "quantity", spot)
    if quantity == "equivalent_diameter_mm" or quantity == "axial_length_mm":
        dimension: DimensionQuantity = quantity
    else:
        raise InvalidParameterError(
            f"{spot}: quantity must be 'equivalent_diameter_mm' or 'axial_length_mm'."
        )
    measured = entry.get("measured_ratio")
    source = entry.get("source")
    if measured is not None and source is None:
        raise InvalidParameterError(f"{spot}: a measured ratio needs its source.")
    residual = entry.get("residual")
    return OrganFactor(
        label=_text(entry, "label", spot),
        model=_text(entry, "model", spot),
        organ=_text(entry, "organ", spot),
        reference_medium=_text(entry, "reference_medium", spot),
        protocol=_text(entry, "protocol", spot),
        isotherm_c=_finite(entry, "isotherm_c", spot),
        quantity=dimension,
        measured_ratio=None if measured is None else _finite(entry, "measured_ratio", spot),
        sd_ratio=_finite(entry, "sd_ratio", spot, positive=True),
        simulated_ratio=_finite(entry, "simulated_ratio", spot, positive=True),
        residual=None if residual is None else _finite(entry, "residual", spot),
        asserted=bool(entry.get("asserted", measured is not None)),
        note=str(entry.get("note", "")),
        source=None if source is None else parse_source(source, f"{spot}, source"),
    )
