"""Practice mode: one trainee's attempt at a library case, from the first probe to the reveal.

:class:`PracticeSession` is a small state machine::

    idle ──start──▶ placing ──submit──▶ assessing ──result──▶ assessed ──reveal──▶ revealed
                      ▲                     │
                      └──── failed ─────────┘          end (from any state) ──▶ idle

While ``placing`` the trainee edits the window's ordinary plan (probes and
protocol); the case's reference plan is held here, privately, and
:attr:`PracticeSession.reference` refuses to hand it out before the reveal,
so no view can draw it by mistake. A submission freezes the attempt (the
plan, the trainee, the case, the time spent), which the application's logic
assesses in the background (:class:`cryoplan_app.logic.practice.PracticeLogic`);
an attempt is submitted once: a second submit is refused until the practice
ends. No Qt, no VTK.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from cryoplan_app.model.plan_state import TemperatureField
from cryoplan_app.model.signals import Signal
from planning_core.errors import InvalidParameterError, PlanningError
from planning_core.figures import (
    format_coverage_percent,
    format_margin_mm,
    format_volume_ml,
)
from planning_core.imaging.labels import LabelMap
from planning_core.planning.plan import Plan
from planning_core.planning.results import PlanMetrics
from planning_core.training.assessment import Assessment
from planning_core.training.attempts import AttemptFile
from planning_core.training.library import LibraryCase, utc_now
from planning_core.training.users import clean_name

#: Weight of the miss's side against the probes' entry side in :func:`miss_view_direction`;
#: from the miss's side alone, organs around the tumor often hide it.
MISS_SIDE_WEIGHT = 0.6


class PracticeState(StrEnum):
    """Where a practice stands (equal to its text value: ``PracticeState.IDLE == "idle"``)."""

    IDLE = "idle"
    PLACING = "placing"
    ASSESSING = "assessing"
    ASSESSED = "assessed"
    REVEALED = "revealed"


#: States of a practice, in the order they are reached.
PRACTICE_STATES = tuple(PracticeState)


class PracticeStateError(PlanningError):
    """An action that the practice's present state does not allow."""


@dataclass(frozen=True, eq=False)
class PracticeResult:
    """What a submitted attempt brought back from the worker.

    Attributes
    ----------
    assessment : Assessment
        Score, feedback, the attempt's evaluation and the reference plan.
    attempt_id : int
        The attempt's row in the library.
    duration_s : float
        Time from the start of the practice to the submission.
    undertreated_mask : ndarray of bool
        Every under-treated tumor voxel on the image grid (the 3-D red surface);
        ``assessment.undertreated_surface`` holds its surface voxels (2-D red).
    reference_field : TemperatureField
        The reference plan's lowest-temperature field, for the side-by-side reveal.
    """

    assessment: Assessment
    attempt_id: int
    duration_s: float
    undertreated_mask: NDArray[np.bool_]
    reference_field: TemperatureField

    @property
    def attempt_field(self) -> TemperatureField:
        simulation = self.assessment.evaluation.simulation
        return TemperatureField(simulation.min_temperature_c, simulation.geometry)


class PracticeSession:
    """One practice at a time: who, which case, since when, and how it went.

    Signals: ``state_changed`` (state name) after every transition and
    ``result_changed`` (PracticeResult or None).

    Parameters
    ----------
    clock : callable, optional
        Returns the present time as ISO 8601 text (UTC); tests pass their own.
    """

    def __init__(self, *, clock: Callable[[], str] = utc_now) -> None:
        self.state_changed = Signal()
        self.result_changed = Signal()
        self._clock = clock
        self._state = PracticeState.IDLE
        self._trainee: str | None = None
        self._case: LibraryCase | None = None
        self._reference: Plan | None = None
        self._started_at: str | None = None
        self._attempt: AttemptFile | None = None
        self._result: PracticeResult | None = None

    # -- what the views may read --------------------------------------------------------
    @property
    def state(self) -> PracticeState:
        return self._state

    @property
    def active(self) -> bool:
        """True from the start of a practice to its end."""
        return self._state != PracticeState.IDLE

    @property
    def trainee(self) -> str | None:
        return self._trainee

    @property
    def case(self) -> LibraryCase | None:
        return self._case

    @property
    def started_at(self) -> str | None:
        return self._started_at

    @property
    def attempt(self) -> AttemptFile | None:
        """The submitted attempt (``None`` before the submission)."""
        return self._attempt

    @property
    def result(self) -> PracticeResult | None:
        return self._result

    @property
    def can_submit(self) -> bool:
        return self._state == PracticeState.PLACING

    @property
    def unsubmitted(self) -> bool:
        """True while leaving would lose work: an attempt not submitted, or being assessed."""
        return self._state in (PracticeState.PLACING, PracticeState.ASSESSING)

    @property
    def reference(self) -> Plan:
        """The case's reference plan, once revealed.

        Raises
        ------
        PracticeStateError
            Before :meth:`reveal`: the reference stays hidden while the trainee plans.
        """
        if self._state != PracticeState.REVEALED or self._reference is None:
            raise PracticeStateError(
                "the reference plan is revealed only after the attempt was assessed; "
                "submit the attempt, then choose Reveal reference."
            )
        return self._reference

    # -- transitions --------------------------------------------------------------------
    def start(self, *, trainee: str, case: LibraryCase, reference: Plan) -> None:
        """Begin a practice: the clock starts now.

        Raises
        ------
        PracticeStateError
            When a practice is already running (end it first).
        LibraryError
            When ``trainee`` is not a usable name.
        """
        if self._state != PracticeState.IDLE:
            raise PracticeStateError("a practice is running; end it before starting another.")
        self._trainee, self._case, self._reference = clean_name(trainee), case, reference
        self._started_at = self._clock()
        self._attempt = self._result = None
        self._set_state(PracticeState.PLACING)

    def starting_plan(self, blank: Plan) -> Plan:
        """``blank`` (a fresh plan of the opened image) with the case's target and settings.

        The margin, lethal isotherm, clearances and patient position are the
        goals the attempt is scored against, so the trainee plans with them;
        no probe and no protocol of the reference come along.
        """
        reference = self._require_reference()
        return dataclasses.replace(
            blank,
            target_label=reference.target_label,
            oar_labels=reference.oar_labels,
            settings=reference.settings,
            probes=(),
        )

    def submit(self, plan: Plan) -> AttemptFile:
        """Freeze ``plan`` as the attempt, submitted now; the practice is then ``assessing``.

        Raises
        ------
        PracticeStateError
            When no attempt is being placed (not started, or already submitted).
        InvalidParameterError
            When the plan has no probe.
        """
        if self._state != PracticeState.PLACING or self._case is None or self._trainee is None:
            raise PracticeStateError(
                "this practice attempt was already submitted; end the practice and start a "
                "new one to try again."
                if self._state
                in (PracticeState.ASSESSING, PracticeState.ASSESSED, PracticeState.REVEALED)
                else "no practice is running; choose Training ▸ Start practice first."
            )
        if not plan.probes:
            raise InvalidParameterError("the attempt has no probes; place at least one probe.")
        self._attempt = AttemptFile(
            plan=plan,
            trainee=self._trainee,
            case_id=self._case.id,
            started_at=self._started_at,
            submitted_at=self._clock(),
        )
        self._set_state(PracticeState.ASSESSING)
        return self._attempt

    def submission_failed(self) -> None:
        """The assessment failed or was cancelled: back to placing, nothing was stored."""
        if self._state == PracticeState.ASSESSING:
            self._attempt = None
            self._set_state(PracticeState.PLACING)

    def assessed(self, result: PracticeResult) -> None:
        """Store the worker's result; the practice is then ``assessed``."""
        if self._state != PracticeState.ASSESSING:
            raise PracticeStateError("no attempt is being assessed.")
        self._result = result
        self.result_changed.emit(result)
        self._set_state(PracticeState.ASSESSED)

    def reveal(self) -> Plan:
        """Reveal the reference plan (after the assessment) and return it."""
        if self._state not in (PracticeState.ASSESSED, PracticeState.REVEALED):
            raise PracticeStateError(
                "the reference plan is revealed only after the attempt was assessed; "
                "submit the attempt first."
            )
        self._set_state(PracticeState.REVEALED)
        return self.reference

    def end(self) -> None:
        """Leave practice mode (whatever the state); forgets the case and its reference."""
        if self._state == PracticeState.IDLE:
            return
        self._trainee = self._case = self._reference = None
        self._started_at = None
        self._attempt = None
        if self._result is not None:
            self._result = None
            self.result_changed.emit(None)
        self._set_state(PracticeState.IDLE)

    def _require_reference(self) -> Plan:
        if self._reference is None:
            raise PracticeStateError("no practice is running.")
        return self._reference

    def _set_state(self, state: PracticeState) -> None:
        self._state = state
        self.state_changed.emit(state)


def comparison_rows(
    attempt: PlanMetrics, reference: PlanMetrics
) -> tuple[tuple[str, str, str], ...]:
    """The reveal's table: (quantity, attempt, reference) for the numbers the score weighs.

    "Organs at risk frozen" lists those with tissue below 0 °C and its volume,
    monitored structures (vessels, renal sinus... that may freeze) left out;
    "Closer than their clearance" those whose ice edge comes closer than required.
    """
    lethal = attempt.lethal_isotherm_c

    def coverage(metrics: PlanMetrics, *, margin: bool) -> str:
        try:
            entry = metrics.coverage_at(lethal)
        except KeyError:
            return "—"
        value = entry.tumor_and_margin_percent if margin else entry.tumor_percent
        return format_coverage_percent(value)

    def minimal_margin(metrics: PlanMetrics) -> str:
        value = metrics.margin.minimum_mm
        return "no lethal zone" if value is None else format_margin_mm(value)

    def frozen(metrics: PlanMetrics) -> str:
        names = [
            f"{oar.name.replace('_', ' ')} {format_volume_ml(oar.frozen_volume_ml)}"
            for oar in metrics.oars
            if not oar.monitored and oar.frozen_volume_ml > 0.0
        ]
        return ", ".join(names) or "none"

    def short_of_clearance(metrics: PlanMetrics) -> str:
        names = [oar.name.replace("_", " ") for oar in metrics.oars if not oar.clear]
        return ", ".join(names) or "none"

    return (
        ("Probes", str(attempt.probe_count), str(reference.probe_count)),
        (
            "Total freeze time",
            f"{attempt.total_freeze_s / 60.0:g} min",
            f"{reference.total_freeze_s / 60.0:g} min",
        ),
        (
            f"Tumor covered by {lethal:g} °C",
            coverage(attempt, margin=False),
            coverage(reference, margin=False),
        ),
        (
            f"Tumor + {attempt.margin_mm:g} mm covered",
            coverage(attempt, margin=True),
            coverage(reference, margin=True),
        ),
        (
            f"Minimal ablative margin (goal {format_margin_mm(attempt.margin_mm)})",
            minimal_margin(attempt),
            minimal_margin(reference),
        ),
        ("Organs at risk frozen (0 °C)", frozen(attempt), frozen(reference)),
        ("Closer than their clearance", short_of_clearance(attempt), short_of_clearance(reference)),
    )


def label_centre_lps(labels: LabelMap, name: str) -> NDArray[np.float64]:
    """Centroid (LPS mm) of label ``name``'s voxels; raises when the label is empty."""
    indices = np.argwhere(labels.mask(name))
    if len(indices) == 0:
        raise InvalidParameterError(f"label {name!r} has no voxels.")
    return labels.geometry.index_to_lps(indices[:, ::-1].mean(axis=0))


def miss_view_direction(
    miss_offset_lps: NDArray[np.float64], entry_side_lps: NDArray[np.float64]
) -> NDArray[np.float64] | None:
    """Unit direction from the tumor towards a 3-D camera that shows where the tumor escaped.

    Between the side of the miss (``miss_offset_lps``: from the tumor's centre to
    the under-treated region's; weight :data:`MISS_SIDE_WEIGHT`) and the probes'
    entry side (weight 1), which the trainee's paths keep free of organs; ``None``
    when the region surrounds the tumor (its centre within 1 mm of the tumor's), so
    that no side is better.
    """
    offset = np.asarray(miss_offset_lps, dtype=np.float64)
    if np.linalg.norm(offset) < 1.0:
        return None
    direction = MISS_SIDE_WEIGHT * offset / np.linalg.norm(offset)
    entry = np.asarray(entry_side_lps, dtype=np.float64)
    if np.linalg.norm(entry) > 1e-6:
        direction = direction + entry / np.linalg.norm(entry)
    length = np.linalg.norm(direction)
    return direction / length if length > 1e-6 else None
