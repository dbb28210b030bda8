"""Search probe layouts on the surrogate: tips, depth and pattern for one count and direction.

A layout is the standard pattern (:mod:`.layout`) for ``count`` probes in the
plane perpendicular to the insertion direction, described by five numbers:
the pattern centre's offset from the zone centre (two), its radius, its
rotation, and the depth shift along the axis from the position that centres
the probes' lethal length on the zone. A coarse grid over radius, rotation and
depth gives the start; a pattern search (compass search with halving steps)
refines all five. Layouts breaking a hard rule (tip spacing, tip farther than
allowed from the tumor, an unsafe path) are never accepted.

Each probe keeps the common direction when its own path is safe; otherwise it
takes the nearest safe direction within ``INDIVIDUAL_CONE_DEG`` of it (ribs
often block one of several parallel paths), as radiologists angle a single
probe when needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from planning_core.planning.approach import Approach
from planning_core.planning.entry_map import feasible_entries
from planning_core.planning.optimizer.candidates import usable_paths
from planning_core.planning.optimizer.layout import (
    pattern_offsets,
    plane_basis,
    ring_radius_for_spacing,
    spacing_ok,
)
from planning_core.planning.optimizer.problem import PlanningProblem
from planning_core.planning.optimizer.surrogate import ProbeKernel, surrogate_temperature_c
from planning_core.planning.trajectory import TrajectoryContext
from planning_core.progress import CancelToken
from planning_core.sphere import fibonacci_directions

#: Coverage above the goal that still earns score; beyond it only sparing organs counts.
COVERAGE_HEADROOM = 0.004
#: Weight of the share of soft-guarded (needs-protection) organ points that freeze.
SOFT_GUARD_WEIGHT = 0.05
INDIVIDUAL_CONE_DEG = 20.0
#: Directions over the sphere the cone is cut from.
CONE_DIRECTIONS = 2000
#: Cone directions looked up after the common one; each further batch is twice as large.
FIRST_CONE_BATCH = 4
DEPTH_STEPS_MM = (-6.0, 0.0, 6.0)
RADIUS_STEPS = 3
ANGLE_STEPS = 3
#: Initial compass steps: centre offset, radius, depth (mm); rotation as a share of the
#: pattern's symmetry angle.
OFFSET_STEP_MM = 3.0
RADIUS_STEP_MM = 2.0
DEPTH_STEP_MM = 3.0
ANGLE_STEP_SHARE = 0.125
REFINE_ROUNDS = 3
#: Per-tip refinement: when the pattern comes this close to the goal, its steps, rounds.
TIP_REFINE_WITHIN = 0.03
TIP_STEP_MM = 2.0
TIP_REFINE_ROUNDS = 2
PATTERN_PARAMETERS = 5
#: Tips are rounded to this grid (mm) before their paths are looked up in the cache.
PATH_CACHE_MM = 0.5


@dataclass(frozen=True, eq=False)
class Layout:
    """Tips and insertion directions of one candidate, with its surrogate scores.

    Attributes
    ----------
    count : int
    parameters : ndarray, shape (5,) or (5 + 3 * count,)
        Centre offset (2, mm), radius (mm), rotation (rad), depth shift (mm),
        then optionally each tip's own in-plane and depth shift (mm).
    tips_lps_mm : ndarray, shape (count, 3)
    insertions_lps : ndarray, shape (count, 3)
        Unit vectors from entry to tip, one per probe.
    entries_lps_mm : ndarray, shape (count, 3)
        Skin entry points.
    coverage : float
        Surrogate share (0-1) of the zone at or below the lethal isotherm.
    hard_violation, soft_violation : float
        Shares of protected / needs-protection guard points the surrogate freezes.
    score : float
    frozen_organs : tuple of str
        Protected organs whose guard the surrogate freezes.
    """

    count: int
    parameters: NDArray[np.float64]
    tips_lps_mm: NDArray[np.float64]
    insertions_lps: NDArray[np.float64]
    entries_lps_mm: NDArray[np.float64]
    coverage: float
    hard_violation: float
    soft_violation: float
    score: float
    frozen_organs: tuple[str, ...] = ()

    def meets(self, goal: float) -> bool:
        return self.coverage >= goal and self.hard_violation == 0.0


@dataclass
class LayoutSearch:
    """Surrogate search of layouts on one prepared case.

    Parameters
    ----------
    problem : PlanningProblem
    context : TrajectoryContext
    goal : float
        Surrogate coverage (0-1) a layout must reach.
    cancel : CancelToken, optional
    guard_temperature_c : float
        Surrogate temperature organ guard points must stay above (0 °C, raised
        when the solver freezes an organ the surrogate spared).
    min_path_mm, allow_leaving_image
        Path rules of :func:`.candidates.usable_paths`.
    approach : Approach, optional
        The case's approach rules, applied to every path (none by default).
    zone_correction_c, guard_corrections_c
        Local corrections (°C) added to the surrogate at the zone sample points
        and at each guard's points (zeros until a solver run sets them).
    """

    problem: PlanningProblem
    context: TrajectoryContext
    goal: float
    cancel: CancelToken | None = None
    guard_temperature_c: float = 0.0
    min_path_mm: float = 0.0
    allow_leaving_image: bool = False
    approach: Approach | None = None
    zone_correction_c: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    guard_corrections_c: list[NDArray[np.float64]] = field(default_factory=list)
    evaluations: int = 0
    _paths: dict[tuple, tuple[NDArray[np.float64], NDArray[np.float64]] | None] = field(
        default_factory=dict
    )
    _points: NDArray[np.float64] = field(init=False, repr=False)
    _frames: dict[tuple, tuple[NDArray[np.float64], NDArray[np.float64], float]] = field(
        init=False, repr=False, default_factory=dict
    )
    _point_splits: NDArray[np.int64] = field(init=False, repr=False)

    # -- paths -----------------------------------------------------------------------------
    def __post_init__(self) -> None:
        self.zone_correction_c = np.zeros(len(self.problem.sample_points_lps_mm))
        self.guard_corrections_c = [np.zeros(len(g.points_lps_mm)) for g in self.problem.guards]
        # Zone and guard points in one array: one surrogate call per layout.
        point_sets = [self.problem.sample_points_lps_mm]
        point_sets += [g.points_lps_mm for g in self.problem.guards]
        self._points = np.vstack(point_sets)
        self._point_splits = np.cumsum([len(points) for points in point_sets])[:-1]

    def safe_path(
        self, tip_lps_mm: NDArray[np.float64], insertion_lps: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """(insertion, skin entry) of a safe path to ``tip``: the given direction or the
        nearest safe one within the cone; ``None`` when there is none."""
        key = (
            *np.round(tip_lps_mm / PATH_CACHE_MM).astype(int).tolist(),
            *np.round(insertion_lps, 4).tolist(),
        )
        if key not in self._paths:
            self._paths[key] = self._find_path(tip_lps_mm, insertion_lps)
        return self._paths[key]

    def _find_path(
        self, tip: NDArray[np.float64], insertion: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        flat, inside = self.context.flat_indices(tip)
        if not (bool(inside) and self.context.body_mask.ravel()[flat]):
            return None
        outward = -insertion
        cone = _cone(outward, INDIVIDUAL_CONE_DEG)
        closeness = cone @ outward
        # Nearest first: the common direction, then the cone in growing batches. The
        # first batch holding a usable path holds the nearest usable one, so most tips
        # need one or two short look-ups instead of the whole cone.
        start, size = 0, 1
        while start < len(cone):
            directions = cone[start : start + size]
            entry_map = feasible_entries(
                self.context, tip, directions_lps=directions, approach=self.approach
            )
            usable, _, entries = usable_paths(
                self.context, entry_map, min_path_mm=self.min_path_mm,
                allow_leaving_image=self.allow_leaving_image,
            )  # fmt: skip
            if usable.any():
                # The common direction when usable, else the usable one nearest to it.
                near = closeness[start : start + size]
                best = int(np.argmax(np.where(usable, near, -np.inf)))
                return -entry_map.directions_lps[best], entries[best]
            start += size
            size = FIRST_CONE_BATCH if start == 1 else 2 * size
        return None

    # -- layouts ---------------------------------------------------------------------------
    def layout(
        self,
        count: int,
        insertion_lps: NDArray[np.float64],
        kernel: ProbeKernel,
        parameters: NDArray[np.float64],
    ) -> Layout | None:
        """The layout of ``parameters``; ``None`` when it breaks a hard rule."""
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()
        self.evaluations += 1
        problem = self.problem
        settings = problem.settings
        tips = self.tips(count, insertion_lps, kernel, parameters)
        if not spacing_ok(
            tips,
            min_spacing_mm=settings.min_probe_spacing_mm,
            max_spacing_mm=settings.max_probe_spacing_mm,
        ):
            return None
        if np.any(problem.tip_to_tumor_mm(tips) > settings.max_tip_to_tumor_edge_mm):
            return None
        insertions, entries = [], []
        for tip in tips:
            path = self.safe_path(tip, insertion_lps)
            if path is None:
                return None
            insertions.append(path[0])
            entries.append(path[1])
        axes = -np.asarray(insertions)
        lethal = settings.zone_isotherm_c  # the goal's isotherm (0 °C for visible ice)
        field_zone, *guard_fields = np.split(
            surrogate_temperature_c(kernel, tips, axes, self._points), self._point_splits
        )
        coverage = float(np.mean(field_zone + self.zone_correction_c <= lethal))
        hard = soft = 0.0
        hard_points = soft_points = 0
        frozen_organs = []
        for guard, correction, guard_field in zip(
            problem.guards, self.guard_corrections_c, guard_fields, strict=True
        ):
            frozen = np.count_nonzero(guard_field + correction <= self.guard_temperature_c)
            if guard.needs_protection:
                soft += frozen
                soft_points += len(guard.points_lps_mm)
            else:
                hard += frozen
                hard_points += len(guard.points_lps_mm)
                if frozen:
                    frozen_organs.append(guard.name)
        hard = hard / hard_points if hard_points else 0.0
        soft = soft / soft_points if soft_points else 0.0
        score = min(coverage, self.goal + COVERAGE_HEADROOM) - hard - SOFT_GUARD_WEIGHT * soft
        return Layout(
            count, np.asarray(parameters, dtype=np.float64), tips, np.asarray(insertions),
            np.asarray(entries), coverage, hard, soft, score, tuple(frozen_organs),
        )  # fmt: skip

    def tips(
        self,
        count: int,
        insertion_lps: NDArray[np.float64],
        kernel: ProbeKernel,
        parameters: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """Tip positions of a pattern (see the module docstring for the parameters).

        Parameters beyond the first five, when present, move each tip on its
        own: three per tip (two in the plane, one along the axis, mm).
        """
        offset_u, offset_v, radius, angle, depth = parameters[:PATTERN_PARAMETERS]
        own = np.reshape(parameters[PATTERN_PARAMETERS:], (-1, 3))
        axis = -np.asarray(insertion_lps, dtype=np.float64)
        u, v, centred_depth = self._frame(axis, kernel)
        centre = self.problem.centroid_lps_mm
        tip_depth = centred_depth + depth
        plane = pattern_offsets(count, radius, angle) + np.array([offset_u, offset_v])
        depths = np.full((count, 1), tip_depth)
        if len(own):
            plane = plane + own[:, :2]
            depths = depths + own[:, 2:]
        return centre + depths * axis + plane[:, :1] * u + plane[:, 1:] * v

    def _frame(
        self, axis: NDArray[np.float64], kernel: ProbeKernel
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
        """The plane basis of ``axis`` and the tip depth that centres the kernel's lethal
        length on the zone's extent along it (kept: every layout of a direction asks)."""
        key = (*axis.tolist(), kernel.model.id, kernel.protocol_code, kernel.tissue, kernel.scale)
        if key not in self._frames:
            u, v = plane_basis(axis)
            along = (self.problem.sample_points_lps_mm - self.problem.centroid_lps_mm) @ axis
            deepest, shallowest = kernel.axial_reach_mm(self.problem.settings.zone_isotherm_c)
            depth = 0.5 * (along.min() + along.max()) - 0.5 * (deepest + shallowest)
            self._frames[key] = (u, v, float(depth))
        return self._frames[key]

    def best_layout(
        self,
        count: int,
        insertion_lps: NDArray[np.float64],
        kernel: ProbeKernel,
        *,
        start: NDArray[np.float64] | None = None,
    ) -> Layout | None:
        """The best layout for ``count`` probes along ``insertion_lps`` (``None``: no valid one).

        Parameters
        ----------
        count : int
        insertion_lps : ndarray
            The common insertion direction.
        kernel : ProbeKernel
            Surrogate of the protocol tried.
        start : ndarray, optional
            Parameters to refine instead of the coarse grid (a neighbouring protocol's best).
        """
        if start is None:
            first = self.coarse_layout(count, insertion_lps, kernel)
        else:
            first = self.layout(count, insertion_lps, kernel, np.asarray(start))
        return None if first is None else self.refine(first, insertion_lps, kernel)

    def coarse_layout(
        self, count: int, insertion_lps: NDArray[np.float64], kernel: ProbeKernel
    ) -> Layout | None:
        """The best layout on the coarse grid of radius, rotation and depth."""
        best: Layout | None = None
        for parameters in self._grid(count):
            layout = self.layout(count, insertion_lps, kernel, parameters)
            if layout is not None and (best is None or layout.score > best.score):
                best = layout
        return best

    def _grid(self, count: int) -> list[NDArray[np.float64]]:
        settings = self.problem.settings
        if count == 1:
            return [np.array([0.0, 0.0, 0.0, 0.0, d]) for d in DEPTH_STEPS_MM]
        low = ring_radius_for_spacing(count, settings.min_probe_spacing_mm)
        high = ring_radius_for_spacing(count, settings.max_probe_spacing_mm)
        symmetry = 2.0 * np.pi / (count - 1 if count >= 6 else count)
        grid = []
        for radius in np.linspace(low, high, RADIUS_STEPS):
            for angle in np.arange(ANGLE_STEPS) * symmetry / ANGLE_STEPS:
                for depth in DEPTH_STEPS_MM:
                    grid.append(np.array([0.0, 0.0, radius, angle, depth]))
        return grid

    def refine(
        self, best: Layout, insertion_lps: NDArray[np.float64], kernel: ProbeKernel
    ) -> Layout:
        """Compass search from ``best`` over the pattern, then (near the goal) each tip.

        Moving single tips lets the layout lean toward a warm spot, such as the
        side of a vessel whose heat sink the solver revealed.
        """
        count = best.count
        symmetry = 2.0 * np.pi / max(count - 1 if count >= 6 else count, 1)
        steps = np.array(
            [
                OFFSET_STEP_MM,
                OFFSET_STEP_MM,
                RADIUS_STEP_MM if count > 1 else 0.0,
                ANGLE_STEP_SHARE * symmetry if count > 1 else 0.0,
                DEPTH_STEP_MM,
            ]
        )
        steps = np.concatenate([steps, np.zeros(len(best.parameters) - PATTERN_PARAMETERS)])
        best = self._compass(best, insertion_lps, kernel, steps, REFINE_ROUNDS)
        if count < 2 or best.coverage < self.goal - TIP_REFINE_WITHIN:
            return best
        if len(best.parameters) == PATTERN_PARAMETERS:
            padded = np.concatenate([best.parameters, np.zeros(3 * count)])
            best = self.layout(count, insertion_lps, kernel, padded) or best
        steps = np.zeros(len(best.parameters))
        steps[PATTERN_PARAMETERS:] = np.tile([TIP_STEP_MM, TIP_STEP_MM, DEPTH_STEP_MM], count)
        return self._compass(best, insertion_lps, kernel, steps, TIP_REFINE_ROUNDS)

    def _compass(
        self,
        best: Layout,
        insertion_lps: NDArray[np.float64],
        kernel: ProbeKernel,
        steps: NDArray[np.float64],
        rounds: int,
    ) -> Layout:
        count = best.count
        for _ in range(rounds):
            improved = True
            while improved:
                improved = False
                for index in np.flatnonzero(steps):
                    for sign in (1.0, -1.0):
                        trial = best.parameters.copy()
                        trial[index] += sign * steps[index]
                        layout = self.layout(count, insertion_lps, kernel, trial)
                        if layout is not None and layout.score > best.score + 1e-9:
                            best = layout
                            improved = True
            steps = steps * 0.5
        return best


def _cone(axis: NDArray[np.float64], half_angle_deg: float) -> NDArray[np.float64]:
    """``axis`` first, then directions within ``half_angle_deg`` of it (Fibonacci cap),
    nearest to the axis first (the sphere's order among equally near ones)."""
    sphere = _sphere()
    closeness = sphere @ axis
    inside = np.flatnonzero(closeness >= np.cos(np.radians(half_angle_deg)))
    nearest_first = inside[np.argsort(-closeness[inside], kind="stable")]
    return np.vstack((axis[None, :], sphere[nearest_first]))


@lru_cache(maxsize=1)
def _sphere() -> NDArray[np.float64]:
    """The directions :func:`_cone` picks from (built once: the search asks thousands of times)."""
    sphere = fibonacci_directions(CONE_DIRECTIONS)
    sphere.flags.writeable = False
    return sphere
