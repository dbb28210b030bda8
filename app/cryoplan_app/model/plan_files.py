"""Saving and opening plans with their companion files, as the core lays them out.

A plan ``liver.json`` is saved with its label map ``liver.<tag>.labels.nii.gz``
and, when its metrics are fresh, the simulation fields ``liver.<tag>.fields.npz``
beside it, replaced as a set (:mod:`planning_core.planning.companions`), so
that opening it again shows the same labels and iceball without simulating.
Opening reads the image the plan names; a plan that names none is opened onto
the image already open, after checking that it is the one the plan was made on.

Saving can run in a worker thread: the window copies what is saved into a
:class:`PlanSnapshot` on its own thread (the snapshot shares only immutable
objects with the session), and the worker writes it with :meth:`PlanSnapshot.write`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path

from planning_core.errors import PlanFileError
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.case_files import load_plan_case, write_plan_case_files
from planning_core.planning.case_reference import CaseReference
from planning_core.planning.plan import Plan
from planning_core.planning.plan_json import load_plan, save_plan
from planning_core.progress import CancelToken, ProgressCallback
from planning_core.thermal.result import SimulationResult


@dataclass(frozen=True, eq=False)
class OpenedPlan:
    """A plan read from disk with what it refers to.

    Attributes
    ----------
    plan : Plan
        The plan, its ``case`` reference always set.
    path : Path
        The plan file.
    volume : Volume or None
        The planning image the plan names (``None`` when it names none: then
        it belongs to the image open when it was read).
    labels : LabelMap or None
        The label map saved with the plan.
    simulation : SimulationResult or None
        The saved fields when they still belong to the plan.
    warnings : tuple of str
        Why saved fields were not used.
    """

    plan: Plan
    path: Path
    volume: Volume | None = None
    labels: LabelMap | None = None
    simulation: SimulationResult | None = None
    warnings: tuple[str, ...] = ()


# Two saves to the same plan would interleave their companion files; one at a time.
_WRITE_LOCK = threading.Lock()


@dataclass(frozen=True, eq=False)
class PlanSnapshot:
    """Everything a plan save writes, copied from the session at one moment.

    Attributes
    ----------
    plan : Plan
        The plan with its fresh metrics and present warnings.
    labels : LabelMap or None
        The label map it was made with.
    simulation : SimulationResult or None
        The simulation behind ``plan.metrics`` when they are fresh.
    image_path : Path or None
        The planning image's file or DICOM folder.
    """

    plan: Plan
    labels: LabelMap | None
    simulation: SimulationResult | None
    image_path: Path | None

    def write(self, path: str | Path) -> Path:
        """Write the plan and its companion files to ``path`` (safe in a worker); returns it.

        Raises
        ------
        PlanFileError
            When a file cannot be written.
        """
        path = Path(path)
        with _WRITE_LOCK:
            write_plan_files(
                self.plan,
                path,
                labels=self.labels,
                simulation=self.simulation,
                image_path=self.image_path,
            )
        return path


def write_plan_files(
    plan: Plan,
    path: str | Path,
    *,
    labels: LabelMap | None,
    simulation: SimulationResult | None,
    image_path: str | Path | None,
) -> Plan:
    """Save ``plan`` to ``path`` with its label map and (fresh) simulation beside it.

    Parameters
    ----------
    plan : Plan
        The plan; ``simulation`` is written only when its metrics are fresh.
    path : str or Path
        The plan file.
    labels : LabelMap, optional
        The label map the plan was made with.
    simulation : SimulationResult, optional
        The simulation behind ``plan.metrics``.
    image_path : str or Path, optional
        The planning image's file or DICOM folder, recorded in the plan.

    Returns
    -------
    Plan
        The plan as saved (referring to its companion files).

    Raises
    ------
    PlanFileError
        When a file cannot be written.
    """
    path = Path(path)
    if labels is not None and plan.case is not None:
        fresh = simulation if plan.metrics is not None and not plan.metrics_stale() else None
        try:
            plan = write_plan_case_files(
                plan, plan_path=path, label_map=labels, simulation=fresh, image_path=image_path
            )
        except OSError as error:
            raise PlanFileError(
                f"{path}: cannot write the plan's companion files ({error.strerror or error}); "
                "choose a folder you can write to."
            ) from error
    save_plan(plan, path)
    return plan


def read_plan_files(
    path: str | Path,
    *,
    reference: CaseReference | None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> OpenedPlan:
    """Read a plan and what it refers to.

    Parameters
    ----------
    path : str or Path
        The plan file.
    reference : CaseReference, optional
        The open image; a plan that names no image of its own must have been made on it.
    progress, cancel
        Progress callback and cancel token.

    Raises
    ------
    PlanFileError
        For an unreadable plan or companion file, or a plan made on another image.
    """
    path = Path(path)
    if progress is not None:
        progress(0.0, f"Reading {path.name}")
    plan = load_plan(path)
    if plan.image_path is not None and plan.labels_path is not None:
        if progress is not None:
            progress(0.2, "Loading the planning image")
        case = load_plan_case(plan, plan_path=path)
        if cancel is not None:
            cancel.raise_if_cancelled()
        return OpenedPlan(plan, path, case.volume, case.label_map, case.thermal, case.warnings)
    if reference is None:
        raise PlanFileError(
            f"{path}: the plan names no planning image; open the image it was made on first, "
            "then open the plan."
        )
    if plan.case is None:
        return OpenedPlan(replace(plan, case=reference), path)
    if plan.case.content_sha256 != reference.content_sha256:
        series = plan.case.series_instance_uid or "unknown series"
        raise PlanFileError(
            f"{path}: the plan was made on another image ({plan.case.description or series}); "
            "the open image differs in voxels or grid. Open the image the plan was made on."
        )
    return OpenedPlan(plan, path)
