"""Records the registry returns (besides the `Assessment` documents themselves)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict

from modelwarden.model import Assessment
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


class Facets(BaseModel):
    """The values present in the registry, offered as filter choices."""

    model_config = ConfigDict(extra="forbid")

    regimes: list[str]
    licences: list[str]
