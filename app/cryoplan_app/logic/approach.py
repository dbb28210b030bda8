"""Patient position, table side, gantry check and insertion order of the plan's probes.

The approach rules of the core (:mod:`planning_core.planning.approach`) need
the body outline and a look for the table on the CT: that is done in the
background once per path analysis (whose body outline it reuses, see
:class:`~cryoplan_app.logic.trajectory.TrajectoryLogic`) and patient position.
Each probe's check (entry on the table side, handle outside the gantry bore,
craniocaudal tilt beyond the position's limit) and the suggested insertion
order (deepest first, then the most tilted) are then quick and computed when
asked. The position is the plan's ``patient_position`` setting, the one the
optimizer uses; a note says when the image header states another one or none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cryoplan_app.logic.runner import Runner, TaskHandle
from cryoplan_app.logic.trajectory import TrajectoryLogic
from cryoplan_app.model.session import Session
from cryoplan_app.model.signals import Signal
from planning_core.errors import PlanningError
from planning_core.planning.approach import (
    CRANIOCAUDAL,
    DOWN_SIDE,
    GANTRY,
    Approach,
    approach_for_case,
    insertion_order,
    read_patient_position,
    reasons_for,
)
from planning_core.planning.plan import Plan
from planning_core.planning.trajectory import TrajectoryContext

#: Short words of the refusal flags, for a table cell (the full reasons go in its tooltip).
REFUSAL_WORDS = {DOWN_SIDE: "table side", GANTRY: "gantry", CRANIOCAUDAL: "CC angle"}


@dataclass(frozen=True)
class ProbeApproach:
    """What the approach rules say about one probe of the plan.

    Attributes
    ----------
    order : int or None
        1-based place in the suggested insertion order (None: no order, the
        probes could not be ordered).
    flags : int or None
        The approach rules' refusal flags
        (:data:`~planning_core.planning.approach.REFUSAL_REASONS`; 0: allowed);
        None while the rules are not ready (no label map, computing, failed).
    """

    order: int | None
    flags: int | None

    @property
    def refusals(self) -> tuple[str, ...] | None:
        """Why the rules refuse the probe (empty: allowed; None: not checked)."""
        return None if self.flags is None else reasons_for(self.flags)

    def text(self) -> str:
        """'OK', '⚠' with the refusals in short words, or 'not checked'."""
        if self.flags is None:
            return "not checked"
        words = [word for flag, word in REFUSAL_WORDS.items() if self.flags & flag]
        return f"⚠ {', '.join(words)}" if words else "OK"


def position_note(header_position: str | None, plan_position: str) -> str:
    """What the user should know about the plan's patient position against the image header."""
    if header_position is None:
        return (
            f"The image header gives no patient position: the plan's {plan_position} is used "
            "(check it: Plan settings > Patient position)."
        )
    if header_position != plan_position:
        return (
            f"The image header says {header_position}, the plan {plan_position}: the plan's "
            "is used (Plan settings > Patient position)."
        )
    return ""


def _sentence(text: str) -> str:
    """``text`` as a sentence: first letter upper case (codes such as HFS keep theirs), a stop."""
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


class ApproachLogic:
    """Keeps the approach rules of ``session``'s case and judges the plan's probes with them.

    Signals (:class:`~cryoplan_app.model.signals.Signal`):

    * ``changed`` (): the rules were dropped, are being found, arrived or failed
      (:attr:`note` says which)
    * ``failed`` (error, details): finding them failed for a reason other than the
      case's content (a bug)
    """

    def __init__(self, session: Session, runner: Runner, paths: TrajectoryLogic) -> None:
        self.session = session
        self.runner = runner
        self.paths = paths
        self.changed = Signal()
        self.failed = Signal()
        #: The case's approach rules, ready to judge probes (None until found).
        self.approach: Approach | None = None
        #: One line on the position, table side and the rules' state, for the panels.
        self.note = ""
        self._key: tuple[TrajectoryContext, str] | None = None
        self._task: TaskHandle | None = None
        paths.changed.connect(self.refresh)
        session.document.plan_changed.connect(lambda _plan: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        """Find the rules again when the body outline (path analysis) or the position changed."""
        case, context = self.session.case, self.paths.context
        position = self.session.document.plan.settings.patient_position
        if case is None or context is None:
            if self._key is not None or self.approach is not None:
                self._key, self.approach = None, None
                self._set_note("")
            return
        if self._key is not None and self._key[0] is context and self._key[1] == position:
            return
        key = self._key = (context, position)
        self.approach = None
        volume, body = case.volume, context.body_mask
        # The header's own position reads as such ("from the image header"); another is the user's.
        header = read_patient_position(volume.metadata).position
        given = None if header == position else position
        self._task = self.runner.submit(
            "Finding the table",
            lambda _progress, _cancel: approach_for_case(volume, body_mask=body, position=given),
            on_done=lambda approach: self._ready(key, approach),
            on_error=lambda error, details: self._failed(key, error, details),
            key="approach",
        )
        self._set_note("Finding the table…")

    def probes(self, plan: Plan | None = None) -> tuple[ProbeApproach, ...]:
        """The insertion order and approach check of each probe of ``plan`` (the session's)."""
        plan = self.session.document.plan if plan is None else plan
        if not plan.probes:
            return ()
        entries = np.array([self._skin_entry(probe) for probe in plan.probes])
        tips = np.array([probe.tip_lps_mm for probe in plan.probes])
        try:
            steps = insertion_order(entries, tips)
        except PlanningError:
            orders: list[int | None] = [None] * len(plan.probes)
        else:
            orders = [None] * len(plan.probes)
            for place, step in enumerate(steps, start=1):
                orders[step.probe_index] = place
        flags: list[int | None] = [None] * len(plan.probes)
        if self.approach is not None:
            try:
                found = self.approach.probe_refusals(entries, tips)
            except PlanningError:
                pass
            else:
                flags = [int(flag) for flag in found]
        return tuple(ProbeApproach(o, f) for o, f in zip(orders, flags, strict=True))

    def insertion_labels(self, plan: Plan | None = None) -> tuple[str, ...]:
        """The probes' labels (or numbers) in the suggested insertion order."""
        plan = self.session.document.plan if plan is None else plan
        placed = [
            (check.order, probe.label or str(index + 1))
            for index, (probe, check) in enumerate(zip(plan.probes, self.probes(plan), strict=True))
            if check.order is not None
        ]
        return tuple(label for _order, label in sorted(placed))

    def _skin_entry(self, probe) -> tuple[float, float, float]:
        """Where the shaft enters the skin, as the path check found it; else the planned entry."""
        report = self.paths.report(probe)
        if report is not None and report.skin_entry_lps_mm is not None:
            return tuple(report.skin_entry_lps_mm)
        return tuple(probe.entry_lps_mm)

    def _ready(self, key: tuple[TrajectoryContext, str], approach: Approach) -> None:
        if key is not self._key:
            return  # found for a body outline or position that is gone
        self.approach = approach
        header = read_patient_position(self.session.case.volume.metadata).position
        lines = [_sentence(approach.describe())]
        lines += [_sentence(note) for note in approach.notes]
        extra = position_note(header, key[1])
        self._set_note(" ".join(lines + ([extra] if extra else [])))

    def _failed(
        self, key: tuple[TrajectoryContext, str], error: BaseException, details: str
    ) -> None:
        if key is not self._key:
            return
        self._set_note(f"Approach checks unavailable: {error}")
        if not isinstance(error, PlanningError):
            self.failed.emit(error, details)

    def _set_note(self, note: str) -> None:
        self.note = note
        self.changed.emit()
