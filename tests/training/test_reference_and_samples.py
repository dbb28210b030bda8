"""The optimizer as reference plan, and a sample case in the library."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from training_phantom import phantom_case

from planning_core.imaging.volume_io import write_label_map, write_volume
from planning_core.planning.settings import PlanSettings
from planning_core.training.assessment import assess_plan, optimize_reference
from planning_core.training.database import connect
from planning_core.training.library import (
    OPTIMIZER_AUTHOR,
    import_case,
    import_sample_case,
    load_reference_plan,
)


@pytest.mark.slow
def test_optimized_reference_scores_at_least_as_high_as_it_shifted(tmp_path):
    volume, labels = phantom_case()
    write_volume(volume, tmp_path / "image.mha")
    write_label_map(labels, tmp_path / "labels.nii.gz")
    connection = connect(tmp_path / "lib" / "library.sqlite3")
    import_case(connection, tmp_path / "image.mha", tmp_path / "labels.nii.gz", case_id="ph")
    case = optimize_reference(connection, "ph", settings=PlanSettings(margin_mm=3.0))
    assert case.reference_author == OPTIMIZER_AUTHOR and case.reference_grid_mm == 2.0
    reference = load_reference_plan(case)
    assert not reference.metrics_stale()

    as_is = assess_plan(case, reference, volume=volume, label_map=labels)
    offset = np.array([0.0, 0.0, 4.0])  # every probe 4 mm toward the head
    shifted = reference.with_probes(
        tuple(
            dataclasses.replace(
                probe,
                tip_lps_mm=tuple(np.add(probe.tip_lps_mm, offset)),
                entry_lps_mm=tuple(np.add(probe.entry_lps_mm, offset)),
            )
            for probe in reference.probes
        )
    )
    moved = assess_plan(case, shifted, volume=volume, label_map=labels)
    assert as_is.score.total == pytest.approx(100.0)
    assert moved.score.total < as_is.score.total
    # The red surface the app shows lies on the tumor only.
    assert not (moved.undertreated_surface & ~labels.mask("tumor")).any()
    connection.close()


def test_breast_sample_case_is_imported_with_its_manifest_facts(tmp_path):
    connection = connect(tmp_path / "library.sqlite3")
    case = import_sample_case(connection, "breast")
    from cryoplan_samples import ensure_sample_case

    manifest = ensure_sample_case("breast").manifest
    assert case.id == "breast" and case.modality == "US"
    assert case.title == manifest["title"] and case.organ == manifest["organ"]
    # The manifest's distances and diameter are measured independently by the generator.
    nearby = manifest["nearby_structures_mm"]
    assert case.tags.nearest_oar_mm == pytest.approx(nearby[case.tags.nearest_oar], abs=0.05)
    assert case.tags.tumor_diameter_mm == pytest.approx(manifest["tumor"]["diameter_mm"], abs=1.5)
    assert case.tags.tumor_volume_ml == pytest.approx(manifest["tumor"]["volume_ml"], rel=1e-3)
    connection.close()
