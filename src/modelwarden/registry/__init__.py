"""The assessment registry: every assessment recorded, listed, filtered, compared and exported.

`Registry(url)` opens (and creates or migrates) the database: a SQLite file under the user data
directory by default, or any SQLAlchemy URL (PostgreSQL through psycopg 3).

Names are imported on first use, so that commands which never open the registry do not pay for
SQLAlchemy and Alembic at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelwarden.registry.diff import Change, ChangeKind, Diff
    from modelwarden.registry.errors import AssessmentNotFound, InvalidAssessment
    from modelwarden.registry.filters import Filters, Sort
    from modelwarden.registry.records import Facets, Page, StoredAssessment
    from modelwarden.registry.store import Registry
    from modelwarden.registry.summary import AssessmentSummary, LicenceClass

_WHERE = {
    "AssessmentNotFound": "errors",
    "AssessmentSummary": "summary",
    "Change": "diff",
    "ChangeKind": "diff",
    "Diff": "diff",
    "Facets": "records",
    "Filters": "filters",
    "InvalidAssessment": "errors",
    "LicenceClass": "summary",
    "Page": "records",
    "Registry": "store",
    "Sort": "filters",
    "StoredAssessment": "records",
}

__all__ = [
    "AssessmentNotFound",
    "AssessmentSummary",
    "Change",
    "ChangeKind",
    "Diff",
    "Facets",
    "Filters",
    "InvalidAssessment",
    "LicenceClass",
    "Page",
    "Registry",
    "Sort",
    "StoredAssessment",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
