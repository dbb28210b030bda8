"""Simulation set-up (box, tissue classes) and result helpers (isotherms, saving, loading)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from planning_core.errors import InvalidParameterError, PlanningError, SolverError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap, standard_label
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import read_volume
from planning_core.thermal.measure import isotherm_dimensions
from planning_core.thermal.probes import PlacedProbe, load_probe_library
from planning_core.thermal.protocol import parse_protocol
from planning_core.thermal.result import SimulationResult, load_result_fields
from planning_core.thermal.setup import box_around_probes, build_setup
from planning_core.thermal.solver import simulate


def _probe(x_mm: float = 0.0, model_id: str = "argon-2.4") -> PlacedProbe:
    model = load_probe_library().get(model_id)
    tip = np.array([x_mm, 0.0, -(model.tip_offset_mm + 0.5 * model.active_length_mm)])
    return PlacedProbe(model, tip, tip + np.array([0.0, 0.0, 150.0]))


@lru_cache(maxsize=1)
def _gel_result() -> SimulationResult:
    setup = build_setup([_probe()], medium="gel", spacing_mm=2.0)
    return simulate(
        setup,
        parse_protocol("F5-T2-F3"),
        record_times_s=(300.0,),
        record_points_lps=[[0.0, 0.0, 0.0], [8.0, 0.0, 0.0]],
    )


def test_box_encloses_the_freezing_segments_with_the_margin() -> None:
    probe = _probe()
    box = box_around_probes([probe], spacing_mm=2.0, margin_mm=20.0)
    low, high = box.corners_lps().min(axis=0), box.corners_lps().max(axis=0)
    for end in (probe.active_start_lps_mm, probe.active_end_lps_mm):
        assert np.all(end - low >= 20.0) and np.all(high - end >= 20.0)
    assert all(n % 2 == 1 for n in box.shape)


def test_labels_and_hounsfield_units_choose_the_tissue_classes() -> None:
    geometry = Geometry((40, 40, 40), (2.0, 2.0, 2.0), (-40.0, -40.0, -40.0))
    hu = np.full(geometry.shape, 40, dtype=np.int16)
    hu[:, :, :5] = -100  # fat by Hounsfield units
    labels = np.zeros(geometry.shape, dtype=np.uint8)
    kidney, tumor = standard_label("kidney"), standard_label("tumor")
    labels[:, 10:30, 10:30] = kidney.value
    labels[18:22, 18:22, 18:22] = tumor.value
    setup = build_setup(
        [_probe()],
        volume=Volume(hu, geometry, "CT"),
        labels=LabelMap(labels, geometry, (kidney, tumor)),
        grid=geometry,
    )
    keys = np.array([t.key for t in setup.tissues])[setup.tissue_index]
    assert keys[20, 20, 20] == "kidney"  # the tumor takes its host organ's class
    assert keys[20, 15, 15] == "kidney"
    assert keys[20, 35, 35] == "soft_tissue"
    assert keys[20, 35, 2] == "fat"


def test_probe_outside_the_grid_and_medium_with_image_are_refused() -> None:
    small = Geometry((5, 5, 5), (1.0, 1.0, 1.0), (50.0, 50.0, 50.0))
    with pytest.raises(SolverError, match="outside the simulation grid"):
        simulate(build_setup([_probe()], grid=small), parse_protocol("F1"))
    volume = Volume(np.zeros(small.shape, np.int16), small, "CT")
    with pytest.raises(InvalidParameterError, match="either medium"):
        build_setup([_probe()], medium="gel", volume=volume)


def test_protocol_driving_a_missing_probe_is_refused() -> None:
    from planning_core.thermal.protocol import Phase, Protocol

    setup = build_setup([_probe()], medium="gel", spacing_mm=2.0, margin_mm=10.0)
    with pytest.raises(InvalidParameterError, match="drives probe 2"):
        simulate(setup, Protocol((Phase("freeze", 60.0, (1,)),)))


def test_isotherms_nest_and_surfaces_lie_in_lps() -> None:
    result = _gel_result()
    volumes = [result.isotherm_volume_ml(t) for t in (0.0, -20.0, -40.0)]
    assert volumes[0] > volumes[1] > volumes[2] > 0
    mask_volume = np.count_nonzero(result.isotherm_mask(0.0)) * 8.0 / 1000.0
    assert volumes[0] == pytest.approx(mask_volume, rel=0.1)
    vertices, faces = result.isotherm_surface(0.0)
    assert len(faces) > 100
    radial = np.hypot(vertices[:, 0], vertices[:, 1])
    dims = isotherm_dimensions(result, (0.0,))[0]
    assert radial.max() == pytest.approx(0.5 * dims.max_diameter_mm, abs=1.5)
    assert dims.equivalent_diameter_mm <= dims.max_diameter_mm + 0.1


def test_point_history_and_snapshots() -> None:
    result = _gel_result()
    assert result.point_temperatures_c.shape == (2, len(result.point_times_s))
    near, far = result.point_temperatures_c
    assert near.min() < far.min() < 37.0
    # The passive thaw (5-7 min) warms the ice: the history is not monotone.
    during_thaw = (result.point_times_s > 300.0) & (result.point_times_s <= 420.0)
    assert near[during_thaw][-1] > near[during_thaw][0]
    assert result.field(300.0).shape == result.geometry.shape
    with pytest.raises(InvalidParameterError, match="recorded time"):
        result.field(123.0)


def test_isotherm_mask_resamples_onto_an_image_grid() -> None:
    result = _gel_result()
    image = Geometry((30, 30, 30), (1.0, 1.0, 1.0), (-14.5, -14.5, -14.5))
    mask = result.isotherm_mask(0.0, geometry=image)
    assert mask.shape == image.shape
    lps = image.index_to_lps(np.array([[14.5, 14.5, 14.5]]))[0]
    assert np.allclose(lps, 0.0)
    assert mask[14, 14, 14] and not mask[0, 0, 0]


def test_fields_round_trip_through_npz(tmp_path) -> None:
    result = _gel_result()
    path = result.save_fields(tmp_path / "fields.npz")
    loaded = load_result_fields(path)
    assert np.array_equal(loaded.min_temperature_c, result.min_temperature_c)
    assert np.array_equal(loaded.final_temperature_c, result.final_temperature_c)
    assert np.allclose(loaded.geometry.origin_lps_mm, result.geometry.origin_lps_mm)
    assert loaded.protocol == result.protocol
    assert loaded.probes[0].model == result.probes[0].model
    assert np.array_equal(loaded.probes[0].tip_lps_mm, result.probes[0].tip_lps_mm)
    assert loaded.snapshots_c.keys() == {300.0}
    assert loaded.isotherm_volume_ml(-20.0) == pytest.approx(result.isotherm_volume_ml(-20.0))


def test_loading_a_foreign_file_names_it(tmp_path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, values=np.zeros(3))
    with pytest.raises(PlanningError, match=r"other\.npz"):
        load_result_fields(path)
    with pytest.raises(PlanningError, match=r"missing\.npz"):
        load_result_fields(tmp_path / "missing.npz")


def test_minimum_field_saves_as_nifti(tmp_path) -> None:
    result = _gel_result()
    path = result.save_fields(tmp_path / "ice.nii.gz")
    volume = read_volume(path)
    assert np.allclose(volume.voxels, result.min_temperature_c)
    assert (tmp_path / "ice_final.nii.gz").exists()


def test_small_box_warns_about_its_boundary() -> None:
    setup = build_setup([_probe()], medium="gel", spacing_mm=2.0, margin_mm=8.0)
    result = simulate(setup, parse_protocol("F10"))
    box = [w for w in result.warnings if "simulation box is too small" in w]
    # Worded with the user's names: the flag that enlarges the box, never the internal
    # field, which reads like the ablative margin.
    assert box and all("--box-margin-mm" in w and "margin_mm" not in w for w in box)
