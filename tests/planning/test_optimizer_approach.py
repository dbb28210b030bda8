"""The optimizer with the approach rules: a prone patient's entries stay off the table."""

from __future__ import annotations

import numpy as np
from planning_phantoms import torso_phantom

from planning_core.imaging.volume import Volume
from planning_core.planning.approach import ApproachRules
from planning_core.planning.optimizer import optimize_plan
from planning_core.planning.settings import PlanSettings
from planning_core.thermal.probes import ProbeModel

ARGON = ProbeModel(
    id="test-argon", name="test argon", cryogen="argon", diameter_mm=2.4,
    active_length_mm=30.0, tip_offset_mm=5.0,
)  # fmt: skip
FAST = {
    "verify_spacing_mm": 2.0,
    "robustness_samples": 0,
    "protocol_family_name": ("F6-T8-F6", "F10-T8-F10"),
    "probe_model": ARGON,
}


def test_prone_entries_keep_off_the_table_only_with_the_approach_rules():
    # The phantom's front (y = -50 mm) rests on the table; the tumor lies 25 mm above it.
    labels = torso_phantom(tumor_center_lps_mm=(0.0, -25.0, 0.0), tumor_radius_mm=5.0)
    hu = np.where(labels.voxels == 0, -1000.0, 40.0).astype(np.int16)
    volume = Volume(hu, labels.geometry, "CT", {"patient_position": "HFP"})
    settings = PlanSettings(margin_mm=3.0, patient_position="HFP")
    plain = optimize_plan(volume, labels, settings=settings, **FAST)
    ruled = optimize_plan(volume, labels, settings=settings, approach_rules=ApproachRules(), **FAST)
    # Without the rules the short flank path just above the table wins; with them every
    # entry lies at least 40 mm above the front: y >= -10 mm.
    assert min(probe.entry_lps_mm[1] for probe in plain.plan.probes) < -10.0
    assert min(probe.entry_lps_mm[1] for probe in ruled.plan.probes) >= -10.0 - 1.0
    assert any("table on the patient's front" in line for line in ruled.log)
