"""What the logic needs from whoever runs its work in the background: a Qt-free protocol.

The desktop window passes :class:`cryoplan_app.qt.tasks.TaskRunner` (worker
threads, results delivered on the GUI thread); tests may pass a runner that
calls the work at once. Work functions are the core's own: they take
``progress`` and ``cancel`` (:mod:`planning_core.progress`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from planning_core.progress import CancelToken

#: A work function: ``work(progress, cancel) -> result``.
Work = Callable[[Callable[[float, str], None], CancelToken], Any]
#: Called with the error and its traceback text when work fails.
ErrorHandler = Callable[[BaseException, str], None]


class TaskHandle(Protocol):
    """One submitted piece of work."""

    @property
    def done(self) -> bool:
        """True once the work finished, failed or was cancelled and dropped."""
        ...

    def cancel(self) -> None:
        """Ask the work to stop; a cancelled task calls neither ``on_done`` nor ``on_error``."""
        ...


class Connectable(Protocol):
    """A signal: Qt's bound signals and :class:`cryoplan_app.model.signals.Signal` both fit."""

    def connect(self, callback: Callable[..., Any]) -> Any: ...


class Runner(Protocol):
    """Runs work in the background and calls back on the thread that submitted it.

    ``task_finished`` carries each task's handle once it is done, whatever the
    outcome (result, error or cancellation).
    """

    @property
    def task_finished(self) -> Connectable: ...

    def submit(
        self,
        title: str,
        work: Work,
        *,
        on_done: Callable[[Any], None],
        on_error: ErrorHandler | None = None,
        key: str | None = None,
    ) -> TaskHandle:
        """Run ``work``; ``on_done(result)`` or ``on_error(error, details)`` afterwards.

        A task submitted with a ``key`` replaces a running task with the same key.
        """
        ...
