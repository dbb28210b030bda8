"""Fuzz the DICOM reader with hostile mutants of real files; print a table of outcomes.

Each mutant is a small folder built from real seed files (a few slices of the TCIA
pancreas CT, single slices in compressed transfer syntaxes, multi-frame objects from
../shared/dicom) with one named kind of damage. A worker process, capped in memory
(``RLIMIT_AS``) and in time, runs on it what a user would run:

1. ``cryoplan info DIR`` and ``cryoplan info DIR --json`` (the listing), then
2. ``cryoplan info DIR --series KEY --json`` for each series the listing names (the
   seed's own series UID when the listing fails; three at most).

The worker runs the CLI's ``main`` in-process, with file descriptors 1 and 2 captured
per command (native libraries' output included) and Python's "print a warning once"
memory reset, as a fresh process would. Each command is classified:

``clean``      exit 0 and nothing on stderr;
``refused``    exit 2 with exactly one line on stderr;
``traceback``  any uncaught exception (or a crash of the worker by a signal);
``hang``       a command did not finish within ``--timeout-s`` (20 s);
``memory``     MemoryError under the address-space cap (4 GiB), a worker killed by the
               kernel, or a peak resident size above 1.5 GiB: an allocation beyond any
               plausible size for a few small slices;
``noise``      exit 0 with text on stderr, or a refusal of more than one line
               (library warnings printed before the clean error);
``silent``     the load succeeded although the mutation changed the header's meaning,
               with no new warning naming the attribute (see :class:`Oracle`), or the
               listing read a file outside the folder it was given.

Loaded volumes are compared with the load of the unmutated seed written through the
same writer (voxel digest and grid). Run, for example::

    CRYOPLAN_SHARED_DICOM=../shared/dicom .venv/bin/python benchmarks/fuzz_dicom.py \\
        --count 1000 --jobs 2 --report /tmp/fuzz_report.md

Reproduce one mutant with ``--only INDEX --keep FOLDER`` (same ``--seed``): the folder
is kept and the failing commands are printed. ``--list`` describes the mutants without
running them; ``--classes a,b`` restricts the run to some mutation classes.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import io
import json
import math
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MEMORY_CAP_BYTES = 4 * 1024**3
#: Peak resident memory one command may reach on these few small slices: a 4-slice
#: 512x512 CT takes 2 MiB as int16, the planner's imports about 300 MiB.
PLAUSIBLE_PEAK_BYTES = 1536 * 1024**2
#: Time a worker may take to import the planner before serving mutants.
STARTUP_TIMEOUT_S = 120.0
#: Series loaded per mutant at most (mixed folders list several).
MAX_LOADS_PER_MUTANT = 3


class Oracle(StrEnum):
    """What a successful load of a mutant must show besides 'no crash, no hang'."""

    #: Only crashes, hangs and memory blow-ups count (random damage that may be valid).
    NONE = "none"
    #: If voxels or grid differ from the seed's, a new warning must say so.
    SAME_OR_NOTICE = "same_or_notice"
    #: The header is broken in a way that changes meaning: refuse, or warn naming it.
    NOTICE = "notice"
    #: The mutation must take effect (voxels or grid differ from the seed's) or be warned about.
    DIFFER_OR_NOTICE = "differ_or_notice"
    #: The header was rewritten without changing meaning: a load must give the seed's voxels.
    SAME = "same"


# -- seeds
def shared_dicom_root() -> Path:
    """$CRYOPLAN_SHARED_DICOM or ../shared/dicom (as tests/conftest.py)."""
    override = os.environ.get("CRYOPLAN_SHARED_DICOM")
    return Path(override) if override else PROJECT_ROOT.parent / "shared" / "dicom"


_TS = "transfer-syntaxes/CTImage.dcm_"
#: Seed name -> files relative to the shared DICOM root.
SEED_FILES: dict[str, tuple[str, ...]] = {
    "ct4": tuple(f"tcia-pancreas-ct/1-{n:03d}.dcm" for n in (60, 61, 62, 63)),
    "explicit_le": (f"{_TS}LittleEndianExplicitTransferSyntax_1.2.840.10008.1.2.1.dcm",),
    "big_endian": (f"{_TS}BigEndianExplicitTransferSyntax_1.2.840.10008.1.2.2.dcm",),
    "rle": (f"{_TS}RLELosslessTransferSyntax_1.2.840.10008.1.2.5.dcm",),
    "jpeg_ls": (f"{_TS}JPEGLSLosslessTransferSyntax_1.2.840.10008.1.2.4.80.dcm",),
    "jpeg2000": (f"{_TS}JPEG2000LosslessOnlyTransferSyntax_1.2.840.10008.1.2.4.90.dcm",),
    "jpeg_lossless": (f"{_TS}JPEGProcess14SV1TransferSyntax_1.2.840.10008.1.2.4.70.dcm",),
    "enhanced_ct": ("pydicom-data/eCT_Supplemental.dcm",),
    "mr_rle_10f": ("pydicom-data/emri_small_RLE.dcm",),
}
MULTI_SLICE = ("ct4",)
COMPRESSED = ("rle", "jpeg_ls", "jpeg2000", "jpeg_lossless", "mr_rle_10f")
MULTI_FRAME = ("enhanced_ct", "mr_rle_10f")
SINGLE_CT = ("explicit_le", "big_endian", "rle", "jpeg_ls", "jpeg2000", "jpeg_lossless")
ALL_SEEDS = tuple(SEED_FILES)


# -- building mutants
class Build:
    """The seed's datasets being mutated, plus byte-level edits applied after writing."""

    def __init__(self, seed: str, rng: random.Random) -> None:
        import pydicom

        self.seed = seed
        self.rng = rng
        root = shared_dicom_root()
        self.files: list[tuple[str, object]] = [
            (Path(rel).name, pydicom.dcmread(root / rel)) for rel in SEED_FILES[seed]
        ]
        #: Callables run on the written folder, in order (truncation, byte flips, junk).
        self.post: list[Callable[[Path], None]] = []

    @property
    def datasets(self) -> list:
        return [ds for _, ds in self.files]

    def pick(self) -> tuple[int, object]:
        index = self.rng.randrange(len(self.files))
        return index, self.files[index][1]

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, ds in self.files:
            path = folder / name
            syntax = ds.file_meta.TransferSyntaxUID
            encoding = (syntax.is_implicit_VR, syntax.is_little_endian)
            if syntax.is_transfer_syntax and encoding != tuple(ds.original_encoding):
                # A mutation re-encoded the data set (an equivalent rewrite).
                ds.save_as(
                    path,
                    enforce_file_format=False,
                    implicit_vr=encoding[0],
                    little_endian=encoding[1],
                )
            else:
                ds.save_as(path, enforce_file_format=False)
            paths.append(path)
        for edit in self.post:
            edit(folder)
        return paths


def _encoding(ds) -> tuple[bool, bool]:
    implicit, little = ds.original_encoding
    return bool(implicit), bool(little if little is not None else True)


def set_raw(ds, keyword: str | int, value: bytes, vr: str | None = None) -> None:
    """Put ``value`` bytes as the element's value, unvalidated (garbage goes in as is)."""
    from pydicom.datadict import dictionary_VR
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    tag = Tag(keyword)
    vr = vr or dictionary_VR(tag)
    implicit, little = _encoding(ds)
    ds._dict[tag] = RawDataElement(tag, vr, len(value), value, 0, implicit, little, True, False)


def set_text(ds, keyword: str, text: str, vr: str | None = None) -> None:
    """Set a string-valued element to ``text`` (padded to even length), unvalidated."""
    data = text.encode("latin-1", errors="replace")
    if len(data) % 2:
        data += b"\0" if (vr or "") == "UI" or keyword.endswith("UID") else b" "
    set_raw(ds, keyword, data, vr)


def set_ushort(ds, keyword: str, values: list[int], vr: str = "US") -> None:
    """Set a binary integer element; negative values are stored as their 16-bit pattern."""
    _, little = _encoding(ds)
    order = "<" if little else ">"
    if vr == "UL":
        data = b"".join(struct.pack(order + "I", v & 0xFFFFFFFF) for v in values)
    else:
        data = b"".join(struct.pack(order + "H", v & 0xFFFF) for v in values)
    set_raw(ds, keyword, data, vr)


def delete(ds, keyword: str) -> None:
    if keyword in ds:
        del ds[keyword]


def _is_implicit(ds) -> bool:
    return _encoding(ds)[0]


def _pixel_data_offset(data: bytes, little: bool) -> int:
    """Offset of the (7FE0,0010) tag in a written file, or len(data)."""
    tag = b"\xe0\x7f\x10\x00" if little else b"\x7f\xe0\x00\x10"
    offset = data.rfind(tag)
    return offset if offset > 0 else len(data)


# Bad values for decimal-string attributes: each changes or destroys the meaning.
BAD_DECIMALS = (
    "",
    "inf",
    "-inf",
    "nan",
    "1e308",
    "-1e308",
    "1e999",
    "abc",
    "1..2",
    "--5",
    "0x10",
    "1,5",
    "\x00\x01\x02",
    "9" * 64,
)


@dataclass(frozen=True)
class Mutation:
    """What a mutation did and what the loader must show for it."""

    what: str
    oracle: Oracle
    #: Words (any of) a warning or refusal should contain, lower case without spaces.
    terms: tuple[str, ...] = ()
    #: What the commands are given, relative to the mutant folder ("" = the folder).
    target: str = ""
    #: Load with ``--strict`` (refuse whatever would need an assumption).
    strict: bool = False


MutationFn = Callable[[Build], Mutation]


@dataclass(frozen=True)
class MutationClass:
    name: str
    seeds: tuple[str, ...]
    fn: MutationFn


CLASSES: dict[str, MutationClass] = {}


def mutation_class(name: str, seeds: tuple[str, ...]) -> Callable[[MutationFn], MutationFn]:
    def register(fn: MutationFn) -> MutationFn:
        CLASSES[name] = MutationClass(name, seeds, fn)
        return fn

    return register


_RESCALE_TERMS = ("rescale", "intercept", "slope")


@mutation_class("rescale_intercept_bad", MULTI_SLICE + SINGLE_CT)
def _rescale_intercept(b: Build) -> Mutation:
    choice = b.rng.choice(("missing", *BAD_DECIMALS))
    for ds in b.datasets:
        if choice == "missing":
            delete(ds, "RescaleIntercept")
        else:
            set_text(ds, "RescaleIntercept", choice, "DS")
    return Mutation(f"RescaleIntercept={choice!r} on every slice", Oracle.NOTICE, _RESCALE_TERMS)


@mutation_class("rescale_slope_bad", MULTI_SLICE + SINGLE_CT)
def _rescale_slope(b: Build) -> Mutation:
    choice = b.rng.choice(("missing", "0", "1e-300", "-0", *BAD_DECIMALS))
    for ds in b.datasets:
        if choice == "missing":
            delete(ds, "RescaleSlope")
        else:
            set_text(ds, "RescaleSlope", choice, "DS")
    return Mutation(f"RescaleSlope={choice!r} on every slice", Oracle.NOTICE, _RESCALE_TERMS)


@mutation_class("rescale_equivalent_rewrite", MULTI_SLICE)
def _rescale_equivalent(b: Build) -> Mutation:
    import numpy as np

    # Shift stored values up and the intercept down by the same amount: HU unchanged.
    scope = b.rng.choice(("one", "all"))
    shift = b.rng.choice((1, 24, 1000))
    targets = b.datasets if scope == "all" else [b.pick()[1]]
    for ds in targets:
        stored = ds.pixel_array.astype(np.int64)
        if int(stored.max()) + shift >= 1 << int(ds.BitsStored):
            shift = 1
        ds.PixelData = (stored + shift).astype(ds.pixel_array.dtype).tobytes()
        set_text(ds, "RescaleIntercept", str(int(float(ds.RescaleIntercept)) - shift), "DS")
    return Mutation(
        f"stored values +{shift}, RescaleIntercept -{shift} on {scope} slice(s)", Oracle.SAME
    )


@mutation_class("equivalent_rewrite", MULTI_SLICE)
def _equivalent(b: Build) -> Mutation:
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, RLELossless

    choice = b.rng.choice(
        (
            "RLE",
            "deflate",
            "explicit VR",
            "file names reversed",
            "instance numbers shuffled",
            "one folder per slice",
            "DS spelled differently",
            "private tags added",
        )
    )
    scope = b.rng.choice(("one", "all"))
    targets = b.datasets if scope == "all" else [b.pick()[1]]
    for ds in targets:
        if choice == "RLE":
            ds.compress(RLELossless)
        elif choice == "deflate":
            ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        elif choice == "explicit VR":
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        elif choice == "instance numbers shuffled":
            ds.InstanceNumber = b.rng.randrange(1, 10000)
        elif choice == "DS spelled differently":
            intercept = float(ds.RescaleIntercept)
            set_text(ds, "RescaleIntercept", f" {intercept / 1000:+.4f}E3", "DS")
            set_text(ds, "RescaleSlope", "1.000000", "DS")
            x, y, z = (float(v) for v in ds.ImagePositionPatient)
            set_text(ds, "ImagePositionPatient", f"{x:+}\\ {y:.6E}\\{z}", "DS")
        elif choice == "private tags added":
            block = ds.private_block(0x0011, "FUZZ PRIVATE", create=True)
            block.add_new(0x01, "LO", "x" * 64)
            block.add_new(0x02, "OB", bytes(range(256)) * 64)
    if choice == "file names reversed":
        names = [name for name, _ in b.files]
        b.files[:] = [(name, ds) for name, (_, ds) in zip(reversed(names), b.files, strict=True)]
    elif choice == "one folder per slice":
        names = [name for name, _ in b.files]

        def spread(folder: Path) -> None:
            for number, name in enumerate(names):
                (folder / f"sub{number}").mkdir()
                (folder / name).rename(folder / f"sub{number}" / name)

        b.post.append(spread)
    return Mutation(f"equivalent rewrite: {choice} ({scope})", Oracle.SAME)


@mutation_class("rescale_one_slice_bad", MULTI_SLICE)
def _rescale_one_slice(b: Build) -> Mutation:
    index, ds = b.pick()
    keyword = b.rng.choice(("RescaleIntercept", "RescaleSlope"))
    choice = b.rng.choice(("missing", *BAD_DECIMALS))
    if choice == "missing":
        delete(ds, keyword)
    else:
        set_text(ds, keyword, choice, "DS")
    return Mutation(f"{keyword}={choice!r} on slice {index} only", Oracle.NOTICE, _RESCALE_TERMS)


@mutation_class("pixel_representation", ALL_SEEDS)
def _pixel_representation(b: Build) -> Mutation:
    choice = b.rng.choice(("missing", "flipped one slice", "7", "garbage"))
    if choice == "flipped one slice" and len(b.files) < 2:
        choice = "missing"
    terms = ("pixelrepresentation", "pixel representation", "signed")
    if choice == "flipped one slice":
        _, ds = b.pick()
        ds.PixelRepresentation = 1 - int(ds.PixelRepresentation)
    else:
        for ds in b.datasets:
            if choice == "missing":
                delete(ds, "PixelRepresentation")
            elif choice == "7":
                ds.PixelRepresentation = 7
            else:
                set_raw(ds, "PixelRepresentation", b"\xff")
    return Mutation(f"PixelRepresentation {choice}", Oracle.NOTICE, terms)


@mutation_class("pixel_representation_flip_all", ALL_SEEDS)
def _pixel_representation_flip_all(b: Build) -> Mutation:
    # A consistent flip is a valid, different header: only crashes count.
    for ds in b.datasets:
        ds.PixelRepresentation = 1 - int(ds.PixelRepresentation)
    return Mutation("PixelRepresentation flipped on every file", Oracle.NONE)


@mutation_class("bits_inconsistent", ALL_SEEDS)
def _bits(b: Build) -> Mutation:
    keyword = b.rng.choice(("BitsAllocated", "BitsStored", "HighBit"))
    choice = b.rng.choice(("0", "1", "2", "7", "12", "17", "32", "64", "255", "garbage", "missing"))
    scope = b.rng.choice(("all", "one"))
    targets = b.datasets if scope == "all" else [b.pick()[1]]
    unchanged = all(str(ds.get(keyword, "")) == choice for ds in targets)
    for ds in targets:
        if choice == "missing":
            delete(ds, keyword)
        elif choice == "garbage":
            set_raw(ds, keyword, b"abc\0")
        else:
            setattr(ds, keyword, int(choice))
    oracle = Oracle.NONE if unchanged else Oracle.NOTICE
    if keyword == "HighBit" and choice == "missing":
        oracle = Oracle.SAME_OR_NOTICE  # BitsStored - 1 is the only sound reading
    return Mutation(
        f"{keyword}={choice} on {scope} file(s)", oracle, ("bits", "highbit", "high bit")
    )


_SHAPE_TERMS = ("rows", "columns", "size", "shape", "pixeldata", "pixel data", "length", "frames")


@mutation_class("rows_columns_bad", ALL_SEEDS)
def _rows_columns(b: Build) -> Mutation:
    keyword = b.rng.choice(("Rows", "Columns", "both"))
    choice = b.rng.choice(
        (
            "half",
            "quarter",
            "double",
            "plus1",
            "minus1",
            "0",
            "-512",
            "65535",
            "1e9 as UL",
            "two values",
            "garbage",
        )
    )
    scope = b.rng.choice(("all", "one"))
    targets = b.datasets if scope == "all" else [b.pick()[1]]
    for ds in targets:
        for kw in ("Rows", "Columns") if keyword == "both" else (keyword,):
            current = int(ds[kw].value)
            if choice == "half":
                ds[kw].value = current // 2
            elif choice == "quarter":
                ds[kw].value = max(1, current // 4)
            elif choice == "double":
                ds[kw].value = current * 2
            elif choice == "plus1":
                ds[kw].value = current + 1
            elif choice == "minus1":
                ds[kw].value = current - 1
            elif choice == "0":
                ds[kw].value = 0
            elif choice == "-512":
                if _is_implicit(ds):
                    set_ushort(ds, kw, [-512])
                else:
                    set_ushort(ds, kw, [-512], "SS")
            elif choice == "65535":
                ds[kw].value = 65535
            elif choice == "1e9 as UL":
                set_ushort(ds, kw, [10**9], "UL")
            elif choice == "two values":
                set_ushort(ds, kw, [current, current])
            else:
                set_raw(ds, kw, b"xx")
    return Mutation(f"{keyword} {choice} on {scope} file(s)", Oracle.NOTICE, _SHAPE_TERMS)


@mutation_class("rle_extreme_shape", ("rle", "mr_rle_10f"))
def _rle_shape(b: Build) -> Mutation:
    rows, columns = b.rng.choice(((1, 65535), (65535, 1), (65535, 65535), (1, 1), (3, 87381)))
    for ds in b.datasets:
        ds.Rows = rows
        ds.Columns = min(columns, 65535)
    return Mutation(f"RLE Rows={rows} Columns={min(columns, 65535)}", Oracle.NOTICE, _SHAPE_TERMS)


_POSITION_TERMS = (
    "position",
    "imagepositionpatient",
    "spacing",
    "slice",
    "geometry",
    "duplicate",
    "gap",
)


@mutation_class("position_bad", MULTI_SLICE)
def _position(b: Build) -> Mutation:
    index, ds = b.pick()
    choice = b.rng.choice(
        (
            "1e300",
            "nan",
            "inf",
            "duplicated",
            "missing",
            "two values",
            "garbage",
            "-1e300 z",
            "1e6 z",
        )
    )
    x, y, z = (str(v) for v in ds.ImagePositionPatient)
    if choice == "1e300":
        set_text(ds, "ImagePositionPatient", f"1e300\\{y}\\{z}", "DS")
    elif choice == "nan":
        set_text(ds, "ImagePositionPatient", f"{x}\\nan\\{z}", "DS")
    elif choice == "inf":
        set_text(ds, "ImagePositionPatient", f"{x}\\{y}\\inf", "DS")
    elif choice == "duplicated":
        other = b.datasets[(index + 1) % len(b.files)]
        ds.ImagePositionPatient = list(other.ImagePositionPatient)
        delete(ds, "SliceLocation")
    elif choice == "missing":
        delete(ds, "ImagePositionPatient")
    elif choice == "two values":
        set_text(ds, "ImagePositionPatient", f"{x}\\{y}", "DS")
    elif choice == "garbage":
        set_text(ds, "ImagePositionPatient", "a\\b\\c", "DS")
    elif choice == "-1e300 z":
        set_text(ds, "ImagePositionPatient", f"{x}\\{y}\\-1e300", "DS")
    else:
        set_text(ds, "ImagePositionPatient", f"{x}\\{y}\\1e6", "DS")
    return Mutation(
        f"ImagePositionPatient {choice} on slice {index}", Oracle.NOTICE, _POSITION_TERMS
    )


_SPACING_TERMS = ("spacing", "pixelspacing", "pixel spacing", "size")


@mutation_class("pixel_spacing_bad", ALL_SEEDS)
def _pixel_spacing(b: Build) -> Mutation:
    choice = b.rng.choice(
        ("1e-6", "0", "-0.7", "nan", "inf", "1e6", "one value", "garbage", "missing")
    )
    scope = b.rng.choice(("all", "one"))
    targets = b.datasets if scope == "all" else [b.pick()[1]]
    for ds in targets:
        value = {"one value": "0.7", "garbage": "x\\y", "missing": None}.get(
            choice, f"{choice}\\{choice}"
        )
        for carrier in _spacing_carriers(ds):
            if value is None:
                delete(carrier, "PixelSpacing")
            else:
                set_text(carrier, "PixelSpacing", value, "DS")
    return Mutation(f"PixelSpacing {choice} on {scope} file(s)", Oracle.NOTICE, _SPACING_TERMS)


def _spacing_carriers(ds) -> list:
    """The datasets holding PixelSpacing: the file, or the functional group items."""
    carriers = [ds] if "PixelSpacing" in ds else []
    for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        for item in ds.get(group, []):
            for measures in item.get("PixelMeasuresSequence", []):
                if "PixelSpacing" in measures:
                    carriers.append(measures)
    return carriers or [ds]


_ORIENTATION_TERMS = (
    "orientation",
    "imageorientationpatient",
    "direction",
    "tilt",
    "oblique",
    "geometry",
)


@mutation_class("orientation_bad", (*MULTI_SLICE, "explicit_le", "rle"))
def _orientation(b: Build) -> Mutation:
    choice = b.rng.choice(
        (
            "zeros",
            "parallel",
            "non-unit x2",
            "non-unit 0.5",
            "nan",
            "five values",
            "garbage",
            "one slice flipped",
            "missing",
            "non-orthogonal",
            "nearly parallel",
        )
    )
    oracle = Oracle.NOTICE
    if choice == "one slice flipped" and len(b.files) < 2:
        choice = "parallel"
    values = {
        "zeros": "0\\0\\0\\0\\0\\0",
        "parallel": "1\\0\\0\\1\\0\\0",
        "non-unit x2": "2\\0\\0\\0\\2\\0",
        "non-unit 0.5": "0.5\\0\\0\\0\\0.5\\0",
        "non-orthogonal": "1\\0\\0\\0.5\\0.8660254\\0",
        "nearly parallel": "1\\0\\0\\0.99999\\0.0044721\\0",
        "nan": "nan\\0\\0\\0\\1\\0",
        "five values": "1\\0\\0\\0\\1",
        "garbage": "a\\b\\c\\d\\e\\f",
    }
    if choice.startswith("non-unit"):
        # Normalising is a fair reading; only a changed result needs a word.
        oracle = Oracle.SAME_OR_NOTICE
    if choice == "one slice flipped":
        _, ds = b.pick()
        set_text(ds, "ImageOrientationPatient", "-1\\0\\0\\0\\-1\\0", "DS")
    else:
        for ds in b.datasets:
            if choice == "missing":
                delete(ds, "ImageOrientationPatient")
            else:
                set_text(ds, "ImageOrientationPatient", values[choice], "DS")
    if choice == "missing":
        oracle = Oracle.SAME_OR_NOTICE
    return Mutation(f"ImageOrientationPatient {choice}", oracle, _ORIENTATION_TERMS)


@mutation_class("gantry_tilt_tiny_spacing", MULTI_SLICE)
def _tilt(b: Build) -> Mutation:
    tilt_deg = b.rng.choice((10.0, 25.0, 45.0, 89.0))
    spacing = b.rng.choice(("1e-6", "1e-4", "0.01", "1e-9"))
    angle = math.radians(tilt_deg)
    # Rows tilt about the x axis; positions stay on the table axis (a CT gantry tilt).
    orientation = f"1\\0\\0\\0\\{math.cos(angle):.6f}\\{-math.sin(angle):.6f}"
    for ds in b.datasets:
        set_text(ds, "ImageOrientationPatient", orientation, "DS")
        set_text(ds, "PixelSpacing", f"{spacing}\\{spacing}", "DS")
    return Mutation(
        f"gantry tilt {tilt_deg} deg with PixelSpacing {spacing}",
        Oracle.NOTICE,
        (*_SPACING_TERMS, "tilt", "resampl", "memory", "large"),
    )


@mutation_class("number_of_frames_bad", ALL_SEEDS)
def _frames(b: Build) -> Mutation:
    choice = b.rng.choice(
        ("huge 1e9", "2147483647", "0", "-1", "garbage", "one more", "one fewer", "empty")
    )
    for ds in b.datasets:
        current = int(ds.get("NumberOfFrames", 1) or 1)
        text = {
            "huge 1e9": "1000000000",
            "2147483647": "2147483647",
            "0": "0",
            "-1": "-1",
            "garbage": "abc",
            "one more": str(current + 1),
            "one fewer": str(max(current - 1, 0)),
            "empty": "",
        }[choice]
        set_text(ds, "NumberOfFrames", text, "IS")
    oracle = Oracle.NOTICE
    if choice == "empty" or (choice == "one fewer" and b.seed not in MULTI_FRAME):
        oracle = Oracle.SAME_OR_NOTICE  # empty (Type 1 broken) or 0 frames on a single frame
    return Mutation(
        f"NumberOfFrames {choice}",
        oracle,
        ("frames", "numberofframes", "number of frames", "pixel data", "length"),
    )


@mutation_class("samples_photometric_bad", ALL_SEEDS)
def _samples(b: Build) -> Mutation:
    choice = b.rng.choice(
        (
            "samples 3 mono",
            "samples 0",
            "samples missing",
            "RGB with 1 sample",
            "PALETTE COLOR no LUT",
            "photometric garbage",
            "photometric missing",
            "planar 1",
            "YBR_FULL 1 sample",
        )
    )
    for ds in b.datasets:
        if choice == "samples 3 mono":
            ds.SamplesPerPixel = 3
        elif choice == "samples 0":
            ds.SamplesPerPixel = 0
        elif choice == "samples missing":
            delete(ds, "SamplesPerPixel")
        elif choice == "RGB with 1 sample":
            set_text(ds, "PhotometricInterpretation", "RGB", "CS")
        elif choice == "PALETTE COLOR no LUT":
            set_text(ds, "PhotometricInterpretation", "PALETTE COLOR", "CS")
        elif choice == "photometric garbage":
            set_text(ds, "PhotometricInterpretation", "\x01GARBAGE", "CS")
        elif choice == "photometric missing":
            delete(ds, "PhotometricInterpretation")
        elif choice == "planar 1":
            ds.PlanarConfiguration = 1
        else:
            set_text(ds, "PhotometricInterpretation", "YBR_FULL", "CS")
    oracle = (
        Oracle.SAME_OR_NOTICE
        if choice in ("planar 1", "photometric missing", "samples missing")
        else Oracle.NOTICE
    )
    return Mutation(
        f"{choice}", oracle, ("samples", "photometric", "colour", "color", "pixel data", "length")
    )


@mutation_class("truncated_pixel_data", ALL_SEEDS)
def _truncated_pixels(b: Build) -> Mutation:
    fraction = b.rng.choice((0.0, 0.1, 0.5, 0.99))
    index, ds = b.pick()
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        from pydicom.encaps import encapsulate

        frames = compressed_frames(ds)
        budget = int(sum(len(f) for f in frames) * fraction) // 2 * 2
        kept = []
        for frame in frames:
            if budget <= 0:
                break
            kept.append(frame[:budget])
            budget -= len(frame)
        ds.PixelData = encapsulate(kept or [b"\0\0"])
        what = f"compressed frames cut to {fraction:.0%} of their bytes in file {index}"
    else:
        data = ds.PixelData
        ds.PixelData = data[: int(len(data) * fraction) // 2 * 2]
        what = f"pixel data cut to {fraction:.0%} (length consistent) in file {index}"
    return Mutation(
        what,
        Oracle.NOTICE,
        ("truncat", "pixel data", "pixeldata", "length", "short", "decode", "frames", "expected"),
    )


@mutation_class("truncated_file", ALL_SEEDS)
def _truncated_file(b: Build) -> Mutation:
    index = b.rng.randrange(len(b.files))
    name = b.files[index][0]
    fraction = b.rng.choice((0.001, 0.05, 0.2, 0.5, 0.9, 0.999))

    def cut(folder: Path) -> None:
        path = folder / name
        data = path.read_bytes()
        path.write_bytes(data[: max(1, int(len(data) * fraction))])

    b.post.append(cut)
    return Mutation(
        f"file {index} truncated to {fraction:.1%} of its bytes",
        Oracle.SAME_OR_NOTICE,
        (
            "truncat",
            "skipp",
            "length",
            "short",
            "pixel data",
            "gap",
            "spacing",
            "missing",
            "not a dicom",
            "unreadable",
            "cannot",
        ),
    )


@mutation_class("header_byte_flips", ALL_SEEDS)
def _byte_flips(b: Build) -> Mutation:
    index = b.rng.randrange(len(b.files))
    name = b.files[index][0]
    count = b.rng.choice((1, 2, 4, 16, 64))
    seed = b.rng.randrange(1 << 30)

    def flip(folder: Path) -> None:
        path = folder / name
        data = bytearray(path.read_bytes())
        _, little = _encoding(b.files[index][1])
        end = _pixel_data_offset(bytes(data), little)
        rng = random.Random(seed)
        for _ in range(count):
            position = rng.randrange(0, max(end, 1))
            data[position] ^= 1 << rng.randrange(8) if rng.random() < 0.7 else rng.randrange(1, 256)
        path.write_bytes(bytes(data))

    b.post.append(flip)
    return Mutation(
        f"{count} random byte flip(s) in the header of file {index} (rng {seed})", Oracle.NONE
    )


#: Numeric attributes whose garbage changes the image's meaning.
_MEANINGFUL_NUMERIC = {
    "RescaleIntercept": "DS",
    "RescaleSlope": "DS",
    "PixelSpacing": "DS",
    "ImagePositionPatient": "DS",
    "ImageOrientationPatient": "DS",
    "Rows": "US",
    "Columns": "US",
    "BitsAllocated": "US",
    "BitsStored": "US",
    "HighBit": "US",
    "PixelRepresentation": "US",
    "SamplesPerPixel": "US",
}
_OTHER_NUMERIC = {
    "SliceThickness": "DS",
    "SliceLocation": "DS",
    "InstanceNumber": "IS",
    "SeriesNumber": "IS",
    "WindowCenter": "DS",
    "WindowWidth": "DS",
    "KVP": "DS",
    "XRayTubeCurrent": "IS",
    "AcquisitionNumber": "IS",
    "SpacingBetweenSlices": "DS",
    "StudyDate": "DA",
    "PatientBirthDate": "DA",
    "PatientAge": "AS",
    "StudyTime": "TM",
}
_GARBAGE_STRINGS = (
    "abc",
    "1..2",
    "\x00\xff\xfe",
    "\\\\\\\\",
    "1e999",
    "-",
    "+",
    " ",
    "x" * 10000,
    "1\\2\\3\\4\\5\\6\\7\\8\\9",
    "٣",
    "NaN\\NaN",
    "20261345",
)


@mutation_class("garbage_in_numeric_tags", ALL_SEEDS)
def _garbage_numeric(b: Build) -> Mutation:
    meaningful = b.rng.random() < 0.6
    table = _MEANINGFUL_NUMERIC if meaningful else _OTHER_NUMERIC
    keyword = b.rng.choice(sorted(table))
    how = b.rng.choice(("string", "wrong VR binary", "wrong VR UN", "odd length"))
    # A well-formed number would be a valid, different value, not garbage.
    garbage = b.rng.choice([g for g in _GARBAGE_STRINGS if not g.isdigit()])
    scope = b.rng.choice(("all", "one"))
    targets = b.datasets if scope == "all" else [b.pick()[1]]
    # Garbage in an attribute the file did not have may rightly be ignored.
    present = all(keyword in ds for ds in targets)
    for ds in targets:
        if how == "string":
            set_raw(
                ds,
                keyword,
                garbage.encode("utf-8")[:20000],
                None if table[keyword] != "US" else "US",
            )
        elif how == "wrong VR binary":
            vr = "FD" if table[keyword] != "FD" else "US"
            _, little = _encoding(ds)
            number = b.rng.choice((1e308, -3.5, 0.0, float("nan")))
            garbage = f"FD {number}"
            set_raw(
                ds,
                keyword,
                struct.pack("<d" if little else ">d", number),
                vr if not _is_implicit(ds) else None,
            )
        elif how == "wrong VR UN":
            set_raw(
                ds,
                keyword,
                garbage.encode("utf-8")[:64] + b" " * (len(garbage.encode("utf-8")[:64]) % 2),
                "UN" if not _is_implicit(ds) else None,
            )
    if how == "odd length":
        # The value itself is kept, one byte shorter on disk: a parsing test only.
        names = [name for name, ds in b.files if any(ds is t for t in targets)]
        implicit, little = _encoding(targets[0])
        b.post.extend(
            lambda folder, name=name: _shorten_element(folder / name, keyword, implicit, little)
            for name in names
        )
    oracle = Oracle.NOTICE if meaningful and present and how != "odd length" else Oracle.NONE
    terms = (
        keyword.lower(),
        *{
            "RescaleIntercept": _RESCALE_TERMS,
            "RescaleSlope": _RESCALE_TERMS,
            "PixelSpacing": _SPACING_TERMS,
            "ImagePositionPatient": _POSITION_TERMS,
            "ImageOrientationPatient": _ORIENTATION_TERMS,
        }.get(keyword, (*_SHAPE_TERMS, "bits", "pixelrepresentation", "samples")),
    )
    return Mutation(f"{keyword} <- {how} {garbage[:20]!r} on {scope} file(s)", oracle, terms)


_LONG_LENGTH_VRS = (b"OB", b"OW", b"OF", b"OD", b"OL", b"SQ", b"UC", b"UN", b"UR", b"UT")


def _shorten_element(path: Path, keyword: str, implicit: bool, little: bool) -> None:
    """Drop the last byte of the first ``keyword`` element's value, fixing its length field."""
    from pydicom.tag import Tag

    tag = Tag(keyword)
    order = "<" if little else ">"
    data = bytearray(path.read_bytes())
    position = data.find(struct.pack(order + "HH", tag.group, tag.element), 132)
    if position < 0:
        return
    if implicit:
        at, size = position + 4, 4
    elif bytes(data[position + 4 : position + 6]) in _LONG_LENGTH_VRS:
        at, size = position + 8, 4
    else:
        at, size = position + 6, 2
    code = order + ("I" if size == 4 else "H")
    (length,) = struct.unpack(code, data[at : at + size])
    if length == 0 or length == 0xFFFFFFFF:
        return
    data[at : at + size] = struct.pack(code, length - 1)
    del data[at + size + length - 1]
    path.write_bytes(bytes(data))


_DELETABLE = (
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "SeriesNumber",
    "InstanceNumber",
    "Modality",
    "SOPClassUID",
    "FrameOfReferenceUID",
    "SliceThickness",
    "ImageType",
    "SpecificCharacterSet",
    "PatientPosition",
    "SliceLocation",
)


_GROUPING = {
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "FrameOfReferenceUID",
    "Modality",
    "SOPClassUID",
    "ImageType",
}


@mutation_class("deleted_type1_type2", ALL_SEEDS)
def _deleted(b: Build) -> Mutation:
    keywords = b.rng.sample(_DELETABLE, b.rng.choice((1, 1, 2, 5, len(_DELETABLE))))
    scope = b.rng.choice(("all", "one"))
    targets = b.datasets if scope == "all" else [b.pick()[1]]
    blank = b.rng.random() < 0.3
    for ds in targets:
        for keyword in keywords:
            if blank and keyword in ds:
                ds[keyword].value = None
            else:
                delete(ds, keyword)
    how = "emptied" if blank else "deleted"
    # Without the attributes that group files into a series, the file rightly leaves
    # the series (the listing shows it apart): only crashes count then.
    regroups = scope == "one" and bool(set(keywords) & _GROUPING)
    return Mutation(
        f"{how} {', '.join(keywords)} on {scope} file(s)",
        Oracle.NONE if regroups else Oracle.SAME_OR_NOTICE,
        (*tuple(k.lower() for k in keywords), "uid", "missing", "series", "modality"),
    )


_SYNTAXES = (
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.100",
    "1.2.3.4.5.6.7",
    "garbage",
    "",
)


@mutation_class("transfer_syntax_changed", ALL_SEEDS)
def _transfer_syntax(b: Build) -> Mutation:
    current = str(b.files[0][1].file_meta.TransferSyntaxUID)
    new = b.rng.choice([s for s in _SYNTAXES if s != current] + ["no file meta"])
    scope = b.rng.choice(("all", "one"))
    indices = range(len(b.files)) if scope == "all" else [b.rng.randrange(len(b.files))]
    names = [b.files[i][0] for i in indices]

    def rewrite(folder: Path) -> None:
        for name in names:
            _rewrite_transfer_syntax(folder / name, new)

    b.post.append(rewrite)
    return Mutation(
        f"TransferSyntaxUID {current} -> {new!r} on {scope} file(s)",
        Oracle.SAME_OR_NOTICE,
        ("transfer syntax", "transfersyntax", "decode", "syntax"),
    )


def _rewrite_transfer_syntax(path: Path, new: str) -> None:
    """Replace the file meta of a written file, keeping the data set bytes as they are."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info

    data = path.read_bytes()
    meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
    group_length = struct.unpack("<I", data[140:144])[0]
    body = data[144 + group_length :]
    if new == "no file meta":
        path.write_bytes(body)
        return
    new_meta = FileMetaDataset(meta)
    new_meta.TransferSyntaxUID = new if new else "1.2.840.10008.1.2.1"
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = False
    write_file_meta_info(buffer, new_meta, enforce_standard=False)
    header = buffer.getvalue()
    if not new:
        header = header.replace(b"1.2.840.10008.1.2.1\0", b"                    ")
    path.write_bytes(b"\0" * 128 + b"DICM" + header + body)


@mutation_class("mixed_series", MULTI_SLICE)
def _mixed(b: Build) -> Mutation:
    import pydicom

    root = shared_dicom_root()
    choice = b.rng.choice(
        (
            "other CT same series UID",
            "MR frames same series UID",
            "same SOPInstanceUID twice",
            "same position other pixels",
            "other frame of reference",
            "rows differ on one slice",
        )
    )
    uid = b.files[0][1].SeriesInstanceUID
    if choice == "other CT same series UID":
        other = pydicom.dcmread(root / SEED_FILES[b.rng.choice(SINGLE_CT)][0])
        other.SeriesInstanceUID = uid
        b.files.append(("other_ct.dcm", other))
    elif choice == "MR frames same series UID":
        other = pydicom.dcmread(root / SEED_FILES["mr_rle_10f"][0])
        other.SeriesInstanceUID = uid
        other.StudyInstanceUID = b.files[0][1].StudyInstanceUID
        b.files.append(("mr.dcm", other))
    elif choice == "same SOPInstanceUID twice":
        b.datasets[1].SOPInstanceUID = b.datasets[0].SOPInstanceUID
        choice += " (different pixels)"
    elif choice == "same position other pixels":
        copy = pydicom.dcmread(root / SEED_FILES["ct4"][0])
        copy.SOPInstanceUID = copy.SOPInstanceUID + ".9"
        data = bytearray(copy.PixelData)
        data[: len(data) // 2] = bytes(len(data) // 2)
        copy.PixelData = bytes(data)
        b.files.append(("copy.dcm", copy))
    elif choice == "other frame of reference":
        b.datasets[2].FrameOfReferenceUID = "1.2.3.4.5"
    else:
        ds = b.datasets[1]
        ds.Rows = 256
        ds.PixelData = ds.PixelData[: 256 * 512 * 2]
    return Mutation(
        f"mixed series: {choice}",
        Oracle.SAME_OR_NOTICE,
        (
            "series",
            "split",
            "duplicate",
            "mixed",
            "differ",
            "frame of reference",
            "several",
            "skipp",
            "rows",
        ),
    )


@mutation_class("non_dicom_junk", (*MULTI_SLICE, "rle", "enhanced_ct"))
def _junk(b: Build) -> Mutation:
    choice = b.rng.choice(
        (
            "random bytes",
            "empty file",
            "DICM then junk",
            "text file",
            "png header",
            "directory named .dcm",
            "fifo",
            "symlink loop",
            "broken symlink",
            "unreadable file",
            "only junk",
            "DICOMDIR garbage",
            "huge sparse file",
            "symlink to /dev/zero",
            "symlink to /dev/urandom",
            "newline in a file name",
            "series 150 folders deep",
            "2000 empty files",
            "100 one-slice series",
        )
    )
    seed = b.rng.randrange(1 << 30)

    def add(folder: Path) -> None:
        rng = random.Random(seed)
        if choice == "random bytes":
            (folder / "junk.dcm").write_bytes(rng.randbytes(rng.randrange(1, 5000)))
        elif choice == "empty file":
            (folder / "empty.dcm").write_bytes(b"")
        elif choice == "DICM then junk":
            (folder / "fake.dcm").write_bytes(b"\0" * 128 + b"DICM" + rng.randbytes(3000))
        elif choice == "text file":
            (folder / "README.txt").write_text("not an image\n" * 50)
        elif choice == "png header":
            (folder / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n" + rng.randbytes(100))
        elif choice == "directory named .dcm":
            (folder / "dir.dcm").mkdir()
        elif choice == "fifo":
            os.mkfifo(folder / "pipe.dcm")
        elif choice == "symlink loop":
            (folder / "loop").symlink_to(folder, target_is_directory=True)
        elif choice == "broken symlink":
            (folder / "gone.dcm").symlink_to(folder / "does-not-exist")
        elif choice == "unreadable file":
            path = folder / "locked.dcm"
            shutil.copy(next(folder.glob("*.dcm")), path)
            path.chmod(0)
        elif choice == "only junk":
            for child in list(folder.iterdir()):
                child.unlink()
            (folder / "a").write_bytes(rng.randbytes(1000))
            (folder / "b.dcm").write_bytes(b"")
        elif choice == "DICOMDIR garbage":
            (folder / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM" + rng.randbytes(500))
        elif choice.startswith("symlink to /dev/"):
            (folder / "device.dcm").symlink_to(choice.removeprefix("symlink to "))
        elif choice == "newline in a file name":
            slice_path = next(folder.glob("*.dcm"))
            slice_path.rename(folder / f"evil\nname {slice_path.name}")
        elif choice == "2000 empty files":
            for number in range(2000):
                (folder / f"empty{number}.dcm").write_bytes(b"")
        elif choice == "100 one-slice series":
            import pydicom

            source = next(folder.glob("*.dcm"))
            dataset = pydicom.dcmread(source)
            for number in range(100):
                dataset.SeriesInstanceUID = f"1.2.826.0.1.3680043.9.7777.{number + 1}"
                dataset.SOPInstanceUID = f"1.2.826.0.1.3680043.9.7778.{number + 1}"
                dataset.save_as(folder / f"series{number}.dcm", enforce_file_format=False)
        elif choice == "series 150 folders deep":
            deep = folder.joinpath(*["d"] * 150)
            deep.mkdir(parents=True)
            for slice_path in list(folder.glob("*.dcm")):
                slice_path.rename(deep / slice_path.name)
        else:
            with open(folder / "sparse.dcm", "wb") as handle:
                handle.write(b"\0" * 128 + b"DICM")
                handle.seek(6 * 1024**3)
                handle.write(b"\0")

    b.post.append(add)
    oracle = Oracle.NONE if choice == "only junk" else Oracle.SAME_OR_NOTICE
    return Mutation(
        f"junk beside the series: {choice}",
        oracle,
        ("skipp", "not a dicom", "unreadable", "cannot"),
    )


@mutation_class("missing_middle_slice", MULTI_SLICE)
def _missing_middle(b: Build) -> Mutation:
    index = b.rng.choice((1, 2))
    del b.files[index]
    return Mutation(
        f"slice {index} of 4 removed (a gap)",
        Oracle.SAME_OR_NOTICE,
        ("gap", "spacing", "irregular", "missing"),
    )


def outside_folder(folder: Path) -> Path:
    """A sibling of the mutant folder: where hostile references point to."""
    return folder.with_name(folder.name + "_outside")


@mutation_class("dicomdir_hostile", MULTI_SLICE)
def _dicomdir(b: Build) -> Mutation:
    choice = b.rng.choice(
        ("dotdot outside", "absolute outside", "self", "missing file", "a folder", "no records")
    )
    names = [name for name, _ in b.files]
    stray = b.datasets[0].copy()

    def add(folder: Path) -> None:
        from pydicom.dataset import Dataset, FileMetaDataset
        from pydicom.sequence import Sequence
        from pydicom.uid import ExplicitVRLittleEndian

        outside = outside_folder(folder)
        outside.mkdir(exist_ok=True)
        # A fifth slice outside the folder: listed only if a reference escapes.
        stray.SOPInstanceUID = stray.SOPInstanceUID + ".77"
        x, y, z = (float(v) for v in stray.ImagePositionPatient)
        stray.ImagePositionPatient = [x, y, z + 3.0 * 7]
        stray.save_as(outside / "stray.dcm", enforce_file_format=False)
        references = [[name] for name in names]
        extra = {
            "dotdot outside": ["..", outside.name, "stray.dcm"],
            "absolute outside": [str(outside / "stray.dcm")],
            "self": ["DICOMDIR"],
            "missing file": ["NOPE", "X.dcm"],
            "a folder": ["."],
            "no records": None,
        }[choice]
        if extra is None:
            references = []
        else:
            references.append(extra)
        directory = Dataset()
        directory.file_meta = FileMetaDataset()
        directory.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
        directory.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5.6.7.8"
        directory.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        directory.preamble = b"\0" * 128
        directory.FileSetID = "FUZZ"
        records = []
        for reference in references:
            record = Dataset()
            record.DirectoryRecordType = "IMAGE"
            record.ReferencedFileID = reference
            records.append(record)
        directory.DirectoryRecordSequence = Sequence(records)
        directory.save_as(folder / "DICOMDIR", enforce_file_format=False, implicit_vr=False)

    b.post.append(add)
    return Mutation(
        f"DICOMDIR referencing the slices plus {choice}",
        Oracle.SAME_OR_NOTICE,
        ("dicomdir", "outside", "missing", "skipp"),
        target="DICOMDIR",
    )


@mutation_class("pixel_data_element_odd", ALL_SEEDS)
def _pixel_element(b: Build) -> Mutation:
    choice = b.rng.choice(("deleted", "as FloatPixelData", "odd length", "one byte", "VR OB<->OW"))
    index, ds = b.pick()
    data = ds.PixelData
    compressed = ds.file_meta.TransferSyntaxUID.is_compressed
    if choice == "deleted":
        del ds.PixelData
    elif choice == "as FloatPixelData":
        del ds.PixelData
        set_raw(ds, 0x7FE00008, data[: len(data) // 4 * 4] if len(data) >= 4 else b"\0" * 4, "OF")
    elif choice == "odd length" and not compressed:
        # pydicom pads odd values when writing: shorten the written element instead.
        name = b.files[index][0]
        implicit, little = _encoding(ds)
        b.post.append(lambda folder: _drop_last_pixel_byte(folder / name, implicit, little))
    elif choice == "odd length":
        from pydicom.encaps import encapsulate

        frames = compressed_frames(ds)
        ds.PixelData = encapsulate([*frames[:-1], frames[-1][:-1]])
    elif choice == "one byte" and not compressed:
        set_raw(ds, "PixelData", b"\x01", "OB")
    elif choice == "one byte":
        from pydicom.encaps import encapsulate

        ds.PixelData = encapsulate([b"\x01"])
    else:
        ds["PixelData"].VR = "OB" if ds["PixelData"].VR == "OW" else "OW"
    # A codestream one byte short may still decode whole: only a change needs a word.
    oracle = (
        Oracle.SAME_OR_NOTICE
        if choice == "VR OB<->OW" or (compressed and choice == "odd length")
        else Oracle.NOTICE
    )
    return Mutation(
        f"PixelData {choice} in file {index}",
        oracle,
        ("pixel data", "pixeldata", "length", "truncat", "skipp", "no image", "float", "decode"),
    )


def _drop_last_pixel_byte(path: Path, implicit: bool, little: bool) -> None:
    """Make the (last) pixel data element one byte shorter, its length field included."""
    data = bytearray(path.read_bytes())
    offset = _pixel_data_offset(bytes(data), little)
    length_at = offset + (4 if implicit else 8)
    order = "<" if little else ">"
    (length,) = struct.unpack(order + "I", data[length_at : length_at + 4])
    if length_at + 4 + length != len(data):
        return
    data[length_at : length_at + 4] = struct.pack(order + "I", length - 1)
    path.write_bytes(bytes(data[:-1]))


@mutation_class("monochrome1", (*MULTI_SLICE, "explicit_le", "rle"))
def _monochrome1(b: Build) -> Mutation:
    # MONOCHROME1 inverts the display, never the stored HU: the values must not change.
    for ds in b.datasets:
        set_text(ds, "PhotometricInterpretation", "MONOCHROME1", "CS")
    return Mutation("PhotometricInterpretation MONOCHROME1", Oracle.SAME_OR_NOTICE, ("monochrome",))


@mutation_class("sop_class_changed", ALL_SEEDS)
def _sop_class(b: Build) -> Mutation:
    choice = b.rng.choice(
        (
            "1.2.840.10008.5.1.4.1.1.481.3",  # RT Structure Set
            "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
            "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
            "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
            "1.2.840.10008.5.1.4.1.1.4",  # MR
            "1.2.3.4",
            "garbage",
        )
    )
    scope = b.rng.choice(("all", "one"))
    targets = b.datasets if scope == "all" else [b.pick()[1]]
    for ds in targets:
        set_text(ds, "SOPClassUID", choice, "UI")
        ds.file_meta.MediaStorageSOPClassUID = choice if choice != "garbage" else "1.2.3"
    return Mutation(f"SOPClassUID {choice} on {scope} file(s)", Oracle.NONE)


@mutation_class("duplicate_and_jitter", MULTI_SLICE)
def _duplicate(b: Build) -> Mutation:
    import copy

    choice = b.rng.choice(
        ("same file twice", "shift 0.7 mm", "tilt 0.5 deg", "tilt 3 deg", "swap positions")
    )
    index, ds = b.pick()
    if choice == "same file twice":
        b.files.append((f"copy_of_{b.files[index][0]}", copy.deepcopy(ds)))
        oracle = Oracle.SAME_OR_NOTICE
    elif choice == "shift 0.7 mm":
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        set_text(ds, "ImagePositionPatient", f"{x}\\{y}\\{z + 0.7}", "DS")
        oracle = Oracle.SAME_OR_NOTICE
    elif choice == "swap positions":
        other = b.datasets[(index + 1) % len(b.files)]
        ds.ImagePositionPatient, other.ImagePositionPatient = (
            list(other.ImagePositionPatient),
            list(ds.ImagePositionPatient),
        )
        oracle = Oracle.NONE  # a valid, different stack: sorting by position is right
    else:
        angle = math.radians(0.5 if choice == "tilt 0.5 deg" else 3.0)
        orientation = f"1\\0\\0\\0\\{math.cos(angle):.8f}\\{-math.sin(angle):.8f}"
        set_text(ds, "ImageOrientationPatient", orientation, "DS")
        oracle = Oracle.SAME_OR_NOTICE
    return Mutation(f"{choice} (slice {index})", oracle, ("duplicate", "spacing", "orientation"))


@mutation_class("degenerate_valid_shapes", ("ct4", "explicit_le"))
def _degenerate_shapes(b: Build) -> Mutation:
    # Valid files of odd sizes: only crashes, hangs and blow-ups count.
    choice = b.rng.choice(("1x1", "1 row", "1 column", "20000 frames of 4x4", "3x3 slices"))
    for ds in b.datasets:
        rows, columns, frames = {
            "1x1": (1, 1, 1),
            "1 row": (1, 512, 1),
            "1 column": (512, 1, 1),
            "20000 frames of 4x4": (4, 4, 20000),
            "3x3 slices": (3, 3, 1),
        }[choice]
        ds.Rows, ds.Columns = rows, columns
        stored = bytes(ds.PixelData[: 2 * rows * columns]) * frames
        ds.PixelData = stored
        if frames > 1:
            set_text(ds, "NumberOfFrames", str(frames), "IS")
    return Mutation(f"valid {choice} image(s)", Oracle.NONE)


#: Classes whose damage stays in place, so that one file can be named as the target.
_IN_PLACE_CLASSES = (
    "bits_inconsistent",
    "charset_garbage",
    "element_length_huge",
    "garbage_in_numeric_tags",
    "header_byte_flips",
    "number_of_frames_bad",
    "pixel_data_element_odd",
    "pixel_representation",
    "pixel_spacing_bad",
    "rescale_intercept_bad",
    "rescale_slope_bad",
    "rle_extreme_shape",
    "rows_columns_bad",
    "samples_photometric_bad",
    "transfer_syntax_changed",
    "truncated_file",
    "truncated_pixel_data",
)


@mutation_class("file_target_or_strict", ALL_SEEDS)
def _entry_points(b: Build) -> Mutation:
    # The same damage reached by another door: one file named, and/or --strict.
    inner_name = b.rng.choice([n for n in _IN_PLACE_CLASSES if b.seed in CLASSES[n].seeds])
    inner = CLASSES[inner_name].fn(b)
    variant = b.rng.choice(("file", "strict", "file and strict"))
    if len(b.files) > 1:
        variant = "strict"  # one file of several is another series than the seed's
    return Mutation(
        f"{inner_name}: {inner.what} [{variant}]",
        inner.oracle,
        inner.terms,
        target=b.files[0][0] if "file" in variant else "",
        strict="strict" in variant,
    )


#: Bytes of zeros a deflate bomb inflates to (beyond the plausible size of any slice).
DEFLATE_BOMB_BYTES = 2 * 1024**3


@functools.cache
def _deflate_bomb_tail(little: bool) -> bytes:
    """A raw deflate stream ending the data set with a private OB element of zeros."""
    import zlib

    order = "<" if little else ">"
    creator = struct.pack(order + "HH", 0x7FE1, 0x0010) + b"LO" + struct.pack(order + "H", 4)
    element = struct.pack(order + "HH", 0x7FE1, 0x1010) + b"OB\0\0"
    element += struct.pack(order + "I", DEFLATE_BOMB_BYTES)
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
    parts = [compressor.compress(creator + b"FUZZ" + element)]
    chunk = bytes(16 * 1024**2)
    for _ in range(DEFLATE_BOMB_BYTES // len(chunk)):
        parts.append(compressor.compress(chunk))
    parts.append(compressor.flush())
    return b"".join(parts)


def _make_deflate_bomb(path: Path) -> None:
    """Rewrite a deflated file so that its data set inflates by ``DEFLATE_BOMB_BYTES`` of zeros."""
    import zlib

    data = path.read_bytes()
    group_length = struct.unpack("<I", data[140:144])[0]
    head, body = data[: 144 + group_length], data[144 + group_length :]
    dataset = zlib.decompress(body, -15)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    # A sync flush ends on a byte boundary without a final block: the bomb's stream follows.
    prefix = compressor.compress(dataset) + compressor.flush(zlib.Z_SYNC_FLUSH)
    path.write_bytes(head + prefix + _deflate_bomb_tail(True))


@mutation_class("deflate_bomb", ("ct4", "explicit_le"))
def _deflate_bomb(b: Build) -> Mutation:
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    index, ds = b.pick()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    name = b.files[index][0]
    b.post.append(lambda folder: _make_deflate_bomb(folder / name))
    return Mutation(
        f"file {index} deflated, its data set inflating to {DEFLATE_BOMB_BYTES / 1024**3:.0f} GiB",
        Oracle.NONE,
    )


def compressed_frames(ds) -> list[bytes]:
    """The frames of encapsulated pixel data (fragments joined, offset table left out)."""
    from pydicom.encaps import generate_frames

    count = int(ds.get("NumberOfFrames", 1) or 1)
    return list(generate_frames(ds.PixelData, number_of_frames=count))


def _patch_frame_size(stream: bytes, size: int) -> bytes:
    """The codestream with the frame size its own header declares set to ``size`` square."""
    data = bytearray(stream)
    siz = data.find(b"\xff\x4f\xff\x51")  # JPEG 2000: SOC then SIZ
    if siz >= 0:
        for offset in (8, 12, 24, 28):  # Xsiz, Ysiz, XTsiz, YTsiz
            data[siz + offset : siz + offset + 4] = struct.pack(">I", size)
        return bytes(data)
    for marker in (b"\xff\xf7", b"\xff\xc3", b"\xff\xc0", b"\xff\xc1"):  # SOF55, SOF3, SOF0/1
        sof = data.find(marker)
        if sof >= 0:
            data[sof + 5 : sof + 9] = struct.pack(">HH", min(size, 65535), min(size, 65535))
            return bytes(data)
    return bytes(data)


@mutation_class("codestream_size_bomb", ("jpeg2000", "jpeg_ls", "jpeg_lossless"))
def _codestream_bomb(b: Build) -> Mutation:
    from pydicom.encaps import encapsulate

    size = b.rng.choice((1024, 65535, 200000))
    header_too = b.rng.random() < 0.3
    ds = b.datasets[0]
    frames = compressed_frames(ds)
    ds.PixelData = encapsulate([_patch_frame_size(frames[0], size), *frames[1:]])
    if header_too:
        ds.Rows = ds.Columns = min(size, 65535)
    where = "codestream and header" if header_too else "codestream only"
    return Mutation(
        f"frame size {size}x{size} in the {where}",
        Oracle.NOTICE,
        (*_SHAPE_TERMS, "decode", "implausible", "range", "corrupt", "damaged"),
    )


@mutation_class("encapsulation_odd", ("rle", "jpeg_ls", "jpeg2000", "jpeg_lossless"))
def _encapsulation(b: Build) -> Mutation:
    from pydicom.encaps import encapsulate

    choice = b.rng.choice(
        ("100000 fragments", "bogus offset table", "no sequence delimiter", "garbage item tag")
    )
    ds = b.datasets[0]
    name = b.files[0][0]
    (frame,) = compressed_frames(ds)
    oracle = Oracle.SAME_OR_NOTICE
    if choice == "100000 fragments":
        count = min(len(frame) // 2, 100000)
        ds.PixelData = encapsulate([frame], fragments_per_frame=count)
    elif choice == "bogus offset table":
        ds.PixelData = encapsulate([frame], has_bot=True)

        def patch(folder: Path) -> None:
            path = folder / name
            data = bytearray(path.read_bytes())
            # The Basic Offset Table: the first item after the pixel data tag, 4 bytes long.
            item = data.find(
                b"\xfe\xff\x00\xe0\x04\x00\x00\x00", _pixel_data_offset(bytes(data), True)
            )
            if item >= 0:
                data[item + 8 : item + 12] = struct.pack("<I", 0xFFFFFFF0)
            path.write_bytes(bytes(data))

        b.post.append(patch)
    else:
        # Byte-level damage at the end of the encapsulated pixel data: parsing only.
        oracle = Oracle.NONE

        def damage(folder: Path) -> None:
            path = folder / name
            data = bytearray(path.read_bytes())
            delimiter = data.rfind(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
            if choice == "no sequence delimiter" and delimiter > 0:
                del data[delimiter:]
            elif choice == "garbage item tag":
                first_item = data.find(b"\xfe\xff\x00\xe0", _pixel_data_offset(bytes(data), True))
                if first_item > 0:
                    data[first_item : first_item + 4] = b"\x12\x34\x56\x78"
            path.write_bytes(bytes(data))

        b.post.append(damage)
    return Mutation(
        f"encapsulated pixel data: {choice}",
        oracle,
        ("fragment", "offset", "encapsulat", "pixel data", "decode"),
    )


@mutation_class("hostile_file_names", ALL_SEEDS)
def _hostile_names(b: Build) -> Mutation:
    # Damage one file so that a message names it, then give every file a name that
    # could break a one-line message or a terminal.
    name = b.rng.choice(("evil\nname", "tab\tand\rcr", "esc\x1b[31mred", "ünïcødé ☢", "-rf", " "))
    index, ds = b.pick()
    ds.Rows = int(ds.Rows) // 2
    renamed = [(f"{name}{i}.dcm", dataset) for i, (_, dataset) in enumerate(b.files)]
    b.files[:] = renamed
    return Mutation(
        f"files named {name!r}N.dcm, Rows halved in file {index}",
        Oracle.NOTICE,
        _SHAPE_TERMS,
    )


@mutation_class("modality_lut_present", (*MULTI_SLICE, "explicit_le"))
def _modality_lut(b: Build) -> Mutation:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    kind = b.rng.choice(("scaled LUT", "garbage LUT", "empty sequence"))
    for ds in b.datasets:
        item = Dataset()
        _, little = _encoding(ds)
        order = "<" if little else ">"
        if kind == "scaled LUT":
            descriptor, table = [4096, 0, 16], [min(65535, 3 * v) for v in range(4096)]
        else:
            descriptor, table = [0, 65535, 3], [1, 2, 3]
        if kind != "empty sequence":
            item.ModalityLUTType = "HU"
            set_raw(item, "LUTDescriptor", struct.pack(order + "3H", *descriptor), "US")
            data = struct.pack(f"{order}{len(table)}H", *table)
            set_raw(item, "LUTData", data + b"\0" * (len(data) % 2), "OW")
        ds.ModalityLUTSequence = Sequence([item] if kind != "empty sequence" else [])
    oracle = {"empty sequence": Oracle.NONE, "scaled LUT": Oracle.DIFFER_OR_NOTICE}.get(
        kind, Oracle.NOTICE
    )
    return Mutation(
        f"ModalityLUTSequence: {kind}", oracle, ("lut", "modality lut", "modalitylut", "rescale")
    )


@mutation_class("element_length_huge", ALL_SEEDS)
def _length_huge(b: Build) -> Mutation:
    index = b.rng.randrange(len(b.files))
    name = b.files[index][0]
    keyword = b.rng.choice(
        ("SeriesDescription", "PatientName", "Rows", "ImagePositionPatient", "PixelData")
    )
    length = b.rng.choice((0xFFFFFFF0, 0x7FFFFFFF, 0x40000000, 0xFFFFFFFF))
    ds = b.files[index][1]

    def patch(folder: Path) -> None:
        from pydicom.tag import Tag

        path = folder / name
        data = bytearray(path.read_bytes())
        implicit, little = _encoding(ds)
        tag = Tag(keyword)
        order = "<" if little else ">"
        tag_bytes = struct.pack(order + "HH", tag.group, tag.element)
        position = data.rfind(tag_bytes) if keyword == "PixelData" else data.find(tag_bytes, 132)
        if position < 0:
            return
        if implicit:
            data[position + 4 : position + 8] = struct.pack(order + "I", length)
        elif bytes(data[position + 4 : position + 6]) in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"OF"):
            data[position + 8 : position + 12] = struct.pack(order + "I", length)
        else:
            data[position + 6 : position + 8] = struct.pack(order + "H", length & 0xFFFF)
        path.write_bytes(bytes(data))

    b.post.append(patch)
    return Mutation(f"{keyword} length field set to {length:#x} in file {index}", Oracle.NONE)


@mutation_class("nested_sequences_deep", ("ct4", "explicit_le"))
def _nested(b: Build) -> Mutation:
    depth = b.rng.choice((100, 2000, 20000))
    for ds in b.datasets:
        implicit, little = _encoding(ds)
        order = "<" if little else ">"
        item_start = struct.pack(order + "HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
        item_end = struct.pack(order + "HHI", 0xFFFE, 0xE00D, 0)
        seq_end = struct.pack(order + "HHI", 0xFFFE, 0xE0DD, 0)
        head = struct.pack(order + "HH", 0x0009, 0x1010) + (
            struct.pack(order + "I", 0xFFFFFFFF)
            if implicit
            else b"SQ\0\0" + struct.pack(order + "I", 0xFFFFFFFF)
        )
        # One item holding the next sequence, ``depth`` times; the innermost is empty.
        items = b""
        for _ in range(depth):
            items = item_start + head + items + seq_end + item_end
        # pydicom writes a raw value as it is: the sequence delimiter is part of it.
        value = items + seq_end
        set_raw(ds, 0x00090010, b"FUZZ", "LO")
        from pydicom.dataelem import RawDataElement
        from pydicom.tag import Tag

        ds._dict[Tag(0x00091010)] = RawDataElement(
            Tag(0x00091010), "SQ", 0xFFFFFFFF, value, 0, implicit, little, True, False
        )
    return Mutation(f"private sequence nested {depth} deep", Oracle.SAME_OR_NOTICE)


@mutation_class("functional_groups_bad", ("enhanced_ct",))
def _functional_groups(b: Build) -> Mutation:
    choice = b.rng.choice(
        (
            "per-frame deleted",
            "shared deleted",
            "per-frame one item",
            "plane position deleted",
            "pixel measures deleted",
            "per-frame extra items",
            "position nan",
            "rescale intercept missing",
            "rescale intercept nan",
            "rescale slope 0",
            "orientation degenerate",
            "frame 2 rescale garbage",
        )
    )
    ds = b.datasets[0]
    shared = ds.get("SharedFunctionalGroupsSequence") or [None]
    transform = (shared[0] or {}).get("PixelValueTransformationSequence") or [None]
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if choice == "per-frame deleted":
        delete(ds, "PerFrameFunctionalGroupsSequence")
    elif choice == "shared deleted":
        delete(ds, "SharedFunctionalGroupsSequence")
    elif choice == "per-frame one item" and per_frame:
        del per_frame[1:]
    elif choice == "plane position deleted" and per_frame:
        for item in per_frame:
            delete(item, "PlanePositionSequence")
    elif choice == "pixel measures deleted":
        for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
            for item in ds.get(group, []):
                delete(item, "PixelMeasuresSequence")
    elif choice == "per-frame extra items" and per_frame:
        import copy

        per_frame.append(copy.deepcopy(per_frame[0]))
    elif choice == "position nan" and per_frame:
        for item in per_frame[:1]:
            for position in item.get("PlanePositionSequence", []):
                set_text(position, "ImagePositionPatient", "nan\\0\\0", "DS")
    elif choice == "rescale intercept missing" and transform[0] is not None:
        delete(transform[0], "RescaleIntercept")
    elif choice == "rescale intercept nan" and transform[0] is not None:
        set_text(transform[0], "RescaleIntercept", "nan", "DS")
    elif choice == "rescale slope 0" and transform[0] is not None:
        set_text(transform[0], "RescaleSlope", "0", "DS")
    elif choice == "orientation degenerate" and shared[0] is not None:
        for orientation in shared[0].get("PlaneOrientationSequence", []):
            set_text(orientation, "ImageOrientationPatient", "1\\0\\0\\1\\0\\0", "DS")
    elif choice == "frame 2 rescale garbage" and per_frame and transform[0] is not None:
        import copy

        item = copy.deepcopy(transform[0])
        set_text(item, "RescaleIntercept", "abc", "DS")
        per_frame[1].PixelValueTransformationSequence = [item]
    return Mutation(
        f"enhanced CT functional groups: {choice}",
        Oracle.NOTICE,
        (
            "functional",
            "position",
            "spacing",
            "frames",
            "geometry",
            "orientation",
            "missing",
            "per-frame",
            *_RESCALE_TERMS,
        ),
    )


@mutation_class("charset_garbage", ALL_SEEDS)
def _charset(b: Build) -> Mutation:
    choice = b.rng.choice(
        ("ISO_IR 999", "ISO 2022 IR 87 with junk", "\x00", "ISO_IR 192 invalid utf8")
    )
    for ds in b.datasets:
        if choice == "ISO_IR 192 invalid utf8":
            set_text(ds, "SpecificCharacterSet", "ISO_IR 192", "CS")
            set_raw(ds, "PatientName", b"\xff\xfe\xc3\x28^X", "PN")
            set_raw(ds, "SeriesDescription", b"\xc3\x28\xa0\xa1", "LO")
        elif choice == "ISO 2022 IR 87 with junk":
            set_text(ds, "SpecificCharacterSet", "ISO 2022 IR 87", "CS")
            set_raw(ds, "PatientName", b"\x1b$B\xff\xff\x1b(B", "PN")
        else:
            set_text(ds, "SpecificCharacterSet", choice, "CS")
    return Mutation(f"SpecificCharacterSet {choice!r}", Oracle.NONE)


# -- running a mutant in the worker process
def build_mutant(seed: int, index: int, folder: Path) -> tuple[str, str, Mutation, str]:
    """Write mutant ``index`` of run ``seed`` into ``folder``.

    Returns the class name, the seed name, the mutation and the seed's series UID.
    """
    rng = random.Random(f"{seed}:{index}")
    names = sorted(CLASSES)
    cls = CLASSES[names[index % len(names)]]
    seed_name = rng.choice(cls.seeds)
    build = Build(seed_name, rng)
    uid = str(build.files[0][1].get("SeriesInstanceUID", ""))
    mutation = cls.fn(build)
    build.write(folder)
    return cls.name, seed_name, mutation, uid


def build_baseline(seed_name: str, folder: Path) -> str:
    build = Build(seed_name, random.Random(0))
    build.write(folder)
    return str(build.files[0][1].SeriesInstanceUID)


def _digest(volume) -> dict[str, object]:
    import numpy as np

    voxels = np.asarray(volume.voxels, dtype=np.float64)
    finite = np.isfinite(voxels)
    rounded = np.round(np.where(finite, voxels, 0.0), 3)
    return {
        "shape": list(voxels.shape),
        "sha1": hashlib.sha1(rounded.tobytes() + finite.tobytes()).hexdigest(),
        "min": float(rounded.min()) if voxels.size else None,
        "max": float(rounded.max()) if voxels.size else None,
        "nonfinite": int(voxels.size - int(finite.sum())),
        "spacing_mm": [float(v) for v in volume.geometry.spacing_mm],
        "origin_lps_mm": [float(v) for v in volume.geometry.origin_lps_mm],
        "direction": [float(v) for v in np.asarray(volume.geometry.direction).ravel()],
    }


@contextlib.contextmanager
def _capture_fds() -> object:
    """Route fd 1 and 2 (Python and native writes alike) into temporary files."""
    captured: dict[str, str] = {}
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            for name, handle in (("native_stdout", out), ("stderr", err)):
                handle.seek(0)
                captured[name] = handle.read().decode("utf-8", errors="replace")


def run_cli(argv: list[str]) -> dict[str, object]:
    """Run ``cryoplan`` in this process as a user would; never raises."""
    import warnings

    from planning_core import cli
    from planning_core.commands import info

    # A fresh process prints each warning once: forget what earlier runs printed.
    getattr(warnings, "_filters_mutated", lambda: None)()
    loaded: list[object] = []
    original = info.load_series

    def capture(*args: object, **kwargs: object) -> object:
        volume = original(*args, **kwargs)
        loaded.append(volume)
        return volume

    info.load_series = capture
    stdout = io.StringIO()
    outcome: dict[str, object] = {"argv": argv}
    _reset_peak_memory()
    with _capture_fds() as captured, contextlib.redirect_stdout(stdout):
        try:
            outcome["rc"] = cli.main(argv)
        except SystemExit as exit_:
            outcome["rc"] = exit_.code if isinstance(exit_.code, int) else 1
        except MemoryError:
            outcome["rc"] = None
            outcome["memory"] = True
            traceback.print_exc()
        except BaseException:
            outcome["rc"] = None
            outcome["traceback"] = True
            traceback.print_exc()
        finally:
            info.load_series = original
    outcome.update(captured)
    text = stdout.getvalue()
    try:
        outcome["json"] = json.loads(text) if text.strip() else None
    except ValueError:
        outcome["json"] = None
    outcome["peak_rss_bytes"] = _peak_memory_bytes()
    if loaded:
        try:
            outcome["digest"] = _digest(loaded[-1])
        except MemoryError:
            outcome["memory"] = True
            outcome["stderr"] = (
                f"{outcome.get('stderr', '')}(fuzzer) MemoryError digesting a volume "
                f"of shape {loaded[-1].voxels.shape}"
            )
        loaded.clear()
    return outcome


def _reset_peak_memory() -> None:
    """Reset this process's peak-RSS mark (Linux: /proc/self/clear_refs)."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _peak_memory_bytes() -> int | None:
    with contextlib.suppress(OSError), open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def run_mutant(
    folder: Path,
    fallback_uid: str,
    result_path: Path,
    target: str = "",
    strict: bool = False,
    protocol: io.TextIOBase | None = None,
) -> None:
    """Listing, then loading each listed series; the result file is rewritten after each step.

    Each command's start is announced on ``protocol`` ("started"), so that the parent
    times every command on its own.
    """
    result: dict[str, object] = {"phases": []}

    def save(started: str | None = None) -> None:
        result["started"] = started
        result_path.write_text(json.dumps(result))
        if started is not None and protocol is not None:
            protocol.write("started\n")

    save("list")
    # The text listing is what a user reads; the JSON one gives the series keys.
    result["phases"].append({"phase": "list", **run_cli(["info", str(folder / target)])})
    save("list --json")
    listing = run_cli(["info", str(folder / target), "--json"])
    listing.pop("json_full", None)
    keys = _series_keys(listing.get("json")) or ([fallback_uid] if fallback_uid else [])
    listing["outside_files"] = [
        path for path in _listed_files(listing.get("json")) if not _inside(Path(path), folder)
    ]
    listing["json"] = None
    result["phases"].append({"phase": "list", **listing})
    for key in keys[:MAX_LOADS_PER_MUTANT]:
        save(f"load {key}")
        argv = ["info", str(folder / target), "--series", key, "--json"]
        loaded = run_cli([*argv, "--strict"] if strict else argv)
        loaded["notes"] = _notes(loaded.pop("json"), key)
        result["phases"].append({"phase": "load", "key": key, **loaded})
    save(None)


def _listed_files(report: object) -> list[str]:
    if not isinstance(report, dict):
        return []
    return [
        f
        for study in report.get("studies", [])
        for s in study.get("series", [])
        for f in s.get("files", [])
    ]


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def _series_keys(report: object) -> list[str]:
    if not isinstance(report, dict):
        return []
    return [s["key"] for study in report.get("studies", []) for s in study.get("series", [])]


def _notes(report: object, key: str) -> list[str]:
    """Every warning and skip reason a user reading the load's output would see."""
    if not isinstance(report, dict):
        return []
    notes = list(report.get("warnings", []))
    notes += [f"skipped {s.get('path')}: {s.get('reason')}" for s in report.get("skipped", [])]
    for study in report.get("studies", []):
        for series in study.get("series", []):
            if series.get("key") == key:
                notes += list(series.get("warnings", []))
    notes += list((report.get("volume") or {}).get("warnings", []))
    return notes


def worker_main(memory_cap_bytes: int) -> int:
    """Serve mutants: one JSON request a line on stdin, 'done' on the protocol fd."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_cap_bytes, memory_cap_bytes))
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    import planning_core.cli  # noqa: F401 - import once, outside the timed runs

    protocol.write("ready\n")
    for line in sys.stdin:
        request = json.loads(line)
        folder = Path(request["folder"])
        result_path = Path(request["result"])
        try:
            target, strict = "", False
            if request.get("baseline"):
                uid = build_baseline(request["baseline"], folder)
                meta = {"baseline": request["baseline"]}
            else:
                cls, seed_name, mutation, uid = build_mutant(
                    request["seed"], request["index"], folder
                )
                meta = {
                    "class": cls,
                    "seed_file": seed_name,
                    "what": mutation.what,
                    "oracle": mutation.oracle.value,
                    "terms": list(mutation.terms),
                    "target": mutation.target,
                    "strict": mutation.strict,
                }
                target, strict = mutation.target, mutation.strict
        except Exception:
            result_path.write_text(json.dumps({"build_error": traceback.format_exc()}))
            protocol.write("done\n")
            continue
        Path(str(result_path) + ".meta").write_text(json.dumps({**meta, "uid": uid}))
        run_mutant(folder, uid, result_path, target, strict, protocol)
        protocol.write("done\n")
    return 0


# -- the parent: workers, classification, table
_CHILD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "1",
}
#: Variables a user's shell rarely has and that change what libraries print.
_CHILD_ENV_DROPPED = ("PYTHONWARNINGS", "RUST_BACKTRACE")


class Worker:
    """One long-lived worker process; restarted after a hang or a crash."""

    def __init__(self, memory_cap_bytes: int, timeout_s: float) -> None:
        self.memory_cap_bytes = memory_cap_bytes
        self.timeout_s = timeout_s
        self.process: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        env = {**os.environ, **_CHILD_ENV}
        for name in _CHILD_ENV_DROPPED:
            env.pop(name, None)
        return subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--worker",
                "--memory-cap-gib",
                str(self.memory_cap_bytes / 1024**3),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=PROJECT_ROOT,
            start_new_session=True,
        )

    def run(self, request: dict[str, object]) -> str:
        """'done', 'hang' or 'died (exit CODE)' (a negative code is the killing signal)."""
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
            # The worker imports the planner before taking requests; that is not timed.
            if self._reply(STARTUP_TIMEOUT_S) != "ready":
                self.stop()
                raise RuntimeError("the fuzz worker did not start (cannot import the planner?)")
        process = self.process
        assert process.stdin is not None
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        reply = self._reply(self.timeout_s)
        while reply == "started":  # the next command of the mutant: its own time limit
            reply = self._reply(self.timeout_s)
        if reply == "done":
            return "done"
        if reply is None:
            self.stop()
            return "hang"
        code = process.wait()
        self.process = None
        return f"died (exit {code})"

    def _reply(self, timeout_s: float) -> str | None:
        """The worker's next line ('' at end of file), or None when it takes too long."""
        process = self.process
        assert process is not None and process.stdout is not None
        reply: list[str] = []
        reader = threading.Thread(
            target=lambda: reply.append(process.stdout.readline()), daemon=True
        )
        reader.start()
        reader.join(timeout_s)
        return None if reader.is_alive() else reply[0].strip()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait()
        self.process = None


@dataclass
class Tally:
    mutants: int = 0
    loads: int = 0
    counts: Counter = field(default_factory=Counter)


OUTCOMES = ("clean", "refused", "traceback", "hang", "memory", "noise", "silent")
FAILURES = OUTCOMES[2:]


def classify_run(phase: dict[str, object]) -> str:
    """The outcome of one command (listing or load), before the meaning oracle."""
    if phase.get("memory") or (phase.get("peak_rss_bytes") or 0) > PLAUSIBLE_PEAK_BYTES:
        return "memory"
    stderr = str(phase.get("stderr", ""))
    if phase.get("traceback") or "Traceback" in stderr:
        return "traceback"
    rc = phase.get("rc")
    lines = [line for line in stderr.split("\n") if line.strip()]  # a \r is not a new line
    if rc == 0:
        return "noise" if lines or phase.get("native_stdout", "").strip() else "clean"
    if rc == 2:
        return "refused" if len(lines) == 1 else "noise"
    return "traceback"


def judge_listing(phase: dict[str, object]) -> tuple[str, dict[str, object], str]:
    """Outcome of the listing: files read from outside the folder count as silent."""
    outcome = classify_run(phase)
    outside = phase.get("outside_files") or []
    if outcome in ("clean", "noise") and outside:
        return "silent", phase, f"listed files outside the folder: {outside[:3]}"
    return outcome, phase, ""


def _same_volume(a: dict[str, object], b: dict[str, object]) -> bool:
    if a.get("shape") != b.get("shape") or a.get("sha1") != b.get("sha1"):
        return False
    return all(
        len(a[k]) == len(b[k])
        and all(
            math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-4) for x, y in zip(a[k], b[k], strict=True)
        )
        for k in ("spacing_mm", "origin_lps_mm", "direction")
    )


def _mentions(notes: list[str], terms: list[str]) -> bool:
    if not terms:
        return bool(notes)
    squashed = [n.lower().replace(" ", "").replace("_", "") for n in notes]
    return any(t.lower().replace(" ", "") in n for n in squashed for t in terms)


def judge_load(
    phase: dict[str, object], meta: dict[str, object], baseline: dict[str, object]
) -> tuple[str, str]:
    """Outcome of one load, with the meaning oracle; returns (outcome, why)."""
    outcome = classify_run(phase)
    if outcome != "clean" and outcome != "noise":
        return outcome, ""
    if phase.get("rc") != 0:
        return outcome, ""
    oracle = Oracle(meta.get("oracle", "none"))
    if oracle is Oracle.NONE:
        return outcome, ""
    notes = [n for n in phase.get("notes", []) if n not in baseline.get("notes", [])]
    digest = phase.get("digest") or {}
    same = bool(digest) and _same_volume(digest, baseline.get("digest", {}))
    if oracle is Oracle.SAME:
        if same:
            return outcome, ""
        return (
            "silent",
            f"equivalent header, different voxels/grid; new warnings: {notes or 'none'}",
        )
    if oracle is Oracle.SAME_OR_NOTICE and (same or notes):
        return outcome, ""
    if oracle is Oracle.DIFFER_OR_NOTICE and (not same or notes):
        return outcome, ""
    terms = list(meta.get("terms", []))
    if oracle is Oracle.NOTICE and _mentions(notes, terms):
        return outcome, ""
    # An unchanged result that a standing warning already explains (say, spacing
    # assumed because the seed has none) tells the user as much as a new one.
    if oracle is Oracle.NOTICE and same and _mentions(list(phase.get("notes", [])), terms):
        return outcome, ""
    why = "voxels/grid unchanged" if same else "voxels/grid differ from the seed's"
    return "silent", f"{why}; new warnings: {notes or 'none'}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="number of mutants (default 1000)")
    parser.add_argument(
        "--seed", type=int, default=14, help="run seed: the same seed makes the same mutants"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, choices=(1, 2), help="worker processes (1 or 2)"
    )
    parser.add_argument("--report", type=Path, help="write the failing cases (markdown) here")
    parser.add_argument(
        "--timeout-s", type=float, default=20.0, help="time allowed per command (default 20)"
    )
    parser.add_argument(
        "--memory-cap-gib",
        type=float,
        default=MEMORY_CAP_BYTES / 1024**3,
        help="address-space cap of a worker",
    )
    parser.add_argument("--classes", help="comma-separated mutation classes to run (default: all)")
    parser.add_argument("--only", type=int, help="run only mutant INDEX (reproduction)")
    parser.add_argument(
        "--keep", type=Path, help="with --only: build the mutant in this folder and keep it"
    )
    parser.add_argument(
        "--list", action="store_true", help="only build and describe the mutants, run nothing"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def select_indices(count: int, classes: set[str] | None = None) -> list[int]:
    """The first ``count`` mutant indices whose class is in ``classes`` (all by default)."""
    names = sorted(CLASSES)
    wanted = set(names) if classes is None else classes
    unknown = wanted - set(names)
    if unknown:
        raise SystemExit(
            f"--classes: unknown class(es) {sorted(unknown)}; known: {', '.join(names)}"
        )
    indices: list[int] = []
    index = 0
    while len(indices) < count:
        if names[index % len(names)] in wanted:
            indices.append(index)
        index += 1
    return indices


@dataclass(frozen=True)
class FuzzSettings:
    """How mutants are run."""

    seed: int = 14
    jobs: int = 1
    timeout_s: float = 20.0
    memory_cap_bytes: int = MEMORY_CAP_BYTES
    #: Build the (single) mutant here and keep it (reproduction).
    keep: Path | None = None


def fuzz(indices: list[int], settings: FuzzSettings) -> tuple[dict[str, Tally], list[dict]]:
    """Run the mutants ``indices``; returns the tallies by class and the failing cases."""
    scratch = Path(tempfile.mkdtemp(prefix="fuzz_dicom_"))
    workers = [Worker(settings.memory_cap_bytes, settings.timeout_s) for _ in range(settings.jobs)]
    try:
        baselines = _baselines(workers[0], scratch)
        results = _run_all(indices, settings, workers, scratch)
    finally:
        for worker in workers:
            worker.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return _summarise(results, baselines, settings)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cap = int(args.memory_cap_gib * 1024**3)
    if args.worker:
        return worker_main(cap)
    if not shared_dicom_root().is_dir():
        print(
            f"no shared DICOM at {shared_dicom_root()} (set CRYOPLAN_SHARED_DICOM)", file=sys.stderr
        )
        return 2
    started = time.monotonic()
    if args.keep is not None and (
        args.only is None or (args.keep.exists() and any(args.keep.iterdir()))
    ):
        print("--keep needs --only and a new or empty folder", file=sys.stderr)
        return 2
    if args.only is not None:
        indices = [args.only]
    else:
        classes = set(args.classes.split(",")) if args.classes else None
        indices = select_indices(args.count, classes)
    if args.list:
        for index in indices:
            with tempfile.TemporaryDirectory() as folder:
                cls, seed_name, mutation, _ = build_mutant(args.seed, index, Path(folder) / "m")
                _remove(Path(folder) / "m")
            print(f"#{index} {cls} [{seed_name}] {mutation.what} ({mutation.oracle.value})")
        return 0
    settings = FuzzSettings(args.seed, args.jobs, args.timeout_s, cap, args.keep)
    tallies, failures = fuzz(indices, settings)
    print(format_table(tallies))
    print(
        f"{len(indices)} mutants in {time.monotonic() - started:.0f} s, "
        f"seed {args.seed}, {args.jobs} job(s)"
    )
    if args.report is not None:
        _write_report(args.report, tallies, failures, args.seed)
        print(f"failures written to {args.report}")
    if args.only is not None:
        for failure in failures:
            print(json.dumps(failure, indent=1))
    return 1 if count_failures(tallies) else 0


def count_failures(tallies: dict[str, Tally]) -> int:
    """Commands that ended in anything but a clean result or a clean refusal."""
    return sum(t.counts[o] for t in tallies.values() for o in FAILURES)


def _baselines(worker: Worker, scratch: Path) -> dict[str, dict[str, object]]:
    """The load of each unmutated seed; a seed that does not load is left out, with a word."""
    baselines: dict[str, dict[str, object]] = {}
    for seed_name in SEED_FILES:
        folder = scratch / f"baseline_{seed_name}"
        result_path = scratch / f"baseline_{seed_name}.json"
        request = {"baseline": seed_name, "folder": str(folder), "result": str(result_path)}
        status = worker.run(request)
        result = json.loads(result_path.read_text()) if result_path.exists() else {}
        loads = [p for p in result.get("phases", []) if p["phase"] == "load" and p.get("rc") == 0]
        if status != "done" or not loads:
            stderr = [p.get("stderr", "") for p in result.get("phases", [])]
            print(f"unmutated seed {seed_name} does not load ({status}): {stderr}", file=sys.stderr)
            continue
        baselines[seed_name] = {
            "digest": loads[0].get("digest"),
            "notes": loads[0].get("notes", []),
        }
    return baselines


def _run_all(
    indices: list[int], settings: FuzzSettings, workers: list[Worker], scratch: Path
) -> list[dict]:
    results: list[dict] = []
    lock = threading.Lock()
    queue = list(indices)

    def serve(worker: Worker) -> None:
        while True:
            with lock:
                if not queue:
                    return
                index = queue.pop(0)
            folder = settings.keep if settings.keep is not None else scratch / f"m{index}"
            result_path = scratch / f"m{index}.json"
            status = worker.run(
                {
                    "seed": settings.seed,
                    "index": index,
                    "folder": str(folder),
                    "result": str(result_path),
                }
            )
            result = json.loads(result_path.read_text()) if result_path.exists() else {}
            meta_path = Path(str(result_path) + ".meta")
            meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
            entry = {
                "index": index,
                "status": status,
                "result": result,
                "meta": meta,
                "folder": str(folder),
            }
            if settings.keep is None:
                _remove(folder)
                _remove(outside_folder(folder))
                result_path.unlink(missing_ok=True)
                meta_path.unlink(missing_ok=True)
            with lock:
                results.append(entry)
                if len(results) % 50 == 0:
                    print(f"  {len(results)}/{len(indices)} mutants", file=sys.stderr, flush=True)

    threads = [threading.Thread(target=serve, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results, key=lambda e: e["index"])


def _remove(folder: Path) -> None:
    if not folder.exists():
        return
    for path in folder.rglob("*") if not folder.is_symlink() else []:
        with contextlib.suppress(OSError):
            if not path.is_symlink():
                path.chmod(0o700)
    shutil.rmtree(folder, ignore_errors=True)


def _summarise(
    results: list[dict], baselines: dict, settings: FuzzSettings
) -> tuple[dict[str, Tally], list[dict]]:
    tallies: dict[str, Tally] = defaultdict(Tally)
    failures: list[dict] = []
    build_errors: list[str] = []
    for entry in results:
        meta, result = entry["meta"], entry["result"]
        if "build_error" in result or "class" not in meta:
            tally = tallies["(fuzzer could not build)"]
            tally.mutants += 1
            build_errors.append(f"#{entry['index']}: {str(result.get('build_error'))[-300:]}")
            continue
        if meta["seed_file"] not in baselines:
            tallies["(unmutated seed does not load)"].mutants += 1
            continue
        tally = tallies[meta["class"]]
        tally.mutants += 1
        phases = result.get("phases", [])
        outcomes: list[tuple[str, dict, str]] = []
        for phase in phases:
            if phase["phase"] == "list":
                outcomes.append(judge_listing(phase))
            else:
                tally.loads += 1
                outcome, why = judge_load(phase, meta, baselines[meta["seed_file"]])
                outcomes.append((outcome, phase, why))
        if entry["status"] != "done":
            stuck = result.get("started") or "?"
            if stuck.startswith("load"):
                tally.loads += 1
            kind = (
                "hang"
                if entry["status"] == "hang"
                else ("memory" if _near_cap(entry) else "traceback")
            )
            outcomes.append(
                (
                    kind,
                    {
                        "argv": ["info", str(Path(entry["folder"]) / meta.get("target", ""))]
                        + (["--series", stuck[5:]] if stuck.startswith("load") else [])
                        + (["--strict"] if meta.get("strict") and stuck.startswith("load") else []),
                        "stderr": entry["status"],
                    },
                    f"worker {entry['status']} during {stuck}",
                )
            )
        for outcome, phase, why in outcomes:
            tally.counts[outcome] += 1
            if outcome == "memory" and phase.get("peak_rss_bytes"):
                why = f"{why} peak RSS {phase['peak_rss_bytes'] / 1024**2:.0f} MiB".strip()
            if outcome not in ("clean", "refused"):
                failures.append(
                    {
                        "class": meta["class"],
                        "outcome": outcome,
                        "index": entry["index"],
                        "seed_file": meta["seed_file"],
                        "mutation": meta["what"],
                        "command": "cryoplan " + " ".join(phase.get("argv", [])),
                        "why": why,
                        "stderr_tail": "\n".join(str(phase.get("stderr", "")).splitlines()[-6:]),
                        "reproduce": f"python benchmarks/fuzz_dicom.py --seed {settings.seed} "
                        f"--only {entry['index']} --keep /tmp/mutant{entry['index']}",
                    }
                )
    for error in build_errors:
        print(f"fuzzer could not build mutant {error}", file=sys.stderr)
    return tallies, failures


def _near_cap(entry: dict) -> bool:
    # A worker killed by the kernel (SIGKILL/SIGSEGV) inside a load is most likely at the cap.
    return "exit -9" in entry["status"]


def format_table(tallies: dict[str, Tally]) -> str:
    header = f"{'class':32} {'mutants':>7} {'loads':>6} " + " ".join(f"{o:>9}" for o in OUTCOMES)
    lines = [header, "-" * len(header)]
    total = Tally()
    for name in sorted(tallies):
        tally = tallies[name]
        total.mutants += tally.mutants
        total.loads += tally.loads
        total.counts.update(tally.counts)
        lines.append(
            f"{name:32} {tally.mutants:>7} {tally.loads:>6} "
            + " ".join(f"{tally.counts[o]:>9}" for o in OUTCOMES)
        )
    lines.append("-" * len(header))
    lines.append(
        f"{'total':32} {total.mutants:>7} {total.loads:>6} "
        + " ".join(f"{total.counts[o]:>9}" for o in OUTCOMES)
    )
    lines.append(
        "(clean ... silent count commands: a text and a JSON listing plus the loads of each mutant)"
    )
    return "\n".join(lines)


def _write_report(path: Path, tallies: dict[str, Tally], failures: list[dict], seed: int) -> None:
    lines = [
        f"# DICOM fuzz report (seed {seed}, {sum(t.mutants for t in tallies.values())} mutants)",
        "",
        "```",
        format_table(tallies),
        "```",
        "",
    ]
    by_kind: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for failure in failures:
        by_kind[(failure["outcome"], failure["class"])].append(failure)
    for (outcome, cls), items in sorted(by_kind.items()):
        lines.append(f"## {outcome}: {cls} ({len(items)})")
        for item in items[:8]:
            lines.append(f"- #{item['index']} [{item['seed_file']}] {item['mutation']}")
            lines.append(f"  - command: `{item['command']}`")
            if item["why"]:
                lines.append(f"  - why: {item['why']}")
            tail = item["stderr_tail"].replace("\n", "\n    ")
            lines.append(
                f"  - stderr: `{tail}`"
                if "\n" not in tail
                else f"  - stderr:\n    ```\n    {tail}\n    ```"
            )
            lines.append(f"  - reproduce: `{item['reproduce']}`")
        if len(items) > 8:
            lines.append(f"- ... {len(items) - 8} more")
        lines.append("")
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
