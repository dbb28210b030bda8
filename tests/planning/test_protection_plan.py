"""The optimizer plans hydrodissection where no layout keeps an organ clear, and checks it."""

from __future__ import annotations

import numpy as np
from planning_phantoms import grid_lps, torso_phantom, with_label

from planning_core.imaging.volume import Volume
from planning_core.planning.acceptance import CheckKind
from planning_core.planning.optimizer import optimize_plan
from planning_core.planning.settings import PlanSettings
from planning_core.thermal.probes import ProbeModel
from planning_core.thermal.protection import HydrodissectionLayer

ARGON = ProbeModel(
    id="test-argon", name="test argon", cryogen="argon", diameter_mm=2.4,
    active_length_mm=30.0, tip_offset_mm=5.0,
)  # fmt: skip
FAST = {
    "verify_spacing_mm": 2.0,
    "robustness_samples": 0,
    "protocol_family_name": ("F6-T8-F6", "F10-T8-F10"),
}


def _case(colon_z_mm: float):
    """A 5-mm tumor with the colon above and the bowel below it, 23 mm away (along S).

    With a 3-mm margin the ice must reach about 17 mm from the tumor centre, which
    no layout keeps 10 mm from both (they are 28 mm from the centre), yet neither
    lies closer than the margin, the clearance and the ice edge's gap: the search
    refused here.
    """
    labels = torso_phantom(tumor_radius_mm=5.0)
    lps = grid_lps(labels.geometry)
    for name, z in (("colon", colon_z_mm), ("bowel", -colon_z_mm)):
        organ = np.linalg.norm(lps - [0.0, 0.0, z], axis=-1) <= 5.0
        labels = with_label(labels, name, organ)
    hu = np.where(labels.voxels == 0, -1000.0, 40.0)
    hu[labels.mask("bone")] = 700.0
    return Volume(hu.astype(np.int16), labels.geometry, "CT"), labels


def test_organs_no_layout_keeps_clear_get_hydrodissection_and_are_clear_behind_it():
    volume, labels = _case(33.0)
    # One freeze only: the shorter F6-T8-F6 of FAST stops its 0 °C edge right at the 10 mm
    # clearance (10.4 mm on one CPU, under 10 on another: the vector width changes the
    # floating-point sums), which would make the outcome depend on the machine.
    options = {**FAST, "protocol_family_name": ("F10-T8-F10",)}
    result = optimize_plan(
        volume, labels, settings=PlanSettings(margin_mm=3.0), probe_model=ARGON, **options
    )
    plan = result.plan
    assert result.needs_protection == ()  # neither lies too close for any layout ...
    # ... but the layouts covering the margin all bring the ice near both: fluid instead.
    assert sorted(item.structure for item in plan.protection) == ["bowel", "colon"]
    assert all(isinstance(item.measure, HydrodissectionLayer) for item in plan.protection)
    assert [p.structure for p in result.protection] == [i.structure for i in plan.protection]
    assert not plan.metrics_stale()  # simulated with the fluid in place
    organs = result.acceptance.check(CheckKind.ORGANS)
    assert organs.passed is not False and "with the simulated hydrodissection" in organs.value
    for oar in plan.metrics.oars:
        if oar.name in ("colon", "bowel"):
            # No distance when the 10-mm layer took every voxel of these 10-mm organs.
            assert oar.clear, oar
            assert oar.distance_to_ice_mm is None or oar.distance_to_ice_mm >= 10.0, oar
    assert plan.metrics.coverage_at(-40.0).tumor_and_margin_percent >= 99.0
    assert any("hydrodissection is planned" in w.text for w in plan.warnings)
    assert any(line.startswith("simulated again with the proposed") for line in result.log)
