"""The organ a plan's tumor lies in, as the confirmation's registration and margin need it.

Both confirmations (during the freeze and after the ablation) restrict the
deformable registration to the organ that holds the tumor and measure its fit
on that organ's surface. The organ is the plan's organ site's host labels (a
kidney tumor's organ is the kidney, even where the tumor bulges into the fat
around it), and of a paired organ only the side that holds the tumor.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from planning_core.confirm.registration import target_organ_mask
from planning_core.imaging.labels import LabelMap
from planning_core.planning.metrics import plan_organ_site
from planning_core.planning.optimizer.problem import host_label
from planning_core.planning.organ_sites import ORGAN_SITES
from planning_core.planning.plan import Plan


def host_organ_names(plan: Plan, label_map: LabelMap) -> tuple[str, ...]:
    """The labels of the organ the tumor lies in (the plan's organ site), present in the map."""
    site = plan_organ_site(plan, label_map)
    if site.site is None:
        return ()
    return tuple(n for n in ORGAN_SITES[site.site].host_labels if label_map.has(n))


def host_organ_mask(plan: Plan, label_map: LabelMap) -> NDArray[np.bool_] | None:
    """The organ piece that holds the tumor, tumor included; ``None`` when unknown.

    The organ site's host labels when the site is known; otherwise the label
    that surrounds most of the tumor (a guess that can be the fat around an
    exophytic tumor, hence only the fallback).
    """
    tumor = label_map.mask(plan.target_label)
    if not tumor.any():
        return None
    names = host_organ_names(plan, label_map)
    if not names:
        guessed = host_label(label_map, tumor)
        names = (guessed,) if guessed else ()
    if not names:
        return None
    organ = np.zeros_like(tumor)
    for name in names:
        organ |= label_map.mask(name)
    return target_organ_mask(organ, tumor)
