"""Registry attestations: signed in-toto attestations attached to recorded assessments.

Revision ID: r0003_attestations
Revises: r0002_crawl
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "r0003_attestations"
down_revision: str | None = "r0002_crawl"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias); PostgreSQL gets BIGINT.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the attestations table and its indexes."""
    op.create_table(
        "registry_attestations",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column(
            "assessment_id",
            Id,
            sa.ForeignKey(
                "registry_assessments.id", ondelete="CASCADE", name="fk_registry_attestations_assessment"
            ),
            nullable=False,
        ),
        sa.Column("envelope", sa.LargeBinary, nullable=False),
        sa.Column("envelope_sha256", sa.Text, nullable=False),
        sa.Column("signature_bundle", sa.LargeBinary),
        sa.Column("predicate_type", sa.Text, nullable=False),
        sa.Column("subjects", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("link", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("signer", sa.Text),
        sa.Column("signer_fingerprint", sa.Text),
        sa.Column("anchor", sa.Text),
        sa.Column("verified_at", TZ),
        sa.Column("attached_at", TZ, nullable=False),
        sa.UniqueConstraint("assessment_id", "envelope_sha256", name="uq_registry_attestations_envelope"),
    )
    # "Attested and verified" lists: the assessments with a verified attestation, from the index alone.
    op.create_index("ix_registry_attestations_status", "registry_attestations", ["status", "assessment_id"])


def downgrade() -> None:
    """Drop the attestations table."""
    op.drop_table("registry_attestations")
