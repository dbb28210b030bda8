"""Opening cases, label maps and plans, and saving plans: the window's file work, without Qt.

Every case reaches the session the same way: what the user chose (a dropped or
chosen path, a sample case's name, a recent case, a series of the open DICOM
folder) becomes a :class:`~planning_core.imaging.case_sources.CaseSource`
through the core's case-source registry
(:func:`~planning_core.imaging.case_sources.resolve_case`), as on the command
line, and :class:`CaseLogic` opens it in the background. A DICOM folder is
scanned first, so that the study browser can show its series (and their
thumbnails) while the chosen one loads.

The window listens to the signals and shows what they carry; text for the
status bar and dialogs stays in the window.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from cryoplan_app.logic.runner import Runner, TaskHandle
from cryoplan_app.model.case import ImageCase, load_case
from cryoplan_app.model.plan_files import OpenedPlan, read_plan_files
from cryoplan_app.model.plan_io import show_opened_plan
from cryoplan_app.model.recent import RecentCases
from cryoplan_app.model.session import Session
from cryoplan_app.model.signals import Signal
from cryoplan_app.model.thumbnails import catalog_thumbnails, volume_thumbnail
from planning_core.errors import InvalidParameterError, PlanningError
from planning_core.imaging.case_sources import (
    SAMPLE_CASE_KIND,
    CaseSource,
    DicomKind,
    default_series,
    named_cases,
    resolve_case,
)
from planning_core.imaging.dicom import DicomCatalog, scan_dicom
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume_io import read_label_map
from planning_core.progress import CancelToken, ProgressCallback

#: How the user names a case in the window, for messages about it.
OPEN_OPTION = "File > Open"
#: The menu that lists the sample cases, for messages about them.
SAMPLE_MENU = "File > Open sample case"
#: The kind name of DICOM sources (folders, files, DICOMDIR).
DICOM_KIND = DicomKind.name
#: Thumbnails by series key; a volume file's has the key ``""``.
Thumbnails = dict[str, NDArray[np.uint8]]


def source_for_path(path: str | Path) -> CaseSource:
    """The case source of a dropped or chosen path: a volume file, else a DICOM location.

    Raises
    ------
    InvalidParameterError
        When ``path`` does not exist; the message names the path and the menu.
    """
    return resolve_case(str(path), case_option=OPEN_OPTION)


def source_for_sample(name: str) -> CaseSource:
    """The case source of the sample case ``name``.

    Raises
    ------
    InvalidParameterError
        When no sample case has that name (or the sample generator is not installed).
    """
    names = named_cases(SAMPLE_CASE_KIND)
    if name not in names:
        offered = ", ".join(names) if names else "none: the sample generator is not installed"
        raise InvalidParameterError(
            f"{SAMPLE_MENU}: no sample case named {name!r}; the sample cases are {offered}."
        )
    return CaseSource(SAMPLE_CASE_KIND, name)


def load_case_with_thumbnail(
    source: CaseSource,
    *,
    catalog: DicomCatalog | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[ImageCase, Thumbnails]:
    """Load ``source``; a DICOM source from ``catalog`` names the series it opened.

    A volume file comes with its thumbnail (key ``""``); a DICOM series' come
    from the catalog's thumbnails.
    """
    if catalog is not None:
        # Pick the series here (not in the loader) so that the case, the recent
        # list and the study browser all name the one that was opened.
        key = source.series_key or default_series(catalog).key
        source = replace(source, location=str(catalog.root), series_key=key)
    case = load_case(source, catalog=catalog, progress=progress, cancel=cancel)
    if case.source.kind == DICOM_KIND:
        return case, {}
    return case, {"": volume_thumbnail(case.volume, value_range=case.value_range)}


class CaseLogic:
    """Opens cases, label maps and plans for ``session`` on ``runner``; saves plans.

    Parameters
    ----------
    session : Session
        What the opened case and plan go to.
    runner : Runner
        Runs the reading and writing in the background.
    recent : RecentCases, optional
        Where each opened case is recorded (nowhere when None).

    Attributes
    ----------
    catalog : DicomCatalog or None
        The scan of the open DICOM folder (None for a volume file or sample).
    catalog_scanned : Signal
        ``(catalog)`` after a DICOM folder was scanned, before its series loads.
    thumbnails_ready : Signal
        ``(thumbnails)``: series key -> RGB pixels (``""`` for a volume file).
    case_opened : Signal
        ``(case)`` once the session shows the new case.
    recent_failed : Signal
        ``(OSError)`` when the recent-cases list could not be written (viewing goes on).
    plan_opened : Signal
        ``(OpenedPlan)`` once the session shows an opened plan (its warnings to show).
    plan_saved : Signal
        ``(path)`` once a plan was written and marked saved.
    """

    def __init__(self, session: Session, runner: Runner, *, recent: RecentCases | None = None):
        self.session = session
        self.runner = runner
        self.recent = recent
        self.catalog: DicomCatalog | None = None
        self.catalog_scanned = Signal()
        self.thumbnails_ready = Signal()
        self.case_opened = Signal()
        self.recent_failed = Signal()
        self.plan_opened = Signal()
        self.plan_saved = Signal()

    # -- cases ----------------------------------------------------------------------------
    def open_path(self, path: str | Path) -> TaskHandle:
        """Open a dropped or chosen path; raises ``InvalidParameterError`` at once when missing."""
        return self.open_source(source_for_path(path))

    def open_sample(self, name: str) -> TaskHandle:
        """Open the sample case ``name``; raises ``InvalidParameterError`` at once when unknown."""
        return self.open_source(source_for_sample(name))

    def open_source(self, source: CaseSource) -> TaskHandle:
        """Open ``source`` in the background; a DICOM source is scanned first."""
        if source.kind == DICOM_KIND:
            return self.runner.submit(
                f"Scanning {source.title}",
                lambda progress, cancel: scan_dicom(
                    source.location, progress=progress, cancel=cancel
                ),
                on_done=lambda catalog: self._catalog_scanned(source, catalog),
                key="load",
            )
        return self._load(source, None)

    def open_series(self, key: str) -> TaskHandle | None:
        """Open the series ``key`` of the scanned DICOM folder; None when none is open."""
        if self.catalog is None:
            return None
        return self._load(CaseSource(DICOM_KIND, str(self.catalog.root), key), self.catalog)

    def _catalog_scanned(self, source: CaseSource, catalog: DicomCatalog) -> None:
        self.catalog = catalog
        self.catalog_scanned.emit(catalog)
        self.runner.submit(
            "Thumbnails",
            lambda progress, cancel: catalog_thumbnails(catalog, progress=progress, cancel=cancel),
            on_done=self.thumbnails_ready.emit,
            key="thumbnails",
        )
        self._load(source, catalog)

    def _load(self, source: CaseSource, catalog: DicomCatalog | None) -> TaskHandle:
        return self.runner.submit(
            f"Opening {source.title}",
            lambda progress, cancel: load_case_with_thumbnail(
                source, catalog=catalog, progress=progress, cancel=cancel
            ),
            on_done=lambda loaded: self.show_case(*loaded),
            key="load",
        )

    def show_case(self, case: ImageCase, thumbnails: Thumbnails | None = None) -> None:
        """Put a loaded ``case`` in the session and record it among the recent cases."""
        self.session.open_case(case)
        if case.source.kind != DICOM_KIND:
            self.catalog = None
        if self.recent is not None:
            try:
                self.recent.add(case.source)
            except OSError as error:  # a read-only home folder must not stop viewing
                self.recent_failed.emit(error)
        self.case_opened.emit(case)
        if thumbnails:
            self.thumbnails_ready.emit(thumbnails)

    # -- label maps -----------------------------------------------------------------------
    def open_label_map(self, path: str | Path) -> TaskHandle:
        """Read a label map onto the open image's grid in the background.

        Raises
        ------
        PlanningError
            At once, when no image is open.
        """
        case = self.session.case
        if case is None:
            raise PlanningError("Open an image before its label map (File > Open label map).")
        geometry = case.volume.geometry

        def work(progress: ProgressCallback, cancel: CancelToken) -> LabelMap:
            progress(0.0, f"Reading {Path(path).name}")
            return read_label_map(path, reference=geometry)

        def done(labels: LabelMap) -> None:
            if self.session.case is case:  # not onto an image opened meanwhile
                self.session.set_labels(labels)

        return self.runner.submit("Opening label map", work, on_done=done, key="labels")

    # -- plans ----------------------------------------------------------------------------
    def open_plan(self, path: str | Path) -> TaskHandle:
        """Read a plan (and the image, labels, fields it names) in the background; show it."""
        case = self.session.case
        reference = None if case is None else case.reference

        def done(opened: OpenedPlan) -> None:
            before = self.session.case
            show_opened_plan(self.session, opened)
            if self.session.case is not None and self.session.case is not before:
                # The plan brought its own image: announce it like any opened case, so
                # the study browser lists it (no folder was scanned for it).
                self.catalog = None
                self.case_opened.emit(self.session.case)
            self.plan_opened.emit(opened)

        return self.runner.submit(
            f"Opening plan {Path(path).name}",
            lambda progress, cancel: read_plan_files(
                path, reference=reference, progress=progress, cancel=cancel
            ),
            on_done=done,
            key="load",
        )

    def save_plan(
        self,
        path: str | Path,
        *,
        in_worker: bool = True,
    ) -> TaskHandle | Path:
        """Save the plan as it is now to ``path``.

        The plan is captured at once; it is written in the background
        (``in_worker``, returns the task) or before returning (returns the path
        written). Either way the document is marked saved as of the capture and
        :attr:`plan_saved` is emitted.

        Raises
        ------
        PlanningError
            At once when there is nothing to save; when writing before returning fails.
        """
        document = self.session.document
        snapshot = document.snapshot()
        checkpoint = document.history.checkpoint()

        def saved(written: Path) -> None:
            document.mark_saved(written, checkpoint)
            self.plan_saved.emit(written)

        if in_worker:
            return self.runner.submit(
                f"Saving plan {Path(path).name}",
                lambda progress, cancel: snapshot.write(path),
                on_done=saved,
            )
        written = snapshot.write(path)
        saved(written)
        return written
