"""Plan settings: safety margin, isotherms, clearances and limits, each with a declared range."""

from __future__ import annotations

import enum
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import numpy as np
from numpy.typing import NDArray

from planning_core.errors import InvalidParameterError
from planning_core.planning.organ_sites import ORGAN_SITES
from planning_core.planning.parameters import ParameterRange
from planning_core.thermal.result import ICE_EDGE_C

#: Declared ranges of the scalar settings; user interfaces build their inputs from these.
SETTING_RANGES: dict[str, ParameterRange] = {
    r.name: r
    for r in (
        ParameterRange(
            "margin_mm", "mm", 0.0, 20.0, "margin the lethal zone must cover beyond the tumor"
        ),
        ParameterRange(
            "lethal_isotherm_c", "°C", -60.0, -10.0, "temperature below which tissue is dead"
        ),
        ParameterRange(
            "coverage_goal_percent",
            "%",
            50.0,
            100.0,
            "share of tumor + margin voxels the goal's isotherm must reach",
        ),
        ParameterRange(
            "ice_margin_mm",
            "mm",
            5.0,
            10.0,
            "visible-ice goal: distance the 0 °C ice edge must reach beyond the tumor",
        ),
        ParameterRange(
            "default_oar_clearance_mm",
            "mm",
            0.0,
            50.0,
            "ice-edge (0 °C) distance kept from organs at risk without their own clearance",
        ),
        ParameterRange(
            "default_path_clearance_mm",
            "mm",
            0.0,
            50.0,
            "distance kept between a probe shaft and structures without their own clearance",
        ),
        ParameterRange("max_probes", "", 1, 25, "largest number of probes in one plan", True),
        ParameterRange(
            "max_total_freeze_s", "s", 60.0, 7200.0, "longest sum of freeze phases of the protocol"
        ),
        ParameterRange(
            "min_probe_spacing_mm", "mm", 3.0, 50.0, "smallest distance between two probe tips"
        ),
        ParameterRange(
            "max_probe_spacing_mm", "mm", 5.0, 60.0, "largest distance from a tip to the next tip"
        ),
        ParameterRange(
            "max_tip_to_tumor_edge_mm",
            "mm",
            0.0,
            30.0,
            "largest distance from a probe tip outside the tumor to the tumor edge",
        ),
        ParameterRange(
            "max_craniocaudal_angle_deg",
            "deg",
            0.0,
            80.0,
            "largest probe tilt out of the axial (gantry) plane",
        ),
        ParameterRange(
            "min_shaft_elevation_deg",
            "deg",
            0.0,
            90.0,
            "smallest angle between a probe shaft and the table plane, entry above the tip",
        ),
        ParameterRange(
            "usable_length_mm", "mm", 50.0, 300.0, "shaft length that can go into the patient"
        ),
    )
}

#: Share of tumor + margin the lethal isotherm must reach unless a plan says otherwise.
DEFAULT_COVERAGE_GOAL_PERCENT = 99.0
#: Visible-ice goal: the 0 °C edge this far beyond the tumor everywhere (practice: 5-10 mm) ...
DEFAULT_ICE_MARGIN_MM = 6.0
#: ... and the whole tumor at or below this temperature.
VISIBLE_ICE_TUMOR_C = -20.0
#: Visible-ice goal: the longest total freeze the optimizer plans (min. with
#: ``max_total_freeze_s``). Teams that plan by the visible ice run their organ's standard
#: protocol, at most two 10-min freezes (10-8-10 for kidney and liver, 10-10-10 for
#: liquid-nitrogen breast systems), and add a probe rather than freeze longer.
VISIBLE_ICE_MAX_FREEZE_S = 1200.0


class PlanGoal(enum.Enum):
    """What a plan must achieve.

    ``LETHAL_MARGIN``: the lethal isotherm covers the tumor plus ``margin_mm``.
    ``VISIBLE_ICE``: what the operator sees during the freeze, as practice
    plans it: the 0 °C edge reaches ``ice_margin_mm`` beyond the tumor
    everywhere and -20 °C covers the whole tumor.
    """

    LETHAL_MARGIN = "lethal-margin"
    VISIBLE_ICE = "visible-ice"


#: Settings added after plan files were first written, left out of :meth:`PlanSettings.as_dict`
#: at these values so that older plans keep their inputs hash (and their metrics stay fresh).
_LEFT_OUT_AT: dict[str, object] = {
    "organ_site": None,
    "coverage_goal_percent": DEFAULT_COVERAGE_GOAL_PERCENT,
    "goal": PlanGoal.LETHAL_MARGIN,
    "ice_margin_mm": DEFAULT_ICE_MARGIN_MM,
}

#: Range of every clearance entry and of the reported isotherms.
CLEARANCE_RANGE = ParameterRange("clearance", "mm", 0.0, 50.0, "distance kept from a structure")
ISOTHERM_RANGE = ParameterRange(
    "reported_isotherms_c", "°C", -196.0, 0.0, "isotherm reported in coverage and histograms"
)

# Starting values; each case may need others. Bowel within about 1 cm of the ice is
# displaced clinically. Large vessels are not organs at risk by default (their flowing
# blood keeps them from lasting damage; see LabelInfo); when a plan lists one in its
# oar_labels, its clearance is 0: the ice may touch it but not enter it.
DEFAULT_OAR_CLEARANCES_MM: dict[str, float] = {
    "bowel": 10.0,
    "colon": 10.0,
    "spinal_cord": 10.0,
    "ureter": 5.0,
    "skin": 5.0,
    "aorta": 0.0,
    "ivc": 0.0,
    "hepatic_vein": 0.0,
    "vessel": 0.0,
}

# Distances from the probe axis; 0 means the shaft must not enter the structure.
DEFAULT_PATH_CLEARANCES_MM: dict[str, float] = {
    "bone": 2.0,
    "lung": 2.0,
    "pleura": 2.0,
    "bowel_gas": 5.0,
    "bowel": 5.0,
    "colon": 5.0,
    "aorta": 5.0,
    "ivc": 5.0,
    "hepatic_vein": 3.0,
    "vessel": 3.0,
    "renal_sinus": 3.0,
    "ureter": 5.0,
    "spleen": 5.0,
    "gallbladder": 5.0,
    "spinal_cord": 10.0,
    "diaphragm": 0.0,
    "pectoral_muscle": 0.0,
}

#: Direction, in LPS, from the patient toward the table for each DICOM Patient Position.
TABLE_DIRECTION_LPS: dict[str, tuple[float, float, float]] = {
    "HFS": (0.0, 1.0, 0.0),
    "FFS": (0.0, 1.0, 0.0),
    "HFP": (0.0, -1.0, 0.0),
    "FFP": (0.0, -1.0, 0.0),
    "HFDL": (1.0, 0.0, 0.0),
    "FFDL": (1.0, 0.0, 0.0),
    "HFDR": (-1.0, 0.0, 0.0),
    "FFDR": (-1.0, 0.0, 0.0),
}


def _frozen_mapping(values: Mapping[str, float], name: str) -> Mapping[str, float]:
    if not isinstance(values, Mapping):
        raise InvalidParameterError(f"{name} must map label names to mm, got {values!r}.")
    checked: dict[str, float] = {}
    for label, value in values.items():
        if not isinstance(label, str) or not label:
            raise InvalidParameterError(f"{name} keys must be label names, got {label!r}.")
        checked[label] = CLEARANCE_RANGE.validate(value, where=f"{name}[{label!r}]")
    return types.MappingProxyType(dict(sorted(checked.items())))


@dataclass(frozen=True)
class PlanSettings:
    """What a plan must achieve and the limits it must respect.

    Scalar fields are checked against :data:`SETTING_RANGES`; an out-of-range value
    raises :class:`InvalidParameterError` naming the field. Defaults follow common
    practice (see ``docs/plan-format.md``).

    Attributes
    ----------
    margin_mm : float
        Safety margin around the tumor that the lethal isotherm must cover.
    lethal_isotherm_c : float
        Lethal temperature (-40 °C by default; -20 °C is a common alternative).
    coverage_goal_percent : float
        Share of tumor + margin voxels the goal's isotherm must reach (99 % by
        default: voxels cut by the margin's edge keep 100 % out of reach on a
        voxel grid). :mod:`~planning_core.planning.acceptance` judges every goal.
    goal : PlanGoal
        Lethal margin (the default) or visible ice; a string value is accepted.
    ice_margin_mm : float
        Visible-ice goal: distance the 0 °C edge must reach beyond the tumor.
    reported_isotherms_c : tuple of float
        Isotherms whose coverage is reported; 0 °C and the lethal isotherm are
        always reported as well (see :meth:`metric_isotherms_c`).
    oar_clearances_mm : mapping of str to float
        Per organ at risk, the distance its surface must keep from the 0 °C ice edge.
    default_oar_clearance_mm : float
        Ice-edge clearance of organs at risk not listed in ``oar_clearances_mm``.
    path_clearances_mm : mapping of str to float
        Per structure, the distance a probe axis must keep from it (0: not enter it).
    default_path_clearance_mm : float
        Path clearance of "avoid" and "oar" labels not listed in ``path_clearances_mm``.
    max_probes, max_total_freeze_s, min_probe_spacing_mm, max_probe_spacing_mm,
    max_tip_to_tumor_edge_mm, max_craniocaudal_angle_deg, min_shaft_elevation_deg,
    usable_length_mm
        Limits; see :data:`SETTING_RANGES` for their meaning and units.
    patient_position : str
        DICOM Patient Position (``HFS``, ``HFP``, ``FFS``, ``FFP``, ``HFDL``, ...);
        it tells which side of the patient lies on the table.
    organ_site : str or None
        The organ the tumor lies in, a key of
        :data:`~planning_core.planning.organ_sites.ORGAN_SITES` (kidney, liver,
        lung, breast, bone): it decides which organs at risk must be labelled.
        ``None`` infers it from the label around the tumor.
    """

    margin_mm: float = 5.0
    lethal_isotherm_c: float = -40.0
    coverage_goal_percent: float = DEFAULT_COVERAGE_GOAL_PERCENT
    goal: PlanGoal = PlanGoal.LETHAL_MARGIN
    ice_margin_mm: float = DEFAULT_ICE_MARGIN_MM
    reported_isotherms_c: tuple[float, ...] = (0.0, -20.0, -40.0)
    oar_clearances_mm: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_OAR_CLEARANCES_MM)
    )
    default_oar_clearance_mm: float = 5.0
    path_clearances_mm: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_PATH_CLEARANCES_MM)
    )
    default_path_clearance_mm: float = 2.0
    max_probes: int = 8
    max_total_freeze_s: float = 1800.0
    min_probe_spacing_mm: float = 10.0
    max_probe_spacing_mm: float = 20.0
    max_tip_to_tumor_edge_mm: float = 10.0
    max_craniocaudal_angle_deg: float = 30.0
    min_shaft_elevation_deg: float = 0.0
    usable_length_mm: float = 175.0
    patient_position: str = "HFS"
    organ_site: str | None = None

    def __post_init__(self) -> None:
        for item in fields(self):
            declared = SETTING_RANGES.get(item.name)
            if declared is not None:
                object.__setattr__(self, item.name, declared.validate(getattr(self, item.name)))
        if self.min_probe_spacing_mm > self.max_probe_spacing_mm:
            raise InvalidParameterError(
                f"min_probe_spacing_mm ({self.min_probe_spacing_mm:g} mm) must not exceed "
                f"max_probe_spacing_mm ({self.max_probe_spacing_mm:g} mm)."
            )
        if isinstance(self.reported_isotherms_c, str | bytes) or not hasattr(
            self.reported_isotherms_c, "__iter__"
        ):
            raise InvalidParameterError(
                f"reported_isotherms_c must be a list of temperatures in °C, "
                f"got {self.reported_isotherms_c!r}."
            )
        isotherms = tuple(
            ISOTHERM_RANGE.validate(value, where=f"reported_isotherms_c[{index}]")
            for index, value in enumerate(self.reported_isotherms_c)
        )
        object.__setattr__(self, "reported_isotherms_c", isotherms)
        for name in ("oar_clearances_mm", "path_clearances_mm"):
            object.__setattr__(self, name, _frozen_mapping(getattr(self, name), name))
        if not isinstance(self.patient_position, str) or (
            self.patient_position not in TABLE_DIRECTION_LPS
        ):
            raise InvalidParameterError(
                f"patient_position {self.patient_position!r} is not supported; use one of "
                f"{', '.join(TABLE_DIRECTION_LPS)}."
            )
        try:
            object.__setattr__(self, "goal", PlanGoal(self.goal))
        except ValueError:
            raise InvalidParameterError(
                f"goal {self.goal!r} is not known; use one of "
                f"{', '.join(goal.value for goal in PlanGoal)} (--goal)."
            ) from None
        if self.organ_site is not None and self.organ_site not in ORGAN_SITES:
            raise InvalidParameterError(
                f"organ site {self.organ_site!r} is not known; use one of "
                f"{', '.join(ORGAN_SITES)} (or leave it out to infer it from the labels)."
            )

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready values of every field (mappings as dicts, tuples as lists)."""
        values: dict[str, object] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in _LEFT_OUT_AT and value == _LEFT_OUT_AT[item.name]:
                continue
            if isinstance(value, PlanGoal):
                value = value.value
            elif isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            values[item.name] = value
        return values

    def oar_clearance_mm(self, label: str) -> float:
        """Ice-edge clearance required for organ at risk ``label``."""
        return self.oar_clearances_mm.get(label, self.default_oar_clearance_mm)

    def path_clearance_mm(self, label: str) -> float:
        """Clearance a probe axis keeps from structure ``label``."""
        return self.path_clearances_mm.get(label, self.default_path_clearance_mm)

    def metric_isotherms_c(self) -> tuple[float, ...]:
        """Reported isotherms plus 0 °C, the lethal isotherm and the goal's, warmest first."""
        union = {*self.reported_isotherms_c, ICE_EDGE_C, self.lethal_isotherm_c}
        if self.goal is PlanGoal.VISIBLE_ICE:
            union.add(VISIBLE_ICE_TUMOR_C)
        return tuple(sorted(union, reverse=True))

    @property
    def zone_isotherm_c(self) -> float:
        """The isotherm the goal's zone must reach: lethal, or 0 °C for visible ice."""
        return ICE_EDGE_C if self.goal is PlanGoal.VISIBLE_ICE else self.lethal_isotherm_c

    @property
    def zone_margin_mm(self) -> float:
        """How far beyond the tumor the goal's zone reaches: margin, or ice margin."""
        return self.ice_margin_mm if self.goal is PlanGoal.VISIBLE_ICE else self.margin_mm

    def table_direction_lps(self) -> NDArray[np.float64]:
        """Unit vector in LPS pointing from the patient toward the table."""
        return np.asarray(TABLE_DIRECTION_LPS[self.patient_position], dtype=np.float64)
