"""The patient's body outline, from a label map or from CT intensities."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.errors import InvalidParameterError, SegmentationError
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.masks import cross_step


def body_mask_from_ct(
    volume: Volume, *, threshold_hu: float = -400.0, opening_voxels: int = 2
) -> NDArray[np.bool_]:
    """Body outline of a CT: the largest connected region above ``threshold_hu``, holes filled.

    Parameters
    ----------
    volume : Volume
        CT in Hounsfield units.
    threshold_hu : float
        Voxels above it count as tissue; -400 HU separates tissue from air while
        aerated lung (below it) is recovered as enclosed holes.
    opening_voxels : int
        Radius (voxels, in each axial slice) of a morphological opening that
        detaches the patient from a table or blanket touching it; the opening is
        undone on the patient, whose outline therefore keeps its detail.

    Returns
    -------
    ndarray of bool
        ``[k, j, i]`` mask on the volume's grid.

    Raises
    ------
    SegmentationError
        When nothing exceeds the threshold.
    """
    if volume.modality != "CT":
        raise InvalidParameterError(
            f"body_mask_from_ct needs a CT volume (modality {volume.modality!r}); "
            "give the body as a 'body' label instead."
        )
    if opening_voxels < 0:
        raise InvalidParameterError(f"opening_voxels must be >= 0, got {opening_voxels}.")
    tissue = np.asarray(volume.voxels) > threshold_hu
    # In-plane only, and with edges repeated, so slices at the ends of the scan survive.
    opened = tissue
    if opening_voxels:
        pad = opening_voxels
        opened = np.pad(tissue, pad, mode="edge")
        for _ in range(opening_voxels):
            opened = cross_step(opened, erode=True, axes=(1, 2))
        for _ in range(opening_voxels):
            opened = cross_step(opened, erode=False, axes=(1, 2))
        opened = opened[pad:-pad, pad:-pad, pad:-pad]
    components, count = ndimage.label(opened)
    if count == 0:
        raise SegmentationError(
            f"no voxel exceeds {threshold_hu:g} HU, so the body outline cannot be found; "
            "check that the image is a CT in Hounsfield units."
        )
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    body = components == int(np.argmax(sizes))
    # Lungs and bowel gas are enclosed in each axial slice but may reach the volume's
    # top or bottom, where a 3-D fill would leave them open.
    body = _fill_holes_per_slice(body)
    if opening_voxels:
        # Give back what the opening shaved off the patient, but nothing farther away.
        allowed = tissue | body
        for _ in range(opening_voxels):
            body = cross_step(body, erode=False, axes=(1, 2)) & allowed
    return body


def _fill_holes_per_slice(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``mask`` with the holes of each axial slice filled (as ``binary_fill_holes`` per slice).

    A hole is background that no 4-connected in-plane path joins to the slice's
    edge; all slices are labelled in one call (in-plane connectivity only),
    which costs a fraction of a fill per slice.
    """
    in_plane = ndimage.generate_binary_structure(3, 1)
    in_plane[0] = in_plane[2] = False
    components, count = ndimage.label(~mask, structure=in_plane)
    if count == 0:
        return mask.copy()
    edge = np.zeros(count + 1, dtype=bool)
    for border in (
        components[:, 0, :],
        components[:, -1, :],
        components[:, :, 0],
        components[:, :, -1],
    ):
        edge[border] = True
    edge[0] = True  # the mask itself
    return mask | ~edge[components]


def body_mask_from_labels(label_map: LabelMap) -> NDArray[np.bool_]:
    """Body outline of a label map that has a ``body`` label: every labelled voxel.

    Labels are exclusive, so organs, tumor and bone carve their voxels out of
    ``body``; together they make the patient.

    Raises
    ------
    InvalidParameterError
        When the map has no ``body`` label.
    """
    if not label_map.has("body"):
        raise InvalidParameterError(
            "the label map has no 'body' label; pass body_mask (for a CT, "
            "body_mask_from_ct(volume) derives one)."
        )
    return label_map.voxels != 0
