"""The list of recently opened cases, kept in the user's configuration folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryoplan_app.model.case import CaseSource
from planning_core.atomic import write_text_atomic
from planning_core.errors import InvalidParameterError

RECENT_FILE_NAME = "recent-cases.json"
DEFAULT_RECENT_LIMIT = 10


def config_dir() -> Path:
    """``$CRYOPLAN_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/cryoplan``, else ``~/.config/cryoplan``."""
    override = os.environ.get("CRYOPLAN_CONFIG_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cryoplan"


class RecentCases:
    """Most recently opened case sources first, without duplicates, at most ``limit``.

    A missing or damaged file reads as an empty list: a lost recent list must
    never stop the application from starting.
    """

    def __init__(self, path: Path | None = None, *, limit: int = DEFAULT_RECENT_LIMIT) -> None:
        if limit < 1:
            raise InvalidParameterError(f"limit must be at least 1, got {limit}.")
        self.path = path if path is not None else config_dir() / RECENT_FILE_NAME
        self.limit = limit

    def entries(self) -> list[CaseSource]:
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        if not isinstance(stored, dict) or not isinstance(stored.get("recent"), list):
            return []
        entries = []
        for fields in stored["recent"]:
            try:
                entries.append(CaseSource.from_dict(fields))
            except InvalidParameterError:
                continue
        return entries[: self.limit]

    def add(self, source: CaseSource) -> None:
        """Put ``source`` first, dropping an older copy and the oldest beyond ``limit``."""
        entries = [source] + [e for e in self.entries() if e != source]
        self._write(entries[: self.limit])

    def clear(self) -> None:
        self._write([])

    def _write(self, entries: list[CaseSource]) -> None:
        payload = {"version": 1, "recent": [e.to_dict() for e in entries]}
        write_text_atomic(self.path, json.dumps(payload, indent=2) + "\n")
