"""Path hazards read from the CT itself, on small synthetic CTs with planted hazards.

The label maps hold only the body and the tumor, as a real CT planned from a
marked lesion does: every hazard here is found from the Hounsfield units alone.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from planning_phantoms import grid_lps, torso_phantom

from planning_core.errors import InfeasiblePlanError
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.ct_hazards import HAZARD_KINDS, find_ct_hazards
from planning_core.planning.entry_map import BLOCKED, feasible_entries
from planning_core.planning.evaluate import evaluate_plan
from planning_core.planning.optimizer import optimize_plan
from planning_core.planning.optimizer.candidates import candidate_directions
from planning_core.planning.plan import Plan, PlannedProbe
from planning_core.planning.plan_json import plan_from_dict, plan_to_dict
from planning_core.planning.results import PathHazard
from planning_core.planning.settings import PlanSettings
from planning_core.planning.trajectory import TrajectoryContext
from planning_core.thermal.probes import ProbeModel

GAS, BONE, CONTENT, VESSEL = (HAZARD_KINDS[kind][0] for kind in HAZARD_KINDS)
TIP = (0.0, 0.0, 0.0)
# Entries of straight paths from TIP, each through one planted hazard (HFS: anterior is -y).
THROUGH_RIB = (0.0, -80.0, 0.0)
THROUGH_GAS = (80.0, 0.0, 0.0)
THROUGH_CONTENT = (-80.0, 0.0, 0.0)
THROUGH_VESSEL = (-60.0, -60.0, 0.0)
CLEAN = (40.0, -80.0, 0.0)
SOFT_TISSUE_HU = 40.0


def _labels() -> LabelMap:
    """Body and tumor (10 mm sphere at the origin) only; ``torso_phantom``'s rods dropped."""
    phantom = torso_phantom()
    labels = LabelMap.empty(phantom.geometry).with_mask("body", phantom.voxels != 0)
    return labels.with_mask("tumor", phantom.mask("tumor"))


def _hazard_ct(labels: LabelMap) -> Volume:
    """Soft tissue with a thin rib plate, a gas pocket, mottled content, a bright tube."""
    lps = grid_lps(labels.geometry)
    x, y, z = lps[..., 0], lps[..., 1], lps[..., 2]
    hu = np.where(labels.voxels == 0, -1000.0, SOFT_TISSUE_HU)
    # A rib cortex only 1 mm thick at 400 HU across the anterior path (y = -30 mm).
    hu[(y == -30.0) & (np.abs(x) <= 10.0) & (np.abs(z) <= 10.0)] = 400.0
    # A 6-mm gas pocket on the left lateral path.
    hu[np.linalg.norm(lps - (35.0, 0.0, 0.0), axis=-1) <= 3.0] = -1000.0
    # Stool on the right lateral path: 1-mm bubbles every 2 mm in a 20 mm block
    # (each bubble far too small to count as a gas pocket on its own).
    block = (x >= -50.0) & (x <= -30.0) & (np.abs(y) <= 10.0) & (np.abs(z) <= 10.0)
    hu[block] = 20.0
    hu[block & (x % 2 == 0) & (y % 2 == 0) & (z % 2 == 0)] = -700.0
    # A contrast-filled vessel 6 mm wide along z, crossed by the anterior-right path.
    hu[(x + 25.0) ** 2 + (y + 25.0) ** 2 <= 9.0] = 250.0
    # An enhanced kidney-like organ: 200 HU cortex 5 mm thick around a 100 HU medulla.
    shape = ((x - 40.0) / 18.0) ** 2 + ((y + 20.0) / 13.0) ** 2 + (z / 30.0) ** 2
    hu[shape <= 1.0] = 200.0
    hu[((x - 40.0) / 13.0) ** 2 + ((y + 20.0) / 8.0) ** 2 + (z / 25.0) ** 2 <= 1.0] = 100.0
    return Volume(hu.astype(np.int16), labels.geometry, "CT")


def _kidney_like(labels: LabelMap) -> np.ndarray:
    lps = grid_lps(labels.geometry)
    x, y, z = lps[..., 0], lps[..., 1], lps[..., 2]
    return ((x - 40.0) / 18.0) ** 2 + ((y + 20.0) / 13.0) ** 2 + (z / 30.0) ** 2 <= 1.0


@pytest.fixture(scope="module")
def labels() -> LabelMap:
    return _labels()


@pytest.fixture(scope="module")
def volume(labels) -> Volume:
    return _hazard_ct(labels)


@pytest.fixture(scope="module")
def context(labels, volume) -> TrajectoryContext:
    return TrajectoryContext(labels, PlanSettings(), volume=volume)


def _crossed(report, name):
    return [h for h in report.hazards if h.name == name and h.length_mm > 0 and h.forbidden]


def test_a_thin_rib_blocks_the_path_and_says_how_deep(context, labels):
    report = context.analyze_path(TIP, THROUGH_RIB)
    assert report.hazards_assessed
    (rib,) = _crossed(report, BONE)
    # Skin at y = -50.5 mm, rib at y = -30 mm: 20.5 mm below the skin, 1 mm thick.
    assert rib.depth_mm == pytest.approx(20.5, abs=1.0)
    assert rib.length_mm == pytest.approx(1.0, abs=0.5)
    assert any(p.startswith(f"crosses {BONE} 2") and "below the skin" in p for p in report.problems)
    # The label map alone (the old check) sees nothing on this path.
    assert TrajectoryContext(labels, PlanSettings()).analyze_path(TIP, THROUGH_RIB).acceptable


def test_a_gas_pocket_blocks_the_path(context):
    report = context.analyze_path(TIP, THROUGH_GAS)
    (pocket,) = _crossed(report, GAS)
    # Skin at x = 70.5 mm; the pocket's voxels (centres 32-38 mm) span x = 38.5 to 31.5 mm.
    assert pocket.depth_mm == pytest.approx(32.0, abs=1.0)
    assert pocket.length_mm == pytest.approx(7.0, abs=1.0)
    assert not report.acceptable


def test_mottled_bowel_content_blocks_the_path_though_no_bubble_is_a_gas_pocket(context):
    report = context.analyze_path(TIP, THROUGH_CONTENT)
    assert _crossed(report, CONTENT)
    assert not _crossed(report, GAS)
    assert any(CONTENT in p for p in report.problems)


def test_a_bright_tube_is_a_vessel_but_an_enhanced_organ_is_not(context, labels, volume):
    report = context.analyze_path(TIP, THROUGH_VESSEL)
    assert _crossed(report, VESSEL)
    hazards = find_ct_hazards(volume, labels.voxels != 0, exclude=labels.mask("tumor"))
    kidney = _kidney_like(labels)
    assert np.count_nonzero(hazards.masks[VESSEL] & kidney) <= 0.02 * np.count_nonzero(kidney)
    assert not (hazards.masks[BONE] & kidney).any()


def test_a_clean_path_passes_and_names_no_hazard(context):
    report = context.analyze_path(TIP, CLEAN)
    assert report.acceptable, report.problems
    assert report.hazards_assessed


def test_the_entry_map_and_the_candidates_refuse_paths_through_hazards(context):
    outward = np.array([THROUGH_RIB, THROUGH_GAS, THROUGH_CONTENT, THROUGH_VESSEL, CLEAN])
    entry_map = feasible_entries(context, TIP, directions_lps=outward)
    assert entry_map.blocking_structure[:4] == (BONE, GAS, CONTENT, VESSEL)
    assert list(entry_map.reasons & BLOCKED != 0) == [True, True, True, True, False]
    chosen, _ = candidate_directions(context, np.asarray(TIP), count=20)
    assert chosen
    for direction in chosen:
        entry = np.asarray(TIP) - 100.0 * direction.insertion_lps
        assert context.analyze_path(TIP, entry).acceptable


def test_a_tip_beside_a_rib_may_leave_along_it_but_not_through_it(context):
    beside = (0.0, -29.0, 0.0)  # 1 mm from the rib plate, inside its 2-mm clearance
    along = context.analyze_path(beside, (80.0, -29.0, 0.0))
    assert not [p for p in along.problems if BONE in p]
    assert [h for h in along.hazards if h.name == BONE and not h.forbidden]
    through = context.analyze_path(beside, (0.0, -80.0, 0.0))
    assert _crossed(through, BONE)


def test_the_gas_hosting_a_lung_nodule_is_exempt_but_other_gas_is_not(labels, volume):
    lps = grid_lps(labels.geometry)
    hu = np.asarray(volume.voxels).copy()
    lung = (np.linalg.norm(lps, axis=-1) <= 25.0) & ~labels.mask("tumor")
    hu[lung] = -850
    context = TrajectoryContext(labels, PlanSettings(), volume=volume.with_voxels(hu))
    report = context.analyze_path(TIP, CLEAN)
    assert report.acceptable, report.problems
    assert f"{GAS} around the target" in report.exempt
    assert _crossed(context.analyze_path(TIP, THROUGH_GAS), GAS)


def test_ultrasound_says_hazards_were_not_assessed(labels, volume):
    echo = Volume(np.full(volume.shape, 80, dtype=np.int16), volume.geometry, "US")
    hazards = find_ct_hazards(echo, labels.voxels != 0)
    assert not hazards.assessed and "not assessed on this image" in hazards.note
    report = TrajectoryContext(labels, PlanSettings(), volume=echo).analyze_path(TIP, CLEAN)
    assert not report.hazards_assessed and not report.hazards


def test_hazards_survive_the_plan_file_and_old_files_still_load(context):
    from test_plan_json import _plan

    plan = _plan()
    report = context.analyze_path(TIP, THROUGH_RIB)
    metrics = dataclasses.replace(plan.metrics, paths=(report, report))
    plan = plan.with_metrics(metrics)
    data = plan_to_dict(plan)
    assert plan_from_dict(data) == plan
    assert data["metrics"]["paths"][0]["hazards"][0]["name"] in (BONE, VESSEL, GAS, CONTENT)
    for path in data["metrics"]["paths"]:
        del path["hazards"], path["hazards_assessed"]
    old = plan_from_dict(data).metrics.paths[0]
    assert old.hazards == () and not old.hazards_assessed
    assert isinstance(report.hazards[0], PathHazard)


ARGON = ProbeModel(
    id="test-argon", name="test argon", cryogen="argon", diameter_mm=2.4,
    active_length_mm=30.0, tip_offset_mm=5.0,
)  # fmt: skip


def test_the_optimizer_refuses_a_tumor_walled_in_by_gas_on_the_ct():
    phantom = torso_phantom(tumor_radius_mm=5.0)
    labels = LabelMap.empty(phantom.geometry).with_mask("body", phantom.voxels != 0)
    labels = labels.with_mask("tumor", phantom.mask("tumor"))
    radius = np.linalg.norm(grid_lps(labels.geometry), axis=-1)
    hu = np.where(labels.voxels == 0, -1000.0, SOFT_TISSUE_HU)
    # Gas-filled loops 14-17 mm from the centre, unlabelled: every straight path crosses them.
    hu[(radius >= 14.0) & (radius <= 17.0)] = -900.0
    volume = Volume(hu.astype(np.int16), labels.geometry, "CT")
    with pytest.raises(InfeasiblePlanError, match="no safe straight path") as caught:
        optimize_plan(
            volume, labels, probe_model=ARGON, verify_spacing_mm=2.0, robustness_samples=0,
            protocol_family_name=("F6-T8-F6",),
        )  # fmt: skip
    assert GAS in str(caught.value)


def test_evaluation_names_the_hazard_and_says_when_it_was_not_assessed(labels, volume):
    plan = Plan(
        probes=(PlannedProbe(ARGON.id, (0.0, 5.0, 0.0), THROUGH_RIB, "P1"),),
        protocol="F6-T8-F6",
        settings=PlanSettings(margin_mm=2.0),
    )
    models = {ARGON.id: ARGON}
    on_ct = evaluate_plan(plan, volume, labels, spacing_mm=2.0, probe_library=models).plan
    (path,) = on_ct.metrics.paths
    assert any(p.startswith(f"crosses {BONE} 2") for p in path.problems)
    echo = Volume(np.full(volume.shape, 80, dtype=np.int16), volume.geometry, "US")
    on_us = evaluate_plan(plan, echo, labels, spacing_mm=2.0, probe_library=models).plan
    assert not on_us.metrics.paths[0].hazards_assessed
    assert any("not assessed on this image" in w.text for w in on_us.warnings)


def test_hazards_are_found_once_per_image_and_body(labels, volume):
    # The app re-prepares the path analysis after every label edit.
    first = TrajectoryContext(labels, PlanSettings(), volume=volume)
    again = TrajectoryContext(labels.with_mask("tumor", labels.mask("tumor")), PlanSettings(),
                              volume=volume)  # fmt: skip
    assert again.hazards is first.hazards
    other = volume.with_voxels(np.asarray(volume.voxels).copy())
    assert TrajectoryContext(labels, PlanSettings(), volume=other).hazards is not first.hazards
