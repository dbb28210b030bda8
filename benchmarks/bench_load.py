"""Load-time benchmark: our DICOM loader against SimpleITK's series reader on one CT series.

Generates a 512×512×300 CT series (Explicit VR Little Endian, int16, one file per
slice, shuffled file names) unless ``--folder`` points at an existing one, then
times, each in a fresh process and with the files in the page cache:

* ours: ``planning_core.imaging.loader.load_image(folder)``: scanning every
  header, sorting, geometry checks and the pixel read, all included;
* SimpleITK raw: ``ImageSeriesReader.Execute()`` on the same files, already
  sorted (the sorting by ``GetGDCMSeriesFileNames`` is timed separately).

Peak memory is each process's peak resident set size above what it held after
imports. Run: ``python benchmarks/bench_load.py [--slices 300] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GOAL_RATIO = 1.3
GOAL_SECONDS = 3.0


def write_series(folder: Path, *, slices: int, size: int = 512) -> None:
    """A synthetic abdomen-like CT: an elliptic body of soft tissue with noise, in air."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    j, i = np.mgrid[0:size, 0:size]
    body = ((i - size / 2) / (0.42 * size)) ** 2 + ((j - size / 2) / (0.32 * size)) ** 2 <= 1.0
    study, series = (
        generate_uid(entropy_srcs=["bench study"]),
        generate_uid(entropy_srcs=["bench series"]),
    )
    names = rng.permutation(slices)
    for k in range(slices):
        hu = np.where(body, 40, -1000) + rng.normal(0, 12, size=(size, size))
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["bench", str(k)])
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.FrameOfReferenceUID = generate_uid(entropy_srcs=["bench frame"])
        ds.Modality, ds.PatientName, ds.PatientID = "CT", "Bench^Mark", "BENCH"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [-250.0, -250.0, -300.0 + 1.25 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.9765625, 0.9765625]
        ds.SliceThickness = 1.25
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = (np.rint(hu) + 1024).astype("<i2").tobytes()
        pydicom.dcmwrite(folder / f"IM{names[k]:05d}", ds, enforce_file_format=True)


def _measure(kind: str, folder: Path) -> dict[str, float]:
    """Run one timing in this process; returns seconds and peak memory above baseline."""
    import SimpleITK as sitk

    from planning_core.imaging.loader import load_image

    sorted_files = None
    sort_seconds = 0.0
    if kind == "sitk":
        start = time.perf_counter()
        sorted_files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder))
        sort_seconds = time.perf_counter() - start
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if kind == "ours":
        voxels = load_image(folder).voxels
    else:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(sorted_files)
        voxels = sitk.GetArrayViewFromImage(reader.Execute())
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": seconds,
        "sort_seconds": sort_seconds,
        "peak_mib": (peak_kib - baseline_kib) / 1024.0,
        "volume_mib": voxels.nbytes / 2**20,
        "shape": list(voxels.shape),
        "dtype": str(voxels.dtype),
    }


def _run_child(kind: str, folder: Path) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--measure", kind, "--folder", str(folder)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--folder", type=Path, help="existing series to load (default: generate one)"
    )
    parser.add_argument("--measure", choices=("ours", "sitk"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(_measure(args.measure, args.folder)))
        return 0
    with tempfile.TemporaryDirectory(prefix="cryoplan-bench-") as temporary:
        folder = args.folder or Path(temporary) / "ct"
        if args.folder is None:
            start = time.perf_counter()
            write_series(folder, slices=args.slices)
            print(
                f"generated {args.slices} slices of 512×512 in {time.perf_counter() - start:.1f} s"
            )
        for path in folder.iterdir():  # warm the page cache for both readers alike
            path.read_bytes()
        runs: dict[str, list[dict[str, float]]] = {"ours": [], "sitk": []}
        for _ in range(args.repeats):
            for kind in runs:
                runs[kind].append(_run_child(kind, folder))
        _report(runs, folder=folder, repeats=args.repeats)
    return 0


def _report(runs: dict[str, list[dict[str, float]]], *, folder: Path, repeats: int) -> None:
    ours = statistics.median(r["seconds"] for r in runs["ours"])
    raw = statistics.median(r["seconds"] for r in runs["sitk"])
    sort = statistics.median(r["sort_seconds"] for r in runs["sitk"])
    ours_mib = max(r["peak_mib"] for r in runs["ours"])
    raw_mib = max(r["peak_mib"] for r in runs["sitk"])
    first = runs["ours"][0]
    ratio = ours / raw
    print(f"series: {first['shape']} {first['dtype']} ({first['volume_mib']:.0f} MiB) in {folder}")
    print(
        f"ours  load_image (scan + sort + geometry + pixels): {ours:.3f} s "
        f"(median of {repeats}), peak memory +{ours_mib:.0f} MiB"
    )
    print(
        f"SimpleITK ImageSeriesReader.Execute (raw, pre-sorted): {raw:.3f} s, peak memory "
        f"+{raw_mib:.0f} MiB; its GetGDCMSeriesFileNames sorting adds {sort:.3f} s"
    )
    ratio_verdict = "met" if ratio <= GOAL_RATIO else "MISSED"
    time_verdict = "met" if ours <= GOAL_SECONDS else "MISSED"
    print(
        f"ours/raw = {ratio:.2f} (goal <= {GOAL_RATIO}: {ratio_verdict}); "
        f"ours <= {GOAL_SECONDS:.0f} s: {time_verdict}"
    )


if __name__ == "__main__":
    sys.exit(main())
