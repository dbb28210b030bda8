"""Workflow panels: segmentation, probes, protocol, optimizer, metrics, confirm, freeze timeline.

Each panel is given the application's :class:`~cryoplan_app.qt.context.AppContext`:
it listens to the session and forwards user input to it; computing runs in
planning_core through the context's task runner, errors go to its error
presenter. The main window docks them.
"""

from __future__ import annotations

from PyQt6.QtWidgets import QScrollArea, QWidget

from cryoplan_app.qt.context import AppContext
from cryoplan_app.qt.panels.confirm import ConfirmPanel
from cryoplan_app.qt.panels.metrics import MetricsPanel
from cryoplan_app.qt.panels.optimizer import OptimizerPanel
from cryoplan_app.qt.panels.probes import ProbesPanel
from cryoplan_app.qt.panels.protocol import ProtocolPanel
from cryoplan_app.qt.panels.segmentation import SegmentationPanel
from cryoplan_app.qt.panels.timeline import TimelinePanel
from cryoplan_app.qt.panels.view_tool import ViewTool

__all__ = ["TIMELINE_TITLE", "TITLES", "TimelinePanel", "ViewTool", "scrolling", "tabbed_panels"]

#: Dock titles of the tabbed panels, in workflow order.
TITLES = {
    "segmentation": "Segmentation",
    "probes": "Probes",
    "protocol": "Protocol",
    "optimizer": "Optimizer",
    "metrics": "Metrics",
    "confirm": "Confirm",
}
#: Dock title of the panel below the views.
TIMELINE_TITLE = "Freeze timeline"


def tabbed_panels(context: AppContext, tool: ViewTool) -> dict[str, QWidget]:
    """The tabbed panels by name, in the order of :data:`TITLES`.

    ``tool`` is the :class:`ViewTool` the segmentation panel borrows the 2-D
    views' left button through.
    """
    return {
        "segmentation": SegmentationPanel(context, tool),
        "probes": ProbesPanel(context),
        "protocol": ProtocolPanel(context),
        "optimizer": OptimizerPanel(context),
        "metrics": MetricsPanel(context),
        "confirm": ConfirmPanel(context),
    }


def scrolling(widget: QWidget) -> QScrollArea:
    """``widget`` in a scroll area, so a short screen never squeezes its inputs."""
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area
