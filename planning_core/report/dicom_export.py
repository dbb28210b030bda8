"""DICOM export of a plan: segmentations, the report as Encapsulated PDF, key images.

Every object joins the planning CT's study (same patient, Study Instance UID and
frame of reference) in a series of its own, so that a PACS files them with the
images they were made on:

* three DICOM SEG instances written by
  :func:`planning_core.segmentation.dicom_seg.write_dicom_seg`, each referencing
  the CT series: tumor and organs at risk; the ablation margin shell; and the
  predicted iceball as nested temperature bands (0 to -20 °C, -20 to -40 °C,
  at or below -40 °C for the default isotherms). A label map holds one label per
  voxel, and these three groups overlap, so each group is its own instance;
* the PDF report as Encapsulated PDF (modality DOC);
* each key view as an RGB Secondary Capture image with its patient orientation.

Images from volume files (the breast ultrasound sample, NIfTI, ...) have no
source series to reference: export refuses them and names the PDF report as the
way to share such a plan.

Patient and study attributes are copied as the source has them: absent or
malformed Type 2 values become empty (:mod:`planning_core.imaging.dicom_study`)
and Type 3 values are copied only when present.

A de-identified export (a :class:`~planning_core.imaging.deidentify.Deidentifier`
given) passes every object through the DICOM PS3.15 basic profile and embeds
the de-identified PDF report. Its SEGs must reference the CT they were drawn
on, and the CT's UIDs are replaced too, so the de-identified planning CT series
is written beside them in ``CT/``: one UID key maps every original UID (study,
series, frame of reference, each slice) to the same new UID in every object,
so the SEGs' references resolve against that copy and nowhere else. The
identified objects exist only in a private temporary folder while they are
converted.
"""

from __future__ import annotations

import datetime
import tempfile
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import EncapsulatedPDFStorage, ExplicitVRLittleEndian

from planning_core import __version__
from planning_core.atomic import atomic_path
from planning_core.errors import PlanningError, ReportError
from planning_core.imaging.deidentify import Deidentifier, declares_burned_in_annotation
from planning_core.imaging.dicom_study import (
    TYPE2_PATIENT_STUDY,
    complete_patient_study,
    derived_series_number,
)
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.field_resample import resample_field
from planning_core.planning.metrics import MARGIN_SHELL, margin_zone_mask, oar_names
from planning_core.planning.plan import Plan
from planning_core.progress import CancelToken, ProgressCallback, checked_progress
from planning_core.report import figures
from planning_core.report.build import ReportOutput, build_scene, key_planes
from planning_core.report.slices import DoseField, SlicePlane, direction_letter, probe_planes
from planning_core.segmentation.dicom_seg import write_dicom_seg

MANUFACTURER = "cryoplan"
#: Series numbers of the exported series, offset from the CT's series number.
SERIES_NUMBER_OFFSETS = {"pdf": 900, "sc": 901}
MARGIN_COLOUR_RGB = (255, 150, 150)
BAND_COLOURS_RGB = {0.0: (235, 235, 255), -20.0: (255, 230, 0), -40.0: (255, 69, 0)}
#: Type 3 study attributes copied from the CT when it has them.
_OPTIONAL_STUDY_KEYWORDS = ("StudyDescription",)
#: Attributes of the exported objects that cryoplan writes itself (no patient data in them),
#: kept by de-identification.
OWN_KEYWORDS = ("SeriesDescription", "ImageComments", "SoftwareVersions", "DeviceSerialNumber")
#: Sub-folder of a de-identified export that holds the de-identified planning CT.
CT_FOLDER = "CT"


@dataclass(frozen=True)
class ExportedObject:
    """One written DICOM file."""

    kind: str
    path: Path
    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    description: str


@dataclass(frozen=True)
class DicomExport:
    """What an export wrote and which study and series it refers to."""

    folder: Path
    study_instance_uid: str
    referenced_series_instance_uid: str
    objects: tuple[ExportedObject, ...]
    deidentified: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "folder": str(self.folder),
            "deidentified": self.deidentified,
            "study_instance_uid": self.study_instance_uid,
            "referenced_series_instance_uid": self.referenced_series_instance_uid,
            "objects": [
                {
                    "kind": o.kind,
                    "path": str(o.path),
                    "sop_class_uid": o.sop_class_uid,
                    "sop_instance_uid": o.sop_instance_uid,
                    "series_instance_uid": o.series_instance_uid,
                    "description": o.description,
                }
                for o in self.objects
            ],
        }


def reference_dataset(volume: Volume) -> Dataset:
    """Header of the first source slice of a DICOM-loaded volume.

    Type 2 patient and study attributes the file lacks are added empty.

    Raises
    ------
    ReportError
        When the image was not loaded from DICOM or its first file is unreadable.
    """
    files = volume.metadata.get("source_files") or []
    if not files or not volume.metadata.get("study_instance_uid"):
        raise ReportError(
            "DICOM export needs a planning image loaded from a DICOM series (this one came "
            "from a volume file, so there is no study to add objects to); share the plan "
            "with 'cryoplan report PLAN --out FILE.pdf' instead."
        )
    try:
        return complete_patient_study(pydicom.dcmread(files[0], stop_before_pixels=True))
    except (OSError, pydicom.errors.InvalidDicomError) as error:
        raise ReportError(
            f"{files[0]}: cannot read the planning series' first file ({error}); the source "
            "series must stay where the plan was made."
        ) from error


def export_plan_dicom(
    plan: Plan,
    volume: Volume,
    label_map: LabelMap,
    dose: DoseField,
    report: ReportOutput,
    folder: str | Path,
    *,
    deidentifier: Deidentifier | None = None,
    now: datetime.datetime | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> DicomExport:
    """Write the plan's DICOM objects into ``folder``.

    Parameters
    ----------
    plan : Plan
        The plan with fresh metrics.
    volume, label_map : Volume, LabelMap
        The DICOM-loaded planning CT and its labels.
    dose : DoseField
        Lethal-dose field of the plan's simulation.
    report : ReportOutput
        The written PDF report (embedded as Encapsulated PDF); de-identified
        when ``deidentifier`` is given.
    folder : path
        Output folder (created).
    deidentifier : Deidentifier, optional
        De-identify every object and write the de-identified CT into ``folder/CT``.
    now : datetime, optional
        Content date and time of the new objects; now by default.
    progress, cancel
        Progress callback and cancel token.

    Returns
    -------
    DicomExport

    Raises
    ------
    ReportError
        When the image has no DICOM source, the folder cannot be written, or a
        de-identified export is asked for with an identified report, a CT with
        burned-in annotation or a folder that already holds files.
    """

    step = checked_progress(progress, cancel)

    reference = reference_dataset(volume)
    folder = Path(folder)
    if deidentifier is not None:
        _check_deidentifiable(reference, report, folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"{folder}: cannot create the export folder ({error}).") from error
    emit = _Emitter(deidentifier)
    now = now or datetime.datetime.now()
    objects: list[ExportedObject] = []
    with tempfile.TemporaryDirectory(prefix="cryoplan-export-") as scratch:
        for index, (name, description, segments) in enumerate(
            _segment_groups(plan, volume, label_map, dose)
        ):
            step(0.05 + 0.1 * index, f"Writing DICOM SEG: {description}")
            staged = Path(scratch) / f"SEG_{name}.dcm"
            try:
                write_dicom_seg(segments, volume, staged, series_description=description)
            except PlanningError as error:
                raise ReportError(
                    f"cannot export the {description} as DICOM SEG: {error}"
                ) from error
            seg = pydicom.dcmread(staged)
            objects.append(emit("SEG", seg, folder / staged.name, description))
    step(0.35, "Writing the report as Encapsulated PDF")
    pdf = encapsulated_pdf(report.path.read_bytes(), reference, now=now)
    objects.append(emit("PDF", pdf, folder / "REPORT_pdf.dcm", "cryoplan plan report"))
    step(0.4, "Writing key images as Secondary Capture")
    scene = build_scene(plan, volume, label_map, dose, report.content)
    planes = list(key_planes(report.content, volume))
    for probe in scene.probes:
        planes += probe_planes(
            probe.tip_lps_mm, probe.entry_lps_mm, label=probe.label, pixel_mm=0.5
        )
    series_uid = hd.UID()
    for number, plane in enumerate(planes, start=1):
        step(0.4 + 0.4 * (number - 1) / len(planes), f"Key image {plane.title}")
        pixels = figures.figure_rgb(figures.slice_views_figure(scene, [plane], columns=1))
        capture = secondary_capture(
            pixels, plane, reference, series_uid=series_uid, number=number, now=now
        )
        objects.append(emit("SC", capture, folder / f"SC_{number:03d}.dcm", plane.title))
    if deidentifier is not None:
        files = volume.metadata.get("source_files") or []
        for number, source in enumerate(files, start=1):
            step(0.8 + 0.2 * (number - 1) / len(files), "Writing the de-identified CT")
            path = folder / CT_FOLDER / f"IM{number:04d}.dcm"
            objects.append(emit("CT", _read_source(source), path, f"CT slice {number}"))
    step(1.0, f"Exported {len(objects)} DICOM objects to {folder}")
    return DicomExport(
        folder,
        emit.uid(str(reference.StudyInstanceUID)),
        emit.uid(str(volume.metadata.get("series_instance_uid", ""))),
        tuple(objects),
        deidentified=deidentifier is not None,
    )


def _check_deidentifiable(reference: Dataset, report: ReportOutput, folder: Path) -> None:
    """Refuse a de-identified export that would carry identifiers or mix series."""
    if not report.content.header.deidentified:
        raise ReportError(
            "a de-identified DICOM export needs the de-identified PDF report; build the "
            "report with deidentify=True."
        )
    if declares_burned_in_annotation(reference):
        raise ReportError(
            f"{reference.filename}: the planning series declares burned-in annotation "
            "(BurnedInAnnotation YES), so its pixels may show the patient's identity and "
            "cannot be exported de-identified; share the de-identified PDF report instead."
        )
    check_deidentified_folder(folder)


def check_deidentified_folder(folder: Path) -> None:
    """Refuse a folder that holds files already: a de-identified export starts empty.

    Raises
    ------
    ReportError
        When ``folder`` is a file or a folder with files in it.
    """
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ReportError(
            f"{folder}: already holds files; choose a new or empty --dicom folder for a "
            "de-identified export, so that nothing identified from an earlier export is "
            "shared with it."
        )


def _read_source(path: str | Path) -> Dataset:
    try:
        return pydicom.dcmread(path)
    except (OSError, pydicom.errors.InvalidDicomError) as error:
        raise ReportError(
            f"{path}: cannot read a slice of the planning series ({error}); the source series "
            "must stay where the plan was made."
        ) from error


class _Emitter:
    """Saves exported objects, through the de-identifier when there is one."""

    def __init__(self, deidentifier: Deidentifier | None) -> None:
        self._deidentifier = deidentifier

    def uid(self, uid: str) -> str:
        """``uid`` as the written objects carry it."""
        return uid if self._deidentifier is None or not uid else self._deidentifier.new_uid(uid)

    def __call__(self, kind: str, dataset: Dataset, path: Path, description: str) -> ExportedObject:
        if self._deidentifier is not None:
            # The CT's own descriptors are the source's free text; only ours are kept.
            keep = () if kind == "CT" else OWN_KEYWORDS
            self._deidentifier.apply(dataset, keep=keep)
        _save(dataset, path)
        return ExportedObject(
            kind,
            path,
            str(dataset.SOPClassUID),
            str(dataset.SOPInstanceUID),
            str(dataset.SeriesInstanceUID),
            description,
        )


def _segment_groups(
    plan: Plan, volume: Volume, label_map: LabelMap, dose: DoseField
) -> list[tuple[str, str, LabelMap]]:
    """(file name, series description, label map) of each SEG instance."""
    geometry = label_map.geometry
    tumor = label_map.mask(plan.target_label)
    keep = [plan.target_label, *oar_names(plan, label_map)]
    table = tuple(label_map.info(name) for name in keep)
    values = np.array([info.value for info in table])
    structures = LabelMap(
        np.where(np.isin(label_map.voxels, values), label_map.voxels, 0).astype(
            label_map.voxels.dtype
        ),
        geometry,
        table,
    )
    zone = margin_zone_mask(tumor, geometry, plan.settings.margin_mm)
    margin = LabelMap.empty(geometry).with_mask(
        MARGIN_SHELL, zone & ~tumor, color_rgb=MARGIN_COLOUR_RGB, role="anatomy"
    )
    dose_on_image = resample_field(
        dose.min_temperature_c, dose.geometry, volume.geometry, fill_value=dose.body_temperature_c
    )
    return [
        ("structures", "cryoplan tumor and organs at risk", structures),
        ("margin", f"cryoplan {plan.settings.margin_mm:g} mm ablation margin", margin),
        ("iceball", "cryoplan predicted iceball", ice_bands(dose_on_image, plan, geometry)),
    ]


def ice_bands(dose_c: NDArray[np.floating], plan: Plan, geometry: Geometry) -> LabelMap:
    """Disjoint temperature bands of the lethal-dose field between consecutive isotherms.

    With isotherms 0, -20 and -40 °C the labels are ``ice 0 to -20 C``,
    ``ice -20 to -40 C`` and ``ice at or below -40 C``; stacked they show the
    nested isotherm surfaces.
    """
    isotherms = plan.settings.metric_isotherms_c()
    bands = LabelMap.empty(geometry)
    for index, warm in enumerate(isotherms):
        cold = isotherms[index + 1] if index + 1 < len(isotherms) else None
        mask = dose_c <= warm if cold is None else (dose_c <= warm) & (dose_c > cold)
        name = f"ice at or below {warm:g} C" if cold is None else f"ice {warm:g} to {cold:g} C"
        colour = BAND_COLOURS_RGB.get(warm, (0, 200, 255))
        bands = bands.with_mask(name, mask, color_rgb=colour, role="anatomy")
    return bands


def encapsulated_pdf(pdf_bytes: bytes, reference: Dataset, *, now: datetime.datetime) -> Dataset:
    """An Encapsulated PDF instance in the reference's study, in a new DOC series."""
    dataset = _new_instance(reference, EncapsulatedPDFStorage, now=now)
    dataset.Modality = "DOC"
    dataset.SeriesInstanceUID = hd.UID()
    dataset.SeriesNumber = _series_number(reference, "pdf")
    dataset.SeriesDescription = "cryoplan plan report"
    dataset.InstanceNumber = 1
    dataset.ConversionType = "WSD"
    dataset.BurnedInAnnotation = "YES"
    dataset.DocumentTitle = "Cryoablation plan report"
    dataset.ConceptNameCodeSequence = []
    dataset.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    dataset.MIMETypeOfEncapsulatedDocument = "application/pdf"
    # OB values must have even length; PDF readers ignore a trailing NUL.
    padded = pdf_bytes + (b"\0" if len(pdf_bytes) % 2 else b"")
    dataset.EncapsulatedDocument = padded
    dataset.EncapsulatedDocumentLength = len(pdf_bytes)
    return dataset


def secondary_capture(
    pixels: NDArray[np.uint8],
    plane: SlicePlane,
    reference: Dataset,
    *,
    series_uid: str,
    number: int,
    now: datetime.datetime,
) -> Dataset:
    """An RGB Secondary Capture of one key view, oriented like the view."""
    image = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=reference,
        pixel_array=pixels,
        photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
        bits_allocated=8,
        coordinate_system=hd.CoordinateSystemNames.PATIENT,
        series_instance_uid=series_uid,
        series_number=_series_number(reference, "sc"),
        sop_instance_uid=hd.UID(),
        instance_number=number,
        manufacturer=MANUFACTURER,
        patient_orientation=(_orientation(plane.u_lps), _orientation(plane.v_lps)),
        transfer_syntax_uid=ExplicitVRLittleEndian,
    )
    image.SeriesDescription = "cryoplan key images"
    image.ImageComments = plane.title
    image.BurnedInAnnotation = "YES"
    image.ContentDate = now.strftime("%Y%m%d")
    image.ContentTime = now.strftime("%H%M%S")
    image.SoftwareVersions = __version__
    return image


def _orientation(vector_lps: NDArray[np.float64]) -> str:
    """DICOM Patient Orientation letter: as :func:`direction_letter` but H/F for S/I."""
    return {"S": "H", "I": "F"}.get(direction_letter(vector_lps), direction_letter(vector_lps))


def _new_instance(reference: Dataset, sop_class_uid: str, *, now: datetime.datetime) -> Dataset:
    dataset = Dataset()
    sop_instance_uid = hd.UID()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset.file_meta = meta
    dataset.SpecificCharacterSet = reference.get("SpecificCharacterSet", "ISO_IR 100")
    dataset.SOPClassUID = sop_class_uid
    dataset.SOPInstanceUID = sop_instance_uid
    dataset.StudyInstanceUID = reference.StudyInstanceUID
    for keyword in TYPE2_PATIENT_STUDY:
        setattr(dataset, keyword, reference.get(keyword, ""))
    for keyword in _OPTIONAL_STUDY_KEYWORDS:
        if reference.get(keyword):
            setattr(dataset, keyword, reference.get(keyword))
    dataset.Manufacturer = MANUFACTURER
    dataset.SoftwareVersions = __version__
    dataset.InstanceCreationDate = dataset.ContentDate = now.strftime("%Y%m%d")
    dataset.InstanceCreationTime = dataset.ContentTime = now.strftime("%H%M%S")
    return dataset


def _series_number(reference: Dataset, kind: str) -> int:
    try:
        number = reference.get("SeriesNumber")
    except ValueError:  # pydicom converts IS values on access and rejects malformed ones
        number = None
    return derived_series_number(number, SERIES_NUMBER_OFFSETS[kind])


def _save(dataset: Dataset, path: Path) -> None:
    try:
        with atomic_path(path) as staging:
            dataset.save_as(staging, enforce_file_format=True)
    except OSError as error:
        raise ReportError(f"{path}: cannot write ({error.strerror or error}).") from error
