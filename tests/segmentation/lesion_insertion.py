"""Heterogeneous lesions inserted into the real TCIA abdominal CT, with known truth.

Lesion insertion is the standard way to test lesion segmentation on real
anatomy and real noise with an exact ground truth (Pezeshk et al., Med. Phys.
2015; Solomon and Samei, Phys. Med. Biol. 2016): a lesion model is blended into
a patient image so that only the lesion is synthetic.

How the lesion is blended
-------------------------
1. **Model.** The lesion is made of layers (necrosis, viable tumor, enhancing
   rim, calcifications, cystic part), each an
   :class:`~cryoplan_samples.irregular.IrregularShape` (lobulated, dented),
   with a mean HU relative to the host organ where the clinical appearance is
   relative (a rim brighter than the liver) and absolute where it is not
   (fluid, necrosis, calcium), plus a smooth internal texture.
2. **Partial volume.** Each voxel's share of each layer is the fraction of
   ``SUPERSAMPLING`` sub-voxel points in it (the detector integrates over the
   voxel, the 3 mm slab included); the lesion's image and its total fraction
   ``w`` are then blurred by the scanner's point spread function
   (``PSF_SIGMA_MM``), so the lesion edge is as soft as the real edges.
3. **Real noise kept.** The CT is split into a smooth background ``S``
   (Gaussian, ``BACKGROUND_SIGMA_MM``) and its residual ``r`` (quantum noise
   plus fine texture, clipped to ``RESIDUAL_CLIP`` times the local noise so that
   small vessels and edges underneath do not show through the lesion). The
   lesion replaces the smooth background only: ``CT' = CT + L - w S``, i.e.
   ``(1 - w) CT + w (lesion + r)``, so the real noise, with its real
   correlation and amplitude, runs through the lesion unchanged.

The truth is the unblurred lesion fraction ``>= 0.5``; the diameter line is the
RECIST long axis of the truth (:func:`cryoplan_samples.measure.diameter_line`);
the seed its deepest voxel clear of calcifications. Everything is deterministic for a given
``rng_seed``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cryoplan_samples.irregular import IrregularShape
from cryoplan_samples.measure import diameter_line
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap, standard_label
from planning_core.imaging.loader import load_image
from planning_core.imaging.volume import Volume

#: Sub-voxel points per voxel along (k, j, i): the 3 mm slab needs more than the 1.07 mm pixel.
SUPERSAMPLING = (3, 2, 2)
#: Scanner point spread function (Gaussian sigma, mm) in-plane and across slices, applied
#: after the voxel integration: a standard abdominal kernel resolves about 0.7 mm.
PSF_SIGMA_MM = (0.7, 0.7, 1.0)
#: Smoothing that separates the background's anatomy from its noise (sigma, mm): wider
#: than the noise grain (about 1 mm), narrower than the organs.
BACKGROUND_SIGMA_MM = 2.0
#: Residuals beyond this many noise SDs are anatomy (a vessel edge), not noise.
RESIDUAL_CLIP = 3.0
#: Internal texture of the lesion tissues varies over about this length (mm).
TEXTURE_SIGMA_MM = 1.6
#: Above this a voxel is calcium (or iodinated contrast), never soft-tissue lesion.
CALCIUM_HU = 250.0
TCIA_FOLDER = "tcia-pancreas-ct"


@dataclass(frozen=True)
class Layer:
    """One tissue of a lesion: where it is, its HU and its texture SD.

    ``hu`` is absolute, or relative to the host's median when ``relative``.
    Layers later in a lesion's list cover earlier ones.
    """

    name: str
    hu: float
    texture_hu: float
    relative: bool = False


@dataclass(frozen=True)
class InsertedLesion:
    """A real CT with one inserted lesion and its ground truth."""

    name: str
    volume: Volume
    truth: NDArray[np.bool_]
    diameter_start_lps_mm: NDArray[np.float64]
    diameter_end_lps_mm: NDArray[np.float64]
    seed_lps_mm: NDArray[np.float64]
    host_hu: float
    noise_sd_hu: float

    @property
    def volume_ml(self) -> float:
        return float(self.truth.sum()) * self.volume.geometry.voxel_volume_mm3 / 1000.0


def tcia_ct(shared_dicom: Path) -> Volume:
    """The TCIA pancreas CT (contrast-enhanced abdomen, 512 x 512 x 134, 3 mm slices)."""
    return load_image(shared_dicom / TCIA_FOLDER)


# -- lesion models ----------------------------------------------------------------------------
#: Right liver lobe, posterolateral (segments 6/7), clear of the portal bifurcation:
#: around voxel (i 150, j 255, k 92) of the TCIA CT, whose liver is about 105 HU here.
LIVER_CENTER_LPS_MM = (-113.9, 95.8, 361.9)
#: Lateral part of the right kidney's lower pole, so that the mass bulges into the
#: perirenal fat: around voxel (i 191, j 290, k 60).
KIDNEY_CENTER_LPS_MM = (-70.0, 133.4, 265.9)


def liver_metastasis_layers(
    rng: np.random.Generator, center: NDArray[np.float64]
) -> list[tuple[Layer, IrregularShape, float]]:
    """A 4-5 cm metastasis: enhancing rim, hypodense viable tumor, necrosis, calcium.

    Each entry is (layer, shape, minimum depth in mm below the outer surface);
    the HU follow the sample case (``cryoplan_samples.tissues``) relative to this
    liver: viable tumor 35 HU below it, a rim 25 HU above it.
    """
    semi = np.array([22.0, 19.0, 20.0])
    outer = IrregularShape.random(
        rng, center_lps_mm=center, semi_axes_mm=semi, lobes=10, bump_max=0.3, dent_max=0.18
    )
    core = IrregularShape.random(
        rng,
        center_lps_mm=center + rng.normal(0.0, 2.5, size=3),
        semi_axes_mm=0.55 * semi,
        lobes=8,
        bump_max=0.35,
        dent_max=0.25,
    )
    layers = [
        (Layer("rim", 25.0, 10.0, relative=True), outer, 0.0),
        (Layer("viable", -35.0, 12.0, relative=True), outer, 2.5),
        (Layer("necrosis", 22.0, 10.0), core, 0.0),
    ]
    for _ in range(2):
        cluster = center + _unit(rng.normal(size=3)) * rng.uniform(5.0, 12.0)
        for _ in range(int(rng.integers(3, 6))):
            ball = _ball(cluster + rng.normal(0.0, 2.5, size=3), rng.uniform(0.9, 2.0))
            layers.append((Layer("calcification", 650.0, 150.0), ball, 0.0))
    return layers


def renal_mass_layers(
    rng: np.random.Generator, center: NDArray[np.float64]
) -> list[tuple[Layer, IrregularShape, float]]:
    """A 3-3.5 cm heterogeneous renal cell carcinoma: enhancing solid tissue, cystic part.

    Solid clear-cell tumor enhances to about 110-130 HU in the nephrographic
    phase (well below the cortex, about 180 HU here); an off-centre cystic or
    necrotic part holds fluid (15 HU).
    """
    semi = np.array([16.0, 14.5, 15.5])
    outer = IrregularShape.random(
        rng, center_lps_mm=center, semi_axes_mm=semi, lobes=8, bump_max=0.25, dent_max=0.15
    )
    cyst = IrregularShape.random(
        rng,
        center_lps_mm=center + _unit(rng.normal(size=3)) * 4.0,
        semi_axes_mm=0.6 * semi,
        lobes=6,
        bump_max=0.2,
        dent_max=0.15,
    )
    return [
        (Layer("solid", 120.0, 15.0), outer, 0.0),
        (Layer("cystic", 15.0, 5.0), cyst, 2.0),
    ]


LESIONS = {
    "liver": (LIVER_CENTER_LPS_MM, liver_metastasis_layers, 2401),
    "kidney": (KIDNEY_CENTER_LPS_MM, renal_mass_layers, 2402),
}


# -- insertion --------------------------------------------------------------------------------
def insert_lesion(ct: Volume, name: str, *, rng_seed: int | None = None) -> InsertedLesion:
    """Insert lesion ``name`` (``"liver"`` or ``"kidney"``) into ``ct`` (left unchanged)."""
    center_lps, make_layers, default_seed = LESIONS[name]
    rng = np.random.default_rng(default_seed if rng_seed is None else rng_seed)
    center = np.asarray(center_lps, dtype=np.float64)
    layers = make_layers(rng, center)
    geometry = ct.geometry
    reach_mm = max(shape.max_radius_mm for _, shape, _ in layers) + 6.0
    window = _window(geometry, center, reach_mm)
    hu = ct.voxels[window].astype(np.float32)
    spacing = np.asarray(geometry.spacing_kji_mm)

    fractions = _layer_fractions(geometry, window, hu.shape, layers)
    lesion_fraction = fractions.sum(axis=0)
    truth_window = lesion_fraction >= 0.5

    background = ndimage.gaussian_filter(hu, BACKGROUND_SIGMA_MM / spacing)
    residual = hu - background
    host_ring = ndimage.binary_dilation(truth_window, iterations=4) & ~ndimage.binary_dilation(
        truth_window, iterations=1
    )
    host_hu = float(np.median(hu[host_ring]))
    noise_sd = _noise_sd(hu)
    clip = RESIDUAL_CLIP * noise_sd
    smooth = hu - np.clip(residual, -clip, clip)

    texture = _smooth_unit_field(rng, hu.shape, TEXTURE_SIGMA_MM / spacing)
    image = np.zeros(hu.shape, dtype=np.float32)
    for (layer, _, _), fraction in zip(layers, fractions, strict=True):
        level = layer.hu + (host_hu if layer.relative else 0.0)
        image += fraction * (np.float32(level) + np.float32(layer.texture_hu) * texture)
    psf = np.asarray(PSF_SIGMA_MM)[::-1] / spacing
    image = ndimage.gaussian_filter(image, psf)
    weight = ndimage.gaussian_filter(lesion_fraction, psf)
    blended = hu + image - weight * smooth

    # A user clicks on the lesion's soft tissue, not on a calcification.
    near_calcium = ndimage.maximum_filter(blended, size=5) > CALCIUM_HU
    voxels = ct.voxels.copy()
    voxels[window] = np.round(blended).astype(voxels.dtype)
    truth = np.zeros(geometry.shape, dtype=bool)
    truth[window] = truth_window
    volume = dataclasses.replace(ct, voxels=voxels, warnings=())
    line = diameter_line(
        LabelMap(
            truth.astype(np.uint8),
            geometry,
            (dataclasses.replace(standard_label("tumor"), value=1),),
        )
    )
    return InsertedLesion(
        name=name,
        volume=volume,
        truth=truth,
        diameter_start_lps_mm=np.asarray(line["start_lps_mm"], dtype=np.float64),
        diameter_end_lps_mm=np.asarray(line["end_lps_mm"], dtype=np.float64),
        seed_lps_mm=_deepest_point(truth_window & ~near_calcium, window, geometry),
        host_hu=host_hu,
        noise_sd_hu=noise_sd,
    )


def _layer_fractions(
    geometry: Geometry,
    window: tuple[slice, slice, slice],
    shape: tuple[int, ...],
    layers: list[tuple[Layer, IrregularShape, float]],
) -> NDArray[np.float32]:
    """Per layer, the share of each voxel's sub-voxel points it owns (later layers win).

    Every layer lies inside the first (outermost) one: points outside it belong
    to no layer, whatever the inner shapes say. Each shape is evaluated only in
    its own bounding box, once per sub-voxel offset however many layers use it.
    """
    counts = np.zeros((len(layers), *shape), dtype=np.float32)
    start_kji = np.asarray([s.start for s in window])
    boxes = [_local_box(geometry, start_kji, shape, model) for _, model, _ in layers]
    for offsets in _sub_voxel_offsets():
        # Axis-aligned grids only (the TCIA CT is): LPS = origin + spacing * index.
        axes = [
            np.float32(geometry.origin_lps_mm[a])
            + np.float32(geometry.spacing_mm[a])
            * (np.arange(shape[2 - a], dtype=np.float32) + start_kji[2 - a] + offsets[2 - a])
            for a in range(3)
        ]
        owner = np.full(shape, -1, dtype=np.int8)
        outer = np.zeros(shape, dtype=bool)
        evaluated: dict[int, tuple[NDArray[np.float32], NDArray[np.float32]]] = {}
        for number, ((_, model, min_depth), box) in enumerate(zip(layers, boxes, strict=True)):
            if id(model) not in evaluated:
                x = axes[0][box[2]][np.newaxis, np.newaxis, :]
                y = axes[1][box[1]][np.newaxis, :, np.newaxis]
                z = axes[2][box[0]][:, np.newaxis, np.newaxis]
                evaluated[id(model)] = model.level_and_depth(x, y, z)
            level, depth = evaluated[id(model)]
            if number == 0:
                outer[box] = level <= 1.0
            inside = (level <= 1.0) & (depth >= min_depth) & outer[box]
            owner[box][inside] = number
        for number in range(len(layers)):
            counts[number] += owner == number
    return counts / np.float32(np.prod(SUPERSAMPLING))


def _local_box(geometry: Geometry, start_kji, shape, model: IrregularShape):
    """Slices (k, j, i) of the window that hold ``model``'s bounding box."""
    reach = model.max_radius_mm + 1.0
    low = geometry.lps_to_index(model.center_lps_mm - reach)[::-1] - start_kji
    high = geometry.lps_to_index(model.center_lps_mm + reach)[::-1] - start_kji
    return tuple(
        slice(int(max(np.floor(a), 0)), int(min(np.ceil(b) + 1, n)))
        for a, b, n in zip(low, high, shape, strict=True)
    )


def _sub_voxel_offsets():
    """Offsets (k, j, i), in voxels, of the sub-voxel points around each voxel centre."""
    axes = [(np.arange(n) + 0.5) / n - 0.5 for n in SUPERSAMPLING]
    for dk in axes[0]:
        for dj in axes[1]:
            for di in axes[2]:
                yield (float(dk), float(dj), float(di))


def _window(geometry: Geometry, center: NDArray[np.float64], reach_mm: float):
    centre_ijk = geometry.lps_to_index(center)
    half = reach_mm / np.asarray(geometry.spacing_mm)
    low = np.maximum(np.floor(centre_ijk - half).astype(int), 0)
    high = np.minimum(np.ceil(centre_ijk + half).astype(int) + 1, geometry.size_ijk)
    return tuple(slice(int(low[a]), int(high[a])) for a in (2, 1, 0))


def _deepest_point(truth: NDArray[np.bool_], window, geometry: Geometry) -> NDArray[np.float64]:
    depth = ndimage.distance_transform_edt(truth, sampling=geometry.spacing_kji_mm)
    kji = np.asarray(np.unravel_index(int(np.argmax(depth)), depth.shape))
    kji = kji + np.asarray([s.start for s in window])
    return geometry.index_to_lps(kji[::-1].astype(np.float64))


def _smooth_unit_field(rng: np.random.Generator, shape, sigma_vox) -> NDArray[np.float32]:
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma_vox)
    field -= field.mean()
    return field / max(float(field.std()), 1e-12)


def _noise_sd(hu: NDArray[np.float32]) -> float:
    """Quantum noise SD: the lower quartile of the in-plane 5 x 5 local SD.

    Homogeneous patches (liver, fat, muscle) hold the lowest local SDs, edges the
    highest, so a low quantile measures the noise even around an organ's edge.
    """
    mean = ndimage.uniform_filter(hu, size=(1, 5, 5))
    variance = ndimage.uniform_filter(hu * hu, size=(1, 5, 5)) - mean * mean
    return float(np.sqrt(max(float(np.percentile(variance, 25.0)), 0.0)))


def _ball(center: NDArray[np.float64], radius_mm: float) -> IrregularShape:
    return IrregularShape(
        center_lps_mm=center,
        semi_axes_mm=np.full(3, radius_mm),
        frame=np.eye(3),
        lobe_directions=np.zeros((0, 3)),
        lobe_amplitudes=np.zeros(0),
        lobe_concentrations=np.zeros(0),
    )


def _unit(vector: NDArray[np.float64]) -> NDArray[np.float64]:
    return vector / np.linalg.norm(vector)
