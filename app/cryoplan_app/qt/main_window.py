"""The main window: menus, toolbar, study browser, labels panel, views and status bar.

It wires user commands to the session and to worker tasks; it draws nothing
itself. Every error ends in :class:`~cryoplan_app.qt.errors.ErrorPresenter`.
"""

from __future__ import annotations

from collections.abc import Callable
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

from cryoplan_app.logic import Logic
from cryoplan_app.logic.case_io import DICOM_KIND
from cryoplan_app.logic.runner import TaskHandle
from cryoplan_app.model.autosave import Autosaver, AutosaveRecord
from cryoplan_app.model.case import ImageCase, sample_case_names
from cryoplan_app.model.mode import Mode, ModeState, UserAction
from cryoplan_app.model.plan_files import OpenedPlan
from cryoplan_app.model.planes import SLICE_VIEWS
from cryoplan_app.model.recent import RecentCases
from cryoplan_app.model.session import Session
from cryoplan_app.model.view_state import Layout, PointInfo, Tool
from cryoplan_app.model.window_level import CT_PRESETS, PRESET_NAMES, WindowLevel
from cryoplan_app.qt.actions import Actions
from cryoplan_app.qt.context import AppContext
from cryoplan_app.qt.errors import ErrorPresenter
from cryoplan_app.qt.labels_panel import QtLabelsPanel
from cryoplan_app.qt.panels import (
    TIMELINE_TITLE,
    TITLES,
    TimelinePanel,
    ViewTool,
    scrolling,
    tabbed_panels,
)
from cryoplan_app.qt.plan_runner import SettleTimer
from cryoplan_app.qt.practice import PracticeController, PracticePanel, TrainingActions
from cryoplan_app.qt.report_action import (
    choose_dicom_folder,
    choose_pacs_node,
    choose_report_file,
)
from cryoplan_app.qt.slice_view import CONTROLS_HELP
from cryoplan_app.qt.study_browser import QtStudyBrowser
from cryoplan_app.qt.tasks import Task, TaskRunner
from cryoplan_app.qt.view_area import QtViewArea
from planning_core.errors import PlanningError
from planning_core.imaging.case_sources import CaseSource
from planning_core.imaging.volume_io import VOLUME_SUFFIXES
from planning_core.thermal.probes import ProbeLibrary

APP_TITLE = "Cryoablation planner"
_LAYOUT_ACTIONS = (
    (Layout.FOUR_UP, "4-up", "Ctrl+1"),
    (Layout.AXIAL, "Axial", "Ctrl+2"),
    (Layout.SAGITTAL, "Sagittal", "Ctrl+3"),
    (Layout.CORONAL, "Coronal", "Ctrl+4"),
    (Layout.VOLUME_3D, "3-D", "Ctrl+5"),
    (Layout.PROBE, "Probe views", "Ctrl+6"),
)
_DOCK_WIDTH_PX = 340
_PANEL_WIDTH_PX = 460
#: The command each workflow panel stands for (disabled as a whole when it is not allowed).
_PANEL_COMMANDS = {
    "segmentation": UserAction.SEGMENT,
    "probes": UserAction.EDIT_PROBES,
    "protocol": UserAction.EDIT_PROTOCOL,
    "optimizer": UserAction.OPTIMIZE,
    "confirm": UserAction.CONFIRM,
}
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
        self.session = Session(probe_library=probe_library)
        self.errors = ErrorPresenter(self, headless=headless)
        self.runner = TaskRunner(self, on_error=self.errors.show_error)
        self.autosave = Autosaver(autosave_dir)
        self.recent = recent if recent is not None else RecentCases()
        # The logic connects to the session before any panel does.
        self.logic = Logic(
            self.session,
            self.runner,
            auto_evaluate=simulate,
            recent=self.recent,
            autosaver=self.autosave,
        )
        self.settle_timer = SettleTimer(self.logic.evaluation, self)
        self.mode = ModeState()
        self.actions = Actions(self, self.session, self.mode)
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.timeout.connect(self.autosave_now)
        self.view_area = QtViewArea(self.session, self.runner, self)
        self.setCentralWidget(self.view_area)
        self.context = AppContext(
            session=self.session,
            runner=self.runner,
            errors=self.errors,
            logic=self.logic,
            actions=self.actions,
            mode=self.mode,
            views=self.view_area.views,
            status_bar=self.statusBar(),
            dialog_parent=self,
            confirm_discard=self.confirm_discard,
            headless=headless,
        )
        self.browser = QtStudyBrowser(
            self,
            pacs=self.logic.pacs,
            task_progressed=self.runner.task_progressed,
            show_error=self.errors.show_error,
        )
        self.browser.series_activated.connect(self._open_catalog_series)
        self.browser.open_requested.connect(self.choose_dicom_folder)
        cases = self.logic.cases
        cases.catalog_scanned.connect(self.browser.show_catalog)
        cases.thumbnails_ready.connect(self._show_thumbnails)
        cases.case_opened.connect(self._case_opened)
        cases.recent_failed.connect(
            lambda error: self.statusBar().showMessage(f"Recent cases not saved: {error}", 8000)
        )
        cases.plan_opened.connect(self._plan_opened)
        self.logic.recovery.autosave_failed.connect(self._autosave_failed)
        cases.plan_saved.connect(
            lambda path: self.statusBar().showMessage(f"Plan saved to {path}", 6000)
        )
        self.labels_panel = QtLabelsPanel(self.session, self)
        studies = self._add_dock("Studies", self.browser, Qt.DockWidgetArea.LeftDockWidgetArea)
        labels = self._add_dock("Labels", self.labels_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.resizeDocks([studies], [_DOCK_WIDTH_PX], Qt.Orientation.Horizontal)
        self.resizeDocks([studies, labels], [3, 2], Qt.Orientation.Vertical)
        self._build_status_bar()
        self._build_actions()
        self.session.case_changed.connect(self._on_case_changed)
        self.session.view.window_level_changed.connect(self._sync_preset_actions)
        self.session.view.layout_changed.connect(self._sync_layout_actions)
        self.session.view.hover_changed.connect(self._show_hover)
        self.session.document.history.changed.connect(self._on_history)
        self.session.document.path_changed.connect(lambda _path: self._update_title())
        self.session.view.tool_changed.connect(
            lambda tool: self.probe_tool_action.setChecked(tool == "probe")
        )
        self._on_case_changed(None)
        self._on_history()
        self._compose_panels()
        self._compose_training()

    @property
    def headless(self) -> bool:
        """Screenshot and test mode: no dialog ever waits for an answer."""
        return self.context.headless

    @headless.setter
    def headless(self, headless: bool) -> None:
        self.context.headless = headless

    def _compose_panels(self) -> None:
        """Dock the workflow panels: tabbed on the right, the freeze timeline below the views.

        ``panels`` maps a panel's name (``"segmentation"``, ``"probes"``...) to
        its widget; ``view_tool`` is the :class:`ViewTool` the panels borrow the
        2-D views' left button through.
        """
        self.view_tool = ViewTool(self.session, self.view_area.views, self)
        tabbed = tabbed_panels(self.context, self.view_tool)
        right = Qt.DockWidgetArea.RightDockWidgetArea
        docks = {
            name: self._add_dock(TITLES[name], scrolling(panel), right)
            for name, panel in tabbed.items()
        }
        first = docks["segmentation"]
        for dock in docks.values():
            if dock is not first:
                self.tabifyDockWidget(first, dock)
        # Before the window shows, the last dock tabified stays on top whatever is raised:
        # raise the first step once the event loop runs.
        QTimer.singleShot(0, first.raise_)
        self.resizeDocks([first], [_PANEL_WIDTH_PX], Qt.Orientation.Horizontal)
        timeline = TimelinePanel(self.context)
        docks["timeline"] = self._add_dock(
            TIMELINE_TITLE, timeline, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.panels: dict[str, QWidget] = {**tabbed, "timeline": timeline}
        self.panel_docks = docks
        for name, command in _PANEL_COMMANDS.items():
            self.actions.bind(command, self.panels[name])

    def _compose_training(self) -> None:
        """The Training menu and the Practice panel (shown while a practice runs)."""
        self.practice = PracticeController(self.context, parent=self)
        self.practice_panel = PracticePanel(self.practice)
        self.practice_dock = self._add_dock(
            "Practice", self.practice_panel, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.tabifyDockWidget(self.panel_docks["segmentation"], self.practice_dock)
        self.practice_dock.hide()
        self.training_actions = TrainingActions(self.context, self.practice)
        menu = self.menuBar().addMenu("&Training")
        menu.addActions(list(self.training_actions.practice_actions))
        menu.addSeparator()
        menu.addActions(list(self.training_actions.record_actions))
        panel = self.practice_panel
        self.actions.bind(UserAction.SUBMIT_ATTEMPT, panel.submit_button)
        self.actions.bind(UserAction.REVEAL_REFERENCE, panel.reveal_button)
        self.actions.bind(UserAction.END_PRACTICE, panel.end_button)
        self.mode.changed.connect(self._show_practice_dock)

    def _show_practice_dock(self, mode: Mode) -> None:
        self.practice_dock.setVisible(mode is not Mode.PLANNING)
        if mode is not Mode.PLANNING:
            self.practice_dock.raise_()

    def _add_dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    # -- menus and toolbar --------------------------------------------------------------
    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        add = self.actions.add
        open_folder = add("Open DICOM folder…", self.choose_dicom_folder, "Ctrl+O")
        open_volume = add("Open volume file…", self.choose_volume_file, "Ctrl+Shift+O")
        self.open_labels_action = add(
            "Open label map…", self.choose_label_map, command=UserAction.OPEN_LABELS
        )
        file_menu.addActions([open_folder, open_volume, self.open_labels_action])
        file_menu.addSeparator()
        self.open_plan_action = add(
            "Open plan…", self.choose_plan_to_open, "Ctrl+L", command=UserAction.OPEN_PLAN
        )
        self.save_plan_action = add(
            "Save plan",
            self.save_plan,
            QKeySequence.StandardKey.Save,
            command=UserAction.SAVE_PLAN,
        )
        self.save_plan_as_action = add(
            "Save plan as…",
            self.choose_plan_to_save,
            QKeySequence.StandardKey.SaveAs,
            command=UserAction.SAVE_PLAN,
        )
        export = UserAction.EXPORT
        self.report_action = add(
            "Export report (PDF)…",
            partial(choose_report_file, self.context),
            "Ctrl+E",
            command=export,
        )
        # Sharing outside the hospital needs the patient's identifiers removed (PS3.15).
        self.export_actions = [
            add(
                "Export de-identified report (PDF)…",
                partial(choose_report_file, self.context, deidentify=True),
                command=export,
            ),
            add(
                "Export DICOM for PACS…",
                partial(choose_dicom_folder, self.context),
                command=export,
            ),
            add(
                "Export de-identified DICOM…",
                partial(choose_dicom_folder, self.context, deidentify=True),
                command=export,
            ),
            add("Send plan to PACS node…", partial(choose_pacs_node, self.context), command=export),
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
            samples.addAction(add(name, partial(self.open_sample, name)))
        if not names:
            unavailable = samples.addAction("(the sample generator is not installed)")
            unavailable.setEnabled(False)
        self.recent_menu = file_menu.addMenu("Recent cases")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        self.screenshot_action = add(
            "Save screenshot…", self.choose_screenshot_file, "F12", command=UserAction.SCREENSHOT
        )
        file_menu.addAction(self.screenshot_action)
        file_menu.addSeparator()
        file_menu.addAction(add("Quit", self.close, QKeySequence.StandardKey.Quit))

        edit_menu = self.menuBar().addMenu("&Edit")
        history = self.session.document.history
        self.undo_action = add(
            "Undo", history.undo, QKeySequence.StandardKey.Undo, command=UserAction.UNDO
        )
        self.redo_action = add("Redo", history.redo, "Ctrl+Shift+Z", command=UserAction.REDO)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        edit_menu.addActions([self.undo_action, self.redo_action])
        edit_menu.addSeparator()
        place_probes = UserAction.PLACE_PROBES
        self.probe_tool_action = add("Probe tool (drag handles)", None, "P", command=place_probes)
        self.probe_tool_action.setCheckable(True)
        self.probe_tool_action.toggled.connect(
            lambda on: self.session.view.set_tool(Tool.PROBE if on else Tool.NAVIGATE)
        )
        self.add_probe_action = add(
            "Add probe at crosshair",
            self.add_probe_at_crosshair,
            "Ctrl+Shift+P",
            command=place_probes,
        )
        self.remove_probe_action = add(
            "Remove selected probe",
            self.remove_selected_probe,
            QKeySequence.StandardKey.Delete,
            command=place_probes,
        )
        self.simulate_action = add(
            "Simulate plan now",
            self.logic.evaluation.evaluate_now,
            "F5",
            command=UserAction.SIMULATE,
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
            action = add(text, partial(self.session.view.set_layout, layout), shortcut)
            action.setCheckable(True)
            layout_group.addAction(action)
            view_menu.addAction(action)
            self.layout_actions[layout] = action
        view_menu.addSeparator()
        view_menu.addAction(add("Reset zoom and pan", self.reset_views, "Ctrl+R"))
        self.planes_3d_action = QAction("Slice planes in 3-D", self)
        self.planes_3d_action.setCheckable(True)
        self.planes_3d_action.setShortcut(QKeySequence("Ctrl+P"))
        self.planes_3d_action.toggled.connect(self.session.view.set_planes_3d)
        self.session.view.planes_3d_changed.connect(self.planes_3d_action.setChecked)
        view_menu.addAction(self.planes_3d_action)

        level_menu = self.menuBar().addMenu("&Window/level")
        self.preset_actions: dict[str, QAction] = {}
        preset_group = QActionGroup(self)
        for number, preset in enumerate(PRESET_NAMES, start=1):
            action = add(
                preset.capitalize(),
                partial(self._apply_preset, preset),
                str(number),
                command=UserAction.WINDOW_LEVEL,
            )
            action.setCheckable(True)
            action.setToolTip(_preset_tooltip(preset))
            preset_group.addAction(action)
            level_menu.addAction(action)
            self.preset_actions[preset] = action

        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(add("Mouse and keys", self._show_controls, "F1"))

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("toolbar-main")
        toolbar.addAction(open_folder)
        toolbar.addSeparator()
        toolbar.addActions(list(self.layout_actions.values()))
        toolbar.addSeparator()
        toolbar.addActions(list(self.preset_actions.values()))
        toolbar.addSeparator()
        toolbar.addActions([self.probe_tool_action, self.add_probe_action])
        self._sync_layout_actions(self.session.view.layout)

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

    def open_path(self, path: str | Path) -> Task | None:
        """Open a dropped or chosen path: a volume file directly, anything else as DICOM."""
        return self._opening(partial(self.logic.cases.open_path, path))

    def open_sample(self, name: str) -> Task | None:
        """Open the sample case ``name`` (from the File menu)."""
        return self._opening(partial(self.logic.cases.open_sample, name))

    def open_source(self, source: CaseSource) -> Task:
        """Open ``source`` in a worker; a DICOM source fills the study browser first."""
        return self.logic.cases.open_source(source)

    def _opening(self, start: Callable[[], Task]) -> Task | None:
        try:
            return start()
        except PlanningError as error:
            self.errors.show_error(error)
            return None

    def _show_thumbnails(self, thumbnails: dict) -> None:
        for key, pixels in thumbnails.items():
            self.browser.set_thumbnail(key, pixels)

    def _open_catalog_series(self, key: str) -> None:
        self.logic.cases.open_series(key)

    def _case_opened(self, case: ImageCase) -> None:
        source = case.source
        if source.kind == DICOM_KIND and self.logic.cases.catalog is not None:
            self.browser.mark_open(source.series_key or "")
        else:
            self.browser.show_volume(source, case.volume)
        if case.volume.warnings:
            self.statusBar().showMessage(
                f"{len(case.volume.warnings)} loader warning(s); see the study browser.", 8000
            )

    def open_label_map(self, path: str | Path) -> Task | None:
        """Read a label map onto the open image's grid, in a worker."""
        return self._opening(partial(self.logic.cases.open_label_map, path))

    # -- session reactions --------------------------------------------------------------
    def _on_case_changed(self, case: ImageCase | None) -> None:
        self._update_title()
        self.hover_label.setText("" if case is not None else "No image open.")
        if case is not None:
            self._sync_preset_actions(self.session.view.window_level)
            self.planes_3d_action.setChecked(self.session.view.planes_3d)

    def _sync_preset_actions(self, window_level: WindowLevel) -> None:
        for preset, action in self.preset_actions.items():
            action.setChecked(preset == window_level.preset)

    def _sync_layout_actions(self, layout: Layout) -> None:
        for name, action in self.layout_actions.items():
            action.setChecked(name == layout)

    def _show_hover(self, info: PointInfo | None) -> None:
        self.hover_label.setText("" if info is None else info.describe())

    def _apply_preset(self, preset: str) -> None:
        if self.session.case is not None:
            self.session.view.apply_preset(preset)

    def reset_views(self) -> None:
        if self.session.case is not None:
            for view in SLICE_VIEWS:
                self.session.view.reset_view(view)

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
        self.logic.recovery.discard()
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
        if not self.session.document.history.dirty or self.headless:
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
            return self.save_plan(in_worker=False)  # what follows must not lose a failed save
        return answer == QMessageBox.StandardButton.Discard

    def choose_plan_to_open(self) -> None:
        if not self.confirm_discard("opening another plan"):
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open plan", "", _PLAN_FILTER)
        if path:
            self.open_plan(path)

    def open_plan(self, path: str | Path) -> Task:
        """Read a plan (and the image, labels and fields it names) in a worker, then show it."""
        return self.logic.cases.open_plan(path)

    def _plan_opened(self, opened: OpenedPlan) -> None:
        # An opened plan is reviewed first: its checks in front.
        self.panel_docks["metrics"].raise_()
        for warning in opened.warnings:
            self.statusBar().showMessage(warning, 10000)

    def save_plan(self, *, in_worker: bool = True) -> bool:
        """Save to the plan's file, asking for one the first time; see :meth:`save_plan_to`."""
        path = self.session.document.path
        if path is None:
            return self.choose_plan_to_save(in_worker=in_worker)
        return self.save_plan_to(path, in_worker=in_worker)

    def choose_plan_to_save(self, *, in_worker: bool = True) -> bool:
        if self.session.case is None:
            return False
        suggested = str(self.session.document.path or "plan.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save plan as", suggested, _PLAN_FILTER)
        return bool(path) and self.save_plan_to(path, in_worker=in_worker)

    def save_plan_to(self, path: str | Path, *, in_worker: bool = True) -> bool:
        """Save the plan as it is now to ``path``, writing in a worker (``in_worker``) or
        before returning; True when the save started (in a worker) or succeeded."""
        try:
            self.logic.cases.save_plan(path, in_worker=in_worker)
        except PlanningError as error:
            self.errors.show_error(error)
            return False
        return True

    def add_probe_at_crosshair(self) -> None:
        if self.session.case is None:
            return
        try:
            self.session.document.add_probe_at(self.session.view.crosshair_lps)
        except PlanningError as error:
            self.errors.show_error(error)

    def remove_selected_probe(self) -> None:
        index = self.session.document.selected_probe
        if index is not None:
            self.session.document.remove_probe(index)

    def _on_history(self) -> None:
        session = self.session
        undo, redo = session.document.history.undo_text, session.document.history.redo_text
        self.undo_action.setText(f"Undo {undo}" if undo else "Undo")
        self.redo_action.setText(f"Redo {redo}" if redo else "Redo")
        self._update_title()
        if session.document.history.dirty:
            self._autosave_timer.start(AUTOSAVE_DELAY_MS)
        else:
            self._autosave_timer.stop()
            self.logic.recovery.discard()  # nothing left that a crash could lose

    def _update_title(self) -> None:
        case = self.session.case
        if case is None:
            self.setWindowTitle(APP_TITLE)
            return
        plan_path = self.session.document.path
        plan = f" · {plan_path.name}" if plan_path is not None else ""
        mark = " *" if self.session.document.history.dirty else ""
        patient = f"{case.patient_line} · " if case.patient_line else ""
        self.setWindowTitle(f"{patient}{case.title}{plan}{mark} — {APP_TITLE}")

    # -- autosave and recovery ---------------------------------------------------------
    def autosave_now(self) -> TaskHandle | None:
        """Write the unsaved session to the autosave folder in a worker (the timer calls this);
        the task, or None when nothing is unsaved."""
        task = self.logic.recovery.autosave_now(in_worker=True)
        return None if isinstance(task, Path) else task

    def _autosave_failed(self, error: BaseException) -> None:
        self.statusBar().showMessage(str(error), 10000)

    def offer_recovery(self) -> AutosaveRecord | None:
        """Offer the newest session a crash left behind; recover it when the user agrees.

        Returns the record being recovered (opening runs in a worker), or None.
        """
        records = self.logic.recovery.recoverable()
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
            self.logic.recovery.decline(records)
            return None
        self.recover(record)
        return record

    def recover(self, record: AutosaveRecord) -> Task:
        """Open the record's case (unless it is open), then put its plan and labels back
        as unsaved changes."""
        return self.logic.recovery.recover(record)


def _preset_tooltip(preset: str) -> str:
    if preset in CT_PRESETS:
        window, level = CT_PRESETS[preset]
        return f"{preset.capitalize()}: W {window:.0f} / L {level:.0f} HU"
    return "Ultrasound: the image's full value range"
