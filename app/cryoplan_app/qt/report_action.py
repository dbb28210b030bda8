"""File ▸ Export report / DICOM / send to PACS: asks where to, then forwards to the logic.

The evaluation on the report grid, the PDF and the DICOM objects are the
application logic's work (:class:`~cryoplan_app.logic.report.ReportLogic`, the
same core function as ``cryoplan report``); this module only asks for the file
or folder and tells the user when it is written.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtWidgets import QFileDialog, QInputDialog

from cryoplan_app.logic.runner import TaskHandle
from cryoplan_app.qt.context import AppContext
from planning_core.errors import InvalidParameterError, PlanningError, ReportError
from planning_core.imaging.pacs import SendReport
from planning_core.report.build import ReportOutput
from planning_core.report.dicom_export import DicomExport

#: How long the status bar shows that an export is written (ms).
_MESSAGE_MS = 10_000


def export_report(
    context: AppContext, out_path: str | Path, *, deidentify: bool = False
) -> TaskHandle:
    """Write the report of the present plan to ``out_path`` in a worker; status bar on success.

    Raises :class:`ReportError` at once when there is nothing to report.
    """

    def done(output: ReportOutput) -> None:
        context.status_bar.showMessage(f"Report written to {output.path}", _MESSAGE_MS)

    return context.logic.report.export_report(out_path, deidentify=deidentify, on_done=done)


def choose_report_file(context: AppContext, *, deidentify: bool = False) -> None:
    """Ask where to write the report, then write it; problems go to the one error dialog."""
    suffix = "-deidentified.pdf" if deidentify else ".pdf"
    suggested = f"plan-report{suffix}"
    if context.session.document.path is not None:
        suggested = str(Path(context.session.document.path).with_suffix("")) + suffix
    title = "Export de-identified plan report" if deidentify else "Export plan report"
    path, _ = QFileDialog.getSaveFileName(context.dialog_parent, title, suggested, "PDF (*.pdf)")
    if not path:
        return
    try:
        export_report(context, path, deidentify=deidentify)
    except ReportError as error:
        context.errors.show_error(error)


def export_dicom(
    context: AppContext, folder: str | Path, *, deidentify: bool = False
) -> TaskHandle:
    """Export the present plan as DICOM into ``folder`` in a worker; status bar on success.

    Raises :class:`ReportError` at once when the plan cannot be reported or its
    image was not loaded from DICOM.
    """

    def done(exported: DicomExport) -> None:
        kind = "de-identified " if exported.deidentified else ""
        context.status_bar.showMessage(
            f"Exported {len(exported.objects)} {kind}DICOM objects to {exported.folder}",
            _MESSAGE_MS,
        )

    return context.logic.report.export_dicom(folder, deidentify=deidentify, on_done=done)


def choose_dicom_folder(context: AppContext, *, deidentify: bool = False) -> None:
    """Ask for the export folder, then export; problems go to the one error dialog."""
    title = "Export de-identified DICOM into folder" if deidentify else "Export DICOM into folder"
    folder = QFileDialog.getExistingDirectory(context.dialog_parent, title)
    if not folder:
        return
    try:
        export_dicom(context, folder, deidentify=deidentify)
    except ReportError as error:
        context.errors.show_error(error)


def send_plan_to_pacs(context: AppContext, node_name: str) -> TaskHandle:
    """Export the present plan as DICOM and send it into its CT's study on ``node_name``.

    The same export and the same sending as ``cryoplan export --pacs``, in a
    worker (:meth:`~cryoplan_app.logic.pacs.PacsLogic.send_plan`); the status
    bar tells what was sent. Raises :class:`PlanningError` at once when the
    node is not configured or the plan cannot be exported.
    """

    def done(report: SendReport) -> None:
        refused = f"; {len(report.failures)} refused" if report.failures else ""
        context.status_bar.showMessage(
            f"Sent {report.sent} DICOM objects to {report.node}{refused}", _MESSAGE_MS
        )

    return context.logic.pacs.send_plan(node_name, on_done=done)


def choose_pacs_node(context: AppContext) -> None:
    """Ask which configured PACS node to send the plan to, then send it."""
    pacs = context.logic.pacs
    try:
        names = [node.name for node in pacs.reload_nodes()]
        if not names:
            raise InvalidParameterError(
                "no PACS node is configured: add one in the Studies panel's PACS tab "
                f"(nodes file {pacs.nodes_file})."
            )
    except PlanningError as error:
        context.errors.show_error(error)
        return
    name, chosen = QInputDialog.getItem(
        context.dialog_parent, "Send plan to PACS node", "Node", names, 0, False
    )
    if not chosen:
        return
    try:
        send_plan_to_pacs(context, name)
    except PlanningError as error:
        context.errors.show_error(error)
