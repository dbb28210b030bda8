"""Organ protection as boundary conditions: hydrodissection layers and warm skin packs.

Both put saline on the simulation grid at a chosen temperature:

* A hydrodissection layer is a disc of fluid (a slab of ``thickness_mm`` and
  ``radius_mm``) injected between the target and an organ at risk. Infused
  (the clinical default: fluid is renewed through the needle, at body
  temperature or warmed) it is *held* at its temperature: a Dirichlet region
  that the ice cannot cross. Not infused (a single bolus) it is ordinary
  saline starting at that temperature, which conducts, freezes and only
  delays the ice.
* A skin pack is warm saline (bags or soaked gauze) laid on the skin around a
  probe's entry: the air voxels within ``thickness_mm`` of the body surface
  and ``radius_mm`` of the entry become held fluid, so the skin surface there
  is held at the pack temperature (a Dirichlet condition on the skin; a real
  pack cools a little, so this is the ideal, renewed pack).

Held fluid is well mixed: the kernel's harmonic-mean face conductance then
puts its temperature on the faces of the fluid voxels, i.e. on the layer's
surface, whatever the grid spacing (see :data:`MIXED_FLUID_CONDUCTIVITY_W_MK`).
Displacing an organ is modelled by where the layer lies: :func:`layer_between`
puts it on the organ's side of the gap, replacing the organ's near edge by
fluid, which is what a layer that pushed the organ back leaves in the path of
the ice.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage
from scipy.spatial import cKDTree

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.thermal.result import ICE_EDGE_C, SimulationResult
from planning_core.thermal.setup import SimulationSetup, sample_nearest
from planning_core.thermal.tissues import TissueLibrary, TissueProperties, load_tissue_library

#: Tissue key of the protection fluid in the tissue data.
SALINE_TISSUE = "saline"
#: Conductivity given to held (well-mixed, renewed) fluid. Against tissue's 0.5-2.2 W/m/K
#: the fluid side of a face then carries under 5 % of the face resistance, so the held
#: temperature sits on the layer surface; the explicit scheme stays stable because held
#: voxels are not updated (their row of the operator is empty).
MIXED_FLUID_CONDUCTIVITY_W_MK = 50.0
#: Fluid temperatures accepted (°C): from cooled-room saline to warmed saline.
FLUID_TEMPERATURE_RANGE_C = (15.0, 45.0)
#: Radius of skin a proposed pack covers around the threatened patch of skin (mm).
PROPOSED_PACK_RADIUS_MM = 40.0
#: Points per voxel used to check that no freezing segment runs through held fluid.
_SEGMENT_SAMPLES_PER_VOXEL = 2


def _check_temperature(temperature_c: float, what: str) -> None:
    low, high = FLUID_TEMPERATURE_RANGE_C
    if not (math.isfinite(temperature_c) and low <= temperature_c <= high):
        raise InvalidParameterError(
            f"{what} temperature must lie between {low:g} and {high:g} °C, got {temperature_c!r}."
        )


def _positive(value: float, what: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise InvalidParameterError(f"{what} must be a positive number of mm, got {value!r}.")


def _unit(vector: ArrayLike, what: str) -> NDArray[np.float64]:
    array = np.asarray(vector, dtype=np.float64).reshape(-1)
    length = float(np.linalg.norm(array)) if array.shape == (3,) else 0.0
    if not (math.isfinite(length) and length > 0):
        raise InvalidParameterError(f"{what} must be a non-zero LPS direction (three numbers).")
    return array / length


@dataclass(frozen=True, eq=False)
class HydrodissectionLayer:
    """A disc of fluid between the target and an organ at risk.

    Parameters
    ----------
    center_lps_mm : array_like, shape (3,)
        Centre of the layer (LPS mm).
    normal : array_like, shape (3,)
        Direction across the layer (from the target toward the organ at risk).
    thickness_mm : float
        Fluid thickness across the layer (clinically 5-15 mm).
    radius_mm : float
        Radius of the disc.
    temperature_c : float
        Fluid temperature: 37 °C for body-temperature saline, about 40 °C warmed.
    infused : bool
        True: fluid renewed during the freeze, held at ``temperature_c``.
        False: a single bolus that conducts and may freeze.
    """

    center_lps_mm: NDArray[np.float64]
    normal: NDArray[np.float64]
    thickness_mm: float = 10.0
    radius_mm: float = 25.0
    temperature_c: float = 37.0
    infused: bool = True

    def __post_init__(self) -> None:
        center = np.asarray(self.center_lps_mm, dtype=np.float64).reshape(-1)
        if center.shape != (3,) or not np.all(np.isfinite(center)):
            raise InvalidParameterError("the hydrodissection centre must be three LPS mm values.")
        object.__setattr__(self, "center_lps_mm", center)
        object.__setattr__(self, "normal", _unit(self.normal, "the hydrodissection direction"))
        _positive(self.thickness_mm, "the hydrodissection thickness")
        _positive(self.radius_mm, "the hydrodissection radius")
        _check_temperature(self.temperature_c, "the hydrodissection fluid")

    def mask(self, geometry: Geometry) -> NDArray[np.bool_]:
        """Voxels ``[k, j, i]`` whose centres lie in the layer."""
        half = 0.5 * self.thickness_mm
        mask = np.zeros(geometry.shape, dtype=bool)
        near = self._disc_frame(geometry, float(np.hypot(half, self.radius_mm)))
        if near is not None:
            box, across, sideways_squared = near
            mask[box] = (np.abs(across) <= half) & (sideways_squared <= self.radius_mm**2)
        return mask

    def shielded(self, geometry: Geometry) -> NDArray[np.bool_]:
        """Voxels ``[k, j, i]`` of the layer and of its shadow on the organ side.

        The shadow reaches as deep behind the layer as the disc's radius: far
        behind it, heat comes round the disc's edge again.
        """
        half = 0.5 * self.thickness_mm
        shielded = np.zeros(geometry.shape, dtype=bool)
        near = self._disc_frame(geometry, float(np.hypot(half + self.radius_mm, self.radius_mm)))
        if near is not None:
            box, across, sideways_squared = near
            shielded[box] = (
                (across >= -half)
                & (across <= half + self.radius_mm)
                & (sideways_squared <= self.radius_mm**2)
            )
        return shielded

    def _disc_frame(
        self, geometry: Geometry, reach_mm: float
    ) -> tuple[tuple[slice, slice, slice], NDArray[np.float64], NDArray[np.float64]] | None:
        """The box of voxels within ``reach_mm`` of the centre along every axis, with each
        voxel centre's offset across the disc and squared offset along it (None: no voxel).

        Only that box is evaluated: on a whole CT the full grid took over a second.
        """
        box = _box_around(geometry, self.center_lps_mm, reach_mm)
        if box is None:
            return None
        x, y, z = _offsets_mm(geometry, self.center_lps_mm, box)
        across = x * self.normal[0] + y * self.normal[1] + z * self.normal[2]
        return box, across, x * x + y * y + z * z - across * across

    def describe(self) -> str:
        kind = "infused" if self.infused else "bolus"
        return (
            f"hydrodissection {self.thickness_mm:g} mm ({kind}, {self.temperature_c:g} °C, "
            f"radius {self.radius_mm:g} mm)"
        )


@dataclass(frozen=True, eq=False)
class SkinPack:
    """Warm saline on the skin around a probe entry.

    Parameters
    ----------
    center_lps_mm : array_like, shape (3,)
        Where the pack is centred, usually the probe's skin entry (LPS mm).
    radius_mm : float
        Radius of skin covered around the centre.
    thickness_mm : float
        Depth of fluid above the skin (fills air voxels only).
    temperature_c : float
        Pack temperature (warm saline, about 40 °C).
    """

    center_lps_mm: NDArray[np.float64]
    radius_mm: float = 40.0
    thickness_mm: float = 5.0
    temperature_c: float = 40.0

    def __post_init__(self) -> None:
        center = np.asarray(self.center_lps_mm, dtype=np.float64).reshape(-1)
        if center.shape != (3,) or not np.all(np.isfinite(center)):
            raise InvalidParameterError("the skin pack centre must be three LPS mm values.")
        object.__setattr__(self, "center_lps_mm", center)
        _positive(self.radius_mm, "the skin pack radius")
        _positive(self.thickness_mm, "the skin pack thickness")
        _check_temperature(self.temperature_c, "the skin pack")

    def mask(self, setup: SimulationSetup) -> NDArray[np.bool_]:
        """Air voxels of ``setup`` within the pack's thickness of the body and its radius."""
        insulating = np.array(
            [t.inert and t.conductivity_unfrozen_w_mk == 0.0 for t in setup.tissues]
        )
        air = insulating[setup.tissue_index]
        if not np.any(air) or np.all(air):
            return np.zeros(setup.geometry.shape, dtype=bool)
        spacing_kji = np.asarray(setup.geometry.spacing_mm, dtype=np.float64)[::-1]
        depth_mm = ndimage.distance_transform_edt(air, sampling=spacing_kji)
        # Distances run from air voxel centre to the nearest body voxel centre; a
        # pack of thickness t covers centres up to t + half a voxel from the skin.
        reach_mm = self.thickness_mm + 0.5 * float(np.min(spacing_kji))
        x, y, z = _offsets_mm(setup.geometry, self.center_lps_mm)
        near = x * x + y * y + z * z <= self.radius_mm**2
        return air & (depth_mm <= reach_mm) & near

    def describe(self) -> str:
        return (
            f"warm skin pack ({self.temperature_c:g} °C, radius {self.radius_mm:g} mm, "
            f"{self.thickness_mm:g} mm)"
        )


Protection = HydrodissectionLayer | SkinPack


def shield_preview(
    min_temperature_c: NDArray[np.floating],
    geometry: Geometry,
    protections: Sequence[Protection],
) -> NDArray[np.float32]:
    """A quick preview field (probe templates in one medium) with held hydrodissection in it.

    The preview knows no tissue, so it cannot run the fluid as the solver does;
    what an infused layer does first is kept: the fluid stays at its temperature
    and the ice stops at it, so the layer and the tissue behind it (within its
    radius) are no colder than the fluid. A bolus, which conducts and may
    freeze, and skin packs, which need the skin the preview does not know,
    change nothing here; the full evaluation simulates all of them.

    Parameters
    ----------
    min_temperature_c : ndarray
        ``[k, j, i]`` lowest temperatures of the preview.
    geometry : Geometry
        Its grid.
    protections : sequence of HydrodissectionLayer or SkinPack
        The plan's measures.
    """
    infused = [p for p in protections if isinstance(p, HydrodissectionLayer) and p.infused]
    if not infused:  # the drag preview's usual case: no copy on that path
        return np.asarray(min_temperature_c, dtype=np.float32)
    field = np.array(min_temperature_c, dtype=np.float32)
    for layer in infused:
        shielded = layer.shielded(geometry)
        field[shielded] = np.maximum(field[shielded], layer.temperature_c)
    return field


def displaced_organ(
    organ: NDArray[np.bool_], geometry: Geometry, layers: Sequence[HydrodissectionLayer]
) -> NDArray[np.bool_]:
    """The organ as a simulation with hydrodissection sees it: without the voxels the fluid took.

    A layer fills the near edge of the organ it pushed back (:func:`layer_between`),
    so the organ lies behind the fluid; its distance to the ice is measured from
    there.

    Parameters
    ----------
    organ : ndarray of bool
        ``[k, j, i]`` mask of the organ on ``geometry``.
    geometry : Geometry
        The grid of ``organ``.
    layers : sequence of HydrodissectionLayer
        The layers placed for this organ.
    """
    displaced = np.asarray(organ, dtype=bool)
    for layer in layers:
        displaced = displaced & ~layer.mask(geometry)
    return displaced


def layer_between(
    target_points_lps_mm: ArrayLike,
    organ_points_lps_mm: ArrayLike,
    *,
    thickness_mm: float = 10.0,
    radius_mm: float = 25.0,
    temperature_c: float = 37.0,
    infused: bool = True,
) -> HydrodissectionLayer:
    """The hydrodissection layer that separates an organ at risk from the target.

    The layer sits across the line between the closest target and organ
    points, with its target-side face on the organ's surface: the fluid fills
    the first ``thickness_mm`` of the organ's side, where the organ lay before
    the fluid pushed it back.

    Parameters
    ----------
    target_points_lps_mm, organ_points_lps_mm : array_like, shape (n, 3)
        Points of the target (tumor) and of the organ at risk (LPS mm), e.g.
        their voxel centres.
    thickness_mm, radius_mm, temperature_c, infused
        As in :class:`HydrodissectionLayer`.
    """
    target = np.asarray(target_points_lps_mm, dtype=np.float64).reshape(-1, 3)
    organ = np.asarray(organ_points_lps_mm, dtype=np.float64).reshape(-1, 3)
    if not len(target) or not len(organ):
        raise InvalidParameterError(
            "hydrodissection needs the target and the organ at risk on the label map."
        )
    distance, nearest = cKDTree(target).query(organ)
    closest = int(np.argmin(distance))
    organ_point = organ[closest]
    target_point = target[int(nearest[closest])]
    if distance[closest] == 0:
        raise InvalidParameterError(
            "the organ at risk touches the target; hydrodissection cannot separate them."
        )
    normal = (organ_point - target_point) / distance[closest]
    return HydrodissectionLayer(
        organ_point + 0.5 * thickness_mm * normal,
        normal,
        thickness_mm,
        radius_mm,
        temperature_c,
        infused,
    )


@dataclass(frozen=True)
class ProtectionProposal:
    """A protective measure proposed for one structure, and why.

    Attributes
    ----------
    structure : str
        Label name of the structure protected (an organ at risk or the skin label).
    measure : HydrodissectionLayer or SkinPack
    ice_distance_mm : float
        Distance from the unprotected 0 °C edge to the structure (0: the ice reaches it).
    clearance_mm : float
        The clearance the structure needs.
    """

    structure: str
    measure: Protection
    ice_distance_mm: float
    clearance_mm: float

    def describe(self) -> str:
        where = (
            "reaches into it"
            if self.ice_distance_mm <= 0.0
            else f"comes {self.ice_distance_mm:.1f} mm from it"
        )
        return (
            f"{self.measure.describe()} for the {self.structure}: without it the 0 °C edge "
            f"{where} (clearance {self.clearance_mm:g} mm)"
        )


def propose_protection(
    result: SimulationResult,
    labels: LabelMap,
    clearances_mm: Mapping[str, float],
    *,
    target: str = "tumor",
    skin_label: str = "body",
    skin_clearance_mm: float | None = None,
    thickness_mm: float = 10.0,
    radius_mm: float = 25.0,
    temperature_c: float = 37.0,
    pack_temperature_c: float = 40.0,
) -> tuple[ProtectionProposal, ...]:
    """Protective measures for the structures the ice of ``result`` comes too close to.

    Each structure of ``clearances_mm`` whose voxels lie nearer than its
    clearance to the 0 °C edge gets a hydrodissection layer between the target
    and the threatened part of it (:func:`layer_between`); when
    ``skin_clearance_mm`` is given and ``skin_label`` (the body outline) is on
    the label map, skin nearer than that gets a warm pack centred on that
    patch of skin. Structures outside the simulation box are too far
    from the ice to need anything.

    Parameters
    ----------
    result : SimulationResult
        The unprotected simulation.
    labels : LabelMap
        Structures on the image grid.
    clearances_mm : mapping of str to float
        Label name of each organ at risk and the ice-edge distance it needs.
    target : str
        Label of the tumor.
    skin_label : str
        Label of the body outline; its surface is the skin.
    skin_clearance_mm : float, optional
        Ice-edge distance the skin needs; ``None`` leaves the skin out.
    thickness_mm, radius_mm, temperature_c
        Of the proposed hydrodissection layers (infused).
    pack_temperature_c : float
        Of a proposed skin pack.

    Returns
    -------
    tuple of ProtectionProposal
        One per structure that needs protection, in the order of ``clearances_mm``
        (the skin last).
    """
    geometry = result.geometry
    flat, _ = sample_nearest(geometry, labels.geometry)
    values = labels.voxels.ravel()[flat].reshape(geometry.shape)
    centres = _voxel_centres(geometry)
    ice = result.min_temperature_c <= ICE_EDGE_C
    if not np.any(ice):
        return ()
    spacing_kji = np.asarray(geometry.spacing_mm, dtype=np.float64)[::-1]
    to_ice_mm = ndimage.distance_transform_edt(~ice, sampling=spacing_kji)
    target_points = centres[values == labels.info(target).value]
    proposals = []
    for name, clearance in clearances_mm.items():
        if not labels.has(name):
            continue
        organ = values == labels.info(name).value
        threatened = organ & (to_ice_mm < clearance)
        if not np.any(threatened):
            continue
        layer = layer_between(
            target_points,
            centres[threatened],
            thickness_mm=thickness_mm,
            radius_mm=radius_mm,
            temperature_c=temperature_c,
        )
        distance = float(to_ice_mm[organ].min())
        proposals.append(ProtectionProposal(name, layer, distance, float(clearance)))
    if skin_clearance_mm is not None and labels.has(skin_label):
        body = values == labels.info(skin_label).value
        skin = body & ~ndimage.binary_erosion(body, border_value=1)
        near = skin & (to_ice_mm < skin_clearance_mm)
        if np.any(near):
            pack = SkinPack(
                centres[near].mean(axis=0),
                radius_mm=PROPOSED_PACK_RADIUS_MM,
                temperature_c=pack_temperature_c,
            )
            distance = float(to_ice_mm[skin].min())
            proposals.append(
                ProtectionProposal(skin_label, pack, distance, float(skin_clearance_mm))
            )
    return tuple(proposals)


def held_fluid(library: TissueLibrary | None = None) -> TissueProperties:
    """Saline held at its initial temperature (renewed, well-mixed fluid)."""
    saline = (library or load_tissue_library()).get(SALINE_TISSUE)
    return dataclasses.replace(
        saline,
        key=f"{SALINE_TISSUE}_held",
        name=f"{saline.name}, held",
        conductivity_unfrozen_w_mk=MIXED_FLUID_CONDUCTIVITY_W_MK,
        conductivity_frozen_w_mk=MIXED_FLUID_CONDUCTIVITY_W_MK,
        inert=True,
    )


def add_fluid(
    setup: SimulationSetup,
    mask: NDArray[np.bool_],
    *,
    temperature_c: float,
    held: bool = True,
    library: TissueLibrary | None = None,
) -> SimulationSetup:
    """A copy of ``setup`` with saline at ``temperature_c`` in the voxels of ``mask``.

    Parameters
    ----------
    setup : SimulationSetup
    mask : ndarray of bool, shape ``setup.geometry.shape``
        Voxels ``[k, j, i]`` that become fluid.
    temperature_c : float
        Fluid temperature.
    held : bool
        Held at ``temperature_c`` (inert, well mixed) or free saline starting there.
    library : TissueLibrary, optional
        Tissue data holding ``saline``; the packaged file by default.

    Raises
    ------
    InvalidParameterError
        When the mask does not fit the grid or the fluid would cover a probe's
        freezing segment.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != setup.geometry.shape:
        raise InvalidParameterError(
            f"the fluid region must have the simulation grid's shape {setup.geometry.shape}."
        )
    if not np.any(mask):
        return setup
    _refuse_fluid_on_probes(setup, mask)
    library = library or load_tissue_library()
    fluid = held_fluid(library) if held else library.get(SALINE_TISSUE)
    tissues = list(setup.tissues)
    if fluid in tissues:
        fluid_index = tissues.index(fluid)
    else:
        tissues.append(fluid)
        fluid_index = len(tissues) - 1
    index = setup.tissue_index.copy()
    index[mask] = fluid_index
    initial = (
        np.full(setup.geometry.shape, setup.body_temperature_c, dtype=np.float32)
        if setup.initial_temperature_c is None
        else setup.initial_temperature_c.copy()
    )
    initial[mask] = temperature_c
    return dataclasses.replace(
        setup, tissue_index=index, tissues=tuple(tissues), initial_temperature_c=initial
    )


def apply_protection(
    setup: SimulationSetup,
    protections: Sequence[Protection],
    *,
    library: TissueLibrary | None = None,
) -> SimulationSetup:
    """``setup`` with each protective measure placed on its grid, in order.

    A measure that reaches no voxel of the simulation box changes nothing and
    adds a warning to the set-up (it lies too far from the ice to matter).
    """
    warnings = list(setup.warnings)
    for protection in protections:
        if isinstance(protection, HydrodissectionLayer):
            mask = protection.mask(setup.geometry)
            held = protection.infused
        elif isinstance(protection, SkinPack):
            mask = protection.mask(setup)
            held = True
        else:
            raise InvalidParameterError(
                f"unknown protective measure {type(protection).__name__}; use a "
                "hydrodissection layer or a skin pack."
            )
        if not np.any(mask):
            warnings.append(
                f"the {protection.describe()} lies outside the simulation box (or, for a skin "
                "pack, no skin surface is in it), so it has no effect on the ice."
            )
            continue
        setup = add_fluid(
            setup, mask, temperature_c=protection.temperature_c, held=held, library=library
        )
    return dataclasses.replace(setup, warnings=tuple(warnings))


def _offsets_mm(
    geometry: Geometry,
    point_lps_mm: NDArray[np.float64],
    box: tuple[slice, slice, slice] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """L, P and S offsets (mm) of the voxel centres from a point, broadcastable to ``[k, j, i]``.

    The grid is axis-aligned, so each offset depends on one index only. With
    ``box`` only its voxels are given (broadcastable to ``mask[box]``).
    """
    nk, nj, ni = geometry.shape
    if box is None:
        box = (slice(0, nk), slice(0, nj), slice(0, ni))
    spacing = np.asarray(geometry.spacing_mm, dtype=np.float64)
    origin = np.asarray(geometry.origin_lps_mm, dtype=np.float64) - point_lps_mm
    k, j, i = (np.arange(s.start, s.stop) for s in box)
    x = origin[0] + i * spacing[0]
    y = origin[1] + j * spacing[1]
    z = origin[2] + k * spacing[2]
    return x[None, None, :], y[None, :, None], z[:, None, None]


def _box_around(
    geometry: Geometry, point_lps_mm: NDArray[np.float64], reach_mm: float
) -> tuple[slice, slice, slice] | None:
    """The voxels whose centres lie within ``reach_mm`` of a point along every axis
    (None when none does): a shape that fits in that sphere needs nothing outside."""
    spacing = np.asarray(geometry.spacing_mm, dtype=np.float64)
    origin = np.asarray(geometry.origin_lps_mm, dtype=np.float64)
    centre_ijk = (np.asarray(point_lps_mm, dtype=np.float64) - origin) / spacing
    low = np.maximum(np.floor(centre_ijk - reach_mm / spacing), 0).astype(int)
    high = np.minimum(np.ceil(centre_ijk + reach_mm / spacing) + 1, geometry.shape[::-1])
    high = high.astype(int)
    if np.any(high <= low):
        return None
    return (slice(low[2], high[2]), slice(low[1], high[1]), slice(low[0], high[0]))


def _voxel_centres(geometry: Geometry) -> NDArray[np.float64]:
    """LPS centres of all voxels, shape ``geometry.shape + (3,)`` (for masked look-ups)."""
    x, y, z = (
        offset + np.zeros(geometry.shape)
        for offset in _offsets_mm(geometry, np.zeros(3, dtype=np.float64))
    )
    return np.stack([x, y, z], axis=-1)


def _refuse_fluid_on_probes(setup: SimulationSetup, mask: NDArray[np.bool_]) -> None:
    spacing = float(np.min(setup.geometry.spacing_mm))
    size = np.asarray(setup.geometry.size_ijk)
    for number, probe in enumerate(setup.probes):
        count = max(
            2, math.ceil(probe.model.active_length_mm * _SEGMENT_SAMPLES_PER_VOXEL / spacing)
        )
        fractions = np.linspace(0.0, 1.0, count)
        points = probe.active_start_lps_mm + np.outer(
            fractions * probe.model.active_length_mm, probe.axis_unit
        )
        ijk = np.rint(setup.geometry.lps_to_index(points)).astype(int)
        inside = np.all((ijk >= 0) & (ijk < size), axis=1)
        ijk = ijk[inside]
        if np.any(mask[ijk[:, 2], ijk[:, 1], ijk[:, 0]]):
            raise InvalidParameterError(
                f"the protective fluid covers the freezing segment of probe {number + 1} "
                f"({probe.model.id}); place the hydrodissection layer between the tumor and "
                "the organ at risk, not across the probe."
            )
