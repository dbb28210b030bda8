"""Long work in worker threads, with progress, cancel and results delivered on the GUI thread.

Work functions are the core's own: they take ``progress`` and ``cancel``
(:mod:`planning_core.progress`) and know nothing about Qt. The runner wraps the
progress callback so that its reports travel to the GUI thread as Qt signals;
the result, or the error, arrives there too, where it may touch widgets.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PyQt6.QtCore import QObject, QRunnable, QThreadPool, pyqtSignal

from planning_core.errors import OperationCancelledError
from planning_core.progress import CancelToken

#: A work function: ``work(progress, cancel) -> result``.
Work = Callable[[Callable[[float, str], None], CancelToken], Any]

# Progress reports closer together than this are merged (the last one wins).
_PROGRESS_INTERVAL_S = 0.05


class _Relay(QObject):
    """Lives on the GUI thread; signals emitted by the worker are queued to it."""

    progressed = pyqtSignal(float, str)
    succeeded = pyqtSignal(object)
    failed = pyqtSignal(object, str)


class _Job(QRunnable):
    def __init__(self, work: Work, relay: _Relay, cancel: CancelToken) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self._work = work
        self._relay = relay
        self._cancel = cancel
        self._last_report_s = 0.0
        self._last_message = ""

    def _progress(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if message == self._last_message and now - self._last_report_s < _PROGRESS_INTERVAL_S:
            return
        self._last_report_s, self._last_message = now, message
        self._relay.progressed.emit(float(fraction), message)

    def run(self) -> None:
        try:
            result = self._work(self._progress, self._cancel)
        except BaseException as error:  # every failure must reach the GUI thread
            self._relay.failed.emit(error, traceback.format_exc())
        else:
            self._relay.succeeded.emit(result)


@dataclass(eq=False)
class Task:
    """One submitted piece of work; ``cancel()`` asks it to stop."""

    title: str
    key: str | None
    token: CancelToken = field(default_factory=CancelToken)
    fraction: float = 0.0
    message: str = ""
    done: bool = False

    def cancel(self) -> None:
        self.token.cancel()


class TaskRunner(QObject):
    """Runs work functions on a small thread pool.

    Signals: ``task_started(Task)``, ``task_progressed(Task)``, ``task_finished(Task)``
    and ``idle()`` once nothing runs. A task submitted with a ``key`` replaces a
    running task with the same key: the old one is cancelled and its result
    dropped (opening a second case while the first still loads).
    """

    task_started = pyqtSignal(object)
    task_progressed = pyqtSignal(object)
    task_finished = pyqtSignal(object)
    idle = pyqtSignal()

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        on_error: Callable[[BaseException, str], None],
        max_threads: int = 2,
    ) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._on_error = on_error
        self._running: list[Task] = []
        # Jobs and relays stay referenced until their thread finished, also when the task
        # was dropped: Python must not free a runnable the pool still runs.
        self._alive: dict[Task, tuple[_Job, _Relay]] = {}

    @property
    def tasks(self) -> tuple[Task, ...]:
        return tuple(self._running)

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def submit(
        self,
        title: str,
        work: Work,
        *,
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException, str], None] | None = None,
        key: str | None = None,
    ) -> Task:
        """Run ``work(progress, cancel)`` in a worker; call ``on_done(result)`` on this thread.

        Errors go to ``on_error(error, traceback_text)`` (default: the runner's
        ``on_error``); a cancelled task calls neither.
        """
        task = Task(title, key)
        replaced = [t for t in self._running if key is not None and t.key == key]
        relay = _Relay(self)
        job = _Job(work, relay, task.token)
        relay.progressed.connect(
            lambda fraction, message: self._progressed(task, fraction, message)
        )
        relay.succeeded.connect(lambda result: self._finish(task, on_done, result))
        relay.failed.connect(
            lambda error, text: self._fail(task, on_error or self._on_error, error, text)
        )
        self._running.append(task)
        self._alive[task] = (job, relay)
        for old in replaced:  # after the append, so that no idle signal falls in between
            self._drop(old)
        self.task_started.emit(task)
        self._pool.start(job)
        return task

    def cancel_all(self) -> None:
        for task in self._running:
            task.cancel()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the pool's threads finished (results are delivered by the event loop)."""
        return self._pool.waitForDone(timeout_ms)

    def _drop(self, task: Task) -> None:
        """Cancel ``task`` and forget it: whatever it still delivers is ignored."""
        task.cancel()
        self._running.remove(task)
        self._announce(task)

    def _announce(self, task: Task) -> None:
        task.done = True
        self.task_finished.emit(task)
        if not self._running:
            self.idle.emit()

    def _progressed(self, task: Task, fraction: float, message: str) -> None:
        if task not in self._running:
            return
        task.fraction, task.message = fraction, message
        self.task_progressed.emit(task)

    def _release(self, task: Task) -> bool:
        """Forget the finished job; True when its task was still wanted (not dropped)."""
        _, relay = self._alive.pop(task)
        relay.deleteLater()
        if task not in self._running:
            return False
        self._running.remove(task)
        return True

    def _finish(self, task: Task, on_done: Callable[[Any], None], result: Any) -> None:
        if not self._release(task):
            return
        try:
            if not task.token.cancelled:
                on_done(result)
        finally:
            # After on_done, so work it submits keeps the runner busy without an idle gap.
            self._announce(task)

    def _fail(
        self,
        task: Task,
        handler: Callable[[BaseException, str], None],
        error: BaseException,
        text: str,
    ) -> None:
        if not self._release(task):
            return
        try:
            if not isinstance(error, OperationCancelledError) and not task.token.cancelled:
                handler(error, text)
        finally:
            self._announce(task)
