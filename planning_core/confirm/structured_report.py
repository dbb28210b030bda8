"""DICOM objects of a margin confirmation: SEGs of the zone and shell, a TID 1500 SR.

Both SEGs lie on the planning CT (the post-ablation CT was registered onto it
and every measurement was made there), so they reference its series and join
its study, as the plan's own export does:

* ``SEG_ablation_zone.dcm``: the segmented ablation zone;
* ``SEG_margin.dcm``: the tumor and the margin shell around it (disjoint).

``SR_margin.dcm`` is a Comprehensive 3D SR holding a TID 1500 Measurement
Report with one volumetric measurement group (TID 1411) per segment: the tumor
(volume, minimal ablative margin, and when exemptions were chosen the margin
that counts, tumor outside the zone), the margin shell (thickness, share
covered) and the ablation zone (volume). Measurements without a standard code
carry codes of the local scheme :data:`CODING_SCHEME` whose meanings name them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from highdicom.sr.coding import CodedConcept
from numpy.typing import NDArray
from pydicom.sr.codedict import codes

from planning_core import __version__
from planning_core.atomic import atomic_path
from planning_core.confirm.ablation_zone import ZONE_LABEL
from planning_core.confirm.margin import MarginAnalysis
from planning_core.errors import PlanningError, ReportError
from planning_core.imaging.dicom_study import derived_series_number
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.segmentation.dicom_seg import write_dicom_seg

#: Local coding scheme of the measurements DICOM has no code for.
CODING_SCHEME = "99CRYOPLAN"
MARGIN_SHELL_LABEL = "margin_shell"
ZONE_COLOUR_RGB = (120, 200, 255)
SHELL_COLOUR_RGB = (255, 150, 150)
MINIMAL_MARGIN = CodedConcept("MAM", CODING_SCHEME, "Minimal ablative margin")
COUNTED_MARGIN = CodedConcept("MAMX", CODING_SCHEME, "Minimal ablative margin with exemptions")
TUMOR_OUTSIDE = CodedConcept("TOUT", CODING_SCHEME, "Tumor volume outside ablation zone")
SHELL_THICKNESS = CodedConcept("SHMM", CODING_SCHEME, "Margin shell thickness")
SHELL_COVERAGE = CodedConcept("SHCOV", CODING_SCHEME, "Margin shell coverage")
ABLATION_ZONE = CodedConcept("AZ", CODING_SCHEME, "Ablation zone")
MARGIN_SHELL = CodedConcept("SHELL", CODING_SCHEME, "Ablation margin shell")
MILLIMETRE = CodedConcept("mm", "UCUM", "millimeter")
CUBIC_CENTIMETRE = CodedConcept("cm3", "UCUM", "cubic centimeter")
PERCENT = CodedConcept("%", "UCUM", "percent")
SERIES_NUMBER_OFFSET_SR = 950


@dataclass(frozen=True)
class WrittenObject:
    """One written DICOM file of a confirmation."""

    kind: str
    path: Path
    sop_instance_uid: str
    series_instance_uid: str
    description: str

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "path": str(self.path),
            "sop_instance_uid": self.sop_instance_uid,
            "series_instance_uid": self.series_instance_uid,
            "description": self.description,
        }


def write_confirmation_dicom(
    volume: Volume,
    tumor: NDArray[np.bool_],
    zone: NDArray[np.bool_],
    shell: NDArray[np.bool_],
    analysis: MarginAnalysis,
    folder: str | Path,
    *,
    now: datetime.datetime | None = None,
) -> tuple[WrittenObject, ...]:
    """Write the zone and margin SEGs and the measurement SR into ``folder``.

    Parameters
    ----------
    volume : Volume
        The planning CT, loaded from DICOM.
    tumor, zone, shell : ndarray of bool
        Tumor, ablation zone and margin shell (outside the tumor) on its grid.
    analysis : MarginAnalysis
        The margin figures.
    folder : path
        Output folder (created).
    now : datetime, optional
        Content date and time of the SR.

    Raises
    ------
    ReportError
        When the CT has no DICOM source or the folder cannot be written.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"{folder}: cannot create the --dicom folder ({error}).") from error
    geometry = volume.geometry
    zone_map = LabelMap.empty(geometry).with_mask(
        ZONE_LABEL, zone, color_rgb=ZONE_COLOUR_RGB, role="anatomy"
    )
    margin_map = (
        LabelMap.empty(geometry)
        .with_mask("tumor", tumor, role="target")
        .with_mask(MARGIN_SHELL_LABEL, shell & ~tumor, color_rgb=SHELL_COLOUR_RGB, role="anatomy")
    )
    written = []
    segs = []
    for name, labels, description in (
        ("SEG_ablation_zone.dcm", zone_map, "cryoplan ablation zone"),
        ("SEG_margin.dcm", margin_map, f"cryoplan tumor and {analysis.shell_mm:g} mm shell"),
    ):
        path = folder / name
        try:
            write_dicom_seg(labels, volume, path, series_description=description)
        except PlanningError as error:
            raise ReportError(f"cannot write the {description} as DICOM SEG: {error}") from error
        except OSError as error:
            raise ReportError(f"{path}: cannot write ({error.strerror or error}).") from error
        seg = pydicom.dcmread(path)
        segs.append(seg)
        written.append(_record("SEG", path, seg, description))
    sr = measurement_report(segs[0], segs[1], analysis, volume, now=now)
    path = folder / "SR_margin.dcm"
    try:
        with atomic_path(path) as staging:
            sr.save_as(staging, enforce_file_format=True)
    except OSError as error:
        raise ReportError(f"{path}: cannot write ({error.strerror or error}).") from error
    written.append(_record("SR", path, sr, "cryoplan margin measurements"))
    return tuple(written)


def _record(kind: str, path: Path, dataset: pydicom.Dataset, description: str) -> WrittenObject:
    return WrittenObject(
        kind, path, str(dataset.SOPInstanceUID), str(dataset.SeriesInstanceUID), description
    )


def _segment_number(seg: pydicom.Dataset, label: str) -> int:
    for item in seg.SegmentSequence:
        if item.SegmentLabel == label:
            return int(item.SegmentNumber)
    raise ReportError(f"the SEG holds no segment {label!r}; the zone or shell is empty.")


def measurement_report(
    zone_seg: pydicom.Dataset,
    margin_seg: pydicom.Dataset,
    analysis: MarginAnalysis,
    volume: Volume,
    *,
    now: datetime.datetime | None = None,
) -> hd.sr.Comprehensive3DSR:
    """The TID 1500 measurement report of a margin analysis, referencing the two SEGs."""
    now = now or datetime.datetime.now()
    algorithm = hd.sr.AlgorithmIdentification(name="cryoplan", version=__version__)

    def group(
        seg: pydicom.Dataset, label: str, number: int, finding, measurements
    ) -> hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations:
        return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(
                uid=hd.UID(), identifier=f"{label} {number}"
            ),
            # The whole segment on every frame; the source is the planning CT series.
            referenced_segment=hd.sr.ReferencedSegment(
                sop_class_uid=str(seg.SOPClassUID),
                sop_instance_uid=str(seg.SOPInstanceUID),
                segment_number=_segment_number(seg, label),
                source_series=hd.sr.SourceSeriesForSegmentation(
                    str(seg.ReferencedSeriesSequence[0].SeriesInstanceUID)
                ),
            ),
            finding_type=finding,
            algorithm_id=algorithm,
            measurements=[
                hd.sr.Measurement(name=name, value=float(value), unit=unit, algorithm_id=algorithm)
                for name, value, unit in measurements
            ],
        )

    tumor_values = [
        (codes.SCT.Volume, analysis.tumor_volume_ml, CUBIC_CENTIMETRE),
        (MINIMAL_MARGIN, analysis.minimal_margin_mm, MILLIMETRE),
        (TUMOR_OUTSIDE, analysis.tumor_outside_zone_ml, CUBIC_CENTIMETRE),
    ]
    if analysis.exemptions and analysis.counted_margin_mm is not None:
        tumor_values.append((COUNTED_MARGIN, analysis.counted_margin_mm, MILLIMETRE))
    groups = [
        group(margin_seg, "tumor", 1, codes.SCT.Tumor, tumor_values),
        group(
            margin_seg,
            MARGIN_SHELL_LABEL,
            2,
            MARGIN_SHELL,
            [
                (SHELL_THICKNESS, analysis.shell_mm, MILLIMETRE),
                (SHELL_COVERAGE, analysis.shell_coverage_percent, PERCENT),
            ],
        ),
        group(
            zone_seg,
            ZONE_LABEL,
            3,
            ABLATION_ZONE,
            [(codes.SCT.Volume, analysis.zone_volume_ml, CUBIC_CENTIMETRE)],
        ),
    ]
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_device_context=hd.sr.ObserverContext(
                observer_type=codes.DCM.Device,
                observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                    uid=hd.UID(), name="cryoplan"
                ),
            )
        ),
        procedure_reported=codes.SCT.ComputedTomography,
        imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[zone_seg, margin_seg],
        content=report,
        series_instance_uid=hd.UID(),
        series_number=derived_series_number(
            volume.metadata.get("series_number"), SERIES_NUMBER_OFFSET_SR
        ),
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="cryoplan",
        is_complete=True,
        series_description="cryoplan margin measurements",
    )
    sr.ContentDate = now.strftime("%Y%m%d")
    sr.ContentTime = now.strftime("%H%M%S")
    sr.SoftwareVersions = __version__
    return sr
