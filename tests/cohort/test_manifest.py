"""The cohort manifest: rows become `cryoplan plan` flags; a problem names its row and column."""

from __future__ import annotations

import dataclasses
import json

import pytest

from planning_core.cli import main
from planning_core.cohort.manifest import read_manifest
from planning_core.cohort.results import CaseResult, PlanFigures
from planning_core.cohort.runner import RESULT_FILE, case_folder, finished_result
from planning_core.commands.batch import plan_arguments
from planning_core.errors import InvalidParameterError


@pytest.fixture()
def folder(tmp_path):
    (tmp_path / "ct.nii.gz").write_bytes(b"")  # only its existence is checked here
    (tmp_path / "tumor.nii.gz").write_bytes(b"")
    return tmp_path


def manifest(folder, text: str):
    path = folder / "cohort.csv"
    path.write_text(text)
    return path


def test_rows_become_plan_flags_with_paths_from_the_manifest_folder(folder):
    path = manifest(
        folder,
        "case,tumor_seed,labels,max_probes,goal,organs,isotherm\n"
        "ct.nii.gz,,tumor.nii.gz,3,visible-ice,yes,-30\n"
        'kidney,"-1,2,-3",,,,,\n',
    )
    first, second = read_manifest(path)
    assert (first.case_id, first.row, second.case_id, second.row) == ("ct", 2, "kidney", 3)
    assert first.case == str(folder / "ct.nii.gz") and first.labels == str(folder / "tumor.nii.gz")
    args = plan_arguments(first, out=folder / "p.json")
    assert (args.max_probes, args.goal, args.organs, args.isotherm) == (3, "visible-ice", True, -30)
    assert args.labels == folder / "tumor.nii.gz" and args.tumor_seed is None
    defaults = plan_arguments(second, out=folder / "p.json")
    assert defaults.tumor_seed == (-1.0, 2.0, -3.0) and defaults.max_probes == 8
    assert defaults.case == "kidney"


@pytest.mark.parametrize(
    ("row", "said"),
    [
        ("ct.nii.gz,,tumor.nii.gz,50", "row 2, column margin_mm: --margin-mm = 50 mm is outside"),
        ("ct.nii.gz,,tumor.nii.gz,abc", "row 2, column margin_mm: argument --margin-mm: invalid"),
        ('ct.nii.gz,"1,2",,', "row 2, column tumor_seed: argument --tumor-seed: --tumor-seed must"),
    ],
)
def test_a_bad_option_is_named_by_row_and_column(folder, row, said):
    (case,) = read_manifest(manifest(folder, f"case,tumor_seed,labels,margin_mm\n{row}\n"))
    with pytest.raises(InvalidParameterError) as raised:
        plan_arguments(case, out=folder / "p.json")
    assert said in str(raised.value) and "cohort.csv" in str(raised.value)


def test_an_unknown_column_lists_the_plan_options(folder):
    (case,) = read_manifest(manifest(folder, "case,labels,probes\nct.nii.gz,tumor.nii.gz,3\n"))
    with pytest.raises(InvalidParameterError, match=r"row 2, column probes: not a plan option; .*"
                       r"max_probes"):  # fmt: skip
        plan_arguments(case, out=folder / "p.json")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("name,labels\nct.nii.gz,tumor.nii.gz\n", "must name the columns, with 'case'"),
        ("case,labels,tumor_seed\nct.nii.gz,tumor.nii.gz,\"1,2,3\"\n", "row 2: give exactly one"),
        ("case,labels\nct.nii.gz,\n", "row 2: give exactly one of column tumor_seed"),
        ("case,labels\nnowhere.nii.gz,tumor.nii.gz\n", "row 2, column case: nowhere.nii.gz: no"),
        ("case,labels\nct.nii.gz,none.nii.gz\n", "row 2, column labels: "),
        ("case,labels\nct.nii.gz,tumor.nii.gz\nct.nii.gz,tumor.nii.gz\n",
         "row 3: id 'ct' is also row 2's; add an 'id' column"),
        ("case,labels\nct.nii.gz,tumor.nii.gz,3\n", "row 2: more cells than the 2 columns"),
        ("case,labels,id\nct.nii.gz,tumor.nii.gz,a/b\n", "row 2, column id: 'a/b' must be"),
        ("case,labels\n", "no rows"),
    ],
)  # fmt: skip
def test_a_malformed_manifest_is_refused_naming_the_row(folder, text, said):
    with pytest.raises(InvalidParameterError) as raised:
        read_manifest(manifest(folder, text))
    message = str(raised.value)
    assert said in message and message.startswith("MANIFEST ") and "\n" not in message


def test_a_missing_manifest_is_named(tmp_path):
    with pytest.raises(InvalidParameterError, match="no such manifest"):
        read_manifest(tmp_path / "none.csv")


def test_a_finished_case_counts_only_for_the_same_row(folder):
    path = manifest(folder, "case,labels,max_probes\nct.nii.gz,tumor.nii.gz,3\n")
    (case,) = read_manifest(path)
    out = folder / "out"
    plan_file = folder / "plan.json"
    plan_file.write_text("{}")
    figures = PlanFigures(2, "F10-T8-F10", 20.0, 99.0, 5.2, "all clear", None, "lethal-margin",
                          True, "", str(plan_file), str(folder / "r.pdf"))  # fmt: skip
    result = CaseResult("ct", case.case, 2, "planned", figures, 3.0, 400.0, 1)
    target = case_folder(out, case) / RESULT_FILE
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps({"fingerprint": case.fingerprint(), "result": result.to_json()}))
    assert finished_result(case, out) == result
    changed = dataclasses.replace(case, options={"max_probes": "4"})
    assert finished_result(changed, out) is None
    failed = dataclasses.replace(result, status="failed", figures=None, error="boom")
    target.write_text(json.dumps({"fingerprint": case.fingerprint(), "result": failed.to_json()}))
    assert finished_result(case, out) is None
    target.write_text("{damaged")
    assert finished_result(case, out) is None


@pytest.mark.parametrize(
    ("extra", "row", "said"),
    [
        (["--workers", "0"], "", "--workers must be between 1 and 512, got 0."),
        (["--scheduler", "tcp://127.0.0.1:9", "--workers", "2"],
         "", "--workers sets the local cluster's size"),
        ([], "30", "row 2, column margin_mm: --margin-mm = 30 mm is outside its range"),
    ],
)  # fmt: skip
def test_batch_refuses_bad_flags_and_rows_before_starting(folder, capsys, extra, row, said):
    path = manifest(folder, f"case,labels,margin_mm\nct.nii.gz,tumor.nii.gz,{row}\n")
    code = main(["batch", str(path), "--out", str(folder / "out"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and said in err
    assert not (folder / "out" / "cases").exists()  # nothing was started


def test_batch_names_an_output_folder_it_cannot_make(folder, capsys):
    path = manifest(folder, "case,labels\nct.nii.gz,tumor.nii.gz\n")
    code = main(["batch", str(path), "--out", str(folder / "ct.nii.gz")])  # a file
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"--out {folder / 'ct.nii.gz'}: cannot make the output folder (File exists)" in err
