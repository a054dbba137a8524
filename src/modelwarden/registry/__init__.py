"""The assessment registry: every assessment recorded, listed, filtered, compared and exported.

`Registry(url)` opens (and creates or migrates) the database: a SQLite file under the user data
directory by default, or any SQLAlchemy URL (PostgreSQL through psycopg 3).
"""

from modelwarden.registry.diff import Change, ChangeKind, Diff
from modelwarden.registry.errors import AssessmentNotFound, InvalidAssessment
from modelwarden.registry.filters import Filters, Sort
from modelwarden.registry.records import Facets, Page, StoredAssessment
from modelwarden.registry.store import Registry
from modelwarden.registry.summary import AssessmentSummary, LicenceClass

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
