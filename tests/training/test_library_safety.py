"""Tampered libraries and exported cases, and imports that collide or fail halfway."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest
from training_phantom import one_probe_plan, phantom_case

from planning_core.errors import PlanFileError
from planning_core.imaging.volume_io import write_label_map, write_volume
from planning_core.paths import PathOutsideFolderError
from planning_core.training.assessment import evaluate_reference
from planning_core.training.database import LibraryError, connect, library_folder
from planning_core.training.library import (
    DuplicateCaseError,
    export_cases,
    get_case,
    import_case,
    import_exported_case,
    list_cases,
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The phantom as image + labels, and exported from a library with its reference plan."""
    root = tmp_path_factory.mktemp("exported")
    volume, labels = phantom_case()
    write_volume(volume, root / "image.mha")
    write_label_map(labels, root / "labels.nii.gz")
    connection = connect(root / "source" / "library.sqlite3")
    import_case(connection, root / "image.mha", root / "labels.nii.gz", case_id="ref")
    evaluate_reference(connection, "ref", one_probe_plan(), author="Dr. Attending")
    (folder,) = export_cases(connection, root / "export")
    connection.close()
    return root, folder


@pytest.fixture
def library(tmp_path):
    connection = connect(tmp_path / "a" / "b" / "lib" / "library.sqlite3")
    yield connection
    connection.close()


def _tampered_copy(folder, tmp_path, **changes):
    copy = tmp_path / "incoming" / folder.name
    shutil.copytree(folder, copy)
    manifest = json.loads((copy / "case.json").read_text())
    manifest.update(changes)
    (copy / "case.json").write_text(json.dumps(manifest))
    return copy


def _assert_nothing_imported(library):
    assert list_cases(library) == ()
    cases = library_folder(library)
    assert not cases.exists() or list(cases.iterdir()) == []


def test_a_tampered_case_id_in_the_database_is_not_exported(exported, library, tmp_path):
    root, _ = exported
    import_case(library, root / "image.mha", root / "labels.nii.gz", case_id="good")
    with library:
        library.execute("UPDATE cases SET id = '../../../EVIL' WHERE id = 'good'")
    # The folder the tampered id points at, so that following it would succeed.
    shutil.copytree(library_folder(library) / "good", tmp_path / "a" / "EVIL")
    with pytest.raises(LibraryError, match="EVIL"):
        export_cases(library, tmp_path / "a" / "b" / "out")
    assert not (tmp_path / "EVIL").exists()
    assert not (tmp_path / "a" / "b" / "out").exists()


def test_a_tampered_file_name_in_the_database_is_refused(exported, library):
    root, _ = exported
    import_case(library, root / "image.mha", root / "labels.nii.gz", case_id="good")
    with library:
        library.execute("UPDATE cases SET labels_path = '../../../../etc/passwd'")
    with pytest.raises(PathOutsideFolderError, match="outside"):
        get_case(library, "good")


@pytest.mark.parametrize(
    "changes",
    [
        {"image_path": "../image.mha"},
        {"labels_path": "../labels.nii.gz"},
        {"labels_path": "/etc/passwd"},
        {"reference_plan_path": "../../../../etc/passwd"},
    ],
    ids=["image", "labels", "absolute", "reference"],
)
def test_an_exported_case_naming_files_outside_its_folder_is_refused(
    exported, library, tmp_path, changes
):
    _, folder = exported
    copy = _tampered_copy(folder, tmp_path, **changes)
    for name in ("image.mha", "labels.nii.gz"):  # readable files beside the case folder
        shutil.copy(folder / name, copy.parent / name)
    with pytest.raises(PathOutsideFolderError, match="outside"):
        import_exported_case(library, copy)
    _assert_nothing_imported(library)


def test_a_link_leading_out_of_an_exported_case_is_refused(exported, library, tmp_path):
    _, folder = exported
    copy = _tampered_copy(folder, tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.move(copy / "image.mha", outside / "image.mha")
    os.symlink(outside / "image.mha", copy / "image.mha")
    with pytest.raises(PathOutsideFolderError, match=r"image\.mha"):
        import_exported_case(library, copy)
    os.remove(copy / "image.mha")
    os.symlink(outside, copy / "linked")  # a linked folder, even if no file names it
    shutil.copy(outside / "image.mha", copy / "image.mha")
    with pytest.raises(PathOutsideFolderError, match="linked"):
        import_exported_case(library, copy)
    _assert_nothing_imported(library)


def test_a_failing_reference_plan_leaves_no_half_imported_case(exported, library, tmp_path):
    _, folder = exported
    copy = _tampered_copy(folder, tmp_path)
    (copy / "reference_plan.json").write_text('{"format": ')
    with pytest.raises(PlanFileError, match=r"reference_plan\.json"):
        import_exported_case(library, copy)
    _assert_nothing_imported(library)
    # The intact folder imports with its reference plan in the same step.
    case = import_exported_case(library, folder)
    assert case.reference_author == "Dr. Attending"


def test_two_imports_of_the_same_case_at_once_end_in_a_clear_message(exported, library):
    root, _ = exported
    other = connect(library_folder(library).parent / "library.sqlite3")

    def the_other_window_imports_first(fraction, _message):
        if fraction == pytest.approx(0.95):  # "Recording the case": files staged, row not yet
            import_case(other, root / "image.mha", root / "labels.nii.gz", case_id="same")

    try:
        with pytest.raises(DuplicateCaseError, match="another window or command"):
            import_case(
                library, root / "image.mha", root / "labels.nii.gz", case_id="same",
                progress=the_other_window_imports_first,
            )  # fmt: skip
    finally:
        other.close()
    assert [case.id for case in list_cases(library)] == ["same"]
    assert [p.name for p in library_folder(library).iterdir()] == ["same"]
    assert get_case(library, "same").labels_path.is_file()


def test_staging_left_by_a_killed_import_is_removed_by_the_next(exported, library):
    root, _ = exported
    cases = library_folder(library)
    old = cases / ".other.importing-abc123"
    recent = cases / ".busy.importing-def456"  # another import, still running
    for folder in (old, recent):
        (folder / "dicom").mkdir(parents=True)
    two_days_ago_s = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago_s, two_days_ago_s))
    import_case(library, root / "image.mha", root / "labels.nii.gz", case_id="next")
    assert sorted(p.name for p in cases.iterdir()) == [recent.name, "next"]


def test_an_unwritable_export_folder_is_named(exported, library, tmp_path):
    root, _ = exported
    import_case(library, root / "image.mha", root / "labels.nii.gz", case_id="good")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be")
    with pytest.raises(LibraryError, match="--out"):
        export_cases(library, blocked / "out")


def test_an_exported_case_with_a_tampered_id_is_refused(exported, library, tmp_path):
    _, folder = exported
    copy = _tampered_copy(folder, tmp_path, id="../../../EVIL")
    with pytest.raises(LibraryError, match=r"case\.json: case id '\.\./\.\./\.\./EVIL'"):
        import_exported_case(library, copy)
    _assert_nothing_imported(library)
    assert not list(tmp_path.rglob("EVIL"))
