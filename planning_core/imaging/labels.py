"""Label map: named structures (tumor, organs at risk, anatomy) on an image grid."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry


@dataclass(frozen=True)
class LabelInfo:
    """One entry of a label table.

    ``role`` tells the planner how to treat the structure: ``"target"`` (tumor),
    ``"oar"`` (organ at risk: the ice must keep its clearance), ``"avoid"``
    (probe paths keep their clearance from it; ice may reach it) or ``"anatomy"``.

    The standard roles follow clinical practice. Bowel, colon, ureter, spinal
    cord, skin and the other hollow or parenchymal organs are organs at risk:
    freezing them causes perforation, strictures or burns. Bone, aerated lung,
    pleura and bowel gas are "avoid": a probe cannot or should not pass through
    them. Large vessels (aorta, IVC, hepatic veins, named vessels) are "avoid"
    too: their flowing blood keeps the vessel wall alive in the ice (it acts as a
    heat sink), so ablations routinely reach them, but a probe must not puncture
    them. The renal sinus (collecting system), the diaphragm and the pectoral
    muscle tolerate freezing (urothelium regenerates, the diaphragm and muscle heal
    without lasting harm), whereas a probe through the collecting system or across
    the diaphragm risks a urine leak or a pneumothorax: they are "avoid" as well.
    The planner still reports how close the ice comes to them.
    """

    value: int
    name: str
    color_rgb: tuple[int, int, int]
    role: str = "anatomy"


#: Canonical names and colours; readers and segmenters use these names so that the
#: thermal engine and the optimizer can recognise structures.
STANDARD_LABELS: dict[str, LabelInfo] = {
    info.name: info
    for info in (
        LabelInfo(1, "tumor", (230, 40, 40), "target"),
        LabelInfo(2, "body", (250, 220, 190), "anatomy"),
        LabelInfo(3, "skin", (255, 200, 160), "oar"),
        LabelInfo(4, "fat", (230, 210, 120), "anatomy"),
        LabelInfo(5, "muscle", (190, 90, 80), "anatomy"),
        LabelInfo(6, "bone", (241, 236, 214), "avoid"),
        LabelInfo(7, "lung", (120, 190, 240), "avoid"),
        LabelInfo(8, "bowel", (200, 150, 60), "oar"),
        LabelInfo(9, "bowel_gas", (90, 90, 90), "avoid"),
        LabelInfo(10, "kidney", (185, 100, 180), "anatomy"),
        LabelInfo(11, "renal_sinus", (240, 230, 130), "avoid"),
        LabelInfo(12, "ureter", (250, 170, 40), "oar"),
        LabelInfo(13, "liver", (170, 90, 50), "anatomy"),
        LabelInfo(14, "aorta", (220, 0, 0), "avoid"),
        LabelInfo(15, "ivc", (0, 60, 220), "avoid"),
        LabelInfo(16, "hepatic_vein", (40, 100, 255), "avoid"),
        LabelInfo(17, "vessel", (200, 30, 90), "avoid"),
        LabelInfo(18, "diaphragm", (200, 120, 120), "avoid"),
        LabelInfo(19, "spinal_cord", (255, 240, 100), "oar"),
        LabelInfo(20, "breast_tissue", (250, 200, 210), "anatomy"),
        LabelInfo(21, "pectoral_muscle", (170, 70, 70), "avoid"),
        LabelInfo(22, "colon", (160, 110, 40), "oar"),
        LabelInfo(23, "spleen", (150, 60, 140), "oar"),
        LabelInfo(24, "pleura", (140, 200, 255), "avoid"),
        LabelInfo(25, "gallbladder", (120, 200, 80), "oar"),
        # Organs at risk the organ sites name (planning_core.planning.organ_sites);
        # heart and stomach keep the values the sample cases have always used.
        LabelInfo(26, "duodenum", (215, 170, 70), "oar"),
        LabelInfo(27, "pancreas", (235, 190, 140), "oar"),
        LabelInfo(28, "esophagus", (205, 125, 100), "oar"),
        LabelInfo(29, "nerve", (250, 250, 0), "oar"),
        LabelInfo(30, "bile_duct", (100, 180, 60), "oar"),
        LabelInfo(40, "heart", (200, 40, 60), "oar"),
        LabelInfo(41, "stomach", (210, 160, 90), "oar"),
    )
}

#: Custom (non-standard) labels are numbered above every standard value.
_LAST_STANDARD_VALUE = max(info.value for info in STANDARD_LABELS.values())


def standard_label(name: str) -> LabelInfo:
    """The canonical :class:`LabelInfo` for ``name``; raises for unknown names."""
    try:
        return STANDARD_LABELS[name]
    except KeyError:
        raise InvalidParameterError(
            f"unknown standard label {name!r}; known: {', '.join(sorted(STANDARD_LABELS))}."
        ) from None


@dataclass(frozen=True, eq=False)
class LabelMap:
    """Integer labels on an image grid with a name/colour table.

    Operations return new maps (undo keeps the old one); voxel arrays are shared
    read-only where nothing changed.
    """

    voxels: NDArray[np.unsignedinteger]
    geometry: Geometry
    table: tuple[LabelInfo, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.voxels.dtype not in (np.uint8, np.uint16):
            raise InvalidParameterError(
                f"label voxels must be uint8 or uint16, got {self.voxels.dtype}."
            )
        if tuple(self.voxels.shape) != self.geometry.shape:
            raise InvalidParameterError(
                f"label voxels shape {self.voxels.shape} does not match "
                f"geometry {self.geometry.shape}."
            )
        values = [info.value for info in self.table]
        names = [info.name for info in self.table]
        if len(set(values)) != len(values) or len(set(names)) != len(names):
            raise InvalidParameterError("label table values and names must be unique.")
        if any(v <= 0 or v > np.iinfo(self.voxels.dtype).max for v in values):
            raise InvalidParameterError(
                "label values must be 1.. the dtype maximum (0 is background)."
            )

    @classmethod
    def empty(cls, geometry: Geometry, *, dtype: type = np.uint8) -> LabelMap:
        return cls(np.zeros(geometry.shape, dtype=dtype), geometry, ())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(info.name for info in self.table)

    def info(self, name: str) -> LabelInfo:
        for info in self.table:
            if info.name == name:
                return info
        raise InvalidParameterError(
            f"label {name!r} is not in this label map; it has: {', '.join(self.names) or 'none'}."
        )

    def has(self, name: str) -> bool:
        return name in self.names

    def mask(self, name: str) -> NDArray[np.bool_]:
        """Boolean ``[k, j, i]`` mask of one label."""
        return self.voxels == self.info(name).value

    def names_with_role(self, role: str) -> tuple[str, ...]:
        return tuple(info.name for info in self.table if info.role == role)

    def voxel_count(self, name: str) -> int:
        return int(np.count_nonzero(self.mask(name)))

    def volume_ml(self, name: str) -> float:
        return self.voxel_count(name) * self.geometry.voxel_volume_mm3 / 1000.0

    def with_mask(
        self,
        name: str,
        mask: NDArray[np.bool_],
        *,
        color_rgb: tuple[int, int, int] | None = None,
        role: str | None = None,
        overwrite: bool = True,
    ) -> LabelMap:
        """A new map in which ``mask`` carries label ``name``.

        The label keeps its value if present, else takes the standard value for
        known names or the next free value. Voxels of ``name`` outside ``mask``
        become background. With ``overwrite=False`` voxels that already belong to
        another label keep it.
        """
        if mask.shape != self.geometry.shape:
            raise InvalidParameterError(
                f"mask shape {mask.shape} does not match {self.geometry.shape}."
            )
        table = list(self.table)
        if self.has(name):
            info = self.info(name)
            if color_rgb is not None or role is not None:
                updated = replace(
                    info, color_rgb=color_rgb or info.color_rgb, role=role or info.role
                )
                table[table.index(info)] = updated
                info = updated
        else:
            info = self._new_info(name, color_rgb, role)
            table.append(info)
        voxels = self.voxels
        if info.value > np.iinfo(voxels.dtype).max:
            voxels = voxels.astype(np.uint16)
        voxels = voxels.copy()
        voxels[voxels == info.value] = 0
        target = mask if overwrite else (mask & (voxels == 0))
        voxels[target] = info.value
        return LabelMap(voxels, self.geometry, tuple(table))

    def without(self, name: str) -> LabelMap:
        """A new map with label ``name`` and its voxels removed."""
        info = self.info(name)
        voxels = self.voxels.copy()
        voxels[voxels == info.value] = 0
        return LabelMap(voxels, self.geometry, tuple(t for t in self.table if t.name != name))

    def _new_info(
        self, name: str, color_rgb: tuple[int, int, int] | None, role: str | None
    ) -> LabelInfo:
        used = {info.value for info in self.table}
        standard = STANDARD_LABELS.get(name)
        if standard is not None and standard.value not in used:
            value = standard.value
        else:
            value = max(used | {_LAST_STANDARD_VALUE}) + 1
        default_color = standard.color_rgb if standard else default_label_color(value)
        default_role = standard.role if standard else "anatomy"
        return LabelInfo(value, name, color_rgb or default_color, role or default_role)


def default_label_color(value: int) -> tuple[int, int, int]:
    """The RGB colour of custom label ``value`` when its file names none."""
    # Golden-angle hues keep neighbouring custom labels distinguishable.
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((value * 0.618033988749895) % 1.0, 0.65, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)
