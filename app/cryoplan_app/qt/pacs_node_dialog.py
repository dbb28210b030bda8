"""The PACS node editor: a DIMSE node (AE titles, host, port) or a DICOMweb server (URL, auth).

A thin form over :class:`~cryoplan_app.logic.pacs_node_form.NodeForm`; saving
goes through :meth:`~cryoplan_app.logic.pacs.PacsLogic.save_node`, whose
messages name the fields by their labels here. A stored password or token is
never shown: the field stays empty, and left empty it keeps the stored one.
"""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from cryoplan_app.logic.pacs import PacsLogic
from cryoplan_app.logic.pacs_node_form import FIELD_LABELS, AuthKind, NodeForm, NodeKind, form_of
from planning_core.errors import PlanningError
from planning_core.imaging.pacs.nodes import RetrieveMethod

_KINDS: tuple[tuple[NodeKind, str], ...] = (
    ("dimse", "DIMSE (C-FIND, C-GET, C-STORE)"),
    ("dicomweb", "DICOMweb (QIDO-RS, WADO-RS, STOW-RS)"),
)
_AUTHS: tuple[tuple[AuthKind, str], ...] = (
    ("none", "None"),
    ("basic", "Basic (user name and password)"),
    ("bearer", "Bearer token"),
)
_RETRIEVE_METHODS: tuple[tuple[RetrieveMethod, str], ...] = (
    ("get", "C-GET"),
    ("move", "C-MOVE to our storage listener"),
)
_DIMSE_FIELDS = ("host", "port", "called_aet", "calling_aet")
_WEB_FIELDS = ("url",)


class QtPacsNodeDialog(QDialog):
    """Add a node (``editing`` None) or edit the node called ``editing``.

    Parameters
    ----------
    pacs : PacsLogic
        Saves the node into the user's nodes file.
    editing : str, optional
        The name of the node to edit.
    show_error : callable
        The window's error presenter, for a field the logic refuses.
    """

    def __init__(
        self,
        pacs: PacsLogic,
        *,
        editing: str | None = None,
        show_error: Callable[[BaseException], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.pacs = pacs
        self.editing = editing
        self._show_error = show_error
        self.setWindowTitle("Edit PACS node" if editing else "Add PACS node")
        form = form_of(pacs.node(editing)) if editing else NodeForm()
        self.kind = QComboBox()
        for code, text in _KINDS:
            self.kind.addItem(text, code)
        self.kind.setCurrentIndex([code for code, _ in _KINDS].index(form.kind))
        self.edits: dict[str, QLineEdit] = {}
        layout = QFormLayout()
        layout.addRow("Protocol", self.kind)
        for key in ("name", *_DIMSE_FIELDS, *_WEB_FIELDS):
            self.edits[key] = QLineEdit(str(getattr(form, key)))
            layout.addRow(FIELD_LABELS[key], self.edits[key])
        self.edits["url"].setPlaceholderText("http://host:8042/dicom-web")
        self.tls = QCheckBox("TLS")
        self.tls.setChecked(form.tls)
        layout.addRow("", self.tls)
        self.retrieve_method = QComboBox()
        for code, text in _RETRIEVE_METHODS:
            self.retrieve_method.addItem(text, code)
        self.retrieve_method.setCurrentIndex(
            [code for code, _ in _RETRIEVE_METHODS].index(form.retrieve_method)
        )
        layout.addRow("Retrieve by", self.retrieve_method)
        self.edits["storage_port"] = QLineEdit(form.storage_port)
        self.edits["storage_port"].setToolTip(
            "The port our listener takes for C-MOVE; the node must know our AE title there"
        )
        layout.addRow(FIELD_LABELS["storage_port"], self.edits["storage_port"])
        self.auth = QComboBox()
        for code, text in _AUTHS:
            self.auth.addItem(text, code)
        self.auth.setCurrentIndex([code for code, _ in _AUTHS].index(form.auth))
        layout.addRow("Authentication", self.auth)
        for key in ("username", "secret", "timeout_s"):
            self.edits[key] = QLineEdit(str(getattr(form, key)))
            layout.addRow(FIELD_LABELS[key], self.edits[key])
        self.edits["secret"].setEchoMode(QLineEdit.EchoMode.Password)
        if form.auth != "none":
            self.edits["secret"].setPlaceholderText("(unchanged)")
        self._form_layout = layout
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        outer = QVBoxLayout(self)
        outer.addLayout(layout)
        outer.addWidget(buttons)
        self.kind.currentIndexChanged.connect(self._show_fields)
        self.auth.currentIndexChanged.connect(self._show_fields)
        self.retrieve_method.currentIndexChanged.connect(self._show_fields)
        self._show_fields()

    def node_form(self) -> NodeForm:
        """The fields as typed."""
        text = {key: edit.text() for key, edit in self.edits.items()}
        return NodeForm(
            kind=self.kind.currentData(), tls=self.tls.isChecked(), auth=self.auth.currentData(),
            retrieve_method=self.retrieve_method.currentData(), **text,
        )  # fmt: skip

    def save(self) -> None:
        """Save the node and close; a refused field is reported and the dialog stays."""
        try:
            self.pacs.save_node(self.node_form(), replacing=self.editing)
        except PlanningError as error:
            self._show_error(error)
            return
        self.accept()

    def _show_fields(self) -> None:
        dimse = self.kind.currentData() == "dimse"
        auth = self.auth.currentData()
        shown = {key: dimse for key in _DIMSE_FIELDS} | {key: not dimse for key in _WEB_FIELDS}
        shown |= {"username": not dimse and auth == "basic", "secret": not dimse and auth != "none"}
        shown["storage_port"] = dimse and self.retrieve_method.currentData() == "move"
        for key, visible in shown.items():
            self._form_layout.setRowVisible(self.edits[key], visible)
        self._form_layout.setRowVisible(self.tls, dimse)
        self._form_layout.setRowVisible(self.retrieve_method, dimse)
        self._form_layout.setRowVisible(self.auth, not dimse)
