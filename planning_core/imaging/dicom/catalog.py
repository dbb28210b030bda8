"""Scanning files or folders into a catalog of studies and series, without pixel data.

Any file name and any folder depth is accepted; a DICOMDIR is optional (when the
path names one, the files it lists are scanned). Files are grouped by study and
series, series are split into sub-series where orientation, image size, pixel
spacing or acquisition differ, localizers are set aside, and the geometry each
series will load onto is computed, with its warnings, from the headers alone.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from planning_core.errors import DicomLoadError, PlanningError
from planning_core.imaging.dicom.headers import InstanceHeader, SkippedFile, read_header
from planning_core.imaging.dicom.library_warnings import collected_as_notes
from planning_core.imaging.dicom.stack import (
    DUPLICATE_POSITION_MM,
    ORIENTATION_TOLERANCE,
    FrameRef,
    StackLayout,
    plan_stack,
)
from planning_core.imaging.geometry import Geometry
from planning_core.progress import CancelToken, ProgressCallback

#: Most skipped files a series warning names one by one.
_MAX_NAMED_SKIPS = 3


@dataclass(frozen=True, eq=False)
class SeriesInfo:
    """One loadable image series (or sub-series) found by :func:`scan_dicom`.

    ``key`` selects it for loading: the SeriesInstanceUID, with ``#n`` appended
    when one UID was split into several sub-series. ``layout`` is the grid it
    loads onto (None when ``error`` says why it cannot be loaded).
    ``assumptions`` are the warnings about values that were assumed or files
    left out as damaged (besides the layout's own); strict loading refuses
    when any exist.
    """

    key: str
    series_uid: str
    study_uid: str
    modality: str
    description: str
    series_number: str
    sop_class_uid: str
    instances: tuple[InstanceHeader, ...]
    frames: tuple[FrameRef, ...]
    layout: StackLayout | None
    warnings: tuple[str, ...]
    error: str | None
    assumptions: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How messages name this series."""
        description = f", {self.description!r}" if self.description else ""
        return f"series {self.key} ({self.modality}{description})"

    @property
    def files(self) -> tuple[Path, ...]:
        """Source files in slice order (each once)."""
        ordered = self.layout.frames if self.layout is not None else self.frames
        return tuple(dict.fromkeys(f.instance.path for f in ordered))

    @property
    def rows(self) -> int:
        return self.instances[0].rows

    @property
    def columns(self) -> int:
        return self.instances[0].columns

    @property
    def frame_count(self) -> int:
        return len(self.frames)

    @property
    def estimated_slices(self) -> int | None:
        """Planes of the loaded volume (after any resampling), known before loading."""
        return None if self.layout is None else self.layout.geometry.shape[0]

    @property
    def geometry(self) -> Geometry | None:
        """The grid a load will produce, known from the headers alone."""
        return None if self.layout is None else self.layout.geometry


@dataclass(frozen=True, eq=False)
class StudyInfo:
    study_uid: str
    description: str
    date: str
    patient_name: str
    patient_id: str
    series: tuple[SeriesInfo, ...]


@dataclass(frozen=True, eq=False)
class DicomCatalog:
    """Everything found under a path: studies with their series, and skipped files."""

    root: Path
    studies: tuple[StudyInfo, ...]
    skipped: tuple[SkippedFile, ...]
    warnings: tuple[str, ...] = ()

    @property
    def series(self) -> tuple[SeriesInfo, ...]:
        return tuple(s for study in self.studies for s in study.series)

    def select(self, series_uid: str | None = None) -> SeriesInfo:
        """The series to load: the one named, or the only one there is.

        Raises
        ------
        DicomLoadError
            When nothing matches, or several series exist and none was named;
            the message lists the candidates.
        """
        candidates = self.series
        if series_uid is not None:
            exact = [s for s in candidates if s.key == series_uid]
            matching = exact or [s for s in candidates if s.series_uid == series_uid]
            if len(matching) == 1:
                return matching[0]
            if not matching:
                skips = f" {self._skip_summary()}" if self.skipped else ""
                raise DicomLoadError(
                    f"{self.root}: no image series {series_uid!r}. {self._listing()}{skips}"
                )
            raise DicomLoadError(
                f"{self.root}: series {series_uid} was split into sub-series; choose one of "
                f"{', '.join(s.key for s in matching)}. {self._listing()}"
            )
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise DicomLoadError(
                f"{self.root}: no loadable image series found. {self._skip_summary()}"
            )
        raise DicomLoadError(
            f"{self.root}: holds {len(candidates)} image series; choose one by its UID "
            f"(series_uid= / --series UID). {self._listing()} "
            f"Run `cryoplan info {self.root}` for details."
        )

    def _listing(self) -> str:
        lines = [
            f"{s.key}: {s.modality} '{s.description}' {s.frame_count} frame(s) {s.columns}×{s.rows}"
            for s in self.series
        ]
        return "Series: " + ("; ".join(lines) if lines else "none") + "."

    def _skip_summary(self) -> str:
        if not self.skipped:
            return "The path holds no files."
        reasons: dict[str, int] = defaultdict(int)
        for skipped in self.skipped:
            reasons[skipped.reason] += 1
        shown = sorted(reasons.items(), key=lambda item: -item[1])[:4]
        listed = "; ".join(f"{count} × {reason}" for reason, count in shown)
        return f"Skipped {len(self.skipped)} file(s): {listed}."


def scan_dicom(
    path: str | Path,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> DicomCatalog:
    """Catalog the DICOM files in a file or folder without reading pixel data.

    Parameters
    ----------
    path : str or Path
        A DICOM file, a DICOMDIR, or a folder searched recursively.
    progress : callable, optional
        ``progress(fraction, message)``.
    cancel : CancelToken, optional
        Checked between files.

    Raises
    ------
    DicomLoadError
        When ``path`` does not exist.
    """
    root = Path(path)
    if not root.exists():
        raise DicomLoadError(f"{root}: no such file or folder. Check the path.")
    notes: list[str] = []
    with collected_as_notes(notes, where=str(root)):
        studies, skipped = _scan(root, notes, progress=progress, cancel=cancel)
    return DicomCatalog(root, studies, tuple(skipped), tuple(notes))


def _scan(
    root: Path,
    notes: list[str],
    *,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> tuple[tuple[StudyInfo, ...], list[SkippedFile]]:
    files, skipped, listing_notes = _list_files(root)
    notes.extend(listing_notes)
    headers: list[InstanceHeader] = []
    step = max(len(files) // 100, 1)
    for index, file_path in enumerate(files):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None and index % step == 0:
            progress(index / max(len(files), 1), f"Reading DICOM headers ({index}/{len(files)})")
        result = read_header(file_path)
        if isinstance(result, SkippedFile):
            skipped.append(result)
        else:
            headers.append(result)
    studies = _group(headers, skipped)
    if progress is not None:
        progress(1.0, f"Found {sum(len(s.series) for s in studies)} image series")
    return studies, skipped


def _list_files(root: Path) -> tuple[list[Path], list[SkippedFile], list[str]]:
    if root.is_dir():
        return _walk(root), [], []
    if _is_dicomdir(root):
        return _dicomdir_files(root)
    return [root], [], []


def _walk(folder: Path) -> list[Path]:
    found = []
    for directory, subdirectories, names in os.walk(folder):
        subdirectories.sort()
        found.extend(Path(directory) / name for name in sorted(names))
    return found


def _is_dicomdir(path: Path) -> bool:
    if not path.is_file():
        return False  # a pipe would block the open below
    try:
        with open(path, "rb") as stream:
            stream.seek(128)
            if stream.read(4) != b"DICM":
                return False
        meta = pydicom.filereader.read_file_meta_info(path)
    except Exception:  # unreadable files are reported when scanned as images
        return False
    return str(meta.get("MediaStorageSOPClassUID", "")) == "1.2.840.10008.1.3.10"


def _dicomdir_files(path: Path) -> tuple[list[Path], list[SkippedFile], list[str]]:
    """Files referenced by a DICOMDIR; its folder is walked when the index is unreadable."""
    try:
        directory = pydicom.dcmread(path)
        records = list(directory.DirectoryRecordSequence)
    except Exception as error:  # a damaged index must not stop the scan
        note = f"{path}: DICOMDIR unreadable ({error}); scanned its folder instead."
        return _walk(path.parent), [], [note]
    files: list[Path] = []
    skipped: list[SkippedFile] = []
    folder = path.parent.resolve()
    for record in records:
        reference = record.get("ReferencedFileID")
        if not reference:
            continue
        parts = [reference] if isinstance(reference, str) else list(reference)
        file_path = path.parent.joinpath(*(str(p) for p in parts))
        if not _inside(file_path, folder):
            skipped.append(
                SkippedFile(
                    file_path,
                    f"listed in {path.name} but outside its folder {path.parent}; not read "
                    "(a DICOMDIR only indexes files beneath it)",
                )
            )
        elif file_path.is_file():
            files.append(file_path)
        else:
            skipped.append(SkippedFile(file_path, f"listed in {path.name} but missing"))
    return list(dict.fromkeys(files)), skipped, []


def _inside(path: Path, folder: Path) -> bool:
    """True when ``path``, symbolic links resolved, lies within ``folder`` (already resolved)."""
    try:
        return path.resolve().is_relative_to(folder)
    except (OSError, RuntimeError, ValueError):  # link loops, NUL bytes: not a usable path
        return False


# -- grouping
def _group(headers: Sequence[InstanceHeader], skipped: list[SkippedFile]) -> tuple[StudyInfo, ...]:
    by_series: dict[tuple[str, str], list[InstanceHeader]] = defaultdict(list)
    for header in headers:
        series_uid = header.series_uid or f"no-series-uid:{header.path.parent}"
        by_series[(header.study_uid, series_uid)].append(header)
    by_study: dict[str, list[SeriesInfo]] = defaultdict(list)
    for (study_uid, series_uid), members in by_series.items():
        by_study[study_uid].extend(_series_from_members(series_uid, members, skipped))
    studies = []
    for study_uid, series in by_study.items():
        if not series:
            continue
        identity = series[0].instances[0].identity
        series.sort(key=lambda s: (_number_key(s.series_number), s.key))
        studies.append(
            StudyInfo(
                study_uid=study_uid,
                description=identity.get("study_description", ""),
                date=identity.get("study_date", ""),
                patient_name=identity.get("patient_name", ""),
                patient_id=identity.get("patient_id", ""),
                series=tuple(series),
            )
        )
    studies.sort(key=lambda s: (s.date, s.study_uid))
    return tuple(studies)


def _number_key(text: str) -> tuple[int, float, str]:
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def _series_from_members(
    series_uid: str, members: list[InstanceHeader], skipped: list[SkippedFile]
) -> list[SeriesInfo]:
    skipped_here = [s for s in skipped if s.series_uid == series_uid]
    kept = []
    first_copy: dict[str, InstanceHeader] = {}
    for header in members:
        original = (
            first_copy.setdefault(header.sop_instance_uid, header)
            if header.sop_instance_uid
            else header
        )
        if original is not header:
            skipped_here.append(
                SkippedFile(
                    header.path,
                    f"another copy of {original.path.name} (same SOPInstanceUID); "
                    "the first copy is used",
                    series_uid,
                )
            )
        elif header.is_localizer:
            skipped_here.append(
                SkippedFile(
                    header.path,
                    "localizer/scout image (ImageType LOCALIZER), not a slice of the volume",
                    series_uid,
                )
            )
        else:
            kept.append(header)
    kept, rescale_notes = _check_rescale(kept, skipped_here, series_uid)
    groups = _split(kept, skipped_here, series_uid) if kept else []
    layout_notes: list[str] = []
    for index, group in enumerate(groups):
        groups[index] = _check_pixel_layout(group, skipped_here, layout_notes, series_uid)
    skipped.extend(s for s in skipped_here if s not in skipped)
    notes = _skip_notes(skipped_here)
    assumptions = list(notes) if any(s.damaged for s in skipped_here) else []
    notes.extend(layout_notes + rescale_notes)
    assumptions.extend(layout_notes + rescale_notes)
    if len(groups) > 1:
        notes.append(
            f"series {series_uid} holds {len(groups)} sub-series that differ in orientation, "
            "image size, pixel spacing or acquisition; they are kept apart as "
            f"{series_uid}#1 to #{len(groups)}."
        )
    result = []
    for number, frames in enumerate(groups, start=1):
        key = series_uid if len(groups) == 1 else f"{series_uid}#{number}"
        result.append(_make_series(key, series_uid, frames, notes, assumptions))
    return result


#: Header values every slice of one image size in a series shares: the stored bit layout.
_PIXEL_LAYOUT = (
    ("BitsAllocated", "bits_allocated"),
    ("BitsStored", "bits_stored"),
    ("PixelRepresentation", "pixel_representation"),
)


def _check_pixel_layout(
    frames: list[FrameRef], skipped_here: list[SkippedFile], notes: list[str], series_uid: str
) -> list[FrameRef]:
    """The frames of one (sub-)series, less files whose stored bit layout differs from the rest.

    Files that differ from a clear majority are left out as damaged (a flipped
    PixelRepresentation reads a slice's values wrongly); without a majority
    ``notes`` gets a note saying which values differ.
    """
    headers = list(dict.fromkeys(f.instance for f in frames))
    variants = Counter(_layout(h) for h in headers)
    common, count = variants.most_common(1)[0]
    if len(variants) == 1:
        return frames
    if count * 2 <= len(headers):
        listed = "; ".join(
            f"{_describe_layout(v)} in {n} file(s)" for v, n in variants.most_common()
        )
        notes.append(
            f"series {series_uid}: its files disagree on the stored bit layout ({listed}); "
            "each file was read with its own values. Check the images; load in strict mode "
            "to refuse instead."
        )
        return frames
    for header in headers:
        if _layout(header) != common:
            differences = ", ".join(
                f"{name} {value} (the other {count} files: {usual})"
                for (name, _), value, usual in zip(
                    _PIXEL_LAYOUT, _layout(header), common, strict=True
                )
                if value != usual
            )
            skipped_here.append(
                SkippedFile(
                    header.path,
                    f"{differences}: the slice disagrees with its series, so its values "
                    "cannot be trusted",
                    series_uid,
                    damaged=True,
                )
            )
    return [f for f in frames if _layout(f.instance) == common]


def _layout(header: InstanceHeader) -> tuple[int, ...]:
    return tuple(getattr(header, attribute) for _, attribute in _PIXEL_LAYOUT)


def _describe_layout(values: tuple[int, ...]) -> str:
    return ", ".join(f"{name} {v}" for (name, _), v in zip(_PIXEL_LAYOUT, values, strict=True))


def _check_rescale(
    headers: list[InstanceHeader], skipped_here: list[SkippedFile], series_uid: str
) -> tuple[list[InstanceHeader], list[str]]:
    """CT files whose rescale to HU is not stated: left out, or assumed with a note.

    A CT file lacking RescaleSlope/RescaleIntercept beside files that state
    them would be shifted against its neighbours, so it is left out as
    damaged. When no file of the series states them, the stored values are
    taken as HU (slope 1, intercept 0) and the note says so.
    """
    if not headers or headers[0].modality != "CT":
        return headers, []
    missing = [h for h in headers if any(p.rescale_missing for p in h.frames)]
    if not missing:
        return headers, []
    stated = [h for h in headers if h not in missing]
    names = sorted({n for h in missing for p in h.frames for n in p.rescale_missing})
    attributes = "/".join(names)
    if stated:
        for header in missing:
            skipped_here.append(
                SkippedFile(
                    header.path,
                    f"{attributes} missing or empty while {len(stated)} other file(s) of the "
                    "series state it; this slice's HU cannot be established",
                    series_uid,
                    damaged=True,
                )
            )
        return stated, []
    note = (
        f"series {series_uid}: {attributes} missing or empty in all {len(missing)} CT file(s) "
        f"(first {missing[0].path.name}); the stored values were taken as HU with "
        f"{' and '.join(_DEFAULT_RESCALE[n] for n in names)}. Check that air reads about "
        "-1000 HU; load in strict mode to refuse instead."
    )
    return headers, [note]


_DEFAULT_RESCALE = {"RescaleSlope": "slope 1", "RescaleIntercept": "intercept 0"}


def _rescale_note(label: str, frames: Sequence[FrameRef]) -> str | None:
    """A note when a CT's frames are rescaled differently (legal, but worth knowing)."""
    counts: dict[tuple[float, float], list[FrameRef]] = defaultdict(list)
    for frame in frames:
        counts[(frame.plane.rescale_slope, frame.plane.rescale_intercept)].append(frame)
    if len(counts) < 2:
        return None
    ordered = sorted(counts.items(), key=lambda item: -len(item[1]))
    listed = "; ".join(
        f"slope {slope:g}, intercept {intercept:g} in {len(group)} frame(s) "
        f"(first {group[0].label})"
        for (slope, intercept), group in ordered[:_MAX_NAMED_SKIPS]
    )
    return (
        f"{label}: RescaleSlope/RescaleIntercept differ between slices ({listed}); each slice "
        "was converted with its own values."
    )


def _make_series(
    key: str,
    series_uid: str,
    frames: list[FrameRef],
    notes: list[str],
    assumptions: list[str],
) -> SeriesInfo:
    instances = tuple(dict.fromkeys(f.instance for f in frames))
    first = instances[0]
    identity = first.identity
    description = identity.get("series_description", "")
    label = f"series {key} ({first.modality}{f', {description!r}' if description else ''})"
    warnings = list(notes)
    assumed = list(assumptions)
    for instance in instances:
        warnings.extend(instance.notes)
        warnings.extend(instance.assumptions)
        assumed.extend(instance.assumptions)
    if first.modality == "CT":
        rescale_note = _rescale_note(label, frames)
        if rescale_note is not None:
            warnings.append(rescale_note)
    lossy = next((i for i in instances if i.lossy_compressed), None)
    if lossy is not None:
        syntax = pydicom.uid.UID(lossy.transfer_syntax_uid)
        how = syntax.name if syntax.is_compressed else "LossyImageCompression is 01"
        warnings.append(
            f"{label}: pixel data were lossy-compressed ({how}); values are approximate."
        )
    layout, error = None, None
    try:
        layout = plan_stack(frames, name=label)
        warnings.extend(layout.warnings)
    except PlanningError as problem:  # e.g. a grid the Geometry refuses: name the series
        error = str(problem)
    return SeriesInfo(
        key=key,
        series_uid=series_uid,
        study_uid=first.study_uid,
        modality=first.modality,
        description=description,
        series_number=identity.get("series_number", ""),
        sop_class_uid=first.sop_class_uid,
        instances=instances,
        frames=tuple(frames),
        layout=layout,
        warnings=tuple(warnings),
        error=error,
        assumptions=tuple(assumed),
    )


def _skip_notes(skipped_here: Sequence[SkippedFile]) -> list[str]:
    if not skipped_here:
        return []
    named = "; ".join(f"{s.path.name}: {s.reason}" for s in skipped_here[:_MAX_NAMED_SKIPS])
    more = (
        f"; and {len(skipped_here) - _MAX_NAMED_SKIPS} more"
        if len(skipped_here) > _MAX_NAMED_SKIPS
        else ""
    )
    return [f"{len(skipped_here)} file(s) of this series were left out ({named}{more})."]


def _split(
    headers: Sequence[InstanceHeader], skipped_here: list[SkippedFile], series_uid: str
) -> list[list[FrameRef]]:
    """Sub-series of one series as frame lists; set-aside localizers go to ``skipped_here``."""
    groups: list[list[FrameRef]] = []
    single: list[InstanceHeader] = []
    for header in headers:
        if header.is_multiframe or header.number_of_frames > 1:
            frames = [FrameRef(header, i) for i in range(header.number_of_frames)]
            groups.extend(_split_duplicates(frames))
        else:
            single.append(header)
    clusters = _cluster_single_frames(single)
    main = max(clusters, key=len) if clusters else []
    if len(main) > 1:
        # Beside a real stack, a lone image in another orientation is a localizer.
        main_orientation = main[0].frames[0].orientation
        for cluster in [c for c in clusters if c is not main]:
            orientation = cluster[0].frames[0].orientation
            if (
                len(cluster) == 1
                and orientation is not None
                and main_orientation is not None
                and not _same_orientation(orientation, main_orientation)
            ):
                skipped_here.append(
                    SkippedFile(
                        cluster[0].path,
                        "single image whose orientation differs from the rest of the series "
                        "(a localizer/scout), not a slice of the volume",
                        series_uid,
                    )
                )
                clusters.remove(cluster)
    for cluster in clusters:
        if cluster[0].frames[0].position_lps_mm is None or cluster[0].frames[0].orientation is None:
            # Images without patient placement are separate 2-D images, one sub-series each.
            groups.extend([FrameRef(h, 0)] for h in cluster)
            continue
        groups.extend(_split_duplicates([FrameRef(h, 0) for h in cluster]))
    return groups


def _cluster_single_frames(headers: Iterable[InstanceHeader]) -> list[list[InstanceHeader]]:
    clusters: list[list[InstanceHeader]] = []
    for header in headers:
        for cluster in clusters:
            if _compatible(cluster[0], header):
                cluster.append(header)
                break
        else:
            clusters.append([header])
    return clusters


def _compatible(a: InstanceHeader, b: InstanceHeader) -> bool:
    if (a.rows, a.columns, a.samples_per_pixel) != (b.rows, b.columns, b.samples_per_pixel):
        return False
    plane_a, plane_b = a.frames[0], b.frames[0]
    if (plane_a.orientation is None) != (plane_b.orientation is None):
        return False
    if plane_a.orientation is not None and not _same_orientation(
        plane_a.orientation, plane_b.orientation
    ):
        return False
    if (plane_a.pixel_spacing_mm is None) != (plane_b.pixel_spacing_mm is None):
        return False
    if plane_a.pixel_spacing_mm is not None:
        difference = np.abs(np.subtract(plane_a.pixel_spacing_mm, plane_b.pixel_spacing_mm))
        if np.max(difference) > 1e-4 * max(plane_a.pixel_spacing_mm):
            return False
    return True


def _same_orientation(a: Sequence[float], b: Sequence[float] | None) -> bool:
    return b is not None and bool(np.max(np.abs(np.subtract(a, b))) <= ORIENTATION_TOLERANCE)


_ACQUISITION_KEYS: tuple[tuple[str, Callable[[FrameRef], object]], ...] = (
    ("echo", lambda f: f.instance.echo_number),
    ("temporal position", lambda f: f.instance.temporal_position),
    ("acquisition", lambda f: f.instance.acquisition_number),
    ("stack", lambda f: f.plane.stack_id),
    ("temporal index", lambda f: f.plane.temporal_index),
)


def _split_duplicates(frames: list[FrameRef]) -> list[list[FrameRef]]:
    """Split frames that share positions by the first acquisition attribute that separates them."""
    if not _has_duplicates(frames):
        return [frames]
    for _, key in _ACQUISITION_KEYS:
        parts: dict[object, list[FrameRef]] = defaultdict(list)
        for frame in frames:
            parts[key(frame)].append(frame)
        if len(parts) > 1 and not any(_has_duplicates(p) for p in parts.values()):
            return [parts[k] for k in sorted(parts, key=lambda v: (v is None, str(v)))]
    return [frames]  # planning reports the clash with the frames' names


def _has_duplicates(frames: Sequence[FrameRef]) -> bool:
    planes = [f.plane for f in frames]
    if any(p.position_lps_mm is None or p.orientation is None for p in planes):
        return False
    cosines = np.asarray(planes[0].orientation, dtype=np.float64)
    normal = np.cross(cosines[:3], cosines[3:])
    distances = np.sort(np.array([p.position_lps_mm for p in planes]) @ normal)
    return bool(np.any(np.diff(distances) < DUPLICATE_POSITION_MM))
