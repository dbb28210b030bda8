"""Plan settings: declared ranges, defaults, clearances and patient positions."""

from __future__ import annotations

import numpy as np
import pytest

from planning_core.errors import InvalidParameterError
from planning_core.planning.parameters import ParameterRange
from planning_core.planning.settings import SETTING_RANGES, PlanSettings


def test_defaults_follow_clinical_practice():
    settings = PlanSettings()
    assert settings.margin_mm == 5.0
    assert settings.lethal_isotherm_c == -40.0
    assert settings.patient_position == "HFS"
    assert settings.oar_clearance_mm("bowel") == 10.0
    assert settings.oar_clearance_mm("an_unlisted_organ") == settings.default_oar_clearance_mm
    assert settings.path_clearance_mm("bone") == 2.0


def test_every_scalar_setting_has_a_declared_range_holding_its_default():
    settings = PlanSettings()
    for name, declared in SETTING_RANGES.items():
        assert declared.minimum <= getattr(settings, name) <= declared.maximum, name
        assert declared.unit is not None and declared.description


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("margin_mm", -1.0),
        ("margin_mm", 25.0),
        ("lethal_isotherm_c", 0.0),
        ("max_probes", 0),
        ("max_probes", 2.5),
        ("max_craniocaudal_angle_deg", 95.0),
        ("usable_length_mm", float("nan")),
        ("margin_mm", "5"),
        ("margin_mm", True),
    ],
)
def test_out_of_range_or_malformed_setting_is_refused_by_name(name, value):
    with pytest.raises(InvalidParameterError, match=name):
        PlanSettings(**{name: value})


def test_lethal_isotherm_of_minus_20_is_selectable():
    assert PlanSettings(lethal_isotherm_c=-20.0).metric_isotherms_c() == (0.0, -20.0, -40.0)


def test_metric_isotherms_always_include_ice_edge_and_lethal_isotherm():
    settings = PlanSettings(reported_isotherms_c=(-10.0,), lethal_isotherm_c=-30.0)
    assert settings.metric_isotherms_c() == (0.0, -10.0, -30.0)


def test_spacing_limits_must_be_ordered():
    with pytest.raises(InvalidParameterError, match="min_probe_spacing_mm"):
        PlanSettings(min_probe_spacing_mm=25.0, max_probe_spacing_mm=20.0)


def test_clearance_entry_out_of_range_names_the_label():
    with pytest.raises(InvalidParameterError, match=r"oar_clearances_mm\['bowel'\]"):
        PlanSettings(oar_clearances_mm={"bowel": -2.0})


def test_reported_isotherm_above_zero_is_refused():
    with pytest.raises(InvalidParameterError, match=r"reported_isotherms_c\[1\]"):
        PlanSettings(reported_isotherms_c=(0.0, 5.0))


def test_unknown_patient_position_is_refused():
    with pytest.raises(InvalidParameterError, match="patient_position"):
        PlanSettings(patient_position="standing")


def test_clearances_are_read_only_and_compare_by_value():
    settings = PlanSettings(path_clearances_mm={"bone": 3.0})
    with pytest.raises(TypeError):
        settings.path_clearances_mm["bone"] = 0.0  # type: ignore[index]
    assert settings == PlanSettings(path_clearances_mm={"bone": 3.0})
    assert settings.as_dict()["path_clearances_mm"] == {"bone": 3.0}


@pytest.mark.parametrize(
    ("position", "down"),
    [("HFS", (0, 1, 0)), ("FFS", (0, 1, 0)), ("HFP", (0, -1, 0)), ("HFDL", (1, 0, 0))],
)
def test_table_lies_posterior_for_supine_and_anterior_for_prone(position, down):
    np.testing.assert_array_equal(
        PlanSettings(patient_position=position).table_direction_lps(), down
    )


def test_integer_range_returns_an_int():
    count = ParameterRange("count", "", 1, 5, "a count", integer=True)
    assert count.validate(3.0) == 3
    assert isinstance(count.validate(3.0), int)
