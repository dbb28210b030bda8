"""Writing a CT volume as a DICOM series (CT Image Storage, one file per slice).

The writer is deterministic: UIDs are derived from a caller-given seed and every
date and time comes from :class:`DicomIdentity`, so the same inputs give the
same bytes. It is used by the sample-case generator and by exports.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from planning_core import __version__
from planning_core.errors import InvalidParameterError
from planning_core.imaging.volume import Volume

#: Stored value 0 is this many HU; stored values are unsigned 16-bit.
RESCALE_INTERCEPT_HU = -1024.0
_STORED_MAX = np.iinfo(np.uint16).max
MANUFACTURER = "Cryoablation planner (open source)"
MODEL_NAME = "cryoplan synthetic CT writer"
_IMPLEMENTATION_VERSION_NAME = "CRYOPLAN_" + re.sub(r"[^0-9A-Z]", "_", __version__.upper())[:7]
_DATE = re.compile(r"^\d{8}$")
_TIME = re.compile(r"^\d{6}(\.\d{1,6})?$")
_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")


def uid_from_seed(seed: str, role: str) -> str:
    """A valid DICOM UID derived from ``seed`` and ``role``.

    Uses the ``2.25`` root (UUID-derived UIDs, ISO/IEC 9834-8) with 128 bits of
    SHA-256, so the result is at most 44 characters and never has a leading zero.
    """
    digest = hashlib.sha256(f"{seed}\x00{role}".encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


_IMPLEMENTATION_CLASS_UID = uid_from_seed("cryoplanner", "implementation-class")


@dataclass(frozen=True)
class DicomIdentity:
    """Patient, study and institution identifiers written into every file.

    Dates are ``YYYYMMDD`` and times ``HHMMSS`` strings; nothing is read from the
    clock. ``study_instance_uid`` and ``frame_of_reference_uid`` are derived from
    the writer's ``uid_seed`` unless given here.
    """

    patient_name: str
    patient_id: str
    patient_birth_date: str
    patient_sex: str
    study_description: str
    study_date: str
    study_time: str
    accession_number: str
    referring_physician_name: str
    institution_name: str
    study_id: str = "1"
    study_instance_uid: str | None = None
    frame_of_reference_uid: str | None = None

    def __post_init__(self) -> None:
        for name in ("patient_birth_date", "study_date"):
            if not _DATE.match(getattr(self, name)):
                raise InvalidParameterError(
                    f"{name} must be YYYYMMDD, got {getattr(self, name)!r}."
                )
        if not _TIME.match(self.study_time):
            raise InvalidParameterError(f"study_time must be HHMMSS, got {self.study_time!r}.")
        if self.patient_sex not in ("M", "F", "O", ""):
            raise InvalidParameterError(
                f"patient_sex must be 'M', 'F', 'O' or '', got {self.patient_sex!r}."
            )
        if not self.patient_id or len(self.patient_id) > 64:
            raise InvalidParameterError("patient_id must be 1 to 64 characters.")
        for name in ("study_instance_uid", "frame_of_reference_uid"):
            value = getattr(self, name)
            if value is not None and (len(value) > 64 or not _UID.match(value)):
                raise InvalidParameterError(f"{name} is not a valid DICOM UID: {value!r}.")


def write_ct_series(
    volume: Volume,
    directory: str | Path,
    *,
    identity: DicomIdentity,
    series_description: str,
    series_number: int = 1,
    uid_seed: str,
    window_center_hu: float = 40.0,
    window_width_hu: float = 400.0,
    body_part_examined: str = "ABDOMEN",
    patient_position: str = "HFS",
) -> list[Path]:
    """Write ``volume`` as a CT Image Storage series, one file per k-slice.

    Parameters
    ----------
    volume : Volume
        Voxels in Hounsfield units on any orthonormal grid (oblique included).
        Values are rounded to whole HU and clipped to the stored range
        ``-1024 .. 64511`` HU, as scanners clip air at -1024 HU.
    directory : str or Path
        Destination folder; created when missing, and must be empty when present
        so that no stale slice of another series stays beside the new ones.
    identity : DicomIdentity
        Patient/study/institution identifiers, dates and times.
    series_description : str
        SeriesDescription (at most 64 characters).
    series_number : int
        SeriesNumber, 1 or more.
    uid_seed : str
        Seed from which every UID not given in ``identity`` is derived; the same
        seed and inputs give byte-identical files.
    window_center_hu, window_width_hu : float
        Default display window stored in the files.
    body_part_examined : str
        BodyPartExamined code (``"ABDOMEN"``, ``"CHEST"``, ...), at most 16 characters.
    patient_position : str
        PatientPosition code (``"HFS"`` supine, ``"HFP"`` prone, ...).

    Returns
    -------
    list of Path
        The written files ``IM0001.dcm ...`` in slice (k) order.

    Notes
    -----
    ImagePositionPatient of slice ``k`` is the LPS position of voxel ``(0, 0, k)``,
    ImageOrientationPatient holds the i and j axis directions, and PixelSpacing is
    ``[spacing_j, spacing_i]`` (row spacing first). A left-handed grid (k axis
    opposite to i x j) reads back with its k axis reversed, which places every
    voxel at the same point.
    """
    directory = Path(directory)
    voxels = np.asarray(volume.voxels)
    if not np.issubdtype(voxels.dtype, np.number) or not np.all(np.isfinite(voxels)):
        raise InvalidParameterError(
            "volume: voxels must be finite numbers (HU) to write a CT series."
        )
    if not series_description or len(series_description) > 64:
        raise InvalidParameterError("series_description must be 1 to 64 characters.")
    if int(series_number) < 1:
        raise InvalidParameterError(f"series_number must be 1 or more, got {series_number}.")
    if not uid_seed:
        raise InvalidParameterError("uid_seed must be a non-empty string.")
    if not re.fullmatch(r"[A-Z0-9 _]{1,16}", body_part_examined):
        raise InvalidParameterError(
            f"body_part_examined must be 1 to 16 upper-case letters, got {body_part_examined!r}."
        )
    if not re.fullmatch(r"[HF]F(S|P|DL|DR)", patient_position):
        raise InvalidParameterError(
            f"patient_position must be HFS, HFP, FFS, FFP, HFDL, HFDR, FFDL or FFDR, "
            f"got {patient_position!r}."
        )
    if not window_width_hu > 0:
        raise InvalidParameterError(f"window_width_hu must be positive, got {window_width_hu}.")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise InvalidParameterError(
            f"{directory}: must be a new or empty folder; choose another destination or empty it."
        )
    stored = _stored_values(voxels)
    directory.mkdir(parents=True, exist_ok=True)

    geometry = volume.geometry
    study_uid = identity.study_instance_uid or uid_from_seed(uid_seed, "study")
    frame_uid = identity.frame_of_reference_uid or uid_from_seed(uid_seed, "frame-of-reference")
    series_uid = uid_from_seed(uid_seed, f"series-{series_number}")
    normal = np.cross(geometry.direction[:, 0], geometry.direction[:, 1])
    orientation = [_ds(v) for v in (*geometry.direction[:, 0], *geometry.direction[:, 1])]
    name_width = max(4, len(str(geometry.shape[0])))
    written: list[Path] = []
    for k in range(geometry.shape[0]):
        position = geometry.index_to_lps([0.0, 0.0, float(k)])
        dataset = _slice_dataset(identity, stored[k], geometry.spacing_mm, series_description)
        dataset.BodyPartExamined = body_part_examined
        dataset.PatientPosition = patient_position
        sop_uid = uid_from_seed(uid_seed, f"series-{series_number}-instance-{k + 1}")
        dataset.SOPInstanceUID = sop_uid
        dataset.StudyInstanceUID = study_uid
        dataset.SeriesInstanceUID = series_uid
        dataset.FrameOfReferenceUID = frame_uid
        dataset.SeriesNumber = int(series_number)
        dataset.InstanceNumber = k + 1
        dataset.ImagePositionPatient = [_ds(v) for v in position]
        dataset.ImageOrientationPatient = orientation
        dataset.SliceLocation = _ds(float(position @ normal))
        dataset.WindowCenter = _ds(window_center_hu)
        dataset.WindowWidth = _ds(window_width_hu)
        dataset.file_meta = _file_meta(sop_uid)
        path = directory / f"IM{k + 1:0{name_width}d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        written.append(path)
    return written


def _stored_values(voxels: NDArray[np.generic]) -> NDArray[np.uint16]:
    stored = np.rint(np.asarray(voxels, dtype=np.float64) - RESCALE_INTERCEPT_HU)
    return np.clip(stored, 0, _STORED_MAX).astype("<u2")


def _ds(value: float) -> str:
    # DS holds at most 16 characters; 10 significant digits keep 1e-6 mm and fit.
    text = f"{float(value):.10g}"
    return "0" if text == "-0" else text


def _file_meta(sop_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = _IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = _IMPLEMENTATION_VERSION_NAME
    return meta


def _slice_dataset(
    identity: DicomIdentity,
    stored_slice: NDArray[np.uint16],
    spacing_mm: NDArray[np.float64],
    series_description: str,
) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.StudyDate = identity.study_date
    ds.SeriesDate = identity.study_date
    ds.AcquisitionDate = identity.study_date
    ds.ContentDate = identity.study_date
    ds.StudyTime = identity.study_time
    ds.SeriesTime = identity.study_time
    ds.AcquisitionTime = identity.study_time
    ds.ContentTime = identity.study_time
    ds.AccessionNumber = identity.accession_number
    ds.Modality = "CT"
    ds.Manufacturer = MANUFACTURER
    ds.InstitutionName = identity.institution_name
    ds.ReferringPhysicianName = identity.referring_physician_name
    ds.StudyDescription = identity.study_description
    ds.SeriesDescription = series_description
    ds.ManufacturerModelName = MODEL_NAME
    ds.PatientName = identity.patient_name
    ds.PatientID = identity.patient_id
    ds.PatientBirthDate = identity.patient_birth_date
    ds.PatientSex = identity.patient_sex
    ds.PatientIdentityRemoved = "YES"
    ds.SliceThickness = _ds(spacing_mm[2])
    ds.KVP = "120"
    ds.SpacingBetweenSlices = _ds(spacing_mm[2])
    ds.SoftwareVersions = f"cryoplanner {__version__}"
    ds.PatientPosition = "HFS"
    ds.StudyID = identity.study_id
    ds.AcquisitionNumber = 1
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = int(stored_slice.shape[0])
    ds.Columns = int(stored_slice.shape[1])
    ds.PixelSpacing = [_ds(spacing_mm[1]), _ds(spacing_mm[0])]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.BurnedInAnnotation = "NO"
    ds.RescaleIntercept = _ds(RESCALE_INTERCEPT_HU)
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.PixelData = np.ascontiguousarray(stored_slice).tobytes()
    return ds
