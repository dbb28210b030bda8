"""Names of a plan file's companions, and removal of the ones a new save superseded.

A plan ``case.json`` is saved with its label map and simulation fields beside
it, under names that carry a content tag: ``case.<tag>.labels.nii.gz`` (with
its table ``case.<tag>.labels.labels.json``) and ``case.<tag>.fields.npz``.
A new version is written under new names and the plan file, which names its
companions, is replaced last, atomically: a reader sees the old plan with the
old files or the new plan with the new files, never a mix, even when the
writer is killed. The files the new plan no longer names are removed after it
is in place; orphans of a killed writer are removed by a later save once they
are older than :data:`~planning_core.atomic.STALE_TEMPORARY_AGE_S`.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from planning_core.atomic import STALE_TEMPORARY_AGE_S
from planning_core.errors import PlanningError
from planning_core.imaging.volume_io import label_table_path
from planning_core.input_files import read_json_file

LABELS_SUFFIX = ".labels.nii.gz"
FIELDS_SUFFIX = ".fields.npz"
#: Hexadecimal characters of the content tag in a companion's name.
TAG_LENGTH = 16
# The label table sidecar of "<stem>.<tag>.labels.nii.gz" (see label_table_path).
_TABLE_SUFFIX = ".labels.labels.json"
_SUFFIXES = (LABELS_SUFFIX, _TABLE_SUFFIX, FIELDS_SUFFIX)


def plan_stem(plan_path: str | Path) -> str:
    """The plan file's name without ``.json`` / ``.cryoplan`` (``case.json`` -> ``case``)."""
    stem = Path(plan_path).name
    for ending in (".json", ".cryoplan"):
        if stem.lower().endswith(ending) and len(stem) > len(ending):
            stem = stem[: -len(ending)]
    return stem


def companion_path(plan_path: str | Path, suffix: str) -> Path:
    """``<stem><suffix>`` beside the plan file (``case.json`` -> ``case.partial.json``)."""
    plan_path = Path(plan_path)
    return plan_path.with_name(plan_stem(plan_path) + suffix)


def _tagged_stem(plan_path: str | Path) -> str:
    """The plan file's name without ``.json``: ``case.json`` and ``case.cryoplan.json``
    keep apart, so that cleaning one's companions never touches the other's."""
    name = Path(plan_path).name
    return name[: -len(".json")] if name.lower().endswith(".json") and len(name) > 5 else name


def tagged_companion_path(plan_path: str | Path, suffix: str, digest: str) -> Path:
    """``<name without .json>.<tag><suffix>`` beside the plan file; the tag starts the digest."""
    plan_path = Path(plan_path)
    return plan_path.with_name(f"{_tagged_stem(plan_path)}.{digest[:TAG_LENGTH]}{suffix}")


def companion_tag(path: str | Path, suffix: str) -> str | None:
    """The content tag in a companion's name, or ``None`` for other names."""
    match = re.fullmatch(rf".+\.([0-9a-f]{{{TAG_LENGTH}}}){re.escape(suffix)}", Path(path).name)
    return None if match is None else match.group(1)


def _absolute(path: str | Path) -> Path:
    return Path(os.path.abspath(path))


def companion_files(labels_path: str | Path | None, fields_path: str | Path | None) -> set[Path]:
    """The files behind a plan's label map and fields (the label table included), absolute."""
    files = set()
    if labels_path is not None:
        files |= {_absolute(labels_path), _absolute(label_table_path(labels_path))}
    if fields_path is not None:
        files.add(_absolute(fields_path))
    return files


def saved_companion_files(plan_path: str | Path) -> set[Path]:
    """The companions the plan file now at ``plan_path`` names; empty when it is unreadable."""
    plan_path = Path(plan_path)
    try:
        data = read_json_file(plan_path, what="plan file")
    except PlanningError:
        return set()
    if not isinstance(data, dict):
        return set()
    case = data.get("case")
    labels = case.get("labels_path") if isinstance(case, dict) else None
    fields = data.get("thermal_fields_path")
    resolved = [
        plan_path.parent / value if isinstance(value, str) and value.strip() else None
        for value in (labels, fields)
    ]
    return companion_files(*resolved)


def remove_superseded_companions(
    plan_path: str | Path, *, keep: set[Path], previous: set[Path]
) -> list[Path]:
    """Remove the companions of ``plan_path`` that its newly saved version does not name.

    A file in the plan's folder named like one of its companions is removed
    when ``keep`` (the new version's companions) lacks it and either the
    previous version named it or it is an orphan older than
    :data:`~planning_core.atomic.STALE_TEMPORARY_AGE_S` (younger ones may be
    another writer's, about to be named by its plan).

    Returns
    -------
    list of Path
        The files removed.
    """
    plan_path = _absolute(plan_path)
    endings = "|".join(re.escape(suffix) for suffix in _SUFFIXES)
    tagged = re.compile(
        rf"{re.escape(_tagged_stem(plan_path))}\.[0-9a-f]{{{TAG_LENGTH}}}(?:{endings})"
    )
    # Names written by earlier cryoplan versions ("case.labels.nii.gz").
    untagged = re.compile(rf"{re.escape(plan_stem(plan_path))}(?:{endings})")
    oldest_s = time.time() - STALE_TEMPORARY_AGE_S
    removed = []
    try:
        entries = list(os.scandir(plan_path.parent))
    except OSError:
        return removed
    for entry in entries:
        path = plan_path.parent / entry.name
        if path in keep or not (tagged.fullmatch(entry.name) or untagged.fullmatch(entry.name)):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            orphan = tagged.fullmatch(entry.name) and entry.stat().st_mtime < oldest_s
            if path in previous or orphan:
                os.unlink(path)
                removed.append(path)
        except OSError:  # removed meanwhile, or not ours to remove: leave it
            continue
    return removed
