"""A minimal observer: the model's events, without Qt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Signal:
    """A list of callbacks called, in connection order, on :meth:`emit`.

    Views connect to the model's signals; the model never knows who listens.
    A callback connected twice is called once.
    """

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        """Stop calling ``callback``; unknown callbacks are ignored."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        # A copy, so callbacks may disconnect themselves while being called.
        for callback in list(self._callbacks):
            callback(*args)

    def __len__(self) -> int:
        return len(self._callbacks)
