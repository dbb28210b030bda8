"""Headless, evented state of the viewer: importable and testable without Qt, VTK or a display."""

from cryoplan_app.model.case import CaseSource, ImageCase, load_case, resolve_case_argument
from cryoplan_app.model.planes import SLICE_VIEWS, SliceFrame, slice_frames
from cryoplan_app.model.recent import RecentCases
from cryoplan_app.model.session import LAYOUTS, PointInfo, Session, ViewCamera
from cryoplan_app.model.signals import Signal
from cryoplan_app.model.window_level import PRESET_NAMES, WindowLevel

__all__ = [
    "LAYOUTS",
    "PRESET_NAMES",
    "SLICE_VIEWS",
    "CaseSource",
    "ImageCase",
    "PointInfo",
    "RecentCases",
    "Session",
    "Signal",
    "SliceFrame",
    "ViewCamera",
    "WindowLevel",
    "load_case",
    "resolve_case_argument",
    "slice_frames",
]
