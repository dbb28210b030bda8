"""The 3-D view's label surfaces and margin map, built without widgets (render layer, VTK)."""

from __future__ import annotations

import numpy as np
from cryoplan_app.model.plan_state import TemperatureField
from cryoplan_app.render.surface_builder import LabelSurfaceBuilder


def test_surfaces_are_kept_for_their_label_map_and_give_the_margin_map(session, runner):
    builder = LabelSurfaceBuilder(session, runner)
    built = []
    builder.built.connect(built.append)
    labels = session.document.labels
    assert builder.build_missing() is not None
    assert builder.build_missing() is not None  # still missing: the first has not arrived
    runner.run_pending()
    assert built == [labels] and set(builder.current()) == set(session.view.visible_labels)
    assert builder.build_missing() is None  # nothing missing any more
    assert builder.margin_map() is None  # no temperature field yet
    geometry = labels.geometry
    # A field that is lethal (-40 °C) everywhere within 12 mm of the tumor centre (r = 8 mm).
    nk, nj, ni = geometry.shape
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    lps = geometry.index_to_lps(np.stack([i, j, k], axis=-1).astype(np.float64))
    celsius = np.where(np.linalg.norm(lps, axis=-1) <= 12.0, -60.0, 37.0)
    session.document.set_preview(TemperatureField(celsius.astype(np.float32), geometry))
    surface, margins = builder.margin_map()
    assert surface.GetNumberOfPoints() == len(margins) > 0
    assert 2.0 < np.median(margins) < 6.0  # about 12 - 8 mm, within a voxel or two
    session.set_labels(labels.with_mask("tumor", labels.mask("tumor")))
    assert builder.current() == {} and builder.margin_map() is None  # of the old labels
