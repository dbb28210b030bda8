"""The intra-procedural series' rules shared by ``cryoplan confirm`` and the app's Confirm step."""

from __future__ import annotations

import re

import numpy as np
import pytest

from planning_core.confirm.follow_up import (
    CLI_NAMES,
    InputNames,
    check_intra_series,
    elapsed_freeze_s,
)
from planning_core.errors import ConfirmationError, InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.volume import Volume
from planning_core.thermal.protocol import parse_protocol

PROTOCOL = parse_protocol("F10-T8-F10")
FIELDS = InputNames("Series folder", "its own folder", "Elapsed (min)", "Started at")


def ct(**metadata: str) -> Volume:
    geometry = Geometry((2, 2, 2), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    return Volume(np.zeros((2, 2, 2), np.int16), geometry, "CT", metadata=metadata)


def test_the_elapsed_freeze_from_minutes_or_from_the_series_time():
    assert elapsed_freeze_s(None, PROTOCOL, elapsed_min=6.0) == 360.0
    taken = ct(acquisition_time="101500")
    assert elapsed_freeze_s(taken, PROTOCOL, freeze_start="10:00") == 900.0
    assert elapsed_freeze_s(ct(series_time="100500"), PROTOCOL, freeze_start="10:00") == 300.0


@pytest.mark.parametrize(
    ("intra", "options", "expected"),
    [
        (None, {}, "give Elapsed (min)"),
        (None, {"elapsed_min": -1.0}, "Elapsed (min) must be a positive"),
        (None, {"elapsed_min": 40.0}, "outside the protocol F10-T8-F10"),
        (ct(), {"freeze_start": "10:00"}, "no acquisition or series time; give Elapsed (min)"),
        (ct(series_time="101500"), {"freeze_start": "ten"}, "Started at must be a clock time"),
    ],
)
def test_the_messages_name_the_callers_inputs(intra, options, expected):
    with pytest.raises(InvalidParameterError, match=re.escape(expected)) as raised:
        elapsed_freeze_s(intra, PROTOCOL, names=FIELDS, **options)
    assert "--" not in str(raised.value)
    with pytest.raises(InvalidParameterError, match=r"--elapsed-min|--freeze-start"):
        elapsed_freeze_s(intra, PROTOCOL, names=CLI_NAMES, **options)


def test_the_planning_ct_itself_or_another_patients_series_is_refused():
    planning = ct(series_instance_uid="1.2.3", patient_id="A")
    check_intra_series(ct(series_instance_uid="1.2.4", patient_id="A"), planning, location="x")
    with pytest.raises(ConfirmationError, match="Series folder d is the planning CT itself"):
        check_intra_series(planning, planning, location="d", names=FIELDS)
    with pytest.raises(ConfirmationError, match="--intra d belongs to another patient"):
        check_intra_series(ct(series_instance_uid="9", patient_id="B"), planning, location="d")
