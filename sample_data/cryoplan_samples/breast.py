"""The breast sample: a tracked 3-D ultrasound volume of a hypoechoic lesion.

The probe lies on the skin of the right breast (upper outer quadrant) of a supine
patient, so image rows go from the skin (anterior) towards the chest wall
(posterior): i runs to the patient's left (+x), j into depth (+y, posterior),
k towards the head (+z), an identity direction in LPS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from cryoplan_samples.canvas import Canvas
from cryoplan_samples.render import smooth_unit_field
from cryoplan_samples.tissues import Tissue, TissueTable
from cryoplan_samples.tumor import LobulatedTumor
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import write_label_map, write_volume
from planning_core.progress import CancelToken, ProgressCallback

#: Echogenicity (0..1, before speckle) of each class; texture is its smooth variation.
US_TISSUES = TissueTable(
    (
        Tissue("gel", 0.02, 0.0, None),
        Tissue("skin", 0.85, 0.05, "skin"),
        Tissue("fat_lobule", 0.24, 0.04, "fat"),
        Tissue("cooper_ligament", 0.8, 0.05, "fat"),
        Tissue("fibroglandular", 0.68, 0.1, "breast_tissue"),
        Tissue("glandular_fat", 0.3, 0.05, "breast_tissue"),
        Tissue("retromammary_fat", 0.22, 0.04, "fat"),
        Tissue("pectoralis", 0.34, 0.04, "pectoral_muscle"),
        Tissue("perimysium", 0.62, 0.05, "pectoral_muscle"),
        Tissue("intercostal", 0.3, 0.04, "muscle"),
        Tissue("rib_surface", 1.0, 0.0, "bone"),
        Tissue("rib_shadow", 0.02, 0.0, "bone"),
        Tissue("pleura", 0.95, 0.03, "pleura"),
        Tissue("aerated_lung", 0.4, 0.15, "lung"),
        Tissue("lesion", 0.1, 0.03, "tumor"),
    )
)
U = US_TISSUES.id
DISPLAY_FLOOR_DB = -32.0
DISPLAY_CEILING_DB = 6.0


@dataclass(frozen=True)
class BreastCaseSpec:
    name: str = "breast"
    title: str = "Hypoechoic breast lesion on 3-D ultrasound"
    organ: str = "breast"
    description: str = (
        "Tracked 3-D ultrasound of the right breast, upper outer quadrant, showing an "
        "irregular 15 mm hypoechoic solid lesion in the fibroglandular layer with mild "
        "posterior acoustic shadowing."
    )
    approach: str = "ultrasound-guided in-plane, lateral to medial and parallel to the chest wall"
    host_label: str = "breast_tissue"
    spacing_mm: float = 0.4
    size_mm: tuple[float, float, float] = (60.0, 52.0, 60.0)
    skin_lps_mm: tuple[float, float, float] = (-110.0, -162.0, 170.0)
    # A 2-cm subcutaneous fat layer puts the lesion 19 mm under the skin: one
    # liquid-nitrogen iceball with a 5-mm lethal margin keeps its 0 °C edge off the skin.
    subcutaneous_fat_mm: float = 20.5
    gland_depth_mm: float = 37.0
    lesion_depth_mm: float = 28.0
    lesion_base_diameter_mm: float = 14.4
    lesion_lobulation: float = 0.1
    default_seed: int = 1404

    def geometry(self) -> Geometry:
        ni, nj, nk = (round(s / self.spacing_mm) for s in self.size_mm)
        return Geometry((nk, nj, ni), (self.spacing_mm,) * 3, self.skin_lps_mm)


BREAST = BreastCaseSpec()


def generate_breast_case(
    directory: Path,
    *,
    seed: int,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[Path, LabelMap]:
    """Write ``image.mha`` (modality US) and ``labels.nii.gz`` into ``directory``."""
    spec = BREAST
    geometry = spec.geometry()
    canvas = Canvas(geometry)
    anatomy_rng = np.random.default_rng([seed, 3])
    if progress is not None:
        progress(0.0, "Painting breast layers")
    _paint_layers(canvas, spec, anatomy_rng)
    center = geometry.center_lps()
    center[1] = spec.skin_lps_mm[1] + spec.lesion_depth_mm
    lesion = LobulatedTumor.random(
        np.random.default_rng([seed, 1]),
        center_lps_mm=center,
        base_diameter_mm=spec.lesion_base_diameter_mm,
        lobulation=spec.lesion_lobulation,
    )
    reach = lesion.max_radius_mm + 1.0
    box = canvas.box(lesion.center_lps_mm - reach, lesion.center_lps_mm + reach)
    canvas.paint(box, lesion.level(box) <= 1.0, U("lesion"))
    if cancel is not None:
        cancel.raise_if_cancelled()
    if progress is not None:
        progress(0.4, "Simulating speckle")
    image = _render_ultrasound(canvas, np.random.default_rng([seed, 2]))
    image_path = directory / "image.mha"
    write_volume(Volume(image, geometry, "US"), image_path)
    labels = US_TISSUES.label_map(canvas.tissue, geometry)
    write_label_map(labels, directory / "labels.nii.gz")
    return image_path, labels


def _paint_layers(canvas: Canvas, spec: BreastCaseSpec, rng: np.random.Generator) -> None:
    box = canvas.full_box()
    depth = box.y - np.float32(spec.skin_lps_mm[1])
    # Interfaces undulate smoothly across the field of view.
    x = (box.x - box.x.mean()) / 30.0
    z = (box.z - box.z.mean()) / 30.0
    phases = rng.uniform(0, 2 * np.pi, size=4)
    wave = np.sin(2.1 * x + phases[0]) * np.cos(1.7 * z + phases[1])
    fat_end = spec.subcutaneous_fat_mm + 2.0 * wave
    gland_end = (
        spec.gland_depth_mm + 2.5 * np.sin(1.3 * x + phases[2]) + 1.5 * np.cos(2.3 * z + phases[3])
    )
    retro_end = gland_end + 2.5
    muscle_end = retro_end + 7.0
    spacing = canvas.geometry.spacing_kji_mm
    lobules = smooth_unit_field(rng, box.shape, tuple(2.2 / s for s in spacing))
    islands = smooth_unit_field(rng, box.shape, tuple(1.5 / s for s in spacing))
    tissue = canvas.tissue
    tissue[:] = U("gel")
    tissue[np.broadcast_to(depth >= 0.0, box.shape)] = U("skin")
    subcutaneous = (depth >= 1.8) & (depth < fat_end)
    tissue[subcutaneous] = U("fat_lobule")
    tissue[subcutaneous & (np.abs(lobules) < 0.12)] = U("cooper_ligament")
    gland = (depth >= fat_end) & (depth < gland_end)
    tissue[gland] = U("fibroglandular")
    tissue[gland & (islands > 0.9)] = U("glandular_fat")
    tissue[(depth >= gland_end) & (depth < retro_end)] = U("retromammary_fat")
    muscle = (depth >= retro_end) & (depth < muscle_end)
    tissue[muscle] = U("pectoralis")
    fibres = np.cos(2 * np.pi * (depth - retro_end) / 1.6 + 0.8 * wave) > 0.8
    tissue[muscle & fibres] = U("perimysium")
    deep = depth >= muscle_end
    tissue[np.broadcast_to(deep, box.shape)] = U("intercostal")
    pleura_depth = muscle_end + 3.5
    tissue[np.broadcast_to(depth >= pleura_depth, box.shape)] = U("aerated_lung")
    tissue[(depth >= pleura_depth) & (depth < pleura_depth + 0.8)] = U("pleura")
    # One rib crosses the lower field: a bright surface with a black shadow behind it.
    rib_z = float(box.z.min()) + 14.0
    rib_surface = muscle_end + 0.8 + ((box.z - rib_z) / 7.0) ** 2 * 1.5
    on_rib = np.abs(box.z - rib_z) <= 7.0
    tissue[on_rib & (depth >= rib_surface) & (depth < rib_surface + 0.8)] = U("rib_surface")
    tissue[on_rib & (depth >= rib_surface + 0.8)] = U("rib_shadow")


def _render_ultrasound(canvas: Canvas, rng: np.random.Generator) -> NDArray[np.uint8]:
    """B-mode grey levels: echogenicity x Rayleigh speckle, shadowing, log compression."""
    geometry = canvas.geometry
    spacing = np.asarray(geometry.spacing_kji_mm)
    tissue = canvas.tissue
    echo = US_TISSUES.lookup("mean")[tissue]
    echo += US_TISSUES.lookup("texture")[tissue] * smooth_unit_field(
        rng, tissue.shape, tuple(1.2 / spacing)
    )
    np.clip(echo, 0.0, None, out=echo)
    # Point spread: fine axially (depth, j), coarser laterally (i), coarsest in elevation (k).
    psf_sigma = (0.7 / spacing[0], 0.22 / spacing[1], 0.45 / spacing[2])
    echo = ndimage.gaussian_filter(echo, psf_sigma, truncate=3.0)
    in_phase = ndimage.gaussian_filter(
        rng.standard_normal(tissue.shape, dtype=np.float32), psf_sigma
    )
    quadrature = ndimage.gaussian_filter(
        rng.standard_normal(tissue.shape, dtype=np.float32), psf_sigma
    )
    speckle = np.hypot(in_phase, quadrature)
    speckle /= np.float32(speckle.mean(dtype=np.float64))
    lesion = tissue == U("lesion")
    behind = np.cumsum(lesion, axis=1, dtype=np.float32) * np.float32(spacing[1])
    shadow = 1.0 - 0.35 * np.clip(behind / 8.0, 0.0, 1.0) * (~lesion)
    shadow = ndimage.gaussian_filter(shadow, (1.0 / spacing[0], 0.0, 1.0 / spacing[2]))
    depth_mm = (np.arange(tissue.shape[1], dtype=np.float32) * np.float32(spacing[1]))[
        None, :, None
    ]
    intensity = echo * speckle * shadow * np.exp(-0.006 * depth_mm)
    # Log compression: DISPLAY_FLOOR_DB maps to black, DISPLAY_CEILING_DB to white.
    decibels = 20.0 * np.log10(np.maximum(intensity, 1e-6))
    scaled = (decibels - DISPLAY_FLOOR_DB) / (DISPLAY_CEILING_DB - DISPLAY_FLOOR_DB)
    return np.clip(np.rint(255.0 * scaled), 0, 255).astype(np.uint8)
