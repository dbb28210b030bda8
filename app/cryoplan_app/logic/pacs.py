"""The study browser's PACS work: nodes, study search, retrieval and sending, without Qt.

The nodes are the user's own (the per-user nodes file that ``cryoplan pacs``
reads, :func:`~planning_core.imaging.pacs.load_nodes`). Searching, retrieving
and sending run on the runner, so that the window stays responsive; a
retrieved study lands in the local study cache and opens through
:class:`~cryoplan_app.logic.case_io.CaseLogic` like any DICOM folder, so the
study browser's folder tab then lists its series.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from cryoplan_app.logic.case_io import CaseLogic
from cryoplan_app.logic.pacs_node_form import NodeForm, node_from_form
from cryoplan_app.logic.report import ReportLogic
from cryoplan_app.logic.runner import Runner, TaskHandle
from cryoplan_app.model.signals import Signal
from planning_core.errors import InvalidParameterError
from planning_core.imaging.pacs import (
    Node,
    RetrievedStudy,
    SendReport,
    StudyCache,
    StudyMatch,
    StudyQuery,
    echo,
    find_studies,
    load_nodes,
    retrieve,
    save_nodes,
    send,
)
from planning_core.imaging.pacs.nodes import default_nodes_path
from planning_core.progress import CancelToken, ProgressCallback, sub_progress
from planning_core.report.pacs_send import send_export

#: The search form's field labels by :class:`StudyQuery` field, in form order.
QUERY_FIELD_LABELS = {
    "patient_id": "Patient ID",
    "patient_name": "Patient name",
    "birth_date": "Birth date",
    "study_date": "Study date",
    "modality": "Modality",
    "accession": "Accession",
}


class PacsLogic:
    """Searches, retrieves from and sends to the user's PACS nodes on ``runner``.

    Parameters
    ----------
    runner : Runner
        Runs the network work in the background.
    cases : CaseLogic
        Opens a retrieved study.
    report : ReportLogic
        Exports the plan as DICOM before it is sent.
    nodes_path : Path, optional
        The nodes file; the user's own (``$CRYOPLAN_PACS_NODES`` or the
        configuration folder) when None.
    cache : StudyCache, optional
        Where retrieved studies are kept; the user's study cache when None.

    Attributes
    ----------
    nodes : tuple of Node
        The configured nodes, as last read by :meth:`reload_nodes`.
    matches : tuple of StudyMatch
        The studies of the last search.
    nodes_changed : Signal
        ``(nodes)`` after the nodes file was read.
    studies_found : Signal
        ``(matches)`` once a search finished.
    study_retrieved : Signal
        ``(RetrievedStudy)`` once a study is complete in the cache (it opens next).
    retrieval : TaskHandle or None
        The running retrieval.
    sent : Signal
        ``(SendReport)`` once sending finished.
    retrieval_ended : Signal
        ``()`` once the retrieval finished, failed or was cancelled.
    echoed : Signal
        ``(EchoResult)`` once a node answered :meth:`echo_node`.
    """

    def __init__(
        self,
        runner: Runner,
        cases: CaseLogic,
        report: ReportLogic,
        *,
        nodes_path: str | Path | None = None,
        cache: StudyCache | None = None,
    ) -> None:
        self.runner = runner
        self.cases = cases
        self.report = report
        self.nodes_path = nodes_path
        self.cache = cache
        self.nodes: tuple[Node, ...] = ()
        self.matches: tuple[StudyMatch, ...] = ()
        self.retrieval: TaskHandle | None = None
        self.nodes_changed = Signal()
        self.studies_found = Signal()
        self.study_retrieved = Signal()
        self.sent = Signal()
        self.retrieval_ended = Signal()
        self.echoed = Signal()
        runner.task_finished.connect(self._task_finished)

    # -- nodes ------------------------------------------------------------------------------
    def reload_nodes(self) -> tuple[Node, ...]:
        """Read the nodes file again.

        Raises
        ------
        InvalidParameterError
            When the file is malformed (the message names the file, never a credential).
        """
        self.nodes = tuple(load_nodes(self.nodes_path))
        self.nodes_changed.emit(self.nodes)
        return self.nodes

    def node(self, name: str) -> Node:
        """The configured node called ``name``.

        Raises
        ------
        InvalidParameterError
            When no node has that name.
        """
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(node.name for node in self.nodes) or "none configured"
        raise InvalidParameterError(
            f"PACS node {name!r} is not configured (configured: {known}); add it to the "
            f"PACS nodes file {self.nodes_file} (as `cryoplan pacs` reads it)."
        )

    def save_node(self, form: NodeForm, *, replacing: str | None = None) -> Node:
        """Add the node ``form`` describes, or put it in place of the node ``replacing``.

        The nodes file is written (readable by the user alone) and read back;
        an empty secret keeps the replaced node's password or token.

        Raises
        ------
        InvalidParameterError
            When a field is malformed (named by its label) or the name is taken.
        """
        nodes = list(load_nodes(self.nodes_path))
        previous = next((n for n in nodes if n.name == replacing), None)
        node = node_from_form(form, previous=previous)
        if any(n.name == node.name and n is not previous for n in nodes):
            raise InvalidParameterError(
                f"PACS node Name {node.name!r}: another node has this name; choose another."
            )
        if previous is None:
            nodes.append(node)
        else:
            nodes[nodes.index(previous)] = node
        save_nodes(nodes, self.nodes_file)
        self.reload_nodes()
        return node

    def remove_node(self, name: str) -> None:
        """Remove the node called ``name`` from the nodes file."""
        self.node(name)
        save_nodes([n for n in load_nodes(self.nodes_path) if n.name != name], self.nodes_file)
        self.reload_nodes()

    def echo_node(self, node_name: str) -> TaskHandle:
        """Check that ``node_name`` answers (C-ECHO or a QIDO-RS search); :attr:`echoed` after.

        Raises
        ------
        InvalidParameterError
            At once, when the node is not configured.
        """
        node = self.node(node_name)
        return self.runner.submit(
            f"Checking {node.label}",
            lambda progress, cancel: echo(node),
            on_done=self.echoed.emit,
            key="pacs-echo",
        )

    @property
    def nodes_file(self) -> Path:
        """The nodes file this logic reads."""
        return default_nodes_path() if self.nodes_path is None else Path(self.nodes_path)

    # -- search -----------------------------------------------------------------------------
    @staticmethod
    def make_query(**fields: str) -> StudyQuery:
        """A :class:`StudyQuery` from the search form's fields, stripped of spaces.

        Raises
        ------
        InvalidParameterError
            When a field is malformed; the message names the form's field label.
        """
        cleaned = {key: value.strip() for key, value in fields.items()}
        try:
            return StudyQuery(**cleaned)
        except InvalidParameterError as error:
            message = str(error)
            for option, label in QUERY_FIELD_LABELS.items():
                message = message.replace(f"--{option.replace('_', '-')}", f"PACS {label}")
            raise InvalidParameterError(message) from None

    def search(self, node_name: str, query: StudyQuery) -> TaskHandle:
        """Search ``node_name`` for studies matching ``query``; :attr:`studies_found` after.

        Raises
        ------
        InvalidParameterError
            At once, when the node is not configured.
        """
        node = self.node(node_name)

        def done(matches: list[StudyMatch]) -> None:
            self.matches = tuple(sorted(matches, key=lambda m: m.study_date, reverse=True))
            self.studies_found.emit(self.matches)

        return self.runner.submit(
            f"Searching {node.label}",
            lambda progress, cancel: find_studies(node, query),
            on_done=done,
            key="pacs-search",
        )

    # -- retrieval --------------------------------------------------------------------------
    def retrieve_study(
        self, node_name: str, study_uid: str, series_uid: str | None = None
    ) -> TaskHandle:
        """Retrieve a study (or one series) into the cache, then open it.

        Progress is reported per instance; cancelling keeps what arrived out of
        the cache, and the next retrieval of the study fetches only the rest.

        Raises
        ------
        InvalidParameterError
            At once, when the node is not configured.
        """
        node = self.node(node_name)
        cache = self.cache

        def work(progress: ProgressCallback, cancel: CancelToken) -> RetrievedStudy:
            return retrieve(
                node, study_uid, series_uid, cache=cache, progress=progress, cancel=cancel
            )

        self.retrieval = self.runner.submit(
            f"Retrieving from {node.label}", work, on_done=self._retrieved, key="pacs-retrieve"
        )
        return self.retrieval

    def cancel_retrieval(self) -> None:
        """Stop the running retrieval, if any."""
        if self.retrieval is not None:
            self.retrieval.cancel()

    def _retrieved(self, study: RetrievedStudy) -> None:
        self.study_retrieved.emit(study)
        self.cases.open_path(study.image_folder)

    def _task_finished(self, task: TaskHandle) -> None:
        if task is self.retrieval:
            self.retrieval = None
            self.retrieval_ended.emit()

    # -- sending ----------------------------------------------------------------------------
    def send_files(self, node_name: str, paths: Sequence[str | Path]) -> TaskHandle:
        """Send DICOM files to ``node_name``; :attr:`sent` after.

        Raises
        ------
        InvalidParameterError
            At once, when the node is not configured.
        """
        node = self.node(node_name)
        files = [Path(p) for p in paths]

        def work(progress: ProgressCallback, cancel: CancelToken) -> SendReport:
            return send(node, files, progress=progress, cancel=cancel)

        return self.runner.submit(
            f"Sending to {node.label}", work, on_done=self.sent.emit, key="pacs-send"
        )

    def send_plan(
        self,
        node_name: str,
        *,
        folder: str | Path | None = None,
        on_done: Callable[[SendReport], None] | None = None,
    ) -> TaskHandle:
        """Export the present plan as DICOM and send it into its CT's study on ``node_name``.

        One task: the export (SEG, report PDF, key images, as
        :meth:`ReportLogic.export_dicom` writes them) into ``folder``, or into a
        temporary folder removed afterwards, then
        :func:`~planning_core.report.pacs_send.send_export`, the function behind
        ``cryoplan export --pacs/--dicomweb``. :attr:`sent` and ``on_done``
        follow with the :class:`SendReport`.

        Raises
        ------
        InvalidParameterError
            At once, when the node is not configured.
        ReportError
            At once, when the plan cannot be exported (no plan, image not from DICOM).
        """
        node = self.node(node_name)
        export_job = self.report.export_dicom_job()

        def work(progress: ProgressCallback, cancel: CancelToken) -> SendReport:
            with tempfile.TemporaryDirectory(prefix="cryoplan-send-") as scratch:
                target = Path(scratch) / "dicom" if folder is None else Path(folder)
                export = export_job(target, sub_progress(progress, 0.0, 0.8), cancel)
                return send_export(
                    export, node, progress=sub_progress(progress, 0.8, 1.0), cancel=cancel
                )

        def done(report: SendReport) -> None:
            self.sent.emit(report)
            if on_done is not None:
                on_done(report)

        return self.runner.submit(
            f"Sending the plan to {node.label}", work, on_done=done, key="pacs-send"
        )
