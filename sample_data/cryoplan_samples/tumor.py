"""Slightly lobulated tumors: a sphere whose radius swells in a few random directions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cryoplan_samples.canvas import Box, Canvas, FloatArray
from cryoplan_samples.tissues import CT_TISSUES

#: Width of each lobe: exp(kappa (cos(angle) - 1)) halves about 35 degrees off its axis.
_LOBE_CONCENTRATION = 3.5
_LOBE_COUNT = 6


@dataclass(frozen=True)
class LobulatedTumor:
    """A star-shaped solid ``|p - c| <= R (1 + f(u))`` with ``0 <= f <= lobulation``.

    ``f`` is a sum of smooth bumps around random directions, so the largest
    diameter lies between ``2 R`` and ``2 R (1 + lobulation)``.
    """

    center_lps_mm: NDArray[np.float64]
    radius_mm: float
    lobe_directions: NDArray[np.float64]
    lobe_amplitudes: NDArray[np.float64]

    @classmethod
    def random(
        cls,
        rng: np.random.Generator,
        *,
        center_lps_mm: ArrayLike,
        base_diameter_mm: float,
        lobulation: float,
    ) -> LobulatedTumor:
        directions = rng.normal(size=(_LOBE_COUNT, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        weights = rng.uniform(0.5, 1.0, size=_LOBE_COUNT)
        return cls(
            np.asarray(center_lps_mm, dtype=np.float64),
            base_diameter_mm / 2.0,
            directions,
            lobulation * weights / weights.sum(),
        )

    @property
    def max_radius_mm(self) -> float:
        return self.radius_mm * (1.0 + float(self.lobe_amplitudes.sum()))

    def level(self, box: Box) -> FloatArray:
        """``|p - c| / R(u)`` over ``box``: below 1 inside, 0 at the centre."""
        cx, cy, cz = (np.float32(v) for v in self.center_lps_mm)
        dx, dy, dz = box.x - cx, box.y - cy, box.z - cz
        distance = np.sqrt(dx * dx + dy * dy + dz * dz)
        safe = np.maximum(distance, np.float32(1e-6))
        swelling = np.zeros(distance.shape, dtype=np.float32)
        for direction, amplitude in zip(self.lobe_directions, self.lobe_amplitudes, strict=True):
            cosine = (dx * direction[0] + dy * direction[1] + dz * direction[2]) / safe
            swelling += np.float32(amplitude) * np.exp(_LOBE_CONCENTRATION * (cosine - 1.0))
        return distance / (np.float32(self.radius_mm) * (1.0 + swelling))


@dataclass(frozen=True)
class CompactTumor:
    """A compact CT tumor: a :class:`LobulatedTumor` of one tissue, with an optional core.

    ``core_level`` > 0 paints ``core_tissue`` where the tumor's level is below it
    (a necrotic or less enhancing centre).
    """

    center_lps_mm: tuple[float, float, float]
    base_diameter_mm: float
    lobulation: float
    tissue: str
    core_tissue: str
    core_level: float

    def paint(self, canvas: Canvas, rng: np.random.Generator) -> None:
        tumor = LobulatedTumor.random(
            rng,
            center_lps_mm=self.center_lps_mm,
            base_diameter_mm=self.base_diameter_mm,
            lobulation=self.lobulation,
        )
        reach = tumor.max_radius_mm + 1.0
        box = canvas.box(tumor.center_lps_mm - reach, tumor.center_lps_mm + reach)
        level = tumor.level(box)
        canvas.paint(box, level <= 1.0, CT_TISSUES.id(self.tissue))
        canvas.paint(box, level <= self.core_level, CT_TISSUES.id(self.core_tissue))
