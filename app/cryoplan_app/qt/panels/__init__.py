"""Workflow panels: segmentation, probes, protocol, optimizer, metrics, freeze timeline.

:func:`install_panels` docks them into the main window. Each panel listens to the
window's session and forwards user input to it; computing runs in planning_core
through the window's task runner, errors go to the window's error presenter.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QMainWindow, QScrollArea, QWidget

from cryoplan_app.qt.panels.metrics import MetricsPanel
from cryoplan_app.qt.panels.optimizer import OptimizerPanel
from cryoplan_app.qt.panels.probes import ProbesPanel
from cryoplan_app.qt.panels.protocol import ProtocolPanel
from cryoplan_app.qt.panels.segmentation import SegmentationPanel
from cryoplan_app.qt.panels.timeline import TimelinePanel
from cryoplan_app.qt.panels.view_tool import ViewTool

_RIGHT = Qt.DockWidgetArea.RightDockWidgetArea
_BOTTOM = Qt.DockWidgetArea.BottomDockWidgetArea
#: Dock titles of the tabbed panels, in workflow order.
TITLES = {
    "segmentation": "Segmentation",
    "probes": "Probes",
    "protocol": "Protocol",
    "optimizer": "Optimizer",
    "metrics": "Metrics",
}
_PANEL_WIDTH_PX = 460


def _scrolling(widget: QWidget) -> QScrollArea:
    """``widget`` in a scroll area, so a short screen never squeezes its inputs."""
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area


def install_panels(window: QMainWindow) -> None:
    """Add the workflow panels to ``window`` (a :class:`~cryoplan_app.qt.main_window.MainWindow`).

    Afterwards ``window.panels`` maps a panel's name (``"segmentation"``, ``"probes"``,
    ``"protocol"``...) to its widget and ``window.view_tool`` is the
    :class:`ViewTool` the panels borrow the 2-D views' left button through.
    """
    window.view_tool = ViewTool(window.session, window.view_area.views, window)
    tabbed = {
        "segmentation": SegmentationPanel(window, window.view_tool),
        "probes": ProbesPanel(window),
        "protocol": ProtocolPanel(window),
        "optimizer": OptimizerPanel(window),
        "metrics": MetricsPanel(window),
    }
    docks = {
        name: window._add_dock(TITLES[name], _scrolling(panel), _RIGHT)
        for name, panel in tabbed.items()
    }
    first = docks["segmentation"]
    for dock in docks.values():
        if dock is not first:
            window.tabifyDockWidget(first, dock)
    first.raise_()
    window.resizeDocks([first], [_PANEL_WIDTH_PX], Qt.Orientation.Horizontal)
    timeline = TimelinePanel(window)
    docks["timeline"] = window._add_dock("Freeze timeline", timeline, _BOTTOM)
    window.panels = {**tabbed, "timeline": timeline}
    window.panel_docks = docks
