"""Hydrodissection added, resized and removed by hand; the preview and the replay simulate it."""

from __future__ import annotations

import numpy as np
import pytest
from cryoplan_app.logic.evaluation import preview_for_display
from cryoplan_app.logic.growth import simulate_growth

from planning_core.errors import InvalidParameterError
from planning_core.planning.acceptance import CheckKind
from planning_core.thermal.protection import HydrodissectionLayer

#: The colon of these tests lies beyond P = 12 mm, 4 mm behind the 8-mm tumor.
COLON_FROM_Y_MM = 12.0


@pytest.fixture
def colon_logic(logic, tumor_lps):
    """The phantom with a colon slab behind the tumor and one probe through the tumor."""
    document = logic.session.document
    labels = document.labels
    geometry = labels.geometry
    nk, nj, ni = geometry.shape
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    y = geometry.index_to_lps(np.stack([i, j, k], axis=-1).astype(np.float64))[..., 1]
    colon = labels.mask("body") & (y >= COLON_FROM_Y_MM) & (y <= 30.0)
    document.set_labels(labels.with_mask("colon", colon))
    # From the right flank, its freezing segment through the tumor, parallel to the colon:
    # 8 min of freezing bring the bare ice into it.
    tip = np.asarray(tumor_lps, dtype=float) + np.array([18.0, 0.0, 0.0])
    document.add_probe_at(tip)
    document.move_probe(0, entry_lps_mm=tip - np.array([100.0, 0.0, 0.0]))
    document.set_protocol("F8")
    return logic


def test_hydrodissection_is_added_resized_and_removed_undoably(colon_logic):
    protection, document = colon_logic.protection, colon_logic.session.document
    assert "colon" in protection.organs() and "body" not in protection.organs()
    protection.add_hydrodissection("colon", thickness_mm=6.0)
    (item,) = document.plan.protection
    layer = item.measure
    assert item.structure == "colon" and isinstance(layer, HydrodissectionLayer)
    assert layer.infused and layer.temperature_c == 37.0 and layer.thickness_mm == 6.0
    # Across the gap toward the colon, the fluid filling the colon's first 6 mm.
    np.testing.assert_allclose(layer.normal, (0.0, 1.0, 0.0), atol=0.2)
    near_face = layer.center_lps_mm - 3.0 * layer.normal
    assert near_face[1] == pytest.approx(COLON_FROM_Y_MM, abs=1.5)
    protection.set_thickness(0, 10.0)
    thicker = document.plan.protection[0].measure
    assert thicker.thickness_mm == 10.0
    np.testing.assert_allclose(thicker.center_lps_mm - 5.0 * thicker.normal, near_face)
    assert document.history.undo_text == "Hydrodissection 10 mm for the colon"
    document.history.undo()
    assert document.plan.protection[0].measure.thickness_mm == 6.0
    protection.add_hydrodissection("colon", thickness_mm=8.0)  # replaces, never doubles
    assert [p.measure.thickness_mm for p in document.plan.protection] == [8.0]
    protection.remove(0)
    assert document.plan.protection == ()
    with pytest.raises(InvalidParameterError, match="'Fluid thickness'"):
        protection.add_hydrodissection("colon", thickness_mm=40.0)
    with pytest.raises(InvalidParameterError, match="no 'liver'"):
        protection.add_hydrodissection("liver", thickness_mm=10.0)


def test_preview_and_growth_replay_keep_the_ice_off_the_protected_colon(colon_logic, probe_library):
    document = colon_logic.session.document
    bare_plan = document.plan
    colon_logic.protection.add_hydrodissection("colon", thickness_mm=6.0)
    protected_plan = document.plan
    labels = document.labels
    layer = protected_plan.protection[0].measure

    bare = preview_for_display(bare_plan, probe_library=probe_library)
    shielded = preview_for_display(protected_plan, probe_library=probe_library)
    behind = layer.shielded(shielded.geometry)
    assert bare.min_temperature_c[behind].min() < 0.0  # the bare ice reaches the colon
    assert shielded.min_temperature_c[behind].min() >= 37.0 - 1e-3
    np.testing.assert_array_equal(
        shielded.min_temperature_c[~behind], bare.min_temperature_c[~behind]
    )

    volume = colon_logic.session.case.volume
    replays = [
        simulate_growth(plan, volume, labels, probe_library=probe_library, spacing_mm=2.0)
        for plan in (bare_plan, protected_plan)
    ]
    colon = labels.mask("colon") & ~layer.mask(labels.geometry)
    coldest = [replay.resampled(labels.geometry)[colon].min() for replay in replays]
    assert coldest[1] > coldest[0] + 5.0  # the held fluid shields the colon behind it


def test_the_app_verdict_names_the_protection_its_evaluation_simulated(colon_logic, runner):
    document, evaluation = colon_logic.session.document, colon_logic.evaluation
    colon_logic.protection.add_hydrodissection("colon", thickness_mm=6.0)
    evaluation.evaluate_now()
    runner.run_pending()
    organs = evaluation.acceptance.check(CheckKind.ORGANS)
    assert "with the simulated hydrodissection 6 mm" in organs.value
    # Removed since: the results shown were simulated with it, the plan no longer holds it.
    colon_logic.protection.remove(0)
    assert document.results is not None and not document.results_fresh
    assert "hydrodissection" not in evaluation.acceptance.check(CheckKind.ORGANS).value
