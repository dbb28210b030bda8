"""The case-source registry: each kind, names, bad input, and the core's independence."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
from dicom_factory import write_stack

from planning_core.errors import DicomLoadError, InvalidParameterError, VolumeFormatError
from planning_core.imaging import case_sources
from planning_core.imaging.case_sources import (
    CaseFiles,
    CaseSource,
    CaseSourceRegistry,
    locate_case,
    named_cases,
    open_case,
    register_case_source,
    resolve_case,
)
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import write_label_map, write_volume

ROOT = Path(__file__).resolve().parents[2]
GEOMETRY = Geometry((3, 4, 5), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0))


@pytest.fixture
def builtin_only(monkeypatch):
    """A registry with the built-in kinds only, for the duration of a test."""
    registry = CaseSourceRegistry(entry_point_group=None)
    monkeypatch.setattr(case_sources, "registry", registry)
    return registry


@pytest.fixture
def volume_and_labels(tmp_path):
    image = tmp_path / "ct.nii.gz"
    write_volume(Volume(np.arange(60, dtype=np.int16).reshape(3, 4, 5), GEOMETRY, "CT"), image)
    tumor = np.zeros(GEOMETRY.shape, dtype=bool)
    tumor[1, 1:3, 1:3] = True
    labels = tmp_path / "labels.nii.gz"
    write_label_map(LabelMap.empty(GEOMETRY).with_mask("tumor", tumor), labels)
    return image, labels


@dataclass(frozen=True)
class NamedKind:
    """A kind that offers cases by name, as the sample package (and a PACS) does."""

    files: CaseFiles
    name: str = "atlas"
    noun: str = "atlas case"

    def claim(self, text: str) -> str | None:
        return text if text in self.case_names() else None

    def case_names(self) -> tuple[str, ...]:
        return ("phantom",)

    def title(self, location: str) -> str:
        return f"{location} (atlas)"

    def locate(self, location, *, progress=None, cancel=None) -> CaseFiles:
        return self.files


def test_a_volume_file_opens_with_its_label_file(builtin_only, volume_and_labels):
    image, labels = volume_and_labels

    source = resolve_case(str(image), labels_path=labels)
    case = open_case(source)

    assert source.kind == "volume" and source.title == "ct.nii.gz"
    assert case.volume.geometry.matches(GEOMETRY)
    assert case.labels is not None and case.labels.voxel_count("tumor") == 4
    assert open_case(source, with_labels=False).labels is None
    assert CaseSource.from_dict(source.to_dict()) == source


def test_a_dicom_folder_with_two_series_needs_a_choice_or_takes_the_largest(builtin_only, tmp_path):
    folder = tmp_path / "study"
    write_stack(folder, np.zeros((4, 6, 5), np.int16), spacing_ijk=(1, 1, 1), series_uid="1.2.1")
    write_stack(
        folder,
        np.zeros((2, 4, 4), np.int16),
        spacing_ijk=(1, 1, 1),
        series_uid="1.2.2",
        names=["b0.dcm", "b1.dcm"],
    )
    source = resolve_case(str(folder))
    assert source.kind == "dicom"

    with pytest.raises(DicomLoadError, match=r"1\.2\.1.*1\.2\.2|1\.2\.2.*1\.2\.1"):
        open_case(source)
    largest = open_case(source, several_series="largest")
    chosen = open_case(resolve_case(str(folder), series_key="1.2.2"))

    assert largest.volume.metadata["series_instance_uid"] == "1.2.1"
    assert chosen.volume.metadata["series_instance_uid"] == "1.2.2"
    assert largest.files.image_path == folder.resolve()


def test_a_kind_registered_in_code_is_resolved_by_name_and_opened(builtin_only, volume_and_labels):
    image, labels = volume_and_labels
    register_case_source(NamedKind(CaseFiles(image, labels, "Phantom", {"organ": "liver"})))

    source = resolve_case("phantom")
    case = open_case(source)

    assert source == CaseSource("atlas", "phantom") and source.title == "phantom (atlas)"
    assert named_cases() == ("phantom",) and named_cases("atlas") == ("phantom",)
    assert named_cases("sample") == ()  # not installed in this registry
    assert case.labels is not None and case.labels.names == ("tumor",)
    assert locate_case(source).details["organ"] == "liver"


def test_an_unknown_name_names_the_option_and_the_named_cases(builtin_only, volume_and_labels):
    image, labels = volume_and_labels
    register_case_source(NamedKind(CaseFiles(image, labels)))

    with pytest.raises(InvalidParameterError) as error:
        resolve_case("spleen", case_option="PATH")

    assert str(error.value) == (
        "PATH spleen: no such file or folder, and not a atlas case (phantom)."
    )


def test_a_missing_folder_or_label_file_is_named(builtin_only, tmp_path, volume_and_labels):
    image, _ = volume_and_labels
    missing = tmp_path / "gone"

    with pytest.raises(InvalidParameterError, match=rf"^CASE {missing}: no such file or folder"):
        resolve_case(str(missing))
    with pytest.raises(InvalidParameterError, match=rf"^--labels {missing}: no such file"):
        resolve_case(str(image), labels_path=missing)
    # A recent-case entry whose folder has since been removed.
    with pytest.raises(DicomLoadError, match=rf"^{missing}: no such file or folder"):
        open_case(CaseSource("dicom", str(missing)))
    with pytest.raises(VolumeFormatError, match=rf"^{missing}: no such file or folder"):
        open_case(CaseSource("volume", str(missing)))


def test_an_unknown_kind_lists_the_known_ones(builtin_only):
    with pytest.raises(
        InvalidParameterError, match="'xnat'; known kinds: volume, dicom, pacs, dicomweb"
    ):
        CaseSource("xnat", "1.2.3")


def test_a_kind_whose_package_fails_to_import_says_so_when_used(monkeypatch):
    broken = EntryPoint("sample", "no_such_package_for_cases:KIND", case_sources.ENTRY_POINT_GROUP)
    monkeypatch.setattr(case_sources, "entry_points", lambda group: [broken])
    monkeypatch.setattr(case_sources, "registry", CaseSourceRegistry())

    with pytest.raises(InvalidParameterError, match=r"sample cases are unavailable.*no_such_pa"):
        CaseSource("sample", "kidney")
    with pytest.raises(InvalidParameterError, match="sample cases are unavailable"):
        resolve_case("kidney")
    assert named_cases("sample") == ()


def test_the_installed_sample_kind_comes_through_its_entry_point():
    kinds = CaseSourceRegistry().kinds()
    assert "sample" in kinds, "entry points missing: reinstall with pip install -e . --no-deps"
    kind = kinds["sample"]
    assert type(kind).__module__ == "cryoplan_samples.case_source"
    assert "kidney" in kind.case_names() and kind.claim("kidney") == "kidney"


def test_the_core_never_imports_the_sample_generator():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--contract", "core-without-samples", "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
