"""Helpers of the report tests (a conftest is not imported by name: several folders have one)."""

from __future__ import annotations

import shutil

import pytest


def require_tool(name: str) -> str:
    """Path of a command-line tool; skips the test when it is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (poppler-utils / dcmtk); run.sh test installs it")
    return path
