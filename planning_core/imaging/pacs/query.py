"""What a user searches a PACS for, and what the PACS answers: studies and series."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

from planning_core.errors import InvalidParameterError

_DATE = r"\d{8}"
_DATE_RANGE = re.compile(rf"(?:{_DATE})?-?(?:{_DATE})?")
_UID = re.compile(r"[0-9]+(?:\.[0-9]+)*")


def check_uid(value: str, *, option: str) -> str:
    """``value`` as a DICOM UID (digits and dots, at most 64 characters).

    Raises
    ------
    InvalidParameterError
        Naming ``option`` (``--study``, ``--series``).
    """
    if len(value) > 64 or not _UID.fullmatch(value):
        raise InvalidParameterError(
            f"{option} {value!r}: a DICOM UID is digits and dots, at most 64 characters "
            "(copy it from `cryoplan pacs find`)."
        )
    return value


def check_date_range(value: str, *, option: str) -> str:
    """``value`` as a DICOM date or range (``YYYYMMDD``, ``YYYYMMDD-YYYYMMDD``, open ends).

    Raises
    ------
    InvalidParameterError
        Naming ``option`` (``--study-date``, ``--birth-date``).
    """
    if value and (value == "-" or not _DATE_RANGE.fullmatch(value)):
        raise InvalidParameterError(
            f"{option} {value!r}: give a date YYYYMMDD or a range YYYYMMDD-YYYYMMDD "
            "(either end may be left open)."
        )
    return value


@dataclass(frozen=True)
class StudyQuery:
    """Matching keys of a study search; empty keys match everything.

    ``patient_name`` may hold ``*`` and ``?`` wild cards; ``study_date`` and
    ``birth_date`` take a date or a range ``YYYYMMDD-YYYYMMDD``; ``modality`` is
    matched against the modalities in the study.
    """

    patient_id: str = ""
    patient_name: str = ""
    birth_date: str = ""
    study_date: str = ""
    modality: str = ""
    accession: str = ""

    def __post_init__(self) -> None:
        check_date_range(self.study_date, option="--study-date")
        check_date_range(self.birth_date, option="--birth-date")
        for option, value in (
            ("--patient-id", self.patient_id),
            ("--patient-name", self.patient_name),
            ("--modality", self.modality),
            ("--accession", self.accession),
        ):
            if "\\" in value or any(not c.isprintable() for c in value) or len(value) > 64:
                raise InvalidParameterError(
                    f"{option} {value!r}: at most 64 printable characters without backslash."
                )


@dataclass(frozen=True)
class StudyMatch:
    """One study a node found."""

    study_uid: str
    patient_id: str
    patient_name: str
    birth_date: str
    study_date: str
    study_description: str
    accession: str
    modalities: tuple[str, ...]
    series_count: int | None

    def to_dict(self) -> dict[str, object]:
        fields = asdict(self)
        fields["modalities"] = list(self.modalities)
        return fields


@dataclass(frozen=True)
class SeriesMatch:
    """One series a node found in a study."""

    study_uid: str
    series_uid: str
    modality: str
    series_number: int | None
    series_description: str
    instance_count: int | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class InstanceRef:
    """One instance a node holds: enough to fetch it and to offer its SOP class."""

    series_uid: str
    sop_uid: str
    sop_class_uid: str


#: Called for each instance received: (SOP Instance UID, the DICOM Part 10 file's bytes).
InstanceSink = Callable[[str, bytes], None]
