"""Reading and writing volumes and label maps in NIfTI, NRRD and MetaImage files.

The label table (names, colours, roles) travels in a JSON sidecar
``<name>.labels.json`` beside the image, because NIfTI has no place for it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from planning_core.atomic import atomic_path, write_text_atomic
from planning_core.errors import InvalidParameterError, VolumeFormatError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import STANDARD_LABELS, LabelInfo, LabelMap, default_label_color
from planning_core.imaging.sitk_bridge import array_to_sitk, geometry_from_sitk
from planning_core.imaging.volume import Volume
from planning_core.input_files import (
    MAX_DATA_FILE_BYTES,
    read_json_file,
    require_complete_gzip,
    require_regular_file,
)

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
# Our own key: MetaImage maps a plain "Modality" onto its MET_MOD_* enumeration and loses "US".
_MODALITY_KEY = "cryoplan_modality"


def is_volume_file(path: str | Path) -> bool:
    """True when ``path`` has a suffix this module reads."""
    return str(path).lower().endswith(VOLUME_SUFFIXES)


def _base_name(path: Path) -> str:
    lowered = path.name.lower()
    for suffix in VOLUME_SUFFIXES:
        if lowered.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


def label_table_path(path: str | Path) -> Path:
    """Where the label table sidecar of a label map file lives."""
    path = Path(path)
    return path.with_name(_base_name(path) + ".labels.json")


def _read_sitk(path: Path) -> sitk.Image:
    if not path.exists():
        raise VolumeFormatError(f"{path}: no such file. Check the path.")
    if not is_volume_file(path):
        raise VolumeFormatError(
            f"{path}: unsupported volume format; use one of {', '.join(VOLUME_SUFFIXES)} "
            "or a DICOM folder."
        )
    require_regular_file(
        path, what="volume file", max_bytes=MAX_DATA_FILE_BYTES, error=VolumeFormatError
    )
    if path.name.lower().endswith(".gz"):
        require_complete_gzip(path, what="volume file", error=VolumeFormatError)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown error"
        raise VolumeFormatError(
            f"{path}: cannot be read as a volume ({first_line}). The file may be truncated "
            "or not an image; re-export it."
        ) from None
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise VolumeFormatError(
            f"{path}: has {image.GetNumberOfComponentsPerPixel()} components per voxel; "
            "only scalar volumes are supported. Convert it to grey levels."
        )
    if image.GetDimension() == 2:
        image = sitk.JoinSeries(image)
    if image.GetDimension() != 3:
        raise VolumeFormatError(
            f"{path}: is {image.GetDimension()}-D; only 3-D volumes are supported."
        )
    return image


def read_volume(path: str | Path, *, modality: str | None = None) -> Volume:
    """Read a NIfTI/NRRD/MetaImage volume.

    Parameters
    ----------
    path : str or Path
        The volume file.
    modality : str, optional
        DICOM modality code to record (``"CT"``, ``"US"``, ...). When omitted it is
        taken from a ``Modality`` metadata key if the file has one, else ``"OT"``.
    """
    path = Path(path)
    image = _read_sitk(path)
    warnings: list[str] = []
    try:
        geometry = geometry_from_sitk(image)
    except InvalidParameterError as error:  # a sheared or degenerate direction matrix
        raise VolumeFormatError(f"{path}: invalid geometry ({error}).") from None
    if modality is None:
        modality = image.GetMetaData(_MODALITY_KEY) if image.HasMetaDataKey(_MODALITY_KEY) else "OT"
    voxels = sitk.GetArrayFromImage(image)
    if voxels.dtype.kind == "f" and not np.all(np.isfinite(voxels)):
        warnings.append(f"{path.name}: non-finite voxel values were replaced by the minimum.")
        finite_min = np.nanmin(np.where(np.isfinite(voxels), voxels, np.nan))
        voxels = np.where(np.isfinite(voxels), voxels, finite_min)
    metadata: dict[str, object] = {"source_path": str(path), "series_description": _base_name(path)}
    return Volume(voxels, geometry, modality, metadata, tuple(warnings))


def write_volume(volume: Volume, path: str | Path) -> None:
    """Write ``volume`` atomically; the format follows the suffix."""
    path = Path(path)
    if not is_volume_file(path):
        raise VolumeFormatError(f"{path}: choose a suffix among {', '.join(VOLUME_SUFFIXES)}.")
    image = array_to_sitk(volume.voxels, volume.geometry)
    image.SetMetaData(_MODALITY_KEY, volume.modality)
    with atomic_path(path) as temporary:
        sitk.WriteImage(image, str(temporary), useCompression=True)


def read_label_map(path: str | Path, *, reference: Geometry | None = None) -> LabelMap:
    """Read a label map and its table sidecar.

    Without a sidecar, values are named after the standard table when they match
    its values, else ``label_<value>``. With ``reference`` the map must lie on that
    grid (within 1e-4 mm); otherwise :class:`GeometryMismatchError` is raised.
    """
    path = Path(path)
    image = _read_sitk(path)
    geometry = geometry_from_sitk(image)
    voxels = sitk.GetArrayFromImage(image)
    if voxels.dtype.kind == "f" and not np.all(voxels == np.round(voxels)):
        raise VolumeFormatError(f"{path}: holds fractional values; a label map holds integers.")
    if voxels.size and (voxels.min() < 0 or voxels.max() > np.iinfo(np.uint16).max):
        raise VolumeFormatError(f"{path}: label values must lie in 0..65535.")
    dtype = np.uint8 if (voxels.size == 0 or voxels.max() <= 255) else np.uint16
    voxels = voxels.astype(dtype)
    if reference is not None:
        reference.require_match(geometry, what=f"label map {path.name} vs image")
        geometry = reference
    table = _read_table(path, np.unique(voxels))
    return LabelMap(voxels, geometry, table)


def _read_table(path: Path, present_values: np.ndarray) -> tuple[LabelInfo, ...]:
    sidecar = label_table_path(path)
    if sidecar.exists():
        hint = "Fix or delete the file to use default names."
        document = read_json_file(sidecar, what="label table", error=VolumeFormatError, hint=hint)
        try:
            entries = document["labels"]
            return tuple(
                LabelInfo(
                    int(e["value"]),
                    str(e["name"]),
                    tuple(e["color_rgb"]),
                    str(e.get("role", "anatomy")),
                )
                for e in entries
            )
        except (ValueError, KeyError, TypeError) as error:
            raise VolumeFormatError(
                f"{sidecar}: invalid label table ({error}). "
                "Fix or delete the file to use default names."
            ) from None
    by_value = {info.value: info for info in STANDARD_LABELS.values()}
    return tuple(
        by_value.get(int(v), LabelInfo(int(v), f"label_{int(v)}", default_label_color(int(v))))
        for v in present_values
        if v != 0
    )


def write_label_map(label_map: LabelMap, path: str | Path) -> None:
    """Write a label map and its table sidecar, each atomically."""
    path = Path(path)
    if not is_volume_file(path):
        raise VolumeFormatError(f"{path}: choose a suffix among {', '.join(VOLUME_SUFFIXES)}.")
    image = array_to_sitk(label_map.voxels, label_map.geometry)
    with atomic_path(path) as temporary:
        sitk.WriteImage(image, str(temporary), useCompression=True)
    table = {
        "format": "cryoplan-label-table",
        "version": 1,
        "labels": [
            {"value": i.value, "name": i.name, "color_rgb": list(i.color_rgb), "role": i.role}
            for i in label_map.table
        ],
    }
    write_text_atomic(label_table_path(path), json.dumps(table, indent=2) + "\n")
