"""Sending a plan's DICOM export into its source study on a PACS node or DICOMweb server.

One rule for ``cryoplan export --pacs/--dicomweb`` and the app's "Send plan to
PACS node": the objects an export wrote (SEG, Encapsulated PDF, Secondary
Capture) go to the node by :func:`planning_core.imaging.pacs.send` (C-STORE or
STOW-RS); a de-identified export is refused, since its objects belong to a new
study and would land beside the patient's images under another identity.
"""

from __future__ import annotations

from planning_core.errors import InvalidParameterError
from planning_core.imaging.pacs import Node, SendReport, send
from planning_core.progress import CancelToken, ProgressCallback
from planning_core.report.dicom_export import DicomExport


def send_export(
    export: DicomExport,
    node: Node,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SendReport:
    """Send every object of ``export`` to ``node``, into the export's (the CT's) study.

    Parameters
    ----------
    export : DicomExport
        What :func:`~planning_core.report.dicom_export.export_plan_dicom` wrote.
    node : DimseNode or DicomWebNode
        Where to send it.
    progress, cancel
        Progress per object sent, and a cancel token.

    Returns
    -------
    SendReport
        What was sent and what the node refused.

    Raises
    ------
    InvalidParameterError
        When ``export`` is de-identified or holds no object.
    PacsError
        When the node cannot be reached or stops answering.
    """
    if export.deidentified:
        raise InvalidParameterError(
            f"{export.folder}: a de-identified export makes a new study, so it is not sent "
            "into the patient's study on a PACS node; export without de-identification to "
            "send it."
        )
    if not export.objects:
        raise InvalidParameterError(f"{export.folder}: the export holds no DICOM object to send.")
    return send(node, [obj.path for obj in export.objects], progress=progress, cancel=cancel)
