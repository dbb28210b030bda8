"""Fixtures of the Qt tests: one shown main window per test module, under Xvfb.

pytest-xvfb starts the display; ``main_window`` is opened on the kidney sample
case, so that modules do not share state. Helpers the tests import live in
``qt_helpers`` (a conftest is not imported by name: several folders have one).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from cryoplan_app.model.case import ImageCase
from qt_helpers import dispose_window

from planning_core.thermal.probes import ProbeLibrary


@pytest.fixture(scope="module")
def main_window(
    qapp, kidney_case: ImageCase, probe_library: ProbeLibrary, tmp_path_factory
) -> Iterator[object]:
    """A shown 1600×1000 main window with the kidney case open, closed after the module.

    Its autosave folder is a fresh temporary folder; no dialog ever blocks.
    """
    from cryoplan_app.qt.main_window import MainWindow

    autosave = tmp_path_factory.mktemp("autosave")
    window = MainWindow(
        headless=True, autosave_dir=autosave, probe_library=probe_library, simulate=False
    )
    window.resize(1600, 1000)
    window.show()
    window.session.open_case(kidney_case)
    qapp.processEvents()
    window.view_area.render_all()
    yield window
    dispose_window(window)


@pytest.fixture(scope="session", autouse=True)
def _free_vtk_windows_before_xvfb_stops() -> Iterator[None]:
    """Collect closed windows at the end of the session, before Xvfb stops.

    Views and the session reference each other (signals hold bound methods), so
    only the cycle collector frees their VTK render windows and X connections.
    """
    yield
    gc.collect()
