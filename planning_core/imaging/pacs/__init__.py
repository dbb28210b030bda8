"""PACS access: query, retrieve and send over DIMSE and DICOMweb, with a local study cache.

Nodes (:class:`DimseNode`, :class:`DicomWebNode`) are configured per user
(:func:`load_nodes`, :func:`save_nodes`); :func:`find_studies`,
:func:`find_series`, :func:`retrieve`, :func:`send` and :func:`echo` work with
either kind; retrieved studies live in the :class:`StudyCache`.
"""

from planning_core.imaging.pacs.cache import StudyCache
from planning_core.imaging.pacs.nodes import (
    BasicAuth,
    BearerAuth,
    DicomWebNode,
    DimseNode,
    Node,
    find_node,
    load_nodes,
    parse_dimse_address,
    save_nodes,
)
from planning_core.imaging.pacs.query import SeriesMatch, StudyMatch, StudyQuery
from planning_core.imaging.pacs.service import (
    EchoResult,
    RetrievedStudy,
    SendReport,
    echo,
    find_series,
    find_studies,
    retrieve,
    send,
)

__all__ = [
    "BasicAuth",
    "BearerAuth",
    "DicomWebNode",
    "DimseNode",
    "EchoResult",
    "Node",
    "RetrievedStudy",
    "SendReport",
    "SeriesMatch",
    "StudyCache",
    "StudyMatch",
    "StudyQuery",
    "echo",
    "find_node",
    "find_series",
    "find_studies",
    "load_nodes",
    "parse_dimse_address",
    "retrieve",
    "save_nodes",
    "send",
]
