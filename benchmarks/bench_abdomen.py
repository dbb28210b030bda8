"""Solid organs alone (``segment_abdomen``) on the real TCIA CT: time, volumes, Dice.

Body, bone and lung come from plain thresholds here, so that only the organ step
is timed. Prints wall and CPU time on the CT as it is (134 slices of 512x512,
3 mm) and on a 512x512x300 version resampled linearly along z, each organ's
volume, and the Dice of liver, spleen and kidney against the hand-drawn
reference in tests/data/tcia_reference/ where it is present. Issue 15's budget
for the whole anatomy is 20 s on 2 cores; the organ step aims at 8 s or less.

Run: ``python benchmarks/bench_abdomen.py [--ct DIR]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from real_ct import default_real_ct
from scipy import ndimage

from planning_core.imaging.geometry import Geometry
from planning_core.imaging.loader import load_image
from planning_core.imaging.volume_io import read_label_map
from planning_core.segmentation.abdomen import segment_abdomen

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "tcia_reference" / "tcia_reference.nii.gz"


def _masks(hu: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels, _ = ndimage.label(hu > -500)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    body = np.stack([ndimage.binary_fill_holes(s) for s in labels == int(np.argmax(sizes))])
    air, _ = ndimage.label(body & (hu < -400))
    top = np.unique(air[-1])
    return body, body & (hu > 400), np.isin(air, top[top > 0])


def _run(name: str, hu: np.ndarray, geometry: Geometry, reference=None) -> None:
    body, bone, lung = _masks(hu)
    wall, cpu = time.perf_counter(), time.process_time()
    result = segment_abdomen(hu, geometry, body=body, bone=bone, lung=lung)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{name}: shape {hu.shape}, {wall:.1f} s wall, {cpu:.1f} s CPU")
    voxel_ml = geometry.voxel_volume_mm3 / 1000.0
    for organ, mask in result.masks.items():
        line = f"  {organ:12s} {mask.sum() * voxel_ml:7.0f} ml"
        if reference is not None and organ in reference.names:
            truth = reference.mask(organ)
            line += f"  Dice {2 * (mask & truth).sum() / (mask.sum() + truth.sum()):.3f}"
        print(line)
    for warning in result.warnings:
        print(f"  warning: {warning}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ct", type=Path, default=default_real_ct(), help="DICOM folder of the CT")
    args = parser.parse_args()
    volume = load_image(args.ct)
    reference = read_label_map(REFERENCE, reference=volume.geometry) if REFERENCE.exists() else None
    _run("TCIA CT", volume.voxels, volume.geometry, reference)
    nk = volume.geometry.shape[0]
    positions = np.linspace(0.0, nk - 1.0, 300)
    below = np.floor(positions).astype(int)
    above = np.minimum(below + 1, nk - 1)
    weight = (positions - below)[:, None, None].astype(np.float32)
    hu = volume.voxels.astype(np.float32)
    stretched = ((1.0 - weight) * hu[below] + weight * hu[above]).astype(np.int16)
    spacing = volume.geometry.spacing_mm.copy()
    spacing[2] *= (nk - 1) / 299.0
    geometry = Geometry(stretched.shape, spacing, volume.geometry.origin_lps_mm)
    _run("512x512x300", stretched, geometry)


if __name__ == "__main__":
    main()
