"""The files a plan refers to: planning image, label map and simulation fields.

A plan file stores ``case.image_path``, ``case.labels_path`` and
``thermal_fields_path`` (relative to its own folder when the files lie under
it, see :mod:`planning_core.planning.plan_json`). The image is authenticated by
the plan's content hash; the fields are used only when they belong to the
plan's current inputs (fresh metrics) and are byte-for-byte the file written
with them (``thermal_fields_sha256``), so that a moved probe or an overwritten
fields file never shows an old iceball as the plan's.

Companions are written under content-tagged names and never overwritten while a
plan names them (:mod:`planning_core.planning.companions`), and a tagged label
map is checked against its tag on loading. Every referenced file is checked
before it is read (:mod:`planning_core.input_files`), and the probes against
the image (:mod:`planning_core.planning.limits`).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planning_core.atomic import staging_path
from planning_core.errors import PlanFileError, PlanningError
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.loader import load_image
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import read_label_map, write_label_map
from planning_core.input_files import (
    MAX_DATA_FILE_BYTES,
    check_folder_size,
    require_regular_file,
)
from planning_core.planning.companions import (
    FIELDS_SUFFIX,
    LABELS_SUFFIX,
    TAG_LENGTH,
    companion_path,
    companion_tag,
    tagged_companion_path,
)
from planning_core.planning.limits import probe_position_problems, settings_limit_warnings
from planning_core.planning.plan import Plan
from planning_core.thermal.result import SimulationResult, load_result_fields

__all__ = [
    "FIELDS_SUFFIX",
    "LABELS_SUFFIX",
    "PlanCase",
    "companion_path",
    "file_sha256",
    "label_map_sha256",
    "load_plan_case",
    "write_plan_case_files",
]

#: Most files in a DICOM folder a plan may name (a multi-phase study holds a few thousand).
MAX_IMAGE_FOLDER_FILES = 50_000


@dataclass(frozen=True, eq=False)
class PlanCase:
    """What a plan needs to be shown or evaluated again.

    Attributes
    ----------
    volume : Volume
        The planning image (checked against the plan's content hash).
    label_map : LabelMap
        The label map the plan was made with, on the image grid.
    thermal : SimulationResult or None
        The saved simulation fields when they belong to the plan as it is now;
        ``None`` when absent, altered or stale (re-evaluate to get them).
    warnings : tuple of str
        Why ``thermal`` is ``None`` when the plan names a fields file.
    """

    volume: Volume
    label_map: LabelMap
    thermal: SimulationResult | None
    warnings: tuple[str, ...] = ()


def file_sha256(
    path: str | Path, *, what: str = "file", max_bytes: int = MAX_DATA_FILE_BYTES
) -> str:
    """SHA-256 (hex) of a regular file's bytes.

    Raises
    ------
    PlanFileError
        When ``path`` is not a regular file of at most ``max_bytes`` (a device
        such as ``/dev/zero`` would never end) or cannot be read.
    """
    require_regular_file(path, what=what, max_bytes=max_bytes, error=PlanFileError)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as error:
        raise PlanFileError(
            f"{path}: cannot read the {what} ({error.strerror or error})."
        ) from None
    return digest.hexdigest()


def label_map_sha256(label_map: LabelMap) -> str:
    """SHA-256 of a label map's values and table, independent of the file format.

    It names the label map companion of a plan (``<stem>.<tag>.labels.nii.gz``),
    so that a reader can tell that the map and its table are the ones written
    together.
    """
    digest = hashlib.sha256(b"cryoplan-label-map-1\0")
    digest.update(json.dumps(list(label_map.voxels.shape)).encode())
    digest.update(np.ascontiguousarray(label_map.voxels, dtype="<u2").tobytes())
    table = [[i.value, i.name, list(i.color_rgb), i.role] for i in label_map.table]
    digest.update(json.dumps(table, sort_keys=True).encode())
    return digest.hexdigest()


def write_plan_case_files(
    plan: Plan,
    *,
    plan_path: str | Path,
    label_map: LabelMap,
    simulation: SimulationResult | None = None,
    image_path: str | Path | None = None,
) -> Plan:
    """Write the label map (and the simulation fields) beside a plan and refer to them.

    The files get new names tagged with their content
    (:mod:`planning_core.planning.companions`); files the plan file now names
    are never overwritten, so that until the returned plan is saved over
    ``plan_path`` (with :func:`~planning_core.planning.plan_json.save_plan`,
    which then removes the superseded files) a reader sees the old set whole.

    Parameters
    ----------
    plan : Plan
        The plan; it must have a case reference.
    plan_path : path
        Where the plan file will be saved.
    label_map : LabelMap
        The label map the plan was made with.
    simulation : SimulationResult, optional
        The simulation behind ``plan.metrics``; written only with fresh metrics.
    image_path : path, optional
        The planning image's file or DICOM folder.

    Returns
    -------
    Plan
        ``plan`` referring to the written files (save it to ``plan_path``).
    """
    if plan.case is None:
        raise PlanFileError(
            f"{plan_path}: the plan has no case reference, so its files cannot be checked "
            "later; set case=CaseReference.for_volume(volume) first."
        )
    if simulation is not None and plan.metrics_stale():
        raise PlanFileError(
            f"{plan_path}: the simulation fields are saved only with fresh metrics; "
            "evaluate the plan first."
        )
    labels_path = tagged_companion_path(plan_path, LABELS_SUFFIX, label_map_sha256(label_map))
    labels_path.parent.mkdir(parents=True, exist_ok=True)
    write_label_map(label_map, labels_path)
    updated = plan.with_files(image_path=image_path, labels_path=labels_path)
    if simulation is not None:
        # The name needs the bytes' hash, so the fields are staged under a temporary name.
        with staging_path(companion_path(plan_path, FIELDS_SUFFIX)) as staging:
            simulation.save_fields(staging)
            digest = file_sha256(staging, what="simulation fields file")
            fields_path = tagged_companion_path(plan_path, FIELDS_SUFFIX, digest)
            os.replace(staging, fields_path)
        updated = updated.with_files(thermal_fields_path=fields_path, thermal_fields_sha256=digest)
    return updated


def load_plan_case(plan: Plan, *, plan_path: str | Path) -> PlanCase:
    """Load the image, label map and (when still valid) simulation fields of a plan.

    Every file is checked before it is read: the image must be a regular file
    or a folder of at most :data:`MAX_IMAGE_FOLDER_FILES` files, the label map
    and fields regular files of bounded size (a plan naming ``/dev/zero`` or
    ``/`` is refused at once).

    Parameters
    ----------
    plan : Plan
        A plan read with :func:`~planning_core.planning.plan_json.load_plan`
        (its file references resolved against its folder).
    plan_path : path
        The plan file, named in messages.

    Returns
    -------
    PlanCase
        With warnings for unusable fields and for limits of the plan's own
        settings that it exceeds.

    Raises
    ------
    PlanFileError
        When the plan names no image or label map, a file is missing, not a
        regular file (or folder, for the image) or unreadable, the image is not
        the one the plan was made on, or the label map is not the one saved
        with the plan.
    """
    where = str(plan_path)
    if plan.case is None or plan.image_path is None:
        raise PlanFileError(
            f"{where}: the plan names no planning image (case.image_path); open the image "
            "yourself and load the plan onto it, or re-plan with `cryoplan plan`."
        )
    if plan.labels_path is None:
        raise PlanFileError(
            f"{where}: the plan names no label map (case.labels_path); segment the case "
            "again or re-plan with `cryoplan plan`."
        )
    image_path = plan.image_path
    if _missing(image_path):
        raise PlanFileError(
            f"{where}: the planning image {image_path} does not exist; put it back there or "
            "edit case.image_path in the plan file."
        )
    hint = "Edit case.image_path in the plan file."
    if _is_folder(image_path):
        check_folder_size(
            image_path,
            what="planning image folder (case.image_path)",
            max_files=MAX_IMAGE_FOLDER_FILES,
            error=PlanFileError,
            hint=hint,
        )
    else:
        require_regular_file(
            image_path,
            what="planning image (case.image_path)",
            max_bytes=MAX_DATA_FILE_BYTES,
            error=PlanFileError,
            hint=hint,
        )
    try:
        volume = load_image(image_path)
    except PlanningError as error:
        raise PlanFileError(f"{where}: cannot load the planning image: {error}") from error
    plan.case.require_match(volume, plan_name=where)
    misplaced = probe_position_problems(plan, volume.geometry)
    if misplaced:
        raise PlanFileError(f"{where}: {' '.join(misplaced)}")
    label_map = _label_map(plan.labels_path, volume, where)
    thermal, warnings = _thermal_fields(plan)
    return PlanCase(volume, label_map, thermal, settings_limit_warnings(plan) + warnings)


def _missing(path: Path) -> bool:
    """True when nothing is at ``path``; other problems (a name too long, a link loop)
    are left to :func:`~planning_core.input_files.require_regular_file` to report."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def _is_folder(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def _label_map(labels_path: Path, volume: Volume, where: str) -> LabelMap:
    if _missing(labels_path):
        raise PlanFileError(
            f"{where}: the label map {labels_path} does not exist; put it back there or "
            "edit case.labels_path in the plan file."
        )
    require_regular_file(
        labels_path,
        what="label map (case.labels_path)",
        max_bytes=MAX_DATA_FILE_BYTES,
        error=PlanFileError,
        hint="Edit case.labels_path in the plan file.",
    )
    try:
        label_map = read_label_map(labels_path, reference=volume.geometry)
    except PlanningError as error:
        raise PlanFileError(
            f"{where}: the label map {labels_path} does not fit the planning image: {error}"
        ) from error
    tag = companion_tag(labels_path, LABELS_SUFFIX)
    if tag is not None and label_map_sha256(label_map)[:TAG_LENGTH] != tag:
        raise PlanFileError(
            f"{where}: the label map {labels_path} or its table was changed after the plan "
            "was saved (its content no longer matches the checksum in its name); restore it "
            "or re-plan with `cryoplan plan`."
        )
    return label_map


def _thermal_fields(plan: Plan) -> tuple[SimulationResult | None, tuple[str, ...]]:
    path = plan.thermal_fields_path
    if path is None:
        return None, ()
    if _missing(path):
        return None, (f"the simulation fields {path} are missing; re-evaluate the plan.",)
    if plan.metrics_stale():
        return None, (
            f"the simulation fields {path} belong to an earlier version of the plan "
            "(probes, protocol or settings changed); re-evaluate the plan.",
        )
    try:
        digest = file_sha256(path, what="simulation fields file (thermal_fields_path)")
        if plan.thermal_fields_sha256 is None or digest != plan.thermal_fields_sha256:
            return None, (
                f"the simulation fields {path} were changed or replaced after the plan was "
                "saved; re-evaluate the plan.",
            )
        _check_fields_archive(path)
        return load_result_fields(path), ()
    except PlanningError as error:
        return None, (f"the simulation fields cannot be used ({error}); re-evaluate the plan.",)


def _check_fields_archive(path: Path) -> None:
    """Refuse a fields archive whose arrays would take more memory than its declared size.

    ``numpy`` allocates an array as its header declares before reading it, so
    a small altered file could ask for terabytes.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            total_bytes = sum(member.file_size for member in members)
            if total_bytes > MAX_DATA_FILE_BYTES:
                raise PlanningError(f"{path}: the fields would take {total_bytes} bytes.")
            for member in members:
                with archive.open(member) as stream:
                    if np.lib.format.read_magic(stream) == (1, 0):
                        header = np.lib.format.read_array_header_1_0(stream)
                    else:
                        header = np.lib.format.read_array_header_2_0(stream)
                shape, _fortran_order, dtype = header
                if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize > member.file_size:
                    raise PlanningError(
                        f"{path}: array {member.filename} declares more data than it holds."
                    )
    except (OSError, ValueError, RuntimeError, zipfile.BadZipFile) as error:
        raise PlanningError(f"{path}: not a simulation fields archive ({error}).") from None
