"""One exception hierarchy for everything the planner reports to a user.

Every message says what went wrong, where (file, series UID or parameter) and
what the user can do about it. Problems that still allow a result are returned
as warnings with that result instead of being raised.
"""

from __future__ import annotations


class PlanningError(Exception):
    """Base class of all errors a user may see; the GUI shows these in one dialog."""


class InvalidParameterError(PlanningError, ValueError):
    """A parameter is out of its declared range or malformed; the message names it."""


class OperationCancelledError(PlanningError):
    """Long work stopped because the user cancelled it."""


class DicomLoadError(PlanningError):
    """A DICOM file or series cannot be read into a volume."""


class VolumeFormatError(PlanningError):
    """A volume or label map file (NIfTI, NRRD, MHA, ...) cannot be read or written."""


class GeometryMismatchError(PlanningError):
    """Two grids that must match (image and label map, say) do not."""


class SegmentationError(PlanningError):
    """A segmentation failed or produced an implausible result."""


class SolverError(PlanningError):
    """The thermal simulation cannot run with the given set-up."""


class InfeasiblePlanError(PlanningError):
    """No plan satisfies the constraints; the message names the blocking one."""

    def __init__(self, message: str, *, best_partial_plan: object | None = None) -> None:
        super().__init__(message)
        self.best_partial_plan = best_partial_plan


class PlanFileError(PlanningError):
    """A plan file is unreadable, invalid or incompatible with this version."""


class ReportError(PlanningError):
    """A report or DICOM export cannot be produced."""


class RegistrationError(PlanningError):
    """A follow-up CT cannot be registered to the planning CT well enough to be used."""


class ConfirmationError(PlanningError):
    """A follow-up CT cannot confirm the plan: no probes found on it, none matching the plan."""


class PacsError(PlanningError):
    """Talking to a PACS node or DICOMweb server failed.

    Messages name the node (its name, address and AE title or URL) and never its
    credentials.
    """


class PacsConnectionError(PacsError):
    """The node cannot be reached: connection refused, unknown host, no route."""


class PacsAssociationRejectedError(PacsError):
    """The node refused the DICOM association (wrong called or calling AE title, ...)."""


class PacsTimeoutError(PacsError):
    """The node did not answer within the node's timeout."""


class PacsTransferInterruptedError(PacsError):
    """A retrieval stopped before every instance arrived; what arrived is kept aside
    (never in the study cache) and the same retrieval resumes it."""

    def __init__(self, message: str, *, received: int, expected: int) -> None:
        super().__init__(message)
        self.received = received
        self.expected = expected


class PacsResponseError(PacsError):
    """The node answered with something that is not a valid response."""
