"""The simulation set-up: an axis-aligned LPS box around the probes with a tissue class per voxel.

The box encloses every probe's freezing segment plus ``margin_mm``; its tissue
classes come from a label map (by label name), from Hounsfield units for
unlabelled CT voxels, or from one homogeneous medium (phantom studies).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.thermal.probes import PlacedProbe
from planning_core.thermal.tissues import TissueLibrary, TissueProperties, load_tissue_library

FACES = ("i-", "i+", "j-", "j+", "k-", "k+")
#: Default margin around the freezing segments; see the ROI check in the solver. Two
#: argon probes, 10-8-10: 30 mm leaves the 0 °C volume 1 % small, 45 mm < 0.1 %.
DEFAULT_MARGIN_MM = 40.0
#: Largest number of voxels a set-up may have (about 1.2 GB of solver state).
MAX_VOXELS = 40_000_000


@dataclass(frozen=True, eq=False)
class SimulationSetup:
    """Everything the solver needs besides the protocol.

    Parameters
    ----------
    geometry : Geometry
        The simulation grid: an axis-aligned box in LPS (identity direction).
    tissue_index : ndarray of uint8, shape ``geometry.shape``
        Index into ``tissues`` for every voxel, ``[k, j, i]``.
    tissues : tuple of TissueProperties
        The tissue classes used.
    probes : tuple of PlacedProbe
        The probes, in the order protocols refer to them.
    body_temperature_c : float
        Initial and far-field temperature; perfused tissue relaxes toward it.
    initial_temperature_c : ndarray of float32, optional
        Per-voxel initial temperature overriding ``body_temperature_c``
        (inert voxels keep it: fixed-temperature regions).
    insulated_faces : frozenset of str
        Faces of the box with zero heat flux (``"i-"``, ``"k+"`` ...); the other
        faces are held at ``body_temperature_c``.
    warnings : tuple of str
        Tolerable problems found while building the set-up.
    """

    geometry: Geometry
    tissue_index: NDArray[np.uint8]
    tissues: tuple[TissueProperties, ...]
    probes: tuple[PlacedProbe, ...] = ()
    body_temperature_c: float = 37.0
    initial_temperature_c: NDArray[np.float32] | None = None
    insulated_faces: frozenset[str] = frozenset()
    warnings: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not np.allclose(self.geometry.direction, np.eye(3)):
            raise InvalidParameterError(
                "the simulation grid must be axis-aligned in LPS (identity direction)."
            )
        if self.tissue_index.shape != self.geometry.shape or self.tissue_index.dtype != np.uint8:
            raise InvalidParameterError(
                f"tissue_index must be uint8 of shape {self.geometry.shape}, got "
                f"{self.tissue_index.dtype} {self.tissue_index.shape}."
            )
        if not self.tissues or int(self.tissue_index.max()) >= len(self.tissues):
            raise InvalidParameterError("tissue_index refers to a tissue that is not listed.")
        if self.initial_temperature_c is not None and (
            self.initial_temperature_c.shape != self.geometry.shape
        ):
            raise InvalidParameterError(
                f"initial_temperature_c must have shape {self.geometry.shape}."
            )
        unknown = set(self.insulated_faces) - set(FACES)
        if unknown:
            raise InvalidParameterError(
                f"insulated_faces may only name {', '.join(FACES)}; got {sorted(unknown)}."
            )
        if not math.isfinite(self.body_temperature_c):
            raise InvalidParameterError("body_temperature_c must be finite.")

    @property
    def voxel_count(self) -> int:
        return int(np.prod(self.geometry.shape))


def box_around_probes(
    probes: Sequence[PlacedProbe], *, spacing_mm: float, margin_mm: float
) -> Geometry:
    """An identity-direction grid enclosing all freezing segments plus ``margin_mm``.

    The grid is centred on the segments' bounding box; each side has an odd
    number of voxels so that the centre is a voxel centre.
    """
    if not probes:
        raise InvalidParameterError("at least one probe is needed to place the simulation box.")
    _check_spacing(spacing_mm)
    if not (math.isfinite(margin_mm) and margin_mm > 0):
        raise InvalidParameterError(
            f"the simulation box margin (--box-margin-mm) must be positive, got {margin_mm!r}."
        )
    ends = np.array([p.active_start_lps_mm for p in probes] + [p.active_end_lps_mm for p in probes])
    radius = max(p.model.diameter_mm for p in probes) * 0.5
    low = ends.min(axis=0) - margin_mm - radius
    high = ends.max(axis=0) + margin_mm + radius
    return box_geometry(low, high, spacing_mm=spacing_mm)


def box_geometry(low_lps_mm: ArrayLike, high_lps_mm: ArrayLike, *, spacing_mm: float) -> Geometry:
    """Identity-direction grid covering ``[low, high]`` (LPS mm) with cubic voxels."""
    _check_spacing(spacing_mm)
    low = np.asarray(low_lps_mm, dtype=np.float64)
    high = np.asarray(high_lps_mm, dtype=np.float64)
    if low.shape != (3,) or high.shape != (3,) or np.any(high <= low):
        raise InvalidParameterError("the box needs low < high on every LPS axis.")
    counts = np.ceil((high - low) / spacing_mm).astype(int) + 1
    counts += (counts + 1) % 2
    center = 0.5 * (low + high)
    origin = center - 0.5 * (counts - 1) * spacing_mm
    shape = (int(counts[2]), int(counts[1]), int(counts[0]))
    if int(np.prod(counts)) > MAX_VOXELS:
        raise InvalidParameterError(
            f"the simulation box would have {int(np.prod(counts)):,} voxels (more than "
            f"{MAX_VOXELS:,}); use a coarser simulation grid spacing or a smaller simulation "
            "box margin (--box-margin-mm)."
        )
    return Geometry(shape, (spacing_mm,) * 3, origin)


def _check_spacing(spacing_mm: float) -> None:
    if not (math.isfinite(spacing_mm) and 0.1 <= spacing_mm <= 10.0):
        raise InvalidParameterError(
            f"the simulation grid spacing must lie between 0.1 and 10 mm, got {spacing_mm!r}."
        )


def build_setup(
    probes: Sequence[PlacedProbe],
    *,
    volume: Volume | None = None,
    labels: LabelMap | None = None,
    medium: str | None = None,
    spacing_mm: float = 1.0,
    margin_mm: float = DEFAULT_MARGIN_MM,
    grid: Geometry | None = None,
    body_temperature_c: float = 37.0,
    tumor_tissue: str | None = None,
    library: TissueLibrary | None = None,
) -> SimulationSetup:
    """Place the simulation box and assign a tissue class to every voxel.

    Parameters
    ----------
    probes : sequence of PlacedProbe
        The probes; the box encloses their freezing segments.
    volume : Volume, optional
        The image. CT voxels without a label are classed by Hounsfield units.
    labels : LabelMap, optional
        Structures on the image grid (or on ``volume``'s grid when both given).
    medium : str, optional
        A homogeneous tissue class (``"gel"``, ``"agar"``, ``"soft_tissue"`` ...);
        excludes ``volume`` and ``labels``.
    spacing_mm, margin_mm : float
        Voxel size of the simulation grid and margin around the freezing
        segments (ignored when ``grid`` is given). These set the run time: it
        scales as ``voxels / spacing`` (see :mod:`planning_core.thermal.solver`).
        2 mm with a 30 mm margin is the fast setting (isotherm volumes within a
        few per cent of 1 mm; 0 °C volume about 1 % small from the margin);
        1 mm with the default margin is the reporting setting.
    grid : Geometry, optional
        An explicit identity-direction simulation grid (benchmarks, tests).
    body_temperature_c : float
        Initial and far-field temperature.
    tumor_tissue : str, optional
        Tissue class of the ``tumor`` label; by default that of its surroundings.
    library : TissueLibrary, optional
        Tissue data; the packaged file by default.

    Returns
    -------
    SimulationSetup
    """
    library = library or load_tissue_library()
    probes = tuple(probes)
    if medium is not None and (volume is not None or labels is not None):
        raise InvalidParameterError("give either medium or an image/label map, not both.")
    if volume is not None and labels is not None:
        volume.geometry.require_match(labels.geometry, what="image and label map")
    if grid is None:
        grid = box_around_probes(probes, spacing_mm=spacing_mm, margin_mm=margin_mm)
    elif not np.allclose(grid.direction, np.eye(3)):
        raise InvalidParameterError("grid must have the identity direction (axis-aligned in LPS).")
    warnings: list[str] = []
    if medium is not None or (volume is None and labels is None):
        key = medium or library.default_tissue
        tissue = library.get(key)
        index = np.zeros(grid.shape, dtype=np.uint8)
        return SimulationSetup(grid, index, (tissue,), probes, body_temperature_c)
    keys = _tissue_keys_on_grid(grid, volume, labels, library, tumor_tissue, warnings)
    used, inverse = np.unique(keys, return_inverse=True)
    tissues = tuple(library.get(str(key)) for key in used)
    index = inverse.reshape(grid.shape).astype(np.uint8)
    return SimulationSetup(
        grid, index, tissues, probes, body_temperature_c, warnings=tuple(warnings)
    )


def sample_nearest(grid: Geometry, source: Geometry) -> tuple[NDArray[np.intp], bool]:
    """Flat indices into ``source`` nearest to each ``grid`` voxel centre (clamped)."""
    nk, nj, ni = grid.shape
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    ijk = np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1).astype(np.float64)
    source_ijk = np.rint(source.lps_to_index(grid.index_to_lps(ijk))).astype(np.int64)
    size = np.asarray(source.size_ijk)
    outside = bool(np.any(source_ijk < 0) or np.any(source_ijk >= size))
    source_ijk = np.clip(source_ijk, 0, size - 1)
    _, sj, si = source.shape
    flat = (source_ijk[:, 2] * sj + source_ijk[:, 1]) * si + source_ijk[:, 0]
    return flat, outside


def _tissue_keys_on_grid(
    grid: Geometry,
    volume: Volume | None,
    labels: LabelMap | None,
    library: TissueLibrary,
    tumor_tissue: str | None,
    warnings: list[str],
) -> NDArray[np.str_]:
    reference = (volume or labels).geometry  # type: ignore[union-attr]
    flat, outside = sample_nearest(grid, reference)
    if outside:
        warnings.append(
            "the simulation box (the probes plus the simulation box margin) reaches beyond the "
            "image; tissue outside the image is taken to continue the nearest image edge."
        )
    keys = np.full(flat.shape, library.default_tissue, dtype=object)
    if volume is not None and volume.modality == "CT":
        hu = np.asarray(volume.voxels).ravel()[flat]
        classes = np.array([row.tissue for row in library.hounsfield], dtype=object)
        keys = classes[library.tissue_for_hu(hu)]
    if labels is not None:
        values = labels.voxels.ravel()[flat]
        hosted = []
        for info in labels.table:
            hit = values == info.value
            if not np.any(hit):
                continue
            if info.name not in library.label_tissues:
                warnings.append(
                    f"label {info.name!r} has no tissue class in the tissue data; its voxels "
                    "are classed by Hounsfield units or as the default tissue."
                )
                continue
            key = library.label_tissues[info.name]
            if key == "host":
                hosted.append(hit)
            elif key is not None:
                keys[hit] = key
        # Hosted structures (the tumor) take their surroundings' class once those are known.
        for hit in hosted:
            keys[hit] = library.get(
                tumor_tissue or _host_tissue(keys, hit, grid.shape, library)
            ).key
    return keys.astype(str).reshape(grid.shape)


def _host_tissue(
    keys: NDArray[np.object_],
    mask_flat: NDArray[np.bool_],
    shape: tuple[int, int, int],
    library: TissueLibrary,
) -> str:
    """The most common tissue class in a 2-voxel shell around ``mask_flat``."""
    mask = mask_flat.reshape(shape)
    shell = ndimage.binary_dilation(mask, iterations=2) & ~mask
    around = keys.reshape(shape)[shell]
    around = around[around != "air"]
    if around.size == 0:
        return library.default_tissue
    names, counts = np.unique(around.astype(str), return_counts=True)
    return str(names[np.argmax(counts)])
