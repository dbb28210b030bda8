"""The labels panel: each structure with its colour, role and volume; visibility, fill, opacity.

Ticking a label shows it in every view; the 2-D views outline it, or fill it
when its "Fill" box is ticked; double-clicking one centres the crosshair on
it; the slider sets the overlay opacity in the 2-D views.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor, QIcon, QPixmap
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSlider,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cryoplan_app.model.session import Session

_NAME_ROLE = Qt.ItemDataRole.UserRole
#: Column of the "Fill" check box.
FILL_COLUMN = 3


class QtLabelsPanel(QWidget):
    """Lists the session's labels; forwards visibility, selection and opacity to the session."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(("Label", "Role", "Volume (mL)", "Fill"))
        self.tree.headerItem().setToolTip(
            FILL_COLUMN, "Fill the label in the 2-D views instead of outlining it"
        )
        self.tree.setRootIsDecorated(False)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.itemDoubleClicked.connect(self._on_double_clicked)
        self.tree.currentItemChanged.connect(self._on_current_changed)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(round(100 * session.view.label_opacity))
        self.opacity.valueChanged.connect(
            lambda value: session.view.set_label_opacity(value / 100.0)
        )
        self.empty_note = QLabel("No labels: open a label map (File menu) or a sample case.")
        self.empty_note.setWordWrap(True)
        opacity_row = QHBoxLayout()
        opacity_row.addWidget(QLabel("Opacity"))
        opacity_row.addWidget(self.opacity)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.empty_note)
        layout.addWidget(self.tree)
        layout.addLayout(opacity_row)
        self._updating = False
        session.case_changed.connect(lambda _case: self._rebuild())
        session.document.labels_changed.connect(lambda _labels: self._rebuild())
        session.view.label_display_changed.connect(self._sync_display)
        session.view.selected_label_changed.connect(lambda _name: self._sync_display())
        self._rebuild()

    def _rebuild(self) -> None:
        labels = self.session.document.labels if self.session.case is not None else None
        self._updating = True
        self.tree.clear()
        if labels is not None:
            counts = np.bincount(labels.voxels.reshape(-1), minlength=1)
            voxel_ml = labels.geometry.voxel_volume_mm3 / 1000.0
            for info in labels.table:
                count = int(counts[info.value]) if info.value < len(counts) else 0
                item = QTreeWidgetItem([info.name, info.role, f"{count * voxel_ml:.1f}"])
                item.setData(0, _NAME_ROLE, info.name)
                item.setIcon(0, _swatch(info.color_rgb))
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight)
                self.tree.addTopLevelItem(item)
        self.empty_note.setVisible(labels is None)
        self._updating = False
        self._sync_display()

    def _sync_display(self) -> None:
        self._updating = True
        selected = self.session.view.selected_label
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            name = item.data(0, _NAME_ROLE)
            visible = self.session.view.label_visible(name)
            item.setCheckState(0, Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)
            filled = self.session.view.label_filled(name)
            item.setCheckState(
                FILL_COLUMN, Qt.CheckState.Checked if filled else Qt.CheckState.Unchecked
            )
            if name == selected:
                self.tree.setCurrentItem(item)
        self.opacity.setValue(round(100 * self.session.view.label_opacity))
        self._updating = False

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._updating or column not in (0, FILL_COLUMN):
            return
        name = item.data(0, _NAME_ROLE)
        checked = item.checkState(column) == Qt.CheckState.Checked
        if column == 0:
            self.session.view.set_label_visible(name, checked)
        else:
            self.session.view.set_label_filled(name, checked)

    def _on_current_changed(self, current: QTreeWidgetItem | None, _previous: object) -> None:
        if self._updating or current is None:
            return
        self.session.view.select_label(current.data(0, _NAME_ROLE))

    def _on_double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        self.session.view.centre_on_label(item.data(0, _NAME_ROLE))


def _swatch(color_rgb: tuple[int, int, int]) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(QColor(*color_rgb))
    return QIcon(pixmap)
