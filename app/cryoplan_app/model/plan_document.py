"""The plan being edited, its label map, their undo history and what was computed from them.

:class:`PlanDocument` is what a plan file saves: the
:class:`~planning_core.planning.plan.Plan` (probes, protocol, settings), the
label map it is made with, and the file it was last saved to or opened from.
Every edit of the plan or the labels goes through the undo history
(:class:`~cryoplan_app.model.history.History`). Beside them it keeps the last
full evaluation (:class:`~cryoplan_app.model.plan_state.PlanResults`), a fast
approximate field shown while a probe is dragged and the selected probe.
Results are never thrown away when the plan changes: they are *stale* while
the plan's inputs differ from theirs, and fresh again when an undo brings those
inputs back. No Qt, no VTK.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from cryoplan_app.model.case import ImageCase
from cryoplan_app.model.history import Checkpoint, Command, History
from cryoplan_app.model.plan_edits import (
    check_probe_length,
    drawn_probe_parts,
    next_probe_label,
    probe_at,
    probe_point,
)
from cryoplan_app.model.plan_files import PlanSnapshot
from cryoplan_app.model.plan_state import (
    InputsKey,
    PlanResults,
    TemperatureField,
    display_isotherms_c,
    inputs_key,
)
from cryoplan_app.model.probe_geometry import ProbeParts
from cryoplan_app.model.signals import Signal
from planning_core.errors import InvalidParameterError, PlanningError
from planning_core.imaging.labels import LabelMap
from planning_core.planning.plan import Plan, PlannedProbe, PlanWarning
from planning_core.planning.plan_approach import PlannedProtection
from planning_core.planning.settings import PlanSettings
from planning_core.planning.trajectory import directions_from_angles_deg
from planning_core.thermal.probes import ProbeLibrary, ProbeModel, load_probe_library

#: Shaft length from tip to entry of a probe added by :meth:`PlanDocument.add_probe_at`.
DEFAULT_PROBE_DEPTH_MM = 100.0


class PlanDocument:
    """See the module docstring.

    Signals (arguments in brackets):

    * ``plan_changed`` (Plan)
    * ``labels_changed`` (LabelMap or None)
    * ``results_changed`` (PlanResults or None): a new evaluation arrived or was dropped
    * ``preview_changed`` (TemperatureField or None)
    * ``selected_probe_changed`` (index or None)
    * ``drag_finished`` (): a probe drag ended (see :meth:`end_drag`)
    * ``path_changed`` (Path or None): the file the plan was last saved to or opened from
    * ``history.changed`` (): an edit, undo, redo or save; ``history.dirty`` may have changed

    Parameters
    ----------
    probe_library : ProbeLibrary, optional
        Probe models for :meth:`add_probe`; the packaged library by default.
    """

    def __init__(self, *, probe_library: ProbeLibrary | None = None) -> None:
        self.plan_changed = Signal()
        self.labels_changed = Signal()
        self.results_changed = Signal()
        self.preview_changed = Signal()
        self.selected_probe_changed = Signal()
        self.drag_finished = Signal()
        self.path_changed = Signal()
        self.history = History()
        self._plan = Plan()
        self._case: ImageCase | None = None
        self._labels: LabelMap | None = None
        self._results: PlanResults | None = None
        self._preview: TemperatureField | None = None
        self._selected: int | None = None
        self._dragging = False
        self._path: Path | None = None
        self._probe_library = probe_library

    # -- starting over -------------------------------------------------------------------
    def start(
        self,
        plan: Plan,
        case: ImageCase | None,
        *,
        keep_labels: bool = False,
        path: Path | None = None,
    ) -> None:
        """Start over with ``plan`` on ``case``: no results, no selection, no undo history.

        The labels become the case's own unless ``keep_labels`` (a plan opened
        onto the labels shown); ``path`` is the file the plan was read from.
        Emits ``plan_changed`` only: the session announces a new case.
        """
        self._case = case
        if not keep_labels:
            self._labels = None if case is None else case.labels
        self.set_results(None)
        self.set_preview(None)
        self.select_probe(None)
        self._plan = plan
        self.plan_changed.emit(plan)
        self._set_path(None if path is None else Path(path))
        self.history.clear()

    # -- the plan ------------------------------------------------------------------------
    @property
    def plan(self) -> Plan:
        """The plan being edited (immutable; edits replace it)."""
        return self._plan

    def _store_plan(self, plan: Plan) -> None:
        # The selection follows when the probe count shrinks.
        if plan is self._plan:
            return
        self._plan = plan
        self.plan_changed.emit(plan)
        if self._selected is not None and self._selected >= len(plan.probes):
            self.select_probe(len(plan.probes) - 1 if plan.probes else None)

    def _edit_plan(self, plan: Plan, text: str, *, merge_key: object = None) -> None:
        before = self._plan
        self.history.push(
            Command(
                text, lambda: self._store_plan(plan), lambda: self._store_plan(before), merge_key
            )
        )

    def set_plan(self, plan: Plan, *, text: str = "Replace plan") -> None:
        """Replace the whole plan (an optimizer's proposal...); undoable."""
        if self._case is not None and self._case.reference is not None and plan.case is None:
            plan = replace(plan, case=self._case.reference)
        self._edit_plan(plan, text)

    def restore(self, plan: Plan, *, labels: LabelMap | None = None) -> None:
        """Put back an autosaved plan (and edited labels) as unsaved changes, undoable."""
        if labels is not None:
            self.replace_labels(labels, "Recover edited labels")
        self.set_plan(plan, text="Recover autosaved plan")

    def set_protocol(self, code: str) -> None:
        """Set the freeze-thaw protocol (``"F10-T8-F10"``...; undoable).

        Raises
        ------
        InvalidParameterError
            For a malformed code.
        """
        plan = replace(self._plan, protocol=code)  # validates the code
        if plan.protocol != self._plan.protocol:
            self._edit_plan(plan, f"Protocol {plan.protocol}")

    def set_protection(self, protection: tuple[PlannedProtection, ...], *, text: str) -> None:
        """Replace the plan's organ protection (hydrodissection, skin packs); undoable."""
        plan = replace(self._plan, protection=protection)  # validates the records
        if plan.protection != self._plan.protection:
            self._edit_plan(plan, text)

    def set_settings(self, settings: PlanSettings | None = None, **changes: object) -> None:
        """Replace the plan settings, or change some fields (``lethal_isotherm_c=-20``); undoable.

        Raises
        ------
        InvalidParameterError
            For values outside the declared ranges or unknown field names.
        """
        base = self._plan.settings if settings is None else settings
        try:
            updated = replace(base, **changes)
        except TypeError:
            known = ", ".join(PlanSettings.__dataclass_fields__)
            raise InvalidParameterError(
                f"unknown plan setting among {', '.join(changes)}; known: {known}."
            ) from None
        if updated != self._plan.settings:
            self._edit_plan(replace(self._plan, settings=updated), "Change plan settings")

    @property
    def isotherms_c(self) -> tuple[float, ...]:
        """Isotherms the views draw, warmest first (0 °C, reported ones, the lethal one)."""
        return display_isotherms_c(self._plan)

    @property
    def lethal_isotherm_c(self) -> float:
        return self._plan.settings.lethal_isotherm_c

    # -- probes --------------------------------------------------------------------------
    @property
    def probe_library(self) -> ProbeLibrary:
        """The probe models :meth:`add_probe` accepts (loaded on first use).

        Raises
        ------
        PlanningError
            When the packaged probe library cannot be read.
        """
        if self._probe_library is None:
            try:
                self._probe_library = load_probe_library()
            except (OSError, ValueError) as error:
                raise PlanningError(
                    f"the probe library could not be read ({error}); reinstall cryoplan."
                ) from None
        return self._probe_library

    def probe_parts(self) -> tuple[ProbeParts, ...]:
        """Tip, entry and freezing segment of every probe, for drawing (see
        :func:`~cryoplan_app.model.plan_edits.drawn_probe_parts`)."""
        return drawn_probe_parts(self._plan, self.probe_library)

    def probe_model(self, index: int) -> ProbeModel:
        """The probe model of probe ``index`` of the plan."""
        return self.probe_library.get(probe_at(self._plan, index).model_id)

    def add_probe(
        self,
        model_id: str,
        tip_lps_mm: ArrayLike,
        entry_lps_mm: ArrayLike,
        *,
        label: str | None = None,
    ) -> int:
        """Add a probe (undoable), select it and return its index.

        Parameters
        ----------
        model_id : str
            A probe model of :attr:`probe_library`.
        tip_lps_mm, entry_lps_mm : array_like
            Tip and skin entry in LPS mm; the entry must lie behind the freezing segment.
        label : str, optional
            Name shown in views and tables; ``"P<n>"`` with the next free number by default.
        """
        model = self.probe_library.get(model_id)
        tip, entry = probe_point(tip_lps_mm), probe_point(entry_lps_mm)
        probe = PlannedProbe(model_id, tip, entry, label or next_probe_label(self._plan))
        check_probe_length(probe, model)
        plan = self._plan
        index = len(plan.probes)
        self._edit_plan(plan.with_probes((*plan.probes, probe)), f"Add probe {probe.label}")
        self.select_probe(index)
        return index

    def add_probe_at(
        self,
        tip_lps_mm: ArrayLike,
        *,
        model_id: str | None = None,
        depth_mm: float = DEFAULT_PROBE_DEPTH_MM,
    ) -> int:
        """Add a probe with its tip at ``tip_lps_mm``, coming straight from the side away
        from the table (anterior for a supine patient), ``depth_mm`` long.

        ``model_id`` defaults to the library's first model. Returns its index.
        """
        library = self.probe_library
        model_id = model_id or next(iter(library.models))
        tip = np.asarray(probe_point(tip_lps_mm))
        entry = tip - self._plan.settings.table_direction_lps() * depth_mm
        return self.add_probe(model_id, tip, entry)

    def move_probe(
        self,
        index: int,
        *,
        tip_lps_mm: ArrayLike | None = None,
        entry_lps_mm: ArrayLike | None = None,
        dragging: bool = False,
    ) -> None:
        """Move the tip and/or the entry of probe ``index`` (undoable).

        With ``dragging=True`` successive moves of the same probe merge into one
        undo step until :meth:`end_drag`.

        Raises
        ------
        InvalidParameterError
            When the entry would come closer to the tip than the freezing segment reaches.
        """
        probe = probe_at(self._plan, index)
        moved = replace(
            probe,
            tip_lps_mm=probe.tip_lps_mm if tip_lps_mm is None else probe_point(tip_lps_mm),
            entry_lps_mm=probe.entry_lps_mm if entry_lps_mm is None else probe_point(entry_lps_mm),
        )
        if moved == probe:
            return
        check_probe_length(moved, self.probe_library.get(probe.model_id))
        self._dragging = dragging
        probes = list(self._plan.probes)
        probes[index] = moved
        self._edit_plan(
            self._plan.with_probes(tuple(probes)),
            f"Move probe {probe.label or index + 1}",
            merge_key=("move_probe", index) if dragging else None,
        )

    def set_probe_depth(self, index: int, depth_mm: float) -> None:
        """Advance or withdraw the tip of probe ``index`` along its shaft (undoable).

        The entry stays; the tip lands ``depth_mm`` from it. Refused as
        :meth:`move_probe` refuses.
        """
        probe = probe_at(self._plan, index)
        tip = np.asarray(probe.entry_lps_mm) + depth_mm * probe.direction_lps
        self.move_probe(index, tip_lps_mm=tip)

    def set_probe_angles(self, index: int, *, craniocaudal_deg: float, in_plane_deg: float) -> None:
        """Turn probe ``index``'s shaft around its tip to these angles (undoable).

        Angles are those of :func:`~planning_core.planning.trajectory.probe_angles_deg`
        against the plan's table direction; the shaft keeps its length.
        """
        probe = probe_at(self._plan, index)
        direction = directions_from_angles_deg(
            craniocaudal_deg, in_plane_deg, self._plan.settings.table_direction_lps()
        )
        length_mm = math.dist(probe.tip_lps_mm, probe.entry_lps_mm)
        self.move_probe(index, entry_lps_mm=np.asarray(probe.tip_lps_mm) - length_mm * direction)

    def translate_probe(
        self, index: int, offset_lps_mm: ArrayLike, *, dragging: bool = False
    ) -> None:
        """Shift the whole probe ``index`` by ``offset_lps_mm`` (tip and entry together)."""
        offset = np.asarray(probe_point(offset_lps_mm))
        probe = probe_at(self._plan, index)
        self.move_probe(
            index,
            tip_lps_mm=np.add(probe.tip_lps_mm, offset),
            entry_lps_mm=np.add(probe.entry_lps_mm, offset),
            dragging=dragging,
        )

    def end_drag(self) -> None:
        """The drag ended: the next move starts a new undo step; signals ``drag_finished``."""
        self.history.close_merge()
        if self._dragging:
            self._dragging = False
            self.drag_finished.emit()

    @property
    def dragging(self) -> bool:
        """True between a move with ``dragging=True`` and :meth:`end_drag`."""
        return self._dragging

    def remove_probe(self, index: int) -> None:
        probe = probe_at(self._plan, index)
        probes = self._plan.probes[:index] + self._plan.probes[index + 1 :]
        self._edit_plan(self._plan.with_probes(probes), f"Remove probe {probe.label or index + 1}")

    def set_probe_model(self, index: int, model_id: str) -> None:
        """Give probe ``index`` another model of the library (undoable)."""
        probe = probe_at(self._plan, index)
        moved = replace(probe, model_id=model_id)
        check_probe_length(moved, self.probe_library.get(model_id))
        probes = list(self._plan.probes)
        probes[index] = moved
        self._edit_plan(
            self._plan.with_probes(tuple(probes)), f"Change model of {probe.label or index + 1}"
        )

    @property
    def selected_probe(self) -> int | None:
        return self._selected

    def select_probe(self, index: int | None) -> None:
        if index is not None and not 0 <= index < len(self._plan.probes):
            raise InvalidParameterError(
                f"probe index must lie in 0..{len(self._plan.probes) - 1}, got {index}."
            )
        if index != self._selected:
            self._selected = index
            self.selected_probe_changed.emit(index)

    # -- labels --------------------------------------------------------------------------
    @property
    def labels(self) -> LabelMap | None:
        return self._labels

    def set_labels(self, labels: LabelMap | None) -> None:
        """Use another label map, not as an undoable edit (one read from a file)."""
        if labels is not self._labels:
            self._labels = labels
            self.labels_changed.emit(labels)

    def replace_labels(self, labels: LabelMap, text: str) -> None:
        """Replace the label map by an edited one (undoable).

        Raises
        ------
        GeometryMismatchError
            When ``labels`` is on another grid than the open image.
        """
        if self._case is None:
            raise InvalidParameterError("no image is open; open a case first.")
        self._case.volume.geometry.require_match(labels.geometry, what="edited label map vs image")
        before = self._labels
        if labels is before:
            return
        self.history.push(
            Command(text, lambda: self.set_labels(labels), lambda: self.set_labels(before))
        )

    @property
    def labels_edited(self) -> bool:
        """True when the labels differ from those the case was opened with."""
        return self._case is not None and self._labels is not self._case.labels

    # -- results -------------------------------------------------------------------------
    @property
    def results(self) -> PlanResults | None:
        """The last full evaluation, fresh or stale (see :attr:`results_fresh`)."""
        return self._results

    @property
    def results_fresh(self) -> bool:
        """True when :attr:`results` belong to the present plan and labels."""
        return self._results is not None and self._results.inputs.matches(self.current_inputs())

    def current_inputs(self) -> InputsKey:
        """The :class:`~cryoplan_app.model.plan_state.InputsKey` of the present plan and labels."""
        return inputs_key(self._plan, self._labels)

    def set_results(self, results: PlanResults | None) -> None:
        """Store an evaluation; a fresh one replaces the drag preview."""
        if results is not self._results:
            self._results = results
            self.results_changed.emit(results)
        if results is not None and self.results_fresh:
            self.set_preview(None)

    def set_preview(self, field: TemperatureField | None) -> None:
        if field is self._preview:
            return
        self._preview = field
        self.preview_changed.emit(field)

    @property
    def temperature_field(self) -> TemperatureField | None:
        """The field whose isotherms the views draw (preview while dragging, else results)."""
        if self._preview is not None:
            return self._preview
        return None if self._results is None else self._results.field

    def plan_warnings(self) -> tuple[PlanWarning, ...]:
        """The plan's warnings as they stand: its own, the image's and the fresh simulation's.

        Those of an older simulation are dropped: they belong to other probes.
        """
        plan = self._plan
        if self._case is not None:
            plan = plan.with_step_warnings("image", self._case.volume.warnings)
        results = self._results if self.results_fresh else None
        simulation = None if results is None else results.simulation
        return plan.with_step_warnings(
            "simulation", () if simulation is None else simulation.warnings
        ).warnings

    # -- saving --------------------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        """The file the plan was last saved to or opened from."""
        return self._path

    def _set_path(self, path: Path | None) -> None:
        if path != self._path:
            self._path = path
            self.path_changed.emit(path)

    def snapshot(self) -> PlanSnapshot:
        """What saving writes now: the plan with its fresh metrics and warnings, the labels and
        the fresh simulation (see :class:`~cryoplan_app.model.plan_files.PlanSnapshot`).

        Raises
        ------
        InvalidParameterError
            When no image is open.
        """
        if self._case is None:
            raise InvalidParameterError("no image is open; open a case first.")
        plan = self._plan
        results = self._results if self.results_fresh else None
        if results is not None and results.metrics is not None:
            plan = plan.with_metrics(results.metrics)
        return PlanSnapshot(
            replace(plan, warnings=self.plan_warnings()),
            self._labels,
            None if results is None else results.simulation,
            self._case.image_path,
        )

    def mark_saved(self, path: Path, checkpoint: Checkpoint | None = None) -> bool:
        """The state at ``checkpoint`` (the present one by default) was saved to ``path``.

        Returns False, changing nothing, when this document no longer has that
        state (another plan was opened meanwhile).
        """
        if not self.history.mark_saved(checkpoint):
            return False
        self._set_path(Path(path))
        return True
