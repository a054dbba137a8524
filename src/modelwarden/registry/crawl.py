"""The crawl log: which repository at which commit a crawl assessed or failed to, in the registry's
database (table `crawl_repos`, migration r0002_crawl).

A crawl is resumable through it: a repository at a commit already assessed — logged here, or an
assessment recorded in the registry with the repository as name and the commit as version (`assess
--remote --save`) — is skipped. A failure is logged with its message, so the next crawl reports it and
tries it again. One row per (repository, revision): the latest outcome replaces the previous one.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import BigInteger, DateTime, Integer, Text, UniqueConstraint, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from modelwarden.errors import RegistryError
from modelwarden.registry.models import AssessmentRow, Id
from modelwarden.registry.store import Registry, db_reason
from modelwarden.registry.summary import column_text, model_key

# A failure's message as logged (hub errors name a URL; a traceback is never logged).
MAX_ERROR_CHARS = 2_000


class CrawlBase(DeclarativeBase):
    """Declarative base of the crawl log (apart from the registry's own tables)."""

    pass


class CrawlStatus(enum.StrEnum):
    """The outcome of reading one repository."""

    ASSESSED = "assessed"
    FAILED = "failed"


class CrawlRow(CrawlBase):
    """The latest outcome of crawling one repository at one revision."""

    __tablename__ = "crawl_repos"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    repo: Mapped[str] = mapped_column(Text, nullable=False)
    revision: Mapped[str] = mapped_column(Text, nullable=False)  # the commit; as asked if unresolved
    status: Mapped[str] = mapped_column(Text, nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    error_kind: Mapped[str | None] = mapped_column(Text)
    bytes_read: Mapped[int] = mapped_column(BigInteger, nullable=False)
    requests: Mapped[int] = mapped_column(Integer, nullable=False)
    assessment_id: Mapped[int | None] = mapped_column(BigInteger)
    crawled_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (UniqueConstraint("repo", "revision", name="uq_crawl_repos_repo_revision"),)


@dataclass(frozen=True)
class CrawlEntry:
    """One outcome to log."""

    repo: str
    """`org/name`."""
    revision: str
    """The commit read; the revision as asked (or empty) when it could not be resolved."""
    status: CrawlStatus
    """Assessed or failed."""
    error: str | None = None
    """Why it failed (one line, no traceback)."""
    error_kind: str | None = None
    """The error's class (`HubNotFound`, `HubUnavailable`, …)."""
    bytes_read: int = 0
    """File bytes received for it."""
    requests: int = 0
    """HTTP requests made for it (retries and redirects included)."""
    assessment_id: int | None = None
    """The registry's id of the assessment recorded."""


class CrawlLog:
    """The crawl log in a registry's database (its schema is migrated when the registry opens)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._engine = registry.engine

    def _error(self, action: str, exc: SQLAlchemyError) -> RegistryError:
        return RegistryError(f"cannot {action} the crawl log in {self.registry.url}: {db_reason(exc)}")

    def already_assessed(self, repo: str, revision: str) -> bool:
        """Whether `repo` at commit `revision` is assessed: logged so, or recorded in the registry
        under the repository's name with the commit as version."""
        logged = select(CrawlRow.id).where(
            CrawlRow.repo == repo, CrawlRow.revision == revision, CrawlRow.status == CrawlStatus.ASSESSED
        )
        recorded = select(AssessmentRow.id).where(
            AssessmentRow.name == model_key(repo), AssessmentRow.version == column_text(revision)
        )
        try:
            with self._engine.connect() as conn:
                return (
                    conn.execute(logged.limit(1)).first() is not None
                    or conn.execute(recorded.limit(1)).first() is not None
                )
        except SQLAlchemyError as exc:
            raise RegistryError(
                f"cannot read the crawl log in {self.registry.url}: {db_reason(exc)}"
            ) from None

    def record(self, entry: CrawlEntry) -> None:
        """Log an outcome, replacing the previous one for the same repository and revision."""
        row = {
            "repo": entry.repo,
            "revision": entry.revision,
            "status": entry.status.value,
            "error": entry.error[:MAX_ERROR_CHARS] if entry.error else None,
            "error_kind": entry.error_kind,
            "bytes_read": entry.bytes_read,
            "requests": entry.requests,
            "assessment_id": entry.assessment_id,
            "crawled_at": dt.datetime.now(dt.UTC),
        }
        t = CrawlRow
        try:
            with self._engine.connect() as conn, conn.begin():
                conn.execute(delete(t).where(t.repo == entry.repo, t.revision == entry.revision))
                conn.execute(insert(t), [row])
        except SQLAlchemyError as exc:
            raise RegistryError(
                f"cannot write the crawl log in {self.registry.url}: {db_reason(exc)}"
            ) from None

    def entries(self, status: CrawlStatus | None = None) -> list[CrawlEntry]:
        """Every logged outcome (of one status), by repository and revision."""
        t = CrawlRow
        stmt = select(*t.__table__.columns).order_by(t.repo, t.revision)
        if status is not None:
            stmt = stmt.where(t.status == status.value)
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(stmt).all()
        except SQLAlchemyError as exc:
            raise RegistryError(
                f"cannot read the crawl log in {self.registry.url}: {db_reason(exc)}"
            ) from None
        return [
            CrawlEntry(
                repo=r.repo,
                revision=r.revision,
                status=CrawlStatus(r.status),
                error=r.error,
                error_kind=r.error_kind,
                bytes_read=r.bytes_read,
                requests=r.requests,
                assessment_id=r.assessment_id,
            )
            for r in rows
        ]
