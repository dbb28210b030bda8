"""Independent simulations spread over the cores numba may use.

The optimizer has work that does not depend on itself: the placement-error
samples of the robustness analysis, and the surrogate's single-probe kernels
simulated while the path analysis is prepared. A :class:`SimulationBatch` puts
such tasks in one queue that background threads start draining at once; whoever collects
the results drains it too, so no thread idles while work is left. Results come
back in task order, whatever thread ran them, so a batch gives the same
numbers with one thread or many.

The thread count follows numba's (``numba.set_num_threads``, or the
``NUMBA_NUM_THREADS`` environment variable): the solver's kernels release the
interpreter lock only where they are compiled ``nogil``; where they do not, the
threads take turns and the batch costs what a loop would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import numba

from planning_core.progress import CancelToken, ProgressCallback
from planning_core.threads import thread_budget

T = TypeVar("T")


def simulation_workers() -> int:
    """Simulations that may run at once: the planning thread budget."""
    return thread_budget()


class LinkedCancel(CancelToken):
    """A cancel token that is also cancelled when its parent is (the user's cancel)."""

    def __init__(self, parent: CancelToken | None) -> None:
        super().__init__()
        self._parent = parent

    @property
    def cancelled(self) -> bool:
        return super().cancelled or (self._parent is not None and self._parent.cancelled)

    def raise_if_cancelled(self) -> None:
        if self._parent is not None:
            self._parent.raise_if_cancelled()
        super().raise_if_cancelled()


class SimulationBatch(Generic[T]):
    """Tasks run by ``background`` threads started now and by the caller of :meth:`results`.

    Parameters
    ----------
    tasks : sequence of callable
        Each takes a cancel token (pass it to the simulation) and returns its result.
    background : int
        Threads started at once (0: every task runs in :meth:`results`).
    cancel : CancelToken, optional
        The user's cancel; :meth:`abandon` cancels the batch alone.
    """

    def __init__(
        self,
        tasks: Sequence[Callable[[CancelToken], T]],
        *,
        background: int,
        cancel: CancelToken | None = None,
    ) -> None:
        self._tasks = list(tasks)
        self._results: list[T | None] = [None] * len(self._tasks)
        self._errors: list[BaseException | None] = [None] * len(self._tasks)
        self._done = [threading.Event() for _ in self._tasks]
        self._next = 0
        self._lock = threading.Lock()
        self.cancel = LinkedCancel(cancel)
        self._threads = [
            threading.Thread(target=self._drain, args=(True,), daemon=True)
            for _ in range(min(max(background, 0), len(self._tasks)))
        ]
        for thread in self._threads:
            thread.start()

    def _take(self) -> int | None:
        with self._lock:
            if self._next >= len(self._tasks) or self.cancel.cancelled:
                return None
            self._next += 1
            return self._next - 1

    def _run(self, index: int) -> None:
        try:
            self._results[index] = self._tasks[index](self.cancel)
        except BaseException as error:  # handed to the caller of results()
            self._errors[index] = error
        finally:
            self._done[index].set()

    def _drain(self, background: bool) -> None:
        if background:
            # One simulation per thread: the threads share the cores numba was given.
            numba.set_num_threads(1)
        while (index := self._take()) is not None:
            self._run(index)

    def results(
        self, progress: ProgressCallback | None = None, what: str = "Simulation"
    ) -> list[T]:
        """Run what is left here too, wait for the rest, and return the results in task order.

        Raises the first failed task's error (in task order), e.g. the user's cancel.
        """
        total = len(self._tasks)
        for index in range(total):
            while not self._done[index].is_set():
                taken = self._take()
                if taken is None:
                    self._done[index].wait(0.05)
                    if self.cancel.cancelled and not self._done[index].is_set():
                        self.cancel.raise_if_cancelled()
                else:
                    self._run(taken)
            if self._errors[index] is not None:
                self.abandon()
                raise self._errors[index]
            if progress is not None:
                progress((index + 1) / total, f"{what} {index + 1} of {total}")
        return [result for result in self._results]  # type: ignore[misc]

    def abandon(self) -> None:
        """Stop the batch: tasks not started never run, running simulations are cancelled."""
        self.cancel.cancel()
