"""The study cache: stored once by SOP Instance UID, complete studies only, size limit, delete."""

from __future__ import annotations

from pathlib import Path

import pytest

from planning_core.errors import InvalidParameterError
from planning_core.imaging.pacs import StudyCache
from planning_core.imaging.pacs.cache import PARTIAL_SUFFIX


def _stage(
    cache: StudyCache, study: str, sops: list[str], size_bytes: int = 1000
) -> dict[str, str]:
    staging = cache.staging(study)
    for sop in sops:
        staging.store(sop, b"\0" * size_bytes)
    return {sop: f"{study}.9" for sop in sops}


def _commit(cache: StudyCache, study: str, sops: list[str], size_bytes: int = 1000) -> None:
    series_of = _stage(cache, study, sops, size_bytes)
    cache.commit(cache.staging(study), node="test", series_of=series_of)


def test_instances_are_stored_once_and_only_complete_studies_are_cached(tmp_path: Path) -> None:
    cache = StudyCache(tmp_path)
    _stage(cache, "1.1", ["1.1.1", "1.1.2"])
    (cache.staging("1.1").folder / f".1.1.3{PARTIAL_SUFFIX}").write_bytes(b"half")
    assert cache.staging("1.1").received() == {"1.1.1", "1.1.2"}  # the half file is no instance
    assert cache.study("1.1") is None and cache.size_bytes() == 0
    cache.commit(
        cache.staging("1.1"), node="test", series_of={s: "1.1.9" for s in ["1.1.1", "1.1.2"]}
    )
    study = cache.study("1.1")
    assert study is not None and (study.instance_count, study.size_bytes) == (2, 2000)
    assert sorted(p.name for p in study.series_folders["1.1.9"].iterdir()) == [
        "1.1.1.dcm",
        "1.1.2.dcm",
    ]
    _commit(cache, "1.1", ["1.1.2", "1.1.4"])  # 1.1.2 again: kept once
    assert (cache.study("1.1").instance_count, cache.size_bytes()) == (3, 3000)
    with pytest.raises(InvalidParameterError, match="--study"):
        cache.staging("../1.1")


def test_the_least_recently_used_studies_are_evicted_beyond_the_size_limit(tmp_path: Path) -> None:
    cache = StudyCache(tmp_path, size_limit_bytes=5000)
    _commit(cache, "2.1", ["2.1.1", "2.1.2"])
    _commit(cache, "2.2", ["2.2.1", "2.2.2"])
    assert cache.study("2.1") is not None  # used: now more recent than 2.2
    _commit(cache, "2.3", ["2.3.1", "2.3.2"])
    assert [uid for uid, *_ in cache.studies()] == ["2.3", "2.1"]
    assert not (tmp_path / "studies" / "2.2").exists() and cache.size_bytes() == 4000
    big = StudyCache(tmp_path, size_limit_bytes=1000)
    assert big.evict(keep="2.3") == ["2.1"]  # the study just used stays, even alone too large


def test_a_deleted_study_or_a_removed_file_is_gone_from_the_cache(tmp_path: Path) -> None:
    cache = StudyCache(tmp_path)
    _commit(cache, "3.1", ["3.1.1", "3.1.2"])
    _commit(cache, "3.2", ["3.2.1"])
    _stage(cache, "3.1", ["3.1.7"])  # an unfinished retrieval of the same study
    assert cache.delete_study("3.1") is True
    assert cache.study("3.1") is None and cache.cached_instances("3.1") == set()
    assert (
        not (tmp_path / "studies" / "3.1").exists() and not (tmp_path / "partial" / "3.1").exists()
    )
    assert cache.delete_study("3.1") is False
    (tmp_path / "studies" / "3.2" / "3.2.9" / "3.2.1.dcm").unlink()
    assert cache.study("3.2") is None  # fetched again rather than opened incomplete
    assert cache.cached_instances("3.2") == set()


def test_a_series_commits_without_the_staged_instances_of_another(tmp_path: Path) -> None:
    cache = StudyCache(tmp_path)
    _stage(cache, "4.1", ["4.1.1"])  # an unfinished retrieval of series A
    series_b = _stage(cache, "4.1", ["4.1.2", "4.1.3"])
    cache.commit(cache.staging("4.1"), node="test", series_of=series_b)
    assert cache.cached_instances("4.1") == {"4.1.2", "4.1.3"}
    assert cache.staging("4.1").received() == {"4.1.1"}  # kept for its own retrieval
