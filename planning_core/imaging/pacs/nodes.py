"""The PACS nodes and DICOMweb servers a user talks to, kept per user in a JSON file.

A :class:`DimseNode` is reached over DIMSE (host, port, AE titles); a
:class:`DicomWebNode` over HTTP (base URL, optional basic or bearer
authentication). Credentials are kept only in the nodes file, which is written
readable by its owner alone (mode 0600); no ``repr``, ``label`` or error message
shows them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from planning_core.atomic import atomic_path
from planning_core.errors import InvalidParameterError
from planning_core.input_files import read_json_file

#: Environment variable naming the nodes file (tests and managed installations).
NODES_FILE_ENV = "CRYOPLAN_PACS_NODES"
#: Format tag of the nodes file.
NODES_FORMAT = "cryoplan-pacs-nodes"
#: What a node waits for an answer unless configured otherwise.
DEFAULT_TIMEOUT_S = 30.0
#: Our AE title unless configured otherwise.
DEFAULT_CALLING_AET = "CRYOPLAN"
#: The port our storage listener (C-STORE SCP) takes for C-MOVE unless configured otherwise.
DEFAULT_STORAGE_PORT = 11113

#: How a DIMSE node's studies are retrieved: C-GET (on the association we open) or
#: C-MOVE to our own storage listener (for servers that only move).
RetrieveMethod = Literal["get", "move"]

_AE_TITLE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,16}")  # printable ASCII without backslash


def check_ae_title(value: str, *, option: str) -> str:
    """``value`` as an AE title (1-16 printable ASCII characters, no backslash), stripped.

    Raises
    ------
    InvalidParameterError
        Naming ``option`` (``--calling-aet``, the AE part of ``--node``, ...).
    """
    stripped = value.strip()
    if not _AE_TITLE.fullmatch(stripped):
        raise InvalidParameterError(
            f"{option} {value!r}: an AE title is 1 to 16 printable ASCII characters "
            "without backslash."
        )
    return stripped


@dataclass(frozen=True)
class DimseNode:
    """A PACS node reached over DIMSE.

    Parameters
    ----------
    name : str
        What the user calls the node.
    host : str
        Host name or address.
    port : int
        The node's DICOM port.
    called_aet : str
        The node's AE title.
    calling_aet : str
        Our AE title, which the node must know.
    timeout_s : float
        Longest wait for a connection, an association or any answer.
    tls : bool
        Open the association over TLS (system trust store).
    retrieve_method : {"get", "move"}
        C-GET, or C-MOVE to our storage listener, see :data:`RetrieveMethod`.
    storage_port : int
        Port of our storage listener for C-MOVE; the node must know our AE title
        with this host and port.
    """

    name: str
    host: str
    port: int
    called_aet: str
    calling_aet: str = DEFAULT_CALLING_AET
    timeout_s: float = DEFAULT_TIMEOUT_S
    tls: bool = False
    retrieve_method: RetrieveMethod = "get"
    storage_port: int = DEFAULT_STORAGE_PORT

    def __post_init__(self) -> None:
        if not self.host or any(c.isspace() for c in self.host):
            raise InvalidParameterError(f"node {self.name!r}: the host must not be empty.")
        for option, port in (("port", self.port), ("storage port", self.storage_port)):
            if not 0 < int(port) < 65536:
                raise InvalidParameterError(
                    f"node {self.name!r}: the {option} must be 1 to 65535, got {port}."
                )
        check_ae_title(self.called_aet, option=f"node {self.name!r} called AE title")
        check_ae_title(self.calling_aet, option=f"node {self.name!r} calling AE title")
        _check_timeout(self.name, self.timeout_s)
        if self.retrieve_method not in ("get", "move"):
            raise InvalidParameterError(
                f"node {self.name!r}: retrieve method must be 'get' or 'move', "
                f"got {self.retrieve_method!r}."
            )

    @property
    def label(self) -> str:
        """How messages name the node: ``name (AET@host:port)``."""
        address = f"{self.called_aet}@{self.host}:{self.port}"
        return address if self.name == address else f"{self.name} ({address})"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": "dimse",
            "name": self.name,
            "host": self.host,
            "port": self.port,
            "called_aet": self.called_aet,
            "calling_aet": self.calling_aet,
            "timeout_s": self.timeout_s,
            "tls": self.tls,
            "retrieve_method": self.retrieve_method,
            "storage_port": self.storage_port,
        }


@dataclass(frozen=True)
class BasicAuth:
    """HTTP basic authentication; the password never shows in ``repr``."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class BearerAuth:
    """An OAuth bearer token; never shown in ``repr``."""

    token: str = field(repr=False)


@dataclass(frozen=True)
class DicomWebNode:
    """A DICOMweb server (QIDO-RS, WADO-RS, STOW-RS under one base URL).

    Parameters
    ----------
    name : str
        What the user calls the server.
    url : str
        The base URL (``http(s)://host:port/dicom-web``), without credentials.
    auth : BasicAuth, BearerAuth or None
        How to authenticate.
    timeout_s : float
        Longest wait for any answer.
    """

    name: str
    url: str
    auth: BasicAuth | BearerAuth | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidParameterError(
                f"DICOMweb URL {redact_url(self.url)!r}: give an http:// or https:// URL such "
                "as http://host:8042/dicom-web."
            )
        if parts.username is not None or parts.password is not None:
            raise InvalidParameterError(
                f"DICOMweb URL {redact_url(self.url)!r}: credentials do not belong in the URL; "
                "configure the node's authentication instead."
            )
        _check_timeout(self.name, self.timeout_s)

    @property
    def label(self) -> str:
        """How messages name the server: ``name (URL)``."""
        return self.url if self.name == self.url else f"{self.name} ({self.url})"

    def to_dict(self) -> dict[str, object]:
        fields: dict[str, object] = {
            "kind": "dicomweb",
            "name": self.name,
            "url": self.url,
            "timeout_s": self.timeout_s,
        }
        if isinstance(self.auth, BasicAuth):
            fields["auth"] = {
                "type": "basic",
                "username": self.auth.username,
                "password": self.auth.password,
            }
        elif isinstance(self.auth, BearerAuth):
            fields["auth"] = {"type": "bearer", "token": self.auth.token}
        return fields


#: Either kind of node.
Node = DimseNode | DicomWebNode


def redact_url(url: str) -> str:
    """``url`` without any user name or password in it (for messages)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"***@{netloc}", parts.path, parts.query, parts.fragment))


def _check_timeout(name: str, timeout_s: float) -> None:
    if not 0.0 < float(timeout_s) <= 3600.0:
        raise InvalidParameterError(
            f"node {name!r}: the timeout must be more than 0 and at most 3600 s, got {timeout_s}."
        )


def parse_dimse_address(
    text: str,
    *,
    calling_aet: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    option: str = "--node",
) -> DimseNode:
    """A node from ``HOST:PORT:AET`` as typed on the command line.

    Raises
    ------
    InvalidParameterError
        Naming ``option`` when the text is not of that form.
    """
    host, _, rest = text.rpartition(":")
    host, _, port_text = host.rpartition(":")
    aet = rest
    if not host or not port_text.isdigit() or not aet:
        raise InvalidParameterError(
            f"{option} {text!r}: give the node as HOST:PORT:AET, e.g. pacs.example.org:104:PACS."
        )
    try:
        return DimseNode(
            name=f"{aet}@{host}:{port_text}",
            host=host,
            port=int(port_text),
            called_aet=check_ae_title(aet, option=f"{option} AE title"),
            calling_aet=check_ae_title(calling_aet or DEFAULT_CALLING_AET, option="--calling-aet"),
            timeout_s=timeout_s,
        )
    except InvalidParameterError as error:
        raise InvalidParameterError(f"{option} {text!r}: {error}") from None


def default_nodes_path() -> Path:
    """The per-user nodes file: ``$CRYOPLAN_PACS_NODES``, else
    ``~/.config/cryoplan/pacs-nodes.json``."""
    configured = os.environ.get(NODES_FILE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cryoplan" / "pacs-nodes.json"


def load_nodes(path: str | Path | None = None) -> list[Node]:
    """The configured nodes, in file order; none when the file does not exist.

    Raises
    ------
    InvalidParameterError
        When the file is malformed; the message names the file and the entry,
        never a credential.
    """
    path = default_nodes_path() if path is None else Path(path)
    if not path.exists():
        return []
    document = read_json_file(path, what="PACS nodes file", error=InvalidParameterError)
    if not isinstance(document, dict) or document.get("format") != NODES_FORMAT:
        raise InvalidParameterError(
            f"{path}: not a cryoplan PACS nodes file (format {NODES_FORMAT!r} expected)."
        )
    entries = document.get("nodes")
    if not isinstance(entries, list):
        raise InvalidParameterError(f"{path}: 'nodes' must be a list.")
    return [_node_from_dict(entry, path=path, index=n) for n, entry in enumerate(entries)]


def _node_from_dict(entry: object, *, path: Path, index: int) -> Node:
    where = f"{path}: node {index + 1}"
    if not isinstance(entry, dict):
        raise InvalidParameterError(f"{where}: must be an object.")
    try:
        if entry.get("kind") == "dimse":
            return DimseNode(
                name=str(entry["name"]),
                host=str(entry["host"]),
                port=int(entry["port"]),
                called_aet=str(entry["called_aet"]),
                calling_aet=str(entry.get("calling_aet", DEFAULT_CALLING_AET)),
                timeout_s=float(entry.get("timeout_s", DEFAULT_TIMEOUT_S)),
                tls=bool(entry.get("tls", False)),
                retrieve_method=entry.get("retrieve_method", "get"),
                storage_port=int(entry.get("storage_port", DEFAULT_STORAGE_PORT)),
            )
        if entry.get("kind") == "dicomweb":
            return DicomWebNode(
                name=str(entry["name"]),
                url=str(entry["url"]),
                auth=_auth_from_dict(entry.get("auth"), where=where),
                timeout_s=float(entry.get("timeout_s", DEFAULT_TIMEOUT_S)),
            )
    except KeyError as missing:
        raise InvalidParameterError(f"{where}: the field {missing} is missing.") from None
    except (TypeError, ValueError) as error:
        if isinstance(error, InvalidParameterError):
            raise InvalidParameterError(f"{where}: {error}") from None
        raise InvalidParameterError(f"{where}: a field has the wrong type.") from None
    raise InvalidParameterError(f"{where}: 'kind' must be 'dimse' or 'dicomweb'.")


def _auth_from_dict(value: object, *, where: str) -> BasicAuth | BearerAuth | None:
    if value is None:
        return None
    if isinstance(value, dict) and value.get("type") == "basic":
        return BasicAuth(str(value.get("username", "")), str(value.get("password", "")))
    if isinstance(value, dict) and value.get("type") == "bearer":
        return BearerAuth(str(value.get("token", "")))
    raise InvalidParameterError(f"{where}: 'auth' must have type 'basic' or 'bearer'.")


def save_nodes(nodes: list[Node] | tuple[Node, ...], path: str | Path | None = None) -> Path:
    """Write ``nodes`` atomically, readable by the user alone (it may hold credentials).

    Raises
    ------
    InvalidParameterError
        When two nodes share a name.
    """
    path = default_nodes_path() if path is None else Path(path)
    names = [node.name for node in nodes]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidParameterError(f"PACS nodes: names must be unique; repeated: {duplicates}.")
    text = json.dumps(
        {"format": NODES_FORMAT, "version": 1, "nodes": [node.to_dict() for node in nodes]},
        indent=2,
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with atomic_path(path) as temporary:
        os.chmod(temporary, 0o600)  # before any credential is written into it
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
    return path


def find_node(name: str, *, path: str | Path | None = None, option: str = "--node") -> Node:
    """The configured node called ``name``.

    Raises
    ------
    InvalidParameterError
        When no node has that name; the message lists the configured names.
    """
    nodes = load_nodes(path)
    for node in nodes:
        if node.name == name:
            return node
    known = ", ".join(node.name for node in nodes) or "none configured"
    raise InvalidParameterError(
        f"{option} {name!r}: no PACS node of that name (configured: {known}); give "
        "HOST:PORT:AET or a DICOMweb URL instead."
    )
