"""Starting the application: interactive, or headless for one screenshot."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

from PyQt6.QtCore import QEvent, QEventLoop, QObject, QTimer
from PyQt6.QtWidgets import QApplication

from cryoplan_app.model.case import CaseSource
from cryoplan_app.qt.errors import install_excepthook
from cryoplan_app.qt.main_window import MainWindow
from planning_core.errors import PlanningError

#: Longest wait, in screenshot mode, for loading and surface building to finish.
SCREENSHOT_TIMEOUT_S = 600
#: Longest wait for running workers when a headless run ends.
WORKER_EXIT_WAIT_MS = 30_000
#: With this environment variable set to 1 the interactive window quits right after its
#: first paint and prints the seconds since the process started (benchmarks/bench_startup.py).
EXIT_AFTER_FIRST_PAINT_ENV = "CRYOPLAN_EXIT_AFTER_FIRST_PAINT"


def application() -> QApplication:
    """The process's QApplication, created on first use."""
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "cryoplan"])
        app.setApplicationName("cryoplan")
        app.setApplicationDisplayName("Cryoablation planner")
    return app  # type: ignore[return-value]


def run_gui(
    *,
    case: CaseSource | None,
    layout: str = "4up",
    screenshot: Path | None = None,
    size: tuple[int, int] = (1600, 1000),
    plan: Path | None = None,
) -> int:
    """Open the window (and ``case``, then ``plan``); with ``screenshot``, save a PNG and return.

    In screenshot mode a plan whose saved fields are missing or stale is
    simulated before the picture is taken, so that its iceball shows.

    Raises
    ------
    PlanningError
        In screenshot mode, for the first error met (the case cannot be opened...).
    """
    app = application()
    window = MainWindow(headless=screenshot is not None, simulate=screenshot is None)
    window.session.view.set_layout(layout)
    window.resize(*size)
    window.show()
    if screenshot is not None:
        return _screenshot(app, window, case, plan, screenshot)
    if os.environ.get(EXIT_AFTER_FIRST_PAINT_ENV) == "1":
        app.installEventFilter(_QuitAfterFirstPaint(app))
    previous_hook = install_excepthook(window.errors)
    try:
        if window.offer_recovery() is None:
            if case is not None:
                window.open_source(case)
            if plan is not None:
                _after_idle(window, lambda: window.open_plan(plan))
        return app.exec()
    finally:
        sys.excepthook = previous_hook


class _QuitAfterFirstPaint(QObject):
    """Quit once the first paint event has been handled, printing the time since start."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.Paint:
            QApplication.instance().removeEventFilter(self)
            QTimer.singleShot(0, self._report_and_quit)
        return False

    def _report_and_quit(self) -> None:
        elapsed_s = _seconds_since_process_start()
        text = "unknown" if elapsed_s is None else f"{elapsed_s:.2f}"
        print(f"first paint {text} s after process start", flush=True)
        QApplication.instance().quit()


def _seconds_since_process_start() -> float | None:
    """From /proc (Linux, 10-ms resolution); None elsewhere."""
    try:
        after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start_ticks = int(after_name[19])  # field 22 of proc(5), "starttime"
        uptime_s = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return uptime_s - start_ticks / os.sysconf("SC_CLK_TCK")


def _after_idle(window: MainWindow, step) -> None:
    """Run ``step`` once the window's workers are idle (now, when they already are)."""
    if not window.runner.busy:
        step()
        return

    def run_once() -> None:
        window.runner.idle.disconnect(run_once)
        step()

    window.runner.idle.connect(run_once)


def _screenshot(
    app: QApplication,
    window: MainWindow,
    case: CaseSource | None,
    plan: Path | None,
    path: Path,
) -> int:
    errors: list[str] = []
    loop = QEventLoop()
    window.errors.reported.connect(errors.append)
    window.errors.reported.connect(lambda _text: loop.quit())
    window.runner.idle.connect(loop.quit)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(SCREENSHOT_TIMEOUT_S * 1000)

    def settle() -> None:
        while window.runner.busy and not errors and timer.isActive():
            loop.exec()
        if errors:
            raise PlanningError(errors[0])
        if window.runner.busy:
            raise PlanningError(
                f"the window did not finish its work within {SCREENSHOT_TIMEOUT_S} s; "
                "no screenshot was saved."
            )

    try:
        if case is not None:
            window.open_source(case)
            settle()
        if plan is not None:
            window.open_plan(plan)
            settle()
            if not window.session.document.results_fresh:
                window.logic.evaluation.evaluate_now()
                settle()
        app.processEvents()
        window.save_screenshot(path)
        if errors:
            raise PlanningError(errors[0])
    finally:
        timer.stop()
        _dispose(app, window)
    return 0


def _dispose(app: QApplication, window: MainWindow) -> None:
    """Stop the workers and delete the window now, while Qt and the X display still live.

    Left to the interpreter's exit, a worker still running (the drag-preview warm-up)
    or a VTK render window destroyed after the application crashes the process.
    """
    window.session.document.history.mark_saved()  # a headless run never asks about unsaved changes
    window.runner.cancel_all()
    window.runner.wait(WORKER_EXIT_WAIT_MS)
    app.processEvents()
    window.close()
    window.deleteLater()
    app.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    gc.collect()
