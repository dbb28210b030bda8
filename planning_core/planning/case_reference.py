"""Which image a plan was made on: DICOM identifiers plus a content hash of voxels and grid."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from planning_core.errors import PlanFileError
from planning_core.imaging.volume import Volume

_HASH_HEADER = b"cryoplan-volume-content-v1\n"


def volume_content_sha256(volume: Volume) -> str:
    """SHA-256 (hex) of a volume's voxel values and grid placement.

    The digest covers the grid shape, spacing, origin and direction (rounded to
    1e-6 mm, so that float noise from different readers does not matter) and the
    voxel values as little-endian float32 in ``[k, j, i]`` order. The same image
    therefore hashes the same whether it came from DICOM, NIfTI or NRRD, whatever
    integer or float type held it; metadata (names, UIDs) does not enter.

    Parameters
    ----------
    volume : Volume
        The image.

    Returns
    -------
    str
        64 lowercase hexadecimal characters.
    """
    geometry = volume.geometry
    digest = hashlib.sha256(_HASH_HEADER)
    numbers = [
        *geometry.shape,
        *geometry.spacing_mm,
        *geometry.origin_lps_mm,
        *geometry.direction.reshape(-1),
    ]
    # Adding 0.0 turns a rounded -0.0 into 0.0 so both print the same.
    digest.update(" ".join(f"{round(float(v), 6) + 0.0:.6f}" for v in numbers).encode() + b"\n")
    for voxel_slice in volume.voxels:
        canonical = (voxel_slice.astype(np.float32) + np.float32(0.0)).astype("<f4", copy=False)
        digest.update(canonical.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class CaseReference:
    """Identifies the image a plan belongs to.

    Attributes
    ----------
    content_sha256 : str
        :func:`volume_content_sha256` of the planning image; the authoritative check.
    study_instance_uid, series_instance_uid, frame_of_reference_uid : str
        DICOM identifiers (empty for images from volume files).
    description : str
        Human-readable source: series description, file name or sample case name.
    """

    content_sha256: str
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    frame_of_reference_uid: str = ""
    description: str = ""

    @classmethod
    def for_volume(cls, volume: Volume, *, description: str | None = None) -> CaseReference:
        """Reference to ``volume``, taking identifiers from its metadata.

        Parameters
        ----------
        volume : Volume
            The planning image.
        description : str, optional
            Overrides the series description found in the metadata.
        """
        metadata = volume.metadata

        def text(key: str) -> str:
            value = metadata.get(key, "")
            return "" if value is None else str(value)

        return cls(
            content_sha256=volume_content_sha256(volume),
            study_instance_uid=text("study_instance_uid"),
            series_instance_uid=text("series_instance_uid"),
            frame_of_reference_uid=text("frame_of_reference_uid"),
            description=text("series_description") if description is None else description,
        )

    def matches(self, volume: Volume) -> bool:
        """True when ``volume`` has the voxels and grid this reference was made from."""
        return volume_content_sha256(volume) == self.content_sha256

    def require_match(self, volume: Volume, *, plan_name: str) -> None:
        """Raise :class:`PlanFileError` when ``volume`` is not the plan's image.

        Parameters
        ----------
        volume : Volume
            The image the user wants to use the plan with.
        plan_name : str
            How to name the plan in the message (usually its file path).
        """
        if self.matches(volume):
            return
        series = self.series_instance_uid or "unknown series"
        raise PlanFileError(
            f"{plan_name}: the plan was made on another image ({self.description or series}, "
            f"content {self.content_sha256[:12]}...); the loaded image differs in voxels or grid. "
            "Open the plan with the image it was made on, or re-plan on this one."
        )
