"""`cryoplan info` and the load_image dispatcher."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from dicom_factory import rotation, write_stack

from planning_core.cli import main
from planning_core.errors import VolumeFormatError
from planning_core.imaging import case_sources
from planning_core.imaging.case_sources import CaseFiles, CaseSourceRegistry
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.loader import load_image
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import write_volume


@pytest.fixture
def two_series(tmp_path):
    folder = tmp_path / "study"
    write_stack(
        folder,
        np.full((4, 6, 5), 1024, np.int16),
        spacing_ijk=(0.5, 0.5, 2.0),
        series_uid="1.2.3.1",
    )
    write_stack(
        folder,
        np.zeros((3, 4, 4), np.int16),
        spacing_ijk=(1, 1, 1),
        series_uid="1.2.3.2",
        direction=rotation(0, 30, 0),
        names=["o0.dcm", "o1.dcm", "o2.dcm"],
    )
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_info_lists_series_geometry_and_skipped_files(two_series, capsys):
    assert main(["info", str(two_series)]) == 0

    out = capsys.readouterr().out
    assert "Series 1.2.3.1  [CT]" in out
    assert "grid 5×6×4 (i×j×k), spacing 0.5 × 0.5 × 2 mm, axial" in out
    assert "oblique (30.0° from axial)" in out
    assert "notes.txt: not a DICOM file" in out


def test_info_json_has_the_same_facts(two_series, capsys):
    assert main(["info", str(two_series), "--json"]) == 0

    report = json.loads(capsys.readouterr().out)
    (study,) = report["studies"]
    first = next(s for s in study["series"] if s["key"] == "1.2.3.1")
    assert first["geometry"]["size_ijk"] == [5, 6, 4]
    assert first["geometry"]["extent_mm"] == pytest.approx([2.5, 3.0, 8.0])
    assert first["loadable"] is True
    assert [Path(p).name for p in first["files"]] == [f"slice{k:03d}.dcm" for k in range(4)]
    assert report["skipped"][0]["reason"] == "not a DICOM file"
    assert "volume" not in report


def test_info_series_loads_and_reports_the_hu_range(two_series, capsys):
    assert main(["info", str(two_series), "--series", "1.2.3.1", "--json"]) == 0

    volume = json.loads(capsys.readouterr().out)["volume"]
    assert volume["value_range"] == [0.0, 0.0]  # stored 1024 with intercept -1024
    assert volume["units"] == "HU"
    assert volume["metadata"]["series_instance_uid"] == "1.2.3.1"


def test_info_strict_refusal_exits_2_with_one_line(tmp_path, capsys):
    write_stack(
        tmp_path,
        np.zeros((3, 4, 4), np.int16),
        spacing_ijk=(1, 1, 1),
        positions=[(0, 0, 0), (0, 0, 1), (0, 0, 3)],
    )
    series_uid = load_image(tmp_path).metadata["series_instance_uid"]

    assert main(["info", str(tmp_path), "--series", series_uid, "--strict"]) == 2

    captured = capsys.readouterr()
    assert captured.err.startswith("cryoplan info: error: ")
    assert "refused in strict mode" in captured.err
    assert "Traceback" not in captured.err


def test_info_on_a_volume_file(tmp_path, capsys):
    geometry = Geometry((3, 4, 5), (0.5, 0.6, 0.7), (1.0, 2.0, 3.0))
    path = tmp_path / "breast.nrrd"
    write_volume(Volume(np.arange(60, dtype=np.float32).reshape(3, 4, 5), geometry, "US"), path)

    assert main(["info", str(path)]) == 0

    out = capsys.readouterr().out
    assert out.startswith(f"Volume file {path}")
    assert "modality US" in out
    assert "value range 0 .. 59 a.u." in out


def test_info_accepts_a_sample_case_name(two_series, monkeypatch, capsys):
    @dataclass(frozen=True)
    class FakeSamples:
        name: str = "sample"
        noun: str = "sample case"

        def claim(self, text):
            return text if text in self.case_names() else None

        def case_names(self):
            return ("kidney", "liver")

        def title(self, location):
            return location

        def locate(self, location, *, progress=None, cancel=None):
            return CaseFiles(two_series)

    registry = CaseSourceRegistry(entry_point_group=None)
    registry.register(FakeSamples())
    monkeypatch.setattr(case_sources, "registry", registry)
    monkeypatch.chdir(two_series.parent)

    assert main(["info", "kidney"]) == 0
    assert "Series 1.2.3.2" in capsys.readouterr().out
    assert main(["info", "spleen"]) == 2
    assert "PATH spleen: no such file or folder, and not a sample case (kidney, liver)" in (
        capsys.readouterr().err
    )


def test_load_image_reads_volume_files_and_reports_progress(tmp_path):
    geometry = Geometry((2, 3, 4), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0))
    write_volume(Volume(np.ones((2, 3, 4), np.int16), geometry, "CT"), tmp_path / "ct.nii.gz")
    write_stack(tmp_path / "dicom", np.zeros((3, 4, 4), np.int16), spacing_ijk=(1, 1, 1))
    reports = []

    volume = load_image(tmp_path / "ct.nii.gz")
    load_image(tmp_path / "dicom", progress=lambda fraction, message: reports.append(fraction))

    assert volume.geometry.matches(geometry)
    assert reports == sorted(reports) and reports[-1] == 1.0
    with pytest.raises(VolumeFormatError, match="cannot be read as a volume"):
        (tmp_path / "bad.nrrd").write_text("not a volume")
        load_image(tmp_path / "bad.nrrd")
