"""The study browser: patients, studies and series of a DICOM folder, with thumbnails.

The "Folder" tab shows what :func:`~planning_core.imaging.dicom.scan_dicom`
found (no pixel data needed); thumbnails arrive later from a worker.
Double-clicking a series (or pressing Enter on it) asks the window to open it.
The "PACS" tab (:class:`~cryoplan_app.qt.pacs_tab.QtPacsTab`) searches the
user's PACS nodes and retrieves a study, which then opens and shows here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from PyQt6.QtCore import QSize, Qt, pyqtSignal
from PyQt6.QtGui import QFont, QIcon, QPixmap
from PyQt6.QtWidgets import (
    QHeaderView,
    QLabel,
    QPushButton,
    QStyle,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cryoplan_app.logic.pacs import PacsLogic
from cryoplan_app.logic.runner import Connectable
from cryoplan_app.model.case import CaseSource
from cryoplan_app.qt.images import gray_to_qimage
from cryoplan_app.qt.pacs_tab import QtPacsTab, format_dicom_date
from planning_core.imaging.dicom import DicomCatalog, SeriesInfo
from planning_core.imaging.volume import Volume

THUMBNAIL_PX = 64
COLUMNS = ("Series", "Modality", "Size", "Warnings")
_KEY_ROLE = Qt.ItemDataRole.UserRole


class QtStudyBrowser(QWidget):
    """Tree of patient / study / series. Emits ``series_activated(key)`` and ``open_requested``.

    With ``pacs`` (and the runner's ``task_progressed`` and the window's
    ``show_error``) a "PACS" tab searches and retrieves from the user's nodes;
    its nodes are read when the tab is first shown.
    """

    series_activated = pyqtSignal(str)
    open_requested = pyqtSignal()

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        pacs: PacsLogic | None = None,
        task_progressed: Connectable | None = None,
        show_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.location = QLabel("Open a DICOM folder, a volume file or a sample case.")
        self.location.setWordWrap(True)
        open_button = QPushButton("Open DICOM folder…")
        open_button.clicked.connect(self.open_requested.emit)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setIconSize(QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        self.tree.setUniformRowHeights(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.itemActivated.connect(self._on_activated)
        # The names take the room left by the short columns (modality, size, warnings).
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        folder = QWidget()
        folder_layout = QVBoxLayout(folder)
        folder_layout.setContentsMargins(4, 4, 4, 4)
        folder_layout.addWidget(self.location)
        folder_layout.addWidget(open_button)
        folder_layout.addWidget(self.tree)
        self.tabs = QTabWidget()
        self.tabs.addTab(folder, "Folder")
        self.pacs_tab: QtPacsTab | None = None
        if pacs is not None and task_progressed is not None and show_error is not None:
            self.pacs_tab = QtPacsTab(pacs, task_progressed=task_progressed, show_error=show_error)
            # A retrieved study opens as a DICOM folder, listed in the Folder tab.
            self.pacs_tab.study_retrieved.connect(lambda _study: self.tabs.setCurrentIndex(0))
            self.tabs.addTab(self.pacs_tab, "PACS")
            self.tabs.currentChanged.connect(self._tab_shown)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self._series_items: dict[str, QTreeWidgetItem] = {}
        self._nodes_read = False

    def show_pacs(self) -> None:
        """Bring the PACS tab forward (its nodes are read the first time)."""
        if self.pacs_tab is not None:
            self.tabs.setCurrentWidget(self.pacs_tab)

    def _tab_shown(self, index: int) -> None:
        tab = self.tabs.widget(index)
        if self.pacs_tab is not None and tab is self.pacs_tab and not self._nodes_read:
            self._nodes_read = True
            self.pacs_tab.reload_nodes()

    # -- content ------------------------------------------------------------------------
    def show_catalog(self, catalog: DicomCatalog) -> None:
        """List every study and series of ``catalog``, grouped by patient."""
        self.tree.clear()
        self._series_items = {}
        skipped = f"; {len(catalog.skipped)} file(s) skipped" if catalog.skipped else ""
        self.location.setText(f"{catalog.root}{skipped}")
        self.location.setToolTip("\n".join([*catalog.warnings, *_skip_lines(catalog)]))
        patients: dict[tuple[str, str], QTreeWidgetItem] = {}
        for study in catalog.studies:
            patient_key = (study.patient_name, study.patient_id)
            patient = patients.get(patient_key)
            if patient is None:
                name = study.patient_name.replace("^", " ").strip() or "(no name)"
                patient = QTreeWidgetItem([f"{name}  ({study.patient_id or 'no ID'})"])
                # A small pixmap: the tree's icon size is the thumbnails', too big for this one.
                home = self.style().standardIcon(QStyle.StandardPixmap.SP_DirHomeIcon)
                patient.setIcon(0, QIcon(home.pixmap(16)))
                self.tree.addTopLevelItem(patient)
                patients[patient_key] = patient
            date = format_dicom_date(study.date)
            study_item = QTreeWidgetItem([" · ".join(p for p in (date, study.description) if p)])
            study_item.setToolTip(0, f"Study {study.study_uid}")
            patient.addChild(study_item)
            for series in study.series:
                study_item.addChild(self._series_item(series))
        self.tree.expandAll()

    def _series_item(self, series: SeriesInfo) -> QTreeWidgetItem:
        number = f"#{series.series_number} " if series.series_number else ""
        slices = series.estimated_slices or series.frame_count
        item = QTreeWidgetItem(
            [
                f"{number}{series.description or '(no description)'}",
                series.modality,
                f"{series.columns}×{series.rows}×{slices}",
                "",
            ]
        )
        item.setData(0, _KEY_ROLE, series.key)
        item.setToolTip(0, f"{series.label}\n{len(series.instances)} file(s)")
        geometry = series.geometry
        if geometry is not None:
            spacing = " × ".join(f"{s:.3g}" for s in geometry.spacing_mm)
            item.setToolTip(
                2, f"{series.columns}×{series.rows} pixels, {slices} slices\nvoxel {spacing} mm"
            )
        self._mark_problems(item, series.warnings, series.error)
        self._series_items[series.key] = item
        return item

    def _mark_problems(
        self, item: QTreeWidgetItem, warnings: tuple[str, ...], error: str | None
    ) -> None:
        style = self.style()
        if error is not None:
            item.setIcon(3, style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical))
            item.setText(3, "cannot load")
            item.setToolTip(3, error)
            item.setDisabled(True)
        elif warnings:
            item.setIcon(3, style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning))
            item.setText(3, str(len(warnings)))
            item.setToolTip(3, "\n".join(f"• {w}" for w in warnings))

    def show_volume(self, source: CaseSource, volume: Volume) -> None:
        """List a single opened image (a volume file or a sample case)."""
        self.tree.clear()
        self._series_items = {}
        self.location.setText(source.location)
        self.location.setToolTip("")
        ni, nj, nk = volume.geometry.size_ijk
        item = QTreeWidgetItem([source.title, volume.modality, f"{ni}×{nj}×{nk}", ""])
        item.setData(0, _KEY_ROLE, "")
        self._mark_problems(item, volume.warnings, None)
        self.tree.addTopLevelItem(item)
        self._series_items[""] = item
        self.mark_open("")

    def set_thumbnail(self, key: str, pixels: NDArray[np.uint8]) -> None:
        item = self._series_items.get(key)
        if item is not None:
            item.setIcon(0, QIcon(QPixmap.fromImage(gray_to_qimage(pixels))))

    def mark_open(self, key: str) -> None:
        """Show the series ``key`` in bold as the one on screen."""
        for series_key, item in self._series_items.items():
            font = QFont(item.font(0))
            font.setBold(series_key == key)
            item.setFont(0, font)
            if series_key == key:
                self.tree.setCurrentItem(item)

    def _on_activated(self, item: QTreeWidgetItem, column: int) -> None:
        key = item.data(0, _KEY_ROLE)
        if key and not item.isDisabled():
            self.series_activated.emit(str(key))


def _skip_lines(catalog: DicomCatalog) -> list[str]:
    lines = [f"skipped {s.path.name}: {s.reason}" for s in catalog.skipped[:10]]
    if len(catalog.skipped) > 10:
        lines.append(f"… and {len(catalog.skipped) - 10} more")
    return lines
