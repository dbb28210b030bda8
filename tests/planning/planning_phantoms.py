"""Synthetic label maps with closed-form geometry for the planning tests."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap, standard_label

#: Half axes (mm) of the elliptic-cylinder body along x (left) and y (posterior).
BODY_HALF_X_MM = 70.0
BODY_HALF_Y_MM = 50.0
TUMOR_RADIUS_MM = 10.0


def grid_lps(geometry: Geometry) -> NDArray[np.float64]:
    """LPS coordinates of every voxel centre, shape (nk, nj, ni, 3)."""
    nk, nj, ni = geometry.shape
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    return geometry.index_to_lps(np.stack([i, j, k], axis=-1).astype(np.float64))


def torso_phantom(
    *,
    tumor_center_lps_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    tumor_radius_mm: float = TUMOR_RADIUS_MM,
) -> LabelMap:
    """An elliptic-cylinder body along z on a 1 mm grid whose voxel centres are whole mm.

    * body: x²/70² + y²/50² <= 1, for every slice z in [-40, 40] (touches the grid's
      top and bottom, like a CT field of view);
    * tumor: sphere of ``tumor_radius_mm`` (10 mm) around ``tumor_center_lps_mm``;
    * bone: a rod along z through (x, y) = (20, -30) of radius 3 mm ("a rib");
    * aorta: a rod along z through (x, y) = (-30, 15) of radius 8 mm.
    """
    geometry = Geometry((81, 121, 161), (1.0, 1.0, 1.0), (-80.0, -60.0, -40.0))
    lps = grid_lps(geometry)
    x, y = lps[..., 0], lps[..., 1]
    labels = LabelMap.empty(geometry)
    body = (x / BODY_HALF_X_MM) ** 2 + (y / BODY_HALF_Y_MM) ** 2 <= 1.0
    labels = labels.with_mask("body", body)
    rods = {"bone": ((20.0, -30.0), 3.0), "aorta": ((-30.0, 15.0), 8.0)}
    for name, ((cx, cy), radius) in rods.items():
        labels = labels.with_mask(name, body & ((x - cx) ** 2 + (y - cy) ** 2 <= radius**2))
    tumor = np.linalg.norm(lps - np.asarray(tumor_center_lps_mm), axis=-1) <= tumor_radius_mm
    return labels.with_mask("tumor", tumor & body)


def with_label(labels: LabelMap, name: str, mask: NDArray[np.bool_]) -> LabelMap:
    """``labels`` with ``mask`` given to the standard label ``name`` (keeping its role)."""
    info = standard_label(name)
    return labels.with_mask(name, mask, role=info.role)
