"""Plan files from a hostile or unlucky world: devices, folders, deep JSON, limits, crashes.

Issue 14, items C7 (referenced files are regular files of bounded size, JSON depth is
bounded), C8 (limits are enforced on loading) and C9 (companion files are replaced as a
set: a reader sees the old set or the new one, even after kill -9).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from planning_phantoms import torso_phantom

from planning_core.atomic import STALE_TEMPORARY_AGE_S
from planning_core.cli import main
from planning_core.errors import PlanFileError
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import label_table_path, write_volume
from planning_core.planning import case_files, plan_json
from planning_core.planning.case_files import load_plan_case, write_plan_case_files
from planning_core.planning.case_reference import CaseReference
from planning_core.planning.evaluate import evaluate_plan
from planning_core.planning.limits import settings_limit_warnings
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.plan_json import load_plan, save_plan
from planning_core.planning.settings import PlanSettings

GRID_MM = 4.0


@pytest.fixture(scope="module")
def evaluated():
    """A one-probe plan on the torso phantom, evaluated on a coarse grid."""
    labels = torso_phantom(tumor_radius_mm=5.0)
    volume = Volume(np.where(labels.voxels == 0, -1000, 40).astype(np.int16), labels.geometry, "CT")
    plan = Plan(
        probes=(PlannedProbe("argon-2.4", (0.0, 20.0, 0.0), (0.0, -60.0, 0.0), "P1"),),
        protocol="F10-T8-F10",
        settings=PlanSettings(margin_mm=2.0),
        case=CaseReference.for_volume(volume),
    )
    return volume, labels, evaluate_plan(plan, volume, labels, spacing_mm=GRID_MM)


@pytest.fixture()
def saved(evaluated, tmp_path) -> Path:
    volume, labels, evaluation = evaluated
    image = tmp_path / "image.nii.gz"
    write_volume(volume, image)
    path = tmp_path / "case.json"
    plan = write_plan_case_files(
        evaluation.plan,
        plan_path=path,
        label_map=labels,
        simulation=evaluation.simulation,
        image_path=image,
    )
    save_plan(plan, path)
    return path


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _within(seconds: float, function):
    """Run ``function``; fail instead of hanging when it takes longer than ``seconds``."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:  # re-raised in the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s (hangs)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# -- C7: referenced files must be regular files of bounded size --------------------------
@pytest.mark.parametrize("kind", ["device", "folder", "fifo"])
def test_fields_path_to_a_device_folder_or_pipe_is_not_read(saved, kind):
    target = {"device": "/dev/zero", "folder": "/", "fifo": str(saved.parent / "f.npz")}[kind]
    if kind == "fifo":
        os.mkfifo(target)
    _edit(saved, lambda d: d.update(thermal_fields_path=target))
    case = _within(30, lambda: load_plan_case(load_plan(saved), plan_path=saved))
    assert case.thermal is None
    words = {"device": "is a device", "folder": "is a folder", "fifo": "is a pipe"}[kind]
    assert any(words in w and target in w for w in case.warnings)


@pytest.mark.parametrize("key", ["image_path", "labels_path"])
def test_image_or_label_map_that_is_a_pipe_is_refused_at_once(saved, key):
    fifo = saved.parent / f"pipe.{key}.nii.gz"
    os.mkfifo(fifo)
    _edit(saved, lambda d: d["case"].update({key: fifo.name}))
    with pytest.raises(PlanFileError, match=rf"pipe.*case\.{key}"):
        _within(30, lambda: load_plan_case(load_plan(saved), plan_path=saved))


def test_image_folder_with_too_many_files_is_refused(saved, monkeypatch):
    folder = saved.parent / "dicom"
    folder.mkdir()
    for number in range(4):
        (folder / f"{number}.dcm").write_bytes(b"")
    monkeypatch.setattr(case_files, "MAX_IMAGE_FOLDER_FILES", 3)
    _edit(saved, lambda d: d["case"].update(image_path="dicom"))
    with pytest.raises(PlanFileError, match="holds more than 3 files"):
        load_plan_case(load_plan(saved), plan_path=saved)


def test_deeply_nested_plan_file_is_refused_with_the_file_named(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000)
    with pytest.raises(PlanFileError, match=r"deep\.json: JSON nested 100000 levels deep"):
        load_plan(path)


def test_plan_file_that_is_a_folder_or_device_is_refused(tmp_path):
    with pytest.raises(PlanFileError, match="is a folder"):
        load_plan(tmp_path)
    with pytest.raises(PlanFileError, match="is a device"):
        _within(30, lambda: load_plan("/dev/zero"))


def test_deeply_nested_label_table_is_refused_not_a_traceback(saved):
    table = label_table_path(load_plan(saved).labels_path)
    table.write_text('{"labels": ' + "[" * 50_000 + "]" * 50_000 + "}")
    with pytest.raises(PlanFileError, match=r"labels\.json: JSON nested"):
        load_plan_case(load_plan(saved), plan_path=saved)


def test_truncated_label_map_is_refused_not_zero_filled(saved):
    # SimpleITK reads a cut .nii.gz without complaint, with the missing voxels zero.
    labels = load_plan(saved).labels_path
    cut = saved.parent / "cut.labels.nii.gz"
    cut.write_bytes(labels.read_bytes()[: labels.stat().st_size // 2])
    shutil.copy(label_table_path(labels), label_table_path(cut))
    _edit(saved, lambda d: d["case"].update(labels_path=cut.name))
    with pytest.raises(PlanFileError, match=r"cut\.labels\.nii\.gz: the volume file is damaged"):
        load_plan_case(load_plan(saved), plan_path=saved)


def test_fields_archive_declaring_a_huge_array_is_not_allocated(saved):
    plan = load_plan(saved)
    forged = saved.parent / "forged.npz"
    header = {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}
    with zipfile.ZipFile(forged, "w") as archive, archive.open("metadata.npy", "w") as member:
        np.lib.format.write_array_header_1_0(member, header)
        member.write(b"\0" * 64)
    digest = case_files.file_sha256(forged)
    _edit(saved, lambda d: d.update(thermal_fields_path=forged.name, thermal_fields_sha256=digest))
    case = load_plan_case(load_plan(saved), plan_path=saved)
    assert plan.thermal_fields_path != forged and case.thermal is None
    assert "declares more data than it holds" in case.warnings[-1]


def test_lone_surrogates_are_refused_on_loading_not_when_saving(saved):
    # JSON escapes may spell text that no UTF-8 file can hold; saving it later failed.
    saved.write_text(saved.read_text().replace('"notes": ""', '"notes": "\\ud834"', 1))
    with pytest.raises(PlanFileError, match="notes: text holds an unpaired surrogate"):
        load_plan(saved)


# -- C8: limits ---------------------------------------------------------------------------
def test_plan_beyond_the_largest_probe_count_is_refused_on_loading(saved):
    probe = {"model": "argon-2.4", "tip_lps_mm": [0, 20, 0], "entry_lps_mm": [0, -60, 0]}
    _edit(saved, lambda d: d.update(probes=[probe] * 100))
    with pytest.raises(PlanFileError, match=r"probes: the plan has 100 probes.*--max-probes"):
        load_plan(saved)


def test_protocol_freezing_for_days_is_refused_before_any_simulation(saved):
    protocol = "-".join(["F18", "T1"] * 500 + ["F10"])  # 1001 phases, 9010 min of freezing
    _edit(saved, lambda d: d.update(protocol=protocol))
    with pytest.raises(PlanFileError, match=r"protocol: .*freezes 9010 min.*--max-freeze-min"):
        load_plan(saved)
    _edit(saved, lambda d: d.update(protocol="F10-T300"))
    with pytest.raises(PlanFileError, match="lasts 310 min"):
        load_plan(saved)


def test_plan_over_its_own_limits_loads_with_warnings_that_evaluate_prints(saved, capsys):
    probe = {"model": "argon-2.4", "tip_lps_mm": [0, 20, 0], "entry_lps_mm": [0, -60, 0]}
    _edit(saved, lambda d: d.update(probes=[probe] * 2, protocol="F20-T8-F20"))
    _edit(saved, lambda d: d["settings"].update(max_probes=1))
    plan = load_plan(saved)
    warnings = settings_limit_warnings(plan)
    assert len(warnings) == 2
    assert "2 probes, more than its limit of 1 ('Max probes'; --max-probes" in warnings[0]
    assert "freezes 40 min" in warnings[1] and "'Max total freeze'" in warnings[1]
    assert set(warnings) <= set(load_plan_case(plan, plan_path=saved).warnings)
    assert main(["evaluate", str(saved), "--spacing-mm", str(GRID_MM)]) == 0
    out = capsys.readouterr().out
    assert "warning: The protocol freezes 40 min in total" in out


def test_probe_coordinates_beyond_any_scanner_are_refused_on_loading(saved):
    _edit(saved, lambda d: d["probes"][0].update(tip_lps_mm=[1e20, 20, 0]))
    with pytest.raises(PlanFileError, match=r"probes\[0\]\.tip_lps_mm: coordinates beyond"):
        load_plan(saved)


def test_probe_far_outside_the_image_is_refused_before_simulating(saved):
    _edit(saved, lambda d: d["probes"][0].update(tip_lps_mm=[0, 20, 500], entry_lps_mm=[0, 0, 500]))
    with pytest.raises(PlanFileError, match=r"P1: the tip .* outside the planning image"):
        load_plan_case(load_plan(saved), plan_path=saved)
    _edit(saved, lambda d: d["probes"][0].update(tip_lps_mm=[0, 20, 0], entry_lps_mm=[0, -5e4, 0]))
    with pytest.raises(PlanFileError, match=r"entry lies 50020 mm from the tip"):
        load_plan_case(load_plan(saved), plan_path=saved)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("paths", [], "0 path report"),
        ("total_freeze_s", 1e308, "total_freeze_s 1e"),
        ("coverage", [], "lacks the lethal isotherm"),
    ],
)
def test_fresh_metrics_contradicting_the_plan_are_refused(saved, field, value, message):
    _edit(saved, lambda d: d["metrics"].update({field: value}))
    with pytest.raises(PlanFileError, match=rf"metrics: .*{message}.*Delete the \"metrics\""):
        load_plan(saved)


# -- C9: companion files are replaced as a set ------------------------------------------
def _state(path: Path):
    """What a reader of ``path`` sees: the plan, its label map and its fields."""
    plan = load_plan(path)
    case = load_plan_case(plan, plan_path=path)
    return plan, case


def _other_labels(labels):
    return labels.without("aorta")


def test_failed_save_leaves_the_old_set_whole(saved, evaluated, monkeypatch):
    _, labels, evaluation = evaluated
    before, _ = _state(saved)

    def disk_full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(plan_json, "write_text_atomic", disk_full)
    new = write_plan_case_files(
        load_plan(saved),
        plan_path=saved,
        label_map=_other_labels(labels),
        simulation=evaluation.simulation,
    )
    with pytest.raises(PlanFileError, match="No space left"):
        save_plan(new, saved)
    plan, case = _state(saved)
    assert plan.labels_path == before.labels_path != new.labels_path
    assert case.label_map.has("aorta") and case.warnings == ()
    assert case.thermal is not None


def test_kill_9_between_companions_and_plan_leaves_the_old_set(saved):
    before, _ = _state(saved)
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from planning_core.planning.case_files import load_plan_case, write_plan_case_files\n"
        "from planning_core.planning.plan_json import load_plan\n"
        "path = Path(sys.argv[1])\n"
        "plan = load_plan(path)\n"
        "labels = load_plan_case(plan, plan_path=path).label_map.without('aorta')\n"
        "write_plan_case_files(plan, plan_path=path, label_map=labels)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    child = subprocess.run([sys.executable, "-c", script, str(saved)], timeout=120)
    assert child.returncode == -signal.SIGKILL
    plan, case = _state(saved)
    assert plan.labels_path == before.labels_path
    assert case.label_map.has("aorta") and case.warnings == () and case.thermal is not None
    orphans = {p.name for p in saved.parent.iterdir()} - _named(saved, plan)
    assert len(orphans) == 2  # the new label map and its table, named by no plan
    for orphan in orphans:  # a later save removes them once they are old
        old = time.time() - STALE_TEMPORARY_AGE_S - 1
        os.utime(saved.parent / orphan, (old, old))
    save_plan(plan, saved)
    assert {p.name for p in saved.parent.iterdir()} == _named(saved, plan)


def _named(path: Path, plan: Plan) -> set[str]:
    names = {path.name, plan.image_path.name, plan.labels_path.name}
    names.add(label_table_path(plan.labels_path).name)
    if plan.thermal_fields_path is not None:
        names.add(plan.thermal_fields_path.name)
    return names


def test_new_save_replaces_the_set_and_removes_the_superseded_files(saved, evaluated):
    _, labels, evaluation = evaluated
    new = write_plan_case_files(
        load_plan(saved),
        plan_path=saved,
        label_map=_other_labels(labels),
        simulation=evaluation.simulation,
    )
    save_plan(new, saved)
    plan, case = _state(saved)
    assert not case.label_map.has("aorta") and case.thermal is not None
    assert {p.name for p in saved.parent.iterdir()} == _named(saved, plan)


def test_young_orphans_of_a_concurrent_writer_are_kept(saved):
    orphan = saved.parent / "case.0123456789abcdef.labels.nii.gz"
    orphan.write_bytes(b"being written")
    save_plan(load_plan(saved), saved)
    assert orphan.exists()


def test_label_table_changed_after_saving_is_refused(saved):
    table = label_table_path(load_plan(saved).labels_path)
    table.write_text(table.read_text().replace('"aorta"', '"renamed"'))
    with pytest.raises(PlanFileError, match="changed after the plan was saved"):
        load_plan_case(load_plan(saved), plan_path=saved)
