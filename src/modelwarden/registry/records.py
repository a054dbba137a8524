"""Records the registry returns (besides the `Assessment` documents themselves)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from modelwarden.model import Assessment
from modelwarden.registry.files import FileWindow
from modelwarden.registry.summary import AssessmentSummary


class Page(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total: int
    limit: int
    offset: int
    items: list[AssessmentSummary]


class StoredAssessment(BaseModel):
    """An assessment as recorded: the registry's id and bookkeeping, the summary, the full document."""

    model_config = ConfigDict(extra="forbid")

    id: int
    recorded_at: dt.datetime
    is_latest: bool
    digest: str
    summary: AssessmentSummary
    assessment: Assessment
    files: FileWindow | None = Field(
        default=None,
        description="When the per-file lists of the document are cut to a window: which part is held. "
        "Absent: the document is whole.",
    )


class Facets(BaseModel):
    """The values present in the registry, offered as filter choices."""

    model_config = ConfigDict(extra="forbid")

    regimes: list[str]
    licences: list[str]
