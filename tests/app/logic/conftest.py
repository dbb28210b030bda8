"""Fixtures of the logic tests: a session on a small phantom case and a queued runner.

The logic runs without Qt: :class:`QueuedRunner` keeps submitted work until the
test calls :meth:`QueuedRunner.run_pending`, which runs it on the calling thread
and delivers results, errors and ``task_finished`` in the order the window's
runner would (a task replaced by one with the same key is dropped).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from cryoplan_app.logic import Logic
from cryoplan_app.model.case import ImageCase, case_from_files
from cryoplan_app.model.session import Session
from cryoplan_app.model.signals import Signal

from planning_core.errors import OperationCancelledError
from planning_core.imaging.geometry import Geometry
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.imaging.volume_io import write_volume
from planning_core.progress import CancelToken
from planning_core.thermal.probes import ProbeLibrary

#: A short protocol and a coarse grid: the tests check the bookkeeping, not the physics.
SHORT_PROTOCOL = "F3-T1-F2"
COARSE_SPACING_MM = 4.0
#: Centre of the phantom's tumor (LPS mm): a voxel centre of its 2-mm grid.
PHANTOM_TUMOR_LPS = (0.0, 0.0, 0.0)


@dataclass(eq=False)
class QueuedTask:
    title: str
    key: str | None
    work: Callable[..., Any]
    on_done: Callable[[Any], None]
    on_error: Callable[[BaseException, str], None] | None
    token: CancelToken = field(default_factory=CancelToken)
    done: bool = False

    def cancel(self) -> None:
        self.token.cancel()


class QueuedRunner:
    """Runs submitted work when asked, on the calling thread (see the module docstring)."""

    def __init__(self) -> None:
        self.task_finished = Signal()
        self.pending: list[QueuedTask] = []
        self.submitted: list[str] = []
        self.errors: list[BaseException] = []

    def submit(self, title, work, *, on_done, on_error=None, key=None) -> QueuedTask:
        task = QueuedTask(title, key, work, on_done, on_error)
        replaced = [t for t in self.pending if key is not None and t.key == key]
        self.pending.append(task)
        self.submitted.append(title)
        for old in replaced:
            old.cancel()
            self.pending.remove(old)
            self._finish(old)
        return task

    def run_pending(self) -> None:
        """Run every queued task (and those their callbacks submit) to the end."""
        while self.pending:
            task = self.pending.pop(0)
            try:
                result = task.work(lambda fraction, message: None, task.token)
            except BaseException as error:
                if not isinstance(error, OperationCancelledError) and not task.token.cancelled:
                    (task.on_error or self.record_error)(error, traceback.format_exc())
            else:
                if not task.token.cancelled:
                    task.on_done(result)
            self._finish(task)

    def record_error(self, error: BaseException, _details: str) -> None:
        """The default error handler: keep ``error`` for the test to look at."""
        self.errors.append(error)

    def _finish(self, task: QueuedTask) -> None:
        task.done = True
        self.task_finished.emit(task)


@pytest.fixture(scope="session")
def phantom_image(tmp_path_factory) -> ImageCase:
    """A small CT: an elliptic body along z with a spherical tumor and a rib-like bone rod.

    A 2-mm grid keeps the path analysis and the simulations of these tests short.
    """
    geometry = Geometry((40, 60, 80), (2.0, 2.0, 2.0), (-80.0, -60.0, -40.0))
    nk, nj, ni = geometry.shape
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    lps = geometry.index_to_lps(np.stack([i, j, k], axis=-1).astype(np.float64))
    x, y = lps[..., 0], lps[..., 1]
    body = (x / 70.0) ** 2 + (y / 50.0) ** 2 <= 1.0
    bone = body & ((x - 20.0) ** 2 + (y + 30.0) ** 2 <= 4.0**2)
    tumor = body & (np.linalg.norm(lps - np.asarray(PHANTOM_TUMOR_LPS), axis=-1) <= 8.0)
    labels = LabelMap.empty(geometry).with_mask("body", body).with_mask("bone", bone)
    labels = labels.with_mask("tumor", tumor)
    hu = np.where(body, 40.0, -1000.0)
    hu[bone] = 700.0
    hu[tumor] = 120.0  # an enhancing lesion, for the segmentation tools
    volume = Volume(hu.astype(np.int16), geometry, "CT")
    path = tmp_path_factory.mktemp("phantom") / "ct.nrrd"
    write_volume(volume, path)  # a case names the file it was read from
    return case_from_files(volume, labels, image_path=path)


@pytest.fixture
def runner() -> QueuedRunner:
    return QueuedRunner()


@pytest.fixture
def session(phantom_image: ImageCase, probe_library: ProbeLibrary) -> Session:
    """A session on the phantom case with its own labels and the short protocol."""
    session = Session(probe_library=probe_library)
    session.open_case(phantom_image)
    session.document.set_protocol(SHORT_PROTOCOL)
    return session


@pytest.fixture
def logic(session: Session, runner: QueuedRunner) -> Logic:
    """The session's logic on ``runner``: evaluation on request only, coarse grids."""
    logic = Logic(session, runner, auto_evaluate=False, spacing_mm=COARSE_SPACING_MM)
    logic.growth.spacing_mm = COARSE_SPACING_MM
    return logic


@pytest.fixture(scope="session")
def tumor_lps() -> np.ndarray:
    """Centre of the phantom's tumor, LPS mm."""
    return np.asarray(PHANTOM_TUMOR_LPS)
