"""Atomic writes: an interrupted save never damages the previous file."""

import os
import stat
import subprocess
import sys
import time

import pytest

from planning_core.atomic import (
    STALE_TEMPORARY_AGE_S,
    atomic_path,
    remove_stale_temporaries,
    write_text_atomic,
)


def test_interrupted_write_keeps_old_content_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "plan.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]


def test_temporary_keeps_suffixes_for_format_detection(tmp_path):
    with atomic_path(tmp_path / "labels.nii.gz") as temporary:
        assert temporary.name.endswith(".nii.gz")
        temporary.write_bytes(b"x")
    assert (tmp_path / "labels.nii.gz").read_bytes() == b"x"


def test_creates_missing_parent_folders(tmp_path):
    write_text_atomic(tmp_path / "a" / "b" / "c.txt", "hello")
    assert (tmp_path / "a" / "b" / "c.txt").read_text() == "hello"


def test_new_files_get_the_umask_permissions_not_0600(tmp_path):
    previous = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "plan.json", "{}")
        with atomic_path(tmp_path / "report.pdf") as temporary:
            temporary.write_bytes(b"%PDF")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "plan.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "report.pdf").stat().st_mode) == 0o644


def test_replacing_a_file_keeps_its_permissions(tmp_path):
    target = tmp_path / "plan.json"
    write_text_atomic(target, "old")
    target.chmod(0o640)
    write_text_atomic(target, "new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def _age(path, seconds):
    when = time.time() - seconds
    os.utime(path, (when, when))


def test_stale_temporaries_of_killed_writers_are_removed_on_the_next_write(tmp_path):
    stale = tmp_path / ".kidney-report.pdf.k3j_9xq2.tmp.pdf"
    stale.write_bytes(b"\0" * 2048)
    _age(stale, STALE_TEMPORARY_AGE_S + 60)
    fresh = tmp_path / ".kidney.labels.nii.gz.abcdefgh.tmp.nii.gz"  # a concurrent writer's
    fresh.write_bytes(b"x")
    foreign = tmp_path / ".notes.old.tmp"  # not our pattern
    foreign.write_bytes(b"x")
    _age(foreign, STALE_TEMPORARY_AGE_S + 60)
    write_text_atomic(tmp_path / "other.json", "{}")
    assert not stale.exists()
    assert fresh.exists() and foreign.exists()


def test_a_killed_writer_leaves_only_a_temporary_that_the_next_write_removes(tmp_path):
    target = tmp_path / "report.pdf"
    write_text_atomic(target, "old")
    script = (
        "import os, sys, time\n"
        "from planning_core.atomic import atomic_path\n"
        "with atomic_path(sys.argv[1]) as temporary:\n"
        "    temporary.write_bytes(b'half')\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "writing"
    child.kill()
    child.wait()
    left = [p for p in tmp_path.iterdir() if p != target]
    assert len(left) == 1 and target.read_text() == "old"
    _age(left[0], STALE_TEMPORARY_AGE_S + 1)
    assert remove_stale_temporaries(tmp_path) == left
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]
