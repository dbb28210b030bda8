"""What the optimizer must achieve on one case: the target zone and the organs to spare.

Prepared once per case, on a crop of the label grid around the tumor: the
tumor, the tumor + margin zone (the lethal isotherm must cover it), sample
points of that zone for the surrogate, the tissue hosting the tumor (the
surrogate's medium) and one guard per organ at risk: the points that the 0 °C
edge must not reach.

An organ closer to the tumor than margin + clearance + the probe's ice gap
(distance from the lethal isotherm to the 0 °C edge) cannot keep its clearance
while the margin is covered: no probe layout achieves both. Such an organ is
flagged as needing protection (hydrodissection, warm-saline perfusion, warm
gauze: the clinical remedies) and its guard becomes soft: the optimizer keeps
as much ice away from it as the coverage allows, and the plan says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import cKDTree
from scipy.spatial.distance import pdist

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.planning.masks import bounding_box
from planning_core.planning.metrics import margin_zone_mask, oar_names
from planning_core.planning.plan import Plan
from planning_core.planning.settings import PlanSettings
from planning_core.thermal.tissues import load_tissue_library

#: Reach of the crop beyond the tumor + margin zone: the 0 °C edge of a long freeze
#: stays within it, so organs farther away cannot freeze.
CROP_PAD_MM = 30.0
#: Largest number of sample points of the zone and of each guard given to the surrogate.
MAX_ZONE_POINTS = 3000
MAX_GUARD_POINTS = 800
#: Guards of protected organs reach this much beyond their clearance, so that the
#: coarse grids of the search keep the 1-mm verification clear of them.
GUARD_EXTRA_MM = 1.0
#: Shell (voxels) around the tumor whose most common label is its host organ.
HOST_SHELL_VOXELS = 2
#: Share of a voxel the zone reaches beyond the margin. The minimal margin the plan
#: is judged by is measured from the tumor's surface, which lies half a voxel beyond
#: its outermost voxel centres (the 0.5 level of the mask), while the zone's voxels
#: are those whose centres lie within the margin of a tumor voxel centre.
SURFACE_ALLOWANCE_VOXELS = 0.5


@dataclass(frozen=True, eq=False)
class OarGuard:
    """Points near one organ at risk that the 0 °C edge must not reach.

    Attributes
    ----------
    name : str
    clearance_mm : float
        The required ice-edge clearance (settings).
    guard_mm : float
        Distance from the organ the guard points cover: the clearance plus
        :data:`GUARD_EXTRA_MM`, or less for an organ needing protection.
    distance_to_tumor_mm : float
        Smallest distance between organ and tumor voxel centres.
    needs_protection : bool
        True when the clearance cannot be kept while covering the margin.
    points_lps_mm : ndarray, shape (<= MAX_GUARD_POINTS, 3)
        A subsample of the guard's voxel centres: what the surrogate evaluates.
    check_points_lps_mm : ndarray, shape (n, 3)
        Every guard voxel centre outside the zone: where the coarse solver check
        measures how near the organ its ice comes. The 0 °C edge slips between
        the subsample's points (about one in a hundred of a bowel guard's).
    check_distances_mm : ndarray, shape (n,)
        Distance of each of them from the organ's voxel centres.
    """

    name: str
    clearance_mm: float
    guard_mm: float
    distance_to_tumor_mm: float
    needs_protection: bool
    points_lps_mm: NDArray[np.float64]
    check_points_lps_mm: NDArray[np.float64]
    check_distances_mm: NDArray[np.float64]

    def advice(self) -> str:
        """One sentence for the plan notes."""
        return (
            f"{self.name} lies {self.distance_to_tumor_mm:.1f} mm from the tumor, closer than "
            f"the margin plus its {self.clearance_mm:g} mm ice clearance allow: protect it "
            "(hydrodissection, warm-saline perfusion or warm gauze) or accept ice there."
        )


@dataclass(frozen=True, eq=False)
class PlanningProblem:
    """The target and the organs to spare of one case.

    Attributes
    ----------
    label_map : LabelMap
    settings : PlanSettings
    target_label : str
    oar_labels : tuple of str
        Organs at risk evaluated (see :func:`planning_core.planning.metrics.oar_names`).
    crop : Geometry
        Sub-grid of the label grid around the zone.
    crop_box : tuple of slice
        Its position in the label grid.
    tumor, zone : ndarray of bool
        Tumor and tumor + margin on ``crop``; the zone reaches the margin beyond
        the tumor's surface (:data:`SURFACE_ALLOWANCE_VOXELS`), so that covering
        all of it meets the minimal margin the plan is judged by.
    zone_points_lps_mm : ndarray, shape (m, 3)
        Every zone voxel centre.
    sample_points_lps_mm : ndarray, shape (<= MAX_ZONE_POINTS, 3)
        A fixed subsample of them for the surrogate.
    centroid_lps_mm : ndarray, shape (3,)
        Centre of the zone.
    zone_diameter_mm : float
        Largest distance between two zone voxel centres plus one voxel.
    host_label, host_tissue : str
        The organ holding the tumor and its tissue class.
    guards : tuple of OarGuard
    """

    label_map: LabelMap
    settings: PlanSettings
    target_label: str
    oar_labels: tuple[str, ...]
    crop: Geometry
    crop_box: tuple[slice, ...]
    tumor: NDArray[np.bool_]
    zone: NDArray[np.bool_]
    zone_points_lps_mm: NDArray[np.float64]
    sample_points_lps_mm: NDArray[np.float64]
    centroid_lps_mm: NDArray[np.float64]
    zone_diameter_mm: float
    host_label: str
    host_tissue: str
    guards: tuple[OarGuard, ...]
    tumor_tree: cKDTree

    def tip_to_tumor_mm(self, tips_lps_mm: NDArray[np.float64]) -> NDArray[np.float64]:
        """Distance from each tip to the nearest tumor voxel centre (0 inside)."""
        distance, _ = self.tumor_tree.query(np.asarray(tips_lps_mm).reshape(-1, 3))
        return distance

    def protected(self) -> tuple[OarGuard, ...]:
        """Guards whose clearance is a hard constraint."""
        return tuple(g for g in self.guards if not g.needs_protection)


def _voxel_centres(geometry: Geometry, mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    kji = np.argwhere(mask)
    return geometry.index_to_lps(kji[:, ::-1].astype(np.float64))


def _subsample(points: NDArray[np.float64], count: int) -> NDArray[np.float64]:
    if len(points) <= count:
        return points
    # A fixed generator: the same case always gives the same plan.
    picks = np.random.default_rng(0).choice(len(points), size=count, replace=False)
    return points[np.sort(picks)]


def host_label(label_map: LabelMap, tumor: NDArray[np.bool_]) -> str:
    """The most common label in a thin shell around the tumor (``""`` for background)."""
    box = bounding_box(tumor, HOST_SHELL_VOXELS + 1)
    assert box is not None
    crop = tumor[box]
    shell = ndimage.binary_dilation(crop, iterations=HOST_SHELL_VOXELS) & ~crop
    values = label_map.voxels[box][shell]
    values = values[values != 0]
    if values.size == 0:
        return ""
    value = int(np.bincount(values).argmax())
    return next(info.name for info in label_map.table if info.value == value)


def host_tissue(host: str) -> str:
    """Tissue class of the host organ label (the default tissue for unknown labels)."""
    tissues = load_tissue_library()
    tissue = tissues.label_tissues.get(host) or tissues.default_tissue
    return tissues.default_tissue if tissue == "host" else tissue


def prepare_problem(
    label_map: LabelMap,
    settings: PlanSettings,
    *,
    target_label: str = "tumor",
    ice_gap_mm: float,
    surface_allowance_voxels: float = SURFACE_ALLOWANCE_VOXELS,
) -> PlanningProblem:
    """Prepare the target zone and the organ guards of a case.

    Parameters
    ----------
    label_map : LabelMap
        Tumor and organs on the image grid.
    settings : PlanSettings
        Margin and clearances.
    target_label : str
        The tumor label.
    ice_gap_mm : float
        Distance from the lethal isotherm to the 0 °C edge of one probe; decides
        which organs cannot keep their clearance.
    surface_allowance_voxels : float
        Share of a voxel the zone reaches beyond the margin
        (:data:`SURFACE_ALLOWANCE_VOXELS`; 0: the zone the coverage goal measures).

    Raises
    ------
    InvalidParameterError
        When the tumor label is missing or empty.
    """
    if not label_map.has(target_label):
        raise InvalidParameterError(
            f"the label map has no {target_label!r} label; segment the tumor first."
        )
    full_tumor = label_map.mask(target_label)
    geometry = label_map.geometry
    spacing_kji = np.asarray(geometry.spacing_kji_mm)
    margin_mm = settings.zone_margin_mm  # the goal's: lethal margin, or ice margin
    pad = np.ceil((margin_mm + CROP_PAD_MM) / spacing_kji).astype(int) + 1
    box = bounding_box(full_tumor, pad)
    if box is None:
        raise InvalidParameterError(
            f"label {target_label!r} is empty; segment the tumor before planning."
        )
    crop = geometry.cropped(tuple(s.start for s in box), tuple(s.stop - s.start for s in box))
    tumor = full_tumor[box]
    # The zone the search covers: the margin measured from the tumor's surface.
    allowance_mm = surface_allowance_voxels * float(np.max(crop.spacing_mm))
    zone = margin_zone_mask(tumor, crop, margin_mm + allowance_mm)
    zone_points = _voxel_centres(crop, zone)
    tumor_points = _voxel_centres(crop, tumor)
    surface = zone & ~ndimage.binary_erosion(zone)
    # Voxel centres lie half a voxel inside the zone's boundary on either side.
    centre_span = float(pdist(_subsample(_voxel_centres(crop, surface), 1500)).max(initial=0.0))
    diameter = centre_span + float(np.max(crop.spacing_mm))
    host = host_label(label_map, full_tumor)

    labels_crop = label_map.voxels[box]
    to_tumor = ndimage.distance_transform_edt(~tumor, sampling=spacing_kji)
    provisional = Plan(target_label=target_label, settings=settings)
    organs = oar_names(provisional, label_map)
    guards = []
    for name in organs:
        organ = labels_crop == label_map.info(name).value
        if not organ.any():
            continue
        clearance = settings.oar_clearance_mm(name)
        distance = float(to_tumor[organ].min())
        needs_protection = distance < margin_mm + clearance + ice_gap_mm
        guard_mm = (
            max(0.0, distance - margin_mm - ice_gap_mm)
            if needs_protection
            else clearance + GUARD_EXTRA_MM
        )
        to_organ = ndimage.distance_transform_edt(~organ, sampling=spacing_kji)
        near = (to_organ <= guard_mm) & ~zone
        every = _voxel_centres(crop, near)
        if len(every):
            points = _subsample(every, MAX_GUARD_POINTS)
            guards.append(
                OarGuard(
                    name,
                    clearance,
                    guard_mm,
                    distance,
                    needs_protection,
                    points,
                    every,
                    to_organ[near],
                )
            )
    return PlanningProblem(
        label_map=label_map,
        settings=settings,
        target_label=target_label,
        oar_labels=organs,
        crop=crop,
        crop_box=box,
        tumor=tumor,
        zone=zone,
        zone_points_lps_mm=zone_points,
        sample_points_lps_mm=_subsample(zone_points, MAX_ZONE_POINTS),
        centroid_lps_mm=zone_points.mean(axis=0),
        zone_diameter_mm=diameter,
        host_label=host,
        host_tissue=host_tissue(host),
        guards=tuple(guards),
        tumor_tree=cKDTree(tumor_points),
    )
