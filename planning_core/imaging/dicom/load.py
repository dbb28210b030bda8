"""Loading one cataloged series into a :class:`Volume`.

Voxel type: modality values (HU for CT) are stored as int16 while every value
is a whole number within int16's range, which holds for practically every CT
(rescale slope 1, integer intercept), and as float32 otherwise (fractional
rescale slopes such as lossy 8-bit JPEG with slope 32.1, colour images turned
into luminance, resampled stacks). Neither needs a float64 copy of the volume:
a 512×512×300 CT takes 150 MiB as int16.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from planning_core.errors import DicomLoadError
from planning_core.imaging.dicom.bounds import require_memory
from planning_core.imaging.dicom.catalog import SeriesInfo
from planning_core.imaging.dicom.library_warnings import collected_as_notes
from planning_core.imaging.dicom.pixels import decode_frames, modality_values
from planning_core.imaging.dicom.plausibility import ct_range_note
from planning_core.imaging.dicom.resample import resample_stack
from planning_core.imaging.dicom.stack import StackLayout, planned_bytes
from planning_core.imaging.volume import Volume
from planning_core.progress import CancelToken, ProgressCallback

_INT16 = np.iinfo(np.int16)


class _VoxelSink:
    """Collects frames as int16 while they fit, switching once to float32 when one does not."""

    def __init__(self, shape: tuple[int, int, int], *, as_float: bool) -> None:
        self.array: NDArray[np.generic] = np.empty(
            shape, dtype=np.float32 if as_float else np.int16
        )

    def put(self, index: int, values: NDArray[np.generic]) -> None:
        if self.array.dtype == np.int16 and not self._fits_int16(values):
            self.array = self.array.astype(np.float32)
        self.array[index] = values

    @staticmethod
    def _fits_int16(values: NDArray[np.generic]) -> bool:
        if values.dtype.kind not in "iu":
            return False
        if values.dtype.itemsize == 1 or values.dtype == np.int16:
            return True
        return bool(values.min() >= _INT16.min and values.max() <= _INT16.max)


def load_series(
    series: SeriesInfo,
    *,
    strict: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Volume:
    """Read the pixel data of ``series`` onto the grid its scan planned.

    Parameters
    ----------
    series : SeriesInfo
        From :func:`planning_core.imaging.dicom.scan_dicom`.
    strict : bool
        Refuse, instead of warn, whenever geometry or values had to be
        assumed, the slices resampled (gantry tilt, irregular spacing, missing
        spacing or positions, missing rescale or BitsStored) or damaged files
        of the series left out.
    progress, cancel
        Progress callback ``(fraction, message)`` and cancel token.

    Returns
    -------
    Volume
        Modality values (HU for CT, rescale applied) with warnings and the
        identifiers later exports need in ``metadata``.

    Raises
    ------
    DicomLoadError
        When the series cannot be loaded, or ``strict`` refuses it.
    """
    layout = series.layout
    if series.error is not None or layout is None:
        raise DicomLoadError(series.error or f"{series.label}: cannot be loaded.")
    assumptions = series.assumptions + layout.assumptions
    if strict and assumptions:
        raise DicomLoadError(f"{series.label}: refused in strict mode: " + " ".join(assumptions))
    notes: list[str] = []
    try:
        with collected_as_notes(notes, where=series.label):
            voxels = _read_voxels(series, layout, notes, progress=progress, cancel=cancel)
    except MemoryError:
        # Sizes were checked against the memory budget; other programs may hold the rest.
        raise DicomLoadError(
            f"{series.label}: the machine ran out of memory while loading "
            f"{len(layout.frames)} frame(s) of {series.columns}×{series.rows} pixels. Close "
            "other programs or load a smaller series."
        ) from None
    if progress is not None:
        progress(1.0, f"Loaded {series.label}")
    metadata = _metadata(series, layout)
    if series.modality == "CT" and not metadata.get("patient_position"):
        # Which side lies on the table decides where probes may enter; say it is unknown.
        notes.append(
            f"{series.label}: the header gives no Patient Position (0018,5100): which side "
            "of the patient lies on the table is not known from it."
        )
    return Volume(
        voxels,
        layout.geometry,
        series.modality,
        metadata,
        tuple(series.warnings) + tuple(notes),
    )


def _read_voxels(
    series: SeriesInfo,
    layout: StackLayout,
    notes: list[str],
    *,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> NDArray[np.generic]:
    """Decode, rescale and (where planned) resample the frames of ``series`` onto ``layout``."""
    slots: dict[int, list[tuple[int, int]]] = {}
    instances = {}
    for slot, frame in enumerate(layout.frames):
        slots.setdefault(id(frame.instance), []).append((frame.frame_index, slot))
        instances[id(frame.instance)] = frame.instance
    count = len(layout.frames)
    rows, columns = layout.frames[0].instance.rows, layout.frames[0].instance.columns
    # The scan checked this on the machine it ran on; a catalog may be loaded elsewhere.
    needed, cause = planned_bytes(layout)
    require_memory(needed, what="loading this series", name=series.label, cause=cause)
    sink = _VoxelSink((count, rows, columns), as_float=layout.resampled)
    for done, (key, instance) in enumerate(instances.items()):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(
                0.9 * done / len(instances),
                f"Reading {series.modality} slices ({done}/{len(instances)})",
            )
        decoded = decode_frames(instance, name=series.label)
        notes.extend(n for n in decoded.notes if n not in notes)
        for frame_index, slot in slots[key]:
            stored = decoded.values[frame_index]
            plane = instance.frames[frame_index]
            values = (
                stored
                if decoded.rescaled
                else modality_values(
                    stored, slope=plane.rescale_slope, intercept=plane.rescale_intercept
                )
            )
            if series.modality == "CT":
                note = ct_range_note(values, file_name=instance.path.name)
                if note is not None and note not in notes:
                    notes.append(note)
            sink.put(slot, values)
    voxels = sink.array
    if layout.resampled:
        if progress is not None:
            progress(0.9, "Resampling slices onto a regular grid")
        voxels = resample_stack(voxels.astype(np.float32, copy=False), layout, cancel=cancel)
    return voxels


def _metadata(series: SeriesInfo, layout: StackLayout) -> dict[str, object]:
    """Identifiers and provenance that exports (DICOM SEG, reports) need."""
    first = layout.frames[0].instance
    metadata: dict[str, object] = dict(first.identity)
    slopes = [f.plane.rescale_slope for f in layout.frames]
    intercepts = [f.plane.rescale_intercept for f in layout.frames]
    uniform = len(set(slopes)) == 1 and len(set(intercepts)) == 1
    metadata.update(
        {
            "modality": series.modality,
            "series_key": series.key,
            "sop_class_uid": first.sop_class_uid,
            "transfer_syntax_uid": first.transfer_syntax_uid,
            "source_files": [str(f.instance.path) for f in layout.frames],
            "sop_instance_uids": [f.instance.sop_instance_uid for f in layout.frames],
            "source_frame_numbers": [f.frame_index + 1 for f in layout.frames],
            "source_slice_k": layout.source_k.tolist(),
            "resampled": layout.resampled,
            "gantry_tilt_deg": layout.tilt_deg,
            "rescale": (
                {"slope": slopes[0], "intercept": intercepts[0]}
                if uniform
                else {"slopes": slopes, "intercepts": intercepts}
            ),
        }
    )
    if series.modality == "CT":
        metadata["rescale"] = {**metadata["rescale"], "type": "HU"}  # type: ignore[dict-item]
    return metadata
