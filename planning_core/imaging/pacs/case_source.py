"""Cases on a PACS node or a DICOMweb server, opened through the study cache.

A case is written ``pacs://NODE/STUDY_UID[/SERIES_UID]`` (a DIMSE node) or
``dicomweb://NODE/STUDY_UID[/SERIES_UID]`` (a DICOMweb server), ``NODE`` being
the name of a configured node (:func:`~planning_core.imaging.pacs.nodes.load_nodes`).
Opening takes the study from the cache when it is there, so a retrieved case
reopens without the network, and retrieves it otherwise.
:mod:`planning_core.imaging.case_sources` registers both kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from planning_core.errors import InvalidParameterError
from planning_core.imaging.pacs.cache import StudyCache
from planning_core.imaging.pacs.nodes import DicomWebNode, DimseNode, find_node
from planning_core.imaging.pacs.query import check_uid
from planning_core.imaging.pacs.service import retrieve
from planning_core.progress import CancelToken, ProgressCallback


@dataclass(frozen=True)
class RemoteLocation:
    """A parsed case location: node name, study and optional series."""

    node: str
    study_uid: str
    series_uid: str | None


@dataclass(frozen=True)
class RemoteStudyKind:
    """A kind of case source whose cases live on configured nodes of one protocol.

    Parameters
    ----------
    name : str
        The kind's name and the scheme of its locations (``pacs``, ``dicomweb``).
    noun : str
        What messages call a case of this kind.
    """

    name: str
    noun: str

    @property
    def node_type(self) -> type[DimseNode] | type[DicomWebNode]:
        return DimseNode if self.name == "pacs" else DicomWebNode

    def parse(self, location: str) -> RemoteLocation:
        """``location`` split into node, study and series.

        Raises
        ------
        InvalidParameterError
            When it is not ``NAME://NODE/STUDY[/SERIES]`` with valid UIDs.
        """
        prefix = f"{self.name}://"
        parts = location[len(prefix) :].split("/") if location.startswith(prefix) else []
        if len(parts) not in (2, 3) or not parts[0]:
            raise InvalidParameterError(
                f"CASE {location!r}: write a {self.noun} as {prefix}NODE/STUDY_UID[/SERIES_UID]."
            )
        study = check_uid(parts[1], option="CASE study UID")
        series = check_uid(parts[2], option="CASE series UID") if len(parts) == 3 else None
        return RemoteLocation(parts[0], study, series)

    def claim(self, text: str) -> str | None:
        if not text.startswith(f"{self.name}://"):
            return None
        self.parse(text)
        return text

    def case_names(self) -> tuple[str, ...]:
        return ()

    def title(self, location: str) -> str:
        try:
            parsed = self.parse(location)
        except InvalidParameterError:
            return location
        return f"{parsed.node}: study …{parsed.study_uid[-12:]}"

    def locate_folder(
        self,
        location: str,
        *,
        cache: StudyCache | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> Path:
        """The case's DICOM folder in the study cache, retrieved when not there yet."""
        parsed = self.parse(location)
        cache = StudyCache() if cache is None else cache
        cached = cache.study(parsed.study_uid, parsed.series_uid)
        if cached is not None:
            if parsed.series_uid is not None:
                return cached.series_folders[parsed.series_uid]
            return cached.folder
        node = find_node(parsed.node, option="CASE node")
        if not isinstance(node, self.node_type):
            raise InvalidParameterError(
                f"CASE {location!r}: the node {parsed.node!r} is not a {self.noun} node; "
                f"write {'dicomweb' if self.name == 'pacs' else 'pacs'}://{parsed.node}/..."
            )
        return retrieve(
            node, parsed.study_uid, parsed.series_uid, cache=cache, progress=progress,
            cancel=cancel,
        ).image_folder  # fmt: skip


#: Studies on DIMSE nodes.
PACS_STUDIES = RemoteStudyKind("pacs", "PACS study")
#: Studies on DICOMweb servers.
DICOMWEB_STUDIES = RemoteStudyKind("dicomweb", "DICOMweb study")
