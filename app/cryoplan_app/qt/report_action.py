"""File ▸ Export report / DICOM: the plan report and DICOM export of planning_core.report.

The report's numbers must come from the 1-mm verification grid, as the command
line's do, while the window evaluates on a coarser grid for speed; so the worker
re-evaluates the current plan before laying out the PDF. The DICOM export
(``cryoplan export``) writes SEG, the report as Encapsulated PDF and key images
into the planning CT's study; its de-identified form follows the DICOM PS3.15
basic profile and writes the de-identified CT beside them
(:func:`planning_core.report.dicom_export.export_plan_dicom`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PyQt6.QtWidgets import QFileDialog

from planning_core.errors import ReportError
from planning_core.imaging.deidentify import Deidentifier
from planning_core.planning.evaluate import evaluate_plan
from planning_core.planning.plan import Plan
from planning_core.progress import CancelToken, ProgressCallback, sub_progress
from planning_core.report.build import ReportOutput, build_report
from planning_core.report.dicom_export import (
    DicomExport,
    check_deidentified_folder,
    export_plan_dicom,
    reference_dataset,
)
from planning_core.report.slices import DoseField

if TYPE_CHECKING:
    from cryoplan_app.qt.main_window import MainWindow
    from cryoplan_app.qt.tasks import Task

#: Grid of the evaluation behind a report (mm), the same as ``cryoplan report``'s default.
REPORT_GRID_MM = 1.0


#: A report job: (PDF path, progress, cancel) -> (evaluated plan, lethal-dose field, report).
ReportJob = Callable[[Path, ProgressCallback, CancelToken], tuple[Plan, DoseField, ReportOutput]]


def report_job(window: MainWindow, *, deidentify: bool = False) -> ReportJob:
    """A job that evaluates the window's plan on the report grid and writes its PDF.

    ``deidentify`` writes the de-identified report. Raises :class:`ReportError` at
    once (on the GUI thread) when there is nothing to report.
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

    def job(
        out_path: Path, progress: ProgressCallback, cancel: CancelToken
    ) -> tuple[Plan, DoseField, ReportOutput]:
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
        output = build_report(
            evaluation.plan,
            case.volume,
            labels,
            dose=dose,
            out_path=out_path,
            deidentify=deidentify,
            warnings=tuple(evaluation.warnings),
            progress=sub_progress(progress, 0.6, 1.0),
            cancel=cancel,
        )
        return evaluation.plan, dose, output

    return job


def report_work(
    window: MainWindow, out_path: Path, *, deidentify: bool = False
) -> Callable[..., ReportOutput]:
    """The worker function that evaluates the window's plan and writes its PDF to ``out_path``.

    Raises :class:`ReportError` at once (on the GUI thread) when there is nothing to report.
    """
    job = report_job(window, deidentify=deidentify)

    def work(progress: ProgressCallback, cancel: CancelToken) -> ReportOutput:
        return job(out_path, progress, cancel)[2]

    return work


def export_report(window: MainWindow, out_path: str | Path, *, deidentify: bool = False) -> Task:
    """Write the report of the window's plan to ``out_path`` in a worker; status bar on success."""
    path = Path(out_path)
    work = report_work(window, path, deidentify=deidentify)

    def done(output: ReportOutput) -> None:
        window.statusBar().showMessage(f"Report written to {output.path}", 10_000)

    return window.runner.submit("Writing the plan report", work, on_done=done, key="report")


def choose_report_file(window: MainWindow, *, deidentify: bool = False) -> None:
    """Ask where to write the report, then write it; problems go to the one error dialog."""
    suffix = "-deidentified.pdf" if deidentify else ".pdf"
    suggested = f"plan-report{suffix}"
    if window.session.plan_path is not None:
        suggested = str(Path(window.session.plan_path).with_suffix("")) + suffix
    title = "Export de-identified plan report" if deidentify else "Export plan report"
    path, _ = QFileDialog.getSaveFileName(window, title, suggested, "PDF (*.pdf)")
    if not path:
        return
    try:
        export_report(window, path, deidentify=deidentify)
    except ReportError as error:
        window.errors.show_error(error)


def export_dicom(window: MainWindow, folder: str | Path, *, deidentify: bool = False) -> Task:
    """Export the window's plan as DICOM into ``folder`` in a worker; status bar on success.

    ``deidentify`` removes the patient's identifiers from every object (DICOM PS3.15
    basic profile, the de-identified report) and writes the de-identified CT into
    ``folder/CT``. Raises :class:`ReportError` at once when the plan cannot be
    reported or its image was not loaded from DICOM.
    """
    job = report_job(window, deidentify=deidentify)
    case, labels = window.session.case, window.session.labels
    assert case is not None and labels is not None  # report_job refuses a window without them
    reference_dataset(case.volume)  # refuses an image from a volume file before any work
    if deidentify:
        check_deidentified_folder(Path(folder))

    def work(progress: ProgressCallback, cancel: CancelToken) -> DicomExport:
        with tempfile.TemporaryDirectory(prefix="cryoplan-export-") as scratch:
            plan, dose, report = job(
                Path(scratch) / "report.pdf", sub_progress(progress, 0.0, 0.6), cancel
            )
            return export_plan_dicom(
                plan,
                case.volume,
                labels,
                dose,
                report,
                folder,
                deidentifier=Deidentifier.random() if deidentify else None,
                progress=sub_progress(progress, 0.6, 1.0),
                cancel=cancel,
            )

    def done(exported: DicomExport) -> None:
        kind = "de-identified " if exported.deidentified else ""
        window.statusBar().showMessage(
            f"Exported {len(exported.objects)} {kind}DICOM objects to {exported.folder}", 10_000
        )

    return window.runner.submit("Exporting the plan as DICOM", work, on_done=done, key="report")


def choose_dicom_folder(window: MainWindow, *, deidentify: bool = False) -> None:
    """Ask for the export folder, then export; problems go to the one error dialog."""
    title = "Export de-identified DICOM into folder" if deidentify else "Export DICOM into folder"
    folder = QFileDialog.getExistingDirectory(window, title)
    if not folder:
        return
    try:
        export_dicom(window, folder, deidentify=deidentify)
    except ReportError as error:
        window.errors.show_error(error)
