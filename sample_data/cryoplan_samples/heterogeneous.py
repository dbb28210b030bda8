"""Heterogeneous lesions: the kinds one click cannot take (issue 16).

Each lesion paints its tissue classes into a torso canvas that already holds the
anatomy, only over the host tissues it may displace: structures it must not
swallow (a portal vein branch, the renal sinus, a pulmonary artery) keep their
voxels and indent the lesion, as they do in patients. Every class painted here
carries the ``tumor`` label, so the ground truth is the whole lesion (necrosis,
calcifications, cyst and crossing vessels included), as a reader outlines it.

All shapes come from :class:`~cryoplan_samples.irregular.IrregularShape`
(lobulated, dented, randomly oriented); their sizes follow the issue: an 80 mL
liver metastasis, a 4 cm cystic-solid renal mass, a 2.5 cm part-solid nodule.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from cryoplan_samples.canvas import Canvas
from cryoplan_samples.irregular import IrregularShape
from cryoplan_samples.tissues import CT_TISSUES

T = CT_TISSUES.id


def _unit(vector: NDArray[np.float64]) -> NDArray[np.float64]:
    return vector / np.linalg.norm(vector)


def _tilted(rng: np.random.Generator, axis: NDArray[np.float64], max_deg: float):
    """A unit vector within ``max_deg`` of ``axis``, uniformly random in angle and roll."""
    axis = _unit(axis)
    normal = _unit(np.cross(axis, rng.normal(size=3)))
    angle = np.radians(rng.uniform(0.0, max_deg))
    return np.cos(angle) * axis + np.sin(angle) * normal


@dataclass(frozen=True)
class LiverMetastasis:
    """A large colorectal liver metastasis lying against a portal vein branch.

    Layers from outside in: a 1.5-3.5 mm ring of peripheral enhancement, viable
    tumor at least ``viable_min_mm`` thick, an irregular off-centre necrotic
    core; two clusters of calcifications in the viable tumor and the necrosis.
    The lesion displaces only liver: the portal and hepatic veins keep their
    voxels. Whatever its random shape, the lesion is shifted along the line from
    ``center_lps_mm`` to ``vessel_axis_lps_mm`` (a point on the axis of a vessel
    of radius ``vessel_radius_mm``) until its surface reaches ``contact_mm``
    into that vessel, so the vessel indents it without being encased.
    """

    center_lps_mm: tuple[float, float, float]
    vessel_axis_lps_mm: tuple[float, float, float]
    vessel_radius_mm: float
    semi_axes_mm: tuple[float, float, float] = (25.2, 21.8, 23.3)
    viable_min_mm: float = 5.0
    contact_mm: float = 1.5

    def paint(self, canvas: Canvas, rng: np.random.Generator) -> None:
        outer = IrregularShape.random(
            rng,
            center_lps_mm=self.center_lps_mm,
            semi_axes_mm=self.semi_axes_mm,
            lobes=10,
            bump_max=0.3,
            dent_max=0.18,
        )
        towards = np.asarray(self.vessel_axis_lps_mm, dtype=np.float64) - outer.center_lps_mm
        reach_mm = float(np.linalg.norm(outer.surface_point(towards) - outer.center_lps_mm))
        shift_mm = (
            float(np.linalg.norm(towards)) - self.vessel_radius_mm + self.contact_mm - reach_mm
        )
        center = outer.center_lps_mm + shift_mm * _unit(towards)
        outer = replace(outer, center_lps_mm=center)
        reach = outer.max_radius_mm + 1.0
        box = canvas.box(center - reach, center + reach)
        level, depth = outer.level_and_depth(box.x, box.y, box.z)
        lesion = level <= 1.0
        canvas.paint(box, lesion, T("liver_met_viable"), over=(T("liver"),))
        viable = (T("liver_met_viable"),)
        # The rim's thickness varies around the lesion: near the surface (level 1) it is
        # 2.5 mm times the ratio of a second random shape's radius to the lesion's in
        # that direction, kept within 1.5-3.5 mm.
        rim_field = IrregularShape.random(
            rng,
            center_lps_mm=center,
            semi_axes_mm=self.semi_axes_mm,
            lobes=6,
            bump_max=0.6,
            dent_max=0.6,
            concentration=(2.0, 5.0),
        ).level(box.x, box.y, box.z)
        rim_mm = np.clip(2.5 * level / np.maximum(rim_field, 1e-3), 1.5, 3.5)
        canvas.paint(box, lesion & (depth <= rim_mm), T("liver_met_rim"), over=viable)
        core = IrregularShape.random(
            rng,
            center_lps_mm=center + rng.normal(0.0, 3.0, size=3),
            semi_axes_mm=0.55 * np.asarray(self.semi_axes_mm),
            lobes=8,
            bump_max=0.35,
            dent_max=0.25,
        )
        necrosis = (core.level(box.x, box.y, box.z) <= 1.0) & (depth >= self.viable_min_mm)
        canvas.paint(box, lesion & necrosis, T("liver_met_necrosis"), over=viable)
        inside = (T("liver_met_viable"), T("liver_met_necrosis"))
        for _ in range(2):
            cluster = center + _unit(rng.normal(size=3)) * rng.uniform(6.0, 14.0)
            for _ in range(int(rng.integers(3, 7))):
                _paint_ball(
                    canvas,
                    cluster + rng.normal(0.0, 2.5, size=3),
                    rng.uniform(0.7, 2.0),
                    T("calcification"),
                    over=inside,
                )


@dataclass(frozen=True)
class CysticRenalMass:
    """A cystic-solid renal mass bulging out of the kidney into the perirenal fat.

    A fluid-filled cyst with a thin enhancing wall (1-2 mm) and an enhancing
    solid mural nodule, placed so that about half of it lies outside the
    kidney. It displaces parenchyma and fat, not the renal sinus or muscle.
    ``kidney_center_lps_mm`` orients the nodule: it grows from the wall on the
    kidney side, where such nodules usually arise.
    """

    center_lps_mm: tuple[float, float, float]
    kidney_center_lps_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float] = (19.0, 17.0, 18.0)
    nodule_semi_axes_mm: tuple[float, float, float] = (8.0, 6.5, 7.0)

    def paint(self, canvas: Canvas, rng: np.random.Generator) -> None:
        center = np.asarray(self.center_lps_mm, dtype=np.float64)
        cyst = IrregularShape.random(
            rng,
            center_lps_mm=center,
            semi_axes_mm=self.semi_axes_mm,
            lobes=6,
            bump_max=0.12,
            dent_max=0.08,
        )
        reach = cyst.max_radius_mm + 1.0
        box = canvas.box(center - reach, center + reach)
        level, depth = cyst.level_and_depth(box.x, box.y, box.z)
        lesion = level <= 1.0
        hosts = (T("visceral_fat"), T("renal_cortex"), T("renal_medulla"))
        canvas.paint(box, lesion, T("renal_cyst_wall"), over=hosts)
        wall_mm = 1.0 + 1.0 * rng.uniform()
        wall = (T("renal_cyst_wall"),)
        canvas.paint(box, lesion & (depth > wall_mm), T("renal_cyst_fluid"), over=wall)
        towards_kidney = np.asarray(self.kidney_center_lps_mm, dtype=np.float64) - center
        base = cyst.surface_point(_tilted(rng, towards_kidney, 50.0))
        nodule = IrregularShape.random(
            rng,
            # Centred just inside the wall so that it bulges into the cyst.
            center_lps_mm=base + 3.0 * _unit(center - base),
            semi_axes_mm=self.nodule_semi_axes_mm,
            lobes=6,
            bump_max=0.3,
            dent_max=0.15,
        )
        canvas.paint(
            box,
            lesion & (nodule.level(box.x, box.y, box.z) <= 1.0),
            T("renal_mural_nodule"),
            over=(T("renal_cyst_wall"), T("renal_cyst_fluid")),
        )


@dataclass(frozen=True)
class PartSolidNodule:
    """A part-solid lung nodule: ground glass around a spiculated solid core.

    The ground glass is denser centrally and fades over its outer 2-3 mm; small
    vessels crossing it are kept (as ``lesion_vessel``, labelled tumor);
    large pulmonary vessels are not displaced.
    """

    center_lps_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float] = (12.5, 10.5, 11.5)
    core_semi_axes_mm: tuple[float, float, float] = (5.0, 4.5, 5.0)

    def paint(self, canvas: Canvas, rng: np.random.Generator) -> None:
        center = np.asarray(self.center_lps_mm, dtype=np.float64)
        ggo = IrregularShape.random(
            rng,
            center_lps_mm=center,
            semi_axes_mm=self.semi_axes_mm,
            lobes=9,
            bump_max=0.3,
            dent_max=0.25,
        )
        reach = ggo.max_radius_mm + 1.0
        box = canvas.box(center - reach, center + reach)
        level, depth = ggo.level_and_depth(box.x, box.y, box.z)
        lesion = level <= 1.0
        canvas.paint(box, lesion, T("ground_glass_margin"), over=(T("lung"),))
        canvas.paint(box, lesion, T("lesion_vessel"), over=(T("lung_vessel"),))
        canvas.paint(
            box, lesion & (depth > 2.5), T("ground_glass"), over=(T("ground_glass_margin"),)
        )
        core = IrregularShape.random(
            rng,
            center_lps_mm=center + rng.normal(0.0, 1.5, size=3),
            semi_axes_mm=self.core_semi_axes_mm,
            lobes=10,
            bump_max=0.5,
            dent_max=0.2,
            concentration=(8.0, 20.0),
        )
        solid = lesion & (core.level(box.x, box.y, box.z) <= 1.0) & (depth > 3.0)
        canvas.paint(
            box,
            solid,
            T("part_solid_core"),
            over=(T("ground_glass"), T("ground_glass_margin"), T("lesion_vessel")),
        )


def _paint_ball(
    canvas: Canvas,
    center_lps_mm: NDArray[np.float64],
    radius_mm: float,
    tissue: int,
    *,
    over: tuple[int, ...],
) -> None:
    box = canvas.box(center_lps_mm - radius_mm, center_lps_mm + radius_mm)
    if box is None:
        return
    cx, cy, cz = (np.float32(v) for v in center_lps_mm)
    inside = (box.x - cx) ** 2 + (box.y - cy) ** 2 + (box.z - cz) ** 2 <= np.float32(radius_mm**2)
    canvas.paint(box, inside, tissue, over=over)
