"""Registry base: models, assessments (indexed summary columns), their documents, duties.

Revision ID: r0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "r0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("registry",)
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias); PostgreSQL gets BIGINT.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the registry's tables."""
    op.create_table(
        "registry_models",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("first_recorded_at", TZ, nullable=False),
        sa.UniqueConstraint("name", name="uq_registry_models_name"),
    )
    op.create_table(
        "registry_assessments",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column(
            "model_id",
            Id,
            sa.ForeignKey("registry_models.id", ondelete="CASCADE", name="fk_registry_assessments_model"),
            nullable=False,
        ),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Text),
        sa.Column("is_latest", sa.Boolean, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
        sa.Column("tool_version", sa.Text, nullable=False),
        sa.Column("ruleset_version", sa.Text, nullable=False),
        sa.Column("licence", sa.Text),
        sa.Column("licence_class", sa.Text, nullable=False),
        sa.Column("mof_class", sa.SmallInteger),
        sa.Column("osaid_pass", sa.Boolean),
        sa.Column("parameters", sa.BigInteger),
        sa.Column("active_parameters", sa.BigInteger),
        sa.Column("flop_low", sa.Float),
        sa.Column("flop_central", sa.Float),
        sa.Column("flop_high", sa.Float),
        sa.Column("compute_method", sa.Text, nullable=False),
        sa.Column("call_1e23", sa.Text),
        sa.Column("call_1e25", sa.Text),
        sa.Column("call_1e26", sa.Text),
        sa.Column("worst_severity", sa.SmallInteger),
        sa.Column("findings", sa.Integer, nullable=False),
        sa.Column("duty_regimes", sa.Text, nullable=False),
        sa.Column("needs_review", sa.Integer, nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
    )
    op.create_table(
        "registry_documents",
        sa.Column(
            "assessment_id",
            Id,
            sa.ForeignKey(
                "registry_assessments.id", ondelete="CASCADE", name="fk_registry_documents_assessment"
            ),
            primary_key=True,
        ),
        sa.Column("document", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "registry_duties",
        sa.Column(
            "assessment_id",
            Id,
            sa.ForeignKey(
                "registry_assessments.id", ondelete="CASCADE", name="fk_registry_duties_assessment"
            ),
            primary_key=True,
        ),
        sa.Column("regime", sa.Text, primary_key=True),
        sa.Column("obligations", sa.Integer, nullable=False),
    )
    _indexes(op.get_bind().dialect.name)


def _indexes(dialect: str) -> None:
    """Indexes for what the dashboard and the API ask most: each model's latest assessment, filtered
    on one column and ordered by name (or by compute or size), with a count of the matches.

    Partial indexes (`WHERE is_latest`) hold only the latest assessments; each filter column leads,
    followed by the sort key, so a filtered page is read in order straight from the index and its
    count from the index alone. The queries compare `is_latest = true`, the exact predicate, so both
    databases use them. (In SQLite every index ends with the rowid: `id` need not be listed.)
    """
    t = "registry_assessments"
    latest = sa.text("is_latest = true" if dialect == "postgresql" else "is_latest = 1")
    where: dict[str, Any] = {f"{dialect}_where": latest}
    tie = ["id"] if dialect == "postgresql" else []
    for name, columns in {
        "name": ["name"],
        "licence_class": ["licence_class", "name"],
        "licence": ["licence", "name"],
        "mof_class": ["mof_class", "name"],
        "call_1e23": ["call_1e23", "name"],
        "call_1e25": ["call_1e25", "name"],
        "call_1e26": ["call_1e26", "name"],
        "severity": ["worst_severity", "name"],
    }.items():
        op.create_index(f"ix_registry_latest_{name}", t, [*columns, *tie], **where)
    # Largest first with unknowns last: PostgreSQL needs the order spelt out; SQLite reads an
    # ascending index backwards, which already puts NULLs last.
    for name, column in {"compute": "flop_central", "parameters": "parameters"}.items():
        ordered: list[Any] = [column]
        if dialect == "postgresql":
            ordered = [sa.text(f"{column} DESC NULLS LAST"), sa.text("id DESC")]
        op.create_index(f"ix_registry_latest_{name}", t, ordered, **where)
    # All assessments (history pages, exports) and the duties filter.
    op.create_index("ix_registry_assessments_model", t, ["model_id", "id"])
    op.create_index("ix_registry_duties_regime", "registry_duties", ["regime", "assessment_id"])


def downgrade() -> None:
    """Drop the registry's tables."""
    op.drop_table("registry_duties")
    op.drop_table("registry_documents")
    op.drop_table("registry_assessments")
    op.drop_table("registry_models")
