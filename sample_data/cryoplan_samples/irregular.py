"""Irregular, lobulated solids: an ellipsoid whose radius swells and dents by direction.

Real tumors are neither spheres nor ellipsoids: they grow faster in some
directions (lobes) and are held back in others (notches, where they meet a
vessel or a fibrous septum). The solid here is star-shaped around its centre:
in the ellipsoid's normalised coordinates ``q`` (``|q| = 1`` on the ellipsoid),
the surface lies at ``|q| = 1 + f(u)`` with ``u = q / |q|`` and ``f`` a sum of
smooth bumps (positive amplitudes) and dents (negative ones) around random
directions. Each bump is ``a exp(kappa (cos(angle) - 1))``: a large
concentration ``kappa`` gives a narrow lobe, a small one a broad swelling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cryoplan_samples.canvas import FloatArray

#: The surface never shrinks below this fraction of the ellipsoid, however deep the dents.
_MIN_RADIUS_FACTOR = 0.5


@dataclass(frozen=True)
class IrregularShape:
    """A star-shaped solid around ``center_lps_mm`` (see the module docstring).

    ``frame`` rows are the unit vectors (LPS) of the ellipsoid's axes, with half
    lengths ``semi_axes_mm``; lobe directions are unit vectors in the
    ellipsoid's normalised coordinates.
    """

    center_lps_mm: NDArray[np.float64]
    semi_axes_mm: NDArray[np.float64]
    frame: NDArray[np.float64]
    lobe_directions: NDArray[np.float64]
    lobe_amplitudes: NDArray[np.float64]
    lobe_concentrations: NDArray[np.float64]

    @classmethod
    def random(
        cls,
        rng: np.random.Generator,
        *,
        center_lps_mm: ArrayLike,
        semi_axes_mm: ArrayLike,
        lobes: int,
        bump_max: float,
        dent_max: float,
        concentration: tuple[float, float] = (3.0, 10.0),
    ) -> IrregularShape:
        """A shape with ``lobes`` random bumps and dents and a random orientation.

        About two thirds of the lobes swell (amplitude up to ``bump_max``), the
        rest dent (down to ``-dent_max``).
        """
        frame, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        directions = rng.normal(size=(lobes, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        swells = rng.uniform(size=lobes) < 2.0 / 3.0
        amplitudes = np.where(
            swells,
            rng.uniform(0.4, 1.0, lobes) * bump_max,
            -rng.uniform(0.4, 1.0, lobes) * dent_max,
        )
        return cls(
            np.asarray(center_lps_mm, dtype=np.float64),
            np.asarray(semi_axes_mm, dtype=np.float64),
            frame.T.copy(),
            directions,
            amplitudes,
            rng.uniform(*concentration, size=lobes),
        )

    @property
    def max_radius_mm(self) -> float:
        """A radius around the centre that holds the whole solid."""
        swell = float(np.clip(self.lobe_amplitudes, 0.0, None).sum())
        return float(self.semi_axes_mm.max()) * (1.0 + swell)

    def level(self, x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
        """``|q| / (1 + f(u))`` at LPS points (broadcast arrays): below 1 inside."""
        return self.level_and_depth(x, y, z)[0]

    def level_and_depth(
        self, x: FloatArray, y: FloatArray, z: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """The level and the depth (mm) below the surface along the ray from the centre.

        A point at distance ``d`` from the centre with level ``s`` lies on a ray
        that leaves the solid at ``d / s``, so its depth is ``d (1 - s) / s``
        (negative outside). This is the depth along the ray, not to the nearest
        surface point; on these smooth, nearly convex solids the two differ by a
        few percent, which is all the layers painted with it need.
        """
        dx = x - np.float32(self.center_lps_mm[0])
        dy = y - np.float32(self.center_lps_mm[1])
        dz = z - np.float32(self.center_lps_mm[2])
        distance = np.sqrt(dx * dx + dy * dy + dz * dz)
        q = [
            (axis[0] * dx + axis[1] * dy + axis[2] * dz) / np.float32(half)
            for axis, half in zip(self.frame.astype(np.float32), self.semi_axes_mm, strict=True)
        ]
        rho = np.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2])
        safe = np.maximum(rho, np.float32(1e-6))
        factor = np.ones(rho.shape, dtype=np.float32)
        for direction, amplitude, kappa in zip(
            self.lobe_directions, self.lobe_amplitudes, self.lobe_concentrations, strict=True
        ):
            cosine = (q[0] * direction[0] + q[1] * direction[1] + q[2] * direction[2]) / safe
            factor += np.float32(amplitude) * np.exp(np.float32(kappa) * (cosine - 1.0))
        level = rho / np.maximum(factor, np.float32(_MIN_RADIUS_FACTOR))
        depth = distance * (1.0 - level) / np.maximum(level, np.float32(1e-6))
        return level.astype(np.float32), depth.astype(np.float32)

    def surface_point(self, direction_lps: ArrayLike) -> NDArray[np.float64]:
        """Where the ray from the centre along ``direction_lps`` leaves the solid (LPS mm)."""
        unit = np.asarray(direction_lps, dtype=np.float64)
        unit = unit / np.linalg.norm(unit)
        probe = self.center_lps_mm + unit  # 1 mm out: level scales linearly along the ray
        level = float(self.level(*(np.float32(v) for v in probe)))
        return self.center_lps_mm + unit / max(level, 1e-6)
