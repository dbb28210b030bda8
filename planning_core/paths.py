"""Paths read from files (manifests, databases, DICOMDIR indexes) stay inside their folder.

A name taken from data may hold ``..``, an absolute path or lead through a
symbolic link to anywhere on the disk; :func:`resolve_inside` resolves it and
refuses it unless the result lies in the folder it was meant for, and
:func:`check_links_inside` does the same for every link under a folder that is
about to be copied.
"""

from __future__ import annotations

import os
from pathlib import Path

from planning_core.errors import PlanningError


class PathOutsideFolderError(PlanningError):
    """A path taken from data leads outside the folder it must stay in."""


def resolve_inside(base: str | os.PathLike[str], relative: str | os.PathLike[str]) -> Path:
    """``base / relative`` with links and ``..`` resolved; it must stay inside ``base``.

    Parameters
    ----------
    base : path
        The folder the path belongs to (itself may be a link).
    relative : path
        The name read from data; an absolute path counts as leaving ``base``.

    Returns
    -------
    Path
        The resolved path (it need not exist yet).

    Raises
    ------
    PathOutsideFolderError
        When the resolved path is not ``base`` or below it.
    """
    text = os.fspath(relative)
    if not isinstance(text, str) or not text or "\x00" in text:
        raise PathOutsideFolderError(f"{base}: the file name {text!r} is empty or malformed.")
    root = Path(base).resolve()
    candidate = (root / text).resolve()
    if candidate != root and root not in candidate.parents:
        raise PathOutsideFolderError(
            f"{Path(base) / text}: leads outside {root} (to {candidate}); a file listed in "
            "this folder's data must lie in the folder. The data was altered or damaged."
        )
    return candidate


def check_links_inside(folder: str | os.PathLike[str]) -> None:
    """Refuse ``folder`` when a symbolic link under it leads outside it.

    Parameters
    ----------
    folder : path
        A folder (or a single file) about to be read or copied as a whole.

    Raises
    ------
    PathOutsideFolderError
        Naming the first link that leaves ``folder``.
    """
    root = Path(folder)
    if not root.is_dir():
        return
    for directory, names, files in os.walk(root, followlinks=False):
        for name in (*names, *files):
            path = Path(directory) / name
            if path.is_symlink():
                resolve_inside(root, path.relative_to(root))
