"""The device library (probes.json): schema, sources, recorded residuals, organ factors.

tests/thermal/test_calibration.py re-simulates every calibration row; this file
checks the library as data. Tolerances (stated in probes.json): an ``equal``
calibration row lies within 1.5 measurement SDs of its measurement, an
inequality holds within 0.5 mm, and an asserted organ factor lies within its
``sd_ratio`` of the published ratio.
"""

from __future__ import annotations

import copy
import json

import pytest

from planning_core.cli import main
from planning_core.errors import InvalidParameterError
from planning_core.planning.optimizer.optimize import default_probe_model
from planning_core.thermal.calibration import (
    CalibrationTarget,
    calibrate_library,
    simulate_organ_factor,
)
from planning_core.thermal.probes import (
    load_probe_library,
    parse_probe_library,
    probe_library_payload,
)

SD_FACTOR = 1.5
INEQUALITY_SLACK_MM = 0.5
LIBRARY = load_probe_library()
PAYLOAD = probe_library_payload()


def test_library_has_six_or_more_models_of_both_cryogens() -> None:
    cryogens = [model.cryogen for model in LIBRARY.models.values()]
    assert len(cryogens) >= 6
    assert {"argon", "liquid_nitrogen"} <= set(cryogens)


@pytest.mark.parametrize("model_id", sorted(LIBRARY.models))
def test_every_model_has_sources_dimensions_and_residuals_within_tolerance(
    model_id: str,
) -> None:
    model = LIBRARY.get(model_id)
    family = LIBRARY.family_of(model)
    assert family is not None and family.cryogen == model.cryogen
    assert family.sources and all(source.url and source.data for source in family.sources)
    calibration = model.calibration
    rows = calibration["targets"] + calibration["validation"]
    assert rows, f"{model_id} has no isotherm dimension to check against"
    for row in rows:
        target = CalibrationTarget.from_dict(row)
        assert target.measured_mm > 0 and target.sd_mm > 0
        assert row["residual_mm"] == pytest.approx(
            target.residual_mm(row["simulated_mm"]), abs=0.01
        )
        if not row.get("asserted", True):
            continue
        if target.relation == "equal":
            assert abs(row["residual_mm"]) <= SD_FACTOR * target.sd_mm, row["label"]
        else:
            assert abs(row["residual_mm"]) <= INEQUALITY_SLACK_MM, row["label"]


def test_asserted_organ_factors_agree_with_the_published_ratio() -> None:
    asserted = [factor for factor in LIBRARY.organ_factors if factor.asserted]
    assert asserted
    for factor in asserted:
        assert factor.measured_ratio is not None and factor.source is not None
        assert factor.residual == pytest.approx(factor.simulated_ratio - factor.measured_ratio)
        assert abs(factor.residual) <= factor.sd_ratio, factor.label


def test_recorded_organ_factor_is_what_the_engine_gives() -> None:
    factor = next(f for f in LIBRARY.organ_factors if f.organ == "lung")
    ratio = simulate_organ_factor(LIBRARY.get(factor.model), factor, spacing_mm=2.0)
    # Aerated lung insulates: smaller ice than in soft tissue (2 mm grid against the 1 mm fit).
    assert ratio < 1.0
    assert ratio == pytest.approx(factor.simulated_ratio, abs=0.05)


def test_defaults_are_data_not_the_widest_probe() -> None:
    widest_argon = max(
        (m for m in LIBRARY.models.values() if m.cryogen == "argon"), key=lambda m: m.diameter_mm
    )
    assert widest_argon.id != LIBRARY.defaults["argon"]
    assert default_probe_model(LIBRARY, "kidney").id == LIBRARY.defaults["argon"]
    assert default_probe_model(LIBRARY, "breast_tissue").id == LIBRARY.defaults["liquid_nitrogen"]


def test_an_alias_opens_its_model_and_unknown_ids_list_the_known_ones() -> None:
    for alias, model_id in LIBRARY.aliases.items():
        assert LIBRARY.get(alias) is LIBRARY.get(model_id)
    with pytest.raises(InvalidParameterError, match=r"argon-2\.4"):
        LIBRARY.get("no-such-probe")


def _broken(edit) -> dict:
    payload = copy.deepcopy(PAYLOAD)
    edit(payload)
    return payload


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p["families"][0].update(sources=[]), "at least one source"),
        (lambda p: p["families"][0]["sources"][0].pop("url"), "'url'"),
        (lambda p: p["families"][0].update(ice_shape="cube"), "ice_shape"),
        (lambda p: p["probes"][0].update(family="nowhere"), "unknown family"),
        (lambda p: p["probes"][0].pop("family"), "missing or malformed"),
        (lambda p: p["probes"][0].update(cryogen="liquid_nitrogen"), "differs from its family"),
        (lambda p: p["aliases"].update({"argon-1.7": "argon-2.4"}), "alias 'argon-1.7'"),
        (lambda p: p["defaults"].update(argon="ln2-10g"), "default for 'argon'"),
        (lambda p: p["organ_factors"][0].update(source=None), "needs its source"),
    ],
)
def test_the_schema_rejects_a_broken_library_with_a_clear_message(edit, message) -> None:
    with pytest.raises(InvalidParameterError, match=message) as caught:
        parse_probe_library(_broken(edit), where="lib.json")
    assert str(caught.value).startswith("lib.json")


def test_frozen_parameters_are_kept_while_residuals_are_re_evaluated(tmp_path) -> None:
    payload = copy.deepcopy(PAYLOAD)
    entry = next(e for e in payload["probes"] if e["id"] == "argon-2.4")
    entry["boundary"]["plateau_c"] = -100.0  # far from the fit: a refit would move it
    entry["calibration"]["targets"] = entry["calibration"]["targets"][:1]
    entry["calibration"]["validation"] = []
    payload["probes"] = [entry]
    payload["families"] = [f for f in payload["families"] if f["id"] == entry["family"]]
    payload.update(aliases={}, defaults={}, organ_factors=[])
    path = tmp_path / "probes.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    result = calibrate_library(path, spacing_mm=2.0)
    (written,) = result["probes"]
    assert written["boundary"]["plateau_c"] == -100.0
    (row,) = written["calibration"]["targets"]
    # A warmer wall makes smaller ice than the recorded fit.
    assert row["simulated_mm"] < entry["calibration"]["targets"][0]["measured_mm"]


def test_probes_json_lists_families_with_their_sources(capsys) -> None:
    assert main(["probes", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    families = {row["id"]: row for row in payload["families"]}
    for probe in payload["probes"]:
        family = families[probe["family"]]
        assert probe["id"] in family["models"]
        assert all(source["citation"] and source["url"] for source in family["sources"])
    assert payload["defaults"] == LIBRARY.defaults
    assert payload["organ_factors"][0]["measured_ratio"] is not None
