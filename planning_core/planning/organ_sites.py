"""Organ sites: which organs at risk a plan must know for the organ its tumor lies in.

A plan is only as safe as the anatomy it knows. Each organ site (kidney, liver,
lung, breast, bone) lists the organs an interventional radiologist checks before
freezing there (``docs/plan-format.md``; ../shared/reference/clinical.md gives the
practice). An organ of the list that the label map lacks was not assessed: the
plan's metrics name it in ``not_assessed`` and no summary may call the organs at
risk clear while one is missing. A plan's site is its ``organ_site`` setting, or
else inferred from the labelled organ around the tumor; when neither tells it,
the site is unknown and every listed organ that is not labelled is not assessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from planning_core.imaging.labels import LabelMap
from planning_core.planning.masks import bounding_box
from planning_core.planning.results import PlanMetrics


@dataclass(frozen=True)
class OrganSite:
    """One organ site.

    Attributes
    ----------
    name : str
        The site (``"kidney"``), as the ``organ_site`` setting and ``--site`` take it.
    host_labels : tuple of str
        Label names of the organ a tumor of this site lies in.
    organs_at_risk : tuple of str
        Standard label names of the organs to check, in report order. Those that
        are monitored structures (renal sinus, pectoral muscle, large vessels)
        count as assessed when labelled and keep their monitored status.
    """

    name: str
    host_labels: tuple[str, ...]
    organs_at_risk: tuple[str, ...]


#: The organs at risk per site. Each list is a setting of practice, with its reasons:
ORGAN_SITES: dict[str, OrganSite] = {
    site.name: site
    for site in (
        OrganSite(
            "kidney",
            ("kidney",),
            (
                # Bowel and colon (hepatic and splenic flexures lie on the lower poles):
                # a frozen loop perforates; they are displaced when within about 1 cm.
                "bowel",
                "colon",
                # The descending duodenum lies on the right renal hilum (fistula risk).
                "duodenum",
                # Ureter and the collecting system: a frozen ureter strictures (warm
                # pyeloperfusion protects it); a probe through the sinus leaks urine.
                "ureter",
                "renal_sinus",
                # The liver (right upper pole) and the spleen and pancreatic tail (left
                # upper pole) lie on the probe paths and within an upper-pole iceball.
                # Both sides are listed: a missing label is shown, never assumed far.
                "liver",
                "spleen",
                "pancreas",
                # Posterior (prone) approach: the skin over a thin back freezes.
                "skin",
            ),
        ),
        OrganSite(
            "liver",
            ("liver",),
            (
                # Hollow viscera against the liver surface: colon (hepatic flexure),
                # duodenum, stomach (left lobe), small bowel: perforation risk.
                "colon",
                "bowel",
                "stomach",
                "duodenum",
                # Central bile ducts and the gallbladder stricture or leak (biloma) when
                # frozen; vessels are heat sinks, not organs at risk.
                "bile_duct",
                "gallbladder",
                # Dome lesions: the heart and pericardium lie above the diaphragm, which
                # tolerates freezing and is monitored.
                "heart",
                "diaphragm",
                # Subcapsular lesions: the skin of the flank or epigastrium.
                "skin",
            ),
        ),
        OrganSite(
            "lung",
            ("lung",),
            (
                # Mediastinum: heart/pericardium, esophagus and the aorta (monitored: its
                # flow survives the ice); bronchi tolerate freezing (cryotherapy spares
                # their cartilage), so they are not listed.
                "heart",
                "esophagus",
                "aorta",
                # Apical and paravertebral lesions: brachial plexus, phrenic and
                # intercostal nerves, and the spinal cord.
                "nerve",
                "spinal_cord",
                # Peripheral lesions: ice through the chest wall reaches the skin.
                "skin",
            ),
        ),
        OrganSite(
            "breast",
            ("breast_tissue",),
            (
                # The skin over a superficial tumor burns (warm saline or gauze protect
                # it); the pectoral muscle and chest wall beneath tolerate freezing but
                # are watched (monitored) for deep tumors.
                "skin",
                "pectoral_muscle",
            ),
        ),
        OrganSite(
            "bone",
            ("bone",),
            (
                # Spine and sacrum: the spinal cord and nerve roots (thermal injury gives
                # paralysis or pain; they are monitored or warmed).
                "spinal_cord",
                "nerve",
                # Pelvic and sacral lesions: bowel and colon.
                "bowel",
                "colon",
                # Superficial bone (ribs, iliac crest): the skin.
                "skin",
            ),
        ),
    )
}

#: Share of the labelled shell around the tumor a site's host organ needs before the
#: site is inferred from it. A tumor arises in its organ, so the organ holds a large
#: part of its border; 10 % still recognises exophytic masses (a renal mass bulging into
#: the perirenal fat keeps its "claw" of parenchyma) while a tumor merely touching an
#: organ elsewhere is rarely bordered by it over a tenth of its surface.
HOST_SHARE_MIN = 0.10
#: Thickness of the shell around the tumor in which the host organ is sought (mm): a
#: few millimetres, so that slice thickness and partial volume do not hide the organ.
HOST_SHELL_MM = 3.0


@dataclass(frozen=True)
class SiteResolution:
    """A plan's organ site and how it was known.

    ``site`` is ``None`` when unknown; ``inferred_from`` names the host label the
    site was inferred from (empty when the plan's ``organ_site`` setting gave it).
    """

    site: str | None
    inferred_from: str = ""

    def sentence(self) -> str:
        """One line for reports and the command line."""
        if self.site is None:
            return "organ site unknown (give it with --site or the Organ site field)"
        if self.inferred_from:
            return (
                f"organ site {self.site}, inferred from the "
                f"{self.inferred_from.replace('_', ' ')} label around the tumor"
            )
        return f"organ site {self.site}, as set in the plan"


def infer_organ_site(label_map: LabelMap, target_label: str) -> SiteResolution:
    """The site whose host organ borders the tumor most (see :data:`HOST_SHARE_MIN`).

    Only labels that host a site count (kidney, liver, lung, breast tissue, bone);
    ``body``, fat, muscle and unlabelled voxels around the tumor do not tell a site.
    """
    hosts = {host: site.name for site in ORGAN_SITES.values() for host in site.host_labels}
    present = [name for name in hosts if label_map.has(name)]
    if not present or not label_map.has(target_label):
        return SiteResolution(None)
    shell = _tumor_shell(label_map, target_label)
    if shell is None:
        return SiteResolution(None)
    values, labelled = shell
    counts = {name: int(np.count_nonzero(values == label_map.info(name).value)) for name in present}
    best = max(counts, key=counts.__getitem__)
    if labelled == 0 or counts[best] < HOST_SHARE_MIN * labelled:
        return SiteResolution(None)
    return SiteResolution(hosts[best], inferred_from=best)


def _tumor_shell(label_map: LabelMap, target_label: str) -> tuple[NDArray, int] | None:
    """Label values in the shell of :data:`HOST_SHELL_MM` around the tumor, and its size."""
    geometry = label_map.geometry
    spacing = np.asarray(geometry.spacing_kji_mm)
    pad = int(np.max(np.ceil(HOST_SHELL_MM / spacing))) + 1
    tumor = label_map.voxels == label_map.info(target_label).value
    box = bounding_box(tumor, pad)
    if box is None:
        return None
    crop = tumor[box]
    distance = ndimage.distance_transform_edt(~crop, sampling=spacing)
    shell = (distance > 0) & (distance <= HOST_SHELL_MM)
    values = label_map.voxels[box][shell]
    # Background does not dilute the share: a tumor at the image edge or in an
    # unlabelled region is judged by what is labelled around it.
    return values, int(np.count_nonzero(values))


def resolve_organ_site(
    organ_site: str | None, label_map: LabelMap, target_label: str
) -> SiteResolution:
    """The plan's site: its ``organ_site`` setting, else inferred from the label map."""
    if organ_site is not None:
        return SiteResolution(organ_site)
    return infer_organ_site(label_map, target_label)


def expected_organs(resolution: SiteResolution) -> tuple[str, ...]:
    """The organs at risk the site lists; every site's when the site is unknown.

    The host organ of the site is never its own organ at risk.
    """
    if resolution.site is not None:
        site = ORGAN_SITES[resolution.site]
        return tuple(n for n in site.organs_at_risk if n not in site.host_labels)
    names = (name for site in ORGAN_SITES.values() for name in site.organs_at_risk)
    return tuple(dict.fromkeys(names))


def labelled(label_map: LabelMap, name: str) -> bool:
    """True when ``name`` is in the map with at least one voxel (an empty label knows nothing)."""
    return label_map.has(name) and bool(np.any(label_map.voxels == label_map.info(name).value))


def site_organs_present(
    resolution: SiteResolution, label_map: LabelMap, target_label: str
) -> tuple[str, ...]:
    """The site's organs at risk that the label map holds (the target excluded)."""
    if resolution.site is None:
        return ()
    return tuple(
        name
        for name in expected_organs(resolution)
        if name != target_label and labelled(label_map, name)
    )


def not_assessed_organs(
    resolution: SiteResolution, label_map: LabelMap, evaluated: tuple[str, ...]
) -> tuple[str, ...]:
    """Organs that should have been checked but could not be: not labelled, or labelled empty.

    ``evaluated`` are the plan's organs at risk (:func:`~planning_core.planning.
    metrics.oar_names`); an empty one among them is not assessed either.
    """
    names = [*expected_organs(resolution), *evaluated]
    return tuple(n for n in dict.fromkeys(names) if not labelled(label_map, n))


#: Most organs a one-line verdict names; beyond, it counts them. Every site's own list
#: fits (9 at most); the all-sites list of an unknown site is counted (the tables name it).
MAX_NAMED = max(len(site.organs_at_risk) for site in ORGAN_SITES.values())


def metrics_site(metrics: PlanMetrics) -> SiteResolution:
    """The organ site the metrics were computed for."""
    return SiteResolution(metrics.organ_site, metrics.organ_site_inferred_from)


def not_assessed_warning(metrics: PlanMetrics) -> str | None:
    """A warning naming the organs at risk nothing was measured for (``None``: there are none)."""
    if not metrics.not_assessed and metrics.organ_site is not None:
        return None
    parts = [metrics_site(metrics).sentence().capitalize()]
    if metrics.not_assessed:
        parts.append(
            "organs at risk not assessed (not labelled): "
            + ", ".join(metrics.not_assessed)
            + "; label them or check them on the images"
        )
    return "; ".join(parts) + "."
