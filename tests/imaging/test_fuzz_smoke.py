"""A few hostile DICOM mutants from benchmarks/fuzz_dicom.py, run as a user would run them.

The full run (1,000 mutants and more, every class) is ``benchmarks/fuzz_dicom.py``;
this keeps two mutants of each class the issue named in the suite: no traceback, no
hang, no allocation beyond the plausible, no library noise, and no header-meaning
change loaded without a warning.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_FUZZER_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_dicom.py"

#: Classes whose damage the loader must refuse or name (issue 14, items A1-B6).
SMOKE_CLASSES = {
    "rescale_intercept_bad",
    "rescale_one_slice_bad",
    "pixel_representation",
    "rows_columns_bad",
    "rle_extreme_shape",
    "position_bad",
    "gantry_tilt_tiny_spacing",
    "truncated_file",
    "deleted_type1_type2",
    "transfer_syntax_changed",
}


@pytest.fixture(scope="module")
def fuzzer():
    spec = importlib.util.spec_from_file_location("fuzz_dicom", _FUZZER_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_dicom"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def _load(rc: int, stderr: str = "", notes=(), sha1: str = "seed") -> dict:
    digest = {"shape": [1, 2, 2], "sha1": sha1, "spacing_mm": [1.0, 1.0, 1.0]}
    digest |= {"origin_lps_mm": [0.0, 0.0, 0.0], "direction": [1.0] * 9}
    return {"phase": "load", "rc": rc, "stderr": stderr, "notes": list(notes), "digest": digest}


def test_the_oracle_flags_silent_changes_and_accepts_warned_or_refused_ones(fuzzer):
    seed = {"digest": _load(0)["digest"], "notes": []}
    notice = {"oracle": "notice", "terms": ["intercept"]}
    assert fuzzer.judge_load(_load(0, sha1="shifted"), notice, seed)[0] == "silent"
    assert fuzzer.judge_load(_load(0), notice, seed)[0] == "silent"
    warned = _load(0, sha1="shifted", notes=["a.dcm: RescaleIntercept missing, 0 assumed"])
    assert fuzzer.judge_load(warned, notice, seed)[0] == "clean"
    refused = _load(2, stderr="cryoplan info: error: a.dcm: RescaleIntercept 'inf'\n")
    assert fuzzer.judge_load(refused, notice, seed)[0] == "refused"
    same_or_notice = {"oracle": "same_or_notice", "terms": []}
    assert fuzzer.judge_load(_load(0), same_or_notice, seed)[0] == "clean"
    assert fuzzer.judge_load(_load(0, sha1="other"), same_or_notice, seed)[0] == "silent"
    equivalent = {"oracle": "same", "terms": []}
    assert fuzzer.judge_load(_load(0), equivalent, seed)[0] == "clean"
    shifted_but_warned = _load(0, sha1="other", notes=["intercepts differ between slices"])
    assert fuzzer.judge_load(shifted_but_warned, equivalent, seed)[0] == "silent"


def test_the_outcome_of_a_command_is_classified_from_its_exit_and_stderr(fuzzer):
    assert fuzzer.classify_run({"rc": 2, "stderr": "Traceback (most recent call last):\n"}) == (
        "traceback"
    )
    assert fuzzer.classify_run({"rc": None, "memory": True}) == "memory"
    assert fuzzer.classify_run({"rc": 0, "peak_rss_bytes": 8 * 1024**3}) == "memory"
    assert fuzzer.classify_run({"rc": 2, "stderr": "UserWarning: x\nerror: y\n"}) == "noise"
    assert fuzzer.classify_run({"rc": 0, "stderr": "RuntimeWarning: overflow\n"}) == "noise"
    assert fuzzer.classify_run({"rc": 2, "stderr": "cryoplan info: error: bad\n"}) == "refused"


@pytest.mark.shared_dicom
def test_a_handful_of_hostile_mutants_are_refused_or_loaded_with_a_warning(
    fuzzer, shared_dicom, monkeypatch
):
    monkeypatch.setenv("CRYOPLAN_SHARED_DICOM", str(shared_dicom))
    indices = fuzzer.select_indices(2 * len(SMOKE_CLASSES), SMOKE_CLASSES)

    tallies, failures = fuzzer.fuzz(indices, fuzzer.FuzzSettings(seed=14, jobs=1, timeout_s=20))

    assert sorted(tallies) == sorted(SMOKE_CLASSES)  # every seed loads, every mutant was built
    assert sum(t.mutants for t in tallies.values()) == len(indices)
    report = "\n".join(
        f"{f['outcome']}: {f['class']} #{f['index']} {f['mutation']}: {f['why']} {f['stderr_tail']}"
        for f in failures
    )
    assert not failures, report
