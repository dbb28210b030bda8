"""Deterministic synthetic sample cases with ground truth.

CT cases are written as DICOM series, the breast case as a 3-D ultrasound volume.

``ensure_sample_case("kidney")`` returns a ready case (generating it once into the
user cache); ``cryoplan sample-data`` does the same from the command line. The
core opens sample cases through the case-source registry
(:mod:`cryoplan_samples.case_source`), never by importing this package.

The generator's names are imported on first access (PEP 562): ``cryoplan`` loads
this package's command and case source at every start, which must stay quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from cryoplan_samples.names import SAMPLE_CASE_NAMES

if TYPE_CHECKING:
    from cryoplan_samples.cases import (
        GENERATOR_VERSION,
        SampleCase,
        default_sample_root,
        default_seed,
        ensure_sample_case,
        generate_sample_case,
        load_sample_case,
    )

_FROM_CASES = frozenset(
    {
        "GENERATOR_VERSION",
        "SampleCase",
        "default_sample_root",
        "default_seed",
        "ensure_sample_case",
        "generate_sample_case",
        "load_sample_case",
    }
)


def __getattr__(name: str) -> object:
    if name in _FROM_CASES:
        return getattr(importlib.import_module("cryoplan_samples.cases"), name)
    raise AttributeError(f"module 'cryoplan_samples' has no attribute {name!r}")


__all__ = [
    "GENERATOR_VERSION",
    "SAMPLE_CASE_NAMES",
    "SampleCase",
    "default_sample_root",
    "default_seed",
    "ensure_sample_case",
    "generate_sample_case",
    "load_sample_case",
]
