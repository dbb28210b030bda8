"""Patient and study attributes that derived objects copy from their source image.

A SEG, Encapsulated PDF or Secondary Capture joins the study of the image it
was made on and repeats its Patient and General Study modules. There, Patient
Name, Patient ID, Birth Date, Sex, Study Date and Time, Referring Physician,
Study ID and Accession Number are Type 2: they must be present but may be
empty. Real source files often lack them or hold values that do not parse (a
sex of ``"U"``, a date written ``2014-08-17``), and writers such as highdicom
read them as attributes, so the copy is completed first: absent or malformed
Type 2 values become empty. Type 3 attributes (Study Description, ...) are
copied only when present.
"""

from __future__ import annotations

import re

from pydicom.dataset import Dataset

_DATE = re.compile(r"^\d{8}$")
_TIME = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$")
_SEX = re.compile(r"^[MFO]$")
_ANY = re.compile(r"")
#: Type 2 attributes of the Patient and General Study modules, with the form a value must have.
TYPE2_PATIENT_STUDY = {
    "PatientName": _ANY,
    "PatientID": _ANY,
    "PatientBirthDate": _DATE,
    "PatientSex": _SEX,
    "StudyDate": _DATE,
    "StudyTime": _TIME,
    "ReferringPhysicianName": _ANY,
    "StudyID": _ANY,
    "AccessionNumber": _ANY,
}


def complete_patient_study(dataset: Dataset) -> Dataset:
    """Give ``dataset`` every Type 2 patient/study attribute, empty where absent or malformed.

    Parameters
    ----------
    dataset : pydicom Dataset
        A source image header; changed in place.

    Returns
    -------
    Dataset
        The same dataset, for chaining.
    """
    for keyword, form in TYPE2_PATIENT_STUDY.items():
        value = _text(dataset, keyword)
        if keyword not in dataset or not form.match(value):
            setattr(dataset, keyword, value if form.match(value) else "")
    return dataset


def _text(dataset: Dataset, keyword: str) -> str:
    """The attribute's value as text; empty when absent, empty or unreadable."""
    try:
        value = dataset.get(keyword)
    except (ValueError, TypeError, OverflowError):
        return ""  # pydicom converts values on access and rejects some malformed ones
    return "" if value is None else str(value).strip()


#: Largest IS value (a signed 32-bit integer).
_MAX_IS = 2**31 - 1


def derived_series_number(source_number: object, offset: int) -> int:
    """Series number of a derived series: the source's plus ``offset``.

    Series Number is Type 2 (may be empty) and real files hold odd values
    (``"abc"``, ``"12.5"``, numbers near the IS limit); those count as 0, so the
    derived series gets ``offset``.
    """
    try:
        number = int(str(source_number).strip() or 0)
    except (ValueError, TypeError):
        number = 0
    return number + offset if 0 <= number <= _MAX_IS - offset else offset
