"""The 3-D view's label surfaces and the tumor's margin map, built in the background.

Surfaces are VTK geometry, so building them is the render layer's work (the
logic layer stays VTK-free); the 3-D widget only shows what
:class:`LabelSurfaceBuilder` keeps. Surfaces are built for the visible labels
that have none yet and kept for the label map they were built from: a surface
of an older label map never shows as current.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from vtkmodules.vtkCommonDataModel import vtkPolyData

from cryoplan_app.logic.runner import Runner, TaskHandle
from cryoplan_app.model.isotherms import signed_margin_mm
from cryoplan_app.model.session import Session
from cryoplan_app.model.signals import Signal
from cryoplan_app.render.surfaces import label_surfaces, surface_in_lps, surface_points
from planning_core.imaging.labels import LabelMap


class LabelSurfaceBuilder:
    """Builds and keeps the surfaces of ``session``'s visible labels on ``runner``.

    ``built`` is emitted with the label map once new surfaces of the session's
    current labels arrived.
    """

    def __init__(self, session: Session, runner: Runner) -> None:
        self.session = session
        self.runner = runner
        self.labels: LabelMap | None = None  # the label map ``surfaces`` belong to
        self.surfaces: dict[str, vtkPolyData] = {}
        self.built = Signal()

    def current(self) -> dict[str, vtkPolyData]:
        """The surfaces of the session's labels (none when they were built for others)."""
        labels = self.session.document.labels
        return self.surfaces if labels is not None and self.labels is labels else {}

    def forget(self) -> None:
        """Drop every surface: the next :meth:`build_missing` builds all visible ones."""
        self.labels, self.surfaces = None, {}

    def build_missing(self) -> TaskHandle | None:
        """Build the visible labels' missing surfaces in the background; None when none miss."""
        labels = self.session.document.labels
        if labels is None:
            return None
        have = set(self.current())
        missing = [name for name in self.session.view.visible_labels if name not in have]
        if not missing:
            return None
        return self.runner.submit(
            "Building 3-D surfaces",
            lambda progress, cancel: label_surfaces(
                labels, missing, progress=progress, cancel=cancel
            ),
            on_done=lambda surfaces: self._arrived(labels, surfaces),
            key="surfaces",
        )

    def _arrived(self, labels: LabelMap, surfaces: dict[str, vtkPolyData]) -> None:
        if labels is not self.session.document.labels:
            return  # the labels changed while the surfaces were being built
        if self.labels is labels:
            surfaces = {**self.surfaces, **surfaces}
        self.labels, self.surfaces = labels, surfaces
        self.built.emit(labels)

    def margin_map(self) -> tuple[vtkPolyData, NDArray[np.float64]] | None:
        """The target's surface in LPS mm and each point's signed margin (mm) to the lethal
        isotherm; None without a temperature field or a built target surface."""
        document = self.session.document
        field = document.temperature_field
        tumor = self.current().get(document.plan.target_label)
        if field is None or tumor is None or document.labels is None:
            return None
        surface = surface_in_lps(tumor, document.labels.geometry)
        margins = signed_margin_mm(field, document.lethal_isotherm_c, surface_points(surface))
        return surface, margins
