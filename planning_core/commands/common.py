"""Helpers shared by the subcommands: JSON output, progress on stderr, argument parsing."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from planning_core.errors import InvalidParameterError
from planning_core.planning.evaluate import SIMULATION_MARGIN_MM


def print_json(payload: Any) -> None:
    """Print ``payload`` as indented JSON on stdout (numpy values converted)."""
    print(json.dumps(payload, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class StderrProgress:
    """A ``progress(fraction, message)`` callback that draws one line on stderr.

    Lines are rewritten in place on a terminal and throttled to a few per
    second elsewhere, so logs stay short.
    """

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._interactive = sys.stderr.isatty()
        self._last_time = 0.0
        self._last_message = ""

    def __call__(self, fraction: float, message: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if message == self._last_message and now - self._last_time < (
            0.1 if self._interactive else 2.0
        ):
            return
        self._last_time, self._last_message = now, message
        line = f"[{100.0 * fraction:5.1f} %] {message}"
        if self._interactive:
            sys.stderr.write("\r\033[K" + line)
            if fraction >= 1.0:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def parse_triple(text: str, *, name: str) -> tuple[float, float, float]:
    """Parse ``"X,Y,Z"`` into three floats; the error names the option."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise InvalidParameterError(f"{name} must be three numbers X,Y,Z, got {text!r}.") from None
    if len(values) != 3 or not all(np.isfinite(values)):
        raise InvalidParameterError(f"{name} must be three finite numbers X,Y,Z, got {text!r}.")
    return values  # type: ignore[return-value]


def triple_argument(name: str):
    """An argparse ``type=`` that parses X,Y,Z and reports errors naming ``name``."""

    def convert(text: str) -> tuple[float, float, float]:
        try:
            return parse_triple(text, name=name)
        except InvalidParameterError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return convert


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")


def add_box_margin_argument(parser: argparse.ArgumentParser) -> None:
    """``--box-margin-mm``: the simulation box margin, named in the box-too-small warning."""
    parser.add_argument(
        "--box-margin-mm",
        type=float,
        default=SIMULATION_MARGIN_MM,
        metavar="MM",
        help="simulation box margin around the probes (default "
        f"{SIMULATION_MARGIN_MM:g}); enlarge it when warned that the box is too small",
    )


def add_robustness_arguments(parser: argparse.ArgumentParser, *, default_samples: int) -> None:
    """``--robustness-samples`` and ``--tip-error-mm``: the Monte-Carlo placement-error check."""
    parser.add_argument(
        "--robustness-samples",
        type=int,
        default=default_samples,
        help=f"Monte-Carlo samples of placement error (0 skips; default {default_samples})",
    )
    parser.add_argument(
        "--tip-error-mm", type=float, default=3.0, help="RMS placement error (default 3 mm)"
    )
