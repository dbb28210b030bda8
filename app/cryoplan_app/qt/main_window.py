"""The main window: menus, toolbar, study browser, labels panel, views and status bar.

It wires user commands to the session and to worker tasks; it draws nothing
itself. Every error ends in :class:`~cryoplan_app.qt.errors.ErrorPresenter`.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PyQt6.QtCore import QPoint, QRect, Qt, QTimer
from PyQt6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QKeySequence,
    QPainter,
)
from PyQt6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QWidget,
)

from cryoplan_app.model.autosave import Autosaver, AutosaveRecord
from cryoplan_app.model.case import (
    CaseSource,
    ImageCase,
    default_series,
    load_case,
    sample_case_names,
)
from cryoplan_app.model.plan_files import OpenedPlan, read_plan_files
from cryoplan_app.model.planes import SLICE_VIEWS
from cryoplan_app.model.recent import RecentCases
from cryoplan_app.model.session import PointInfo, Session
from cryoplan_app.model.thumbnails import catalog_thumbnails, volume_thumbnail
from cryoplan_app.model.window_level import CT_PRESETS, PRESET_NAMES, WindowLevel
from cryoplan_app.qt.errors import ErrorPresenter
from cryoplan_app.qt.labels_panel import QtLabelsPanel
from cryoplan_app.qt.plan_runner import PlanRunner
from cryoplan_app.qt.practice import install_training
from cryoplan_app.qt.report_action import choose_dicom_folder, choose_report_file
from cryoplan_app.qt.slice_view import CONTROLS_HELP
from cryoplan_app.qt.study_browser import QtStudyBrowser
from cryoplan_app.qt.tasks import Task, TaskRunner
from cryoplan_app.qt.view_area import QtViewArea
from planning_core.errors import PlanningError
from planning_core.imaging.dicom import DicomCatalog, scan_dicom
from planning_core.imaging.volume_io import VOLUME_SUFFIXES, is_volume_file, read_label_map
from planning_core.thermal.probes import ProbeLibrary

APP_TITLE = "Cryoablation planner"
_LAYOUT_ACTIONS = (
    ("4up", "4-up", "Ctrl+1"),
    ("axial", "Axial", "Ctrl+2"),
    ("sagittal", "Sagittal", "Ctrl+3"),
    ("coronal", "Coronal", "Ctrl+4"),
    ("3d", "3-D", "Ctrl+5"),
    ("probe", "Probe views", "Ctrl+6"),
)
_DOCK_WIDTH_PX = 340
_PLAN_FILTER = "Plans (*.json);;All files (*)"
#: Pause after the last edit before the session is autosaved.
AUTOSAVE_DELAY_MS = 2000
_VOLUME_FILTER = "Volumes (" + " ".join(f"*{s}" for s in VOLUME_SUFFIXES) + ")"


class MainWindow(QMainWindow):
    """The planner window.

    Parameters
    ----------
    headless : bool
        Screenshot and test mode: errors are reported without dialogs and
        nothing ever waits for an answer (closing with unsaved changes, recovery).
    recent : RecentCases, optional
        The recent-cases list (the user's own by default).
    autosave_dir : Path, optional
        Where the session is autosaved (:data:`~cryoplan_app.model.autosave.DEFAULT_AUTOSAVE_DIR`).
    probe_library : ProbeLibrary, optional
        Probe models (the packaged library by default).
    simulate : bool
        Re-evaluate the plan automatically after edits (off in tests that do not need it).
    """

    def __init__(
        self,
        *,
        headless: bool = False,
        recent: RecentCases | None = None,
        autosave_dir: str | Path | None = None,
        probe_library: ProbeLibrary | None = None,
        simulate: bool = True,
    ) -> None:
        super().__init__()
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self.headless = headless
        self.session = Session(probe_library=probe_library)
        self.errors = ErrorPresenter(self, headless=headless)
        self.runner = TaskRunner(self, on_error=self.errors.show_error)
        self.plan_runner = PlanRunner(self.session, self.runner, self, auto=simulate)
        self.autosave = Autosaver(autosave_dir)
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.timeout.connect(self.autosave_now)
        self.recent = recent if recent is not None else RecentCases()
        self.catalog: DicomCatalog | None = None
        self.view_area = QtViewArea(self.session, self.runner, self)
        self.setCentralWidget(self.view_area)
        self.browser = QtStudyBrowser(self)
        self.browser.series_activated.connect(self._open_catalog_series)
        self.browser.open_requested.connect(self.choose_dicom_folder)
        self.labels_panel = QtLabelsPanel(self.session, self)
        studies = self._add_dock("Studies", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea)
        labels = self._add_dock("Labels", self.labels_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.resizeDocks([studies], [_DOCK_WIDTH_PX], Qt.Orientation.Horizontal)
        self.resizeDocks([studies, labels], [3, 2], Qt.Orientation.Vertical)
        self._build_status_bar()
        self._build_actions()
        self.session.case_changed.connect(self._on_case_changed)
        self.session.window_level_changed.connect(self._sync_preset_actions)
        self.session.layout_changed.connect(self._sync_layout_actions)
        self.session.hover_changed.connect(self._show_hover)
        self.session.history_changed.connect(self._on_history)
        self.session.plan_path_changed.connect(lambda _path: self._update_title())
        self.session.tool_changed.connect(
            lambda tool: self.probe_tool_action.setChecked(tool == "probe")
        )
        self._on_case_changed(None)
        self._on_history()
        try:
            from cryoplan_app.qt.panels import install_panels
        except ModuleNotFoundError:  # the workflow panels are optional
            pass
        else:
            install_panels(self)
        install_training(self)

    def _add_dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    # -- menus and toolbar --------------------------------------------------------------
    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_folder = self._action("Open DICOM folder…", self.choose_dicom_folder, "Ctrl+O")
        open_volume = self._action("Open volume file…", self.choose_volume_file, "Ctrl+Shift+O")
        self.open_labels_action = self._action("Open label map…", self.choose_label_map)
        file_menu.addActions([open_folder, open_volume, self.open_labels_action])
        file_menu.addSeparator()
        self.open_plan_action = self._action("Open plan…", self.choose_plan_to_open, "Ctrl+L")
        self.save_plan_action = self._action(
            "Save plan", self.save_plan, QKeySequence.StandardKey.Save
        )
        self.save_plan_as_action = self._action(
            "Save plan as…", self.choose_plan_to_save, QKeySequence.StandardKey.SaveAs
        )
        self.report_action = self._action(
            "Export report (PDF)…", partial(choose_report_file, self), "Ctrl+E"
        )
        # Sharing outside the hospital needs the patient's identifiers removed (PS3.15).
        self.export_actions = [
            self._action(
                "Export de-identified report (PDF)…",
                partial(choose_report_file, self, deidentify=True),
            ),
            self._action("Export DICOM for PACS…", partial(choose_dicom_folder, self)),
            self._action(
                "Export de-identified DICOM…", partial(choose_dicom_folder, self, deidentify=True)
            ),
        ]
        file_menu.addActions(
            [
                self.open_plan_action,
                self.save_plan_action,
                self.save_plan_as_action,
                self.report_action,
                *self.export_actions,
            ]
        )
        file_menu.addSeparator()
        samples = file_menu.addMenu("Open sample case")
        names = sample_case_names()
        for name in names:
            samples.addAction(self._action(name, partial(self.open_sample, name)))
        if not names:
            unavailable = samples.addAction("(the sample generator is not installed)")
            unavailable.setEnabled(False)
        self.recent_menu = file_menu.addMenu("Recent cases")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        self.screenshot_action = self._action(
            "Save screenshot…", self.choose_screenshot_file, "F12"
        )
        file_menu.addAction(self.screenshot_action)
        file_menu.addSeparator()
        file_menu.addAction(self._action("Quit", self.close, QKeySequence.StandardKey.Quit))

        edit_menu = self.menuBar().addMenu("&Edit")
        self.undo_action = self._action("Undo", self.session.undo, QKeySequence.StandardKey.Undo)
        self.redo_action = self._action("Redo", self.session.redo, "Ctrl+Shift+Z")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        edit_menu.addActions([self.undo_action, self.redo_action])
        edit_menu.addSeparator()
        self.probe_tool_action = QAction("Probe tool (drag handles)", self)
        self.probe_tool_action.setCheckable(True)
        self.probe_tool_action.setShortcut(QKeySequence("P"))
        self.probe_tool_action.toggled.connect(
            lambda on: self.session.set_tool("probe" if on else "navigate")
        )
        self.add_probe_action = self._action(
            "Add probe at crosshair", self.add_probe_at_crosshair, "Ctrl+Shift+P"
        )
        self.remove_probe_action = self._action(
            "Remove selected probe", self.remove_selected_probe, QKeySequence.StandardKey.Delete
        )
        self.simulate_action = self._action(
            "Simulate plan now", self.plan_runner.evaluate_now, "F5"
        )
        edit_menu.addActions(
            [
                self.probe_tool_action,
                self.add_probe_action,
                self.remove_probe_action,
                self.simulate_action,
            ]
        )

        view_menu = self.menuBar().addMenu("&View")
        self.layout_actions: dict[str, QAction] = {}
        layout_group = QActionGroup(self)
        for layout, text, shortcut in _LAYOUT_ACTIONS:
            action = self._action(text, partial(self.session.set_layout, layout), shortcut)
            action.setCheckable(True)
            layout_group.addAction(action)
            view_menu.addAction(action)
            self.layout_actions[layout] = action
        view_menu.addSeparator()
        view_menu.addAction(self._action("Reset zoom and pan", self.reset_views, "Ctrl+R"))
        self.planes_3d_action = QAction("Slice planes in 3-D", self)
        self.planes_3d_action.setCheckable(True)
        self.planes_3d_action.setShortcut(QKeySequence("Ctrl+P"))
        self.planes_3d_action.toggled.connect(self.session.set_planes_3d)
        self.session.planes_3d_changed.connect(self.planes_3d_action.setChecked)
        view_menu.addAction(self.planes_3d_action)

        level_menu = self.menuBar().addMenu("&Window/level")
        self.preset_actions: dict[str, QAction] = {}
        preset_group = QActionGroup(self)
        for number, preset in enumerate(PRESET_NAMES, start=1):
            action = self._action(
                preset.capitalize(), partial(self._apply_preset, preset), str(number)
            )
            action.setCheckable(True)
            action.setToolTip(_preset_tooltip(preset))
            preset_group.addAction(action)
            level_menu.addAction(action)
            self.preset_actions[preset] = action

        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self._action("Mouse and keys", self._show_controls, "F1"))

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("toolbar-main")
        toolbar.addAction(open_folder)
        toolbar.addSeparator()
        toolbar.addActions(list(self.layout_actions.values()))
        toolbar.addSeparator()
        toolbar.addActions(list(self.preset_actions.values()))
        toolbar.addSeparator()
        toolbar.addActions([self.probe_tool_action, self.add_probe_action])
        self._case_actions = [
            self.open_labels_action,
            self.screenshot_action,
            self.open_plan_action,
            self.save_plan_action,
            self.save_plan_as_action,
            self.report_action,
            *self.export_actions,
            self.probe_tool_action,
            self.add_probe_action,
            self.remove_probe_action,
            self.simulate_action,
            *self.preset_actions.values(),
        ]
        self._sync_layout_actions(self.session.layout)

    def _action(self, text: str, slot, shortcut: str | QKeySequence.StandardKey | None = None):
        action = QAction(text, self)
        action.triggered.connect(lambda _checked=False: slot())
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        return action

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.hover_label = QLabel()
        self.hover_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar.addWidget(self.hover_label, 1)
        self.task_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(220)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.runner.cancel_all)
        for widget in (self.task_label, self.progress, self.cancel_button):
            bar.addPermanentWidget(widget)
            widget.hide()
        self.runner.task_started.connect(self._show_tasks)
        self.runner.task_progressed.connect(self._show_tasks)
        self.runner.task_finished.connect(self._show_tasks)

    def _show_tasks(self, _task: Task | None = None) -> None:
        tasks = self.runner.tasks
        for widget in (self.task_label, self.progress, self.cancel_button):
            widget.setVisible(bool(tasks))
        if tasks:
            task = tasks[0]
            more = f" (+{len(tasks) - 1} more)" if len(tasks) > 1 else ""
            self.task_label.setText(f"{task.message or task.title}{more}")
            self.progress.setValue(round(1000 * task.fraction))

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        entries = self.recent.entries()
        for source in entries:
            action = self.recent_menu.addAction(source.title)
            action.setToolTip(source.location)
            action.triggered.connect(partial(self.open_source, source))
        if not entries:
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    # -- opening ------------------------------------------------------------------------
    def choose_dicom_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open DICOM folder")
        if folder:
            self.open_path(folder)

    def choose_volume_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open volume file", "", f"{_VOLUME_FILTER};;All files (*)"
        )
        if path:
            self.open_path(path)

    def choose_label_map(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open label map", "", f"{_VOLUME_FILTER};;All files (*)"
        )
        if path:
            self.open_label_map(path)

    def open_path(self, path: str | Path) -> None:
        """Open a dropped or chosen path: a volume file directly, anything else as DICOM."""
        path = Path(path)
        kind = "volume" if path.is_file() and is_volume_file(path) else "dicom"
        self.open_source(CaseSource(kind, str(path)))

    def open_sample(self, name: str) -> None:
        self.open_source(CaseSource("sample", name))

    def open_source(self, source: CaseSource) -> Task:
        """Open ``source`` in a worker; a DICOM source fills the study browser first."""
        if source.kind == "dicom":
            return self.runner.submit(
                f"Scanning {source.title}",
                lambda progress, cancel: scan_dicom(
                    source.location, progress=progress, cancel=cancel
                ),
                on_done=partial(self._catalog_scanned, source),
                key="load",
            )
        return self._load(source, None)

    def _catalog_scanned(self, source: CaseSource, catalog: DicomCatalog) -> None:
        self.catalog = catalog
        self.browser.show_catalog(catalog)
        self.runner.submit(
            "Thumbnails",
            lambda progress, cancel: catalog_thumbnails(catalog, progress=progress, cancel=cancel),
            on_done=self._show_thumbnails,
            key="thumbnails",
        )
        key = source.series_key or default_series(catalog).key
        self._load(CaseSource("dicom", str(catalog.root), key, source.labels_path), catalog)

    def _show_thumbnails(self, thumbnails: dict) -> None:
        for key, pixels in thumbnails.items():
            self.browser.set_thumbnail(key, pixels)

    def _open_catalog_series(self, key: str) -> None:
        if self.catalog is not None:
            self._load(CaseSource("dicom", str(self.catalog.root), key), self.catalog)

    def _load(self, source: CaseSource, catalog: DicomCatalog | None) -> Task:
        return self.runner.submit(
            f"Opening {source.title}",
            lambda progress, cancel: load_case(
                source, catalog=catalog, progress=progress, cancel=cancel
            ),
            on_done=self._case_loaded,
            key="load",
        )

    def _case_loaded(self, case: ImageCase) -> None:
        self.session.open_case(case)
        source = case.source
        if source.kind == "dicom":
            self.browser.mark_open(source.series_key or "")
        else:
            self.catalog = None
            self.browser.show_volume(source, case.volume)
            self.browser.set_thumbnail(
                "", volume_thumbnail(case.volume, value_range=case.value_range)
            )
        try:
            self.recent.add(source)
        except OSError as error:  # a read-only home folder must not stop viewing
            self.statusBar().showMessage(f"Recent cases not saved: {error}", 8000)
        if case.volume.warnings:
            self.statusBar().showMessage(
                f"{len(case.volume.warnings)} loader warning(s); see the study browser.", 8000
            )

    def open_label_map(self, path: str | Path) -> None:
        """Read a label map onto the open image's grid, in a worker."""
        case = self.session.case
        if case is None:
            self.errors.show_error(PlanningError("Open an image before its label map."))
            return
        geometry = case.volume.geometry

        def work(progress, cancel):
            progress(0.0, f"Reading {Path(path).name}")
            return read_label_map(path, reference=geometry)

        self.runner.submit(
            "Opening label map",
            work,
            on_done=self._labels_loaded,
            key="labels",
        )

    def _labels_loaded(self, labels) -> None:
        if self.session.case is not None:
            self.session.set_labels(labels)

    # -- session reactions --------------------------------------------------------------
    def _on_case_changed(self, case: ImageCase | None) -> None:
        for action in self._case_actions:
            action.setEnabled(case is not None)
        self._update_title()
        self.hover_label.setText("" if case is not None else "No image open.")
        if case is not None:
            self._sync_preset_actions(self.session.window_level)
            self.planes_3d_action.setChecked(self.session.planes_3d)

    def _sync_preset_actions(self, window_level: WindowLevel) -> None:
        for preset, action in self.preset_actions.items():
            action.setChecked(preset == window_level.preset)

    def _sync_layout_actions(self, layout: str) -> None:
        for name, action in self.layout_actions.items():
            action.setChecked(name == layout)

    def _show_hover(self, info: PointInfo | None) -> None:
        self.hover_label.setText("" if info is None else info.describe())

    def _apply_preset(self, preset: str) -> None:
        if self.session.case is not None:
            self.session.apply_preset(preset)

    def reset_views(self) -> None:
        if self.session.case is not None:
            for view in SLICE_VIEWS:
                self.session.reset_view(view)

    def _show_controls(self) -> None:
        QMessageBox.information(self, "Mouse and keys", CONTROLS_HELP)

    # -- screenshots --------------------------------------------------------------------
    def choose_screenshot_file(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", "", "PNG image (*.png)")
        if path:
            self.save_screenshot(path)

    def grab_image(self) -> QImage:
        """The window as the user sees it, with the VTK views read back from OpenGL.

        ``QWidget.grab`` cannot see what OpenGL drew into native child windows,
        so each visible view's own picture is painted over its place.
        """
        image = self.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
        painter = QPainter(image)
        for view in self.view_area.visible_views.values():
            top_left = view.mapTo(self, QPoint(0, 0))
            painter.drawImage(QRect(top_left, view.size()), view.capture())
        painter.end()
        return image

    def save_screenshot(self, path: str | Path) -> None:
        path = Path(path)
        self.view_area.render_all()
        if not self.grab_image().save(str(path), "PNG"):
            self.errors.show_error(
                PlanningError(f"{path}: the screenshot could not be written; check the folder.")
            )

    # -- drag and drop, closing ---------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_path(paths[0])
            event.acceptProposedAction()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if not self.confirm_discard("closing"):
            event.ignore()
            return
        self._autosave_timer.stop()
        self.autosave.discard()
        self.runner.cancel_all()
        self.runner.wait(5000)
        for view in self.view_area.views.values():
            view.release()
        super().closeEvent(event)

    # -- plan files, undo, unsaved changes ---------------------------------------------
    def confirm_discard(self, doing: str) -> bool:
        """Ask what to do with unsaved changes before ``doing``; True to go on.

        Save saves (asking for a file when the plan has none) and goes on,
        Discard goes on, Cancel stops. Headless windows never ask and go on.
        """
        if not self.session.dirty or self.headless:
            return True
        answer = QMessageBox.question(
            self,
            "Unsaved changes",
            f"The plan has unsaved changes. Save them before {doing}?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save_plan()
        return answer == QMessageBox.StandardButton.Discard

    def choose_plan_to_open(self) -> None:
        if not self.confirm_discard("opening another plan"):
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open plan", "", _PLAN_FILTER)
        if path:
            self.open_plan(path)

    def open_plan(self, path: str | Path) -> Task:
        """Read a plan (and the image, labels and fields it names) in a worker, then show it."""
        case = self.session.case
        reference = None if case is None else case.reference
        return self.runner.submit(
            f"Opening plan {Path(path).name}",
            lambda progress, cancel: read_plan_files(
                path, reference=reference, progress=progress, cancel=cancel
            ),
            on_done=self._plan_read,
            key="load",
        )

    def _plan_read(self, opened: OpenedPlan) -> None:
        self.session.show_opened_plan(opened)
        for warning in opened.warnings:
            self.statusBar().showMessage(warning, 10000)

    def save_plan(self) -> bool:
        """Save to the plan's file, asking for one the first time; True when saved."""
        path = self.session.plan_path
        if path is None:
            return self.choose_plan_to_save()
        return self.save_plan_to(path)

    def choose_plan_to_save(self) -> bool:
        if self.session.case is None:
            return False
        suggested = str(self.session.plan_path or "plan.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save plan as", suggested, _PLAN_FILTER)
        return bool(path) and self.save_plan_to(path)

    def save_plan_to(self, path: str | Path) -> bool:
        try:
            written = self.session.save_plan(path)
        except PlanningError as error:
            self.errors.show_error(error)
            return False
        self.statusBar().showMessage(f"Plan saved to {written}", 6000)
        return True

    def add_probe_at_crosshair(self) -> None:
        if self.session.case is None:
            return
        try:
            self.session.add_probe_at(self.session.crosshair_lps)
        except PlanningError as error:
            self.errors.show_error(error)

    def remove_selected_probe(self) -> None:
        index = self.session.selected_probe
        if index is not None:
            self.session.remove_probe(index)

    def _on_history(self) -> None:
        session = self.session
        self.undo_action.setEnabled(session.can_undo)
        self.redo_action.setEnabled(session.can_redo)
        undo, redo = session.history.undo_text, session.history.redo_text
        self.undo_action.setText(f"Undo {undo}" if undo else "Undo")
        self.redo_action.setText(f"Redo {redo}" if redo else "Redo")
        self._update_title()
        if session.dirty:
            self._autosave_timer.start(AUTOSAVE_DELAY_MS)
        else:
            self._autosave_timer.stop()
            self.autosave.discard()  # nothing left that a crash could lose

    def _update_title(self) -> None:
        case = self.session.case
        if case is None:
            self.setWindowTitle(APP_TITLE)
            return
        plan_path = self.session.plan_path
        plan = f" · {plan_path.name}" if plan_path is not None else ""
        mark = " *" if self.session.dirty else ""
        patient = f"{case.patient_line} · " if case.patient_line else ""
        self.setWindowTitle(f"{patient}{case.title}{plan}{mark} — {APP_TITLE}")

    # -- autosave and recovery ---------------------------------------------------------
    def autosave_now(self) -> None:
        """Write the unsaved session to the autosave folder (the timer calls this)."""
        session = self.session
        case = session.case
        if case is None or not session.dirty:
            return
        try:
            self.autosave.save(
                source=case.source,
                plan=session.plan,
                labels=session.labels if session.labels_edited else None,
            )
        except PlanningError as error:
            self.statusBar().showMessage(str(error), 10000)

    def offer_recovery(self) -> AutosaveRecord | None:
        """Offer the newest session a crash left behind; recover it when the user agrees.

        Returns the record being recovered (opening runs in a worker), or None.
        """
        records = self.autosave.recoverable()
        if not records or self.headless:
            return None
        record = records[0]
        answer = QMessageBox.question(
            self,
            "Recover unsaved work",
            f"The planner did not close properly last time. Recover {record.describe()}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        if answer != QMessageBox.StandardButton.Yes:
            for old in records:
                old.discard()
            return None
        self.recover(record)
        return record

    def recover(self, record: AutosaveRecord) -> Task:
        """Open the record's case (unless it is open), then put its plan and labels back
        as unsaved changes."""
        open_case = self.session.case
        reuse = open_case if open_case is not None and open_case.source == record.source else None

        def work(progress, cancel):
            case = reuse or load_case(record.source, progress=progress, cancel=cancel)
            plan = record.read_plan()
            return case, plan, record.read_labels(case.volume.geometry)

        def done(result) -> None:
            case, plan, labels = result
            if case is not self.session.case:
                self._case_loaded(case)
            self.session.restore_plan(plan, labels=labels)
            record.discard()

        return self.runner.submit(
            f"Recovering {record.source.title}", work, on_done=done, key="load"
        )


def _preset_tooltip(preset: str) -> str:
    if preset in CT_PRESETS:
        window, level = CT_PRESETS[preset]
        return f"{preset.capitalize()}: W {window:.0f} / L {level:.0f} HU"
    return "Ultrasound: the image's full value range"
