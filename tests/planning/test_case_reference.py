"""Content hash of the planning image and the case reference built on it."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from planning_core.errors import PlanFileError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.volume import Volume
from planning_core.planning.case_reference import CaseReference, volume_content_sha256


def _volume(dtype=np.int16, **metadata) -> Volume:
    voxels = (np.arange(4 * 5 * 6).reshape(4, 5, 6) - 60).astype(dtype)
    geometry = Geometry((4, 5, 6), (0.7, 0.7, 2.5), (-10.0, 20.0, 30.0))
    return Volume(voxels, geometry, "CT", dict(metadata))


def test_hash_matches_an_independent_computation_of_the_documented_recipe():
    volume = _volume()
    header = b"cryoplan-volume-content-v1\n"
    numbers = [4, 5, 6, 0.7, 0.7, 2.5, -10, 20, 30, 1, 0, 0, 0, 1, 0, 0, 0, 1]
    text = " ".join(f"{float(v):.6f}" for v in numbers).encode() + b"\n"
    expected = hashlib.sha256(header + text + volume.voxels.astype("<f4").tobytes()).hexdigest()
    assert volume_content_sha256(volume) == expected


def test_hash_ignores_storage_type_metadata_and_float_noise():
    reference = volume_content_sha256(_volume())
    assert volume_content_sha256(_volume(np.float32)) == reference
    assert volume_content_sha256(_volume(PatientName="X")) == reference
    noisy = _volume()
    shifted = Geometry(noisy.shape, noisy.geometry.spacing_mm, noisy.geometry.origin_lps_mm + 1e-8)
    assert volume_content_sha256(Volume(noisy.voxels, shifted, "CT")) == reference


def test_hash_changes_with_one_voxel_or_the_grid():
    volume = _volume()
    reference = volume_content_sha256(volume)
    edited = volume.voxels.copy()
    edited[2, 3, 4] += 1
    assert volume_content_sha256(volume.with_voxels(edited)) != reference
    moved = Geometry(volume.shape, volume.geometry.spacing_mm, (-10.0, 20.0, 31.0))
    assert volume_content_sha256(Volume(volume.voxels, moved, "CT")) != reference


def test_reference_takes_dicom_identifiers_from_metadata():
    volume = _volume(
        study_instance_uid="1.2.3", series_instance_uid="1.2.3.4", series_description="abdomen"
    )
    reference = CaseReference.for_volume(volume)
    assert reference.series_instance_uid == "1.2.3.4"
    assert reference.study_instance_uid == "1.2.3"
    assert reference.description == "abdomen"
    assert reference.matches(volume)


def test_plan_used_with_another_image_is_refused_naming_the_plan():
    reference = CaseReference.for_volume(_volume())
    other = _volume()
    other = other.with_voxels(other.voxels * 2)
    with pytest.raises(PlanFileError, match=r"plan\.json: the plan was made on another image"):
        reference.require_match(other, plan_name="plan.json")
