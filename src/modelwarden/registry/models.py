"""The registry's tables (SQLAlchemy 2 declarative models).

One row per recorded assessment holds the columns the dashboard filters, sorts and lists; the full
assessment document (zlib-compressed canonical JSON, see `store.encode_document`) sits in a table of
its own, so that listing and filtering 100,000 assessments reads narrow rows and never a document.
The schema is created by the hand-written Alembic revision in `modelwarden/migrations/versions/
registry/` (a test checks that tables and columns agree); the indexes are defined there only,
because they differ by database (partial indexes on the latest assessments; PostgreSQL's
`DESC NULLS LAST` sort orders).

`is_latest` marks the most recently recorded assessment of each model; it is maintained inside the
same transaction as the insert or delete, under a lock on the model's row, so concurrent writers
never leave two "latest" rows (see `store.Registry.save`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias); PostgreSQL gets BIGINT.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of the registry's tables."""

    pass


class ModelRow(Base):
    """A model (release) by name; its assessments are the versions and re-assessments of it."""

    __tablename__ = "registry_models"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    first_recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (UniqueConstraint("name", name="uq_registry_models_name"),)


class AssessmentRow(Base):
    """One recorded assessment: the indexed columns lists filter and sort on."""

    __tablename__ = "registry_assessments"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(
        Id,
        ForeignKey("registry_models.id", ondelete="CASCADE", name="fk_registry_assessments_model"),
        nullable=False,
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)  # = registry_models.name, for sorting
    version: Mapped[str | None] = mapped_column(Text)
    is_latest: Mapped[bool] = mapped_column(Boolean, nullable=False)
    as_of: Mapped[dt.date] = mapped_column(Date, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    tool_version: Mapped[str] = mapped_column(Text, nullable=False)
    ruleset_version: Mapped[str] = mapped_column(Text, nullable=False)
    licence: Mapped[str | None] = mapped_column(Text)
    licence_class: Mapped[str] = mapped_column(Text, nullable=False)
    mof_class: Mapped[int | None] = mapped_column(SmallInteger)
    osaid_pass: Mapped[bool | None] = mapped_column(Boolean)
    parameters: Mapped[int | None] = mapped_column(BigInteger)
    active_parameters: Mapped[int | None] = mapped_column(BigInteger)
    flop_low: Mapped[float | None] = mapped_column(Float)
    flop_central: Mapped[float | None] = mapped_column(Float)
    flop_high: Mapped[float | None] = mapped_column(Float)
    compute_method: Mapped[str] = mapped_column(Text, nullable=False)
    call_1e23: Mapped[str | None] = mapped_column(Text)
    call_1e25: Mapped[str | None] = mapped_column(Text)
    call_1e26: Mapped[str | None] = mapped_column(Text)
    worst_severity: Mapped[int | None] = mapped_column(SmallInteger)  # Severity.rank; NULL: no finding
    findings: Mapped[int] = mapped_column(Integer, nullable=False)
    duty_regimes: Mapped[str] = mapped_column(Text, nullable=False)  # space-separated, for display
    needs_review: Mapped[int] = mapped_column(Integer, nullable=False)
    digest: Mapped[str] = mapped_column(Text, nullable=False)  # sha256 of the canonical JSON


class DocumentRow(Base):
    """The assessment document exactly as recorded."""

    __tablename__ = "registry_documents"

    assessment_id: Mapped[int] = mapped_column(
        Id,
        ForeignKey("registry_assessments.id", ondelete="CASCADE", name="fk_registry_documents_assessment"),
        primary_key=True,
    )
    document: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class DutyRow(Base):
    """A regime under which the assessment found obligations in force (one row per regime)."""

    __tablename__ = "registry_duties"

    assessment_id: Mapped[int] = mapped_column(
        Id,
        ForeignKey("registry_assessments.id", ondelete="CASCADE", name="fk_registry_duties_assessment"),
        primary_key=True,
    )
    regime: Mapped[str] = mapped_column(Text, primary_key=True)
    obligations: Mapped[int] = mapped_column(Integer, nullable=False)


class AttestationRow(Base):
    """A signed attestation attached to a recorded assessment (`registry.attestations`): the DSSE
    envelope exactly as received, what it states, and the outcome of its latest verification."""

    __tablename__ = "registry_attestations"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    assessment_id: Mapped[int] = mapped_column(
        Id,
        ForeignKey("registry_assessments.id", ondelete="CASCADE", name="fk_registry_attestations_assessment"),
        nullable=False,
    )
    envelope: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # the bytes as received
    envelope_sha256: Mapped[str] = mapped_column(Text, nullable=False)
    signature_bundle: Mapped[bytes | None] = mapped_column(LargeBinary)  # certificate method only
    predicate_type: Mapped[str] = mapped_column(Text, nullable=False)
    subjects: Mapped[str] = mapped_column(Text, nullable=False)  # JSON: file name -> sha256
    summary: Mapped[str] = mapped_column(Text, nullable=False)  # JSON: what the predicate says
    link: Mapped[str] = mapped_column(Text, nullable=False)  # "file digests" | "file names"
    status: Mapped[str] = mapped_column(Text, nullable=False)  # verified | failed | not verified
    detail: Mapped[str] = mapped_column(Text, nullable=False)
    signer: Mapped[str | None] = mapped_column(Text)
    signer_fingerprint: Mapped[str | None] = mapped_column(Text)
    anchor: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    attached_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (
        UniqueConstraint("assessment_id", "envelope_sha256", name="uq_registry_attestations_envelope"),
    )
