"""Result records of plan evaluation: probe path checks and plan metrics.

These are plain frozen records so that they serialise into the plan file
(``docs/plan-format.md``) and compare equal after a round trip.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field

#: Structure groups the clinical checklist names; each lists the label names it covers.
STRUCTURE_GROUPS: dict[str, tuple[str, ...]] = {
    "bone": ("bone",),
    "lung_pleura": ("lung", "pleura"),
    "bowel": ("bowel", "bowel_gas", "colon"),
    "large_vessels": ("aorta", "ivc", "hepatic_vein", "vessel"),
}


#: Structures a path may touch without danger: never named as a path's closest critical
#: structure, and not enough on their own to say a path was checked against anything.
NOT_CRITICAL_STRUCTURES = ("skin", "fat", "muscle", "body")


def _read_only(values: Mapping[str, float] | Mapping[str, int]) -> Mapping:
    return types.MappingProxyType(dict(sorted(values.items())))


@dataclass(frozen=True)
class PathHazard:
    """A stretch of a probe path in or near a hazard found on the CT itself.

    Attributes
    ----------
    name : str
        The hazard, e.g. ``"bone on the CT"``
        (:data:`planning_core.planning.ct_hazards.HAZARD_KINDS`).
    depth_mm : float
        Distance along the path from the skin entry to where the path enters the
        hazard (or, when it only passes near, comes closest).
    length_mm : float
        Length of the path inside the hazard (0 when it only passes within the clearance).
    closest_mm : float
        Smallest distance from the path to the hazard in this stretch (0 when it crosses).
    forbidden : bool
        False for the stretch next to the tip that a path to the target cannot avoid.
    """

    name: str
    depth_mm: float
    length_mm: float
    closest_mm: float
    forbidden: bool = True


@dataclass(frozen=True)
class PathReport:
    """Checks of one straight probe path from the skin to the tip.

    Angles follow ``docs/plan-format.md``: ``craniocaudal_angle_deg`` is the tilt
    out of the axial (gantry) plane, positive when the tip lies toward the head
    of the entry; ``in_plane_angle_deg`` is the angle, within the axial plane,
    between the shaft and the vertical (the table normal), positive when the tip
    lies toward the patient's left of the entry (toward posterior for decubitus
    positions); ``elevation_deg`` is the angle between the shaft and the table
    plane, positive when the entry lies above the tip.

    Attributes
    ----------
    skin_entry_lps_mm : tuple of float or None
        Where the line through entry and tip enters the body; ``None`` when the
        tip is outside the body.
    length_in_body_mm : float
        Shaft length from the skin entry to the tip.
    usable_length_mm : float
        The probe's usable shaft length the path was checked against.
    closest_mm : mapping of str to float
        Per checked structure, the smallest distance from the shaft inside the
        body to the structure's voxels (0 when it crosses them).
    clearance_mm : mapping of str to float
        The clearance each checked structure required.
    crossings : mapping of str to int
        How many times the shaft enters each structure (e.g. pleural punctures).
    exempt : tuple of str
        Structures the tip lies in or within the clearance of; a path to the
        target cannot avoid them, so they are reported but not forbidden.
    problems : tuple of str
        One sentence per failed check; empty when the path is acceptable.
    hazards : tuple of PathHazard
        Stretches in or near hazards found on the CT itself, skin side first.
    hazards_assessed : bool
        Whether the path was sampled on the CT for hazards (False on ultrasound and
        in plan files written before these checks: "not assessed").
    """

    skin_entry_lps_mm: tuple[float, float, float] | None
    length_in_body_mm: float
    craniocaudal_angle_deg: float
    in_plane_angle_deg: float
    elevation_deg: float
    usable_length_mm: float
    closest_mm: Mapping[str, float] = field(default_factory=dict)
    clearance_mm: Mapping[str, float] = field(default_factory=dict)
    crossings: Mapping[str, int] = field(default_factory=dict)
    exempt: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    hazards: tuple[PathHazard, ...] = ()
    hazards_assessed: bool = False

    def __post_init__(self) -> None:
        for name in ("closest_mm", "clearance_mm", "crossings"):
            object.__setattr__(self, name, _read_only(getattr(self, name)))

    @property
    def fits_usable_length(self) -> bool:
        return self.length_in_body_mm <= self.usable_length_mm

    @property
    def acceptable(self) -> bool:
        """True when every check passed."""
        return not self.problems

    @property
    def critical_closest_mm(self) -> dict[str, float]:
        """``closest_mm`` restricted to structures that make a path unsafe.

        Skin, fat, muscle and body are left out, and so are the structures the
        tip must reach (``exempt``). Empty when no such structure is labelled:
        then the path was checked against nothing that matters, and "acceptable"
        means "not assessed".
        """
        return {
            name: distance
            for name, distance in self.closest_mm.items()
            if name not in NOT_CRITICAL_STRUCTURES and name not in self.exempt
        }

    @property
    def assessed(self) -> bool:
        """True when a problem was found or a critical structure was checked."""
        return bool(self.problems) or bool(self.critical_closest_mm)

    def closest_by_group_mm(self) -> dict[str, float]:
        """Smallest distance per :data:`STRUCTURE_GROUPS` entry present in ``closest_mm``."""
        grouped = {}
        for group, members in STRUCTURE_GROUPS.items():
            present = [self.closest_mm[m] for m in members if m in self.closest_mm]
            if present:
                grouped[group] = min(present)
        return grouped


@dataclass(frozen=True)
class IsothermCoverage:
    """Share of the tumor and of tumor plus margin at or below one isotherm."""

    isotherm_c: float
    tumor_percent: float
    tumor_and_margin_percent: float


@dataclass(frozen=True)
class AblativeMargin:
    """Signed distance from the tumor surface to the lethal isotherm surface.

    Positive where the tumor surface lies inside the lethal zone, negative where
    it lies outside. All fields are ``None`` when no voxel reached the lethal
    isotherm.
    """

    minimum_mm: float | None
    percentile5_mm: float | None
    minimum_location_lps_mm: tuple[float, float, float] | None


@dataclass(frozen=True)
class VisibleIce:
    """How far the 0 °C ice edge reaches beyond the tumor (the visible-ice goal).

    Attributes
    ----------
    ice_margin_mm : float
        The setting measured against.
    coverage_percent : float
        Share of tumor + ``ice_margin_mm`` voxels at or below 0 °C.
    margin : AblativeMargin
        Signed distance from the tumor surface to the 0 °C surface.
    """

    ice_margin_mm: float
    coverage_percent: float
    margin: AblativeMargin


@dataclass(frozen=True)
class OarMetrics:
    """Ice exposure of one organ at risk or monitored structure.

    ``distance_to_ice_mm`` is the smallest distance between the organ and the
    0 °C ice edge; it is negative (minus the deepest penetration) when ice
    reaches into the organ and ``None`` when there is no ice. ``monitored``
    marks a structure that may freeze (a large vessel, the renal sinus, the
    diaphragm: see :data:`~planning_core.planning.metrics.MONITORED_LABELS`):
    its exposure is shown but never fails the plan, and its clearance is 0.
    """

    name: str
    distance_to_ice_mm: float | None
    clearance_mm: float
    frozen_volume_ml: float
    lethal_volume_ml: float
    monitored: bool = False

    @property
    def clear(self) -> bool:
        """True when the ice edge keeps the required clearance (always for monitored ones)."""
        return (
            self.monitored
            or self.distance_to_ice_mm is None
            or self.distance_to_ice_mm >= self.clearance_mm
        )


@dataclass(frozen=True)
class TemperatureVolumeHistogram:
    """Cumulative temperature-volume histogram of one structure.

    ``fraction_at_or_below[n]`` is the fraction of the structure's volume whose
    minimum temperature is at or below ``temperatures_c[n]``.
    """

    structure: str
    volume_ml: float
    temperatures_c: tuple[float, ...]
    fraction_at_or_below: tuple[float, ...]


@dataclass(frozen=True)
class RobustnessSummary:
    """How often the plan still reaches its goal when probes land off target (Monte-Carlo).

    Attributes
    ----------
    tip_error_mm : float
        Placement error: each sampled tip and entry is displaced by an isotropic
        Gaussian vector whose root-mean-square length is this.
    samples : int
        Number of perturbed plans simulated.
    seed : int
        Random seed; the same seed gives the same samples.
    probability : float
        Share of samples (0 to 1) whose goal isotherm still covers at least
        ``coverage_goal_percent`` of the goal's zone (tumor plus margin).
    coverage_goal_percent : float
        Coverage of the goal's zone that counts as reaching the goal.
    coverage_mean_percent, coverage_p05_percent : float
        Mean and 5th percentile of that coverage over the samples.
    margin_mean_mm, margin_p05_mm : float or None
        Mean and 5th percentile of the signed minimal margin of the goal
        isotherm over the samples (``None`` when a sample had no such zone).
    grid_spacing_mm : float
        Simulation grid spacing of the samples (coarser than the verification).
    zone_isotherm_c, zone_margin_mm : float or None
        The goal's isotherm and how far its zone reaches beyond the tumor: the
        lethal isotherm and margin, or 0 °C and the ice margin under the
        visible-ice goal. ``None`` in plans written before they were recorded,
        which were judged at the lethal isotherm over tumor plus margin.
    """

    tip_error_mm: float
    samples: int
    seed: int
    probability: float
    coverage_goal_percent: float
    coverage_mean_percent: float
    coverage_p05_percent: float
    margin_mean_mm: float | None
    margin_p05_mm: float | None
    grid_spacing_mm: float
    zone_isotherm_c: float | None = None
    zone_margin_mm: float | None = None

    def zone_text(self) -> str:
        """The zone and isotherm the samples were judged by, in words."""
        if self.zone_isotherm_c is None or self.zone_margin_mm is None:
            return "tumor + margin with the lethal isotherm"
        return f"tumor + {self.zone_margin_mm:g} mm with the {self.zone_isotherm_c:g} °C isotherm"


@dataclass(frozen=True)
class PlanMetrics:
    """Everything a plan reports about its expected ablation.

    Attributes
    ----------
    computed_with : str
        Engine and version that produced the temperature field and these numbers.
    inputs_sha256 : str
        :meth:`Plan.inputs_sha256` of the plan these metrics were computed for;
        the metrics are stale once the plan's inputs hash differently.
    lethal_isotherm_c, margin_mm : float
        The settings used.
    tumor_volume_ml, ice_volume_ml, lethal_volume_ml : float
        Tumor volume, and volumes at or below 0 °C and the lethal isotherm.
    coverage : tuple of IsothermCoverage
        One entry per reported isotherm, warmest first.
    margin : AblativeMargin
        Signed minimal ablative margin.
    oars : tuple of OarMetrics
        One entry per organ at risk, then one per monitored structure
        (``monitored`` set; these never fail the plan).
    probe_count : int
    total_freeze_s : float
        Sum of the protocol's freeze phases.
    min_tip_spacing_mm : float or None
        Smallest distance between two probe tips (``None`` for one probe).
    paths : tuple of PathReport
        One per probe, in plan order.
    histograms : tuple of TemperatureVolumeHistogram
        Tumor, margin shell, each organ at risk and each monitored structure.
    robustness : RobustnessSummary, optional
        Monte-Carlo placement-error analysis, when one was run.
    organ_site : str or None
        The organ site whose organs at risk were checked
        (:mod:`~planning_core.planning.organ_sites`); ``None`` when it was
        unknown (and for metrics written before organ sites existed).
    organ_site_inferred_from : str
        The label around the tumor the site was inferred from; empty when the
        plan's ``organ_site`` setting gave it or it is unknown.
    not_assessed : tuple of str
        Organs at risk the site lists (every site's when it is unknown) that the
        label map lacks or holds empty: nothing was measured for them, so the
        organs at risk are never called clear while any is listed.
    tumor_long_axis_mm, tumor_short_axis_mm : float or None
        The tumor's RECIST long and short axes on the label grid
        (:func:`~planning_core.segmentation.metrics.recist_axes`); ``None`` in
        metrics written before they were recorded.
    visible_ice : VisibleIce or None
        The 0 °C edge beyond the tumor; measured for plans whose goal is
        visible ice (``None`` otherwise).
    """

    computed_with: str
    inputs_sha256: str
    lethal_isotherm_c: float
    margin_mm: float
    tumor_volume_ml: float
    ice_volume_ml: float
    lethal_volume_ml: float
    coverage: tuple[IsothermCoverage, ...]
    margin: AblativeMargin
    oars: tuple[OarMetrics, ...]
    probe_count: int
    total_freeze_s: float
    min_tip_spacing_mm: float | None
    paths: tuple[PathReport, ...] = ()
    histograms: tuple[TemperatureVolumeHistogram, ...] = ()
    robustness: RobustnessSummary | None = None
    organ_site: str | None = None
    organ_site_inferred_from: str = ""
    not_assessed: tuple[str, ...] = ()
    tumor_long_axis_mm: float | None = None
    tumor_short_axis_mm: float | None = None
    visible_ice: VisibleIce | None = None

    def coverage_at(self, isotherm_c: float) -> IsothermCoverage:
        """The coverage entry of ``isotherm_c``; raises KeyError when not reported."""
        for entry in self.coverage:
            if entry.isotherm_c == isotherm_c:
                return entry
        raise KeyError(f"isotherm {isotherm_c:g} °C was not reported")
