"""``cryoplan probes`` and ``cryoplan simulate``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from planning_core.cli import main
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap, standard_label
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import write_label_map, write_volume
from planning_core.thermal.result import load_result_fields

PROBE_ARGS = ["--probe", "argon-2.4", "--tip", "0,0,-20", "--entry", "0,0,100"]


def test_probes_json_lists_the_library(capsys) -> None:
    assert main(["probes", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    rows = {row["id"]: row for row in payload["probes"]}
    assert rows["ln2-10g"]["cryogen"] == "liquid_nitrogen"
    assert rows["argon-1.7"]["diameter_mm"] == 1.7
    for row in rows.values():
        assert row["active_length_mm"] > 0 and row["calibration_source"]


def test_probes_text_lists_every_id(capsys) -> None:
    assert main(["probes"]) == 0
    out = capsys.readouterr().out
    assert all(model in out for model in ("argon-2.4", "argon-1.7", "ln2-10g", "ln2-13g"))


def test_simulate_phantom_json_reports_each_isotherm(capsys, tmp_path) -> None:
    fields = tmp_path / "fields.npz"
    argv = ["simulate", "--medium", "agar", "--initial-temperature", "39", *PROBE_ARGS]
    argv += ["--protocol", "F6", "--spacing", "2", "--isotherms", "0,-30"]
    argv += ["--save-fields", str(fields), "--json"]
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    ice, lethal = payload["isotherms"]
    assert (ice["temperature_c"], lethal["temperature_c"]) == (0.0, -30.0)
    assert ice["volume_ml"] > lethal["volume_ml"] > 0
    assert ice["equivalent_diameter_mm"] == pytest.approx(
        2.0 * np.sqrt(ice["area_mm2"] / np.pi), rel=1e-9
    )
    assert ice["axial_length_mm"] > ice["equivalent_diameter_mm"]
    assert payload["wall_s"] > 0 and payload["tissues"] == ["agar"]
    assert load_result_fields(fields).body_temperature_c == 39.0


def test_simulate_volume_with_labels(capsys, tmp_path) -> None:
    geometry = Geometry((60, 50, 50), (2.0, 2.0, 2.0), (-50.0, -50.0, -70.0))
    write_volume(Volume(np.full(geometry.shape, 40, np.int16), geometry, "CT"), tmp_path / "ct.mha")
    liver = standard_label("liver")
    labels = LabelMap(np.full(geometry.shape, liver.value, np.uint8), geometry, (liver,))
    write_label_map(labels, tmp_path / "labels.nii.gz")
    argv = ["simulate", str(tmp_path / "ct.mha"), "--labels", str(tmp_path / "labels.nii.gz")]
    argv += [*PROBE_ARGS, "--protocol", "F3", "--spacing", "2", "--margin", "20", "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["tissues"] == ["liver"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--medium", "gel", "--probe", "argon-2.4"], "--probe MODEL --tip"),
        (["--medium", "gel", *PROBE_ARGS[:2], "--tip", "0,0,0", "--entry", "0,0,9"], "entry"),
        (["--medium", "jelly", *PROBE_ARGS], "unknown tissue"),
        (["--medium", "gel", *PROBE_ARGS, "--protocol", "F10-X3"], "not a preset"),
        (["--medium", "gel", *PROBE_ARGS, "--isotherms", "0,abc"], "--isotherms"),
        ([*PROBE_ARGS], "CASE"),
    ],
)
def test_simulate_bad_input_fails_with_one_line(capsys, extra, message) -> None:
    assert main(["simulate", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
