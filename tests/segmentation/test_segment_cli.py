"""``cryoplan segment``: JSON figures, output formats, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from seg_phantoms import kidney_phantom

from planning_core.cli import main
from planning_core.figures import format_length_mm, format_volume_ml
from planning_core.imaging.volume_io import read_label_map, write_volume
from planning_core.segmentation.dicom_seg import read_dicom_seg
from planning_core.segmentation.metrics import mask_volume_ml, max_diameter_mm


@pytest.fixture(scope="module")
def phantom_file(tmp_path_factory):
    phantom = kidney_phantom()
    path = tmp_path_factory.mktemp("cli") / "kidney.nii.gz"
    write_volume(phantom.volume, path)
    return phantom, path


def _seed_text(values) -> str:
    return ",".join(f"{v:.3f}" for v in values)


def test_segment_volume_file_writes_nifti_and_json(phantom_file, tmp_path, capsys):
    phantom, path = phantom_file
    out = tmp_path / "labels.nii.gz"
    code = main(
        [
            "segment",
            str(path),
            f"--seed={_seed_text(phantom.seed_lps_mm)}",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    written = read_label_map(out)
    tumor = report["labels"]["tumor"]
    assert tumor["voxel_count"] == written.voxel_count("tumor")
    assert tumor["volume_ml"] == pytest.approx(written.volume_ml("tumor"), abs=1e-4)
    assert 0.0 <= report["tumor"]["confidence"] <= 1.0
    assert report["tumor"]["max_diameter_mm"] > 20.0
    assert isinstance(report["tumor"]["warnings"], list)


def test_seed_index_gives_the_same_tumor(phantom_file, tmp_path, capsys):
    phantom, path = phantom_file
    geometry = phantom.volume.geometry
    ijk = geometry.lps_to_nearest_index(phantom.seed_lps_mm)
    out_a, out_b = tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"
    lps = geometry.index_to_lps(ijk.astype(float))
    assert main(["segment", str(path), f"--seed={_seed_text(lps)}", "--out", str(out_a)]) == 0
    assert main(["segment", str(path), "--seed-index", _seed_text(ijk), "--out", str(out_b)]) == 0
    text = capsys.readouterr().out
    assert "tumor:" in text
    np.testing.assert_array_equal(read_label_map(out_a).voxels, read_label_map(out_b).voxels)


@pytest.mark.slow
def test_organs_and_dicom_seg_on_sample_case(sample_case, tmp_path, capsys):
    case = sample_case("kidney")
    out = tmp_path / "kidney_seg.dcm"
    code = main(
        [
            "segment",
            "kidney",
            f"--seed={_seed_text(case.seed_lps_mm)}",
            "--organs",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert {"tumor", "body", "skin", "bone"} <= set(report["labels"])
    imported = read_dicom_seg(out, case.volume).label_map
    for name, entry in report["labels"].items():
        assert imported.voxel_count(name) == entry["voxel_count"]


def test_seed_outside_the_image_is_a_one_line_error(phantom_file, tmp_path, capsys):
    _, path = phantom_file
    code = main(["segment", str(path), "--seed=900,0,0", "--out", str(tmp_path / "x.nii.gz")])
    assert code == 2
    error_lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(error_lines) == 1
    assert "--seed" in error_lines[0]


def test_seed_index_outside_the_image_is_refused(phantom_file, tmp_path, capsys):
    _, path = phantom_file
    code = main(
        ["segment", str(path), "--seed-index", "500,1,1", "--out", str(tmp_path / "x.nii.gz")]
    )
    assert code == 2
    assert "--seed-index" in capsys.readouterr().err


def test_malformed_seed_is_refused(phantom_file, tmp_path, capsys):
    _, path = phantom_file
    with pytest.raises(SystemExit) as stop:
        main(["segment", str(path), "--seed", "1,2", "--out", str(tmp_path / "x.nii.gz")])
    assert stop.value.code == 2
    assert "--seed" in capsys.readouterr().err


def test_dicom_seg_output_needs_a_dicom_image(phantom_file, tmp_path, capsys):
    phantom, path = phantom_file
    code = main(
        [
            "segment",
            str(path),
            f"--seed={_seed_text(phantom.seed_lps_mm)}",
            "--out",
            str(tmp_path / "x.dcm"),
        ]
    )
    assert code == 2
    assert "NIfTI" in capsys.readouterr().err


def test_segment_text_gives_tumor_size_as_every_screen(phantom_file, tmp_path, capsys):
    phantom, path = phantom_file
    out = tmp_path / "labels.nii.gz"
    seed = f"--seed={_seed_text(phantom.seed_lps_mm)}"
    assert main(["segment", str(path), seed, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    written = read_label_map(out)
    tumor = written.mask("tumor")
    volume = format_volume_ml(mask_volume_ml(tumor, written.geometry))
    diameter = format_length_mm(max_diameter_mm(tumor, written.geometry))
    assert f"tumor: {volume}, {diameter} across" in text


@pytest.fixture(scope="module")
def lesion_file(tmp_path_factory):
    from lesion_phantoms import lesion_phantom

    phantom = lesion_phantom(vessel=True)
    path = tmp_path_factory.mktemp("cli-lesion") / "lesion.nii.gz"
    write_volume(phantom.volume, path)
    return phantom, path


def test_diameter_line_segments_the_lesion_and_prints_recist(lesion_file, tmp_path, capsys):
    phantom, path = lesion_file
    out = tmp_path / "line.nii.gz"
    line = _seed_text(np.r_[phantom.line_start_lps_mm, phantom.line_end_lps_mm])
    assert main(["segment", str(path), f"--diameter={line}", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "RECIST long axis" in text and "short axis" in text
    written = read_label_map(out).mask("tumor")
    from planning_core.segmentation.metrics import dice

    assert dice(written, phantom.truth) >= 0.85


def test_seeds_and_background_select_the_strokes(lesion_file, tmp_path, capsys):
    phantom, path = lesion_file
    points = np.linspace(phantom.line_start_lps_mm * 0.875, phantom.line_end_lps_mm * 0.875, 8)
    seeds = [f"--seed={_seed_text(point)}" for point in points]
    background = [f"--background={_seed_text([0.0, 23.0, z])}" for z in (-5.0, 0.0, 5.0)]
    out = tmp_path / "strokes.nii.gz"
    assert main(["segment", str(path), *seeds, *background, "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tumor"]["method"].startswith("strokes")
    assert report["tumor"]["recist_long_mm"] >= report["tumor"]["recist_short_mm"] > 0.0
    assert len(report["background_lps_mm"]) == 3


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--diameter=1,2,3,4,5"], "--diameter"),
        (["--diameter=0,0,0,30,0,0", "--background=0,30,0"], "--diameter"),
        (["--background=0,30,0"], "--seed"),
        ([], "--seed"),
        (["--seed=0,0,0", "--seed=5,0,0", "--edge=10,0,0"], "--edge"),
        (["--seed=0,0,0", "--background=900,0,0"], "--background"),
        (["--diameter=0,0,0,900,0,0"], "--diameter"),
        (["--seed=0,0,0", "--seed=5,0,0", "--brush-mm=-1"], "--brush-mm"),
    ],
)
def test_bad_flag_combinations_are_one_line_errors(lesion_file, tmp_path, capsys, flags, named):
    _, path = lesion_file
    try:
        code = main(["segment", str(path), *flags, "--out", str(tmp_path / "x.nii.gz")])
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    assert code == 2
    error_lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(error_lines) == 1 and named in error_lines[0]


def test_organs_alone_write_the_anatomy_without_a_tumor(phantom_file, tmp_path, capsys):
    phantom, _ = phantom_file
    # NIfTI cannot say the image is CT; MetaImage keeps the modality.
    path = tmp_path / "kidney.mha"
    write_volume(phantom.volume, path)
    out = tmp_path / "anatomy.nii.gz"
    assert main(["segment", str(path), "--organs", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tumor"] is None
    assert "body" in report["labels"] and "tumor" not in report["labels"]
    # What the anatomy could not find is said, not left out silently.
    assert any("no bone found" in warning for warning in report["warnings"])
    assert read_label_map(out).voxel_count("body") == report["labels"]["body"]["voxel_count"]


def test_organs_alone_on_an_image_that_is_not_ct_is_refused(phantom_file, tmp_path, capsys):
    _, nifti = phantom_file
    code = main(["segment", str(nifti), "--organs", "--out", str(tmp_path / "a.nii.gz")])
    assert code == 2
    error = capsys.readouterr().err
    assert "--organs" in error and "CT" in error and not (tmp_path / "a.nii.gz").exists()


def test_plan_organs_fill_what_the_label_file_leaves_unlabelled(phantom_file, tmp_path):
    from planning_core.commands.plan import case_label_map
    from planning_core.imaging.labels import LabelMap
    from planning_core.imaging.volume_io import write_label_map
    from planning_core.progress import no_progress

    phantom, _ = phantom_file
    volume = phantom.volume
    tumor = np.zeros(volume.geometry.shape, dtype=bool)
    tumor[20, 30:34, 30:34] = True
    path = tmp_path / "lesion.nii.gz"
    write_label_map(LabelMap.empty(volume.geometry).with_mask("tumor", tumor), path)
    as_given, _ = case_label_map(
        "x", volume, tumor_seed=None, labels_path=path, progress=no_progress
    )
    assert as_given.names == ("tumor",)
    filled, warnings = case_label_map(
        "x", volume, tumor_seed=None, labels_path=path, progress=no_progress, add_anatomy=True
    )
    assert "body" in filled.names
    np.testing.assert_array_equal(filled.mask("tumor"), tumor)  # the file's own label kept
    assert any("no bone found" in warning for warning in warnings)


def test_plan_with_a_seed_keeps_the_organs_the_case_brings(phantom_file):
    # A sample case brings its ground truth: its organs are planned around, while the
    # tumor is the one segmented from the seed, not the case's own.
    from planning_core.commands.plan import case_label_map
    from planning_core.imaging.labels import LabelMap
    from planning_core.progress import no_progress

    phantom, _ = phantom_file
    volume = phantom.volume
    own_tumor = np.zeros(volume.geometry.shape, dtype=bool)
    own_tumor[0, :3, :3] = True
    brought = (
        LabelMap.empty(volume.geometry)
        .with_mask("kidney", phantom.truth["kidney"])
        .with_mask("tumor", own_tumor)
    )

    labels, _ = case_label_map(
        "x", volume, tumor_seed=tuple(phantom.seed_lps_mm), labels_path=None,
        progress=no_progress, case_labels=brought,
    )  # fmt: skip

    assert set(labels.names) == {"kidney", "tumor"}  # no automatic anatomy added
    assert not labels.mask("tumor")[own_tumor].any()
    i, j, k = volume.geometry.lps_to_nearest_index(phantom.seed_lps_mm)
    assert labels.mask("tumor")[k, j, i]
