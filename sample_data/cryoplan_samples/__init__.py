"""Deterministic synthetic sample cases with ground truth.

CT cases are written as DICOM series, the breast case as a 3-D ultrasound volume.

``ensure_sample_case("kidney")`` returns a ready case (generating it once into the
user cache); ``cryoplan sample-data`` does the same from the command line.
"""

from cryoplan_samples.cases import (
    GENERATOR_VERSION,
    SAMPLE_CASE_NAMES,
    SampleCase,
    default_sample_root,
    default_seed,
    ensure_sample_case,
    generate_sample_case,
    load_sample_case,
)

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
