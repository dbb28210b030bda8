"""Atomic writes: an interrupted save never damages the previous file."""

import pytest

from planning_core.atomic import atomic_path, write_text_atomic


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
