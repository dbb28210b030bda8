"""The pectoral muscle on the anterior chest wall, for breast planning.

A probe into a breast tumor points toward the chest wall; the pectoral muscle
under the breast tolerates freezing but is watched, so the plan must know
where it lies. It is found from where it sits and from its density:

* Skeletal muscle reads 40-60 HU on CT (``muscle_min_hu`` -30 to
  ``muscle_max_hu`` 150 allow for noise, partial volume and enhancement);
  the subcutaneous and breast fat around it reads -100 HU and ends below -30.
* It lies outside the rib cage: outside the in-slice convex hull of the
  aerated lungs and the ribs next to them, within ``wall_depth_mm`` of it and
  touching it (``contact_mm``); breast glands in the fat further out are
  separated from it by retromammary fat and are left out.
* It covers the anterior and anterolateral chest: in front of the lungs'
  centre, no further sideways than ``lateral_margin_mm`` beyond them, and only
  in slices whose lungs reach the front half of the body with a cross-section
  of ``min_lung_ml_per_cm`` and ``min_lung_fraction`` of the widest slice's
  (the pectoralis major lies on ribs 2 to 6; at the lung bases the anterior
  wall is the abdominal wall's rectus and oblique muscles over the liver).

Everything is decided on the coarse grid (:mod:`.anatomy_grid`); the edges
follow the muscle's HU on the scan grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from skimage.morphology import convex_hull_image

from planning_core.segmentation.anatomy_grid import (
    IN_SLICE_FACES,
    BlockGrid,
    dilate_square,
)


@dataclass(frozen=True)
class ChestWallSettings:
    """Densities (HU) and distances (mm, ml) of the pectoral muscle step."""

    muscle_min_hu: float = -30.0
    muscle_max_hu: float = 150.0
    wall_depth_mm: float = 35.0
    contact_mm: float = 6.0
    lateral_margin_mm: float = 10.0
    rib_reach_mm: float = 25.0
    min_lung_ml_per_cm: float = 40.0
    min_lung_fraction: float = 0.4
    min_ml: float = 2.0


PECTORAL_NOT_FOUND = (
    "no pectoral muscle found on the anterior chest wall although the scan reaches the "
    "thorax; it is not labelled and cannot be checked for a breast plan."
)


def anterior_sign(direction: NDArray[np.float64]) -> int:
    """+1 when index j grows toward the front (anterior), -1 toward the back, 0 if oblique.

    ``direction`` holds the i, j, k axes in LPS as columns; LPS y points posterior.
    """
    along_y = float(direction[1, 1])
    if abs(along_y) < 0.7:
        return 0
    return -1 if along_y > 0 else 1


def _cage(lung: NDArray[np.bool_], ribs: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The in-slice convex hull of lungs and ribs: the rib cage and what it holds."""
    cage = np.zeros_like(lung)
    for k in np.flatnonzero(lung.any(axis=(1, 2))):
        cage[k] = convex_hull_image(lung[k] | ribs[k])
    return cage


def pectoral_muscle(
    hu: NDArray[np.generic],
    body: NDArray[np.bool_],
    lung: NDArray[np.bool_],
    bone: NDArray[np.bool_],
    skin: NDArray[np.bool_],
    grid: BlockGrid,
    front: int,
    settings: ChestWallSettings | None = None,
) -> tuple[NDArray[np.bool_], bool]:
    """The pectoral muscle on the scan grid, and whether the scan shows the anterior chest.

    Parameters
    ----------
    hu : ndarray
        CT values (HU) of the box around the body, on the scan grid.
    body, lung, bone, skin : ndarray of bool
        The masks already found, on the same grid.
    grid : BlockGrid
        The coarse grid of that box.
    front : int
        +1 when index j grows anteriorly, -1 when posteriorly (see
        :func:`anterior_sign`); 0 (an oblique scan) finds nothing.
    settings : ChestWallSettings, optional
        Densities and distances.

    Returns
    -------
    muscle : ndarray of bool
        The pectoral muscle (all False where none was found).
    chest_in_scan : bool
        True when some slice shows wide lungs reaching the front half of the
        body (the thorax at the level of the breast), so a pectoral muscle was
        to be expected.
    """
    settings = settings or ChestWallSettings()
    none = np.zeros(grid.shape, dtype=bool)
    if front == 0 or not lung.any():
        return none, False
    spacing = grid.coarse_spacing_kji_mm
    lung_c = grid.fraction(lung) > 0.5
    # Slices with enough lung, and whose lung reaches the front half of the body.
    voxel_ml = float(np.prod(spacing)) / 1000.0
    lung_ml_per_cm = lung_c.sum(axis=(1, 2)) * voxel_ml * 10.0 / spacing[0]
    body_c = grid.fraction(body) > 0.5
    rows = np.arange(body_c.shape[1], dtype=np.float64)[np.newaxis, :, np.newaxis] * front
    with np.errstate(invalid="ignore", divide="ignore"):
        body_centre = (body_c * rows).sum(axis=(1, 2)) / body_c.sum(axis=(1, 2))
        lung_centre = (lung_c * rows).sum(axis=(1, 2)) / lung_c.sum(axis=(1, 2))
    lung_front = np.where(lung_c, rows, -np.inf).max(axis=(1, 2))
    wide = lung_ml_per_cm >= max(
        settings.min_lung_ml_per_cm, settings.min_lung_fraction * lung_ml_per_cm.max()
    )
    thorax = wide & (lung_front > body_centre)
    if not thorax.any():
        return none, False
    lung_c &= thorax[:, np.newaxis, np.newaxis]
    # Ribs are the bone near the lungs' outline over all these slices: a rib runs
    # obliquely, so in front of a lung base it lies far from that slice's lung; an
    # arm at the side lies further out and stays out of the cage.
    footprint = dilate_square(lung_c.any(axis=0, keepdims=True), settings.rib_reach_mm, spacing)
    ribs = grid.any(bone) & footprint & thorax[:, np.newaxis, np.newaxis]
    cage = _cage(lung_c, ribs)
    # In front of the lungs' centre and no further sideways than the margin beyond them.
    anterior = rows > lung_centre[:, np.newaxis, np.newaxis]
    columns = lung_c.any(axis=1, keepdims=True)
    lateral = dilate_square(
        np.broadcast_to(columns, lung_c.shape).copy(), settings.lateral_margin_mm, spacing
    )
    wall = dilate_square(cage, settings.wall_depth_mm, spacing) & ~cage
    muscle = (hu >= settings.muscle_min_hu) & (hu <= settings.muscle_max_hu)
    muscle &= body & ~bone & ~lung & ~skin
    candidate = (grid.fraction(muscle) >= 0.5) & wall & anterior & lateral & body_c
    # Only tissue lying on the cage: glands in the breast fat further out are not muscle.
    labels, count = ndimage.label(candidate, structure=IN_SLICE_FACES)
    if count == 0:
        return none, True
    touching = np.zeros(count + 1, dtype=bool)
    touching[np.unique(labels[dilate_square(cage, settings.contact_mm, spacing)])] = True
    touching[0] = False
    candidate = touching[labels]
    # Specks of a few voxels are noise or a vessel, not a muscle.
    labels, count = ndimage.label(candidate)
    if count == 0:
        return none, True
    sizes_ml = np.bincount(labels.ravel(), minlength=count + 1) * voxel_ml
    keep = sizes_ml >= settings.min_ml
    keep[0] = False
    candidate = keep[labels]
    # Edges from the scan's HU: one coarse voxel around the muscle, muscle density only.
    region = dilate_square(candidate, max(spacing[1:]), spacing) & wall & anterior
    return grid.upsample(region) & muscle, True
