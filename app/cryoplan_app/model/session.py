"""The evented session: the single source of truth the views and panels draw.

A :class:`Session` holds the open case and its two parts, each evented on its
own (:class:`~cryoplan_app.model.signals.Signal`):

* :attr:`Session.view` (:class:`~cryoplan_app.model.view_state.ViewState`):
  how the case is shown (crosshair, window/level, layout, cameras, label
  display, hover, tool);
* :attr:`Session.document` (:class:`~cryoplan_app.model.plan_document.PlanDocument`):
  the plan and labels being edited with their undo history, the results
  computed from them and the plan's file.

The session only does what needs both: opening and closing a case, taking
another label map, showing the plan. Reading and writing plan files lives in
:mod:`cryoplan_app.model.plan_io`. No Qt, no VTK.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from cryoplan_app.model.case import ImageCase
from cryoplan_app.model.plan_document import PlanDocument
from cryoplan_app.model.plan_edits import new_plan_for
from cryoplan_app.model.signals import Signal
from cryoplan_app.model.view_state import ViewState, target_centre_lps
from planning_core.errors import InvalidParameterError
from planning_core.imaging.labels import LabelMap
from planning_core.planning.plan import Plan
from planning_core.thermal.probes import ProbeLibrary


class Session:
    """State of one viewer window. See the module docstring.

    Signals: ``case_changed`` (case or None): a case was opened or closed;
    the view and the document were reset. The others are those of
    :attr:`view` and :attr:`document`.

    Parameters
    ----------
    probe_library : ProbeLibrary, optional
        Probe models for the document's probes; the packaged library by default.
    """

    def __init__(self, *, probe_library: ProbeLibrary | None = None) -> None:
        self.case_changed = Signal()
        self.document = PlanDocument(probe_library=probe_library)
        self.view = ViewState()
        # Connected first, so that the label display is up to date for every other listener.
        self.document.labels_changed.connect(self.view.follow_labels)
        self._case: ImageCase | None = None

    @property
    def case(self) -> ImageCase | None:
        return self._case

    def open_case(self, case: ImageCase) -> None:
        """Show ``case`` with a new, empty plan: crosshair on the target's centre (else the
        volume's centre), default window, fitted views."""
        self._case = case
        self.view.show_case(case)
        self.document.start(new_plan_for(case), case)
        self.case_changed.emit(case)

    def close_case(self) -> None:
        self._case = None
        self.view.show_case(None)
        self.document.start(Plan(), None)
        self.case_changed.emit(None)

    def _require_case(self) -> ImageCase:
        """The open case.

        Raises
        ------
        InvalidParameterError
            When no image is open.
        """
        if self._case is None:
            raise InvalidParameterError("no image is open; open a case first.")
        return self._case

    def set_labels(self, labels: LabelMap | None) -> None:
        """Take another label map (one read from a file), shown as on opening; not undoable.

        Raises
        ------
        GeometryMismatchError
            When ``labels`` is on another grid than the open image.
        """
        case = self._require_case()
        if labels is not None:
            case.volume.geometry.require_match(labels.geometry, what="label map vs image")
        before = self.document.labels
        had_target = before is not None and any(
            before.mask(name).any() for name in before.names_with_role("target")
        )
        self.view.show_labels(labels)
        self.document.set_labels(labels)
        # The first target a case gets is what the reader came to see.
        target = None if had_target else target_centre_lps(labels)
        if target is not None:
            self.view.set_crosshair(target)

    def show_plan(
        self, plan: Plan, *, labels: LabelMap | None = None, path: Path | None = None
    ) -> None:
        """Show ``plan`` on the open case, undo history afresh, and look at its probes.

        Parameters
        ----------
        plan : Plan
            The plan (one read from a file).
        labels : LabelMap, optional
            The labels saved with it; they become the case's own (not an edit) and
            are shown as an edit would be, keeping how labels kept are shown.
        path : Path, optional
            The file it was read from.

        Raises
        ------
        GeometryMismatchError
            When ``labels`` is on another grid than the open image.
        """
        case = self._require_case()
        if labels is not None and labels is not self.document.labels:
            case.volume.geometry.require_match(labels.geometry, what="plan's label map vs image")
            self._case = case = replace(case, labels=labels)
            self.document.set_labels(labels)
        self.document.start(plan, case, keep_labels=True, path=path)
        self.focus_on_plan()

    def focus_on_plan(self) -> None:
        """Move the crosshair to the middle of the probes' freezing segments and ask the
        3-D view to look at them; nothing without probes."""
        if self._case is None or not self.document.plan.probes:
            return
        parts = self.document.probe_parts()
        self.view.focus_on(np.mean([0.5 * (p.active_start + p.active_end) for p in parts], axis=0))
