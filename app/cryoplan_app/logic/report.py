"""The plan report and DICOM export of the session's plan, computed in the background.

A report's numbers must come from the core's verification grid, as the command
line's do, while the window evaluates on a coarser grid for speed; so the work
re-evaluates the present plan through
:func:`planning_core.report.plan_report.report_plan`, the function behind
``cryoplan report``. The DICOM export (``cryoplan export``) writes SEG, the
report as Encapsulated PDF and key images into the planning CT's study; its
de-identified form follows the DICOM PS3.15 basic profile and writes the
de-identified CT beside them (:func:`planning_core.report.dicom_export.export_plan_dicom`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from cryoplan_app.logic.runner import Runner, TaskHandle
from cryoplan_app.model.session import Session
from planning_core.errors import ReportError
from planning_core.imaging.deidentify import Deidentifier
from planning_core.progress import CancelToken, ProgressCallback, sub_progress
from planning_core.report.build import ReportOutput
from planning_core.report.dicom_export import (
    DicomExport,
    check_deidentified_folder,
    export_plan_dicom,
    reference_dataset,
)
from planning_core.report.plan_report import REPORT_GRID_MM, PlanReport, report_plan


class ReportLogic:
    """Writes the report, or the DICOM export, of ``session``'s plan on ``runner``.

    ``spacing_mm`` is the grid of the evaluation behind the report, the same as
    ``cryoplan report``'s default.
    """

    def __init__(
        self, session: Session, runner: Runner, *, spacing_mm: float = REPORT_GRID_MM
    ) -> None:
        self.session = session
        self.runner = runner
        self.spacing_mm = spacing_mm

    def report_job(
        self, *, deidentify: bool = False
    ) -> Callable[[Path, ProgressCallback, CancelToken], PlanReport]:
        """A job ``(pdf_path, progress, cancel)``: evaluate the present plan, write its PDF.

        Raises
        ------
        ReportError
            At once (on the calling thread) when there is nothing to report: no
            image, no tumor label or no probes.
        """
        session = self.session
        case, labels, plan = session.case, session.document.labels, session.document.plan
        library, spacing_mm = session.document.probe_library, self.spacing_mm
        if case is None:
            raise ReportError(
                "no image is open: open a case and plan it before exporting a report."
            )
        if labels is None or not labels.has(plan.target_label):
            raise ReportError(
                f"the label map has no '{plan.target_label}' label: segment the tumor first."
            )
        if not plan.probes:
            raise ReportError("the plan has no probes: add probes or run the optimizer first.")

        def job(out_path: Path, progress: ProgressCallback, cancel: CancelToken) -> PlanReport:
            return report_plan(
                plan,
                case.volume,
                labels,
                out_path=out_path,
                spacing_mm=spacing_mm,
                probe_library=library,
                deidentify=deidentify,
                progress=progress,
                cancel=cancel,
            )

        return job

    def report_work(
        self, out_path: str | Path, *, deidentify: bool = False
    ) -> Callable[[ProgressCallback, CancelToken], ReportOutput]:
        """The work that evaluates the present plan and writes its PDF to ``out_path``.

        Raises :class:`ReportError` at once when there is nothing to report.
        """
        job = self.report_job(deidentify=deidentify)
        path = Path(out_path)

        def work(progress: ProgressCallback, cancel: CancelToken) -> ReportOutput:
            return job(path, progress, cancel).output

        return work

    def export_report(
        self,
        out_path: str | Path,
        *,
        deidentify: bool = False,
        on_done: Callable[[ReportOutput], None],
    ) -> TaskHandle:
        """Write the report of the present plan to ``out_path``; ``on_done(output)`` after.

        Raises :class:`ReportError` at once when there is nothing to report.
        """
        work = self.report_work(out_path, deidentify=deidentify)
        return self.runner.submit("Writing the plan report", work, on_done=on_done, key="report")

    def export_dicom(
        self,
        folder: str | Path,
        *,
        deidentify: bool = False,
        on_done: Callable[[DicomExport], None],
    ) -> TaskHandle:
        """Export the present plan as DICOM into ``folder``; ``on_done(export)`` after.

        ``deidentify`` removes the patient's identifiers from every object (DICOM
        PS3.15 basic profile, the de-identified report) and writes the
        de-identified CT into ``folder/CT``.

        Raises
        ------
        ReportError
            At once when the plan cannot be reported, its image was not loaded
            from DICOM, or the de-identified export's folder is unusable.
        """
        job = self.export_dicom_job(deidentify=deidentify)
        if deidentify:
            check_deidentified_folder(Path(folder))

        def work(progress: ProgressCallback, cancel: CancelToken) -> DicomExport:
            return job(Path(folder), progress, cancel)

        return self.runner.submit(
            "Exporting the plan as DICOM", work, on_done=on_done, key="report"
        )

    def export_dicom_job(
        self, *, deidentify: bool = False
    ) -> Callable[[Path, ProgressCallback, CancelToken], DicomExport]:
        """A job ``(folder, progress, cancel)``: evaluate the present plan, export it as DICOM.

        Sending the export to a PACS node (:class:`~cryoplan_app.logic.pacs.PacsLogic`)
        runs this job and the sending in one task.

        Raises
        ------
        ReportError
            At once when the plan cannot be reported or its image was not
            loaded from DICOM.
        """
        job = self.report_job(deidentify=deidentify)
        case, labels = self.session.case, self.session.document.labels
        if case is None or labels is None:  # report_job refused these already
            raise ReportError("no image is open: open a case and plan it before exporting.")
        reference_dataset(case.volume)  # refuses an image from a volume file before any work

        def export(folder: Path, progress: ProgressCallback, cancel: CancelToken) -> DicomExport:
            with tempfile.TemporaryDirectory(prefix="cryoplan-export-") as scratch:
                report = job(Path(scratch) / "report.pdf", sub_progress(progress, 0.0, 0.6), cancel)
                return export_plan_dicom(
                    report.plan,
                    case.volume,
                    labels,
                    report.dose,
                    report.output,
                    folder,
                    deidentifier=Deidentifier.random() if deidentify else None,
                    progress=sub_progress(progress, 0.6, 1.0),
                    cancel=cancel,
                )

        return export
