"""Import of DICOM RT Structure Sets (RTSTRUCT) onto an image grid.

An RTSTRUCT stores each structure as closed planar polygons in patient
coordinates, usually one or more per image slice. Each polygon is mapped to
the reference volume's index space and filled on its slice: a voxel belongs to
the structure when its centre lies inside the polygon. Several polygons of one
structure on one slice combine by even-odd rule (a contour inside another is a
hole), as the RTSTRUCT standard intends for nested contours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from skimage.draw import polygon as fill_polygon

from planning_core.errors import VolumeFormatError
from planning_core.imaging.labels import STANDARD_LABELS, LabelMap
from planning_core.imaging.volume import Volume
from planning_core.segmentation.dicom_seg import ImportedLabels

#: A contour farther than this (in slices) from the nearest slice centre is off-plane.
SLICE_TOLERANCE = 0.25

RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"


def _label_name(roi_name: str) -> str:
    canonical = roi_name.strip().lower().replace(" ", "_").replace("-", "_")
    return canonical if canonical in STANDARD_LABELS else roi_name.strip()


def _color(item: pydicom.Dataset) -> tuple[int, int, int] | None:
    value = getattr(item, "ROIDisplayColor", None)
    if value is None or len(value) != 3:
        return None
    red, green, blue = (int(v) for v in value)
    return red, green, blue


def read_rtstruct(path: str | Path, reference: Volume) -> ImportedLabels:
    """Rasterize the structures of an RTSTRUCT onto ``reference``'s grid.

    Parameters
    ----------
    path : str or Path
        The RT Structure Set file.
    reference : Volume
        The image the structures were drawn on (same frame of reference).

    Returns
    -------
    ImportedLabels
        One label per structure with contours (canonical names where the ROI
        name is one; ROI display colours kept); warnings list structures
        without contours, contours off the slice planes or outside the grid,
        and overlaps between structures (the later structure wins).

    Raises
    ------
    VolumeFormatError
        When the file is not an RTSTRUCT, or its frame of reference differs
        from the reference volume's.
    """
    source = Path(path)
    try:
        # Files without the DICOM preamble (older writers) are read leniently.
        dataset = pydicom.dcmread(str(source), force=True)
    except Exception as error:  # pydicom raises many types for damaged files
        raise VolumeFormatError(f"{source}: not a readable DICOM file ({error}).") from None
    if str(getattr(dataset, "SOPClassUID", "")) != RTSTRUCT_SOP_CLASS:
        raise VolumeFormatError(
            f"{source}: not an RT Structure Set (SOP class "
            f"{getattr(dataset, 'SOPClassUID', 'missing')})."
        )
    own_frame = reference.metadata.get("frame_of_reference_uid")
    frames = {
        str(item.FrameOfReferenceUID)
        for item in getattr(dataset, "ReferencedFrameOfReferenceSequence", [])
        if "FrameOfReferenceUID" in item
    }
    if own_frame and frames and str(own_frame) not in frames:
        raise VolumeFormatError(
            f"{source}: the structures are drawn in frame of reference {sorted(frames)[0]}, "
            f"the image in {own_frame}; load the series the structure set belongs to."
        )
    names = {
        int(item.ROINumber): str(item.ROIName)
        for item in getattr(dataset, "StructureSetROISequence", [])
    }
    geometry = reference.geometry
    nk, nj, ni = geometry.shape
    label_map = LabelMap.empty(geometry)
    warnings: list[str] = []
    occupied = np.zeros(geometry.shape, dtype=bool)
    for roi in getattr(dataset, "ROIContourSequence", []):
        number = int(roi.ReferencedROINumber)
        roi_name = names.get(number, f"roi_{number}")
        name = _label_name(roi_name)
        if label_map.has(name):
            name = f"{name}_{number}"
        mask = np.zeros(geometry.shape, dtype=bool)
        off_plane = outside = 0
        for contour in getattr(roi, "ContourSequence", []):
            if str(getattr(contour, "ContourGeometricType", "CLOSED_PLANAR")) != "CLOSED_PLANAR":
                continue
            points = np.asarray(contour.ContourData, dtype=np.float64).reshape(-1, 3)
            ijk = geometry.lps_to_index(points)
            k = float(np.mean(ijk[:, 2]))
            slice_k = int(np.rint(k))
            if np.max(np.abs(ijk[:, 2] - slice_k)) > SLICE_TOLERANCE:
                off_plane += 1
                continue
            if not 0 <= slice_k < nk:
                outside += 1
                continue
            rows, columns = fill_polygon(ijk[:, 1], ijk[:, 0], shape=(nj, ni))
            mask[slice_k, rows, columns] ^= True
        if off_plane:
            warnings.append(
                f"{roi_name}: {off_plane} contour(s) do not lie on the image's slice planes "
                "and were skipped; resample the image to the contours' slices."
            )
        if outside:
            warnings.append(
                f"{roi_name}: {outside} contour(s) lie outside the image and were skipped."
            )
        if not mask.any():
            warnings.append(f"{roi_name}: no contour on this image; the structure is left out.")
            continue
        if np.any(mask & occupied):
            warnings.append(
                f"{roi_name} overlaps earlier structures; the overlap is labelled {name}."
            )
        occupied |= mask
        label_map = label_map.with_mask(name, mask, color_rgb=_color(roi))
    return ImportedLabels(label_map, tuple(warnings))
