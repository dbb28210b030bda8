"""The sample cases as a kind of case source, registered through an entry point.

``pyproject.toml`` names :data:`SAMPLE_CASES` in the ``cryoplan.case_sources``
group, so that ``cryoplan plan kidney``, the viewer's sample menu and the
training library open sample cases without the core importing this package
(docs/architecture.md). Importing this module is cheap; the generator is
imported when a case is first located.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from cryoplan_samples.names import SAMPLE_CASE_NAMES
from planning_core.imaging.case_sources import SAMPLE_CASE_KIND, CaseFiles
from planning_core.progress import CancelToken, ProgressCallback, sub_progress


@dataclass(frozen=True)
class SampleCaseKind:
    """Generated sample cases, named ``kidney``, ``liver`` ...: generated into the
    sample folder on first use (``$CRYOPLAN_SAMPLE_DIR``, else the user cache)."""

    name: str = SAMPLE_CASE_KIND
    noun: str = "sample case"

    def claim(self, text: str) -> str | None:
        return text if text in SAMPLE_CASE_NAMES else None

    def case_names(self) -> tuple[str, ...]:
        return SAMPLE_CASE_NAMES

    def title(self, location: str) -> str:
        return f"{location} (sample case)"

    def locate(
        self,
        location: str,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> CaseFiles:
        from cryoplan_samples.cases import ensure_sample_case

        if progress is not None:
            progress(0.0, f"Preparing sample case {location} (generated on first use)")
        sample = ensure_sample_case(location, progress=sub_progress(progress, 0.0, 1.0))
        if cancel is not None:
            cancel.raise_if_cancelled()
        return CaseFiles(
            image_path=sample.image_path,
            labels_path=sample.labels_path,
            title=str(sample.manifest.get("title", location)),
            details=MappingProxyType(dict(sample.manifest)),
        )


#: The object the ``cryoplan.case_sources`` entry point names.
SAMPLE_CASES = SampleCaseKind()
