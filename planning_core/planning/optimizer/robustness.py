"""Robustness of a plan to probe placement error (Monte-Carlo).

Each sample displaces every probe's tip and entry point independently by a
random 3-D vector: isotropic Gaussian whose root-mean-square length is
``tip_error_mm`` (per-axis standard deviation ``tip_error_mm / sqrt(3)``), the
usual way CT-guided placement accuracy is quoted. The displaced plan is
simulated on a coarse grid (3 mm by default) over the real tissues; a sample
reaches the plan's goal when the goal's isotherm covers at least the coverage
goal (99 %) of the goal's zone: the lethal isotherm over tumor + margin, or
under the visible-ice goal the 0 °C edge over tumor + ice margin
(``settings.zone_isotherm_c``, ``settings.zone_margin_mm``). The result is the
share of such samples plus the distribution of coverage and of the signed
minimal margin of that isotherm.

The coarse grid (3 mm) makes each sample some twenty times cheaper than the
1-mm verification, but shifts coverage by a few tenths of a percent either way
(grid alignment), which matters next to a 99 % goal. The unperturbed plan is
therefore simulated on the same grid too, and when the plan carries fresh
verified metrics every sample's coverage and margin are corrected by the
difference between the verified and the coarse nominal values (the grid's own
bias) before they are compared with the goal.

The samples are independent simulations, run side by side on the cores numba
may use (:mod:`.parallel`). The perturbations are drawn in one fixed order
first, so the result is the same with any number of threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from numpy.typing import NDArray

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.acceptance import goal_coverage_percent, goal_margin_mm
from planning_core.planning.evaluate import simulate_plan
from planning_core.planning.masks import bounding_box
from planning_core.planning.metrics import margin_zone_mask, signed_ablative_margin
from planning_core.planning.optimizer.parallel import SimulationBatch, simulation_workers
from planning_core.planning.optimizer.verify import CHECK_MARGIN_MM
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.results import RobustnessSummary
from planning_core.progress import CancelToken, ProgressCallback
from planning_core.thermal.probes import ProbeLibrary, ProbeModel

ROBUSTNESS_SPACING_MM = 3.0
#: Crop around the tumor + margin on which margins are measured.
CROP_PAD_MM = 5.0


@dataclass(frozen=True, eq=False)
class RobustnessResult:
    """Monte-Carlo placement-error analysis of one plan.

    Attributes
    ----------
    summary : RobustnessSummary
        What the plan file stores (``metrics.robustness``).
    coverage_percent : ndarray, shape (samples,)
        Coverage of tumor + margin by the lethal isotherm in each sample.
    margin_mm : ndarray, shape (samples,)
        Signed minimal ablative margin of each sample (NaN without a lethal zone).
    nominal_coverage_percent : float
        Coverage of the unperturbed plan on the same coarse grid.
    coverage_bias_percent, margin_bias_mm : float
        Grid-bias corrections added to every sample (0 without fresh metrics).
    """

    summary: RobustnessSummary
    coverage_percent: NDArray[np.float64]
    margin_mm: NDArray[np.float64]
    nominal_coverage_percent: float
    coverage_bias_percent: float = 0.0
    margin_bias_mm: float = 0.0


def perturbed_probes(
    probes: tuple[PlannedProbe, ...], rng: np.random.Generator, error_mm: float
) -> tuple[PlannedProbe, ...]:
    """``probes`` with tip and entry each moved by a random vector of RMS length ``error_mm``."""
    sigma = error_mm / np.sqrt(3.0)
    moved = []
    for probe in probes:
        tip = np.asarray(probe.tip_lps_mm) + rng.normal(0.0, sigma, 3)
        entry = np.asarray(probe.entry_lps_mm) + rng.normal(0.0, sigma, 3)
        moved.append(PlannedProbe(probe.model_id, tip, entry, probe.label))
    return tuple(moved)


def assess_robustness(
    plan: Plan,
    volume: Volume | None,
    label_map: LabelMap,
    *,
    tip_error_mm: float = 3.0,
    samples: int = 30,
    seed: int = 0,
    spacing_mm: float = ROBUSTNESS_SPACING_MM,
    coverage_goal_percent: float | None = None,
    probe_library: ProbeLibrary | dict[str, ProbeModel] | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> RobustnessResult:
    """Probability that ``plan`` still reaches its margin under placement error.

    Parameters
    ----------
    plan : Plan
        Probes, protocol, margin and lethal isotherm.
    volume : Volume, optional
        The image (tissue classes of unlabelled CT voxels).
    label_map : LabelMap
        Tumor and tissues.
    tip_error_mm : float
        RMS length of the random displacement of each tip and entry (0-20 mm).
    samples : int
        Number of perturbed plans (1-1000).
    seed : int
        Random seed; the same seed gives the same result.
    spacing_mm : float
        Simulation grid of the samples.
    coverage_goal_percent : float, optional
        Coverage counted as reaching the margin; the plan's goal
        (``settings.coverage_goal_percent``) by default.
    probe_library : ProbeLibrary or dict, optional
        Probe models by id; the packaged library by default.
    workers : int, optional
        Simulations run at once (:func:`.parallel.simulation_workers` by default);
        the result does not depend on it.
    progress, cancel
        Progress callback and cancel token (polled between and within samples).

    Returns
    -------
    RobustnessResult
    """
    check_robustness_options(tip_error_mm=tip_error_mm, samples=samples)
    if not plan.probes:
        raise InvalidParameterError("the plan has no probes; nothing to assess.")
    settings = plan.settings
    tumor_full = label_map.mask(plan.target_label)
    spacing_kji = np.asarray(label_map.geometry.spacing_kji_mm)
    pad = np.ceil((settings.zone_margin_mm + CROP_PAD_MM) / spacing_kji).astype(int) + 1
    box = bounding_box(tumor_full, pad)
    if box is None:
        raise InvalidParameterError(
            f"label {plan.target_label!r} is empty; segment the tumor before assessing the plan."
        )
    crop = label_map.geometry.cropped(
        tuple(s.start for s in box), tuple(s.stop - s.start for s in box)
    )
    tumor = tumor_full[box]
    # The zone of the goal in force: a visible-ice plan is judged by its 0 °C edge.
    zone = margin_zone_mask(tumor, crop, settings.zone_margin_mm)
    rng = np.random.default_rng(seed)
    # Drawn in sample order before any runs, so that threads cannot change them.
    probe_sets = [plan.probes] + [
        perturbed_probes(plan.probes, rng, tip_error_mm) for _ in range(samples)
    ]
    measure = partial(
        _measure, plan, volume, label_map, spacing_mm, probe_library, crop, tumor, zone
    )
    tasks = [partial(measure, probes) for probes in probe_sets]
    workers = simulation_workers() if workers is None else max(int(workers), 1)
    batch = SimulationBatch(tasks, background=workers - 1, cancel=cancel)
    runs = batch.results(progress, "Placement-error sample")
    (nominal, nominal_margin), sampled = runs[0], runs[1:]
    if coverage_goal_percent is None:
        coverage_goal_percent = settings.coverage_goal_percent
    # The plan's verified metrics, when it has them, correct the coarse grid's bias.
    coverage_bias = margin_bias = 0.0
    if not plan.metrics_stale():
        verified_coverage = goal_coverage_percent(plan.metrics, settings)
        verified_margin = goal_margin_mm(plan.metrics, settings)
        if verified_coverage is not None:
            coverage_bias = verified_coverage - nominal
        if verified_margin is not None and np.isfinite(nominal_margin):
            margin_bias = verified_margin - nominal_margin
    coverages = np.array([min(c + coverage_bias, 100.0) for c, _ in sampled])
    margins = np.array([m + margin_bias for _, m in sampled])
    if progress is not None:
        progress(1.0, "Robustness ready")
    finite = bool(np.all(np.isfinite(margins)))
    summary = RobustnessSummary(
        tip_error_mm=float(tip_error_mm),
        samples=samples,
        seed=int(seed),
        probability=float(np.mean(coverages >= coverage_goal_percent)),
        coverage_goal_percent=float(coverage_goal_percent),
        coverage_mean_percent=float(coverages.mean()),
        coverage_p05_percent=float(np.percentile(coverages, 5.0)),
        margin_mean_mm=float(margins.mean()) if finite else None,
        margin_p05_mm=float(np.percentile(margins, 5.0)) if finite else None,
        grid_spacing_mm=float(spacing_mm),
        zone_isotherm_c=float(settings.zone_isotherm_c),
        zone_margin_mm=float(settings.zone_margin_mm),
    )
    return RobustnessResult(summary, coverages, margins, nominal, coverage_bias, margin_bias)


def check_robustness_options(*, tip_error_mm: float, samples: int) -> None:
    """Raise :class:`InvalidParameterError` for a placement error or sample count out of range
    (the optimizer checks them before its search, not after)."""
    if not (0.0 <= tip_error_mm <= 20.0):
        raise InvalidParameterError(f"tip_error_mm must lie in 0-20 mm, got {tip_error_mm!r}.")
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= 1000:
        raise InvalidParameterError(f"samples must be a whole number 1-1000, got {samples!r}.")


def _measure(
    plan: Plan,
    volume: Volume | None,
    label_map: LabelMap,
    spacing_mm: float,
    probe_library: ProbeLibrary | dict[str, ProbeModel] | None,
    crop: Geometry,
    tumor: NDArray[np.bool_],
    zone: NDArray[np.bool_],
    probes: tuple[PlannedProbe, ...],
    cancel: CancelToken,
) -> tuple[float, float]:
    """Coverage of the zone and signed minimal margin of ``plan`` with ``probes`` instead."""
    result = simulate_plan(
        plan.with_probes(probes), volume, label_map, spacing_mm=spacing_mm,
        probe_library=probe_library, margin_mm=CHECK_MARGIN_MM, cancel=cancel,
    )  # fmt: skip
    isotherm = plan.settings.zone_isotherm_c
    dose = result.resampled(crop)
    coverage = 100.0 * float(np.mean(dose[zone] <= isotherm))
    margin = signed_ablative_margin(dose, tumor, crop, isotherm).minimum_mm
    return coverage, np.nan if margin is None else margin
