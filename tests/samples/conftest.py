"""All sample cases, generated once per test session into a temporary folder."""

from __future__ import annotations

import time

import pytest
from cryoplan_samples import SAMPLE_CASE_NAMES, SampleCase, generate_sample_case


@pytest.fixture(scope="session")
def generated_cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SampleCase]:
    root = tmp_path_factory.mktemp("sample-cases")
    cases = {}
    for name in SAMPLE_CASE_NAMES:
        started = time.perf_counter()
        cases[name] = generate_sample_case(name, root / name)
        # A figure for the log, not an assertion: generation time depends on the machine.
        print(f"generated sample case {name} in {time.perf_counter() - started:.2f} s")
    return cases


@pytest.fixture(scope="session")
def ct_cases(generated_cases: dict[str, SampleCase]) -> dict[str, SampleCase]:
    return {
        name: case for name, case in generated_cases.items() if case.manifest["modality"] == "CT"
    }
