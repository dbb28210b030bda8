"""Saving a session's plan and showing a plan read from disk.

Reading and writing the files is :mod:`cryoplan_app.model.plan_files`; this
module puts what was read into a :class:`~cryoplan_app.model.session.Session`,
and saves one. The window runs both halves of the work in a worker: it reads
with :func:`~cryoplan_app.model.plan_files.read_plan_files` there and calls
:func:`show_opened_plan` with the result; to save, it takes
``document.snapshot()`` and ``document.history.checkpoint()`` on its own thread,
writes with :meth:`~cryoplan_app.model.plan_files.PlanSnapshot.write` in the
worker and calls ``document.mark_saved`` when done. :func:`save_plan` and
:func:`open_plan` do it all at once, for scripts and tests.
"""

from __future__ import annotations

from pathlib import Path

from cryoplan_app.model.case import case_from_files
from cryoplan_app.model.plan_files import OpenedPlan, read_plan_files
from cryoplan_app.model.plan_state import simulation_results
from cryoplan_app.model.session import Session
from planning_core.planning.plan import Plan


def save_plan(session: Session, path: str | Path) -> Path:
    """Save the plan with its labels and fresh simulation beside it; not dirty after.

    Raises
    ------
    PlanFileError
        When a file cannot be written.
    InvalidParameterError
        When no image is open.
    """
    document = session.document
    checkpoint = document.history.checkpoint()
    written = document.snapshot().write(path)
    document.mark_saved(written, checkpoint)
    return written


def open_plan(session: Session, path: str | Path) -> Plan:
    """Read and show a plan file (see :func:`show_opened_plan`).

    Raises
    ------
    PlanFileError
        For unreadable files or a plan made on another image.
    """
    case = session.case
    reference = None if case is None else case.reference
    return show_opened_plan(session, read_plan_files(path, reference=reference))


def show_opened_plan(session: Session, opened: OpenedPlan) -> Plan:
    """Show a plan read by :func:`~cryoplan_app.model.plan_files.read_plan_files`.

    The plan's image replaces the open case unless it is that very image;
    its saved labels and fields come with it. The undo history starts
    afresh and the session is not dirty.
    """
    plan = opened.plan
    case = session.case
    same_image = (
        case is not None
        and case.reference is not None
        and plan.case is not None
        and case.reference.content_sha256 == plan.case.content_sha256
    )
    labels = opened.labels
    if opened.volume is not None and plan.image_path is not None and not same_image:
        session.open_case(
            case_from_files(
                opened.volume, opened.labels, image_path=plan.image_path, reference=plan.case
            )
        )
        labels = None  # they came with the case
    session.show_plan(plan, labels=labels, path=opened.path)
    document = session.document
    if opened.simulation is not None:
        document.set_results(
            simulation_results(document.current_inputs(), opened.simulation, plan.metrics)
        )
    return plan
