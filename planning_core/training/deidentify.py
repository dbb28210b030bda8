"""De-identified copies of DICOM studies for the training library.

The copy keeps every voxel and the geometry (so plans made on the original
still match by content hash) and removes what identifies the patient: names
and identifiers are replaced by the library case id, birth date and free-text
identifiers are emptied, every date is shifted back by a fixed number of days
derived from the case (keeping intervals between studies), instance UIDs are
remapped deterministically (the same original UID always maps to the same new
one within a case, so references between files stay consistent) and private
tags are dropped. This follows the spirit of the DICOM PS3.15 basic profile
for the attributes a planning study carries; it is not a certified profile.
"""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from planning_core.errors import DicomLoadError
from planning_core.imaging.dicom_write import uid_from_seed
from planning_core.progress import CancelToken, ProgressCallback

#: Attributes emptied in the copy (identifying free text, people, places, devices).
EMPTIED_KEYWORDS = (
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientMotherBirthName",
    "OtherPatientIDs",
    "OtherPatientNames",
    "MilitaryRank",
    "EthnicGroup",
    "PatientComments",
    "AccessionNumber",
    "StudyID",
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy",
    "OperatorsName",
    "RequestingPhysician",
    "StationName",
    "DeviceSerialNumber",
    "RequestAttributesSequence",
    "OtherPatientIDsSequence",
)
#: Largest backward date shift (days); the shift of a case lies in [1, this].
MAX_DATE_SHIFT_DAYS = 3650
DEIDENTIFICATION_METHOD = "cryoplan: names and IDs replaced, dates shifted, UIDs remapped"


def date_shift_days(seed: str) -> int:
    """Days by which the dates of the case ``seed`` move back (1 to 3650, deterministic)."""
    digest = hashlib.sha256(f"cryoplan-date-shift\x00{seed}".encode()).digest()
    return 1 + int.from_bytes(digest[:4], "big") % MAX_DATE_SHIFT_DAYS


def _shift_date(text: str, days: int) -> str:
    try:
        value = datetime.datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return ""  # an unparseable date cannot be shifted safely, so it goes
    return (value - datetime.timedelta(days=days)).strftime("%Y%m%d") + text[8:]


def deidentify_dataset(dataset: Dataset, *, seed: str, pseudonym: str) -> None:
    """Replace identifying attributes of ``dataset`` in place (nested sequences included).

    Parameters
    ----------
    dataset : pydicom Dataset
        One DICOM instance with its file meta information.
    seed : str
        Secret-free case key that makes the UID mapping and date shift repeatable.
    pseudonym : str
        New Patient Name and Patient ID.
    """
    days = date_shift_days(seed)
    dataset.remove_private_tags()

    def visit(ds: Dataset, element: DataElement) -> None:
        if element.keyword in EMPTIED_KEYWORDS:
            element.value = [] if element.VR == "SQ" else ""
        elif element.VR == "UI" and element.value:
            element.value = _remap_uids(element.value, seed)
        elif element.VR in ("DA", "DT") and element.value:
            if element.VM > 1:
                element.value = [_shift_date(str(v), days) for v in element.value]
            else:
                element.value = _shift_date(str(element.value), days)

    dataset.walk(visit)
    dataset.PatientName = pseudonym
    dataset.PatientID = pseudonym
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = DEIDENTIFICATION_METHOD
    meta = getattr(dataset, "file_meta", None)
    if meta is not None and "SOPInstanceUID" in dataset:
        meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID


def _remap_uids(value: object, seed: str) -> object:
    if isinstance(value, list | pydicom.multival.MultiValue):
        return [_remap_uid(str(v), seed) for v in value]
    return _remap_uid(str(value), seed)


def _remap_uid(uid: str, seed: str) -> str:
    # Registered UIDs (SOP classes, transfer syntaxes) name standards, not patients.
    if UID(uid).name != uid:
        return uid
    return uid_from_seed(seed, uid)


def deidentify_dicom_folder(
    source: str | Path,
    destination: str | Path,
    *,
    seed: str,
    pseudonym: str,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> int:
    """Write de-identified copies of every DICOM file under ``source`` into ``destination``.

    Files that are not DICOM (notes, thumbnails) are skipped. Copies are named
    ``IM00001.dcm``... in the order found (sorted paths).

    Parameters
    ----------
    source : path
        A DICOM file or a folder searched recursively.
    destination : path
        Folder to create; it must not hold files yet.
    seed : str
        Case key for UIDs and date shift (the library case id).
    pseudonym : str
        New Patient Name and Patient ID.
    progress, cancel
        Progress callback and cancel token.

    Returns
    -------
    int
        Number of files written.
    """
    source, destination = Path(source), Path(destination)
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    destination.mkdir(parents=True, exist_ok=True)
    written = 0
    for index, path in enumerate(files):
        if cancel is not None:
            cancel.raise_if_cancelled()
        try:
            dataset = pydicom.dcmread(path)
        except (InvalidDicomError, OSError):
            continue
        except Exception as error:  # pydicom raises assorted errors for damaged files
            raise DicomLoadError(
                f"{path}: cannot be read for de-identification ({error})."
            ) from error
        if path.name == "DICOMDIR" or "DirectoryRecordSequence" in dataset:
            continue  # a DICOMDIR names the original files; the copy needs none
        deidentify_dataset(dataset, seed=seed, pseudonym=pseudonym)
        written += 1
        dataset.save_as(destination / f"IM{written:05d}.dcm", enforce_file_format=True)
        if progress is not None:
            progress((index + 1) / len(files), f"De-identifying {path.name}")
    if written == 0:
        raise DicomLoadError(f"{source}: no DICOM files found to import.")
    return written
