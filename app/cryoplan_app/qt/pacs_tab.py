"""The study browser's PACS tab: nodes, search form, found studies, retrieval with progress.

A thin view of :class:`~cryoplan_app.logic.pacs.PacsLogic`: it forwards the
user's node edits (:class:`~cryoplan_app.qt.pacs_node_dialog.QtPacsNodeDialog`),
search, retrieval and sending to the logic (which runs the network work in a
worker) and shows what the logic reports; errors go to the window's error
presenter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cryoplan_app.logic.pacs import QUERY_FIELD_LABELS, PacsLogic
from cryoplan_app.logic.runner import Connectable
from cryoplan_app.qt.pacs_node_dialog import QtPacsNodeDialog
from planning_core.errors import PlanningError
from planning_core.imaging.pacs import EchoResult, Node, RetrievedStudy, SendReport, StudyMatch

COLUMNS = ("Date", "Patient", "Description", "Modalities", "Study UID")
#: The study UID column, which also holds the row's study UID as data.
UID_COLUMN = COLUMNS.index("Study UID")
_PLACEHOLDERS = {
    "patient_id": "e.g. 12345",
    "patient_name": "e.g. DOE^J*",
    "birth_date": "YYYYMMDD",
    "study_date": "YYYYMMDD or YYYYMMDD-YYYYMMDD",
    "modality": "e.g. CT",
    "accession": "",
}


class QtPacsTab(QWidget):
    """Search a node and retrieve a study. Emits ``study_retrieved(RetrievedStudy)``.

    Parameters
    ----------
    pacs : PacsLogic
        Does the work.
    task_progressed : Connectable
        The runner's per-task progress signal (``(task)`` with ``fraction`` and
        ``message``); the retrieval's progress is shown from it.
    show_error : callable
        The window's error presenter.
    """

    study_retrieved = pyqtSignal(object)

    def __init__(
        self,
        pacs: PacsLogic,
        *,
        task_progressed: Connectable,
        show_error: Callable[[BaseException], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.pacs = pacs
        self._show_error = show_error
        #: The study being retrieved, until it arrived or the retrieval stopped.
        self._retrieving: str | None = None
        self.node_combo = QComboBox()
        self.node_combo.setToolTip(str(pacs.nodes_file))
        self.node_combo.currentIndexChanged.connect(self._sync_buttons)
        self.add_node_button = QPushButton("Add…")
        self.add_node_button.clicked.connect(lambda: self.edit_node(None))
        self.edit_node_button = QPushButton("Edit…")
        self.edit_node_button.clicked.connect(lambda: self.edit_node(self.node_combo.currentText()))
        self.remove_node_button = QPushButton("Remove")
        self.remove_node_button.clicked.connect(self.remove_node)
        self.echo_button = QPushButton("Test")
        self.echo_button.setToolTip("Check that the node answers (C-ECHO or a QIDO-RS search)")
        self.echo_button.clicked.connect(self.echo)
        # The node buttons get a row of their own: beside the list they would widen the
        # study browser's dock and narrow the image views.
        node_buttons = QGridLayout()
        for place, button in enumerate(
            (self.add_node_button, self.edit_node_button, self.remove_node_button, self.echo_button)
        ):
            node_buttons.addWidget(button, place // 2, place % 2)
        form = QFormLayout()
        form.addRow("Node", self.node_combo)
        form.addRow("", node_buttons)
        self.fields: dict[str, QLineEdit] = {}
        for key, label in QUERY_FIELD_LABELS.items():
            edit = QLineEdit()
            edit.setPlaceholderText(_PLACEHOLDERS[key])
            edit.returnPressed.connect(self.search)
            form.addRow(label, edit)
            self.fields[key] = edit
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.search)
        self.results = QTableWidget(0, len(COLUMNS))
        self.results.setHorizontalHeaderLabels(COLUMNS)
        self.results.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.results.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.results.itemSelectionChanged.connect(self._sync_buttons)
        self.results.itemActivated.connect(lambda _item: self.retrieve())
        self.retrieve_button = QPushButton("Retrieve")
        self.retrieve_button.clicked.connect(self.retrieve)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(pacs.cancel_retrieval)
        self.send_button = QPushButton("Send plan to node")
        self.send_button.setToolTip(
            "Export the plan as DICOM (SEG, report PDF, key images) and send it into the CT's "
            "study on the chosen node"
        )
        self.send_button.clicked.connect(lambda: self.send_plan())
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.retrieve_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addWidget(self.search_button)
        layout.addWidget(self.results, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.send_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        pacs.nodes_changed.connect(self._show_nodes)
        pacs.studies_found.connect(self._show_studies)
        pacs.study_retrieved.connect(self._retrieved)
        pacs.retrieval_ended.connect(self._retrieval_ended)
        pacs.sent.connect(self._sent)
        pacs.echoed.connect(self._echoed)
        task_progressed.connect(self._progressed)
        self._sync_buttons()

    # -- forwarding -------------------------------------------------------------------------
    def reload_nodes(self) -> None:
        """Read the user's nodes file again."""
        try:
            self.pacs.reload_nodes()
        except PlanningError as error:
            self._show_error(error)

    def search(self) -> None:
        """Search the chosen node with the form's fields."""
        try:
            query = self.pacs.make_query(**{k: e.text() for k, e in self.fields.items()})
            self.pacs.search(self.node_combo.currentText(), query)
        except PlanningError as error:
            self._show_error(error)
            return
        self.status.setText(f"Searching {self.node_combo.currentText()}…")

    def retrieve(self) -> None:
        """Retrieve the selected study from the chosen node (it opens once complete)."""
        study_uid = self.selected_study_uid()
        if study_uid is None or self.pacs.retrieval is not None:
            return
        try:
            self.pacs.retrieve_study(self.node_combo.currentText(), study_uid)
        except PlanningError as error:
            self._show_error(error)
            return
        self._retrieving = study_uid
        self.progress.setValue(0)
        self.status.setText("Retrieving…")
        self._sync_buttons()

    def send_plan(self, folder: str | None = None) -> None:
        """Export the plan as DICOM (kept in ``folder`` if given) and send it to the chosen node."""
        node = self.node_combo.currentText()
        try:
            self.pacs.send_plan(node, folder=folder)
        except PlanningError as error:
            self._show_error(error)
            return
        self.status.setText(f"Exporting the plan, then sending it to {node}…")

    def edit_node(self, name: str | None) -> QtPacsNodeDialog:
        """Open the node editor (a new node when ``name`` is None); the nodes list follows."""
        dialog = QtPacsNodeDialog(self.pacs, editing=name, show_error=self._show_error, parent=self)
        dialog.accepted.connect(lambda: self.node_combo.setCurrentText(dialog.edits["name"].text()))
        dialog.open()
        return dialog

    def remove_node(self) -> None:
        """Remove the chosen node from the user's nodes file."""
        try:
            self.pacs.remove_node(self.node_combo.currentText())
        except PlanningError as error:
            self._show_error(error)

    def echo(self) -> None:
        """Check that the chosen node answers."""
        try:
            self.pacs.echo_node(self.node_combo.currentText())
        except PlanningError as error:
            self._show_error(error)
            return
        self.status.setText(f"Checking {self.node_combo.currentText()}…")

    def selected_study_uid(self) -> str | None:
        rows = self.results.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.results.item(rows[0].row(), UID_COLUMN)
        return None if item is None else str(item.data(Qt.ItemDataRole.UserRole))

    # -- showing ----------------------------------------------------------------------------
    def _show_nodes(self, nodes: tuple[Node, ...]) -> None:
        chosen = self.node_combo.currentText()
        self.node_combo.clear()
        for node in nodes:
            self.node_combo.addItem(node.name)
            self.node_combo.setItemData(
                self.node_combo.count() - 1, node.label, Qt.ItemDataRole.ToolTipRole
            )
        if chosen:
            self.node_combo.setCurrentText(chosen)
        if not nodes:
            self.status.setText(f"No PACS node configured; add nodes to {self.pacs.nodes_file}.")
        self._sync_buttons()

    def _show_studies(self, matches: tuple[StudyMatch, ...]) -> None:
        self.results.setRowCount(len(matches))
        for row, match in enumerate(matches):
            name = match.patient_name.replace("^", " ").strip()
            patient = f"{name} ({match.patient_id})" if match.patient_id else name
            cells = (
                format_dicom_date(match.study_date),
                patient,
                match.study_description,
                ", ".join(match.modalities),
                match.study_uid,
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.results.setItem(row, column, item)
            uid_item = self.results.item(row, UID_COLUMN)
            if uid_item is not None:
                uid_item.setData(Qt.ItemDataRole.UserRole, match.study_uid)
        if matches:
            self.results.selectRow(0)
        self.status.setText(f"{len(matches)} stud{'y' if len(matches) == 1 else 'ies'} found.")
        self._sync_buttons()

    def _progressed(self, task: Any) -> None:
        if task is not self.pacs.retrieval:
            return
        self.progress.setValue(round(100 * task.fraction))
        self.status.setText(task.message)

    def _retrieved(self, study: RetrievedStudy) -> None:
        self.progress.setValue(100)
        fetched = f", {study.fetched} fetched" if study.fetched != study.instance_count else ""
        self.status.setText(f"Retrieved {study.instance_count} instances{fetched}; opening…")
        self._retrieving = None
        self.study_retrieved.emit(study)

    def _sent(self, report: SendReport) -> None:
        refused = f"; {len(report.failures)} refused" if report.failures else ""
        self.status.setText(f"Sent {report.sent} object(s) to {report.node}{refused}.")
        if report.failures:
            self.status.setToolTip(
                "\n".join(f"{path.name}: {reason}" for path, reason in report.failures)
            )

    def _echoed(self, result: EchoResult) -> None:
        self.status.setText(
            f"{result.node} answered ({result.protocol}, {1000 * result.round_trip_s:.0f} ms)."
        )

    def _retrieval_ended(self) -> None:
        if self._retrieving is not None:  # failed or cancelled: nothing entered the cache
            self.progress.setValue(0)
            self.status.setText(
                "Retrieval stopped; what arrived is kept aside and the next retrieval "
                "fetches only the rest."
            )
            self._retrieving = None
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        busy = self.pacs.retrieval is not None
        has_node = self.node_combo.count() > 0
        for button in (
            self.search_button,
            self.send_button,
            self.edit_node_button,
            self.remove_node_button,
            self.echo_button,
        ):
            button.setEnabled(has_node)
        self.retrieve_button.setEnabled(
            has_node and not busy and self.selected_study_uid() is not None
        )
        self.cancel_button.setEnabled(busy)


def format_dicom_date(text: str) -> str:
    """DICOM ``YYYYMMDD`` as ``YYYY-MM-DD``; other text unchanged."""
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text
