"""Plan evaluation (full simulation + metrics) and the files a plan refers to."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from planning_phantoms import torso_phantom

from planning_core.errors import InvalidParameterError, PlanFileError
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import write_volume
from planning_core.planning.case_files import load_plan_case, write_plan_case_files
from planning_core.planning.case_reference import CaseReference
from planning_core.planning.evaluate import evaluate_plan, placed_probes
from planning_core.planning.metrics import margin_zone_mask
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.plan_json import load_plan, save_plan
from planning_core.planning.settings import PlanSettings
from planning_core.thermal.probes import ProbeModel

MODEL = ProbeModel(
    id="test-argon", name="test argon probe", cryogen="argon", diameter_mm=2.4,
    active_length_mm=30.0, tip_offset_mm=5.0,
)  # fmt: skip
MODELS = {MODEL.id: MODEL}
GRID_MM = 2.0


def _ct(labels: LabelMap) -> Volume:
    hu = np.where(labels.voxels == 0, -1000.0, 40.0)
    hu[labels.mask("bone")] = 700.0
    return Volume(hu.astype(np.int16), labels.geometry, "CT")


@pytest.fixture(scope="module")
def case():
    labels = torso_phantom(tumor_radius_mm=6.0)
    volume = _ct(labels)
    # One vertical probe from the front (-y), tip 14 mm beyond the tumor centre.
    plan = Plan(
        probes=(PlannedProbe(MODEL.id, (0.0, 14.0, 0.0), (0.0, -60.0, 0.0), "P1"),),
        protocol="F10-T8-F10",
        settings=PlanSettings(margin_mm=2.0),
        case=CaseReference.for_volume(volume, description="torso phantom"),
    )
    evaluation = evaluate_plan(plan, volume, labels, spacing_mm=GRID_MM, probe_library=MODELS)
    return volume, labels, evaluation


def test_evaluation_metrics_are_fresh_and_agree_with_the_simulated_field(case):
    _, labels, evaluation = case
    assert not evaluation.plan.metrics_stale()
    assert evaluation.metrics is evaluation.plan.metrics
    # Independent count: the simulation's field resampled onto the label grid.
    dose = evaluation.simulation.resampled(labels.geometry)
    zone = margin_zone_mask(labels.mask("tumor"), labels.geometry, 2.0)
    expected = 100.0 * np.count_nonzero(dose[zone] <= -40.0) / np.count_nonzero(zone)
    coverage = evaluation.metrics.coverage_at(-40.0)
    assert 90.0 < expected < 100.0
    assert coverage.tumor_and_margin_percent == pytest.approx(expected, abs=0.5)
    assert evaluation.metrics.probe_count == 1
    assert evaluation.metrics.total_freeze_s == 1200.0
    (path,) = evaluation.metrics.paths
    assert path.acceptable
    # The shaft enters at the body outline x²/70² + y²/50² = 1 on x = 0: y = -50 mm.
    assert path.skin_entry_lps_mm[1] == pytest.approx(-50.0, abs=1.0)


def test_short_entry_is_moved_out_of_the_freezing_segment():
    probe = PlannedProbe(MODEL.id, (0.0, 0.0, 0.0), (0.0, -10.0, 0.0))
    (placed,) = placed_probes((probe,), MODELS)
    assert placed.entry_lps_mm[1] < -(MODEL.tip_offset_mm + MODEL.active_length_mm)
    np.testing.assert_allclose(placed.axis_unit, (0.0, -1.0, 0.0))


def test_unknown_probe_model_is_named(case):
    volume, labels, evaluation = case
    plan = evaluation.plan.with_probes(
        (PlannedProbe("no-such-probe", (0.0, 0.0, 0.0), (0.0, -60.0, 0.0)),)
    )
    with pytest.raises(InvalidParameterError, match="no-such-probe"):
        evaluate_plan(plan, volume, labels, spacing_mm=GRID_MM, probe_library=MODELS)


def test_plan_without_tumor_label_is_refused(case):
    volume, labels, evaluation = case
    with pytest.raises(InvalidParameterError, match="tumor"):
        evaluate_plan(
            evaluation.plan, volume, labels.without("tumor"), spacing_mm=GRID_MM,
            probe_library=MODELS,
        )  # fmt: skip


@pytest.fixture()
def saved(case, tmp_path):
    volume, labels, evaluation = case
    image_path = tmp_path / "image.nii.gz"
    write_volume(volume, image_path)
    plan_path = tmp_path / "case.cryoplan.json"
    plan = write_plan_case_files(
        evaluation.plan, plan_path=plan_path, label_map=labels,
        simulation=evaluation.simulation, image_path=image_path,
    )  # fmt: skip
    save_plan(plan, plan_path)
    return plan_path


def test_saved_plan_refers_to_its_files_relatively_and_reloads_them(saved, case):
    _, labels, evaluation = case
    text = saved.read_text()
    assert re.search(r'"labels_path": "case\.cryoplan\.[0-9a-f]{16}\.labels\.nii\.gz"', text)
    assert re.search(r'"thermal_fields_path": "case\.cryoplan\.[0-9a-f]{16}\.fields\.npz"', text)
    assert '"image_path": "image.nii.gz"' in text
    plan = load_plan(saved)
    loaded = load_plan_case(plan, plan_path=saved)
    assert loaded.warnings == ()
    np.testing.assert_array_equal(loaded.label_map.voxels, labels.voxels)
    np.testing.assert_array_equal(
        loaded.thermal.min_temperature_c, evaluation.simulation.min_temperature_c
    )


def test_files_outside_the_plan_folder_are_written_absolute(case, tmp_path):
    _, labels, evaluation = case
    plan_path = tmp_path / "plans" / "p.json"
    plan_path.parent.mkdir()
    outside = tmp_path / "elsewhere.nii.gz"
    plan = write_plan_case_files(
        evaluation.plan, plan_path=plan_path, label_map=labels, image_path=outside
    )
    save_plan(plan, plan_path)
    assert f'"image_path": "{outside.as_posix()}"' in plan_path.read_text()
    assert load_plan(plan_path).image_path == outside


def test_moved_probe_makes_the_saved_fields_unused(saved):
    plan = load_plan(saved)
    moved = plan.with_probes((dataclasses.replace(plan.probes[0], tip_lps_mm=(1.0, 14.0, 0.0)),))
    loaded = load_plan_case(moved, plan_path=saved)
    assert loaded.thermal is None
    assert "earlier version of the plan" in loaded.warnings[0]


def test_replaced_fields_file_is_not_taken_for_the_plan(saved):
    fields = load_plan(saved).thermal_fields_path
    fields.write_bytes(fields.read_bytes() + b"\0")
    loaded = load_plan_case(load_plan(saved), plan_path=saved)
    assert loaded.thermal is None
    assert "changed or replaced" in loaded.warnings[0]


def test_missing_image_is_named(saved, tmp_path):
    (tmp_path / "image.nii.gz").unlink()
    with pytest.raises(PlanFileError, match=r"image\.nii\.gz does not exist"):
        load_plan_case(load_plan(saved), plan_path=saved)


def test_missing_label_map_is_named(saved):
    load_plan(saved).labels_path.unlink()
    with pytest.raises(PlanFileError, match=r"labels\.nii\.gz does not exist"):
        load_plan_case(load_plan(saved), plan_path=saved)


def test_altered_image_is_refused(saved, case, tmp_path):
    volume = case[0]
    write_volume(volume.with_voxels(volume.voxels + np.int16(1)), tmp_path / "image.nii.gz")
    with pytest.raises(PlanFileError, match="made on another image"):
        load_plan_case(load_plan(saved), plan_path=saved)


def test_plan_without_image_reference_says_what_to_do(case, tmp_path):
    plan = case[2].plan
    with pytest.raises(PlanFileError, match="names no planning image"):
        load_plan_case(plan, plan_path=tmp_path / "x.json")


def test_file_references_need_a_case():
    with pytest.raises(InvalidParameterError, match="case reference"):
        Plan(image_path="image.nii.gz")
