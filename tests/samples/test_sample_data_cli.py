"""``cryoplan sample-data`` and ``cryoplan info <sample name>`` on the real generator."""

from __future__ import annotations

import json

import numpy as np

from planning_core.cli import main


def test_sample_data_generates_then_reuses_a_case(tmp_path, capsys):
    assert main(["sample-data", "--out", str(tmp_path), "--case", "breast", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    (case,) = first["cases"]
    assert case["name"] == "breast"
    assert case["modality"] == "US"
    manifest_path = tmp_path / "breast" / "manifest.json"
    assert case["manifest_path"] == str(manifest_path)
    written = manifest_path.read_bytes()

    assert main(["sample-data", "--out", str(tmp_path), "--case", "breast"]) == 0
    text = capsys.readouterr().out
    assert "breast" in text and str(tmp_path / "breast") in text
    # Found, not regenerated: the manifest (with its file hashes) is untouched.
    assert manifest_path.read_bytes() == written


def test_sample_data_refuses_an_unknown_case(tmp_path, capsys):
    assert main(["sample-data", "--out", str(tmp_path), "--case", "spleen"]) == 2
    error = capsys.readouterr().err
    assert "spleen" in error and "kidney" in error


def test_info_on_a_sample_name_reports_the_generated_geometry(generated_cases, monkeypatch, capsys):
    kidney = generated_cases["kidney"]
    monkeypatch.setenv("CRYOPLAN_SAMPLE_DIR", str(kidney.directory.parent))
    assert main(["info", "kidney", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (study,) = report["studies"]
    (series,) = study["series"]
    manifest = kidney.manifest
    assert series["modality"] == "CT"
    assert series["geometry"]["size_ijk"] == manifest["shape_kji"][::-1]
    np.testing.assert_allclose(series["geometry"]["spacing_mm"], manifest["spacing_mm"])
    np.testing.assert_allclose(series["geometry"]["origin_lps_mm"], manifest["origin_lps_mm"])
