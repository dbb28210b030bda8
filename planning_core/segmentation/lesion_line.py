"""Lesion from a diameter line (RECIST-initialised segmentation).

Method and why
--------------
A reader who measures a lesion drags its longest axis on the slice where it is
largest (RECIST 1.1). That line says more than a click: where the lesion is,
how large it is (``L``, the line length), which tissues it is made of (every
class the line crosses: necrotic core, calcification, enhancing rim, cystic
part), and what lies just beyond its ends. PACS viewers use the same input for
"RECIST-initialised" lesion segmentation. From it:

1. **Working grid.** A box of half-width ``BOX_FACTOR * L`` around the line's
   midpoint is averaged down to about 2 mm voxels (block means:
   :mod:`~planning_core.segmentation.competitive`), which lowers the noise and
   bounds the cost whatever the lesion size.
2. **Shape prior.** Short axes are never longer than the long one, so an
   ellipsoid around the midpoint with semi-axes ``L/2`` in the slice and
   ``CRANIOCAUDAL_FACTOR * L/2`` across slices holds the lesion (RECIST measures
   in the axial plane only; abdominal tumors grow along their organ's long,
   cranio-caudal axis and are often somewhat longer there). With ``rho`` the
   normalised ellipsoid radius, voxels beyond ``rho = BOUND_RHO`` are "not
   lesion": that margin allows for a line drawn a little short or off-centre
   (reader variability of RECIST lines is about 10 %) and for the lesion's
   centre not being the line's midpoint.
3. **Intensity classes.** The lesion's values are sampled along the inner
   ``INNER_FRACTION`` of the line (the ends lie on the blurred edge) and around
   the seed; the host's on the line's extension just beyond its ends; far
   tissues in a shell beyond the bound. Kernel densities (bandwidth twice the
   measured noise) are split into tissue classes, each compared at unit mass:
   a lesion is a *mixture* (necrosis, viable tumor, rim, calcification) in any
   proportion. Far tissues compete only where they continue from beyond the
   bound (muscle at the level of viable tumor must not eat the tumor's viable
   layer; the medulla of a kidney does continue into a renal mass's box).
4. **Region.** Bayes' decision with the shape prior (1/2 inside the ellipsoid,
   falling to ``OUTER_PRIOR`` at the bound), smoothed over one coarse voxel,
   opened to cut thin touching vessels, connected to the line, holes filled;
   once more after refitting the lesion's classes from the region (a
   calcification off the line joins).
5. **Boundary.** scikit-image's random walker places it on the intensity edges
   in a band from one voxel inside the region to ``seeded_lesion.WALL_MM``
   outside (a cyst wall or capsule no seed crossed belongs to the lesion).
6. **Drawn length.** The line's ends mark the lesion's edge: where the result
   stops short of them, the lesion has an outer layer that looks like its host
   (an iso-dense rim); the shortfall is added all around
   (:func:`~planning_core.segmentation.seeded_lesion.grow_to_drawn_ends`).

The design follows from where one click fails: internal edges (core to rim)
stop region growing and active contours; a whole-box random walker from a thin
line loses every weak edge to the background (see
:mod:`~planning_core.segmentation.competitive`). Classifying by the lesion's own
classes, bounded by the drawn size, removes the internal edges; the walker then
only refines the outer boundary. The result is flagged ``uncertain`` (with a
warning naming what to do) when it reaches the shape bound (the lesion is
larger than the line says, or leaks), or when its measured long axis differs
from the drawn one by more than ``LENGTH_TOLERANCE``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from planning_core.errors import InvalidParameterError, SegmentationError
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.progress import CancelToken, ProgressCallback, no_progress
from planning_core.segmentation import competitive, seeded_lesion
from planning_core.segmentation.roi import roi_around
from planning_core.segmentation.strokes import edge_support, finish_lesion
from planning_core.segmentation.tumor import TumorSegmentation, seed_index_kji

#: Half-width of the working box in line lengths: holds the bound (0.65 L in the slice,
#: 0.78 L across) plus the background shell beyond it.
BOX_FACTOR = 0.95
#: The inner part of the line whose voxels are lesion seeds and class samples.
INNER_FRACTION = 0.8
#: Background seeds on the line's extension start this fraction of L beyond each end.
END_GAP_FRACTION = 0.1
#: The result is uncertain when more than this share of it lies at the bound.
MAX_AT_BOUND_SHARE = 0.02
#: The measured long axis may differ from the drawn line by this fraction before the
#: result is called uncertain (RECIST inter-reader variability is 10-20 %).
LENGTH_TOLERANCE = 0.3
#: Shortest line accepted (mm): a lesion smaller than this is not drawn as a diameter.
MIN_LENGTH_MM = 5.0


def _point(value: ArrayLike, name: str) -> NDArray[np.float64]:
    point = np.asarray(value, dtype=np.float64).reshape(-1)
    if point.shape != (3,) or not np.all(np.isfinite(point)):
        raise InvalidParameterError(f"{name} must be three finite numbers X,Y,Z (LPS mm).")
    return point


def _line_seeds(
    grid: competitive.WorkGrid,
    geometry,
    start: NDArray[np.float64],
    end: NDArray[np.float64],
    seed: NDArray[np.float64],
) -> NDArray[np.int32]:
    """Lesion seeds on the line's inner part and around the seed; background seeds on the
    line's extension beyond its ends (from ``END_GAP_FRACTION * L`` past each end)."""
    length_mm = float(np.linalg.norm(end - start))
    half = length_mm / 2.0
    centre = (start + end) / 2.0
    unit = (end - start) / length_mm
    step_mm = min(grid.spacing_kji_mm) / 2.0
    t = np.arange(-half, half + 1e-9, step_mm)
    inner = grid.lps_to_work(
        geometry, centre + t[np.abs(t) <= INNER_FRACTION * half, np.newaxis] * unit
    )
    gap = END_GAP_FRACTION * length_mm + max(grid.spacing_kji_mm)
    beyond = np.arange(half + gap, seeded_lesion.BOUND_RHO * half + step_mm, step_mm)
    outer = grid.lps_to_work(
        geometry,
        np.concatenate(
            [centre - beyond[:, np.newaxis] * unit, centre + beyond[:, np.newaxis] * unit]
        ),
    )
    seeds = np.zeros(grid.shape, dtype=np.int32)
    spacing = grid.spacing_kji_mm
    competitive.paint_balls(seeds, outer, 0.0, spacing, competitive.BACKGROUND)
    competitive.paint_balls(seeds, inner, 0.0, spacing, competitive.LESION)
    seed_kji = grid.lps_to_work(geometry, seed[np.newaxis])
    competitive.paint_balls(seeds, seed_kji, max(spacing), spacing, competitive.LESION)
    return seeds


def _line_frame(
    volume: Volume, start: NDArray[np.float64], end: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Unit vectors (LPS) along the line, across it in its slice, and normal to the slices."""
    normal = volume.geometry.direction[:, 2] / np.linalg.norm(volume.geometry.direction[:, 2])
    along = end - start
    along = along - (along @ normal) * normal
    if np.linalg.norm(along) < 1e-6:
        raise InvalidParameterError(
            "--diameter runs across the slices, not within one: drag the lesion's longest "
            "axis on an axial slice."
        )
    along /= np.linalg.norm(along)
    across = np.cross(normal, along)
    return along, across, normal


def segment_from_diameter(
    volume: Volume,
    start_lps_mm: ArrayLike,
    end_lps_mm: ArrayLike,
    *,
    seed_lps_mm: ArrayLike | None = None,
    into: LabelMap | None = None,
    label: str = "tumor",
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> TumorSegmentation:
    """The 3-D lesion whose longest axial diameter runs from ``start`` to ``end``.

    Parameters
    ----------
    volume : Volume
        CT (HU) or 3-D ultrasound.
    start_lps_mm, end_lps_mm : array_like
        End points of the diameter line on the lesion's edge, LPS mm.
    seed_lps_mm : array_like, optional
        A point inside the lesion; defaults to the line's midpoint.
    into : LabelMap, optional
        Label map to paint into (other labels keep their voxels unless the lesion
        takes them).
    label : str
        Name of the lesion's label.
    progress, cancel
        Progress callback and cancel token.

    Raises
    ------
    InvalidParameterError
        When a point lies outside the image, or the line is too short or runs
        across the slices.
    SegmentationError
        When nothing lesion-like is found along the line.
    """
    report = progress or no_progress
    geometry = volume.geometry
    start = _point(start_lps_mm, "--diameter start")
    end = _point(end_lps_mm, "--diameter end")
    seed_index_kji(geometry, start, name="--diameter start")
    seed_index_kji(geometry, end, name="--diameter end")
    length_mm = float(np.linalg.norm(end - start))
    if length_mm < MIN_LENGTH_MM:
        raise InvalidParameterError(
            f"--diameter is {length_mm:.1f} mm long; draw the lesion's longest axis "
            f"(at least {MIN_LENGTH_MM:.0f} mm), or click it with --seed."
        )
    centre = (start + end) / 2.0
    seed = centre if seed_lps_mm is None else _point(seed_lps_mm, "--seed")
    seed_index_kji(geometry, seed, name="--seed")
    along, across, normal = _line_frame(volume, start, end)
    report(0.05, "Preparing the lesion region")
    half_size_mm = BOX_FACTOR * length_mm + 3.0 * float(max(geometry.spacing_mm))
    roi = roi_around(geometry, geometry.lps_to_index(centre), half_size_mm)
    grid = competitive.work_grid(volume, roi, competitive.block_factors(geometry, half_size_mm))
    ellipsoid = seeded_lesion.Ellipsoid(centre, along, across, normal, length_mm / 2.0)
    rho = ellipsoid.rho(grid, geometry)
    report(0.2, "Sampling the lesion along the line")
    seeds = _line_seeds(grid, geometry, start, end, seed)
    probability, layer_allowed, _ = seeded_lesion.lesion_probability(
        grid, seeds, rho, length_mm, report=report, cancel=cancel
    )
    # Where an outer layer the classes missed may lie (seeded_lesion.grow_to_drawn_ends).
    allowed = grid.to_roi(layer_allowed.astype(np.float32)) > 0.5
    box_geometry = grid.roi.geometry(geometry)
    if not np.any(probability > 0.5):
        raise SegmentationError(
            "nothing lesion-like was found along --diameter: check that the line spans the "
            "lesion's longest axis, or paint strokes (--seed/--background)."
        )
    warnings: list[str] = []
    uncertain = seeded_lesion.at_bound_share(probability, rho) > MAX_AT_BOUND_SHARE
    if uncertain:
        warnings.append(
            "the lesion reaches the limit the diameter line allows "
            f"({seeded_lesion.BOUND_RHO * length_mm / 2:.0f} mm from the line's centre): it is "
            "larger than the line says, or it leaks into a touching structure; check that the "
            "line spans the longest axis, or paint strokes (--seed/--background)."
        )
    report(0.8, "Measuring the lesion")
    method: dict[str, object] = {
        "name": "diameter line: shape-prior lesion probability, random walker (scikit-image)",
        "line_length_mm": length_mm,
        "box_start_kji": list(grid.roi.start_kji),
        "box_stop_kji": list(grid.roi.stop_kji),
        "grid_spacing_kji_mm": list(grid.spacing_kji_mm),
        "noise": grid.noise,
        "edge_support": edge_support(probability, grid.image, competitive.EDGE_SIGMAS * grid.noise),
    }
    lesion_seeds = np.argwhere(seeds == competitive.LESION).astype(np.float64)
    result = finish_lesion(
        volume,
        grid,
        probability,
        lesion_seeds,
        into=into,
        label=label,
        method=method,
        warnings=warnings,
        grow=lambda local: seeded_lesion.grow_to_drawn_ends(
            local, box_geometry, start, end, allowed
        ),
    )
    if result.recist is not None:
        ratio = result.recist.long_mm / length_mm
        if abs(ratio - 1.0) > LENGTH_TOLERANCE:
            warnings.append(
                f"the segmented lesion's long axis ({result.recist.long_mm:.0f} mm) differs from "
                f"the drawn line ({length_mm:.0f} mm): check the boundary, or paint strokes "
                "(--seed/--background)."
            )
            uncertain = True
    report(1.0, "Lesion segmented")
    return TumorSegmentation(
        result.label_map,
        result.volume_ml,
        result.max_diameter_mm,
        float(np.clip(result.confidence * (0.8 if uncertain else 1.0), 0.0, 1.0)),
        tuple(warnings),
        method,
        recist=result.recist,
        uncertain=uncertain or result.uncertain,
        label=label,
    )
