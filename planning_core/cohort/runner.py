"""Run a cohort's cases as Dask distributed tasks, one task per case.

The cases run on a :class:`~distributed.LocalCluster` (one single-threaded worker
process per case at a time) or on the workers of an existing scheduler. A case
that fails is retried once on any worker and then recorded with its error; it
never stops the others. Each finished case leaves ``cases/<id>/result.json``
(written atomically as soon as the case ends), so a run that is interrupted or
repeated plans only what is not finished yet. The workers write into ``out_dir``:
with a remote scheduler it must be a folder the workers share.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import psutil
from distributed import Client, Future, LocalCluster

from planning_core.atomic import write_text_atomic
from planning_core.cohort.figure import write_summary_figure
from planning_core.cohort.manifest import CohortCase
from planning_core.cohort.results import CaseResult, PlanFigures, write_results
from planning_core.errors import InvalidParameterError, PlanningError
from planning_core.progress import ProgressCallback, no_progress

#: A case's work on its worker: plan (and report) ``case`` into its folder.
CaseTask = Callable[[CohortCase, Path], PlanFigures]
#: ``--scheduler local``: a cluster on this machine for the run.
LOCAL_SCHEDULER = "local"
#: The result file a finished case leaves in its folder.
RESULT_FILE = "result.json"
#: One line per attempt at a case (its worker and run), appended by the worker.
ATTEMPTS_FILE = "attempts.log"
#: Memory a case may take (issue 22 asks for at most 4 GB); sizes the default local cluster.
CASE_MEMORY_BYTES = 4 * 1024**3
#: How often a worker samples its resident memory while a case runs.
MEMORY_SAMPLE_S = 0.05
#: Seconds to wait for an existing scheduler to answer.
CONNECT_TIMEOUT_S = 20
MAX_WORKERS = 512
#: How often the client looks for ended cases, and how often it says the run is alive (s).
POLL_S = 0.2
HEARTBEAT_S = 10.0
_BAR_WIDTH = 24


class CaseFailedError(PlanningError):
    """A case's task failed on its worker: the message, the time it ran and its peak memory.

    The three travel as the exception's ``args`` so that it crosses process and
    machine boundaries intact (the original error may not pickle).
    """

    def __init__(self, message: str, time_s: float, peak_memory_mb: float) -> None:
        super().__init__(message, time_s, peak_memory_mb)

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class CaseOutcome:
    """What a worker sends back for a planned case."""

    figures: PlanFigures
    time_s: float
    peak_memory_mb: float


@dataclass(frozen=True)
class CohortRun:
    """The results of a run, the earlier results it kept, and the files written.

    Attributes
    ----------
    results : tuple of CaseResult
        Every case of the manifest, in manifest order.
    kept : tuple of str
        Ids of the cases finished by an earlier run with the same inputs (not planned again).
    workers : int
        Workers of the cluster the run used (0 when every case was kept).
    csv_path, parquet_path, figure_path : Path
        ``results.csv``, ``results.parquet`` and ``summary.png`` in the output folder.
    """

    results: tuple[CaseResult, ...]
    kept: tuple[str, ...]
    workers: int
    csv_path: Path
    parquet_path: Path
    figure_path: Path

    @property
    def failed(self) -> tuple[CaseResult, ...]:
        """The cases that could not be planned."""
        return tuple(result for result in self.results if result.status == "failed")


def case_folder(out_dir: Path, case: CohortCase) -> Path:
    """Where a case's plan, report, attempts and result go."""
    return out_dir / "cases" / case.case_id


def default_local_workers() -> int:
    """Workers of the default local cluster: one per core, as far as memory allows 4 GB each."""
    by_memory = psutil.virtual_memory().total // CASE_MEMORY_BYTES
    return int(max(1, min(os.cpu_count() or 1, by_memory)))


def local_worker_environment(workers: int) -> dict[str, str]:
    """Environment of the local cluster's workers: the cores shared out between them.

    A case's simulations run in numba threads (one per core by default); with
    several workers on one machine each gets its share of the cores, so that
    they do not compete for them.
    """
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    return {"NUMBA_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}


def run_cohort(
    cases: Sequence[CohortCase],
    *,
    task: CaseTask,
    out_dir: Path,
    scheduler: str = LOCAL_SCHEDULER,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> CohortRun:
    """Plan every case of ``cases`` not finished yet, each as a Dask task; write the tables.

    Parameters
    ----------
    cases : sequence of CohortCase
        The manifest's rows.
    task : callable
        ``task(case, case_folder) -> PlanFigures``, run on a worker; it must be a
        module-level function the workers can import.
    out_dir : Path
        Output folder: ``cases/<id>/`` per case, ``results.csv``, ``results.parquet``,
        ``summary.png``.
    scheduler : str
        ``"local"`` for a :class:`~distributed.LocalCluster` on this machine, else the
        address of a running Dask scheduler (``tcp://host:8786``).
    workers : int, optional
        Worker processes of the local cluster (default :func:`default_local_workers`).
    progress : callable, optional
        ``progress(fraction, message)`` as cases finish.

    Raises
    ------
    InvalidParameterError
        ``workers`` out of range, or given with a remote scheduler.
    PlanningError
        The scheduler cannot be reached.
    """
    progress = progress or no_progress
    out_dir = out_dir.absolute()  # workers elsewhere, or in another folder, write the same paths
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InvalidParameterError(
            f"--out {out_dir}: cannot make the output folder ({error.strerror or error}); "
            "give a folder you may write."
        ) from None
    earlier = {case.case_id: finished_result(case, out_dir) for case in cases}
    results = {case_id: result for case_id, result in earlier.items() if result is not None}
    todo = [case for case in cases if case.case_id not in results]
    total = len(cases)
    worker_count = 0
    if todo:
        with _dask_client(scheduler, workers) as client:
            worker_count = len(client.scheduler_info()["workers"])
            progress(
                len(results) / total,
                f"{len(results)} case(s) finished before; planning {len(todo)} on "
                f"{worker_count} worker(s)",
            )
            run_id = uuid.uuid4().hex[:12]
            futures = {
                client.submit(
                    run_case, task, case, case_folder(out_dir, case), run_id,
                    key=f"cryoplan-{case.case_id}-{run_id}", retries=1, pure=False,
                ): case
                for case in todo
            }  # fmt: skip
            _follow(futures, results, total, out_dir, run_id, progress)
    ordered = tuple(results[case.case_id] for case in cases)
    csv_path, parquet_path = write_results(ordered, out_dir)
    figure_path = write_summary_figure(ordered, out_dir / "summary.png")
    kept = tuple(case_id for case_id, result in earlier.items() if result is not None)
    return CohortRun(ordered, kept, worker_count, csv_path, parquet_path, figure_path)


def _follow(
    futures: dict[Future, CohortCase],
    results: dict[str, CaseResult],
    total: int,
    out_dir: Path,
    run_id: str,
    progress: ProgressCallback,
) -> None:
    """Record each case as its future ends (into ``results`` and its result file)."""
    started, said = time.monotonic(), time.monotonic()
    while futures:
        ended = [future for future in futures if future.done()]
        for future in ended:
            case = futures.pop(future)
            result = _collect(future, case, case_folder(out_dir, case), run_id)
            _save_result(result, case, out_dir)
            results[case.case_id] = result
            line = f"{result.case} {result.status}" + (
                "" if result.time_s is None else f" in {result.time_s:.0f} s"
            )
            progress(len(results) / total, _progress_line(results, total, line))
            said = time.monotonic()
        if futures and time.monotonic() - said >= HEARTBEAT_S:
            # Cases take minutes: say that the run is alive between them.
            elapsed = _duration_text(time.monotonic() - started)
            line = f"{len(futures)} to go, running for {elapsed}"
            progress(len(results) / total, _progress_line(results, total, line))
            said = time.monotonic()
        if not ended:
            time.sleep(POLL_S)


def run_case(task: CaseTask, case: CohortCase, folder: Path, run_id: str) -> CaseOutcome:
    """Run ``task`` on a worker, timing it and sampling the worker's peak memory.

    Raises
    ------
    CaseFailedError
        With the error's message (a :class:`PlanningError`'s own words; any other
        error named by its type, as it is a fault of the program, not of the case).
    """
    start = time.perf_counter()
    with _PeakMemory() as memory:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            with open(folder / ATTEMPTS_FILE, "a", encoding="utf-8") as log:
                log.write(f"{stamp} run {run_id} pid {os.getpid()}\n")
            figures = task(case, folder)
        except PlanningError as error:
            failure = str(error)
        except OSError as error:  # e.g. --out not shared with, or not writable by, the worker
            failure = f"{error.filename or folder}: {error.strerror or error}"
        except Exception as error:  # a fault in one case must not stop the cohort
            failure = f"internal error ({type(error).__name__}: {error})"
        else:
            failure = None
    time_s = time.perf_counter() - start
    if failure is not None:
        raise CaseFailedError(failure, time_s, memory.peak_mb)
    return CaseOutcome(figures, time_s, memory.peak_mb)


def finished_result(case: CohortCase, out_dir: Path) -> CaseResult | None:
    """The result an earlier run left for ``case`` when it planned it with the same inputs.

    A failed case, a case whose manifest row changed, and a damaged result file give
    None (the case is planned again).
    """
    path = case_folder(out_dir, case) / RESULT_FILE
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        result = CaseResult.from_json(payload["result"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if payload.get("fingerprint") != case.fingerprint() or result.status != "planned":
        return None
    if result.figures is None or not Path(result.figures.plan).is_file():
        return None
    return result


def _save_result(result: CaseResult, case: CohortCase, out_dir: Path) -> None:
    payload = {"fingerprint": case.fingerprint(), "result": result.to_json()}
    path = case_folder(out_dir, case) / RESULT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(payload, indent=2))


def _collect(future, case: CohortCase, folder: Path, run_id: str) -> CaseResult:
    """The result row of a finished future (planned, or failed after its retry)."""
    attempts = _attempts(folder, run_id)
    base = {"case": case.case_id, "source": case.case, "row": case.row, "attempts": attempts}
    if future.status == "finished":
        outcome: CaseOutcome = future.result()
        return CaseResult(
            **base, status="planned", figures=outcome.figures,
            time_s=round(outcome.time_s, 2), peak_memory_mb=round(outcome.peak_memory_mb, 1),
        )  # fmt: skip
    error = future.exception()
    if isinstance(error, CaseFailedError):
        message, time_s, peak_mb = error.args
        return CaseResult(
            **base, status="failed", figures=None, time_s=round(time_s, 2),
            peak_memory_mb=round(peak_mb, 1), error=message,
        )  # fmt: skip
    # No word from the task itself (its worker killed for memory, or crashed): nothing measured.
    return CaseResult(
        **base, status="failed", figures=None, time_s=None, peak_memory_mb=None,
        error=f"no result from its worker ({type(error).__name__}: {error})",
    )  # fmt: skip


def _attempts(folder: Path, run_id: str) -> int:
    try:
        lines = (folder / ATTEMPTS_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return 0
    return sum(f" run {run_id} " in line for line in lines)


def _progress_line(results: dict[str, CaseResult], total: int, news: str) -> str:
    """A text bar of the cases ended, the failures, and ``news``."""
    done = len(results)
    failed = sum(result.status == "failed" for result in results.values())
    filled = round(_BAR_WIDTH * done / total)
    bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
    return f"[{bar}] {done}/{total} cases, {failed} failed; {news}"


def _duration_text(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


@contextlib.contextmanager
def _dask_client(scheduler: str, workers: int | None) -> Iterator[Client]:
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise InvalidParameterError(
            f"--workers must be between 1 and {MAX_WORKERS}, got {workers}."
        )
    if scheduler != LOCAL_SCHEDULER:
        if workers is not None:
            raise InvalidParameterError(
                "--workers sets the local cluster's size; an existing scheduler's cluster has "
                "its own workers (leave out --workers, or use --scheduler local)."
            )
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as error:
            raise PlanningError(
                f"--scheduler {scheduler}: cannot reach the Dask scheduler ({error}); give "
                "its address as tcp://HOST:PORT, or --scheduler local."
            ) from None
        with client:
            try:
                client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
            except TimeoutError:
                raise PlanningError(
                    f"--scheduler {scheduler}: the scheduler has no workers; start them with "
                    f"`dask worker {scheduler} --nthreads 1` where cryoplan is installed."
                ) from None
            yield client
        return
    count = workers or default_local_workers()
    cluster = LocalCluster(
        n_workers=count,
        env=local_worker_environment(count),
        threads_per_worker=1,  # one case per worker process: its peak memory is the case's
        processes=True,
        dashboard_address=":0",  # any free port: never clash with another cluster
        silence_logs=logging.CRITICAL,  # a failed case is recorded, not logged with a traceback
    )
    with cluster, Client(cluster) as client:
        yield client


class _PeakMemory:
    """The largest resident memory of this process while the ``with`` block runs (MiB)."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._peak_bytes = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> Literal[False]:
        self._stop.set()
        self._thread.join()
        self._peak_bytes = max(self._peak_bytes, self._process.memory_info().rss)
        return False

    def _sample(self) -> None:
        while not self._stop.wait(MEMORY_SAMPLE_S):
            self._peak_bytes = max(self._peak_bytes, self._process.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return self._peak_bytes / 1024**2
