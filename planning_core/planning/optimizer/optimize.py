"""The plan optimizer: fewest probes, then shortest freeze, that cover tumor + margin safely.

Order of work (each step is cheap relative to the next):

1. Prepare: host tissue, tumor + margin zone, organ guards, path context,
   candidate insertion directions from the feasible entry map.
2. Surrogate search (:mod:`.search`, :mod:`.surrogate`): for 1, 2, ... probes,
   the best layout along each candidate direction with the longest protocol
   of the family; the first count whose layout covers the zone is kept, and
   its freeze is shortened while the surrogate still covers. The search aims
   at the whole zone, since the minimal margin the plan is judged by (minimal
   ablative margin, or the 0 °C edge under visible ice) is a worst-point
   measure; when no layout covers the whole zone clear of the organs, or no
   such plan passes within :data:`WHOLE_ZONE_ROUNDS` solver rounds, it settles
   for the coverage goal and the plan reports its margin as failing. Under
   visible ice the freeze stays within the standard protocol
   (:func:`planned_freeze_limit_s`).
3. Coarse solver check (2-mm grid, real tissues and vessels). A miss
   (a vessel's heat sink, perfused organ tissue the single-probe kernel did
   not see) recalibrates the surrogate to the solver and resumes step 2 from
   the same probe count: the search then lengthens the freeze, reshapes the
   layout (toward the warm side) or adds a probe.
4. Full verification (1-mm grid) with :func:`~planning_core.planning.evaluate.evaluate_plan`,
   on every core numba may use (slabs of planes); the reported metrics come only
   from it. A miss recalibrates as in 3.
5. Robustness (:mod:`.robustness`) of the verified plan, its placement-error
   samples side by side on those cores (:mod:`.parallel`); for an organ no
   layout keeps clear, the protection proposed (hydrodissection,
   :func:`~planning_core.thermal.protection.propose_protection`).

Why the verification, not the samples beside it, takes the second core: the
samples used to start beside each verification on the chance that it passed,
but the kidney sample verifies four plans before one passes, and the samples of
the three that failed were lost (63 simulations); on an idle machine the
verification's two slabs run it 1.8 times as fast. (On a machine loaded by
other work, a slab that waits for its core holds the other at each stage.)

When no layout meets the goals within the limits, :class:`InfeasiblePlanError`
names the blocking constraint and carries the best partial plan.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np
from numpy.typing import NDArray

from planning_core.errors import InfeasiblePlanError, InvalidParameterError
from planning_core.figures import format_coverage_percent
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.acceptance import (
    SETTING_OPTIONS,
    Acceptance,
    AcceptanceCheck,
    CheckKind,
    accept_plan,
    goal_coverage_percent,
    simulated_protection,
)
from planning_core.planning.approach import (
    Approach,
    ApproachRules,
    approach_for_case,
    record_approach,
    refusal_counts,
)
from planning_core.planning.case_reference import CaseReference
from planning_core.planning.entry_map import CRANIOCAUDAL_ANGLE, ENTRY_DOWN_SIDE, GANTRY
from planning_core.planning.evaluate import (
    SIMULATION_MARGIN_MM,
    PlanEvaluation,
    case_body_mask,
    evaluate_plan,
)
from planning_core.planning.optimizer.candidates import (
    CandidateDirection,
    ShaftIce,
    blocking_summary,
    candidate_directions,
)
from planning_core.planning.optimizer.duration import (
    default_family_name,
    protocol_family,
    reference_protocol,
)
from planning_core.planning.optimizer.layout import rule_of_thumb_probe_count
from planning_core.planning.optimizer.parallel import SimulationBatch, simulation_workers
from planning_core.planning.optimizer.problem import (
    PlanningProblem,
    host_label,
    host_tissue,
    prepare_problem,
)
from planning_core.planning.optimizer.robustness import (
    RobustnessResult,
    assess_robustness,
    check_robustness_options,
)
from planning_core.planning.optimizer.search import Layout, LayoutSearch
from planning_core.planning.optimizer.surrogate import (
    ProbeKernel,
    probe_kernel,
    surrogate_temperature_c,
)
from planning_core.planning.optimizer.verify import (
    CHECK_HEADROOM_PERCENT,
    MARGIN_CHECKS,
    CheckResult,
    blocking_failures,
    coarse_check,
    coarse_problems,
    heat_sink_note,
    reach_offsets_mm,
)
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.plan_approach import PlannedProtection
from planning_core.planning.settings import VISIBLE_ICE_MAX_FREEZE_S, PlanGoal, PlanSettings
from planning_core.planning.trajectory import TrajectoryContext
from planning_core.progress import CancelToken, ProgressCallback, sub_progress
from planning_core.thermal.probes import ProbeLibrary, ProbeModel, load_probe_library
from planning_core.thermal.protection import ProtectionProposal, propose_protection
from planning_core.thermal.protocol import Protocol
from planning_core.thermal.result import SimulationResult

#: Surrogate share of the zone the search aims at first: all of it. The minimal margin
#: the plan is judged by is a worst-point measure, met only when the goal's isotherm
#: encloses the whole zone; a share of the zone (the coverage goal) can leave its
#: warm voxels exactly where the margin is measured.
WHOLE_ZONE = 1.0
#: Goals whose search aims at the whole zone first. Under lethal margin the search aims at
#: the coverage goal: on the kidney sample the whole lethal zone is not coverable without
#: freezing bowel and colon, and the fallback search then found no plan (open work).
WHOLE_ZONE_GOALS = (PlanGoal.VISIBLE_ICE,)
#: Solver rounds spent on covering the whole zone before settling for the coverage goal.
WHOLE_ZONE_ROUNDS = 3
#: When no layout covers the whole zone, the surrogate must beat the coverage goal by
#: this much (percentage points) to be worth a solver run.
SURROGATE_HEADROOM_PERCENT = 0.5
#: A count's best coarse layout is refined when its surrogate coverage is this close to the goal.
REFINE_WITHIN = 0.15
#: Full verifications and solver rounds (check + possibly verification) before giving up.
MAX_VERIFICATIONS = 3
MAX_SOLVER_ROUNDS = 6
#: Solver rounds whose coarse check must beat the goal by CHECK_HEADROOM_PERCENT.
HEADROOM_ROUNDS = 2
#: Bisection steps of the surrogate calibration.
CALIBRATION_STEPS = 12
#: Largest local correction of the surrogate (°C) either way.
MAX_CORRECTION_C = 60.0
#: Raise of the surrogate temperature organ guards must keep after the solver froze one.
GUARD_STEP_C = 10.0
#: Shaft length under the skin beyond the freezing segment (keeps the ice off the skin).
SKIN_CLEARANCE_MM = 5.0
#: Cryogen preferred for tumors hosted by these labels (small superficial targets).
LIQUID_NITROGEN_HOSTS = ("breast_tissue",)


@dataclass(frozen=True, eq=False)
class OptimizationResult:
    """The optimized, verified plan and how it was found.

    Attributes
    ----------
    plan : Plan
        Probes, protocol and verified metrics (robustness included when run).
    acceptance : Acceptance
        The plan's checks (:func:`~planning_core.planning.acceptance.accept_plan`).
        The search meets coverage, protected organs and paths; a check it cannot
        act on (the minimal ablative margin, an organ needing protection) may
        still fail, and then the plan does not pass: ``acceptance.passed`` is False.
    evaluation : PlanEvaluation
        The full verification.
    simulation : SimulationResult
        The verification simulation (``evaluation.simulation``).
    robustness : RobustnessResult or None
    runtime_s : float
    log : tuple of str
        What the optimizer tried and decided, one readable line each.
    rule_of_thumb_probes : int
        Probe count of the rule-of-thumb layout (:mod:`.layout`).
    needs_protection : tuple of str
        Organs that cannot keep their clearance, with the advised measure.
    protection : tuple of ProtectionProposal
        The measures proposed for those organs
        (:func:`~planning_core.thermal.protection.propose_protection` on the
        verification simulation): a hydrodissection layer between tumor and organ.
        Not yet applied: recording them in the plan applies them in evaluation.
    context : TrajectoryContext
        The path analysis the plan was checked with (clearance zones, hazards on
        the CT): evaluating the plan again, with that protection, reuses it.
        Always set by :func:`optimize_plan`.
    """

    plan: Plan
    acceptance: Acceptance
    evaluation: PlanEvaluation
    simulation: SimulationResult
    robustness: RobustnessResult | None
    runtime_s: float
    log: tuple[str, ...]
    rule_of_thumb_probes: int
    needs_protection: tuple[str, ...]
    protection: tuple[ProtectionProposal, ...] = ()
    context: TrajectoryContext | None = None


def default_probe_model(library: ProbeLibrary, host: str) -> ProbeModel:
    """The library's default of the preferred cryogen (liquid nitrogen for breast, else
    argon); without one, the widest probe of that cryogen."""
    cryogen = "liquid_nitrogen" if host in LIQUID_NITROGEN_HOSTS else "argon"
    default = library.default_model(cryogen)
    if default is not None:
        return default
    models = [m for m in library.models.values() if m.cryogen == cryogen]
    models = models or list(library.models.values())
    return max(models, key=lambda m: (m.diameter_mm, m.active_length_mm))


class _Optimizer:
    """State of one optimization run (kept out of the public function for readability)."""

    def __init__(
        self,
        volume: Volume | None,
        label_map: LabelMap,
        problem: PlanningProblem,
        context: TrajectoryContext,
        model: ProbeModel,
        family: tuple[Protocol, ...],
        directions: tuple[CandidateDirection, ...],
        case: CaseReference | None,
        goal_percent: float,
        log: list[str],
        cancel: CancelToken | None,
        coverage_problem: PlanningProblem,
        *,
        whole_zone: bool,
    ) -> None:
        self.volume = volume
        self.label_map = label_map
        self.problem = problem
        self.context = context
        self.model = model
        self.family = family
        self.directions = directions
        self.case = case
        self.goal_percent = goal_percent
        #: The zone the coverage goal measures (no surface allowance).
        self.coverage_problem = coverage_problem
        self.log = log
        self.cancel = cancel
        #: The fallback goal when no layout covers the whole zone (the margin then fails).
        self.coverage_goal = min(goal_percent + SURROGATE_HEADROOM_PERCENT, 100.0) / 100.0
        goal = WHOLE_ZONE if whole_zone else self.coverage_goal
        self.search = LayoutSearch(problem, context, goal, cancel)
        self.best_partial: tuple[int, float, Plan] | None = None
        #: Why the best plan so far failed its checks (for the infeasibility message).
        self.best_problems: tuple[str, ...] = ()
        self.scale = 1.0
        self.last_simulation: SimulationResult | None = None
        #: Organs the ice of every covering layout came too near: hydrodissection keeps
        #: them clear instead (:meth:`protect_frozen`), checked by the full simulation.
        self.fluid_protected: set[str] = set()
        #: Whether a layout that reached the goal on the surrogate but not its headroom went
        #: to the solver check rather than being refused (once per search: _surrogate_stage).
        self.tried_near_goal = False
        #: The organs that made the last surrogate stage refuse (set by :func:`_infeasible`).
        self.frozen_at_refusal: tuple[str, ...] = ()
        #: Per organ, how much farther the coarse check's ice lay than the verification's
        #: (:meth:`learn_reach`).
        self.reach_offsets_mm: dict[str, float] = {}

    @property
    def aims_at_margin(self) -> bool:
        """Whether the search still aims at the whole zone (and so at the minimal margin)."""
        return self.search.goal >= WHOLE_ZONE

    def settle_for_coverage(self, reason: str) -> None:
        """Search as for the coverage goal alone from now on; the margin will fall short.

        The zone becomes the one the coverage goal measures, and the surrogate
        forgets what the solver runs taught it (size, local corrections, guard
        temperature): runs of layouts covering the whole zone froze organs and
        warmed the guards more than layouts meeting the coverage goal do.
        """
        self.problem = self.coverage_problem
        self.search = dataclasses.replace(
            self.search,
            problem=self.problem,
            goal=self.coverage_goal,
            guard_temperature_c=0.0,
            zone_correction_c=np.zeros(0),
            guard_corrections_c=[],
        )
        self.scale = 1.0
        self.log.append(
            f"{reason}: searching for {self.goal_percent:g} % coverage instead (the minimal "
            "margin will fall short)"
        )

    def protectable(self, names: Iterable[str]) -> set[str]:
        """Those of ``names`` that are hard-guarded organs fluid can separate from the tumor
        (an organ touching the tumor cannot be; the skin takes warm packs, not fluid)."""
        wanted = set(names) - NOT_DISPLACEABLE
        return {
            g.name
            for g in self.problem.guards
            if g.name in wanted and not g.needs_protection and g.distance_to_tumor_mm > 0.0
        }

    def protect_frozen(self) -> bool:
        """Let the ice near the organs that made the search refuse; False when none can be.

        Covering the zone froze them in every layout: they are protected
        (:meth:`protect`) and the search starts again.
        """
        organs = self.protectable(self.frozen_at_refusal)
        self.frozen_at_refusal = ()
        if not organs:
            return False
        self.protect(organs)
        self.log.append(
            f"covering the zone brings the ice within the clearance of {', '.join(sorted(organs))}"
            " in every layout: searching again with hydrodissection planned for it"
        )
        return True

    def protect(self, organs: set[str]) -> None:
        """Plan hydrodissection for ``organs`` instead of keeping the ice away from them.

        They become soft guards, as organs needing protection are, and
        :func:`optimize_plan` simulates the plan with the hydrodissection it
        proposes for them (:func:`_verified_with_protection`).
        """
        self.fluid_protected |= organs

        def soften(problem: PlanningProblem) -> PlanningProblem:
            guards = tuple(
                dataclasses.replace(g, needs_protection=True) if g.name in organs else g
                for g in problem.guards
            )
            return dataclasses.replace(problem, guards=guards)

        self.problem = soften(self.problem)
        self.coverage_problem = soften(self.coverage_problem)
        self.search = dataclasses.replace(self.search, problem=self.problem)

    def kernel(self, index: int) -> ProbeKernel:
        base = probe_kernel(self.model, self.family[index].code, self.problem.host_tissue)
        return base.scaled(self.scale)

    def plan(self, layout: Layout, protocol: Protocol) -> Plan:
        probes = tuple(
            PlannedProbe(self.model.id, tuple(tip), tuple(entry), f"P{number}")
            for number, (tip, entry) in enumerate(
                zip(layout.tips_lps_mm, layout.entries_lps_mm, strict=True), start=1
            )
        )
        return Plan(
            probes=probes,
            protocol=protocol.code,
            settings=self.problem.settings,
            case=self.case,
            target_label=self.problem.target_label,
        ).with_step_warnings(
            "optimizer",
            (
                *(
                    g.advice()
                    for g in self.problem.guards
                    if g.needs_protection and g.name not in self.fluid_protected
                ),
                *(
                    f"no probe layout covering the zone keeps the {name} clear of the ice: "
                    "hydrodissection is planned for it"
                    for name in sorted(self.fluid_protected)
                ),
                *freeze_cap_notes(self.problem.settings),
            ),
        )

    def remember(
        self, coverage_percent: float, plan: Plan, *, evidence: int, problems: Iterable[str] = ()
    ) -> None:
        """Keep the best plan so far, and why it failed, for an infeasibility report.

        ``evidence`` ranks where the coverage comes from: 0 surrogate, 1 coarse
        solver run, 2 full verification; better evidence wins over coverage.
        """
        if self.best_partial is None or (evidence, coverage_percent) > self.best_partial[:2]:
            self.best_partial = (evidence, coverage_percent, plan)
            self.best_problems = tuple(problems)

    def partial_plan(self) -> Plan | None:
        return None if self.best_partial is None else self.best_partial[2]

    def heat_sink_note(self) -> str:
        """Why the last solver run fell short, when a vessel's heat sink explains it."""
        if self.last_simulation is None:
            return ""
        return heat_sink_note(self.problem, self.last_simulation)

    # -- surrogate stage ------------------------------------------------------------------
    def best_for_count(
        self, count: int, protocol_index: int
    ) -> tuple[Layout, CandidateDirection] | None:
        """Best layout of ``count`` probes over the candidate directions.

        Every direction gets the coarse grid; only the most promising one is
        refined, and only when it comes near the goal (refining hopeless counts
        costs time and changes no decision).
        """
        kernel = self.kernel(protocol_index)
        starts = []
        for direction in self.directions:
            layout = self.search.coarse_layout(count, direction.insertion_lps, kernel)
            if layout is not None:
                starts.append((layout, direction))
        if not starts:
            return None
        layout, direction = max(starts, key=lambda item: item[0].score)
        if layout.coverage >= self.search.goal - REFINE_WITHIN:
            layout = self.search.refine(layout, direction.insertion_lps, kernel)
        return layout, direction

    def shortest_covering(
        self, count: int, layout: Layout, direction: CandidateDirection, top: int
    ) -> tuple[Layout, int]:
        """Shorten the freeze from protocol ``top`` while the surrogate still covers."""
        chosen, chosen_index = layout, top
        for index in range(top - 1, -1, -1):
            shorter = self.search.best_layout(
                count, direction.insertion_lps, self.kernel(index), start=chosen.parameters
            )
            if shorter is None or not shorter.meets(self.search.goal):
                break
            chosen, chosen_index = shorter, index
        return chosen, chosen_index

    def calibrate(self, layout: Layout, index: int, simulation: SimulationResult) -> float:
        """Bring the surrogate in line with a solver run of ``layout``.

        Two corrections, both keeping the surrogate no more optimistic than
        the solver was:

        * a global size factor of the single-probe iceball (tissue the kernel
          did not see: perfused kidney around fat, aerated lung): bisection so
          that ``layout`` covers on the surrogate what it covered in the
          solver (never growing);
        * a local additive correction, per zone and guard sample point, of
          what the solver found warmer (the heat sink of a vessel warms one
          side of the zone whatever the layout), keeping the warmest seen.

        Returns the size factor.
        """
        axes = -layout.insertions_lps
        tips = layout.tips_lps_mm
        points = self.problem.sample_points_lps_mm
        lethal = self.problem.settings.zone_isotherm_c
        base = probe_kernel(self.model, self.family[index].code, self.problem.host_tissue)
        solver = simulation.temperature_at(points)
        target = float(np.mean(solver <= lethal))
        low, high = 0.5 * self.scale, self.scale
        for _ in range(CALIBRATION_STEPS):
            middle = 0.5 * (low + high)
            field = surrogate_temperature_c(base.scaled(middle), tips, axes, points)
            covered = float(np.mean(field + self.search.zone_correction_c <= lethal))
            low, high = (middle, high) if covered < target else (low, middle)
        self.scale = high
        kernel = base.scaled(self.scale)
        surrogate = surrogate_temperature_c(kernel, tips, axes, points)
        self.search.zone_correction_c = _warmest(self.search.zone_correction_c, solver - surrogate)
        for number, guard in enumerate(self.problem.guards):
            found = simulation.temperature_at(guard.points_lps_mm)
            guess = surrogate_temperature_c(kernel, tips, axes, guard.points_lps_mm)
            corrections = self.search.guard_corrections_c
            corrections[number] = _warmest(corrections[number], found - guess)
        return self.scale

    def learn_reach(self, check: CheckResult, evaluation: PlanEvaluation) -> None:
        """Remember how much farther from each organ the coarse grid put the ice than the
        verification of the same plan (the largest seen: predictions err towards a miss,
        which the end of the search verifies anyway)."""
        for name, offset in reach_offsets_mm(check, evaluation.metrics).items():
            self.reach_offsets_mm[name] = max(offset, self.reach_offsets_mm.get(name, offset))

    def grow_guards(self) -> None:
        """The solver froze a protected organ the surrogate spared: guard it more widely."""
        self.search.guard_temperature_c += GUARD_STEP_C
        self.log.append(
            f"organ guards now keep the surrogate above {self.search.guard_temperature_c:g} °C"
        )


def optimize_plan(
    volume: Volume | None,
    label_map: LabelMap,
    *,
    settings: PlanSettings | None = None,
    probe_model: ProbeModel | str | None = None,
    target_label: str = "tumor",
    protocol_family_name: str | tuple[str, ...] | None = None,
    robustness_samples: int = 20,
    robustness_tip_error_mm: float = 3.0,
    robustness_seed: int = 0,
    verify_spacing_mm: float = 1.0,
    verify_box_margin_mm: float = SIMULATION_MARGIN_MM,
    direction_count: int = 3,
    case: CaseReference | None = None,
    body_mask: NDArray[np.bool_] | None = None,
    probe_library: ProbeLibrary | None = None,
    approach_rules: ApproachRules | None = None,
    approach: Approach | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> OptimizationResult:
    """Find the plan with the fewest probes and the shortest freeze that covers the target.

    Parameters
    ----------
    volume : Volume, optional
        The planning image (tissue classes of unlabelled CT voxels, body outline).
    label_map : LabelMap
        Tumor, organs at risk and anatomy on the image grid.
    settings : PlanSettings, optional
        Coverage goal, margin, lethal isotherm, clearances and limits (defaults
        otherwise).
    probe_model : ProbeModel or str, optional
        The probe model or its library id; by default the widest liquid-nitrogen
        probe for breast tumors and the widest argon probe otherwise.
    target_label : str
        The tumor label.
    protocol_family_name : str or tuple of str, optional
        Family name (:data:`.duration.PROTOCOL_FAMILIES`) or protocol codes to
        choose the freeze from; by default by cryogen and host organ.
    robustness_samples : int
        Monte-Carlo samples of placement error (0 skips the analysis).
    robustness_tip_error_mm : float
        RMS placement error of tips and entries.
    robustness_seed : int
    verify_spacing_mm : float
        Grid of the full verification simulation.
    verify_box_margin_mm : float
        Simulation box margin around the probes in that simulation.
    direction_count : int
        Candidate insertion directions searched.
    case : CaseReference, optional
        Stored in the plan; made from ``volume`` by default.
    body_mask : ndarray of bool, optional
        Body outline on the label grid; :func:`case_body_mask` by default.
    probe_library : ProbeLibrary, optional
        The packaged library by default.
    approach : Approach, optional
        The case's approach prepared by the caller
        (:func:`~planning_core.planning.approach.approach_for_case`, e.g. with
        the position read from the image header); it wins over ``approach_rules``.
        With either, the plan records the approach (``plan.approach``) and how
        many candidate entries it refused.
    approach_rules : ApproachRules, optional
        When given (and ``volume`` too), entries also follow the approach rules
        of :mod:`planning_core.planning.approach`: none on the side the patient
        lies on (the table found on the CT, else ``settings.patient_position``),
        probe handles inside the gantry bore, the position's angle limits. Off
        by default.
    progress, cancel
        Progress callback and cancel token.

    Returns
    -------
    OptimizationResult

    Raises
    ------
    InfeasiblePlanError
        When no plan meets the goals within the limits; ``best_partial_plan``
        holds the best plan found.
    """
    started = time.perf_counter()
    if robustness_samples > 0:
        check_robustness_options(tip_error_mm=robustness_tip_error_mm, samples=robustness_samples)
    settings = settings or PlanSettings()
    coverage_goal_percent = settings.coverage_goal_percent
    log: list[str] = []
    step = sub_progress(progress, 0.0, 0.15)
    step(0.0, "Preparing the case")
    if volume is not None:
        volume.geometry.require_match(label_map.geometry, what="image and label map")
    if not label_map.has(target_label) or not label_map.mask(target_label).any():
        raise InvalidParameterError(
            f"the label map has no (or an empty) {target_label!r} label; segment the tumor first."
        )
    library = probe_library or load_probe_library()
    host = host_label(label_map, label_map.mask(target_label))
    if isinstance(probe_model, str):
        model = library.get(probe_model)
    else:
        model = probe_model or default_probe_model(library, host)
    family = protocol_family(
        protocol_family_name or default_family_name(model, host),
        max_total_freeze_s=planned_freeze_limit_s(settings),
    )
    reference = reference_protocol(family)
    # The reference kernel and the longest freeze's (where the search starts) are always
    # needed: simulated beside the path preparation, which does not use them.
    kernels = SimulationBatch(
        [
            partial(_kernel_task, model, code, host_tissue(host))
            for code in dict.fromkeys((reference.code, family[-1].code))
        ],
        background=simulation_workers() - 1,
        cancel=cancel,
    )
    try:
        if body_mask is None:
            body_mask = case_body_mask(volume, label_map)
        context = TrajectoryContext(
            label_map, settings, body_mask=body_mask, target_label=target_label, volume=volume,
            progress=sub_progress(step, 0.0, 0.6), cancel=cancel,
        )  # fmt: skip
    except BaseException:
        kernels.abandon()
        raise
    step(0.6, f"Simulating one {model.id} probe ({reference.code})")
    kernel = kernels.results()[0]
    # The goal's isotherm: lethal, or the 0 °C edge itself for visible ice (no gap then).
    lethal_radius = kernel.radius_mm(settings.zone_isotherm_c)
    ice_gap = kernel.radius_mm(0.0) - lethal_radius
    problem = prepare_problem(label_map, settings, target_label=target_label, ice_gap_mm=ice_gap)
    # The zone the coverage goal measures: directions, rule of thumb and the fallback search.
    plain = prepare_problem(
        label_map, settings, target_label=target_label, ice_gap_mm=ice_gap,
        surface_allowance_voxels=0.0,
    )  # fmt: skip
    rule = rule_of_thumb_probe_count(plain.zone_diameter_mm, lethal_radius)
    log.append(
        f"goal {settings.goal.value}; target: {plain.zone_diameter_mm:.1f} mm wide with the "
        f"{settings.zone_margin_mm:g} mm margin, in {host or 'unlabelled tissue'} "
        f"({problem.host_tissue}); one {model.id} probe ({reference.code}) reaches "
        f"{settings.zone_isotherm_c:g} °C {2 * lethal_radius:.1f} mm wide, ice edge "
        f"{ice_gap:.1f} mm beyond; "
        f"rule of thumb: {rule} probe(s)"
    )
    for guard in problem.guards:
        if guard.needs_protection:
            log.append(f"needs protection: {guard.advice()}")
    # The freezing segment must lie under the skin.
    min_path_mm = model.tip_offset_mm + model.active_length_mm + SKIN_CLEARANCE_MM
    allow_leaving_image = volume is not None and volume.modality == "US"
    if approach is None and approach_rules is not None and volume is not None:
        approach = approach_for_case(
            volume, body_mask=body_mask, position=settings.patient_position, rules=approach_rules
        )
    if approach is not None:
        log.append(f"approach: {approach.describe()}")
        log.extend(f"approach: {note}" for note in approach.notes)
    directions, entry_map = candidate_directions(
        context, plain.centroid_lps_mm, count=direction_count, min_path_mm=min_path_mm,
        allow_leaving_image=allow_leaving_image, target_points_lps_mm=plain.sample_points_lps_mm,
        shaft_ice=_shaft_ice(plain, kernel, ice_gap), approach=approach,
    )  # fmt: skip
    approach_record = None
    if approach is not None:
        # Count only what the approach rules take away: entries the path checks allow.
        rule_flags = np.uint8(ENTRY_DOWN_SIDE | GANTRY | CRANIOCAUDAL_ANGLE)
        other_refused = ((entry_map.reasons & ~rule_flags) != 0) | (
            np.abs(entry_map.craniocaudal_deg) > settings.max_craniocaudal_angle_deg
        )
        candidates, refused, per_reason = refusal_counts(
            approach, entry_map.entries_lps_mm, -entry_map.directions_lps,
            entry_map.path_length_mm, other_refused=other_refused,
        )  # fmt: skip
        approach_record = record_approach(
            approach, candidate_entries=candidates, refused_total=refused,
            refused_entries=per_reason,
        )  # fmt: skip
        log.append(f"approach: {approach_record.describe_refusals()}")
    if not directions:
        raise InfeasiblePlanError(
            "no safe straight path reaches the tumor: " + blocking_summary(entry_map) + ". "
            "Relax the path clearance or the max craniocaudal angle (optimizer panel: "
            f"{_options('default_path_clearance_mm', 'max_craniocaudal_angle_deg')}), or change "
            "the patient position.",
            best_partial_plan=None,
        )
    for direction in directions:
        log.append(
            f"candidate direction {np.round(direction.insertion_lps, 2).tolist()}: path "
            f"{direction.path_length_mm:.0f} mm, craniocaudal {direction.craniocaudal_deg:.0f}°"
        )
    # Visible ice aims at the whole zone first. Lethal margin keeps the coverage search:
    # covering the whole lethal zone brought the ice onto the bowel of the kidney sample
    # and still missed its 5-mm margin, and its fallback did not find the plan the
    # coverage search finds (see WHOLE_ZONE_GOALS).
    whole_zone = settings.goal in WHOLE_ZONE_GOALS
    run = _Optimizer(
        volume, label_map, problem if whole_zone else plain, context, model, family, directions,
        case or (None if volume is None else CaseReference.for_volume(volume)),
        coverage_goal_percent, log, cancel,
        plain, whole_zone=whole_zone,
    )  # fmt: skip
    run.search.min_path_mm = min_path_mm
    run.search.allow_leaving_image = allow_leaving_image
    run.search.approach = approach
    evaluation, acceptance = _search_and_verify(
        run, settings, verify_spacing_mm, verify_box_margin_mm,
        sub_progress(progress, 0.15, 0.8),
    )  # fmt: skip
    failed = {
        o.name: o.distance_to_ice_mm
        for o in evaluation.metrics.oars
        if not o.clear and o.distance_to_ice_mm is not None
    }
    protection = _propose_protection(run.problem, evaluation.simulation, label_map, failed=failed)
    if run.fluid_protected and protection:
        evaluation, acceptance = _verified_with_protection(
            run, settings, evaluation, protection, verify_spacing_mm, verify_box_margin_mm
        )
    plan = evaluation.plan
    log.extend(f"proposed protection: {proposal.describe()}" for proposal in protection)
    robustness = None
    if robustness_samples > 0:
        robustness = assess_robustness(
            plan, volume, label_map, tip_error_mm=robustness_tip_error_mm,
            samples=robustness_samples, seed=robustness_seed,
            coverage_goal_percent=coverage_goal_percent, probe_library={model.id: model},
            progress=sub_progress(progress, 0.8, 1.0), cancel=cancel,
        )  # fmt: skip
        summary = robustness.summary
        plan = plan.with_metrics(dataclasses.replace(plan.metrics, robustness=summary))
        log.append(
            f"robustness: {100 * summary.probability:.0f} % of {summary.samples} plans with "
            f"{summary.tip_error_mm:g} mm placement error still cover "
            f"{summary.coverage_goal_percent:g} % of {summary.zone_text()}"
        )
    runtime = time.perf_counter() - started
    log.append(f"planned in {runtime:.1f} s")
    if progress is not None:
        progress(1.0, "Plan ready")
    if approach_record is not None:
        plan = dataclasses.replace(plan, approach=approach_record)
    return OptimizationResult(
        plan=plan,
        acceptance=acceptance,
        evaluation=evaluation,
        simulation=evaluation.simulation,
        robustness=robustness,
        runtime_s=runtime,
        log=tuple(log),
        rule_of_thumb_probes=rule,
        needs_protection=tuple(g.advice() for g in problem.guards if g.needs_protection),
        protection=protection,
        context=run.context,
    )


#: Labels hydrodissection does not displace: the skin (warm packs protect it) and the body.
NOT_DISPLACEABLE = frozenset({"skin", "body"})


def _verified_with_protection(
    run: _Optimizer,
    settings: PlanSettings,
    evaluation: PlanEvaluation,
    proposals: tuple[ProtectionProposal, ...],
    spacing_mm: float,
    box_margin_mm: float,
) -> tuple[PlanEvaluation, Acceptance]:
    """The verified plan simulated again with the proposed protection in place.

    The organs the search let the ice near (:meth:`_Optimizer.protect_frozen`)
    must then be clear, measured behind the fluid; otherwise the plan is refused
    as it was before protection was tried.

    Raises
    ------
    InfeasiblePlanError
        When the protection does not keep those organs clear.
    """
    notes = [w.text for w in evaluation.plan.warnings if w.source == "optimizer"]
    notes += [
        f"no probe layout covering the zone keeps the {name} clear of the ice: hydrodissection "
        "is planned for it"
        for name in sorted(run.fluid_protected)
    ]
    protected = dataclasses.replace(
        evaluation.plan,
        protection=tuple(PlannedProtection.from_proposal(p) for p in proposals),
    ).with_step_warnings("optimizer", tuple(dict.fromkeys(notes)))
    result = evaluate_plan(
        protected, run.volume, run.label_map, spacing_mm=spacing_mm, box_margin_mm=box_margin_mm,
        probe_library={run.model.id: run.model}, context=run.context,
        threads=simulation_workers(), cancel=run.cancel,
    )  # fmt: skip
    acceptance = accept_plan(
        result.metrics, settings, protection=simulated_protection(result.plan),
        allow_leaving_image=run.search.allow_leaving_image,
    )  # fmt: skip
    organs = acceptance.check(CheckKind.ORGANS)
    still = sorted(run.fluid_protected.intersection(organs.subjects))
    measures = "; ".join(p.describe() for p in proposals)
    if still:
        raise InfeasiblePlanError(
            f"covering the margin brings the ice edge within the clearance of "
            f"{', '.join(still)}, even with the proposed {measures} (constraint: organ-at-risk "
            f"clearance). Lower the margin ({_options(_margin_setting(settings))}) or the "
            f"organ's ice clearance ({_options('default_oar_clearance_mm')}).",
            best_partial_plan=result.plan,
        )
    run.log.append(f"simulated again with the proposed {measures}: {organs.value}")
    return result, acceptance


def _kernel_task(model: ProbeModel, code: str, tissue: str, cancel: CancelToken) -> ProbeKernel:
    """A surrogate kernel as a :class:`.parallel.SimulationBatch` task (cached by
    :func:`probe_kernel`)."""
    cancel.raise_if_cancelled()
    return probe_kernel(model, code, tissue)


def _propose_protection(
    problem: PlanningProblem,
    simulation: SimulationResult,
    label_map: LabelMap,
    *,
    failed: Mapping[str, float] | None = None,
) -> tuple[ProtectionProposal, ...]:
    """Protection for the organs no layout keeps clear (see :class:`.problem.OarGuard`).

    Only those organs: one the search could spare is spared by the layout, never
    by a measure the team has to carry out. The organs that ``failed`` the
    organs check (name -> their distance to the ice in the plan's metrics) get
    theirs even when the simulation grid puts them just beyond the clearance:
    its distances run between voxel centres, the check's to the organ's surface,
    which the proposal then states.
    """
    widened = dict(failed or {})
    voxel_mm = float(np.linalg.norm(simulation.geometry.spacing_mm))
    clearances = {g.name: g.clearance_mm for g in problem.guards if g.needs_protection}
    if not clearances:
        return ()
    searched = {
        name: clearance + (voxel_mm if name in widened else 0.0)
        for name, clearance in clearances.items()
    }
    proposals = propose_protection(simulation, label_map, searched, target=problem.target_label)
    # Each proposal states the organ's own clearance, not the widened one searched with.
    return tuple(
        dataclasses.replace(
            p,
            clearance_mm=clearances[p.structure],
            ice_distance_mm=max(widened.get(p.structure, p.ice_distance_mm), 0.0),
        )
        for p in proposals
    )


def planned_freeze_limit_s(settings: PlanSettings) -> float:
    """Longest total freeze the search may choose: the settings' limit, and under the
    visible-ice goal at most the standard protocol's (:data:`VISIBLE_ICE_MAX_FREEZE_S`)."""
    if settings.goal is PlanGoal.VISIBLE_ICE:
        return min(settings.max_total_freeze_s, VISIBLE_ICE_MAX_FREEZE_S)
    return settings.max_total_freeze_s


def freeze_cap_notes(settings: PlanSettings) -> tuple[str, ...]:
    """Say so when :func:`planned_freeze_limit_s` plans less freezing than the settings allow
    (a limit the user set must never be lowered in silence)."""
    limit_s = planned_freeze_limit_s(settings)
    if limit_s >= settings.max_total_freeze_s:
        return ()
    return (
        f"the visible-ice goal plans at most {limit_s / 60.0:g} min of freezing (the usual "
        f"10-8-10 protocol); the Max total freeze of {settings.max_total_freeze_s / 60.0:g} min "
        "(--max-freeze-min) was not used beyond it.",
    )


def _shaft_ice(problem: PlanningProblem, kernel: ProbeKernel, ice_gap_mm: float) -> ShaftIce:
    """The ice of a covering layout around its shafts (see :class:`.candidates.ShaftIce`).

    Tips are placed so that the lethal length is centred on the zone, so the
    0 °C edge reaches back along the shaft from the zone centre by the 0 °C
    reach beyond that centre; around it the ice spans the zone plus the gap.
    """
    lethal_deep, lethal_shallow = kernel.axial_reach_mm(problem.settings.zone_isotherm_c)
    _, ice_shallow = kernel.axial_reach_mm(0.0)
    guards = [g.points_lps_mm for g in problem.protected()]
    return ShaftIce(
        reach_mm=max(ice_shallow - 0.5 * (lethal_deep + lethal_shallow), 0.0),
        radius_mm=0.5 * problem.zone_diameter_mm + ice_gap_mm,
        guard_points_lps_mm=np.vstack(guards) if guards else np.zeros((0, 3)),
    )


def _warmest(old: NDArray[np.float64], new: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.maximum(old, np.clip(new, -MAX_CORRECTION_C, MAX_CORRECTION_C))


def _surrogate_stage(
    run: _Optimizer, settings: PlanSettings, first_count: int, progress: ProgressCallback
) -> tuple[Layout, int]:
    """Fewest probes from ``first_count`` on, then shortest freeze, covering on the surrogate."""
    last = len(run.family) - 1
    best_any: Layout | None = None
    for count in range(first_count, settings.max_probes + 1):
        progress(count / settings.max_probes, f"Searching layouts of {count} probe(s)")
        found = run.best_for_count(count, last)
        if found is None:
            run.log.append(f"{count} probe(s): no layout with safe paths and valid spacing")
            continue
        layout, direction = found
        if best_any is None or layout.score > best_any.score:
            best_any = layout
            run.remember(100.0 * layout.coverage, run.plan(layout, run.family[last]), evidence=0)
        run.log.append(
            f"{count} probe(s), {run.family[last].code}: surrogate covers "
            f"{100 * layout.coverage:.1f} % (protected organ zones frozen: "
            f"{100 * layout.hard_violation:.1f} %)"
        )
        if layout.meets(run.search.goal):
            shortest, index = run.shortest_covering(count, layout, direction, last)
            run.log.append(f"shortest covering freeze on the surrogate: {run.family[index].code}")
            return shortest, index
    if (
        best_any is not None
        and not run.aims_at_margin
        and best_any.meets(run.goal_percent / 100.0)
        and not run.tried_near_goal
    ):
        # Short only of the surrogate's headroom: the solver decides, once per search.
        run.tried_near_goal = True
        run.log.append(
            f"no layout beats the goal by the surrogate's {SURROGATE_HEADROOM_PERCENT:g} % "
            f"headroom; the best, at {100 * best_any.coverage:.1f} %, goes to the solver check"
        )
        return best_any, last
    raise _infeasible(run, best_any, settings)


def _search_and_verify(
    run: _Optimizer,
    settings: PlanSettings,
    verify_spacing_mm: float,
    verify_box_margin_mm: float,
    progress: ProgressCallback,
) -> tuple[PlanEvaluation, Acceptance]:
    """Surrogate search, solver checks and full verification, recalibrating after misses.

    A solver run that covers less than the surrogate promised shrinks the
    surrogate's iceball (:meth:`_Optimizer.calibrate`) until both agree on that
    layout; the search then resumes from the same probe count, so it can only
    move on to a longer freeze, a better layout or more probes.

    The search aims at the whole zone for :data:`WHOLE_ZONE_ROUNDS` solver
    rounds. Then the closest verified plan that fails only the goal's margin is
    returned; without one, the search starts over for the coverage goal alone
    (:meth:`_Optimizer.settle_for_coverage`), as it does at once when no layout
    covers the whole zone clear of the organs.

    A layout that covers but brings the ice within the clearance of organs that
    hydrodissection can separate from the tumor is a clearance miss. Once a
    verification has measured how far the coarse grid's ice edge lies from the
    1-mm one's near each organ (:func:`.verify.reach_offsets_mm`), a coarse
    check predicting such a miss counts as a verification without running it.
    When the search ends without a passing plan, the misses are taken in turn,
    those freezing the fewest organs with the fewest probes first (verified if
    only predicted), and the first that fails on nothing but those organs is
    returned with hydrodissection planned for them.
    """
    first_count = 1
    verifications = 0
    #: The latest verified plan that failed only the goal's margin: returned, with its
    #: failing checks, when the rounds run out.
    short_of_margin: tuple[PlanEvaluation, Acceptance] | None = None
    #: Plans that failed, or were predicted to fail, only the clearance of organs
    #: hydrodissection can separate from the tumor.
    clearance_misses: list[_ClearanceMiss] = []
    attempt = 0
    while attempt < MAX_SOLVER_ROUNDS:
        stage = sub_progress(
            progress, attempt / MAX_SOLVER_ROUNDS, (attempt + 0.5) / MAX_SOLVER_ROUNDS
        )
        if run.aims_at_margin and attempt >= WHOLE_ZONE_ROUNDS:
            if short_of_margin is not None:
                # It covers, spares the organs and comes closer to the margin than a
                # plan for the coverage goal alone.
                break
            run.settle_for_coverage(
                f"no plan covering the whole zone passed after {WHOLE_ZONE_ROUNDS} solver rounds"
            )
            attempt, first_count, verifications = 0, 1, 0
        try:
            layout, index = _surrogate_stage(run, settings, first_count, stage)
        except InfeasiblePlanError:
            if run.aims_at_margin:
                run.settle_for_coverage(
                    f"no layout of up to {settings.max_probes} probe(s) covers the whole zone "
                    "clear of the organs"
                )
            elif not run.protect_frozen():
                raise
            attempt, first_count, verifications = 0, 1, 0
            continue
        protocol = run.family[index]
        plan = run.plan(layout, protocol)
        check = coarse_check(
            plan, run.problem, run.volume, run.label_map, run.model, cancel=run.cancel
        )
        run.log.append(
            f"solver check (2 mm): {layout.count} probe(s), {protocol.code}: covers "
            f"{check.coverage_percent:.1f} %"
            + (
                f"; ice too close to {', '.join(check.frozen_guards)}"
                if check.frozen_guards
                else ""
            )
        )
        # Late rounds accept a bare pass of the coarse check: the full verification decides.
        headroom = CHECK_HEADROOM_PERCENT if attempt < HEADROOM_ROUNDS else 0.0
        problems = coarse_problems(check, settings, headroom_percent=headroom)
        run.remember(check.coverage_percent, plan, evidence=1, problems=problems)
        simulation = check.simulation
        run.last_simulation = simulation
        if check.covers(run.goal_percent, headroom_percent=headroom) and not check.frozen_guards:
            predicted = check.predicted_misses(run.problem, run.reach_offsets_mm)
            if predicted and run.protectable(predicted) == set(predicted):
                verifications += 1
                clearance_misses.append(_ClearanceMiss(plan, set(predicted)))
                run.log.append(
                    "solver check predicts the ice "
                    + ", ".join(f"{d:.1f} mm from {name}" for name, d in predicted.items())
                    + " on the full simulation (clearance "
                    + ", ".join(f"{settings.oar_clearance_mm(name):g} mm" for name in predicted)
                    + "): not verified"
                )
            else:
                progress((attempt + 0.5) / MAX_SOLVER_ROUNDS, "Verifying with the full simulation")
                evaluation, acceptance, blocking = _verify(
                    run, plan, settings, verify_spacing_mm, verify_box_margin_mm
                )
                verifications += 1
                run.learn_reach(check, evaluation)
                simulation = evaluation.simulation
                run.last_simulation = simulation
                if _passed(run, evaluation, acceptance, blocking, settings, verify_spacing_mm):
                    return evaluation, acceptance
                if all(check.kind in MARGIN_CHECKS for check in blocking):
                    short_of_margin = evaluation, acceptance
                organs = _protectable_misses(run, blocking)
                if organs:
                    clearance_misses.append(
                        _ClearanceMiss(evaluation.plan, organs, (evaluation, acceptance))
                    )
            if verifications >= MAX_VERIFICATIONS and not run.aims_at_margin:
                break
        elif check.frozen_guards and check.coverage_percent >= run.goal_percent:
            run.grow_guards()
        scale = run.calibrate(layout, index, simulation)
        run.log.append(
            f"surrogate corrected to the solver (iceball scaled to {scale:.2f}, local "
            f"corrections up to {run.search.zone_correction_c.max():.0f} °C)"
        )
        first_count = layout.count
        attempt += 1
    if short_of_margin is not None:
        evaluation, acceptance = short_of_margin
        run.log.append(
            _verification_line(acceptance, verify_spacing_mm, _covered(evaluation, settings))
        )
        return evaluation, acceptance
    # Fewest organs, then fewest probes; verified before predicted, then the latest.
    clearance_misses.reverse()
    clearance_misses.sort(key=lambda m: (len(m.organs), len(m.plan.probes), m.verified is None))
    for miss in clearance_misses:
        organs = miss.organs
        if miss.verified is not None:
            evaluation, acceptance = miss.verified
        else:
            progress(1.0, "Verifying with the full simulation")
            evaluation, acceptance, blocking = _verify(
                run, miss.plan, settings, verify_spacing_mm, verify_box_margin_mm
            )
            # A wrong prediction passes here: the full simulation is the judge.
            if _passed(run, evaluation, acceptance, blocking, settings, verify_spacing_mm):
                return evaluation, acceptance
            organs = _protectable_misses(run, blocking)
            if not organs:
                continue
        run.protect(organs)
        run.log.append(
            f"no verified plan kept {', '.join(sorted(organs))} clear of the ice: "
            "hydrodissection is planned for it"
        )
        return evaluation, acceptance
    raise InfeasiblePlanError(
        solver_rounds_message(
            run.best_partial[1] if run.best_partial else 0.0,
            settings.zone_margin_mm,
            run.goal_percent,
            run.best_problems,
        )
        + run.heat_sink_note(),
        best_partial_plan=run.partial_plan(),
    )


@dataclass(frozen=True)
class _ClearanceMiss:
    """A covering plan too close to organs hydrodissection can separate from the tumor."""

    plan: Plan
    organs: set[str]
    #: Its full verification; None when the coarse check predicted the miss.
    verified: tuple[PlanEvaluation, Acceptance] | None = None


def _verify(
    run: _Optimizer,
    plan: Plan,
    settings: PlanSettings,
    verify_spacing_mm: float,
    verify_box_margin_mm: float,
) -> tuple[PlanEvaluation, Acceptance, tuple[AcceptanceCheck, ...]]:
    """The full simulation of ``plan``: its evaluation, acceptance and blocking failures."""
    evaluation = evaluate_plan(
        plan, run.volume, run.label_map, spacing_mm=verify_spacing_mm,
        box_margin_mm=verify_box_margin_mm,
        probe_library={run.model.id: run.model}, context=run.context,
        threads=simulation_workers(), cancel=run.cancel,
    )  # fmt: skip
    acceptance = accept_plan(
        evaluation.metrics, settings, allow_leaving_image=run.search.allow_leaving_image
    )
    run.remember(
        _covered(evaluation, settings),
        evaluation.plan,
        evidence=2,
        problems=tuple(check.describe() for check in acceptance.failed),
    )
    blocking = blocking_failures(acceptance, run.problem, margin_searched=run.aims_at_margin)
    return evaluation, acceptance, blocking


def _passed(
    run: _Optimizer,
    evaluation: PlanEvaluation,
    acceptance: Acceptance,
    blocking: tuple[AcceptanceCheck, ...],
    settings: PlanSettings,
    verify_spacing_mm: float,
) -> bool:
    """Log a verification's outcome; True when nothing the search can fix failed."""
    if not blocking:
        run.log.append(
            _verification_line(acceptance, verify_spacing_mm, _covered(evaluation, settings))
        )
        return True
    run.log.append(
        f"verification ({verify_spacing_mm:g} mm) missed: "
        + "; ".join(check.describe() for check in blocking)
    )
    return False


def _covered(evaluation: PlanEvaluation, settings: PlanSettings) -> float:
    covered = goal_coverage_percent(evaluation.metrics, settings)
    return 0.0 if covered is None else covered


def _protectable_misses(run: _Optimizer, blocking: tuple[AcceptanceCheck, ...]) -> set[str]:
    """The organs hydrodissection would fix when clearance is all that ``blocking`` misses."""
    too_close = {name for check in blocking for name in check.subjects}
    organs = run.protectable(too_close)
    if organs == too_close and all(c.kind is CheckKind.ORGANS for c in blocking):
        return organs
    return set()


def _verification_line(acceptance: Acceptance, spacing_mm: float, covered_percent: float) -> str:
    """The log line of a full simulation the search accepts: verified, or what still fails."""
    measured = (
        f"({spacing_mm:g} mm): covers {format_coverage_percent(covered_percent)} of tumor + margin"
    )
    if acceptance.failed:
        return (
            f"simulated in full {measured}; the plan does NOT pass: {acceptance.describe_failure()}"
        )
    if acceptance.not_assessed:
        names = ", ".join(check.phrase for check in acceptance.not_assessed)
        return f"verified {measured}; not assessed: {names}"
    return f"verified {measured}; every plan check passes"


def _options(*settings: str) -> str:
    return "; ".join(SETTING_OPTIONS[name].text() for name in settings)


def _margin_setting(settings: PlanSettings) -> str:
    """The setting that makes the goal's zone: the lethal margin, or the ice margin."""
    return "ice_margin_mm" if settings.goal is PlanGoal.VISIBLE_ICE else "margin_mm"


def solver_rounds_message(
    best_coverage_percent: float, margin_mm: float, goal_percent: float, problems: Iterable[str]
) -> str:
    """Why no plan passed the solver checks: the best coverage and what the best plan failed.

    The best plan may cover enough and still fail, e.g. an organ's ice clearance;
    the message names each failed check with its numbers, so the user knows
    which limit to change.
    """
    failed = "; ".join(problems)
    return (
        f"no plan passed the solver checks after {MAX_SOLVER_ROUNDS} rounds; the best covers "
        f"{format_coverage_percent(best_coverage_percent)} of tumor + {margin_mm:g} mm "
        f"(goal {goal_percent:g} %)"
        + (f" but fails: {failed}" if failed else "")
        + f". Raise the probe count or the freeze ({_options('max_probes', 'max_total_freeze_s')}),"
        f" or lower the margin ({_options('margin_mm')}); for an organ too close, lower its ice "
        f"clearance ({_options('default_oar_clearance_mm')}) or displace it (hydrodissection)."
    )


def _infeasible(
    run: _Optimizer, best: Layout | None, settings: PlanSettings
) -> InfeasiblePlanError:
    partial = run.partial_plan()
    run.frozen_at_refusal = ()
    if best is None:
        return InfeasiblePlanError(
            f"no layout of 1 to {settings.max_probes} probes has safe paths for every probe with "
            f"tips {settings.min_probe_spacing_mm:g}-{settings.max_probe_spacing_mm:g} mm apart "
            f"and within {settings.max_tip_to_tumor_edge_mm:g} mm of the tumor (constraint: "
            "probe paths and spacing). Relax the path clearance or the tip spacing limits "
            f"(optimizer panel: {_options('default_path_clearance_mm')}, 'Min tip spacing', "
            "'Max tip spacing').",
            best_partial_plan=partial,
        )
    if best.coverage >= run.search.goal and best.frozen_organs:
        run.frozen_at_refusal = best.frozen_organs
        organs = ", ".join(best.frozen_organs)
        return InfeasiblePlanError(
            f"covering the margin would bring the ice edge within the clearance of {organs} "
            "(constraint: organ-at-risk clearance). Lower the margin "
            f"({_options(_margin_setting(settings))}) "
            f"or the organ's ice clearance ({_options('default_oar_clearance_mm')}), or protect "
            "the organ (hydrodissection) and accept ice there.",
            best_partial_plan=partial,
        )
    longest = run.family[-1]
    # The best figure measured by the solver when it ran, not the surrogate's estimate of
    # this last search (a surrogate figure above the goal reads as a contradiction).
    evidence, covered = 0, 100 * best.coverage
    if run.best_partial is not None and run.best_partial[0] > 0:
        evidence, covered = run.best_partial[0], run.best_partial[1]
    source = ("on the fast estimate", "on the 2-mm solver check", "on the full simulation")
    return InfeasiblePlanError(
        f"with at most {settings.max_probes} probe(s) and freezes up to {longest.code} "
        f"({planned_freeze_limit_s(settings) / 60.0:g} min in all) {settings.zone_isotherm_c:g} °C "
        f"covers at best {format_coverage_percent(covered)} of tumor + "
        f"{settings.zone_margin_mm:g} mm {source[evidence]} (goal {run.goal_percent:g} %). "
        "Raise the probe count or "
        f"the freeze ({_options('max_probes', 'max_total_freeze_s')}), or lower the margin "
        f"({_options(_margin_setting(settings))}) or the coverage goal "
        f"({_options('coverage_goal_percent')})." + run.heat_sink_note(),
        best_partial_plan=partial,
    )
