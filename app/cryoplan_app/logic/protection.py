"""Organ protection the user edits: a hydrodissection layer per organ at risk, its thickness.

The optimizer proposes protection only for organs no probe layout keeps clear;
the user may add it for any organ at risk of the plan, change its thickness or
remove it. A layer is placed as the core places a proposed one
(:func:`~planning_core.thermal.protection.layer_between`: across the gap
between the tumor and the organ, the fluid on the organ's side), and the plan
holds it (``plan.protection``): the evaluation, the drag preview and the growth
replay simulate with it, and every edit is undoable.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from cryoplan_app.model.session import Session
from planning_core.errors import InvalidParameterError
from planning_core.imaging.labels import LabelMap
from planning_core.planning.masks import bounding_box
from planning_core.planning.metrics import oar_names
from planning_core.planning.plan import Plan
from planning_core.planning.plan_approach import PlannedProtection
from planning_core.thermal.protection import HydrodissectionLayer, layer_between

#: Thickness of a new layer (mm): the usual 10 mm of fluid between tumor and bowel.
DEFAULT_THICKNESS_MM = 10.0
#: Thicknesses a user may choose (mm): from a thin layer to what a fluid bolus holds.
THICKNESS_RANGE_MM = (2.0, 25.0)
#: Organ voxels farther than this from the tumor's box are left out when placing the
#: layer (mm): the nearest part of the organ decides where the layer goes.
SEARCH_MARGIN_MM = 60.0
#: Labels that are no organ to displace with fluid: the skin takes a warm pack.
NOT_DISPLACEABLE = frozenset({"body", "skin"})


def protectable_organs(plan: Plan, labels: LabelMap) -> tuple[str, ...]:
    """The plan's organs at risk that the label map holds and fluid can displace."""
    return tuple(
        name
        for name in oar_names(plan, labels)
        if name not in NOT_DISPLACEABLE and labels.has(name) and labels.mask(name).any()
    )


def check_thickness(thickness_mm: float) -> float:
    """``thickness_mm`` when within :data:`THICKNESS_RANGE_MM`.

    Raises
    ------
    InvalidParameterError
        Naming the field ('Fluid thickness') and the range.
    """
    low, high = THICKNESS_RANGE_MM
    if not (isinstance(thickness_mm, int | float) and low <= thickness_mm <= high):
        raise InvalidParameterError(
            f"'Fluid thickness' must lie between {low:g} and {high:g} mm, got {thickness_mm!r}."
        )
    return float(thickness_mm)


def hydrodissection_for(
    plan: Plan, labels: LabelMap, organ: str, *, thickness_mm: float = DEFAULT_THICKNESS_MM
) -> PlannedProtection:
    """An infused body-temperature layer between the plan's tumor and ``organ``.

    Raises
    ------
    InvalidParameterError
        When the organ or the tumor is not labelled, the thickness is out of
        range, or the organ touches the tumor.
    """
    thickness_mm = check_thickness(thickness_mm)
    for name in (plan.target_label, organ):
        if not labels.has(name) or not labels.mask(name).any():
            raise InvalidParameterError(
                f"the label map holds no {name!r}; label it before adding hydrodissection."
            )
    geometry = labels.geometry
    tumor = labels.mask(plan.target_label)
    margin = np.ceil(SEARCH_MARGIN_MM / np.asarray(geometry.spacing_mm)[::-1]).astype(int)
    near = bounding_box(tumor, margin)
    assert near is not None  # the tumor is not empty
    organ_kji = np.argwhere(labels.mask(organ)[near]) + [s.start for s in near]
    if not len(organ_kji):
        raise InvalidParameterError(
            f"the {organ} lies more than {SEARCH_MARGIN_MM:g} mm from the tumor: the ice does "
            "not reach it, hydrodissection is not needed."
        )
    tumor_kji = np.argwhere(tumor)
    layer = layer_between(
        geometry.index_to_lps(tumor_kji[:, ::-1].astype(float)),
        geometry.index_to_lps(organ_kji[:, ::-1].astype(float)),
        thickness_mm=thickness_mm,
    )
    return PlannedProtection(organ, layer, "added by the user")


def with_thickness(item: PlannedProtection, thickness_mm: float) -> PlannedProtection:
    """``item``'s layer with another thickness, its near face kept on the organ's surface."""
    layer = item.measure
    if not isinstance(layer, HydrodissectionLayer):
        raise InvalidParameterError("only a hydrodissection layer has a fluid thickness.")
    thickness_mm = check_thickness(thickness_mm)
    near_face = layer.center_lps_mm - 0.5 * layer.thickness_mm * layer.normal
    moved = dataclasses.replace(
        layer,
        center_lps_mm=near_face + 0.5 * thickness_mm * layer.normal,
        thickness_mm=thickness_mm,
    )
    return PlannedProtection(item.structure, moved, item.reason)


class ProtectionLogic:
    """Adds, changes and removes the hydrodissection of ``session``'s plan (undoable edits)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def organs(self) -> tuple[str, ...]:
        """Organs the user may protect (none without labels)."""
        labels = self.session.document.labels
        if labels is None:
            return ()
        return protectable_organs(self.session.document.plan, labels)

    def add_hydrodissection(self, organ: str, *, thickness_mm: float) -> None:
        """Add (or replace) the layer that protects ``organ``.

        Raises
        ------
        InvalidParameterError
            As :func:`hydrodissection_for`; also without a label map.
        """
        document = self.session.document
        if document.labels is None:
            raise InvalidParameterError("open or segment labels before adding hydrodissection.")
        added = hydrodissection_for(
            document.plan, document.labels, organ, thickness_mm=thickness_mm
        )
        kept = tuple(
            item
            for item in document.plan.protection
            if not (item.structure == organ and isinstance(item.measure, HydrodissectionLayer))
        )
        document.set_protection((*kept, added), text=f"Hydrodissection for the {organ}")

    def set_thickness(self, index: int, thickness_mm: float) -> None:
        """Change the fluid thickness of measure ``index``."""
        items = list(self.session.document.plan.protection)
        item = self._item(items, index)
        items[index] = with_thickness(item, thickness_mm)
        self.session.document.set_protection(
            tuple(items), text=f"Hydrodissection {thickness_mm:g} mm for the {item.structure}"
        )

    def remove(self, index: int) -> None:
        """Remove measure ``index`` from the plan."""
        items = list(self.session.document.plan.protection)
        item = self._item(items, index)
        del items[index]
        self.session.document.set_protection(
            tuple(items), text=f"Remove protection of the {item.structure}"
        )

    @staticmethod
    def _item(items: list[PlannedProtection], index: int) -> PlannedProtection:
        if not 0 <= index < len(items):
            raise InvalidParameterError(f"the plan has no protective measure {index + 1}.")
        return items[index]
