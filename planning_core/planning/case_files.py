"""The files a plan refers to: planning image, label map and simulation fields.

A plan file stores ``case.image_path``, ``case.labels_path`` and
``thermal_fields_path`` (relative to its own folder when the files lie under
it, see :mod:`planning_core.planning.plan_json`). The image is authenticated by
the plan's content hash; the fields are used only when they belong to the
plan's current inputs (fresh metrics) and are byte-for-byte the file written
with them (``thermal_fields_sha256``), so that a moved probe or an overwritten
fields file never shows an old iceball as the plan's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from planning_core.errors import PlanFileError, PlanningError
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.loader import load_image
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import read_label_map, write_label_map
from planning_core.planning.plan import Plan
from planning_core.thermal.result import SimulationResult, load_result_fields

LABELS_SUFFIX = ".labels.nii.gz"
FIELDS_SUFFIX = ".fields.npz"


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


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def companion_path(plan_path: str | Path, suffix: str) -> Path:
    """``<stem><suffix>`` beside the plan file (``case.json`` -> ``case.labels.nii.gz``)."""
    plan_path = Path(plan_path)
    stem = plan_path.name
    for ending in (".json", ".cryoplan"):
        if stem.lower().endswith(ending) and len(stem) > len(ending):
            stem = stem[: -len(ending)]
    return plan_path.with_name(stem + suffix)


def write_plan_case_files(
    plan: Plan,
    *,
    plan_path: str | Path,
    label_map: LabelMap,
    simulation: SimulationResult | None = None,
    image_path: str | Path | None = None,
) -> Plan:
    """Write the label map (and the simulation fields) beside a plan and refer to them.

    Parameters
    ----------
    plan : Plan
        The plan; it must have a case reference.
    plan_path : path
        Where the plan file will be saved; the companions are
        ``<stem>.labels.nii.gz`` and ``<stem>.fields.npz``.
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
    labels_path = companion_path(plan_path, LABELS_SUFFIX)
    labels_path.parent.mkdir(parents=True, exist_ok=True)
    write_label_map(label_map, labels_path)
    updated = plan.with_files(image_path=image_path, labels_path=labels_path)
    if simulation is not None:
        if plan.metrics_stale():
            raise PlanFileError(
                f"{plan_path}: the simulation fields are saved only with fresh metrics; "
                "evaluate the plan first."
            )
        fields_path = companion_path(plan_path, FIELDS_SUFFIX)
        simulation.save_fields(fields_path)
        updated = updated.with_files(
            thermal_fields_path=fields_path, thermal_fields_sha256=file_sha256(fields_path)
        )
    return updated


def load_plan_case(plan: Plan, *, plan_path: str | Path) -> PlanCase:
    """Load the image, label map and (when still valid) simulation fields of a plan.

    Parameters
    ----------
    plan : Plan
        A plan read with :func:`~planning_core.planning.plan_json.load_plan`
        (its file references resolved against its folder).
    plan_path : path
        The plan file, named in messages.

    Raises
    ------
    PlanFileError
        When the plan names no image or label map, a file is missing or
        unreadable, or the image is not the one the plan was made on.
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
    if not image_path.exists():
        raise PlanFileError(
            f"{where}: the planning image {image_path} does not exist; put it back there or "
            "edit case.image_path in the plan file."
        )
    try:
        volume = load_image(image_path)
    except PlanningError as error:
        raise PlanFileError(f"{where}: cannot load the planning image: {error}") from error
    plan.case.require_match(volume, plan_name=where)
    labels_path = plan.labels_path
    if not labels_path.exists():
        raise PlanFileError(
            f"{where}: the label map {labels_path} does not exist; put it back there or "
            "edit case.labels_path in the plan file."
        )
    try:
        label_map = read_label_map(labels_path, reference=volume.geometry)
    except PlanningError as error:
        raise PlanFileError(
            f"{where}: the label map {labels_path} does not fit the planning image: {error}"
        ) from error
    thermal, warnings = _thermal_fields(plan)
    return PlanCase(volume, label_map, thermal, warnings)


def _thermal_fields(plan: Plan) -> tuple[SimulationResult | None, tuple[str, ...]]:
    path = plan.thermal_fields_path
    if path is None:
        return None, ()
    if not path.exists():
        return None, (f"the simulation fields {path} are missing; re-evaluate the plan.",)
    if plan.metrics_stale():
        return None, (
            f"the simulation fields {path} belong to an earlier version of the plan "
            "(probes, protocol or settings changed); re-evaluate the plan.",
        )
    if plan.thermal_fields_sha256 is None or file_sha256(path) != plan.thermal_fields_sha256:
        return None, (
            f"the simulation fields {path} were changed or replaced after the plan was saved; "
            "re-evaluate the plan.",
        )
    try:
        return load_result_fields(path), ()
    except PlanningError as error:
        return None, (f"the simulation fields {path} cannot be read ({error}); re-evaluate.",)
