"""One way to open a case: where it comes from, and a registry of the kinds of sources.

A :class:`CaseSource` names a case (a kind and a location) and is small enough
for recent-case lists and session files. Each kind is a :class:`CaseSourceKind`
in a registry: the DICOM folder (with its series choice) and the volume file are
built in, and so are studies on a PACS node or DICOMweb server
(:mod:`planning_core.imaging.pacs.case_source`); others come from the
``cryoplan.case_sources`` entry-point group, so that the core never imports the
packages that provide them. The synthetic sample cases reach the core this way:
one entry point naming an object that satisfies :class:`CaseSourceKind`.

Opening runs in two steps. A kind *locates* the case's files on disk
(generating or retrieving them when needed) and returns :class:`CaseFiles`;
:func:`open_case` then reads the image and the label map the same way for
every kind. The command line (``CASE`` arguments), the desktop application and
the training library all go through :func:`resolve_case` and :func:`open_case`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType
from typing import Literal, Protocol, runtime_checkable

from planning_core.errors import (
    DicomLoadError,
    InvalidParameterError,
    PlanningError,
    VolumeFormatError,
)
from planning_core.imaging.dicom import DicomCatalog, SeriesInfo, load_series, scan_dicom
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.pacs.case_source import (
    DICOMWEB_STUDIES,
    PACS_STUDIES,
    RemoteStudyKind,
)
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import is_volume_file, read_label_map, read_volume
from planning_core.progress import CancelToken, ProgressCallback, sub_progress

#: The entry-point group through which installed packages add case source kinds.
ENTRY_POINT_GROUP = "cryoplan.case_sources"
#: The kind the sample package (cryoplan_samples) registers: the synthetic sample
#: cases, which the viewer's menu lists and the training library starts with.
SAMPLE_CASE_KIND = "sample"

#: What a DICOM folder with several image series and no chosen one gives: an error
#: listing the series (the command line, where a silent choice could plan on the
#: wrong image), or the largest loadable series (the viewer, which shows its choice
#: and offers the others in the study browser).
SeveralSeries = Literal["refuse", "largest"]


@dataclass(frozen=True)
class CaseSource:
    """Where a case comes from, enough to open it again.

    Parameters
    ----------
    kind : str
        The registered kind: ``"dicom"`` (a folder, file or DICOMDIR),
        ``"volume"`` (NIfTI, NRRD, MetaImage file), ``"sample"`` (a generated
        sample case, when the sample package is installed), ...
    location : str
        The path, or the case's name for kinds that name their cases.
    series_key : str, optional
        The DICOM series (UID or ``UID#n``); without it the only series is
        opened, or see :data:`SeveralSeries`.
    labels_path : str, optional
        A label map file on the image grid, used instead of the labels the kind
        brings (a sample case's ground truth).

    Raises
    ------
    InvalidParameterError
        For a kind no installed package provides, or an empty location.
    """

    kind: str
    location: str
    series_key: str | None = None
    labels_path: str | None = None

    def __post_init__(self) -> None:
        case_source_kind(self.kind)
        if not self.location:
            raise InvalidParameterError("a case source's location must not be empty.")

    @property
    def title(self) -> str:
        """How menus and window titles name the case."""
        return case_source_kind(self.kind).title(self.location)

    def to_dict(self) -> dict[str, str]:
        fields = {"kind": self.kind, "location": self.location}
        if self.series_key is not None:
            fields["series_key"] = self.series_key
        if self.labels_path is not None:
            fields["labels_path"] = self.labels_path
        return fields

    @classmethod
    def from_dict(cls, fields: Mapping[str, object]) -> CaseSource:
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


@dataclass(frozen=True)
class CaseFiles:
    """A located case: the files on disk that :func:`open_case` reads.

    Parameters
    ----------
    image_path : Path
        The volume file, or the DICOM file, DICOMDIR or folder.
    labels_path : Path, optional
        The label map that comes with the case (a sample case's ground truth).
    title : str
        What the case is called (a sample case's title).
    details : Mapping
        Anything else the kind knows (a sample case's manifest: tumor seed,
        organ, description), read-only.
    """

    image_path: Path
    labels_path: Path | None = None
    title: str = ""
    details: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, eq=False)
class OpenedCase:
    """The image (and label map) a :class:`CaseSource` named, with its files."""

    source: CaseSource
    volume: Volume
    labels: LabelMap | None
    files: CaseFiles


@runtime_checkable
class CaseSourceKind(Protocol):
    """What a kind of case source provides to the registry.

    ``name`` is stored as :attr:`CaseSource.kind`; ``noun`` says in messages and
    menus what the kind opens (``"sample case"``).
    """

    @property
    def name(self) -> str: ...

    @property
    def noun(self) -> str: ...

    def claim(self, text: str) -> str | None:
        """The location to store when ``text`` (a ``CASE`` argument) names a case of
        this kind, else None."""
        ...

    def case_names(self) -> tuple[str, ...]:
        """The cases this kind offers by name (for menus and messages); empty for paths."""
        ...

    def title(self, location: str) -> str:
        """How menus and window titles name the case at ``location``."""
        ...

    def locate(
        self,
        location: str,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> CaseFiles:
        """The case's files, made ready on disk (generated or retrieved when needed)."""
        ...


@dataclass(frozen=True)
class _PathKind:
    """A kind whose location is a path on this machine: it offers no names, titles a case by
    its file or folder name and refuses a location that is gone (a recent case since deleted)
    with ``missing_error``."""

    name: str
    noun: str
    missing_error: type[PlanningError]

    def case_names(self) -> tuple[str, ...]:
        return ()

    def title(self, location: str) -> str:
        return Path(location).name or location

    def locate(
        self,
        location: str,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> CaseFiles:
        return CaseFiles(_existing(location, self.missing_error), title=self.title(location))


@dataclass(frozen=True)
class VolumeFileKind(_PathKind):
    """A NIfTI, NRRD or MetaImage file."""

    name: str = "volume"
    noun: str = "volume file"
    missing_error: type[PlanningError] = VolumeFormatError

    def claim(self, text: str) -> str | None:
        path = Path(text).expanduser()
        return str(path.resolve()) if path.is_file() and is_volume_file(path) else None


@dataclass(frozen=True)
class DicomKind(_PathKind):
    """A DICOM folder (searched recursively), file or DICOMDIR."""

    name: str = "dicom"
    noun: str = "DICOM folder"
    missing_error: type[PlanningError] = DicomLoadError

    def claim(self, text: str) -> str | None:
        path = Path(text).expanduser()
        return str(path.resolve()) if path.exists() else None


@dataclass(frozen=True)
class RemoteKind:
    """Studies on a PACS node or DICOMweb server (``pacs://NODE/STUDY[/SERIES]``,
    ``dicomweb://...``), opened from the local study cache and retrieved when not there."""

    remote: RemoteStudyKind

    @property
    def name(self) -> str:
        return self.remote.name

    @property
    def noun(self) -> str:
        return self.remote.noun

    def claim(self, text: str) -> str | None:
        return self.remote.claim(text)

    def case_names(self) -> tuple[str, ...]:
        return ()

    def title(self, location: str) -> str:
        return self.remote.title(location)

    def locate(
        self,
        location: str,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> CaseFiles:
        folder = self.remote.locate_folder(location, progress=progress, cancel=cancel)
        return CaseFiles(folder, title=self.title(location))


def _existing(location: str, error: type[PlanningError]) -> Path:
    """``location`` as a path; ``error`` when it is gone (a recent case since deleted)."""
    path = Path(location)
    if not path.exists():
        raise error(f"{path}: no such file or folder. Check the path.")
    return path


class CaseSourceRegistry:
    """The kinds by name: the built-in ones first, then those of the entry points.

    Entry points are loaded once, on first use, under a lock: cases are opened in
    worker threads. A kind whose package fails to import is remembered with the
    error, which the first attempt to use it reports. The module's functions use
    :data:`registry`; tests replace it with one that loads no entry points.

    Parameters
    ----------
    entry_point_group : str, optional
        The group to load kinds from; None for the built-in kinds only.
    """

    def __init__(self, entry_point_group: str | None = ENTRY_POINT_GROUP) -> None:
        self._lock = threading.Lock()
        self._kinds: dict[str, CaseSourceKind] = {}
        self._broken: dict[str, str] = {}
        self._group = entry_point_group
        for kind in (
            VolumeFileKind(),
            DicomKind(),
            RemoteKind(PACS_STUDIES),
            RemoteKind(DICOMWEB_STUDIES),
        ):
            self._kinds[kind.name] = kind

    def register(self, kind: CaseSourceKind) -> None:
        """Add ``kind``, or replace the kind of the same name."""
        if not isinstance(kind, CaseSourceKind):
            raise TypeError(f"{kind!r} does not provide what a case source kind needs.")
        with self._lock:
            self._load_entry_points()
            self._kinds[kind.name] = kind
            self._broken.pop(kind.name, None)

    def kinds(self) -> dict[str, CaseSourceKind]:
        """The kinds by name, in registration order."""
        with self._lock:
            self._load_entry_points()
            return dict(self._kinds)

    def broken(self) -> dict[str, str]:
        """Kinds whose package failed to import, with the error."""
        with self._lock:
            self._load_entry_points()
            return dict(self._broken)

    def _load_entry_points(self) -> None:
        if self._group is None:
            return
        group, self._group = self._group, None
        for entry_point in entry_points(group=group):
            try:
                kind = entry_point.load()
            except ImportError as error:
                self._broken[entry_point.name] = str(error)
                continue
            self._kinds[kind.name] = kind


#: The registry the module's functions use.
registry = CaseSourceRegistry()


def register_case_source(kind: CaseSourceKind) -> None:
    """Add ``kind`` to the registry (or replace the kind of the same name).

    Installed packages register through the ``cryoplan.case_sources`` entry-point
    group instead; this is for applications and tests that provide a kind in code.
    """
    registry.register(kind)


def case_source_kinds() -> tuple[CaseSourceKind, ...]:
    """The registered kinds, built-in ones first."""
    return tuple(registry.kinds().values())


def case_source_kind(name: str) -> CaseSourceKind:
    """The kind called ``name``.

    Raises
    ------
    InvalidParameterError
        When no installed package provides it; the message says why (its
        package failed to import) or which kinds there are.
    """
    kinds = registry.kinds()
    if name in kinds:
        return kinds[name]
    broken = registry.broken()
    if name in broken:
        raise InvalidParameterError(
            f"{name} cases are unavailable: their package failed to import ({broken[name]}). "
            "Reinstall cryoplanner."
        )
    raise InvalidParameterError(
        f"unknown case source kind {name!r}; known kinds: {', '.join(kinds)}."
    )


def named_cases(kind: str | None = None) -> tuple[str, ...]:
    """The cases that ``kind`` offers by name (every kind's when None), in registration order.

    Empty when ``kind`` is not installed: callers offer sample cases where there are some.
    """
    kinds = registry.kinds()
    chosen = kinds.values() if kind is None else [kinds[kind]] if kind in kinds else []
    return tuple(name for each in chosen for name in each.case_names())


def resolve_case(
    text: str,
    *,
    series_key: str | None = None,
    labels_path: str | Path | None = None,
    case_option: str = "CASE",
    labels_option: str = "--labels",
) -> CaseSource:
    """Interpret what a user typed for a case: a path, or the name of a named case.

    Parameters
    ----------
    text : str
        A DICOM folder or file, a volume file, or a name such as ``kidney``.
    series_key, labels_path
        See :class:`CaseSource`.
    case_option, labels_option : str
        How the user gave ``text`` and ``labels_path`` (``CASE``, ``PATH``,
        ``--labels``), for the messages.

    Raises
    ------
    InvalidParameterError
        When ``text`` is neither an existing path nor a named case, or
        ``labels_path`` is no file; the message names the option.
    """
    if labels_path is not None and not Path(labels_path).expanduser().is_file():
        raise InvalidParameterError(
            f"{labels_option} {labels_path}: no such file; give the label map on the image grid."
        )
    labels = None if labels_path is None else str(Path(labels_path).expanduser().resolve())
    for kind in case_source_kinds():
        location = kind.claim(text)
        if location is not None:
            return CaseSource(kind.name, location, series_key, labels)
    nouns = [
        f"not a {kind.noun} ({', '.join(kind.case_names())})"
        for kind in case_source_kinds()
        if kind.case_names()
    ]
    broken = sorted(registry.broken().items())
    nouns.extend(f"{name} cases are unavailable ({error})" for name, error in broken)
    also = "".join(f", and {noun}" for noun in nouns)
    raise InvalidParameterError(f"{case_option} {text}: no such file or folder{also}.")


def locate_case(
    source: CaseSource,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> CaseFiles:
    """The files of ``source`` on disk (a sample case is generated on first use)."""
    kind = case_source_kind(source.kind)
    return kind.locate(source.location, progress=progress, cancel=cancel)


def open_case(
    source: CaseSource,
    *,
    catalog: DicomCatalog | None = None,
    several_series: SeveralSeries = "refuse",
    strict: bool = False,
    with_labels: bool = True,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> OpenedCase:
    """Read the image (and label map) that ``source`` names.

    Parameters
    ----------
    source : CaseSource
        What to open.
    catalog : DicomCatalog, optional
        A scan of the DICOM location already made (by a study browser); saves
        scanning the folder again.
    several_series : {"refuse", "largest"}
        What a DICOM folder with several series and no ``series_key`` gives,
        see :data:`SeveralSeries`.
    strict : bool
        Refuse gantry-tilted, irregularly spaced or incompletely described
        DICOM series instead of loading them with a warning.
    with_labels : bool
        Read the label map (``source.labels_path``, else the one the case
        brings); False for callers that make their own.
    progress, cancel
        Progress callback ``(fraction, message)`` and cancel token.

    Raises
    ------
    PlanningError
        Its subclasses, for unreadable images or label maps that do not fit the image.
    """
    files = locate_case(source, progress=sub_progress(progress, 0.0, 0.3), cancel=cancel)
    if cancel is not None:
        cancel.raise_if_cancelled()
    image_path = files.image_path
    if image_path.is_file() and is_volume_file(image_path):
        volume = read_volume(image_path)
    else:
        if catalog is None:
            catalog = scan_dicom(
                image_path, progress=sub_progress(progress, 0.3, 0.45), cancel=cancel
            )
        if source.series_key is not None or several_series == "refuse":
            series = catalog.select(source.series_key)
        else:
            series = default_series(catalog)
        volume = load_series(
            series, strict=strict, progress=sub_progress(progress, 0.45, 0.95), cancel=cancel
        )
    labels_path = source.labels_path or files.labels_path
    labels = None
    if with_labels and labels_path is not None:
        labels = read_label_map(labels_path, reference=volume.geometry)
    if progress is not None:
        progress(1.0, f"Opened {source.title}")
    return OpenedCase(source, volume, labels, files)


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
