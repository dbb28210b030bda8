"""What the viewer opens: a case source (where from) and the loaded image case.

A :class:`CaseSource` is small and serialisable, so recent-case lists and
session files can store it and open it again; :func:`load_case` turns it into
an :class:`ImageCase` (volume, optional label map) in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planning_core.errors import DicomLoadError, InvalidParameterError, PlanningError
from planning_core.imaging.dicom import DicomCatalog, SeriesInfo, load_series, scan_dicom
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.loader import load_image
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import is_volume_file, read_label_map, read_volume
from planning_core.planning.case_reference import CaseReference
from planning_core.progress import CancelToken, ProgressCallback, sub_progress

#: Kinds of :class:`CaseSource`.
SOURCE_KINDS = ("dicom", "volume", "sample")


@dataclass(frozen=True)
class CaseSource:
    """Where a case comes from, enough to open it again.

    Parameters
    ----------
    kind : str
        ``"dicom"`` (a folder, file or DICOMDIR), ``"volume"`` (NIfTI, NRRD,
        MetaImage file) or ``"sample"`` (a generated sample case).
    location : str
        The path, or the sample case name.
    series_key : str, optional
        The DICOM series (UID or ``UID#n``); without it the only series, or the
        one with the most slices, is opened.
    labels_path : str, optional
        A label map file to show over the image.
    """

    kind: str
    location: str
    series_key: str | None = None
    labels_path: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise InvalidParameterError(
                f"case source kind must be one of {', '.join(SOURCE_KINDS)}, got {self.kind!r}."
            )
        if not self.location:
            raise InvalidParameterError("case source location must not be empty.")

    @property
    def title(self) -> str:
        """How menus and the window title name the case."""
        if self.kind == "sample":
            return f"{self.location} (sample case)"
        return Path(self.location).name or self.location

    def to_dict(self) -> dict[str, str]:
        fields = {"kind": self.kind, "location": self.location}
        if self.series_key is not None:
            fields["series_key"] = self.series_key
        if self.labels_path is not None:
            fields["labels_path"] = self.labels_path
        return fields

    @classmethod
    def from_dict(cls, fields: dict[str, object]) -> CaseSource:
        """Inverse of :meth:`to_dict`; raises :class:`InvalidParameterError` when malformed."""
        try:
            return cls(
                kind=str(fields["kind"]),
                location=str(fields["location"]),
                series_key=_optional_text(fields.get("series_key")),
                labels_path=_optional_text(fields.get("labels_path")),
            )
        except (KeyError, TypeError, AttributeError):
            raise InvalidParameterError(
                f"a case source needs 'kind' and 'location', got {fields!r}."
            ) from None


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)


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
    """Names of the generated sample cases; empty when the generator is not installed."""
    try:
        from cryoplan_samples import SAMPLE_CASE_NAMES
    except ImportError:
        return ()
    return tuple(SAMPLE_CASE_NAMES)


def resolve_case_argument(
    text: str, *, series_key: str | None = None, labels_path: str | None = None
) -> CaseSource:
    """Interpret a command line ``CASE``: a DICOM folder or file, a volume file or a sample name.

    Raises
    ------
    InvalidParameterError
        When ``text`` is neither an existing path nor a sample case name.
    """
    path = Path(text).expanduser()
    if path.exists():
        kind = "volume" if path.is_file() and is_volume_file(path) else "dicom"
        return CaseSource(kind, str(path.resolve()), series_key, labels_path)
    names = sample_case_names()
    if text in names:
        return CaseSource("sample", text, series_key, labels_path)
    known = f"sample cases: {', '.join(names)}" if names else "no sample cases are installed"
    raise InvalidParameterError(
        f"CASE {text!r} is neither an existing file or folder nor a sample case ({known})."
    )


def default_series(catalog: DicomCatalog) -> SeriesInfo:
    """The series to open when none was chosen: the only one, else the largest loadable one.

    Raises
    ------
    DicomLoadError
        When the catalog holds no loadable series.
    """
    loadable = [s for s in catalog.series if s.error is None and s.layout is not None]
    if not loadable:
        catalog.select(None)  # raises with the catalog's own explanation
        raise DicomLoadError(f"{catalog.root}: no loadable image series found.")
    return max(loadable, key=lambda s: (s.estimated_slices or 0, s.rows * s.columns))


def load_case(
    source: CaseSource,
    *,
    catalog: DicomCatalog | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ImageCase:
    """Load the image (and labels) that ``source`` names.

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
    image_path = Path(source.location)
    if source.kind == "sample":
        volume, labels, image_path = _load_sample(source, progress=progress, cancel=cancel)
    elif source.kind == "volume":
        volume = read_volume(source.location)
        labels = None
    else:
        volume = _load_dicom(source, catalog, progress=progress, cancel=cancel)
        labels = None
    if source.labels_path is not None:
        labels = read_label_map(source.labels_path, reference=volume.geometry)
    if cancel is not None:
        cancel.raise_if_cancelled()
    value_range = (float(np.min(volume.voxels)), float(np.max(volume.voxels)))
    reference = CaseReference.for_volume(
        volume, description=source.location if source.kind == "sample" else None
    )
    if progress is not None:
        progress(1.0, f"Opened {source.title}")
    return ImageCase(volume, labels, source, value_range, reference, image_path)


def _load_dicom(
    source: CaseSource,
    catalog: DicomCatalog | None,
    *,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> Volume:
    if catalog is None:
        catalog = scan_dicom(
            source.location, progress=sub_progress(progress, 0.0, 0.2), cancel=cancel
        )
    series = catalog.select(source.series_key) if source.series_key else default_series(catalog)
    return load_series(series, progress=sub_progress(progress, 0.2, 0.95), cancel=cancel)


def _load_sample(
    source: CaseSource, *, progress: ProgressCallback | None, cancel: CancelToken | None
) -> tuple[Volume, LabelMap | None, Path]:
    try:
        from cryoplan_samples import ensure_sample_case
    except ImportError as error:
        raise PlanningError(
            f"sample case {source.location!r} is unavailable: the sample generator failed to "
            f"import ({error}). Reinstall the package."
        ) from None
    if progress is not None:
        progress(0.0, f"Preparing sample case {source.location} (generated on first use)")
    sample = ensure_sample_case(source.location, progress=sub_progress(progress, 0.0, 0.4))
    if cancel is not None:
        cancel.raise_if_cancelled()
    volume = load_image(sample.image_path, progress=sub_progress(progress, 0.4, 0.9), cancel=cancel)
    return volume, sample.load_labels(reference=volume.geometry), Path(sample.image_path)


def case_from_files(
    volume: Volume,
    labels: LabelMap | None,
    *,
    image_path: Path,
    reference: CaseReference | None = None,
) -> ImageCase:
    """An :class:`ImageCase` of an image already read from ``image_path`` (a plan's image)."""
    kind = "volume" if image_path.is_file() and is_volume_file(image_path) else "dicom"
    value_range = (float(np.min(volume.voxels)), float(np.max(volume.voxels)))
    return ImageCase(
        volume,
        labels,
        CaseSource(kind, str(image_path)),
        value_range,
        reference or CaseReference.for_volume(volume),
        image_path,
    )
