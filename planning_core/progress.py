"""Progress reporting and cancellation for long work, independent of any GUI.

Long functions take ``progress`` (a callable ``(fraction, message)``) and
``cancel`` (a :class:`CancelToken`). The desktop app passes a callable that
forwards to its progress bar through a Qt signal; scripts pass nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from planning_core.errors import InvalidParameterError, OperationCancelledError


class ProgressCallback(Protocol):
    def __call__(self, fraction: float, message: str) -> None: ...


def no_progress(fraction: float, message: str) -> None:
    """Progress sink that ignores every report."""


class CancelToken:
    """A thread-safe flag that long work polls between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`OperationCancelledError` once :meth:`cancel` was called."""
        if self._event.is_set():
            raise OperationCancelledError("The operation was cancelled by the user.")


NEVER_CANCELLED = CancelToken()


def sub_progress(
    progress: ProgressCallback | Callable[[float, str], None] | None,
    start: float,
    stop: float,
) -> Callable[[float, str], None]:
    """Map a step's own 0..1 progress onto ``[start, stop]`` of its caller's range.

    Parameters
    ----------
    progress : callable or None
        The caller's progress callback; ``None`` yields a silent callback.
    start, stop : float
        Fractions of the caller's range that this step covers.
    """
    if progress is None:
        return no_progress
    if not 0.0 <= start <= stop <= 1.0:
        raise InvalidParameterError(
            f"sub_progress: start={start} and stop={stop} must satisfy 0 <= start <= stop <= 1."
        )

    def report(fraction: float, message: str) -> None:
        clipped = min(max(fraction, 0.0), 1.0)
        progress(start + (stop - start) * clipped, message)

    return report


def checked_progress(
    progress: ProgressCallback | None, cancel: CancelToken | None
) -> ProgressCallback:
    """A progress callback that first raises when ``cancel`` was cancelled (either may be
    ``None``): one call per step both reports it and gives the user's cancel its chance."""

    def step(fraction: float, message: str) -> None:
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(fraction, message)

    return step
