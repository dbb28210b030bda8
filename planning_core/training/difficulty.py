"""Difficulty tags of a library case, computed from its label map.

Tags: the host organ, the tumor's size class from its largest diameter
(``<20``, ``20-30``, ``>30`` mm, the usual cryoablation thresholds: one probe
can treat small tumors, large ones need several), the organ at risk nearest the
tumor and its distance, the nearest structure to avoid (large vessels, renal
sinus, diaphragm, pleura, bone...: role ``"avoid"`` in
:mod:`planning_core.imaging.labels`) and its distance, and a level derived from
size and both proximities. A structure to avoid counts like an organ at risk:
a tumor against the renal sinus or a large vessel is harder to plan (probe paths
must steer around it, a vessel's heat sink keeps tissue beside it warm), as the
nearness term of the R.E.N.A.L. nephrometry score reflects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from planning_core.errors import InvalidParameterError
from planning_core.figures import format_length_mm
from planning_core.imaging.labels import LabelMap
from planning_core.planning.masks import bounding_box
from planning_core.segmentation.metrics import mask_volume_ml, max_diameter_mm

#: Organs at risk farther than this from the tumor do not count as "near".
PROXIMITY_SEARCH_MM = 40.0
#: Size classes by largest diameter: upper bounds (mm) and names.
SIZE_CLASSES = ((20.0, "<20 mm"), (30.0, "20-30 mm"), (float("inf"), ">30 mm"))
#: Points for the nearest organ at risk lying within each distance (mm), closest first.
PROXIMITY_POINTS = ((5.0, 2), (10.0, 1))
#: Levels by total points: size class index (0-2) plus proximity points (0-2) of the
#: nearest organ at risk and of the nearest structure to avoid.
LEVELS = ("beginner", "beginner", "intermediate", "advanced", "advanced", "advanced", "advanced")
#: Generic tissues that never count as the tumor's host organ.
GENERIC_TISSUES = ("body", "skin", "fat", "muscle")


@dataclass(frozen=True)
class DifficultyTags:
    """How hard a case is to plan, and why.

    Attributes
    ----------
    organ : str
        Host organ (given, or the labelled organ touching most of the tumor surface).
    tumor_diameter_mm, tumor_volume_ml : float
        Largest diameter and volume of the tumor label.
    size_class : str
        ``"<20 mm"``, ``"20-30 mm"`` or ``">30 mm"``.
    nearest_oar : str or None
        Closest organ at risk within :data:`PROXIMITY_SEARCH_MM`; ``None`` if none.
    nearest_oar_mm : float or None
        Smallest distance between a voxel centre of that organ and of the tumor.
    difficulty : str
        ``"beginner"``, ``"intermediate"`` or ``"advanced"``: size class index
        (0-2) plus 2 points for an organ at risk within 5 mm or 1 within 10 mm,
        and as many for a structure to avoid; 0-1 points is beginner, 2
        intermediate, 3 or more advanced.
    nearest_avoid : str or None
        Closest structure to avoid (role ``"avoid"``, the host organ excepted)
        within :data:`PROXIMITY_SEARCH_MM`; ``None`` if none (or not recorded, for
        cases imported by an older release).
    nearest_avoid_mm : float or None
        Its distance, measured as for ``nearest_oar_mm``.
    """

    organ: str
    tumor_diameter_mm: float
    tumor_volume_ml: float
    size_class: str
    nearest_oar: str | None
    nearest_oar_mm: float | None
    difficulty: str
    nearest_avoid: str | None = None
    nearest_avoid_mm: float | None = None


def size_class(diameter_mm: float) -> tuple[int, str]:
    """Index and name of the size class of a tumor of largest diameter ``diameter_mm``."""
    for index, (upper, name) in enumerate(SIZE_CLASSES):
        if diameter_mm < upper:
            return index, name
    raise InvalidParameterError(f"diameter_mm must be a finite number, got {diameter_mm}.")


def proximity_points(distance_mm: float | None) -> int:
    """Points for a structure ``distance_mm`` from the tumor (:data:`PROXIMITY_POINTS`)."""
    for limit_mm, points in PROXIMITY_POINTS:
        if distance_mm is not None and distance_mm <= limit_mm:
            return points
    return 0


def difficulty_level(
    size_index: int, nearest_oar_mm: float | None, nearest_avoid_mm: float | None = None
) -> str:
    """The level from the size class index and the nearest organ-at-risk and avoid distances."""
    points = size_index + proximity_points(nearest_oar_mm) + proximity_points(nearest_avoid_mm)
    return LEVELS[points]


def nearest_structure_mm(
    label_map: LabelMap, target_label: str, names: tuple[str, ...]
) -> tuple[str | None, float | None]:
    """The structure among ``names`` closest to the target, and the centre-to-centre distance.

    Only structures within :data:`PROXIMITY_SEARCH_MM` are found.
    """
    geometry = label_map.geometry
    tumor = label_map.mask(target_label)
    spacing = np.asarray(geometry.spacing_kji_mm)
    box = bounding_box(tumor, np.ceil(PROXIMITY_SEARCH_MM / spacing).astype(int))
    if box is None:
        raise InvalidParameterError(f"label {target_label!r} is empty; segment the tumor first.")
    distance = ndimage.distance_transform_edt(~tumor[box], sampling=spacing)
    best: tuple[str | None, float | None] = (None, None)
    for name in names:
        inside = label_map.mask(name)[box]
        if not inside.any():
            continue
        closest = float(distance[inside].min())
        if closest <= PROXIMITY_SEARCH_MM and (best[1] is None or closest < best[1]):
            best = (name, closest)
    return best


def host_organ(label_map: LabelMap, target_label: str) -> str:
    """The organ label with most voxels in a one-voxel shell around the tumor.

    Anatomy and avoid labels count (aerated lung hosts lung tumors); generic
    tissues (:data:`GENERIC_TISSUES`) and organs at risk do not.
    """
    tumor = label_map.mask(target_label)
    box = bounding_box(tumor, 2)
    if box is None:
        raise InvalidParameterError(f"label {target_label!r} is empty; segment the tumor first.")
    shell = ndimage.binary_dilation(tumor[box]) & ~tumor[box]
    values = label_map.voxels[box][shell]
    counts = {
        info.name: int(np.count_nonzero(values == info.value))
        for info in label_map.table
        if info.role in ("anatomy", "avoid") and info.name not in GENERIC_TISSUES
    }
    counts = {name: count for name, count in counts.items() if count}
    return max(counts, key=counts.__getitem__) if counts else "unknown"


def difficulty_tags(
    label_map: LabelMap, *, target_label: str = "tumor", organ: str | None = None
) -> DifficultyTags:
    """Compute the difficulty tags of a case.

    Parameters
    ----------
    label_map : LabelMap
        Tumor and organs on the image grid.
    target_label : str
        Name of the tumor label.
    organ : str, optional
        Host organ; found from the labels (:func:`host_organ`) when omitted.
    """
    tumor = label_map.mask(target_label)
    if not tumor.any():
        raise InvalidParameterError(f"label {target_label!r} is empty; segment the tumor first.")
    diameter = max_diameter_mm(tumor, label_map.geometry)
    index, size_name = size_class(diameter)
    oars = tuple(n for n in label_map.names_with_role("oar") if n != target_label)
    nearest, nearest_mm = nearest_structure_mm(label_map, target_label, oars)
    host = organ or host_organ(label_map, target_label)
    # The host organ surrounds the tumor (aerated lung around a lung nodule): not a hazard.
    avoid = tuple(n for n in label_map.names_with_role("avoid") if n not in (target_label, host))
    nearest_avoid, nearest_avoid_mm = nearest_structure_mm(label_map, target_label, avoid)
    return DifficultyTags(
        organ=host,
        tumor_diameter_mm=diameter,
        tumor_volume_ml=mask_volume_ml(tumor, label_map.geometry),
        size_class=size_name,
        nearest_oar=nearest,
        nearest_oar_mm=nearest_mm,
        difficulty=difficulty_level(index, nearest_mm, nearest_avoid_mm),
        nearest_avoid=nearest_avoid,
        nearest_avoid_mm=nearest_avoid_mm,
    )


def size_text(tags: DifficultyTags) -> str:
    """The tumor's largest diameter and size class, as every case list shows it."""
    return f"{format_length_mm(tags.tumor_diameter_mm)} ({tags.size_class})"


def proximity_text(tags: DifficultyTags) -> str:
    """The nearest organ at risk and structure to avoid with their distances.

    ``"bowel 9.0 mm, renal sinus 1.0 mm"``; ``"none within 40 mm"`` when neither is near.
    """
    parts = [
        f"{name.replace('_', ' ')} {format_length_mm(distance_mm)}"
        for name, distance_mm in (
            (tags.nearest_oar, tags.nearest_oar_mm),
            (tags.nearest_avoid, tags.nearest_avoid_mm),
        )
        if name is not None and distance_mm is not None
    ]
    return ", ".join(parts) or f"none within {PROXIMITY_SEARCH_MM:g} mm"
