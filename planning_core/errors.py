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
