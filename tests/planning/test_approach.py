"""Patient position, table side, gantry bore, angle limits and insertion order."""

from __future__ import annotations

import numpy as np
import pytest

from planning_core.errors import InvalidParameterError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.loader import load_image
from planning_core.imaging.volume import Volume
from planning_core.planning.approach import (
    CRANIOCAUDAL,
    DOWN_SIDE,
    GANTRY,
    AngleLimits,
    ApproachRules,
    PositionGroup,
    approach_for_case,
    find_table,
    insertion_order,
    position_group,
    read_patient_position,
    reasons_for,
)
from planning_core.planning.body import body_mask_from_ct

# A 320 mm field of view, 4 mm voxels, 12 slices of 5 mm; body: elliptic cylinder
# 200 mm wide (x) and 140 mm deep (y) around the z axis.
GEOMETRY = Geometry((12, 80, 80), (4.0, 4.0, 5.0), (-158.0, -158.0, -30.0))
HALF_WIDTH_MM, HALF_DEPTH_MM = 100.0, 70.0


def _grid() -> tuple[np.ndarray, np.ndarray]:
    ni, nj, _ = GEOMETRY.size_ijk
    x = GEOMETRY.origin_lps_mm[0] + 4.0 * np.arange(ni)
    y = GEOMETRY.origin_lps_mm[1] + 4.0 * np.arange(nj)
    return x[None, None, :], y[None, :, None]


def _body() -> np.ndarray:
    x, y = _grid()
    inside = (x / HALF_WIDTH_MM) ** 2 + (y / HALF_DEPTH_MM) ** 2 <= 1.0
    return np.broadcast_to(inside, GEOMETRY.shape).copy()


def _ct(table: str | None, *, position: str | None = "HFS", blanket: bool = False) -> Volume:
    """The body on air with an 8-mm table plate behind, in front or at the left of it."""
    x, y = _grid()
    hu = np.full(GEOMETRY.shape, -1000.0, dtype=np.float32)
    hu[_body()] = 20.0
    plate = np.zeros((1, *GEOMETRY.shape[1:]), dtype=bool)
    if table == "posterior":
        plate = (y >= 78.0) & (y <= 86.0) & (np.abs(x) <= 140.0)
    elif table == "anterior":
        plate = (y <= -78.0) & (y >= -86.0) & (np.abs(x) <= 140.0)
    elif table == "left":
        plate = (x >= 108.0) & (x <= 116.0) & (np.abs(y) <= 140.0)
    hu[np.broadcast_to(plate, GEOMETRY.shape)] = 200.0
    if blanket:
        # A sheet lying on the front of the patient, 4 mm above the skin.
        level = (x / (HALF_WIDTH_MM + 6.0)) ** 2 + (y / (HALF_DEPTH_MM + 6.0)) ** 2
        sheet = (np.abs(np.sqrt(level) - 1.0) < 0.03) & (y < -20.0)
        hu[np.broadcast_to(sheet, GEOMETRY.shape)] = -300.0
    metadata = {} if position is None else {"patient_position": position}
    return Volume(hu, GEOMETRY, "CT", metadata)


def test_patient_position_is_read_and_an_absent_one_is_unknown_never_guessed():
    reading = read_patient_position({"patient_position": " hfp "})
    assert (reading.position, reading.source, reading.known) == ("HFP", "header", True)
    absent = read_patient_position({"patient_position": ""})
    assert (absent.position, absent.source) == (None, "absent")
    assert "no Patient Position" in absent.describe()
    assert read_patient_position({}).source == "absent"
    odd = read_patient_position({"patient_position": "SITTING"})
    assert (odd.position, odd.source) == (None, "unrecognised")
    assert "'SITTING'" in odd.describe()


def test_position_groups():
    assert position_group("HFS") is PositionGroup.SUPINE
    assert position_group("FFP") is PositionGroup.PRONE
    assert position_group("HFDR") is PositionGroup.DECUBITUS
    with pytest.raises(InvalidParameterError, match="SITTING"):
        position_group("SITTING")


@pytest.mark.parametrize(
    ("table", "down"),
    [("posterior", (0, 1, 0)), ("anterior", (0, -1, 0)), ("left", (1, 0, 0))],
)
def test_the_table_plate_is_found_on_its_side(table, down):
    plate = find_table(_ct(table), body_mask=_body())
    assert plate is not None
    np.testing.assert_array_equal(plate.down_lps, down)
    assert plate.coverage > 0.9


def test_no_table_and_a_blanket_are_no_table():
    assert find_table(_ct(None), body_mask=_body()) is None
    assert find_table(_ct(None, blanket=True), body_mask=_body()) is None
    # A blanket on the front does not outvote the table behind.
    plate = find_table(_ct("posterior", blanket=True), body_mask=_body())
    assert plate is not None and plate.down_lps[1] == 1.0


def test_the_image_decides_the_side_and_says_when_the_header_disagrees():
    agreeing = approach_for_case(_ct("posterior", position="HFS"), body_mask=_body())
    assert agreeing.table_source == "image" and agreeing.notes == ()
    assert "table on the patient's back (image)" in agreeing.describe()
    disagreeing = approach_for_case(_ct("posterior", position="HFP"), body_mask=_body())
    assert disagreeing.down_lps[1] == 1.0
    assert any("does not fit patient position HFP" in note for note in disagreeing.notes)


def test_without_a_table_on_the_image_the_position_gives_the_side():
    approach = approach_for_case(_ct(None, position="HFP"), body_mask=_body())
    assert approach.table_source == "patient position"
    np.testing.assert_array_equal(approach.down_lps, (0.0, -1.0, 0.0))
    # The patient rests on the front of the body: its lowest point toward the table.
    assert approach.table_top_mm == pytest.approx(HALF_DEPTH_MM, abs=4.0)


def test_unknown_side_is_said_and_refuses_nothing():
    approach = approach_for_case(_ct(None, position=None), body_mask=_body())
    assert approach.down_lps is None
    assert any("no Patient Position" in note for note in approach.notes)
    assert any("table side unknown" in note for note in approach.notes)
    flags = approach.refusals([[0.0, 68.0, 0.0]], [[0.0, -1.0, 0.0]], [30.0])
    assert flags.tolist() == [0]


def test_entries_on_the_side_the_patient_lies_on_are_refused():
    approach = approach_for_case(_ct("posterior"), body_mask=_body())
    entries = [[0.0, 66.0, 0.0], [0.0, -68.0, 0.0], [98.0, 10.0, 0.0]]
    insertion = [[0.0, -1.0, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]
    flags = approach.refusals(entries, insertion, [40.0, 40.0, 40.0])
    # The back entry also sends the handle below the table top.
    assert flags.tolist() == [DOWN_SIDE | GANTRY, 0, 0]
    assert reasons_for(DOWN_SIDE) == ("entry on the side the patient lies on",)
    # Prone, the same back entry is the usual one and the front one is refused.
    prone = approach_for_case(_ct("anterior", position="HFP"), body_mask=_body())
    assert prone.refusals(entries, insertion, [40.0] * 3).tolist() == [0, DOWN_SIDE | GANTRY, 0]
    # A back entry 10 mm above the mattress, aimed along it, is refused for its side alone.
    level = approach.refusals([[-40.0, 60.0, 0.0]], [[1.0, 0.0, 0.0]], [40.0])
    assert level.tolist() == [DOWN_SIDE]


def test_the_probe_handle_must_stay_inside_the_gantry_bore():
    volume, body = _ct("posterior"), _body()
    entry, insertion = [[98.0, 0.0, 0.0]], [[-1.0, 0.0, 0.0]]  # horizontal, from the left flank
    short = approach_for_case(volume, body_mask=body)
    assert short.refusals(entry, insertion, [50.0]).tolist() == [0]  # handle end at x = 198 mm
    np.testing.assert_allclose(short.outer_ends_lps_mm(entry, insertion, [50.0]), [[198, 0, 0]])
    # A 250-mm shaft inserted 50 mm leaves 200 mm out plus the handle: x = 398 > 350 mm.
    long_shaft = approach_for_case(volume, body_mask=body, rules=ApproachRules(shaft_length_mm=250))
    assert long_shaft.refusals(entry, insertion, [50.0]).tolist() == [GANTRY]
    narrow = approach_for_case(volume, body_mask=body, rules=ApproachRules(bore_diameter_mm=380))
    assert narrow.refusals(entry, insertion, [50.0]).tolist() == [GANTRY]
    # A steep upward path from the side: the handle would go below the table top.
    climbing = [[0.70710678, -0.70710678, 0.0]]
    assert short.refusals([[-90.0, 30.0, 0.0]], climbing, [40.0]).tolist() == [DOWN_SIDE | GANTRY]


def test_placed_probes_are_judged_from_entry_and_tip():
    approach = approach_for_case(_ct("posterior"), body_mask=_body())
    entries = [[0.0, 66.0, 0.0], [0.0, -68.0, 0.0]]
    tips = [[0.0, 20.0, 0.0], [0.0, -20.0, 0.0]]
    assert approach.probe_refusals(entries, tips).tolist() == [DOWN_SIDE | GANTRY, 0]
    with pytest.raises(InvalidParameterError, match="coincide"):
        approach.probe_refusals(entries[:1], entries[:1])


def test_craniocaudal_limits_depend_on_the_position():
    tilted = [[0.0, 0.906307787, -0.422618262]]  # 25 degrees out of the axial plane
    entry = [[0.0, -68.0, 20.0]]
    supine = approach_for_case(_ct("posterior"), body_mask=_body())
    assert supine.max_craniocaudal_deg() == 30.0
    assert supine.refusals(entry, tilted, [40.0]).tolist() == [0]
    decubitus = approach_for_case(_ct(None, position="HFDL"), body_mask=_body())
    assert decubitus.max_craniocaudal_deg() == 20.0
    side_entry = [[-98.0, 0.0, 20.0]]
    sideways = [[0.906307787, 0.0, -0.422618262]]
    assert decubitus.refusals(side_entry, sideways, [40.0]).tolist() == [CRANIOCAUDAL]


def test_rules_are_checked():
    with pytest.raises(InvalidParameterError, match="bore_diameter_mm"):
        ApproachRules(bore_diameter_mm=50.0)
    with pytest.raises(InvalidParameterError, match="decubitus positions"):
        ApproachRules(
            angle_limits={PositionGroup.DECUBITUS: AngleLimits(max_craniocaudal_deg=95.0)}
        )
    with pytest.raises(InvalidParameterError, match="shaft_length_mm"):
        ApproachRules(shaft_length_mm=-1.0)
    with pytest.raises(InvalidParameterError, match="body_mask"):
        find_table(_ct("posterior"), body_mask=np.zeros((2, 2, 2), dtype=bool))


def test_insertion_order_is_deepest_first_then_most_tilted():
    tips = np.zeros((4, 3))
    entries = np.array(
        [
            [0.0, -40.0, 0.0],  # 40 mm, in plane
            [0.0, -80.0, 0.0],  # 80 mm, in plane
            [0.0, -68.9, 40.0],  # 79.7 mm, tilted 30 degrees: ties with the 80 mm one
            [0.0, -60.0, 0.0],  # 60 mm
        ]
    )
    steps = insertion_order(entries, tips)
    assert [step.probe_index for step in steps] == [2, 1, 3, 0]
    assert steps[0].craniocaudal_deg == pytest.approx(30.1, abs=0.2)
    strict = insertion_order(entries, tips, depth_tie_mm=0.0)
    assert [step.probe_index for step in strict] == [1, 2, 3, 0]
    # A fraction of a degree does not send an 83-mm probe before an 87-mm one.
    nearly_level = np.array([[0.0, -83.0, 0.6], [0.0, -87.0, 0.1], [0.0, -88.0, 0.0]])
    steps = insertion_order(nearly_level, np.zeros((3, 3)))
    assert [step.probe_index for step in steps] == [2, 1, 0]
    with pytest.raises(InvalidParameterError, match="coincide"):
        insertion_order([[0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0]])


def test_the_table_of_the_real_ct_is_found_behind_the_supine_patient(shared_dicom):
    volume = load_image(shared_dicom / "tcia-pancreas-ct")
    approach = approach_for_case(volume, body_mask=body_mask_from_ct(volume))
    assert approach.position.position == "HFS" and approach.table_source == "image"
    np.testing.assert_array_equal(approach.down_lps, (0.0, 1.0, 0.0))
    assert approach.notes == ()
    # The patient's back rests at y = 238.7 mm (the mattress lies below it).
    assert approach.table_top_mm == pytest.approx(238.7, abs=1.5)
