"""Optional TotalSegmentator backend: its structures under this planner's label names.

TotalSegmentator (Wasserthal et al., Radiology: AI 2023) segments over a
hundred structures with a trained network. Nothing here requires it: where a
user's machine has the ``totalsegmentator`` package *and* its downloaded
weights, :func:`totalsegmentator_status` says so and :func:`run_totalsegmentator`
runs it; everywhere, :func:`read_totalsegmentator_output` reads what it wrote
(one multilabel NIfTI with the task's class ids, or a folder of one mask per
class) and maps its names to ours:

* parts merge into one organ: ``kidney_left`` + ``kidney_right`` (and renal
  cysts, which lie inside the kidney's outline) are ``kidney``; the lung lobes
  and the trachea are ``lung``; every rib, vertebra and limb bone is ``bone``;
* bowel: ``small_bowel`` is ``bowel``, ``colon`` stays ``colon``; stomach,
  duodenum, pancreas, gallbladder, oesophagus, heart and spinal cord keep their
  own standard labels (organs at risk of their own);
* the IVC is ``ivc``; other named vessels are ``vessel``.

TotalSegmentator has no renal sinus and no skin: the caller keeps those from
the classical segmentation.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from planning_core.errors import SegmentationError, VolumeFormatError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import read_volume, write_volume

#: Class ids of TotalSegmentator's "total" task (v2) that map to a label here;
#: other ids (adrenal glands, bladder, muscles, brain, ...) have no counterpart.
TOTAL_V2_CLASS_NAMES: dict[int, str] = {
    1: "spleen",
    2: "kidney_right",
    3: "kidney_left",
    4: "gallbladder",
    5: "liver",
    6: "stomach",
    7: "pancreas",
    10: "lung_upper_lobe_left",
    11: "lung_lower_lobe_left",
    12: "lung_upper_lobe_right",
    13: "lung_middle_lobe_right",
    14: "lung_lower_lobe_right",
    15: "esophagus",
    16: "trachea",
    18: "small_bowel",
    19: "duodenum",
    20: "colon",
    23: "kidney_cyst_left",
    24: "kidney_cyst_right",
    25: "sacrum",
    **{
        26 + n: f"vertebrae_{v}"
        for n, v in enumerate(
            ["S1", "L5", "L4", "L3", "L2", "L1"]
            + [f"T{t}" for t in range(12, 0, -1)]
            + [f"C{c}" for c in range(7, 0, -1)]
        )
    },
    51: "heart",
    52: "aorta",
    53: "pulmonary_vein",
    54: "brachiocephalic_trunk",
    55: "subclavian_artery_right",
    56: "subclavian_artery_left",
    57: "common_carotid_artery_right",
    58: "common_carotid_artery_left",
    59: "brachiocephalic_vein_left",
    60: "brachiocephalic_vein_right",
    62: "superior_vena_cava",
    63: "inferior_vena_cava",
    64: "portal_vein_and_splenic_vein",
    65: "iliac_artery_left",
    66: "iliac_artery_right",
    67: "iliac_vena_left",
    68: "iliac_vena_right",
    69: "humerus_left",
    70: "humerus_right",
    71: "scapula_left",
    72: "scapula_right",
    73: "clavicula_left",
    74: "clavicula_right",
    75: "femur_left",
    76: "femur_right",
    77: "hip_left",
    78: "hip_right",
    79: "spinal_cord",
    91: "skull",
    **{92 + n: f"rib_left_{n + 1}" for n in range(12)},
    **{104 + n: f"rib_right_{n + 1}" for n in range(12)},
    116: "sternum",
    117: "costal_cartilages",
}

#: Exact TotalSegmentator names and the label each becomes.
_EXACT: dict[str, str] = {
    "liver": "liver",
    "spleen": "spleen",
    "kidney_left": "kidney",
    "kidney_right": "kidney",
    "kidney_cyst_left": "kidney",
    "kidney_cyst_right": "kidney",
    "aorta": "aorta",
    "inferior_vena_cava": "ivc",
    "colon": "colon",
    "small_bowel": "bowel",
    "duodenum": "duodenum",
    "stomach": "stomach",
    "pancreas": "pancreas",
    "gallbladder": "gallbladder",
    "esophagus": "esophagus",
    "heart": "heart",
    "spinal_cord": "spinal_cord",
    "trachea": "lung",
    "sacrum": "bone",
    "sternum": "bone",
    "skull": "bone",
    "costal_cartilages": "bone",
    "body_trunc": "body",
    "body_extremities": "body",
}

#: Name patterns for families of structures.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"lung_(upper|middle|lower)_lobe_(left|right)|lung_(left|right)"), "lung"),
    (re.compile(r"(rib|vertebrae)_.+"), "bone"),
    (re.compile(r"(humerus|scapula|clavicula|femur|hip)_(left|right)"), "bone"),
    # v1 splits the heart into chambers; the left atrial appendage is the heart's too.
    (re.compile(r"heart_.+|atrial_appendage_left"), "heart"),
    (
        re.compile(
            r"(pulmonary_(vein|artery)|brachiocephalic_.+|subclavian_artery_.+|"
            r"common_carotid_artery_.+|superior_vena_cava|portal_vein_and_splenic_vein|"
            r"iliac_(artery|vena)_.+)"
        ),
        "vessel",
    ),
)


def our_label(totalsegmentator_name: str) -> str | None:
    """This planner's label for a TotalSegmentator class name; ``None`` when it has none."""
    name = totalsegmentator_name.strip().lower()
    if name in _EXACT:
        return _EXACT[name]
    for pattern, label in _PATTERNS:
        if pattern.fullmatch(name):
            return label
    return None


@dataclass(frozen=True)
class BackendStatus:
    """Whether the optional backend can run here, and why not."""

    available: bool
    reason: str


def _weights_dir() -> Path:
    """Where TotalSegmentator keeps its weights (its own environment variables first)."""
    if "TOTALSEG_WEIGHTS_PATH" in os.environ:
        return Path(os.environ["TOTALSEG_WEIGHTS_PATH"])
    if "TOTALSEG_HOME_DIR" in os.environ:
        home = Path(os.environ["TOTALSEG_HOME_DIR"])
    else:
        home = (Path("/tmp") if str(Path.home()) == "/" else Path.home()) / ".totalsegmentator"
    return home / "nnunet" / "results"


def totalsegmentator_status() -> BackendStatus:
    """Detect the package and its weights at run time (nothing is imported or downloaded)."""
    if importlib.util.find_spec("totalsegmentator") is None:
        return BackendStatus(False, "the totalsegmentator package is not installed")
    weights = _weights_dir()
    if not weights.is_dir() or not any(weights.glob("*TotalSegmentator*")):
        return BackendStatus(
            False,
            f"TotalSegmentator's weights are not in {weights} (run TotalSegmentator once "
            "with network access, or set TOTALSEG_WEIGHTS_PATH)",
        )
    return BackendStatus(True, f"TotalSegmentator with weights in {weights}")


def _add(masks: dict[str, NDArray[np.bool_]], label: str, mask: NDArray[np.bool_]) -> None:
    if label in masks:
        masks[label] |= mask
    else:
        masks[label] = mask.copy()


def _read_on(path: Path, reference: Geometry) -> NDArray[np.generic]:
    volume = read_volume(path)
    reference.require_match(volume.geometry, what=f"TotalSegmentator output {path.name} vs image")
    return volume.voxels


def read_totalsegmentator_output(
    path: str | Path,
    reference: Geometry,
    *,
    class_names: dict[int, str] | None = None,
) -> tuple[dict[str, NDArray[np.bool_]], tuple[str, ...]]:
    """TotalSegmentator's output as masks under this planner's label names.

    Parameters
    ----------
    path : str or Path
        A multilabel NIfTI (class ids of the "total" task) or a folder of one
        ``<class>.nii.gz`` mask per class, as TotalSegmentator writes them.
    reference : Geometry
        The CT's grid; the output must lie on it.
    class_names : dict, optional
        Class id to name for a multilabel file of another task or version;
        the "total" task of TotalSegmentator 2 by default.

    Returns
    -------
    masks : dict
        Label name to mask; parts of one organ merged.
    unmapped : tuple of str
        The TotalSegmentator classes present that have no label here, sorted.

    Raises
    ------
    VolumeFormatError
        When the path holds no TotalSegmentator output.
    GeometryMismatchError
        When the output lies on another grid than the CT.
    """
    path = Path(path)
    masks: dict[str, NDArray[np.bool_]] = {}
    unmapped: set[str] = set()
    if path.is_dir():
        files = sorted(path.glob("*.nii.gz")) + sorted(path.glob("*.nii"))
        if not files:
            raise VolumeFormatError(
                f"{path}: holds no .nii.gz masks; point to TotalSegmentator's output folder "
                "or its multilabel file."
            )
        for file in files:
            name = file.name.removesuffix(".gz").removesuffix(".nii")
            label = our_label(name)
            if label is None:
                unmapped.add(name)
                continue
            mask = _read_on(file, reference) > 0
            if mask.any():
                _add(masks, label, mask)
        return masks, tuple(sorted(unmapped))
    names = TOTAL_V2_CLASS_NAMES if class_names is None else class_names
    classes = np.rint(_read_on(path, reference)).astype(np.int64)
    for class_id in np.unique(classes):
        if class_id == 0:
            continue
        name = names.get(int(class_id))
        label = None if name is None else our_label(name)
        if label is None:
            unmapped.add(name or f"class {int(class_id)}")
            continue
        _add(masks, label, classes == class_id)
    return masks, tuple(sorted(unmapped))


def run_totalsegmentator(
    volume: Volume, *, fast: bool = True
) -> tuple[dict[str, NDArray[np.bool_]], tuple[str, ...]]:
    """Run TotalSegmentator's "total" task on ``volume`` and map its output.

    ``fast`` uses its 3 mm model (minutes on a CPU instead of tens of minutes).

    Raises
    ------
    SegmentationError
        When the backend is not available here, or fails.
    """
    status = totalsegmentator_status()
    if not status.available:
        raise SegmentationError(
            f"the TotalSegmentator backend cannot run: {status.reason}. "
            "Use the built-in automatic anatomy instead."
        )
    from totalsegmentator.python_api import totalsegmentator  # optional, found above

    with tempfile.TemporaryDirectory(prefix="cryoplan-totalseg-") as folder:
        image_path = Path(folder) / "ct.nii.gz"
        output_path = Path(folder) / "segmentations"
        write_volume(volume, image_path)
        try:
            totalsegmentator(image_path, output_path, fast=fast, task="total", quiet=True)
        except Exception as error:  # a third-party network may fail in many ways
            raise SegmentationError(
                f"TotalSegmentator failed ({type(error).__name__}: {error}). "
                "Use the built-in automatic anatomy instead."
            ) from None
        return read_totalsegmentator_output(output_path, volume.geometry)
