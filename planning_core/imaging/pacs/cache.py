"""The local study cache: retrieved instances kept once, by SOP Instance UID, with an index.

Layout under the cache root::

    index.sqlite                      instances and studies (SQLite)
    studies/<study>/<series>/<sop>.dcm  complete studies, ready for the DICOM loader
    partial/<study>/<sop>.dcm         instances of an unfinished retrieval

A retrieval writes each instance atomically into ``partial/<study>``; only when
every instance of the request has arrived does :meth:`StudyCache.commit` move
them into ``studies/`` and the index in one transaction. A retrieval that stops
half-way therefore leaves nothing in the cache, and the next retrieval of the
same study reuses what already arrived (resuming). Whenever the cache grows
beyond its size limit, the least recently used studies are evicted.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from planning_core.errors import InvalidParameterError, PacsError, PacsResponseError
from planning_core.imaging.pacs.query import check_uid

#: Environment variable naming the cache root.
CACHE_DIR_ENV = "CRYOPLAN_PACS_CACHE"
#: The size limit unless configured otherwise: 20 GiB.
DEFAULT_SIZE_LIMIT_BYTES = 20 * 1024**3
#: Suffix of cached instance files.
INSTANCE_SUFFIX = ".dcm"
#: Suffix of an instance file being written (never read as an instance).
PARTIAL_SUFFIX = ".dcm.part"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    study_uid TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    last_used_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS instances (
    sop_uid TEXT PRIMARY KEY,
    study_uid TEXT NOT NULL REFERENCES studies(study_uid),
    series_uid TEXT NOT NULL,
    size_bytes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_by_study ON instances(study_uid, series_uid);
"""


def default_cache_root() -> Path:
    """``$CRYOPLAN_PACS_CACHE`` or ``~/.cache/cryoplan/pacs``."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cryoplan" / "pacs"


@dataclass(frozen=True)
class CachedStudy:
    """A complete study (or the chosen series of it) in the cache.

    Parameters
    ----------
    study_uid : str
        The study.
    folder : Path
        The study's folder; the DICOM loader opens it (all its series) directly.
    series_folders : dict
        Each cached series' folder by SeriesInstanceUID.
    instance_count, size_bytes : int
        What the cache holds of the study.
    node : str
        The node it was retrieved from.
    """

    study_uid: str
    folder: Path
    series_folders: dict[str, Path]
    instance_count: int
    size_bytes: int
    node: str


class StagingArea:
    """The instances of one study received by an unfinished retrieval.

    Each instance is written atomically under its SOP Instance UID, so a file
    with a final name is always complete.
    """

    def __init__(self, folder: Path, study_uid: str) -> None:
        self.folder = folder
        self.study_uid = study_uid

    def received(self) -> set[str]:
        """SOP Instance UIDs already received."""
        if not self.folder.is_dir():
            return set()
        return {
            path.name[: -len(INSTANCE_SUFFIX)]
            for path in self.folder.iterdir()
            if path.name.endswith(INSTANCE_SUFFIX) and not path.name.startswith(".")
        }

    def store(self, sop_uid: str, encoded: bytes) -> None:
        """Keep one received instance (a DICOM Part 10 file's bytes).

        Raises
        ------
        PacsResponseError
            When ``sop_uid`` is no UID (it becomes a file name).
        """
        try:
            check_uid(sop_uid, option="SOP Instance UID")
        except InvalidParameterError:
            raise PacsResponseError(
                f"received an instance whose SOP Instance UID is malformed ({sop_uid[:70]!r})."
            ) from None
        self.folder.mkdir(parents=True, exist_ok=True)
        # Written under a hidden name and renamed when complete; not through
        # planning_core.atomic, whose scan for stale files per write would make
        # a study of n instances cost n^2 directory reads.
        temporary = self.folder / f".{sop_uid}{PARTIAL_SUFFIX}"
        try:
            temporary.write_bytes(encoded)
            os.replace(temporary, self.path(sop_uid))
        finally:
            temporary.unlink(missing_ok=True)

    def path(self, sop_uid: str) -> Path:
        return self.folder / f"{sop_uid}{INSTANCE_SUFFIX}"

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class StudyCache:
    """Retrieved studies on this machine, reopened without the network.

    Parameters
    ----------
    root : path, optional
        The cache folder; :func:`default_cache_root` by default.
    size_limit_bytes : int
        Above this total, least recently used studies are evicted after each
        commit (the study just committed is kept even when larger).
    """

    def __init__(
        self, root: str | Path | None = None, *, size_limit_bytes: int = DEFAULT_SIZE_LIMIT_BYTES
    ) -> None:
        if int(size_limit_bytes) <= 0:
            raise InvalidParameterError(
                f"cache size limit must be positive, got {size_limit_bytes} bytes."
            )
        self.root = default_cache_root() if root is None else Path(root)
        self.size_limit_bytes = int(size_limit_bytes)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with self._index() as index:
                index.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise PacsError(
                f"{self.root}: the study cache cannot be opened ({error}); check the folder "
                f"or set {CACHE_DIR_ENV}."
            ) from None

    @contextmanager
    def _index(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.root / "index.sqlite", timeout=30.0)) as connection:
            connection.execute("PRAGMA foreign_keys = ON")
            with connection:  # one transaction, committed on success
                yield connection

    def staging(self, study_uid: str) -> StagingArea:
        """Where an unfinished retrieval of ``study_uid`` keeps what arrived."""
        check_uid(study_uid, option="--study")
        return StagingArea(self.root / "partial" / study_uid, study_uid)

    def cached_instances(self, study_uid: str) -> set[str]:
        """SOP Instance UIDs of ``study_uid`` in the cache."""
        with self._index() as index:
            rows = index.execute(
                "SELECT sop_uid FROM instances WHERE study_uid = ?", (study_uid,)
            ).fetchall()
        return {row[0] for row in rows}

    def commit(self, staging: StagingArea, *, node: str, series_of: dict[str, str]) -> None:
        """Move every staged instance into the cache and the index, then evict.

        Parameters
        ----------
        staging : StagingArea
            A complete retrieval.
        node : str
            The node's name, remembered with the study.
        series_of : dict
            The SeriesInstanceUID of each SOP Instance UID of the retrieval; only
            these staged instances are committed.
        """
        study_uid = staging.study_uid
        now = time.time()
        # Instances staged by an unfinished retrieval of another series of the study
        # stay aside for that retrieval.
        complete = sorted(staging.received() & series_of.keys())
        with self._index() as index:
            index.execute(
                "INSERT INTO studies(study_uid, node, last_used_s) VALUES (?, ?, ?) "
                "ON CONFLICT(study_uid) DO UPDATE SET last_used_s = excluded.last_used_s",
                (study_uid, node, now),
            )
            for sop_uid in complete:
                source = staging.path(sop_uid)
                known = index.execute(
                    "SELECT 1 FROM instances WHERE sop_uid = ?", (sop_uid,)
                ).fetchone()
                if known:  # stored once: a second copy of the same instance is dropped
                    source.unlink()
                    continue
                series_uid = series_of[sop_uid]
                target = self.root / "studies" / study_uid / series_uid / source.name
                target.parent.mkdir(parents=True, exist_ok=True)
                size_bytes = source.stat().st_size
                os.replace(source, target)
                index.execute(
                    "INSERT INTO instances(sop_uid, study_uid, series_uid, size_bytes) "
                    "VALUES (?, ?, ?, ?)",
                    (sop_uid, study_uid, series_uid, size_bytes),
                )
        if not staging.received():
            staging.discard()
        self.evict(keep=study_uid)

    def study(self, study_uid: str, series_uid: str | None = None) -> CachedStudy | None:
        """The cached study (the series when given), or None when not (fully) cached.

        Instances whose file has gone (removed by hand) are dropped from the
        index, so that the caller fetches them again. Marks the study as used.
        """
        with self._index() as index:
            row = index.execute(
                "SELECT node FROM studies WHERE study_uid = ?", (study_uid,)
            ).fetchone()
            if row is None:
                return None
            query = "SELECT sop_uid, series_uid, size_bytes FROM instances WHERE study_uid = ?"
            parameters: tuple[str, ...] = (study_uid,)
            if series_uid is not None:
                query += " AND series_uid = ?"
                parameters = (study_uid, series_uid)
            rows = index.execute(query, parameters).fetchall()
            folder = self.root / "studies" / study_uid
            gone = [
                sop
                for sop, series, _ in rows
                if not (folder / series / f"{sop}{INSTANCE_SUFFIX}").is_file()
            ]
            if gone:
                index.executemany("DELETE FROM instances WHERE sop_uid = ?", [(g,) for g in gone])
                return None
            if not rows:
                return None
            index.execute(
                "UPDATE studies SET last_used_s = ? WHERE study_uid = ?", (time.time(), study_uid)
            )
        series_uids = sorted({series for _, series, _ in rows})
        return CachedStudy(
            study_uid=study_uid,
            folder=folder,
            series_folders={uid: folder / uid for uid in series_uids},
            instance_count=len(rows),
            size_bytes=sum(size for _, _, size in rows),
            node=row[0],
        )

    def studies(self) -> list[tuple[str, str, int, int]]:
        """Every cached study as ``(study_uid, node, instance_count, size_bytes)``,
        most recently used first."""
        with self._index() as index:
            return index.execute(
                "SELECT s.study_uid, s.node, COUNT(i.sop_uid), COALESCE(SUM(i.size_bytes), 0) "
                "FROM studies s LEFT JOIN instances i ON i.study_uid = s.study_uid "
                "GROUP BY s.study_uid ORDER BY s.last_used_s DESC"
            ).fetchall()

    def size_bytes(self) -> int:
        """The total size of the cached instances."""
        with self._index() as index:
            return int(
                index.execute("SELECT COALESCE(SUM(size_bytes), 0) FROM instances").fetchone()[0]
            )

    def delete_study(self, study_uid: str) -> bool:
        """Remove ``study_uid`` (index, files and any unfinished retrieval); False when absent."""
        check_uid(study_uid, option="--study")
        with self._index() as index:
            index.execute("DELETE FROM instances WHERE study_uid = ?", (study_uid,))
            deleted = index.execute(
                "DELETE FROM studies WHERE study_uid = ?", (study_uid,)
            ).rowcount
        folder = self.root / "studies" / study_uid
        existed = folder.exists() or (self.root / "partial" / study_uid).exists()
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(self.root / "partial" / study_uid, ignore_errors=True)
        return bool(deleted) or existed

    def evict(self, *, keep: str | None = None) -> list[str]:
        """Delete least recently used studies until the cache fits its size limit.

        Parameters
        ----------
        keep : str, optional
            A study never evicted (the one just retrieved).

        Returns
        -------
        list of str
            The evicted StudyInstanceUIDs.
        """
        evicted: list[str] = []
        total = self.size_bytes()
        for study_uid, _, _, size in reversed(self.studies()):
            if total <= self.size_limit_bytes:
                break
            if study_uid == keep:
                continue
            self.delete_study(study_uid)
            evicted.append(study_uid)
            total -= size
        return evicted
