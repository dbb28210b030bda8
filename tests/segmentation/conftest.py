"""Sample cases loaded once per session for the segmentation tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray

from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume


@dataclass
class LoadedCase:
    name: str
    volume: Volume
    labels: LabelMap
    manifest: dict

    @property
    def truth(self) -> NDArray[np.bool_]:
        return self.labels.mask("tumor")

    @property
    def seed_lps_mm(self) -> NDArray[np.float64]:
        return np.asarray(self.manifest["tumor"]["seed_lps_mm"], dtype=np.float64)


_CACHE: dict[str, LoadedCase] = {}


@pytest.fixture(scope="session")
def sample_case():
    """``sample_case(name)`` -> :class:`LoadedCase` (generated once into the user cache)."""
    samples = pytest.importorskip("cryoplan_samples")
    from planning_core.imaging.loader import load_image

    def load(name: str) -> LoadedCase:
        if name not in _CACHE:
            case = samples.ensure_sample_case(name)
            volume = load_image(case.image_path)
            _CACHE[name] = LoadedCase(
                name, volume, case.load_labels(reference=volume.geometry), case.manifest
            )
        return _CACHE[name]

    return load


_SEGMENT_FIGURES: dict[str, dict[str, float]] = {}


@pytest.fixture(scope="session")
def segment_figures() -> dict[str, dict[str, float]]:
    """Per-case one-click figures, filled by the tests and printed at the end of the run."""
    return _SEGMENT_FIGURES


def pytest_terminal_summary(terminalreporter) -> None:
    if not _SEGMENT_FIGURES:
        return
    terminalreporter.section("one-click tumor figures (issue 4)")
    for name, row in _SEGMENT_FIGURES.items():
        parts = []
        if "dice" in row:
            parts.append(
                f"Dice {row['dice']:.3f}, MSD {row['msd_mm']:.2f} mm, volume "
                f"{row['volume_ml']:.2f} ml (truth {row['truth_ml']:.2f})"
            )
        if "seed_min" in row:
            parts.append(f"10 seeds Dice {row['seed_min']:.3f}-{row['seed_max']:.3f}")
        terminalreporter.write_line(f"{name}: " + "; ".join(parts))
