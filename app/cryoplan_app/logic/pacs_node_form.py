"""The PACS node editor's fields, to and from a node, without Qt.

A node's secret (password or bearer token) is never put back into the form:
editing a node shows an empty secret field, and leaving it empty keeps the
secret the node had (:func:`node_from_form` with ``previous``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from planning_core.errors import InvalidParameterError
from planning_core.imaging.pacs import BasicAuth, BearerAuth, DicomWebNode, DimseNode, Node
from planning_core.imaging.pacs.nodes import (
    DEFAULT_CALLING_AET,
    DEFAULT_STORAGE_PORT,
    DEFAULT_TIMEOUT_S,
    RetrieveMethod,
)

NodeKind = Literal["dimse", "dicomweb"]
AuthKind = Literal["none", "basic", "bearer"]

#: The editor's field labels, which messages name.
FIELD_LABELS = {
    "name": "Name",
    "host": "Host",
    "port": "Port",
    "called_aet": "Called AE title",
    "calling_aet": "Calling AE title",
    "storage_port": "Listener port",
    "url": "DICOMweb URL",
    "username": "User name",
    "secret": "Password or token",
    "timeout_s": "Timeout (s)",
}


@dataclass(frozen=True)
class NodeForm:
    """What the node editor shows: text as typed, choices as their codes."""

    kind: NodeKind = "dimse"
    name: str = ""
    host: str = ""
    port: str = ""
    called_aet: str = ""
    calling_aet: str = DEFAULT_CALLING_AET
    tls: bool = False
    retrieve_method: RetrieveMethod = "get"
    storage_port: str = str(DEFAULT_STORAGE_PORT)
    url: str = ""
    auth: AuthKind = "none"
    username: str = ""
    secret: str = ""
    timeout_s: str = f"{DEFAULT_TIMEOUT_S:g}"


def form_of(node: Node) -> NodeForm:
    """The editor's fields for ``node``; the secret field stays empty."""
    if isinstance(node, DimseNode):
        return NodeForm(
            kind="dimse",
            name=node.name,
            host=node.host,
            port=str(node.port),
            called_aet=node.called_aet,
            calling_aet=node.calling_aet,
            tls=node.tls,
            retrieve_method=node.retrieve_method,
            storage_port=str(node.storage_port),
            timeout_s=f"{node.timeout_s:g}",
        )
    auth: AuthKind = "none"
    username = ""
    if isinstance(node.auth, BasicAuth):
        auth, username = "basic", node.auth.username
    elif isinstance(node.auth, BearerAuth):
        auth = "bearer"
    return NodeForm(
        kind="dicomweb",
        name=node.name,
        url=node.url,
        auth=auth,
        username=username,
        timeout_s=f"{node.timeout_s:g}",
    )


def node_from_form(form: NodeForm, *, previous: Node | None = None) -> Node:
    """The node the editor describes.

    Parameters
    ----------
    form : NodeForm
        The fields.
    previous : Node, optional
        The node being edited: an empty secret keeps its password or token.

    Raises
    ------
    InvalidParameterError
        Naming the field's label; never quoting a secret.
    """
    name = form.name.strip()
    if not name:
        raise InvalidParameterError(f"PACS node {FIELD_LABELS['name']}: give the node a name.")
    timeout_s = _number(form.timeout_s, "timeout_s", float)
    if form.kind == "dimse":
        return DimseNode(
            name=name,
            host=form.host.strip(),
            port=int(_number(form.port, "port", int)),
            called_aet=form.called_aet.strip(),
            calling_aet=form.calling_aet.strip() or DEFAULT_CALLING_AET,
            timeout_s=timeout_s,
            tls=form.tls,
            retrieve_method=form.retrieve_method,
            storage_port=int(_number(form.storage_port, "storage_port", int)),
        )
    return DicomWebNode(
        name=name, url=form.url.strip(), auth=_auth(form, previous), timeout_s=timeout_s
    )


def _auth(form: NodeForm, previous: Node | None) -> BasicAuth | BearerAuth | None:
    kept = previous.auth if isinstance(previous, DicomWebNode) else None
    if form.auth == "basic":
        username = form.username.strip()
        if not username:
            raise InvalidParameterError(
                f"PACS node {FIELD_LABELS['username']}: basic authentication needs a user name."
            )
        if form.secret:
            return BasicAuth(username, form.secret)
        if isinstance(kept, BasicAuth):
            return BasicAuth(username, kept.password)
        raise InvalidParameterError(
            f"PACS node {FIELD_LABELS['secret']}: basic authentication needs a password."
        )
    if form.auth == "bearer":
        if form.secret:
            return BearerAuth(form.secret)
        if isinstance(kept, BearerAuth):
            return kept
        raise InvalidParameterError(
            f"PACS node {FIELD_LABELS['secret']}: bearer authentication needs a token."
        )
    return None


def _number(text: str, field: str, kind: type[int] | type[float]) -> float:
    try:
        return kind(text.strip())
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise InvalidParameterError(
            f"PACS node {FIELD_LABELS[field]} {text.strip()!r}: give {what}."
        ) from None
