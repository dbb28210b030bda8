"""What the literature says about the minimal ablative margin, for the confirmation report.

Each figure is quoted with its source so that a reader can check it; the
category of a result (:class:`MarginCategory`) follows the thresholds these
studies used. The studies are on heat-based ablation of colorectal liver
metastases: no outcome study of cryoablation margins measured this way exists,
which the report says.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

#: Margin the ACCLAIM trial requires for technical success (Sofocleous et al. 2025).
REQUIRED_MARGIN_MM = 5.0


class MarginCategory(enum.Enum):
    """Where a minimal ablative margin falls."""

    INCOMPLETE = "incomplete"
    BELOW_5_MM = "0-5 mm"
    AT_LEAST_5_MM = ">= 5 mm"

    @classmethod
    def of(cls, minimal_margin_mm: float) -> MarginCategory:
        """The category of a signed minimal margin (negative: tumor outside the zone)."""
        if minimal_margin_mm < 0.0:
            return cls.INCOMPLETE
        return cls.BELOW_5_MM if minimal_margin_mm < REQUIRED_MARGIN_MM else cls.AT_LEAST_5_MM


@dataclass(frozen=True)
class Evidence:
    """One published figure on margins and local tumor progression."""

    finding: str
    source: str


MARGIN_EVIDENCE = (
    Evidence(
        "Colorectal liver metastases, 94 tumours, RFA: two-year local-progression-free "
        "survival 26 % with a 0 mm minimal margin, 46 % with 1-5 mm, 74 % with 6-10 mm and "
        "80 % with 11-15 mm; the risk fell by 46 % per 5 mm of margin.",
        "Wang X, Sofocleous CT, Erinjeri JP, et al. Cardiovasc Intervent Radiol. "
        "2013;36(1):166-175. doi:10.1007/s00270-012-0377-1",
    ),
    Evidence(
        "Colorectal liver metastases, 173 tumours analysed in three centres with two "
        "confirmation programs (Ablation-fit, non-rigid; SAFIR, rigid): 12 % progressed "
        "locally over a median of 31 months; none with a minimal margin of 4 mm or more "
        "(Ablation-fit) or 5 mm or more (SAFIR); the programs differed by a median of 2 mm "
        "per tumour.",
        "Laimer G, et al. Eur Radiol. 2025;35(2):1046-1056. doi:10.1007/s00330-024-10956-5",
    ),
    Evidence(
        "ACCLAIM trial: a minimal margin of 5.0 mm on 3-D confirmation is the condition for "
        "technical success of microwave ablation; margins of the ablation zone against the "
        "liver capsule or a vessel over 3 mm are exempt.",
        "Sofocleous CT, Callstrom MR, Petre EN, et al. Trials. 2025. "
        "doi:10.1186/s13063-025-09006-2",
    ),
)

#: What the figures above do not cover, stated with them.
EVIDENCE_LIMITS = (
    "These figures come from heat-based ablation of colorectal liver metastases; outcome "
    "studies of cryoablation margins measured in 3-D are not known to this program."
)
