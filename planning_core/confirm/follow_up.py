"""The follow-up CT: whether it may be used, and when it was taken during the freeze.

Rules shared by ``cryoplan confirm --intra``/``--post`` and the desktop app's
Confirm step. Their messages name the inputs as the caller shows them
(:class:`InputNames`): the command line's flags, or the app's field labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planning_core.confirm.as_placed import check_elapsed, elapsed_from_times
from planning_core.errors import ConfirmationError, InvalidParameterError
from planning_core.imaging.volume import Volume
from planning_core.thermal.protocol import Protocol


@dataclass(frozen=True)
class InputNames:
    """How the user gives the intra-procedural inputs, as messages name them.

    Attributes
    ----------
    series : str
        The intra-procedural series (``--intra``).
    series_choice : str
        How a series of a folder holding several is chosen (``--series``).
    elapsed_min : str
        The minutes since the protocol started (``--elapsed-min``).
    freeze_start : str
        The clock time the protocol started (``--freeze-start``).
    """

    series: str
    series_choice: str
    elapsed_min: str
    freeze_start: str


#: The command line's names.
CLI_NAMES = InputNames("--intra", "--series", "--elapsed-min", "--freeze-start")


def elapsed_freeze_s(
    intra: Volume | None,
    protocol: Protocol,
    *,
    elapsed_min: float | None = None,
    freeze_start: str | None = None,
    names: InputNames = CLI_NAMES,
) -> float:
    """Seconds since the protocol started when ``intra`` was taken.

    Parameters
    ----------
    intra : Volume or None
        The intra-procedural CT; its acquisition (else series) time is read
        when ``freeze_start`` is given. None checks ``elapsed_min`` before the
        series is read.
    protocol : Protocol
        The plan's protocol: the elapsed time must lie within it.
    elapsed_min : float, optional
        Minutes since the protocol started, as the user gave them.
    freeze_start : str, optional
        The clock time the protocol started (``HH:MM[:SS]``); used when
        ``elapsed_min`` is None.
    names : InputNames
        How the user gives these inputs, for the messages.

    Raises
    ------
    InvalidParameterError
        When neither is given, the minutes are not positive, the series has
        no time, a time is malformed or the elapsed time lies outside the
        protocol; the message names the inputs.
    """
    if elapsed_min is not None:
        if not np.isfinite(elapsed_min) or elapsed_min <= 0:
            raise InvalidParameterError(
                f"{names.elapsed_min} must be a positive number of minutes, got {elapsed_min}."
            )
        elapsed_s = float(elapsed_min) * 60.0
    elif freeze_start is None:
        raise InvalidParameterError(
            f"give {names.elapsed_min} (minutes since the protocol started) or "
            f"{names.freeze_start} (the clock time it started; the series time is read from "
            "the DICOM header)."
        )
    else:
        metadata = {} if intra is None else intra.metadata
        taken = str(metadata.get("acquisition_time") or metadata.get("series_time") or "").strip()
        if not taken:
            raise InvalidParameterError(
                "the intra-procedural series has no acquisition or series time; give "
                f"{names.elapsed_min}."
            )
        elapsed_s = elapsed_from_times(taken, freeze_start, start_option=names.freeze_start)
    check_elapsed(
        protocol,
        elapsed_s,
        remedy=f"give {names.elapsed_min} (minutes since the protocol started) or "
        f"{names.freeze_start}",
    )
    return elapsed_s


def check_intra_series(
    intra: Volume, planning: Volume, *, location: str, names: InputNames = CLI_NAMES
) -> None:
    """Refuse an intra-procedural series that is the planning CT itself or another patient's
    (:func:`check_follow_up_series` with ``names``)."""
    check_follow_up_series(
        intra, planning, location=location, series_option=names.series,
        series_choice=names.series_choice, wanted="the CT taken during the freeze",
    )  # fmt: skip


def check_follow_up_series(
    follow_up: Volume,
    planning: Volume,
    *,
    location: str,
    series_option: str,
    series_choice: str,
    wanted: str,
) -> None:
    """Refuse a follow-up series (during the freeze or after the ablation) that is the
    planning CT itself or another patient's.

    Parameters
    ----------
    follow_up, planning : Volume
        The series given as follow-up and the plan's planning CT.
    location : str
        Where ``follow_up`` was read from, for the messages.
    series_option, series_choice : str
        How the user gives the series, and chooses one of a folder's (``--intra``,
        ``--series``), for the messages.
    wanted : str
        What the series should be, for the messages.

    Raises
    ------
    ConfirmationError
        When the series instance UIDs are equal or the patient IDs differ.
    """
    same_series = str(follow_up.metadata.get("series_instance_uid") or "")
    if same_series and same_series == str(planning.metadata.get("series_instance_uid") or ""):
        raise ConfirmationError(
            f"{series_option} {location} is the planning CT itself; give {wanted} (with "
            f"{series_choice} when the folder holds several)."
        )
    follow_patient = str(follow_up.metadata.get("patient_id") or "")
    planning_patient = str(planning.metadata.get("patient_id") or "")
    if follow_patient and planning_patient and follow_patient != planning_patient:
        raise ConfirmationError(
            f"{series_option} {location} belongs to another patient than the plan's CT "
            f"(Patient ID differs); give this patient's series: {wanted}."
        )
