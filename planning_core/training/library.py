"""The case library: import de-identified cases, list them, export them, hold reference plans.

Each case lives in a folder ``cases/<id>/`` beside the database file with its
image (a de-identified DICOM copy in ``dicom/`` or a MetaImage ``image.mha``),
its label map ``labels.nii.gz`` (+ label table) and, once set, its reference
plan ``reference_plan.json``; the database row holds the paths (relative to
the case folder), the title, the difficulty tags and who made the reference.
An exported case is the same folder plus ``case.json``; importing that folder
restores the case with its reference plan.

Case ids and file names come from the database and from exported manifests,
which a user can edit: every id passes :func:`check_case_id` and every path
built from such data passes :func:`planning_core.paths.resolve_inside`. An
import is all or nothing: files are staged in a private folder and moved into
place in the transaction that records the case (reference plan included).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import math
import re
import shutil
import sqlite3
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from planning_core.atomic import write_text_atomic
from planning_core.errors import PlanFileError
from planning_core.imaging.case_sources import (
    SAMPLE_CASE_KIND,
    CaseSource,
    locate_case,
    named_cases,
)
from planning_core.imaging.deidentify import Deidentifier
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.loader import load_image
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import (
    is_volume_file,
    read_label_map,
    write_label_map,
    write_volume,
)
from planning_core.input_files import read_json_file
from planning_core.paths import check_links_inside, resolve_inside
from planning_core.planning.plan import Plan
from planning_core.planning.plan_json import load_plan, save_plan
from planning_core.progress import CancelToken, ProgressCallback, sub_progress
from planning_core.training.database import (
    LibraryError,
    database_file,
    library_folder,
    write_transaction,
)
from planning_core.training.deidentify import (
    case_deidentifier,
    deidentify_dicom_folder,
    library_secret,
)
from planning_core.training.difficulty import DifficultyTags, difficulty_tags

DICOM_FOLDER = "dicom"
VOLUME_FILE = "image.mha"
LABELS_FILE = "labels.nii.gz"
REFERENCE_PLAN_FILE = "reference_plan.json"
EXPORT_MANIFEST = "case.json"
EXPORT_FORMAT = "cryoplan-library-case"
EXPORT_VERSION = 1
#: Who made a reference plan that came from the optimizer.
OPTIMIZER_AUTHOR = "optimizer"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
#: Marks an import's staging folder (``.<id>.importing-<random>`` in the cases folder).
STAGING_MARK = ".importing-"
#: A staging folder untouched this long was left by a killed import (imports take minutes).
STALE_STAGING_AGE_S = 24 * 3600.0


class DuplicateCaseError(LibraryError):
    """The library already has a case with this id (perhaps imported meanwhile elsewhere)."""


class UnknownCaseError(LibraryError):
    """The library has no case with this id."""


@dataclass(frozen=True)
class LibraryCase:
    """One case of the library.

    Attributes
    ----------
    id : str
        Short slug (``kidney``, ``liver-2``).
    title, organ, modality, description : str
        What a trainee sees in the case list.
    image_path, labels_path : Path
        The de-identified image (DICOM folder or volume file) and label map.
    tags : DifficultyTags
        Size class, nearest organ at risk and difficulty level.
    reference_plan_path : Path or None
        The reference plan (with fresh metrics); ``None`` until one is set.
    reference_author : str or None
        ``"optimizer"`` or the attending who saved the plan.
    reference_grid_mm : float or None
        Simulation grid of the reference metrics; attempts are scored on the same grid.
    imported_at : str
        ISO 8601 time of import (UTC).
    """

    id: str
    title: str
    organ: str
    modality: str
    description: str
    image_path: Path
    labels_path: Path
    tags: DifficultyTags
    reference_plan_path: Path | None
    reference_author: str | None
    reference_grid_mm: float | None
    imported_at: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (paths as text)."""
        return {
            "id": self.id,
            "title": self.title,
            "organ": self.organ,
            "modality": self.modality,
            "description": self.description,
            "image_path": str(self.image_path),
            "labels_path": str(self.labels_path),
            **asdict(self.tags),
            "reference_plan_path": (
                None if self.reference_plan_path is None else str(self.reference_plan_path)
            ),
            "reference_author": self.reference_author,
            "reference_grid_mm": self.reference_grid_mm,
            "imported_at": self.imported_at,
        }


def utc_now() -> str:
    """The current time as ISO 8601 text in UTC, to the second."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def case_slug(text: str) -> str:
    """A case id from free text: lowercase letters, digits and dashes, at most 40 characters."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-")
    if not slug:
        raise LibraryError(f"cannot make a case id from {text!r}; give one with --id.")
    return slug


def check_case_id(case_id: object, *, where: str = "") -> str:
    """``case_id`` when it is a valid case id (the one rule for ids, wherever they come from).

    Parameters
    ----------
    case_id : object
        An id given with ``--id``, read from the database or from an exported ``case.json``.
    where : str
        Where the id was read (a file), named in the error.

    Raises
    ------
    LibraryError
        Unless it is 1-40 lowercase letters, digits or dashes starting with a letter or
        digit (so it is safe as a folder name: no ``/``, no ``..``).
    """
    if not isinstance(case_id, str) or not _SLUG.match(case_id):
        source = f"{where}: " if where else ""
        raise LibraryError(
            f"{source}case id {case_id!r} must be 1-40 lowercase letters, digits or dashes, "
            "starting with a letter or digit (--id)."
        )
    return case_id


def case_folder(connection: sqlite3.Connection, case_id: str) -> Path:
    """The folder of case ``case_id`` in the library (the id checked first)."""
    folder = library_folder(connection)
    resolve_inside(folder, check_case_id(case_id, where=str(database_file(connection))))
    return folder / case_id


def _inside(folder: Path, name: str) -> Path:
    """``folder / name`` after checking that it stays inside ``folder``."""
    resolve_inside(folder, name)
    return folder / name


def _row_to_case(connection: sqlite3.Connection, row: sqlite3.Row) -> LibraryCase:
    folder = case_folder(connection, row["id"])
    reference = row["reference_plan_path"]
    return LibraryCase(
        id=row["id"],
        title=row["title"],
        organ=row["organ"],
        modality=row["modality"],
        description=row["description"],
        image_path=_inside(folder, row["image_path"]),
        labels_path=_inside(folder, row["labels_path"]),
        tags=DifficultyTags(
            organ=row["organ"],
            tumor_diameter_mm=row["tumor_diameter_mm"],
            tumor_volume_ml=row["tumor_volume_ml"],
            size_class=row["size_class"],
            nearest_oar=row["nearest_oar"],
            nearest_oar_mm=row["nearest_oar_mm"],
            difficulty=row["difficulty"],
            nearest_avoid=row["nearest_avoid"],
            nearest_avoid_mm=row["nearest_avoid_mm"],
        ),
        reference_plan_path=None if reference is None else _inside(folder, reference),
        reference_author=row["reference_author"],
        reference_grid_mm=row["reference_grid_mm"],
        imported_at=row["imported_at"],
    )


def list_cases(connection: sqlite3.Connection) -> tuple[LibraryCase, ...]:
    """Every case, ordered by id."""
    rows = connection.execute("SELECT * FROM cases ORDER BY id").fetchall()
    return tuple(_row_to_case(connection, row) for row in rows)


def get_case(connection: sqlite3.Connection, case_id: str) -> LibraryCase:
    """The case ``case_id``; raises :class:`UnknownCaseError` listing the known ids."""
    row = connection.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
    if row is None:
        known = [r["id"] for r in connection.execute("SELECT id FROM cases ORDER BY id")]
        raise UnknownCaseError(
            f"no case {case_id!r} in the library; known cases: {', '.join(known) or 'none'} "
            "(`cryoplan library list`)."
        )
    return _row_to_case(connection, row)


def load_case_data(case: LibraryCase) -> tuple[Volume, LabelMap]:
    """The case's image and label map (on the image grid)."""
    volume = load_image(case.image_path)
    return volume, read_label_map(case.labels_path, reference=volume.geometry)


@dataclass(frozen=True, eq=False)
class _StagedReference:
    """A reference plan that comes with an imported case (from an exported folder)."""

    plan: Plan
    author: str
    grid_mm: float


def import_case(
    connection: sqlite3.Connection,
    image_path: str | Path,
    labels_path: str | Path,
    *,
    case_id: str | None = None,
    title: str | None = None,
    organ: str | None = None,
    description: str = "",
    target_label: str = "tumor",
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> LibraryCase:
    """Copy a study and its label map into the library, de-identified, and tag its difficulty.

    The import is all or nothing: on any error (or a cancel) no row and no file is left.

    Parameters
    ----------
    connection : sqlite3.Connection
        The library (:func:`~planning_core.training.database.connect`).
    image_path : path
        A DICOM folder or file (copied de-identified) or a volume file (rewritten
        as MetaImage, which keeps no header text but the modality). Symbolic links
        in a DICOM folder must stay inside it.
    labels_path : path
        The label map on the image grid; it must hold ``target_label``.
    case_id : str, optional
        Slug of the new case; made from ``title`` or the image name when omitted.
    title, organ, description : str, optional
        Shown in the case list; ``organ`` is found from the labels when omitted.
    target_label : str
        Name of the tumor label.
    progress, cancel
        Progress callback and cancel token.

    Raises
    ------
    DuplicateCaseError
        When the id is taken (also when another window or command imported it meanwhile).
    LibraryError
        When the id is malformed.
    PathOutsideFolderError
        When a link in the DICOM folder leads outside it.
    """
    return _import(
        connection, Path(image_path), Path(labels_path), case_id=case_id, title=title,
        organ=organ, description=description, target_label=target_label, reference=None,
        progress=progress, cancel=cancel,
    )  # fmt: skip


def _import(
    connection: sqlite3.Connection,
    image_path: Path,
    labels_path: Path,
    *,
    case_id: str | None,
    title: str | None,
    organ: str | None,
    description: str,
    target_label: str,
    reference: _StagedReference | None,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> LibraryCase:
    case_id = check_case_id(case_id or case_slug(title or _image_name(image_path)))
    if _has_case(connection, case_id):
        raise _duplicate(case_id)
    check_links_inside(image_path)
    library = library_folder(connection)
    folder = case_folder(connection, case_id)
    library.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(library)
    # A private staging folder: two imports at once never share half-written files.
    staging = Path(tempfile.mkdtemp(prefix=f".{case_id}{STAGING_MARK}", dir=library))
    moved = False
    try:
        deidentifier = case_deidentifier(library_secret(connection), case_id)
        image_name = _copy_image(
            image_path, staging, deidentifier, sub_progress(progress, 0.0, 0.6), cancel
        )
        volume = load_image(staging / image_name, progress=sub_progress(progress, 0.6, 0.8))
        label_map = read_label_map(labels_path, reference=volume.geometry)
        if not label_map.has(target_label):
            raise LibraryError(
                f"{labels_path}: has no {target_label!r} label; segment the tumor or name "
                "its label with --target."
            )
        write_label_map(label_map, staging / LABELS_FILE)
        tags = difficulty_tags(label_map, target_label=target_label, organ=organ)
        reference_name = None
        if reference is not None:
            if reference.plan.case is not None:
                reference.plan.case.require_match(volume, plan_name="the reference plan")
            # Written beside the staged files, so its relative file names stay valid after
            # the move; the original's simulation fields stay behind.
            plan = dataclasses.replace(
                reference.plan,
                image_path=staging / image_name,
                labels_path=staging / LABELS_FILE,
                thermal_fields_path=None,
                thermal_fields_sha256=None,
            )
            save_plan(plan, staging / REFERENCE_PLAN_FILE)
            reference_name = REFERENCE_PLAN_FILE
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(0.95, "Recording the case")
        with write_transaction(connection):
            try:
                connection.execute(
                    """INSERT INTO cases (id, title, organ, modality, image_path, labels_path,
                       imported_at, description, tumor_diameter_mm, tumor_volume_ml, size_class,
                       nearest_oar, nearest_oar_mm, difficulty, reference_plan_path,
                       reference_author, reference_grid_mm, nearest_avoid, nearest_avoid_mm)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        case_id, title or case_id, tags.organ, volume.modality, image_name,
                        LABELS_FILE, utc_now(), description, tags.tumor_diameter_mm,
                        tags.tumor_volume_ml, tags.size_class, tags.nearest_oar,
                        tags.nearest_oar_mm, tags.difficulty, reference_name,
                        None if reference is None else reference.author,
                        None if reference is None else reference.grid_mm,
                        tags.nearest_avoid, tags.nearest_avoid_mm,
                    ),
                )  # fmt: skip
            except sqlite3.IntegrityError as error:
                raise _duplicate(case_id) from error
            shutil.rmtree(folder, ignore_errors=True)  # left over by an interrupted import
            staging.rename(folder)
            moved = True
    except BaseException as error:
        if moved:  # the row was rolled back after the files were moved into place
            shutil.rmtree(folder, ignore_errors=True)
        if isinstance(error, OSError):
            raise _file_error(error, "import the case") from error
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if progress is not None:
        progress(1.0, f"Imported case {case_id}")
    return get_case(connection, case_id)


def _file_error(error: OSError, action: str) -> LibraryError:
    where = error.filename or "the library"
    return LibraryError(
        f"{where}: cannot {action} ({error.strerror or error}); check that the file is "
        "readable and that the destination has free space and is writable."
    )


def _remove_stale_staging(library: Path) -> None:
    """Remove staging folders left by imports killed over :data:`STALE_STAGING_AGE_S` ago."""
    now_s = time.time()
    for folder in library.glob(f".*{STAGING_MARK}*"):
        with contextlib.suppress(OSError):
            if folder.is_dir() and now_s - folder.stat().st_mtime > STALE_STAGING_AGE_S:
                shutil.rmtree(folder, ignore_errors=True)


def _duplicate(case_id: str) -> DuplicateCaseError:
    return DuplicateCaseError(
        f"the library already has a case {case_id!r} (perhaps just imported by another "
        "window or command); choose another id with --id, or use the existing case."
    )


def _image_name(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _copy_image(
    source: Path,
    folder: Path,
    deidentifier: Deidentifier,
    progress: ProgressCallback,
    cancel: CancelToken | None,
) -> str:
    if not source.exists():
        raise LibraryError(f"{source}: no such image file or folder. Check the path.")
    if source.is_file() and is_volume_file(source):
        write_volume(load_image(source), folder / VOLUME_FILE)
        return VOLUME_FILE
    deidentify_dicom_folder(
        source, folder / DICOM_FOLDER, deidentifier=deidentifier, progress=progress,
        cancel=cancel,
    )  # fmt: skip
    return DICOM_FOLDER


def import_sample_case(
    connection: sqlite3.Connection,
    name: str,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> LibraryCase:
    """Import the synthetic sample case ``name`` (generated first when needed) as case ``name``.

    The sample cases come through the case-source registry; their manifest gives
    the title, organ and description.
    """
    sample = locate_case(
        CaseSource(SAMPLE_CASE_KIND, name), progress=sub_progress(progress, 0.0, 0.5), cancel=cancel
    )
    manifest = sample.details
    return import_case(
        connection,
        sample.image_path,
        sample.labels_path,
        case_id=name,
        title=sample.title or name,
        organ=str(manifest.get("organ", "")) or None,
        description=str(manifest.get("description", "")),
        progress=sub_progress(progress, 0.5, 1.0),
        cancel=cancel,
    )


def ensure_sample_cases(
    connection: sqlite3.Connection,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[LibraryCase, ...]:
    """Import the sample cases the library lacks; returns those imported.

    Another window or command importing the same samples at the same time is no
    error: a sample it recorded first is skipped here.
    """
    missing = [n for n in named_cases(SAMPLE_CASE_KIND) if not _has_case(connection, n)]
    imported = []
    for index, name in enumerate(missing):
        step = sub_progress(progress, index / len(missing), (index + 1) / len(missing))
        try:
            imported.append(import_sample_case(connection, name, progress=step, cancel=cancel))
        except DuplicateCaseError:
            continue
    return tuple(imported)


def _has_case(connection: sqlite3.Connection, case_id: str) -> bool:
    return connection.execute("SELECT 1 FROM cases WHERE id = ?", (case_id,)).fetchone() is not None


def set_reference_plan(
    connection: sqlite3.Connection, case_id: str, plan: Plan, *, author: str, grid_mm: float
) -> LibraryCase:
    """Store ``plan`` as the case's reference plan.

    Parameters
    ----------
    connection : sqlite3.Connection
        The library.
    case_id : str
        The case.
    plan : Plan
        An evaluated plan on the case's image: fresh metrics computed on a
        ``grid_mm`` simulation grid (see
        :func:`planning_core.training.assessment.evaluate_reference`).
    author : str
        ``"optimizer"`` or the attending's name.
    grid_mm : float
        Simulation grid of the metrics.
    """
    case = get_case(connection, case_id)
    if plan.metrics_stale():
        raise PlanFileError(
            f"the reference plan for case {case_id!r} has no fresh metrics; evaluate it first."
        )
    if not isinstance(author, str) or not author.strip():
        raise LibraryError("author must name who made the reference plan (or 'optimizer').")
    plan_path = case_folder(connection, case_id) / REFERENCE_PLAN_FILE
    save_plan(plan.with_files(image_path=case.image_path, labels_path=case.labels_path), plan_path)
    with write_transaction(connection):
        connection.execute(
            """UPDATE cases SET reference_plan_path = ?, reference_author = ?,
               reference_grid_mm = ? WHERE id = ?""",
            (REFERENCE_PLAN_FILE, author.strip(), float(grid_mm), case_id),
        )
    return get_case(connection, case_id)


def load_reference_plan(case: LibraryCase) -> Plan:
    """The case's reference plan; raises :class:`LibraryError` when none is set."""
    if case.reference_plan_path is None:
        raise LibraryError(
            f"case {case.id!r} has no reference plan yet; set one with "
            f"`cryoplan library reference {case.id} --optimize` (or --plan PLAN.json "
            "--author NAME for an expert plan)."
        )
    return load_plan(case.reference_plan_path)


def export_cases(
    connection: sqlite3.Connection,
    destination: str | Path,
    *,
    case_ids: tuple[str, ...] | None = None,
) -> tuple[Path, ...]:
    """Copy cases to ``destination/<id>/`` with a ``case.json`` describing each.

    Each case folder appears complete or not at all (copied under a temporary
    name, then renamed).

    Parameters
    ----------
    connection : sqlite3.Connection
        The library.
    destination : path
        Folder receiving one sub-folder per case; existing case folders are refused.
    case_ids : tuple of str, optional
        Which cases; all by default.

    Returns
    -------
    tuple of Path
        The case folders written.

    Raises
    ------
    PathOutsideFolderError
        When a case's files (as the database names them) lead outside its folder.
    """
    destination = Path(destination)
    cases = (
        list_cases(connection)
        if case_ids is None
        else tuple(get_case(connection, c) for c in case_ids)
    )
    written = []
    for case in cases:
        source = case_folder(connection, case.id)
        check_links_inside(source)
        target = _inside(destination, case.id)
        if target.exists():
            raise LibraryError(f"{target}: already exists; export into an empty folder (--out).")
        try:
            destination.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{case.id}.exporting-", dir=destination))
        except OSError as error:
            raise _file_error(error, "create the export folder (--out)") from error
        try:
            copy = staging / case.id
            shutil.copytree(source, copy)
            manifest = {
                "format": EXPORT_FORMAT,
                "version": EXPORT_VERSION,
                **case.as_dict(),
                "image_path": case.image_path.name,
                "labels_path": case.labels_path.name,
                "reference_plan_path": (
                    None if case.reference_plan_path is None else case.reference_plan_path.name
                ),
            }
            write_text_atomic(copy / EXPORT_MANIFEST, json.dumps(manifest, indent=2) + "\n")
            copy.rename(target)
        except OSError as error:
            raise _file_error(error, f"export case {case.id!r} (--out)") from error
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        written.append(target)
    return tuple(written)


def is_exported_case(path: str | Path) -> bool:
    """True when ``path`` is a folder written by :func:`export_cases`."""
    return (Path(path) / EXPORT_MANIFEST).is_file()


def import_exported_case(
    connection: sqlite3.Connection,
    folder: str | Path,
    *,
    case_id: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> LibraryCase:
    """Import a case folder written by :func:`export_cases`, reference plan included.

    Every file the manifest names must lie inside ``folder`` (after resolving
    ``..`` and links), and so must every link under it. The case and its
    reference plan are recorded together or not at all.

    Raises
    ------
    LibraryError
        When the manifest is unusable or the id malformed or taken.
    PathOutsideFolderError
        When a named file or a link leads outside ``folder``.
    """
    folder = Path(folder)
    manifest_path = folder / EXPORT_MANIFEST
    manifest = read_json_file(manifest_path, what="exported case manifest", error=LibraryError)
    try:
        if not isinstance(manifest, dict):
            raise ValueError("it holds no JSON object")
        if manifest.get("format") != EXPORT_FORMAT:
            raise ValueError(f"format is {manifest.get('format')!r}, not {EXPORT_FORMAT!r}")
        if int(manifest["version"]) > EXPORT_VERSION:
            raise ValueError(f"version {manifest['version']} is newer than this cryoplan reads")
        image_name = str(manifest["image_path"])
        labels_name = str(manifest["labels_path"])
        reference_name = manifest.get("reference_plan_path")
        grid_mm = None if not reference_name else float(manifest["reference_grid_mm"])
        if grid_mm is not None and not (math.isfinite(grid_mm) and grid_mm > 0.0):
            raise ValueError(f"reference_grid_mm must be a positive number, got {grid_mm}")
    except (ValueError, KeyError, TypeError) as error:
        raise LibraryError(f"{manifest_path}: not a usable exported case ({error}).") from error
    new_id = (
        check_case_id(case_id)
        if case_id
        else check_case_id(manifest.get("id"), where=str(manifest_path))
    )
    check_links_inside(folder)
    image = _inside(folder, image_name)
    labels = _inside(folder, labels_name)
    reference = None
    if reference_name:
        plan = load_plan(_inside(folder, str(reference_name)))
        if plan.metrics_stale():
            raise PlanFileError(
                f"{folder / str(reference_name)}: the reference plan has no fresh metrics; "
                "export the case again from a library where it was evaluated."
            )
        author = manifest.get("reference_author") or OPTIMIZER_AUTHOR
        reference = _StagedReference(plan, str(author).strip() or OPTIMIZER_AUTHOR, grid_mm)
    return _import(
        connection, image, labels,
        case_id=new_id, title=str(manifest.get("title", "")) or None,
        organ=str(manifest.get("organ", "")) or None,
        description=str(manifest.get("description", "")), target_label="tumor",
        reference=reference, progress=progress, cancel=cancel,
    )  # fmt: skip
