"""What the viewer opens: the loaded image case, from a core case source.

A :class:`~planning_core.imaging.case_sources.CaseSource` (where from) is small
and serialisable, so recent-case lists and session files store it and open it
again; :func:`load_case` opens it through the core's case-source registry (as
the command line and the training library do) in a worker thread and adds what
the viewer needs: the value range and the image's reference for plan files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planning_core.imaging.case_sources import (
    SAMPLE_CASE_KIND,
    CaseSource,
    named_cases,
    open_case,
    resolve_case,
)
from planning_core.imaging.dicom import DicomCatalog
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.case_reference import CaseReference
from planning_core.progress import CancelToken, ProgressCallback


@dataclass(frozen=True, eq=False)
class ImageCase:
    """A loaded case: the image, its labels (if any) and where it came from.

    ``value_range`` is the image's (min, max), computed once while loading;
    ``reference`` identifies the image in plan files (its content hash), also
    computed in the loading worker since hashing a large image takes a moment;
    ``image_path`` is the file or DICOM folder the image was read from, which
    saved plans record.
    """

    volume: Volume
    labels: LabelMap | None
    source: CaseSource
    value_range: tuple[float, float]
    reference: CaseReference | None = None
    image_path: Path | None = None

    def __post_init__(self) -> None:
        if self.labels is not None:
            self.volume.geometry.require_match(self.labels.geometry, what="label map vs image")

    @property
    def title(self) -> str:
        description = str(self.volume.metadata.get("series_description", "") or "")
        if self.source.kind == "dicom" and description:
            return f"{self.source.title} · {description}"
        return self.source.title

    @property
    def patient(self) -> tuple[tuple[str, str], ...]:
        """(caption, text) of the patient's name, ID and the study date the image carries.

        Absent or empty attributes (de-identified data, volume files) are left out.
        """
        metadata = self.volume.metadata
        fields = (
            ("Patient", _person_name(_text(metadata.get("patient_name")))),
            ("ID", _text(metadata.get("patient_id"))),
            ("Study", _date(_text(metadata.get("study_date")))),
        )
        return tuple((caption, text) for caption, text in fields if text)

    @property
    def patient_line(self) -> str:
        """The patient fields in one line: ``Patient DOE, JANE · ID 123 · Study 2024-01-15``."""
        return " · ".join(f"{caption} {text}" for caption, text in self.patient)


def _text(value: object) -> str:
    return "" if value is None else " ".join(str(value).split())


def _person_name(name: str) -> str:
    """A DICOM person name ``Family^Given^Middle^Prefix^Suffix`` as ``Family, Given Middle``."""
    family, *rest = name.split("^")
    given = " ".join(part for part in rest[:2] if part.strip())
    return f"{family}, {given}" if family and given else family or given


def _date(value: str) -> str:
    """A DICOM date ``YYYYMMDD`` as ``YYYY-MM-DD``; anything else as it is."""
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def sample_case_names() -> tuple[str, ...]:
    """Names of the sample cases for the menu; empty when the sample package is not installed."""
    return named_cases(SAMPLE_CASE_KIND)


def load_case(
    source: CaseSource,
    *,
    catalog: DicomCatalog | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ImageCase:
    """Load the image (and labels) that ``source`` names.

    A DICOM folder with several series and none chosen opens the largest one;
    the study browser offers the others.

    Parameters
    ----------
    source : CaseSource
        What to open.
    catalog : DicomCatalog, optional
        A scan of ``source.location`` already made (by the study browser); saves
        scanning the folder again.
    progress, cancel
        Progress callback ``(fraction, message)`` and cancel token.

    Raises
    ------
    PlanningError
        Its subclasses, for unreadable images or label maps that do not fit the image.
    """
    opened = open_case(
        source, catalog=catalog, several_series="largest", progress=progress, cancel=cancel
    )
    volume = opened.volume
    if cancel is not None:
        cancel.raise_if_cancelled()
    value_range = (float(np.min(volume.voxels)), float(np.max(volume.voxels)))
    # A named case (a sample) is described by its name: its files live in a cache.
    reference = CaseReference.for_volume(
        volume, description=source.location if source.kind == SAMPLE_CASE_KIND else None
    )
    return ImageCase(volume, opened.labels, source, value_range, reference, opened.files.image_path)


def case_from_files(
    volume: Volume,
    labels: LabelMap | None,
    *,
    image_path: Path,
    reference: CaseReference | None = None,
) -> ImageCase:
    """An :class:`ImageCase` of an image already read from ``image_path`` (a plan's image)."""
    value_range = (float(np.min(volume.voxels)), float(np.max(volume.voxels)))
    return ImageCase(
        volume,
        labels,
        resolve_case(str(image_path)),
        value_range,
        reference or CaseReference.for_volume(volume),
        image_path,
    )
