"""A prone (HFP) planning CT from the sample generator: table in front, same anatomy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pydicom
import pytest
from cryoplan_samples.canvas import Canvas
from cryoplan_samples.ct_cases import KIDNEY, generate_ct_case

from planning_core.errors import InvalidParameterError
from planning_core.imaging.dicom_write import write_ct_series
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.loader import load_image
from planning_core.imaging.volume import Volume
from planning_core.planning.approach import approach_for_case
from planning_core.planning.body import body_mask_from_ct


def _coarse_kidney(position: str):
    """The kidney case on a coarse grid (3.2 mm pixels, 12 slices of 5 mm), quick to paint."""
    return dataclasses.replace(
        KIDNEY, patient_position=position, matrix=112, pixel_mm=3.2, slice_mm=5.0, slices=12
    )


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    root = tmp_path_factory.mktemp("prone")
    return {
        position: generate_ct_case(
            _coarse_kidney(position), root / position, seed=7, uid_seed=f"prone-test-{position}"
        )
        for position in ("HFS", "HFP")
    }


@pytest.mark.parametrize(("position", "down"), [("HFS", (0, 1, 0)), ("HFP", (0, -1, 0))])
def test_the_table_lies_on_the_side_the_patient_rests_on(cases, position, down):
    folder, _ = cases[position]
    first = pydicom.dcmread(sorted(folder.glob("*.dcm"))[0], stop_before_pixels=True)
    assert first.PatientPosition == position
    volume = load_image(folder)
    approach = approach_for_case(volume, body_mask=body_mask_from_ct(volume))
    assert approach.table_source == "image" and approach.notes == ()
    np.testing.assert_array_equal(approach.down_lps, down)


def test_prone_keeps_the_anatomy_and_bowel_gas_rises_to_the_back(cases):
    (_, supine), (_, prone) = cases["HFS"], cases["HFP"]
    for name in ("kidney", "tumor", "bone", "aorta"):
        np.testing.assert_array_equal(supine.mask(name), prone.mask(name))
    # Gas sits in the part of each bowel loop away from the table: mean row j (toward +y,
    # the back) is larger prone than supine.
    rows = [np.argwhere(labels.mask("bowel_gas"))[:, 1].mean() for labels in (supine, prone)]
    assert rows[1] > rows[0] + 1.0


def test_only_supine_and_prone_are_generated_and_positions_are_checked(tmp_path):
    with pytest.raises(InvalidParameterError, match="HFDL"):
        Canvas(KIDNEY.geometry(), patient_position="HFDL")
    volume = Volume(
        np.zeros((1, 2, 2), dtype=np.float32), Geometry((1, 2, 2), (1, 1, 1), (0, 0, 0))
    )
    with pytest.raises(InvalidParameterError, match="patient_position"):
        write_ct_series(
            volume, tmp_path, identity=KIDNEY.identity(1), series_description="x",
            uid_seed="x", patient_position="SITTING",
        )  # fmt: skip


def test_the_shipped_kidney_case_is_prone_with_access_from_the_back(generated_cases):
    # Renal cryoablation is done prone: the kidney sample's planning CT is too, and a
    # cached supine copy (before revision 1) is regenerated.
    kidney = generated_cases["kidney"]
    assert kidney.manifest["patient_position"] == "HFP"
    assert kidney.manifest["case_revision"] == KIDNEY.revision == 1
    first = pydicom.dcmread(sorted(kidney.image_path.glob("*.dcm"))[0], stop_before_pixels=True)
    assert first.PatientPosition == "HFP"
    volume = load_image(kidney.image_path)
    approach = approach_for_case(volume, body_mask=body_mask_from_ct(volume))
    np.testing.assert_array_equal(approach.down_lps, (0, -1, 0))  # the table in front
    # A probe from the back toward the tumor is allowed, one from the front is refused.
    tumor = np.asarray(kidney.manifest["tumor"]["center_lps_mm"])
    entries = tumor + np.array([[0.0, 80.0, 0.0], [0.0, -120.0, 0.0]])
    assert approach.probe_refusals(entries, np.stack([tumor, tumor])).tolist()[0] == 0
    assert approach.probe_refusals(entries, np.stack([tumor, tumor])).tolist()[1] != 0
