"""Guards for user-controlled files: regular files of bounded size, bounded JSON nesting."""

import json
import os

import pytest

from planning_core.errors import PlanningError, VolumeFormatError
from planning_core.input_files import (
    json_nesting_depth,
    parse_json_text,
    read_json_file,
    require_regular_file,
)


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"notes": "[" * 500 + '\\"{{', "list": [[1], {"a": ["]]]"]}]})
    assert json_nesting_depth(text) == 4
    assert parse_json_text(text, source="x")["notes"].startswith("[[[")


def test_nesting_beyond_the_limit_is_refused_naming_the_source():
    with pytest.raises(VolumeFormatError, match=r"table\.json: JSON nested 65 levels deep"):
        parse_json_text("[" * 65 + "]" * 65, source="table.json", error=VolumeFormatError)


def test_files_that_are_not_regular_or_too_large_are_refused_without_reading(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)  # opening it for reading would block
    with pytest.raises(PlanningError, match=r"pipe\.json: the plan file is a pipe"):
        read_json_file(fifo, what="plan file")
    with pytest.raises(PlanningError, match="is a device"):
        read_json_file("/dev/zero", what="plan file")
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2048)
    with pytest.raises(PlanningError, match="2048 bytes, more than the 1024 bytes accepted"):
        require_regular_file(big, what="plan file", max_bytes=1024)
    with pytest.raises(PlanningError, match="no such plan file"):
        read_json_file(tmp_path / "none.json", what="plan file")


def test_non_utf8_json_is_refused_with_the_byte_position(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"name": "caf\xe9"}')
    with pytest.raises(
        PlanningError, match=r"latin1\.json: the plan file is not UTF-8 text \(byte 13\)"
    ):
        read_json_file(path, what="plan file")
