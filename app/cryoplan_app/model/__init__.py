"""Headless, evented state of the viewer: importable and testable without Qt, VTK or a display."""

from cryoplan_app.model.case import CaseSource, ImageCase, load_case
from cryoplan_app.model.plan_document import PlanDocument
from cryoplan_app.model.planes import SLICE_VIEWS, SliceFrame, slice_frames
from cryoplan_app.model.recent import RecentCases
from cryoplan_app.model.session import Session
from cryoplan_app.model.signals import Signal
from cryoplan_app.model.view_state import Layout, PointInfo, Tool, ViewCamera, ViewState
from cryoplan_app.model.window_level import PRESET_NAMES, WindowLevel

__all__ = [
    "PRESET_NAMES",
    "SLICE_VIEWS",
    "CaseSource",
    "ImageCase",
    "Layout",
    "PlanDocument",
    "PointInfo",
    "RecentCases",
    "Session",
    "Signal",
    "SliceFrame",
    "Tool",
    "ViewCamera",
    "ViewState",
    "WindowLevel",
    "load_case",
    "slice_frames",
]
