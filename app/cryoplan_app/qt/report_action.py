"""File ▸ Export report (PDF)…: the plan report of planning_core.report, written from the window.

The report's numbers must come from the 1-mm verification grid, as the command
line's do, while the window evaluates on a coarser grid for speed; so the worker
re-evaluates the current plan before laying out the PDF.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PyQt6.QtWidgets import QFileDialog

from planning_core.errors import ReportError
from planning_core.planning.evaluate import evaluate_plan
from planning_core.progress import CancelToken, ProgressCallback, sub_progress
from planning_core.report.build import ReportOutput, build_report
from planning_core.report.slices import DoseField

if TYPE_CHECKING:
    from cryoplan_app.qt.main_window import MainWindow
    from cryoplan_app.qt.tasks import Task

#: Grid of the evaluation behind a report (mm), the same as ``cryoplan report``'s default.
REPORT_GRID_MM = 1.0


def report_work(window: MainWindow, out_path: Path) -> Callable[..., ReportOutput]:
    """The worker function that evaluates the window's plan and writes its PDF to ``out_path``.

    Raises :class:`ReportError` at once (on the GUI thread) when there is nothing to report.
    """
    session = window.session
    case, labels, plan = session.case, session.labels, session.plan
    library = session.probe_library
    if case is None:
        raise ReportError("no image is open: open a case and plan it before exporting a report.")
    if labels is None or not labels.has(plan.target_label):
        raise ReportError(
            f"the label map has no '{plan.target_label}' label: segment the tumor first."
        )
    if not plan.probes:
        raise ReportError("the plan has no probes: add probes or run the optimizer first.")

    def work(progress: ProgressCallback, cancel: CancelToken) -> ReportOutput:
        evaluation = evaluate_plan(
            plan,
            case.volume,
            labels,
            spacing_mm=REPORT_GRID_MM,
            probe_library=library,
            progress=sub_progress(progress, 0.0, 0.6),
            cancel=cancel,
        )
        simulation = evaluation.simulation
        dose = DoseField(simulation.min_temperature_c, simulation.geometry)
        return build_report(
            evaluation.plan,
            case.volume,
            labels,
            dose=dose,
            out_path=out_path,
            warnings=tuple(evaluation.warnings),
            progress=sub_progress(progress, 0.6, 1.0),
            cancel=cancel,
        )

    return work


def export_report(window: MainWindow, out_path: str | Path) -> Task:
    """Write the report of the window's plan to ``out_path`` in a worker; status bar on success."""
    path = Path(out_path)
    work = report_work(window, path)

    def done(output: ReportOutput) -> None:
        window.statusBar().showMessage(f"Report written to {output.path}", 10_000)

    return window.runner.submit("Writing the plan report", work, on_done=done, key="report")


def choose_report_file(window: MainWindow) -> None:
    """Ask where to write the report, then write it; problems go to the one error dialog."""
    suggested = "plan-report.pdf"
    if window.session.plan_path is not None:
        suggested = str(Path(window.session.plan_path).with_suffix(".pdf"))
    path, _ = QFileDialog.getSaveFileName(window, "Export plan report", suggested, "PDF (*.pdf)")
    if not path:
        return
    try:
        export_report(window, path)
    except ReportError as error:
        window.errors.show_error(error)
