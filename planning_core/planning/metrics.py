"""Metrics of a plan from its lethal-dose field: coverage, ablative margin, organs at risk, TVH.

The lethal dose of a voxel is the minimum temperature it reached (°C). Every
function here works on that field sampled on the label map's grid; use
:func:`~planning_core.planning.field_resample.resample_field` to bring a
thermal result onto it. Surfaces are marching-cubes surfaces: the tumor and
organ surfaces lie on voxel faces (level 0.5 of the mask), isotherm surfaces
are interpolated in the continuous field; distances are nearest-vertex
distances in LPS mm.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.measure import marching_cubes

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.planning.field_resample import resample_field
from planning_core.planning.masks import bounding_box
from planning_core.planning.organ_sites import (
    SiteResolution,
    labelled,
    not_assessed_organs,
    resolve_organ_site,
    site_organs_present,
)
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.results import (
    AblativeMargin,
    IsothermCoverage,
    OarMetrics,
    PlanMetrics,
    TemperatureVolumeHistogram,
    VisibleIce,
)
from planning_core.planning.settings import PlanGoal
from planning_core.planning.trajectory import TrajectoryContext
from planning_core.progress import CancelToken, ProgressCallback, checked_progress
from planning_core.segmentation.metrics import recist_axes
from planning_core.thermal.protection import HydrodissectionLayer, displaced_organ
from planning_core.thermal.result import ICE_EDGE_C

#: Body temperature; tissue outside the thermal grid never cooled below it.
BODY_TEMPERATURE_C = 37.0
#: Temperature range of the temperature-volume histograms (liquid nitrogen to body).
HISTOGRAM_RANGE_C = (-190.0, 37.0)
MARGIN_SHELL = "margin_shell"
#: Structures whose ice exposure is reported without a clearance: large vessels (heat
#: sinks whose flowing blood survives the ice), the renal collecting system, the
#: diaphragm and the pectoral muscle tolerate freezing, yet the radiologist wants to
#: see how close the ice edge comes (their label role is "avoid": paths keep clear).
MONITORED_LABELS = (
    "aorta", "ivc", "hepatic_vein", "vessel", "renal_sinus", "diaphragm", "pectoral_muscle",
)  # fmt: skip


def _surface_lps(
    values: NDArray[np.generic], level: float, box: tuple[slice, ...], outside: float,
    geometry: Geometry,
) -> NDArray[np.float64]:  # fmt: skip
    """Marching-cubes vertices (LPS mm) of ``values[box]`` at ``level``, closed by ``outside``."""
    crop = np.pad(np.asarray(values[box], dtype=np.float32), 1, constant_values=outside)
    vertices_kji, *_ = marching_cubes(crop, level=level)
    start_kji = np.array([s.start for s in box], dtype=np.float64) - 1.0
    return geometry.index_to_lps((vertices_kji + start_kji)[:, ::-1])


def _boundary_lps(
    mask: NDArray[np.bool_], box: tuple[slice, ...], geometry: Geometry
) -> NDArray[np.float64]:
    """The marching-cubes vertices of ``mask[box]`` at level 0.5 (closed by background).

    On a mask the cubes put one vertex halfway along each edge between an inside
    and an outside voxel centre, so those midpoints are found directly: the same
    points (in another order) for a fraction of the cost on large organs.
    """
    crop = np.pad(np.asarray(mask[box], dtype=bool), 1, constant_values=False)
    start_kji = np.array([s.start for s in box], dtype=np.float64) - 1.0
    points = []
    for axis in range(3):
        before = [slice(None)] * 3
        after = [slice(None)] * 3
        before[axis] = slice(None, -1)
        after[axis] = slice(1, None)
        kji = np.argwhere(crop[tuple(before)] != crop[tuple(after)]).astype(np.float64)
        kji[:, axis] += 0.5
        points.append(kji)
    kji = np.vstack(points) + start_kji
    return geometry.index_to_lps(kji[:, ::-1])


def margin_zone_mask(
    tumor: NDArray[np.bool_], geometry: Geometry, margin_mm: float
) -> NDArray[np.bool_]:
    """Tumor plus every voxel whose centre lies within ``margin_mm`` of a tumor voxel centre.

    Distances use the grid's anisotropic spacing exactly (Euclidean distance transform).
    """
    if margin_mm < 0:
        raise InvalidParameterError(f"margin_mm must be >= 0, got {margin_mm}.")
    spacing = np.asarray(geometry.spacing_kji_mm)
    pad = int(np.max(np.ceil(margin_mm / spacing))) + 1
    box = bounding_box(tumor, pad)
    zone = tumor.copy()
    if box is None or margin_mm == 0:
        return zone
    distance = ndimage.distance_transform_edt(~tumor[box], sampling=spacing)
    zone[box] |= distance <= margin_mm
    return zone


def isotherm_coverage(
    dose_c: NDArray[np.floating],
    tumor: NDArray[np.bool_],
    margin_zone: NDArray[np.bool_],
    isotherms_c: tuple[float, ...],
) -> tuple[IsothermCoverage, ...]:
    """Percent of tumor voxels and of tumor+margin voxels at or below each isotherm."""
    tumor_dose = dose_c[tumor]
    zone_dose = dose_c[margin_zone]
    if tumor_dose.size == 0:
        raise InvalidParameterError("the tumor mask is empty; segment the tumor first.")
    return tuple(
        IsothermCoverage(
            isotherm_c=float(iso),
            tumor_percent=100.0 * float(np.count_nonzero(tumor_dose <= iso)) / tumor_dose.size,
            tumor_and_margin_percent=100.0
            * float(np.count_nonzero(zone_dose <= iso))
            / zone_dose.size,
        )
        for iso in isotherms_c
    )


def signed_surface_distances(
    dose_c: NDArray[np.floating],
    tumor: NDArray[np.bool_],
    geometry: Geometry,
    level: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """Signed distance from each tumor surface vertex to the ``level`` surface of a field.

    For each vertex of the tumor's marching-cubes surface, the distance to the
    nearest vertex of the surface where ``dose_c`` crosses ``level``, positive
    when the vertex lies inside (field at or below ``level``, trilinearly
    interpolated) and negative otherwise. A mask works as a field too: pass
    ``1 - mask`` (smoothed for a sub-voxel surface) with ``level=0.5``.

    Returns
    -------
    tuple of ndarray or None
        Vertices (n, 3) in LPS mm and their signed distances (n,) in mm;
        ``None`` when no voxel lies at or below ``level``.

    Raises
    ------
    InvalidParameterError
        When the tumor mask is empty.
    """
    inside = dose_c <= level
    inside_box = bounding_box(inside, 1)
    tumor_box = bounding_box(tumor, 1)
    if tumor_box is None:
        raise InvalidParameterError("the tumor mask is empty; segment the tumor first.")
    if inside_box is None:
        return None
    outside = max(BODY_TEMPERATURE_C, float(level) + 1.0)
    isotherm = _surface_lps(dose_c, level, inside_box, outside, geometry)
    surface = _surface_lps(tumor, 0.5, tumor_box, 0.0, geometry)
    distance, _ = cKDTree(isotherm).query(surface)
    ijk = geometry.lps_to_index(surface)
    dose_at_surface = ndimage.map_coordinates(
        np.asarray(dose_c, dtype=np.float32), [ijk[:, 2], ijk[:, 1], ijk[:, 0]],
        order=1, mode="nearest",
    )  # fmt: skip
    return surface, np.where(dose_at_surface <= level, distance, -distance)


def signed_ablative_margin(
    dose_c: NDArray[np.floating],
    tumor: NDArray[np.bool_],
    geometry: Geometry,
    lethal_isotherm_c: float,
) -> AblativeMargin:
    """Signed distance from the tumor surface to the lethal isotherm surface.

    For each tumor surface vertex, the distance to the nearest lethal-isotherm
    surface vertex, positive when the vertex lies in the lethal zone (dose at or
    below the isotherm, trilinearly interpolated) and negative otherwise
    (:func:`signed_surface_distances`). Reports the minimum, the 5th percentile
    over vertices and where the minimum lies.
    """
    distances = signed_surface_distances(dose_c, tumor, geometry, lethal_isotherm_c)
    if distances is None:
        return AblativeMargin(None, None, None)
    surface, signed = distances
    worst = int(np.argmin(signed))
    x, y, z = (float(v) for v in surface[worst])
    return AblativeMargin(
        minimum_mm=float(signed[worst]),
        percentile5_mm=float(np.percentile(signed, 5.0)),
        minimum_location_lps_mm=(x, y, z),
    )


def _smallest_gap_mm(tree: cKDTree, points: NDArray[np.float64]) -> float:
    """Smallest distance between ``points`` and the points of ``tree`` (exact).

    Nearest-neighbour queries of far-away points are slow (the skin has about
    300 000 surface vertices): a strided sample bounds the answer, and only
    points within that bound of the tree's box can improve on it.
    """
    bound = float(tree.query(points[:: max(1, len(points) // 2000)])[0].min())
    near = np.all((points >= tree.mins - bound) & (points <= tree.maxes + bound), axis=1)
    if not near.any():
        return bound
    gap, _ = tree.query(points[near], distance_upper_bound=bound * (1.0 + 1e-9) + 1e-9)
    return min(bound, float(gap.min()))


def oar_ice_metrics(
    dose_c: NDArray[np.floating],
    organs: Mapping[str, NDArray[np.bool_]],
    geometry: Geometry,
    *,
    clearances_mm: Mapping[str, float],
    lethal_isotherm_c: float,
    monitored: tuple[str, ...] = (),
) -> tuple[OarMetrics, ...]:
    """Distance of each organ at risk to the 0 °C ice edge, and its frozen volumes.

    The distance is the smallest gap between the organ surface and the 0 °C
    surface; when ice reaches into the organ it is minus the largest depth of an
    organ voxel centre below the 0 °C surface; ``None`` without ice.

    Parameters
    ----------
    dose_c : ndarray
        Lethal dose (minimum temperature, °C) on the organs' grid.
    organs : mapping of str to ndarray of bool
        Organ masks by name, in report order.
    geometry : Geometry
        The grid.
    clearances_mm : mapping of str to float
        Required ice-edge clearance of each organ (monitored ones need none).
    lethal_isotherm_c : float
        For the lethal volume.
    monitored : tuple of str
        Names in ``organs`` that may freeze: reported with ``monitored`` set.
    """
    ice_box = bounding_box(dose_c <= 0.0, 1)
    edge = (
        None
        if ice_box is None
        else cKDTree(_surface_lps(dose_c, 0.0, ice_box, BODY_TEMPERATURE_C, geometry))
    )
    voxel_ml = geometry.voxel_volume_mm3 / 1000.0
    results = []
    for name, organ in organs.items():
        box = bounding_box(organ, 1)
        distance: float | None = None
        frozen_ml = lethal_ml = 0.0
        if box is not None:
            inside = organ[box]
            frozen = inside & (dose_c[box] <= 0.0)
            frozen_ml = float(np.count_nonzero(frozen)) * voxel_ml
            lethal_ml = float(np.count_nonzero(inside & (dose_c[box] <= lethal_isotherm_c)))
            lethal_ml *= voxel_ml
            if edge is not None and frozen.any():
                kji = np.argwhere(frozen) + [s.start for s in box]
                depth, _ = edge.query(geometry.index_to_lps(kji[:, ::-1]))
                distance = -float(depth.max())
            elif edge is not None:
                distance = _smallest_gap_mm(edge, _boundary_lps(organ, box, geometry))
        watched = name in monitored
        results.append(
            OarMetrics(
                name=name,
                distance_to_ice_mm=distance,
                clearance_mm=0.0 if watched else float(clearances_mm[name]),
                frozen_volume_ml=frozen_ml,
                lethal_volume_ml=lethal_ml,
                monitored=watched,
            )
        )
    return tuple(results)


def temperature_volume_histogram(
    dose_c: NDArray[np.floating],
    mask: NDArray[np.bool_],
    geometry: Geometry,
    *,
    structure: str,
    step_c: float = 1.0,
) -> TemperatureVolumeHistogram:
    """Cumulative temperature-volume histogram (like a dose-volume histogram) of one structure.

    Temperatures run from -190 °C to 37 °C in ``step_c`` steps; each fraction is
    the share of the structure's voxels whose minimum temperature is at or below.
    """
    if step_c <= 0:
        raise InvalidParameterError(f"step_c must be positive, got {step_c}.")
    low, high = HISTOGRAM_RANGE_C
    temperatures = np.arange(low, high + step_c / 2.0, step_c)
    values = np.sort(np.asarray(dose_c[mask], dtype=np.float64))
    counts = np.searchsorted(values, temperatures, side="right")
    fractions = counts / values.size if values.size else np.zeros_like(temperatures)
    return TemperatureVolumeHistogram(
        structure=structure,
        volume_ml=values.size * geometry.voxel_volume_mm3 / 1000.0,
        temperatures_c=tuple(float(t) for t in temperatures),
        fraction_at_or_below=tuple(float(f) for f in fractions),
    )


def min_tip_spacing_mm(probes: tuple[PlannedProbe, ...]) -> float | None:
    """Smallest distance between two probe tips; ``None`` for fewer than two probes."""
    if len(probes) < 2:
        return None
    return min(math.dist(a.tip_lps_mm, b.tip_lps_mm) for a, b in itertools.combinations(probes, 2))


def plan_organ_site(plan: Plan, label_map: LabelMap) -> SiteResolution:
    """The plan's organ site: its ``organ_site`` setting, else inferred from the labels."""
    return resolve_organ_site(plan.settings.organ_site, label_map, plan.target_label)


def oar_names(
    plan: Plan, label_map: LabelMap, *, site: SiteResolution | None = None
) -> tuple[str, ...]:
    """The organs at risk a plan is evaluated against.

    Its ``oar_labels`` (or every "oar" label), then the organs its organ site
    lists that the map holds, whatever their role (the liver beside a kidney
    tumor is "anatomy" in the label table, yet an organ at risk there);
    monitored structures stay monitored (:func:`monitored_names`).
    """
    if plan.oar_labels is None:
        chosen = tuple(n for n in label_map.names_with_role("oar") if n != plan.target_label)
    else:
        for name in plan.oar_labels:
            label_map.info(name)  # raises naming the missing label
        chosen = plan.oar_labels
    site = plan_organ_site(plan, label_map) if site is None else site
    extra = (
        n
        for n in site_organs_present(site, label_map, plan.target_label)
        if n not in chosen and n not in MONITORED_LABELS
    )
    return (*chosen, *extra)


def monitored_names(
    plan: Plan, label_map: LabelMap, *, site: SiteResolution | None = None
) -> tuple[str, ...]:
    """The :data:`MONITORED_LABELS` in the map that are neither target nor organ at risk."""
    excluded = {plan.target_label, *oar_names(plan, label_map, site=site)}
    return tuple(n for n in MONITORED_LABELS if label_map.has(n) and n not in excluded)


def compute_plan_metrics(
    plan: Plan,
    label_map: LabelMap,
    min_temperature_c: NDArray[np.floating],
    field_geometry: Geometry,
    *,
    computed_with: str,
    context: TrajectoryContext | None = None,
    body_mask: NDArray[np.bool_] | None = None,
    histogram_step_c: float = 1.0,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> PlanMetrics:
    """All metrics of ``plan`` given the minimum temperature each voxel reached.

    Parameters
    ----------
    plan : Plan
        Probes, target and organ labels, settings.
    label_map : LabelMap
        Tumor and organs on the image grid.
    min_temperature_c : ndarray
        Lethal dose field on ``field_geometry`` (any grid; resampled trilinearly
        onto the label grid, body temperature outside it).
    field_geometry : Geometry
        Grid of ``min_temperature_c``.
    computed_with : str
        Engine and version that produced the field, stored with the metrics.
    context : TrajectoryContext, optional
        Prepared path analysis; built from ``label_map`` and ``body_mask`` when absent.
    body_mask : ndarray of bool, optional
        Body outline for a new context, when the map has no ``body`` label.
    histogram_step_c : float
        Temperature step of the histograms.
    progress, cancel
        Progress callback and cancel token.

    Returns
    -------
    PlanMetrics
        Stamped with :meth:`Plan.inputs_sha256`, so it is fresh for ``plan``.
    """
    settings = plan.settings
    geometry = label_map.geometry

    step = checked_progress(progress, cancel)

    step(0.0, "Sampling the lethal dose on the image grid")
    dose = resample_field(
        min_temperature_c, field_geometry, geometry, fill_value=BODY_TEMPERATURE_C
    )
    tumor = label_map.mask(plan.target_label)
    if not tumor.any():
        raise InvalidParameterError(
            f"label {plan.target_label!r} is empty; segment the tumor before evaluating the plan."
        )
    zone = margin_zone_mask(tumor, geometry, settings.margin_mm)
    lethal = settings.lethal_isotherm_c
    coverage = isotherm_coverage(dose, tumor, zone, settings.metric_isotherms_c())
    step(0.2, "Ablative margin")
    margin = signed_ablative_margin(dose, tumor, geometry, lethal)
    visible_ice = None
    if settings.goal is PlanGoal.VISIBLE_ICE:
        ice_zone = margin_zone_mask(tumor, geometry, settings.ice_margin_mm)
        visible_ice = VisibleIce(
            ice_margin_mm=settings.ice_margin_mm,
            coverage_percent=100.0 * float(np.mean(dose[ice_zone] <= ICE_EDGE_C)),
            margin=signed_ablative_margin(dose, tumor, geometry, ICE_EDGE_C),
        )
    step(0.4, "Organs at risk and monitored structures")
    site = plan_organ_site(plan, label_map)
    chosen = oar_names(plan, label_map, site=site)
    # An empty label measures nothing: it is listed as not assessed, never as clear.
    not_assessed = not_assessed_organs(site, label_map, chosen)
    organs = tuple(n for n in chosen if n not in not_assessed)
    watched = tuple(
        n for n in monitored_names(plan, label_map, site=site) if labelled(label_map, n)
    )
    # Behind a hydrodissection layer of the plan the organ was pushed back by the fluid.
    layers = {
        name: [item.measure for item in plan.protection
               if item.structure == name and isinstance(item.measure, HydrodissectionLayer)]
        for name in (*organs, *watched)
    }  # fmt: skip
    organ_masks = {
        name: displaced_organ(label_map.mask(name), geometry, layers[name])
        for name in (*organs, *watched)
    }
    oars = oar_ice_metrics(
        dose, organ_masks, geometry, lethal_isotherm_c=lethal, monitored=watched,
        clearances_mm={name: settings.oar_clearance_mm(name) for name in organs},
    )  # fmt: skip
    step(0.6, "Temperature-volume histograms")
    structures = [(plan.target_label, tumor), (MARGIN_SHELL, zone & ~tumor)]
    structures += list(organ_masks.items())
    histograms = tuple(
        temperature_volume_histogram(dose, mask, geometry, structure=name, step_c=histogram_step_c)
        for name, mask in structures
    )
    step(0.7, "Probe paths")
    if context is None:
        context = TrajectoryContext(
            label_map, settings, body_mask=body_mask, target_label=plan.target_label
        )
    paths = tuple(context.analyze_probe(probe) for probe in plan.probes)
    voxel_ml = geometry.voxel_volume_mm3 / 1000.0
    recist = recist_axes(tumor, geometry)  # tumor is not empty: never None here
    step(1.0, "Metrics ready")
    return PlanMetrics(
        computed_with=computed_with,
        inputs_sha256=plan.inputs_sha256(),
        lethal_isotherm_c=lethal,
        margin_mm=settings.margin_mm,
        tumor_volume_ml=float(np.count_nonzero(tumor)) * voxel_ml,
        ice_volume_ml=float(np.count_nonzero(dose <= 0.0)) * voxel_ml,
        lethal_volume_ml=float(np.count_nonzero(dose <= lethal)) * voxel_ml,
        coverage=coverage,
        margin=margin,
        oars=oars,
        probe_count=len(plan.probes),
        total_freeze_s=plan.parsed_protocol().freeze_time_s,
        min_tip_spacing_mm=min_tip_spacing_mm(plan.probes),
        paths=paths,
        histograms=histograms,
        organ_site=site.site,
        organ_site_inferred_from=site.inferred_from,
        not_assessed=not_assessed,
        tumor_long_axis_mm=None if recist is None else recist.long_mm,
        tumor_short_axis_mm=None if recist is None else recist.short_mm,
        visible_ice=visible_ice,
    )
