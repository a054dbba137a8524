"""Records the registry returns (besides the `Assessment` documents themselves)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from modelwarden.model import Assessment
from modelwarden.registry.files import FileWindow
from modelwarden.registry.summary import AssessmentSummary


class Page(BaseModel):
    """A window of a filtered, sorted list of assessment summaries."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    total: int
    """Matching assessments in all."""
    limit: int
    """The window's size asked for."""
    offset: int
    """Index of the first item."""
    items: list[AssessmentSummary]
    """The summaries in the window."""


class StoredAssessment(BaseModel):
    """An assessment as recorded: the registry's id and bookkeeping, the summary, the full document."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    id: int
    """The registry's id of the assessment."""
    recorded_at: dt.datetime
    """When the registry recorded it (UTC)."""
    is_latest: bool
    """Whether it is the latest assessment of its model."""
    digest: str
    """SHA-256 of the stored document (canonical JSON)."""
    summary: AssessmentSummary
    """The indexed summary shown in lists."""
    assessment: Assessment
    """The full assessment document."""
    files: FileWindow | None = Field(
        default=None,
        description="When the per-file lists of the document are cut to a window: which part is held. "
        "Absent: the document is whole.",
    )


class Facets(BaseModel):
    """The values present in the registry, offered as filter choices."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    regimes: list[str]
    """Instrument ids that occur in recorded assessments."""
    licences: list[str]
    """Licences that occur in recorded assessments."""
