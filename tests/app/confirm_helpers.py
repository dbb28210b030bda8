"""The intra-procedural confirmation of the kidney sample, computed once per test process.

The confirmation takes several seconds; the logic test and the window test both
run it through :class:`~cryoplan_app.logic.confirm.ConfirmLogic`, with the
core's :func:`~planning_core.confirm.intra.confirm_intra` replaced by
:func:`confirm_intra_once`, which computes it for real the first time and hands
the same result back when the same inputs come again.
"""

from __future__ import annotations

import json
from typing import Any

from planning_core.confirm.intra import IntraConfirmation, confirm_intra
from planning_core.imaging.labels import LabelMap
from planning_core.imaging.volume import Volume
from planning_core.planning.plan import Plan
from planning_core.planning.plan_json import plan_to_dict

#: The grid of the as-placed simulations in these tests (coarse: the app is tested, not
#: the physics; ``tests/confirm`` checks the figures).
TEST_SPACING_MM = 4.0
#: Minutes since the protocol started when the kidney's intra-procedural CT was taken.
KIDNEY_ELAPSED_MIN = 6.0

_computed: dict[str, IntraConfirmation] = {}


def confirm_intra_once(
    plan: Plan, planning: Volume, label_map: LabelMap, intra: Volume, **options: Any
) -> IntraConfirmation:
    """:func:`confirm_intra`, computed once per plan, images and options in this process."""
    chosen = {k: v for k, v in options.items() if k not in ("progress", "cancel")}
    key = json.dumps(
        [
            plan_to_dict(plan),
            planning.metadata.get("series_instance_uid"),
            planning.geometry.shape,
            label_map.names,
            intra.metadata.get("series_instance_uid"),
            intra.geometry.shape,
            chosen,
        ],
        default=str,
        sort_keys=True,
    )
    if key not in _computed:
        _computed[key] = confirm_intra(plan, planning, label_map, intra, **options)
    return _computed[key]
